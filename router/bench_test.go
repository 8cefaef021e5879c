package router

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

const benchRecords = 1000

// benchValue is a 100-byte JSON object, the value of record i.
func benchValue(i int) string {
	v := fmt.Sprintf(`{"id":%d,"user":"user-%05d","pad":"`, i, i%977)
	return v + strings.Repeat("x", 100-len(v)-2) + `"}`
}

func benchJSONBody() []byte {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := range benchRecords {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"user-%05d","value":%s}`, i%977, benchValue(i))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func benchBinaryBody() []byte {
	recs := make([]wire.Record, benchRecords)
	for i := range recs {
		recs[i] = wire.Record{Key: fmt.Appendf(nil, "user-%05d", i%977), Value: []byte(benchValue(i))}
	}
	return wire.AppendRecords(nil, recs)
}

// BenchmarkProduceDecodePartition measures the router's CPU work per
// request without HTTP and without the owners: parse 1,000 records of 100 B,
// check the limits, pick partitions (murmur2 of the key) and group them into
// per-partition ProduceRequests.
func BenchmarkProduceDecodePartition(b *testing.B) {
	rt := &Router{cfg: Config{Authenticate: Anonymous(1)}.EnsureDefaults()}
	req := httptest.NewRequest("POST", "/api/v1/topics/t/records", nil)
	for _, c := range []struct {
		name  string
		body  []byte
		parse func(*Router, []byte, *http.Request) (batch, error)
	}{
		{"json", benchJSONBody(), (*Router).parseJSON},
		{"binary", benchBinaryBody(), (*Router).parseBinary},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				bt, err := c.parse(rt, c.body, req)
				if err == nil {
					err = rt.check(bt, 16)
				}
				if err != nil {
					b.Fatal(err)
				}
				assignPartitions(bt, 16)
				if p := groupByPartition(bt, 1, 1); len(p.reqs) != 16 {
					b.Fatalf("%d partitions", len(p.reqs))
				}
			}
			b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds(), "records/s")
		})
	}
}

type discardProducer struct{}

func (discardProducer) Produce(_ context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
	return &wire.ProduceResponse{BaseOffset: 0}, nil
}

// BenchmarkProduceHTTP is the whole handler: topic lookup in the embedded
// registry, body read, parse, partition, 16 concurrent Produce calls to a
// producer that answers at once, and the JSON answer with 1,000 offsets.
func BenchmarkProduceHTTP(b *testing.B) {
	reg, err := registry.OpenEmbedded(filepath.Join(b.TempDir(), "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	tenant, _ := reg.CreateTenant(ctx, "default")
	if _, err := reg.CreateTopic(ctx, tenant.ID, registry.TopicSpec{Name: "t", Partitions: 16}); err != nil {
		b.Fatal(err)
	}
	rt, err := New(Config{Authenticate: Anonymous(tenant.ID)}, Deps{Topics: reg, Producer: discardProducer{}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{
		{"json", "application/json", benchJSONBody()},
		{"binary", ContentTypeBatch, benchBinaryBody()},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/api/v1/topics/t/records", bytes.NewReader(c.body))
				req.Header.Set("Content-Type", c.ct)
				w := httptest.NewRecorder()
				rt.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds(), "records/s")
		})
	}
}
