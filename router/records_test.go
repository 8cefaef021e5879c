package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

type recordsPage struct {
	Topic          string     `json:"topic"`
	Partition      int32      `json:"partition"`
	HighWatermark  int64      `json:"high_watermark"`
	LogStartOffset int64      `json:"log_start_offset"`
	NextOffset     int64      `json:"next_offset"`
	Records        []wsRecord `json:"records"`
}

// getRecords GETs url and decodes a page (status 200) or the error code.
func getRecords(t *testing.T, url string) (int, recordsPage, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, recordsPage{}, e.Error.Code + ": " + e.Error.Message
	}
	var p recordsPage
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, p, ""
}

func TestReadRecordsPages(t *testing.T) {
	t.Parallel()
	log := &fakeLog{}
	h := newWSHarness(t, Config{}, log)
	h.createTopic("t", 2)
	for i := range 7 {
		log.append(wire.FetchedRecord{Timestamp: int64(1000 + i), Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	log.append(wire.FetchedRecord{Value: []byte{0xde, 0xad}})
	base := h.srv.URL + "/api/v1/topics/t/partitions/1/records"

	// Default: from earliest, every record (under the default limit).
	_, p, msg := getRecords(t, base)
	if msg != "" || p.Topic != "t" || p.Partition != 1 || p.HighWatermark != 8 || p.NextOffset != 8 || len(p.Records) != 8 {
		t.Fatalf("%+v %s", p, msg)
	}
	if r := p.Records[2]; r.Offset != 2 || *r.Key != "k2" || *r.Value != `{"n":2}` || r.Timestamp != 1002 {
		t.Fatalf("%+v", r)
	}
	// A page: offset and limit; next_offset continues it.
	_, p, _ = getRecords(t, base+"?offset=3&limit=2")
	if len(p.Records) != 2 || p.Records[0].Offset != 3 || p.Records[1].Offset != 4 || p.NextOffset != 5 {
		t.Fatalf("%+v", p)
	}
	// latest: nothing yet, next_offset at the high watermark.
	_, p, _ = getRecords(t, base+"?offset=latest")
	if len(p.Records) != 0 || p.NextOffset != 8 || p.HighWatermark != 8 {
		t.Fatalf("%+v", p)
	}
	// At the end: an empty page at once (no long poll), not an error.
	_, p, _ = getRecords(t, base+"?offset=8")
	if len(p.Records) != 0 || p.NextOffset != 8 {
		t.Fatalf("%+v", p)
	}
}

func TestReadRecordsRefusals(t *testing.T) {
	t.Parallel()
	log := &fakeLog{}
	h := newWSHarness(t, Config{}, log)
	h.createTopic("t", 2)
	log.append(wire.FetchedRecord{Value: []byte("v")})
	base := h.srv.URL + "/api/v1/topics/"
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"t/partitions/1/records?limit=0", 400, "limit=\"0\": want 1 to 500"},
		{"t/partitions/1/records?limit=501", 400, "want 1 to 500"},
		{"t/partitions/1/records?limit=x", 400, "limit"},
		{"t/partitions/1/records?offset=-3", 400, "offset=\"-3\""},
		{"t/partitions/1/records?offset=1&timestamp=5", 400, "give one, not both"},
		{"t/partitions/1/records?timestamp=abc", 400, "timestamp=\"abc\""},
		{"t/partitions/1/records?timestamp=5", 503, "by timestamp is not served"},
		{"t/partitions/2/records", 404, "partition 2 does not exist"},
		{"t/partitions/x/records", 400, "partition \"x\" in path"},
		{"nope/partitions/0/records", 404, "topic \"nope\" not found"},
		{"t/partitions/1/records?offset=9", 416, "out_of_range"},
	} {
		status, _, msg := getRecords(t, base+c.path)
		if status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %d with %q", c.path, status, msg, c.status, c.want)
		}
	}
}

func TestReadRecordsByTimestamp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	ten, err := reg.CreateTenant(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateTopic(ctx, ten.ID, registry.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	log := &fakeLog{}
	for i := range 10 {
		log.append(wire.FetchedRecord{Timestamp: int64(100 * i), Value: []byte("v")})
	}
	var asked int64
	rt, err := New(Config{Authenticate: Anonymous(ten.ID)}, Deps{Topics: reg, Producer: &fakeProducer{}, Fetch: log,
		OffsetForTime: func(_ context.Context, _ registry.PartitionID, ts int64) (int64, error) {
			asked = ts
			return (ts + 99) / 100, nil // the first record at or after ts
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	_, p, msg := getRecords(t, srv.URL+"/api/v1/topics/t/partitions/0/records?timestamp=650&limit=3")
	if msg != "" || asked != 650 || len(p.Records) != 3 || p.Records[0].Offset != 7 || p.Records[0].Timestamp != 700 || p.NextOffset != 10 {
		t.Fatalf("%+v %s (asked %d)", p, msg, asked)
	}
}
