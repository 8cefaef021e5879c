package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/wire"
)

// produceReply is the body of a produce answer.
type produceReply struct {
	Offsets []struct {
		Partition int32     `json:"partition"`
		Offset    *int64    `json:"offset"`
		Error     *apiError `json:"error"`
	} `json:"offsets"`
	Error *apiError `json:"error"`
}

func (h *harness) produceJSON(topic, body string) (*produceReply, int) {
	h.t.Helper()
	w := h.do("POST", "/api/v1/topics/"+topic+"/records", "application/json", []byte(body))
	var reply produceReply
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		h.t.Fatalf("produce reply %q: %v", w.Body, err)
	}
	return &reply, w.Code
}

// partitionOf is where the router must send a keyed record: Kafka's rule.
func partitionOf(key string, n int32) int32 { return keyPartition([]byte(key), n) }

func TestProduceJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("orders", 4)
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k1", "k2"}
	var recs []string
	for i, k := range keys {
		recs = append(recs, fmt.Sprintf(`{"key":%q,"value":{"n":%d}}`, k, i))
	}
	reply, status := h.produceJSON("orders", `{"records":[`+strings.Join(recs, ",")+`]}`)
	if status != 200 || reply.Error != nil || len(reply.Offsets) != len(keys) {
		t.Fatalf("%d %+v", status, reply)
	}
	// Offsets come back in the order of the request's records, each with
	// its key's partition, dense per partition from 0.
	next := map[int32]int64{}
	for i, o := range reply.Offsets {
		want := partitionOf(keys[i], 4)
		if o.Partition != want || o.Offset == nil || *o.Offset != next[want] {
			t.Fatalf("record %d (key %s): partition %d offset %v, want partition %d offset %d",
				i, keys[i], o.Partition, o.Offset, want, next[want])
		}
		next[want]++
	}
	// One ProduceRequest per partition, records in request order, carrying
	// the tenant's and topic's ids.
	calls := h.prod.calls()
	if len(calls) != len(next) {
		t.Fatalf("%d produce calls for %d partitions", len(calls), len(next))
	}
	topic, _ := h.reg.Topic(context.Background(), h.tenant.ID, "orders")
	seen := map[int32]bool{}
	for _, c := range calls {
		if seen[c.Partition] {
			t.Fatalf("partition %d got two requests", c.Partition)
		}
		seen[c.Partition] = true
		if c.TenantID != h.tenant.ID || c.TopicID != topic.ID || c.ProducerID != wire.NoProducer {
			t.Fatalf("request header %+v", c)
		}
		last := -1
		for _, r := range c.Records {
			var v struct{ N int }
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatal(err)
			}
			if v.N <= last || partitionOf(string(r.Key), 4) != c.Partition {
				t.Fatalf("partition %d: records out of order or misplaced: %q", c.Partition, r.Value)
			}
			last = v.N
		}
	}
}

func TestProduceJSONRecordForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("forms", 1)
	body := `{"records":[
		{"value":{"a": [1, 2]}},
		{"value":"plain text"},
		{"value":"esc\"aped\n\u00e9"},
		{"value":42.5},
		{"value":true},
		{"value":null, "key":"gone"},
		{"value_b64":"3q2+7w=="},
		{"value_b64":null},
		{"value":"", "key":""},
		{"value":"v", "key":null},
		{"value":"v", "key_b64":"AAEC"},
		{"value":"v", "headers":{"z":"1","a":"2","z":"3","n":null,"e":""}, "timestamp":1700000000000},
		{"value":"v", "headers":null, "partition":null}
	]}`
	reply, status := h.produceJSON("forms", body)
	if status != 200 || len(reply.Offsets) != 13 {
		t.Fatalf("%d %+v", status, reply)
	}
	calls := h.prod.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	got := calls[0].Records
	want := []wire.Record{
		{Value: []byte(`{"a": [1, 2]}`)},
		{Value: []byte("plain text")},
		{Value: []byte("esc\"aped\né")},
		{Value: []byte("42.5")},
		{Value: []byte("true")},
		{Key: []byte("gone")},
		{Value: []byte{0xde, 0xad, 0xbe, 0xef}},
		{},
		{Key: []byte{}, Value: []byte{}},
		{Value: []byte("v")},
		{Key: []byte{0, 1, 2}, Value: []byte("v")},
		{Value: []byte("v"), Timestamp: 1700000000000, Headers: []wire.Header{
			{Key: "z", Value: []byte("1")}, {Key: "a", Value: []byte("2")}, {Key: "z", Value: []byte("3")},
			{Key: "n", Value: nil}, {Key: "e", Value: []byte{}}}},
		{Value: []byte("v")},
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("record %d:\n got %#v\nwant %#v", i, got[i], want[i])
		}
	}
}

func TestProduceErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxRecordBytes: 1000, MaxRequestBytes: 4000, MaxRequestRecords: 10})
	h.createTopic("orders", 4)
	big := strings.Repeat("x", 1001)
	cases := []struct {
		name       string
		topic, ct  string
		body       string
		status     int
		code, want string
	}{
		{"bad JSON", "orders", "", `{"records":[{"value":1}`, 400, "invalid", "truncated JSON"},
		{"not an object", "orders", "", `[1]`, 400, "invalid", "want a JSON object"},
		{"unknown field", "orders", "", `{"records":[{"value":1,"partiton":2}]}`, 400, "invalid", `unknown field "partiton"`},
		{"unknown top-level field", "orders", "", `{"records":[{"value":1}],"acks":"all"}`, 400, "invalid", `unknown field "acks"`},
		{"records twice", "orders", "", `{"records":[{"value":1}],"records":[]}`, 400, "invalid", `"records" given twice`},
		{"records not an array", "orders", "", `{"records":{"value":1}}`, 400, "invalid", "records: want an array"},
		{"records null", "orders", "", `{"records":null}`, 400, "invalid", "no records"},
		{"record null", "orders", "", `{"records":[null]}`, 400, "invalid", "record 0: value missing"},
		{"data after the object", "orders", "", `{"records":[{"value":1}]}x`, 400, "invalid", "data after the JSON object"},
		{"empty body", "orders", "", ``, 400, "invalid", "empty"},
		{"too many records", "orders", "", `{"records":[` + strings.Repeat(`{"value":1},`, 10) + `{"value":1}]}`, 413, "too_large", "more than 10 records"},
		{"too many binary records", "orders", ContentTypeBatch, string(wire.AppendRecords(nil, make([]wire.Record, 11))), 413, "too_large", "11 records, over the per-request limit of 10"},
		{"empty records", "orders", "", `{"records":[]}`, 400, "invalid", "no records"},
		{"no records field", "orders", "", `{}`, 400, "invalid", "no records"},
		{"value missing", "orders", "", `{"records":[{"value":1},{"key":"k"}]}`, 400, "invalid", "record 1: value missing"},
		{"value and value_b64", "orders", "", `{"records":[{"value":"a","value_b64":"YQ=="}]}`, 400, "invalid", "give value or value_b64, not both"},
		{"key and key_b64", "orders", "", `{"records":[{"value":"a","key":"k","key_b64":"aw=="}]}`, 400, "invalid", "give key or key_b64"},
		{"bad base64", "orders", "", `{"records":[{"value_b64":"not base64!"}]}`, 400, "invalid", "value_b64 is not standard base64"},
		{"unpadded base64", "orders", "", `{"records":[{"value_b64":"YQ"}]}`, 400, "invalid", "value_b64 is not standard base64"},
		{"base64 not a string", "orders", "", `{"records":[{"value_b64":12}]}`, 400, "invalid", "value_b64 must be a base64 string"},
		{"bad key_b64", "orders", "", `{"records":[{"value":1,"key_b64":"%%%"}]}`, 400, "invalid", "key_b64 is not standard base64"},
		{"key not a string", "orders", "", `{"records":[{"value":1,"key":7}]}`, 400, "invalid", "record 0: key must be a string"},
		{"partition too big", "orders", "", `{"records":[{"value":1},{"value":1,"partition":4}]}`, 400, "invalid", "record 1: partition 4 does not exist (the topic has 4: 0 to 3)"},
		{"partition negative", "orders", "", `{"records":[{"value":1,"partition":-1}]}`, 400, "invalid", "partition -1 is negative"},
		{"partition not a number", "orders", "", `{"records":[{"value":1,"partition":"2"}]}`, 400, "invalid", "record 0: partition: JSON string where an integer was expected"},
		{"partition fraction", "orders", "", `{"records":[{"value":1,"partition":1.5}]}`, 400, "invalid", "partition"},
		{"negative timestamp", "orders", "", `{"records":[{"value":1,"timestamp":-1}]}`, 400, "invalid", "timestamp -1 is negative"},
		{"headers not an object", "orders", "", `{"records":[{"value":1,"headers":["a"]}]}`, 400, "invalid", "headers: want an object"},
		{"header not a string", "orders", "", `{"records":[{"value":1,"headers":{"a":1}}]}`, 400, "invalid", `header "a": want a string`},
		{"record too large", "orders", "", `{"records":[{"value":1},{"value":"` + big + `"}]}`, 413, "too_large", "record 1 is 1001 bytes (key, value and headers), over the 1000-byte record limit"},
		{"record too large by headers", "orders", "", `{"records":[{"value":"` + big[:900] + `","headers":{"h":"` + big[:100] + `"}}]}`, 413, "too_large", "record 0 is 1001 bytes"},
		{"request too large", "orders", "", `{"records":[` + strings.Repeat(`{"value":"`+big[:900]+`"},`, 5) + `{"value":1}]}`, 413, "too_large", "4000-byte limit"},
		{"unknown topic", "nope", "", `{"records":[{"value":1}]}`, 404, "not_found", `topic "nope" not found`},
		{"invalid topic name", "a%2Fb", "", `{"records":[{"value":1}]}`, 400, "invalid", `invalid topic name "a/b"`},
		{"unsupported content type", "orders", "text/plain", `value`, 415, "invalid", `Content-Type "text/plain"`},
		{"bad binary", "orders", ContentTypeBatch, "\x03\x05", 400, "invalid", "record count"},
		{"binary, wrong tag", "orders", ContentTypeBatch, "\x01\x00", 400, "invalid", "tag"},
		{"binary, no records", "orders", ContentTypeBatch, "\x03\x00", 400, "invalid", "no records"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct := c.ct
			if ct == "" {
				ct = "application/json"
			}
			wantError(t, h.do("POST", "/api/v1/topics/"+c.topic+"/records", ct, []byte(c.body)), c.status, c.code, c.want)
		})
	}
	// Nothing of any refused request reached a partition.
	if n := len(h.prod.calls()); n != 0 {
		t.Fatalf("%d produce calls from refused requests", n)
	}
}

func TestProduceDeclaredLengthTooLarge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxRecordBytes: 100, MaxRequestBytes: 200})
	h.createTopic("orders", 1)
	req, _ := http.NewRequest("POST", "/api/v1/topics/orders/records", strings.NewReader(`{"records":[{"value":1}]}`))
	req.ContentLength = 201 // refused before a byte is read
	w := newRecorder()
	h.rt.ServeHTTP(w, req)
	wantError(t, w, 413, "too_large", "200-byte limit")
}

func TestProduceKeylessIsStickyPerRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("logs", 8)
	body := `{"records":[` + strings.TrimSuffix(strings.Repeat(`{"value":"line"},`, 50), ",") + `]}`
	used := map[int32]bool{}
	for i := range 40 {
		reply, status := h.produceJSON("logs", body)
		if status != 200 {
			t.Fatalf("%d %+v", status, reply)
		}
		calls := h.prod.calls()
		if len(calls) != i+1 {
			t.Fatalf("request %d: a keyless request became %d produce calls, want 1", i, len(calls)-i)
		}
		last := calls[len(calls)-1]
		if len(last.Records) != 50 {
			t.Fatalf("request %d: %d records in its batch", i, len(last.Records))
		}
		used[last.Partition] = true
	}
	// Different requests spread over the partitions (40 requests all on one
	// of 8 partitions: probability 8^-39).
	if len(used) < 2 {
		t.Fatalf("40 keyless requests all went to partitions %v", used)
	}
}

func TestProduceKeyStability(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("users", 6)
	// The same key goes to the same partition in every request, whatever
	// else the request holds; mixing explicit, keyed and keyless records.
	first := map[string]int32{}
	for round := range 5 {
		body := fmt.Sprintf(`{"records":[{"key":"alice","value":%d},{"value":"x"},{"key":"bob","value":1},
			{"key":"alice","value":2,"partition":5},{"key":"carol","value":3},{"key":"","value":4}]}`, round)
		reply, status := h.produceJSON("users", body)
		if status != 200 {
			t.Fatalf("%d %+v", status, reply)
		}
		if reply.Offsets[3].Partition != 5 {
			t.Fatalf("explicit partition ignored: %+v", reply.Offsets[3])
		}
		for i, key := range map[int]string{0: "alice", 2: "bob", 4: "carol", 5: ""} {
			p := reply.Offsets[i].Partition
			if p != partitionOf(key, 6) {
				t.Fatalf("key %q: partition %d, want %d", key, p, partitionOf(key, 6))
			}
			if prev, ok := first[key]; ok && prev != p {
				t.Fatalf("key %q moved from partition %d to %d", key, prev, p)
			}
			first[key] = p
		}
	}
}

func TestProduceBinary(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("fast", 4)
	recs := []wire.Record{
		{Key: []byte("k1"), Value: []byte{0, 1, 2, 0xff}, Timestamp: 1234,
			Headers: []wire.Header{{Key: "b", Value: []byte{0}}, {Key: "a", Value: nil}, {Key: "b", Value: []byte{}}}},
		{Key: nil, Value: []byte{}},
		{Key: []byte{}, Value: nil},
		{Key: []byte("k1"), Value: []byte("again")},
	}
	w := h.do("POST", "/api/v1/topics/fast/records", ContentTypeBatch+"; v=1", wire.AppendRecords(nil, recs))
	var reply produceReply
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil || w.Code != 200 || len(reply.Offsets) != 4 {
		t.Fatalf("%d %s %v", w.Code, w.Body, err)
	}
	// Each record arrived as sent (nil and empty kept apart, header order
	// kept), in the partition its key picks.
	var got []wire.Record
	for _, c := range h.prod.calls() {
		got = append(got, c.Records...)
	}
	byValue := func(rs []wire.Record, v []byte) *wire.Record {
		for i := range rs {
			if reflect.DeepEqual(rs[i].Value, v) && (v != nil || rs[i].Key != nil) {
				return &rs[i]
			}
		}
		return nil
	}
	for i, want := range recs {
		r := byValue(got, want.Value)
		if r == nil || !reflect.DeepEqual(*r, want) {
			t.Fatalf("record %d: got %#v, want %#v", i, r, want)
		}
	}
	// "k1" and "" both hash to partition 1 of 4; the keyless record lands on
	// a random partition, maybe 1 too. Within a partition, offsets follow
	// the request's order from 0.
	if reply.Offsets[0].Partition != partitionOf("k1", 4) || reply.Offsets[3].Partition != reply.Offsets[0].Partition ||
		reply.Offsets[2].Partition != partitionOf("", 4) || partitionOf("", 4) != 1 || partitionOf("k1", 4) != 1 {
		t.Fatalf("partitions %+v", reply.Offsets)
	}
	next := map[int32]int64{}
	for i, o := range reply.Offsets {
		if o.Offset == nil || *o.Offset != next[o.Partition] {
			t.Fatalf("record %d: offset %v on partition %d, want %d (offsets %+v)", i, o.Offset, o.Partition, next[o.Partition], reply.Offsets)
		}
		next[o.Partition]++
	}

	// ?partition=N sends the whole batch there.
	w = h.do("POST", "/api/v1/topics/fast/records?partition=3", ContentTypeBatch, wire.AppendRecords(nil, recs))
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	for _, o := range reply.Offsets {
		if o.Partition != 3 {
			t.Fatalf("offsets %+v", reply.Offsets)
		}
	}
	for _, q := range []string{"?partition=4", "?partition=x", "?partition=-1"} {
		wantError(t, h.do("POST", "/api/v1/topics/fast/records"+q, ContentTypeBatch, wire.AppendRecords(nil, recs)),
			400, "invalid", "partition")
	}
}

// TestProducePartialFailure: each partition's batch succeeds or fails on
// its own; the answer keeps every record's entry in order and takes the
// status of the worst failure.
func TestProducePartialFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("orders", 3)
	h.prod.answer = func(_ context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		switch req.Partition {
		case 1:
			return &wire.ProduceResponse{Code: wire.Busy, Message: "inbox full"}, nil
		case 2:
			return nil, wire.Errorf(wire.NotOwner, "no responder")
		}
		return nil, nil // partition 0: the happy path
	}
	body := `{"records":[{"value":"a","partition":1},{"value":"b","partition":0},{"value":"c","partition":2},{"value":"d","partition":0}]}`
	reply, status := h.produceJSON("orders", body)
	if status != 503 {
		t.Fatalf("status %d, want 503 (the worst of 429 and 503)", status)
	}
	o := reply.Offsets
	if len(o) != 4 ||
		o[0].Partition != 1 || o[0].Offset != nil || o[0].Error == nil || o[0].Error.Code != "busy" || o[0].Error.Message != "partition 1: inbox full" ||
		o[1].Partition != 0 || o[1].Offset == nil || *o[1].Offset != 0 || o[1].Error != nil ||
		o[2].Partition != 2 || o[2].Error == nil || o[2].Error.Code != "not_owner" ||
		o[3].Partition != 0 || o[3].Offset == nil || *o[3].Offset != 1 {
		t.Fatalf("offsets %s", mustJSON(o))
	}
	if reply.Error == nil || reply.Error.Code != "not_owner" || reply.Error.Message != "2 of 3 partition batches failed; partition 2: no responder" {
		t.Fatalf("error %+v", reply.Error)
	}

	// One failed partition alone: its own status, e.g. 429 for busy.
	reply, status = h.produceJSON("orders", `{"records":[{"value":"a","partition":1}]}`)
	if status != 429 || reply.Error.Code != "busy" || reply.Offsets[0].Error.Code != "busy" {
		t.Fatalf("%d %+v", status, reply)
	}
}

func TestProduceInternalAndTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{ProduceTimeout: 50 * time.Millisecond})
	h.createTopic("orders", 2)
	h.prod.answer = func(ctx context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		if req.Partition == 0 {
			return nil, errors.New("nats: connection closed while talking to 10.0.0.7")
		}
		<-ctx.Done() // an owner that never answers
		return nil, ctx.Err()
	}
	reply, status := h.produceJSON("orders", `{"records":[{"value":"a","partition":0},{"value":"b","partition":1}]}`)
	if status != 503 || reply.Offsets[0].Error.Code != "internal" || reply.Offsets[0].Error.Message != "partition 0: internal error" ||
		reply.Offsets[1].Error.Code != "unavailable" {
		t.Fatalf("%d %s", status, mustJSON(reply))
	}
	reply, status = h.produceJSON("orders", `{"records":[{"value":"a","partition":0}]}`)
	if status != 500 || reply.Error.Code != "internal" || strings.Contains(reply.Error.Message, "10.0.0.7") {
		t.Fatalf("%d %s", status, mustJSON(reply))
	}
}

func TestProduceConcurrencyBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{ProduceConcurrency: 2})
	h.createTopic("wide", 16)
	var inFlight, most atomicMax
	h.prod.answer = func(context.Context, *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		most.see(inFlight.add(1))
		runtime.Gosched() // let the others pile up, if the bound allowed them
		inFlight.add(-1)
		return nil, nil
	}
	var recs []string
	for p := range 16 {
		recs = append(recs, fmt.Sprintf(`{"value":1,"partition":%d}`, p))
	}
	if _, status := h.produceJSON("wide", `{"records":[`+strings.Join(recs, ",")+`]}`); status != 200 {
		t.Fatal(status)
	}
	if n := len(h.prod.calls()); n != 16 {
		t.Fatalf("%d calls", n)
	}
	if m := most.get(); m > 2 || m < 1 {
		t.Fatalf("%d batches in flight at once, limit 2", m)
	}
}

// atomicMax counts and keeps a maximum, for concurrency checks.
type atomicMax struct{ v atomic.Int64 }

func (a *atomicMax) add(d int64) int64 { return a.v.Add(d) }
func (a *atomicMax) get() int64        { return a.v.Load() }
func (a *atomicMax) see(n int64) {
	for {
		cur := a.v.Load()
		if n <= cur || a.v.CompareAndSwap(cur, n) {
			return
		}
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestProduceIdempotent: producer_id, producer_epoch and sequence reach the
// partition's ProduceRequest; without them, all three are wire.NoProducer.
func TestProduceIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	h.createTopic("idem", 4)
	type fields struct {
		id    int64
		epoch int16
		seq   int32
	}
	last := func() (wire.ProduceRequest, fields) {
		t.Helper()
		calls := h.prod.calls()
		if len(calls) == 0 {
			t.Fatal("no produce call")
		}
		c := calls[len(calls)-1]
		return c, fields{c.ProducerID, c.ProducerEpoch, c.BaseSequence}
	}

	reply, status := h.produceJSON("idem", `{"producer_id":42,"producer_epoch":2,"sequence":7,
		"records":[{"value":"a","partition":1},{"value":"b","partition":1,"key":"k"}]}`)
	if status != 200 || len(reply.Offsets) != 2 || *reply.Offsets[1].Offset != 1 || reply.Offsets[1].Partition != 1 {
		t.Fatalf("%d %+v", status, reply)
	}
	if c, f := last(); f != (fields{42, 2, 7}) || c.Partition != 1 || len(c.Records) != 2 {
		t.Fatalf("request %+v", c)
	}
	// Producer 0 is a producer like any other; the epoch defaults to 0.
	if _, status = h.produceJSON("idem", `{"records":[{"value":"a","partition":0}],"sequence":0,"producer_id":0}`); status != 200 {
		t.Fatal(status)
	}
	if _, f := last(); f != (fields{0, 0, 0}) {
		t.Fatalf("fields %+v", f)
	}
	// Without producer_id (or with null), nothing is idempotent.
	for _, body := range []string{`{"records":[{"value":"a","partition":0}]}`, `{"producer_id":null,"records":[{"value":"a"}]}`} {
		if _, status = h.produceJSON("idem", body); status != 200 {
			t.Fatal(status)
		}
		if _, f := last(); f != (fields{wire.NoProducer, wire.NoProducer, wire.NoProducer}) {
			t.Fatalf("%s: fields %+v", body, f)
		}
	}
	// Binary: the query gives them, with ?partition=N.
	recs := wire.AppendRecords(nil, []wire.Record{{Value: []byte("x")}, {Value: []byte("y")}, {Value: []byte("z")}})
	w := h.do("POST", "/api/v1/topics/idem/records?partition=2&producer_id=9223372036854775807&producer_epoch=32767&sequence=2147483645",
		ContentTypeBatch, recs)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if c, f := last(); f != (fields{math.MaxInt64, math.MaxInt16, math.MaxInt32 - 2}) || c.Partition != 2 {
		t.Fatalf("request %+v", c)
	}
	w = h.do("POST", "/api/v1/topics/idem/records?partition=2", ContentTypeBatch, recs)
	if _, f := last(); w.Code != 200 || f != (fields{wire.NoProducer, wire.NoProducer, wire.NoProducer}) {
		t.Fatalf("%d %s %+v", w.Code, w.Body, f)
	}

	// The partition's refusals map to 409 with their codes.
	n := len(h.prod.calls())
	for _, c := range []wire.Code{wire.SequenceGap, wire.ProducerFenced} {
		h.prod.answer = func(context.Context, *wire.ProduceRequest) (*wire.ProduceResponse, error) {
			return &wire.ProduceResponse{Code: c, Message: "refused"}, nil
		}
		wantError(t, h.do("POST", "/api/v1/topics/idem/records", "application/json",
			[]byte(`{"producer_id":1,"sequence":5,"records":[{"value":1,"partition":3}]}`)), 409, c.String(), "partition 3: refused")
	}
	h.prod.answer = nil

	// Refused before anything is sent.
	for _, c := range []struct{ query, ct, body, want string }{
		{"", "", `{"producer_id":1,"sequence":0,"records":[{"value":1,"partition":0},{"value":1,"partition":1}]}`, "in one partition"},
		{"", "", `{"producer_id":1,"sequence":0,"records":[{"value":1,"partition":0},{"value":1}]}`, "in one partition"},
		{"", "", `{"producer_id":1,"sequence":0,"records":[{"value":1,"key":"k"}]}`, "in one partition"},
		{"", "", `{"producer_id":1,"records":[{"value":1,"partition":0}]}`, "sequence missing"},
		{"", "", `{"sequence":0,"records":[{"value":1,"partition":0}]}`, "need a producer_id"},
		{"", "", `{"producer_epoch":0,"producer_id":null,"records":[{"value":1,"partition":0}]}`, "need a producer_id"},
		{"", "", `{"producer_id":-1,"sequence":0,"records":[{"value":1,"partition":0}]}`, "producer_id -1 is negative"},
		{"", "", `{"producer_id":1,"sequence":-1,"records":[{"value":1,"partition":0}]}`, "sequence -1: want 0 to 2147483647"},
		{"", "", `{"producer_id":1,"sequence":2147483648,"records":[{"value":1,"partition":0}]}`, "sequence 2147483648"},
		{"", "", `{"producer_id":1,"producer_epoch":32768,"sequence":0,"records":[{"value":1,"partition":0}]}`, "producer_epoch 32768: want 0 to 32767"},
		{"", "", `{"producer_id":1,"producer_epoch":-1,"sequence":0,"records":[{"value":1,"partition":0}]}`, "producer_epoch -1"},
		{"", "", `{"producer_id":"1","sequence":0,"records":[{"value":1,"partition":0}]}`, "producer_id"},
		{"", "", `{"producer_id":1.5,"sequence":0,"records":[{"value":1,"partition":0}]}`, "producer_id"},
		{"", "", `{"producer_id":1,"producer_id":2,"sequence":0,"records":[{"value":1,"partition":0}]}`, `"producer_id" given twice`},
		{"?producer_id=1&sequence=0", "", `{"records":[{"value":1,"partition":0}]}`, "go in the JSON body"},
		{"?producer_id=1&sequence=0", ContentTypeBatch, string(recs), "in one partition"},
		{"?partition=0&producer_id=1", ContentTypeBatch, string(recs), "sequence missing"},
		{"?partition=0&sequence=1", ContentTypeBatch, string(recs), "need a producer_id"},
		{"?partition=0&producer_id=x&sequence=1", ContentTypeBatch, string(recs), "producer_id=\"x\": want an integer"},
		{"?partition=0&producer_id=1&sequence=1&producer_epoch=-2", ContentTypeBatch, string(recs), "producer_epoch -2"},
	} {
		ct := c.ct
		if ct == "" {
			ct = "application/json"
		}
		wantError(t, h.do("POST", "/api/v1/topics/idem/records"+c.query, ct, []byte(c.body)), 400, "invalid", c.want)
	}
	if got := len(h.prod.calls()); got != n+2 {
		t.Fatalf("%d produce calls, want %d: refused requests reached a partition", got, n+2)
	}
}
