package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// tinyPricing is a pricing file whose plans have limits a test can reach:
// "free" (the default) and "tiny-storage" (one byte of storage).
const tinyPricing = `{
  "currency": "usd",
  "default_plan": "free",
  "plans": [%s, %s]
}`

const tinyPlan = `{"name": %q,
  "limits": {"topics": 3, "partitions_per_topic": 2, "records_per_month": 40, "storage_bytes": %d,
    "produce_bytes_per_second": 100000, "produce_records_per_second": 20, "fetch_bytes_per_second": 300,
    "api_keys": 2, "members": 2},
  "prices": {"base_cents": 0, "included_records": 40, "included_storage_gb_months": 1, "included_consumed_gb": 1,
    "per_million_records_cents": 0, "per_gb_month_stored_cents": 0, "per_gb_consumed_cents": 0}}`

// refusal checks an answer is the documented refusal: the status, the
// error body naming the quota and the limit, and for 429 a Retry-After.
func refusal(t *testing.T, what string, status int, body []byte, wantStatus int, quota string, limit int64) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	if status != wantStatus || !strings.Contains(e.Error.Message, quota) || !strings.Contains(e.Error.Message, fmt.Sprint(limit)) {
		t.Fatalf("%s: %d %s, want %d naming quota %s and limit %d", what, status, body, wantStatus, quota, limit)
	}
}

// written sums a topic's partitions' live high watermarks (their owners'):
// the records written. A partition between owners has none for a moment:
// it asks again.
func written(t *testing.T, base, token, topic string) int64 {
	t.Helper()
	var n int64
	waitFor(t, 20*time.Second, "every partition of "+topic+" owned", func() (bool, string) {
		var d struct {
			PartitionInfo []struct {
				LiveHighWatermark *int64 `json:"live_high_watermark"`
			} `json:"partition_info"`
		}
		out := must(t, http.StatusOK, "GET", base+"/api/v1/topics/"+topic, token, "")
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatalf("describe %s: %s %v", topic, out, err)
		}
		n = 0
		for _, p := range d.PartitionInfo {
			if p.LiveHighWatermark == nil {
				return false, string(out)
			}
			n += *p.LiveHighWatermark
		}
		return true, ""
	})
	return n
}

// TestQuotas is issue 7's quota test: a dev cell with authentication on and
// a pricing file of small limits; organizations are driven past each limit
// (topics, partitions per topic, produce records per second, records per
// month, storage, fetch bytes per second, API keys, members) and each time
// see the documented refusal, naming the quota and the limit, with nothing
// of the refused request written.
func TestQuotas(t *testing.T) {
	dir := t.TempDir()
	pricing := filepath.Join(dir, "pricing.json")
	if err := os.WriteFile(pricing, fmt.Appendf(nil, tinyPricing,
		fmt.Sprintf(tinyPlan, "free", int64(1_000_000_000)), fmt.Sprintf(tinyPlan, "tiny-storage", int64(1))), 0o600); err != nil {
		t.Fatal(err)
	}
	cell := startDevWith(t, filepath.Join(dir, "cell"), "--auth", "--pricing", pricing, "--meter-interval", "1s")
	base := cell.http
	org := signUp(t, base, "quota@example.com", "org-quota")
	tok := org.token
	topics := base + "/api/v1/topics"
	// Records of about 50 bytes: the 40 of the month are several seconds
	// of the 300-byte fetch rate.
	long := strings.Repeat("x", 45)

	// Partitions per topic, on create and on growth.
	status, out := call(t, "POST", topics, tok, `{"name":"wide","partitions":3}`)
	refusal(t, "create a 3-partition topic", status, out, http.StatusForbidden, "partitions_per_topic", 2)
	must(t, http.StatusNotFound, "GET", topics+"/wide", tok, "")
	must(t, http.StatusCreated, "POST", topics, tok, `{"name":"t1","partitions":2}`)
	status, out = call(t, "POST", topics+"/t1/partitions", tok, `{"partitions":3}`)
	refusal(t, "grow to 3 partitions", status, out, http.StatusForbidden, "partitions_per_topic", 2)

	// Topics.
	must(t, http.StatusCreated, "POST", topics, tok, `{"name":"t2","partitions":1}`)
	must(t, http.StatusCreated, "POST", topics, tok, `{"name":"t3","partitions":1}`)
	status, out = call(t, "POST", topics, tok, `{"name":"t4","partitions":1}`)
	refusal(t, "a fourth topic", status, out, http.StatusForbidden, "topics", 3)
	must(t, http.StatusNotFound, "GET", topics+"/t4", tok, "")

	// Produce rate: a batch over a second of the rate can never pass
	// (413); two batches within a second, the second is 429.
	status, out = call(t, "POST", topics+"/t1/records", tok, records(long+"r", 21))
	refusal(t, "21 records at 20/s", status, out, http.StatusRequestEntityTooLarge, "produce_records_per_second", 20)
	must(t, http.StatusOK, "POST", topics+"/t1/records", tok, records(long+"r", 15))
	req, _ := http.NewRequest("POST", topics+"/t1/records", strings.NewReader(records(long+"r", 15)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	_, _ = fmt.Fprint(&body, resp.Status)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("15 more records at once: %s, Retry-After %q; want 429 with Retry-After", body.String(), resp.Header.Get("Retry-After"))
	}
	if n := written(t, base, tok, "t1"); n != 15 {
		t.Fatalf("%d records written, want the 15 admitted", n)
	}

	// Records per month (40): 15 so far.
	time.Sleep(1100 * time.Millisecond)
	must(t, http.StatusOK, "POST", topics+"/t1/records", tok, records(long+"m", 15)) // 30
	time.Sleep(1100 * time.Millisecond)
	status, out = call(t, "POST", topics+"/t1/records", tok, records(long+"m", 15)) // 45 > 40
	refusal(t, "45 records of 40 a month", status, out, http.StatusForbidden, "records_per_month", 40)
	must(t, http.StatusOK, "POST", topics+"/t1/records", tok, records(long+"m", 10)) // 40
	time.Sleep(1100 * time.Millisecond)
	status, out = call(t, "POST", topics+"/t1/records", tok, records(long+"m", 1))
	refusal(t, "the 41st record of the month", status, out, http.StatusForbidden, "records_per_month", 40)
	if n := written(t, base, tok, "t1"); n != 40 {
		t.Fatalf("%d records written, want 40", n)
	}

	// Fetch rate (300 bytes/s): a fetch is served and charged; the next,
	// at once, is refused until the debt is paid.
	conn := dialGRPC(t, cell.grpcAddr)
	consumer := shv1.NewConsumerServiceClient(conn)
	ctx, cancel := context.WithTimeout(bearerCtx(context.Background(), tok), 30*time.Second)
	defer cancel()
	var fetched int
	for p := range int32(2) {
		r, err := consumer.Fetch(ctx, &shv1.FetchRequest{Topic: "t1", Partition: p})
		if err != nil {
			if grpcstatus.Code(err) == codes.ResourceExhausted && fetched > 0 {
				break
			}
			t.Fatalf("first fetch: %v", err)
		}
		fetched += len(r.Records)
	}
	_, err = consumer.Fetch(ctx, &shv1.FetchRequest{Topic: "t1", Partition: 0})
	if grpcstatus.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "fetch_bytes_per_second") {
		t.Fatalf("fetch over the rate: %v, want ResourceExhausted naming fetch_bytes_per_second", err)
	}
	status, out = call(t, "GET", topics+"/t1/partitions/0/records?offset=0", tok, "")
	refusal(t, "read records over the fetch rate", status, out, http.StatusTooManyRequests, "fetch_bytes_per_second", 300)

	// API keys (2) and members (2, the owner included).
	org.newKey(t, base, "k1", "member")
	org.newKey(t, base, "k2", "member")
	status, out = call(t, "POST", base+"/api/v1/keys", tok, `{"name":"k3","role":"member"}`)
	refusal(t, "a third key", status, out, http.StatusForbidden, "api_keys", 2)
	must(t, http.StatusCreated, "POST", base+"/api/v1/members", tok, `{"email":"m1@example.com","role":"viewer","password":"member one's password"}`)
	status, out = call(t, "POST", base+"/api/v1/members", tok, `{"email":"m2@example.com","role":"viewer","password":"member two's password"}`)
	refusal(t, "a third member", status, out, http.StatusForbidden, "members", 2)
	var keys struct{ Keys []json.RawMessage }
	var members struct{ Members []json.RawMessage }
	_ = json.Unmarshal(must(t, http.StatusOK, "GET", base+"/api/v1/keys", tok, ""), &keys)
	_ = json.Unmarshal(must(t, http.StatusOK, "GET", base+"/api/v1/members", tok, ""), &members)
	if len(keys.Keys) != 2 || len(members.Members) != 2 {
		t.Fatalf("%d keys and %d members, want 2 and 2", len(keys.Keys), len(members.Members))
	}

	// Storage: another organization on the one-byte plan; once its first
	// segment is in the object store, produce is refused.
	st := signUp(t, base, "storage@example.com", "org-storage")
	must(t, http.StatusOK, "PUT", base+"/api/v1/org/plan", st.token, `{"plan":"tiny-storage"}`)
	must(t, http.StatusCreated, "POST", topics, st.token, `{"name":"s","partitions":1,"durability":"object"}`)
	must(t, http.StatusOK, "POST", topics+"/s/records", st.token, records("s", 5))
	var last []byte
	waitFor(t, 30*time.Second, "produce refused for storage", func() (bool, string) {
		time.Sleep(1100 * time.Millisecond) // below the produce rate
		status, out := call(t, "POST", topics+"/s/records", st.token, records("s", 1))
		last = out
		return status == http.StatusForbidden, fmt.Sprintf("%d %s", status, out)
	})
	refusal(t, "produce over the storage quota", http.StatusForbidden, last, http.StatusForbidden, "storage_bytes", 1)
	before := written(t, base, st.token, "s")
	status, out = call(t, "POST", topics+"/s/records", st.token, records("s", 1))
	refusal(t, "produce over the storage quota, again", status, out, http.StatusForbidden, "storage_bytes", 1)
	if after := written(t, base, st.token, "s"); after != before {
		t.Fatalf("refused produce wrote: %d records, was %d", after, before)
	}
}
