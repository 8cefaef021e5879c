package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
)

// refusal is a QuotaRefusal as billing's QuotaError makes them.
type refusal struct {
	status int
	retry  time.Duration
	msg    string
}

func (r *refusal) Error() string                     { return r.msg }
func (r *refusal) HTTPStatus() int                   { return r.status }
func (r *refusal) RetryAfterDuration() time.Duration { return r.retry }

// fakeQuotas refuses with the errors set (nil admits) and records every
// call: "produce <records> <bytes>", "fetch", "charge <bytes>", "topic
// <partitions>", "partitions <total>".
type fakeQuotas struct {
	mu                               sync.Mutex
	produce, fetch, topic, partition error
	// fetchRefusals, if > 0, is how many fetches are refused (with fetch)
	// before fetch is cleared.
	fetchRefusals int
	calls         []string
}

func (q *fakeQuotas) note(format string, args ...any) {
	q.calls = append(q.calls, fmt.Sprintf(format, args...))
}

func (q *fakeQuotas) AdmitProduce(_ context.Context, _, records, bytes int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.note("produce %d %d", records, bytes)
	return q.produce
}

func (q *fakeQuotas) AdmitFetch(context.Context, int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.note("fetch")
	err := q.fetch
	if q.fetchRefusals > 0 {
		if q.fetchRefusals--; q.fetchRefusals == 0 {
			q.fetch = nil
		}
	}
	return err
}

func (q *fakeQuotas) ChargeFetch(_, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.note("charge %d", bytes)
}

func (q *fakeQuotas) AdmitTopic(_ context.Context, _ int64, partitions int32) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.note("topic %d", partitions)
	return q.topic
}

func (q *fakeQuotas) AdmitPartitions(_ context.Context, _ int64, total int32) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.note("partitions %d", total)
	return q.partition
}

func (q *fakeQuotas) set(f func(q *fakeQuotas)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f(q)
}

// took returns the calls so far and forgets them.
func (q *fakeQuotas) took() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.calls
	q.calls = nil
	return c
}

var (
	rateRefusal  = &refusal{status: 429, retry: 1200 * time.Millisecond, msg: "quota produce_records_per_second exceeded: limit 10 on plan free, retry after 1.2s"}
	countRefusal = &refusal{status: 403, msg: "quota topics exceeded: 10 of 10 used on plan free"}
	batchRefusal = &refusal{status: 413, msg: "quota produce_bytes_per_second exceeded: a batch of 99 is more than the limit 10 on plan free; split it"}
)

// Two records: 2+3+1+2 and 5 bytes of keys, values and headers.
const twoRecords = `{"records":[{"key":"k1","value":"abc","headers":{"h":"vv"},"partition":0},{"value":"12345","partition":1}]}`

func TestQuotaProduceRefused(t *testing.T) {
	t.Parallel()
	q := &fakeQuotas{}
	h := newAuthHarness(t, func(d *Deps, _ *GRPCConfig) { d.Quotas = q })
	member := testCredential(h.a, registry.RoleMember)
	for _, c := range []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{rateRefusal, 429, "busy", "2"},
		{&refusal{status: 429, retry: 3 * time.Second, msg: "rate"}, 429, "busy", "3"},
		{&refusal{status: 429, msg: "rate, no wait given"}, 429, "busy", "1"},
		{countRefusal, 403, "forbidden", ""},
		{batchRefusal, 413, "too_large", ""},
	} {
		q.set(func(q *fakeQuotas) { q.produce = c.err })
		st, hdr, body := h.call("POST", "/api/v1/topics/t/records", member, twoRecords)
		var e errorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || st != c.status || e.Error.Code != c.code || e.Error.Message != c.err.Error() {
			t.Errorf("refused with %v: %d %s", c.err, st, body)
		}
		if got := hdr.Get("Retry-After"); got != c.retryAfter {
			t.Errorf("refused with %v: Retry-After %q, want %q", c.err, got, c.retryAfter)
		}
		if got := q.took(); !slices.Equal(got, []string{"produce 2 13"}) {
			t.Errorf("quota calls %q", got)
		}
	}
	// The check itself failing (the registry is down) is a 503.
	q.set(func(q *fakeQuotas) { q.produce = fmt.Errorf("read usage: %w", &pgconn.PgError{Code: "57P01"}) })
	if st, _, body := h.call("POST", "/api/v1/topics/t/records", member, twoRecords); st != 503 || !strings.Contains(body, "registry is unreachable") {
		t.Errorf("quota check failed: %d %s", st, body)
	}
	q.took()
	if n := len(h.prod.calls()); n != 0 {
		t.Fatalf("%d batches reached an owner after refusals", n)
	}
	// An invalid request is refused before the quota is asked.
	if st, _, _ := h.call("POST", "/api/v1/topics/t/records", member, `{"records":[{"value":"x","partition":9}]}`); st != 400 {
		t.Errorf("bad partition: %d", st)
	}
	q.set(func(q *fakeQuotas) { q.produce = nil })
	if st, _, body := h.call("POST", "/api/v1/topics/t/records", member, twoRecords); st != 200 {
		t.Fatalf("admitted: %d %s", st, body)
	}
	if got := q.took(); !slices.Equal(got, []string{"produce 2 13"}) {
		t.Errorf("quota calls %q, want one produce (and none for the invalid request)", got)
	}
	if n := len(h.prod.calls()); n != 2 {
		t.Fatalf("%d batches, want 2", n)
	}

	// WebSocket: one admission per frame; a refused frame is acked with the
	// refusal and the connection goes on.
	q.set(func(q *fakeQuotas) { q.produce = rateRefusal })
	c, st, body := h.dial("/ws/produce?topic=t", member)
	if c == nil {
		t.Fatalf("dial: %d %s", st, body)
	}
	send(t, c, `{"id":1,"records":`+strings.TrimPrefix(twoRecords, `{"records":`))
	if a := readAck(t, c); a.Error == nil || a.Error.Code != "busy" || a.Error.Message != rateRefusal.msg || a.Offsets != nil || string(a.ID) != "1" {
		t.Fatalf("refused frame: %+v", a)
	}
	q.set(func(q *fakeQuotas) { q.produce = nil })
	send(t, c, `{"id":2,"value":"abcd"}`)
	if a := readAck(t, c); a.Error != nil || len(a.Offsets) != 1 {
		t.Fatalf("admitted frame: %+v", a)
	}
	if got := q.took(); !slices.Equal(got, []string{"produce 2 13", "produce 1 4"}) {
		t.Errorf("quota calls %q", got)
	}
	if n := len(h.prod.calls()); n != 3 {
		t.Fatalf("%d batches, want 3 (the refused frame's not among them)", n)
	}
}

func TestQuotaTopicRefused(t *testing.T) {
	t.Parallel()
	q := &fakeQuotas{topic: countRefusal, partition: countRefusal}
	h := newAuthHarness(t, func(d *Deps, _ *GRPCConfig) { d.Quotas = q })
	admin := testCredential(h.a, registry.RoleAdmin)
	st, _, body := h.call("POST", "/api/v1/topics", admin, `{"name":"n","partitions":3}`)
	if st != 403 || !strings.Contains(body, `"forbidden"`) || !strings.Contains(body, "quota topics exceeded: 10 of 10") {
		t.Errorf("create refused: %d %s", st, body)
	}
	_, err := h.admin.CreateTopic(grpcAs(t, admin), &shv1.CreateTopicRequest{Name: "n"})
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != countRefusal.msg {
		t.Errorf("gRPC create refused: %v", err)
	}
	if _, err := h.reg.Topic(context.Background(), h.a, "n"); err == nil {
		t.Fatal("a refused topic was created")
	}
	st, _, body = h.call("POST", "/api/v1/topics/t/partitions", admin, `{"partitions":5}`)
	if st != 403 || !strings.Contains(body, "quota topics exceeded") {
		t.Errorf("grow refused: %d %s", st, body)
	}
	q.set(func(q *fakeQuotas) { q.partition = batchRefusal })
	_, err = h.admin.AddPartitions(grpcAs(t, admin), &shv1.AddPartitionsRequest{Topic: "t", Partitions: 6})
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || st.Message() != batchRefusal.msg {
		t.Errorf("gRPC grow refused with a 413: %v", err)
	}
	if tp, _ := h.reg.Topic(context.Background(), h.a, "t"); tp.Partitions != 2 {
		t.Fatalf("refused growth: %d partitions", tp.Partitions)
	}
	if got := q.took(); !slices.Equal(got, []string{"topic 3", "topic 1", "partitions 5", "partitions 6"}) {
		t.Errorf("quota calls %q", got)
	}
	// Admitted: created and grown.
	q.set(func(q *fakeQuotas) { q.topic, q.partition = nil, nil })
	if st, _, body = h.call("POST", "/api/v1/topics", admin, `{"name":"n","partitions":3}`); st != 201 {
		t.Fatalf("create admitted: %d %s", st, body)
	}
	if _, err := h.admin.AddPartitions(grpcAs(t, admin), &shv1.AddPartitionsRequest{Topic: "n", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	if got := q.took(); !slices.Equal(got, []string{"topic 3", "partitions 4"}) {
		t.Errorf("quota calls %q", got)
	}
}

func TestQuotaFetchRefused(t *testing.T) {
	t.Parallel()
	q := &fakeQuotas{fetch: rateRefusal}
	h := newAuthHarness(t, func(d *Deps, g *GRPCConfig) { d.Quotas, g.Quotas = q, q })
	member := testCredential(h.a, registry.RoleMember)
	st, hdr, body := h.call("GET", "/api/v1/topics/t/partitions/0/records?offset=0", member, "")
	if st != 429 || hdr.Get("Retry-After") != "2" || !strings.Contains(body, `"busy"`) {
		t.Errorf("read refused: %d %v %s", st, hdr, body)
	}
	_, err := h.consumer.Fetch(grpcAs(t, member), &shv1.FetchRequest{Topic: "t"})
	st2 := status.Convert(err)
	if st2.Code() != codes.ResourceExhausted || st2.Message() != rateRefusal.msg {
		t.Errorf("gRPC fetch refused: %v", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st2.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != rateRefusal.retry {
		t.Errorf("gRPC fetch refused: RetryInfo %v", retry)
	}
	q.set(func(q *fakeQuotas) { q.fetch = countRefusal })
	_, err = h.consumer.Fetch(grpcAs(t, member), &shv1.FetchRequest{Topic: "t"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC fetch refused with a 403: %v", err)
	}
	if n := h.fetches.Load(); n != 0 {
		t.Fatalf("%d refused fetches reached the owner", n)
	}
	if got := q.took(); !slices.Equal(got, []string{"fetch", "fetch", "fetch"}) {
		t.Errorf("quota calls %q", got)
	}

	// A WebSocket consumer whose fetch rate is spent waits and goes on.
	q.set(func(q *fakeQuotas) {
		q.fetch, q.fetchRefusals = &refusal{status: 429, retry: 20 * time.Millisecond, msg: "rate"}, 3
	})
	c, code, body := h.dial("/ws/consume?topic=t&offset=earliest", member)
	if c == nil {
		t.Fatalf("dial: %d %s", code, body)
	}
	var rec struct {
		Value string `json:"value"`
	}
	if err := c.ReadJSON(&rec); err != nil || rec.Value != "hello" {
		t.Fatalf("consume after throttling: %+v %v", rec, err)
	}
	if got := q.took(); len(got) < 4 || !slices.Equal(got[:4], []string{"fetch", "fetch", "fetch", "fetch"}) {
		t.Errorf("quota calls %q, want 3 refused fetches, then admitted ones", got)
	}
	// Any other refusal ends the stream with it.
	q.set(func(q *fakeQuotas) { q.fetch, q.fetchRefusals = countRefusal, 0 })
	c, code, body = h.dial("/ws/consume?topic=t&offset=earliest", member)
	if c == nil {
		t.Fatalf("dial: %d %s", code, body)
	}
	wantClose(t, c, 4403, "quota topics exceeded")
}

// TestQuotaRetryAfterSeconds checks the rounding: whole seconds, up, at
// least 1.
func TestQuotaRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1",
		1001 * time.Millisecond: "2", 59 * time.Second: "59", -time.Second: "1"} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	if _, ok := retryAfter(countRefusal); ok {
		t.Error("a 403 refusal has a Retry-After")
	}
	if code, _, _ := codeOf(fmt.Errorf("produce: %w", batchRefusal)); code.String() != "too_large" || statusFor(code) != http.StatusRequestEntityTooLarge {
		t.Errorf("413 refusal: %s", code)
	}
}
