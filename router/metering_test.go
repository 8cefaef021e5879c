package router

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeUsage records every call: "produced <tenant> <records> <bytes>",
// "consumed ...".
type fakeUsage struct {
	mu    sync.Mutex
	calls []string
}

func (u *fakeUsage) Produced(tenant, records, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, fmt.Sprintf("produced %d %d %d", tenant, records, bytes))
}

func (u *fakeUsage) Consumed(tenant, records, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, fmt.Sprintf("consumed %d %d %d", tenant, records, bytes))
}

func (u *fakeUsage) took() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.calls
	u.calls = nil
	return c
}

// fakeAudit records every event as "<tenant> <actor> <action> <target> <detail>".
type fakeAudit struct {
	mu     sync.Mutex
	events []string
}

func (a *fakeAudit) Audit(_ context.Context, tenant int64, actor, action, target, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, fmt.Sprintf("%d %s %s %s %s", tenant, actor, action, target, detail))
}

// The harness's log: 2+5+1+1, 6 and 2+1 bytes of keys, values and headers.
const logBytes = 18

func TestUsageProducedAcknowledgedOnly(t *testing.T) {
	t.Parallel()
	u := &fakeUsage{}
	h := newAuthHarness(t, func(d *Deps, _ *GRPCConfig) { d.Usage = u })
	h.prod.answer = func(_ context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		if req.Partition == 1 {
			return &wire.ProduceResponse{Code: wire.Busy, Message: "inbox full"}, nil
		}
		return nil, nil
	}
	member := testCredential(h.a, registry.RoleMember)
	// Partition 0: 8 + 2 bytes; partition 1 (refused by its owner): 5.
	body := `{"records":[{"key":"k1","value":"abc","headers":{"h":"vv"},"partition":0},{"value":"zz","partition":0},{"value":"12345","partition":1}]}`
	if st, _, resp := h.call("POST", "/api/v1/topics/t/records", member, body); st != 429 {
		t.Fatalf("partial failure: %d %s", st, resp)
	}
	want := fmt.Sprintf("produced %d 2 10", h.a)
	if got := u.took(); !slices.Equal(got, []string{want}) {
		t.Fatalf("usage %q, want %q", got, want)
	}
	// A transport failure is not metered either; a refused request at all.
	h.prod.answer = func(context.Context, *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		return nil, wire.Errorf(wire.Unavailable, "no answer")
	}
	if st, _, resp := h.call("POST", "/api/v1/topics/t/records", member, body); st != 503 {
		t.Fatalf("failure: %d %s", st, resp)
	}
	if st, _, _ := h.call("POST", "/api/v1/topics/t/records", testCredential(h.a, registry.RoleViewer), body); st != 403 {
		t.Fatalf("viewer: %d", st)
	}
	if got := u.took(); len(got) != 0 {
		t.Fatalf("usage %q for failed and refused requests", got)
	}
	// An idempotent retry the owner had written before is acknowledged
	// again but not metered again.
	h.prod.answer = func(context.Context, *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		return &wire.ProduceResponse{BaseOffset: 4, Duplicate: true}, nil
	}
	if st, _, resp := h.call("POST", "/api/v1/topics/t/records", member, `{"producer_id":9,"sequence":0,"records":[{"value":"again","partition":0}]}`); st != 200 {
		t.Fatalf("duplicate: %d %s", st, resp)
	}
	if got := u.took(); len(got) != 0 {
		t.Fatalf("usage %q for a duplicate", got)
	}

	// WebSocket: per acknowledged batch of each frame.
	h.prod.answer = func(_ context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
		if req.Partition == 1 {
			return &wire.ProduceResponse{Code: wire.Busy, Message: "inbox full"}, nil
		}
		return nil, nil
	}
	c, st, resp := h.dial("/ws/produce?topic=t", member)
	if c == nil {
		t.Fatalf("dial: %d %s", st, resp)
	}
	send(t, c, `{"id":1,"records":[{"key":"k1","value":"abc","headers":{"h":"vv"},"partition":0},{"value":"zz","partition":0},{"value":"12345","partition":1}]}`)
	if a := readAck(t, c); a.Error == nil || len(a.Offsets) != 3 {
		t.Fatalf("ack %+v", a)
	}
	if got := u.took(); !slices.Equal(got, []string{want}) {
		t.Fatalf("ws usage %q, want %q", got, want)
	}
}

func TestUsageConsumedAsServed(t *testing.T) {
	t.Parallel()
	u := &fakeUsage{}
	q := &fakeQuotas{}
	h := newAuthHarness(t, func(d *Deps, g *GRPCConfig) { d.Usage, d.Quotas, g.Usage, g.Quotas = u, q, u, q })
	member := testCredential(h.a, registry.RoleMember)
	all := fmt.Sprintf("consumed %d 3 %d", h.a, logBytes)

	if st, _, body := h.call("GET", "/api/v1/topics/t/partitions/0/records?offset=0", member, ""); st != 200 {
		t.Fatalf("read: %d %s", st, body)
	}
	if st, _, body := h.call("GET", "/api/v1/topics/t/partitions/0/records?offset=0&limit=2", member, ""); st != 200 {
		t.Fatalf("read: %d %s", st, body)
	}
	if got := u.took(); !slices.Equal(got, []string{all, fmt.Sprintf("consumed %d 2 15", h.a)}) {
		t.Fatalf("usage %q", got)
	}
	if got := q.took(); !slices.Equal(got, []string{"fetch", "charge 18", "fetch", "charge 15"}) {
		t.Fatalf("quota calls %q", got)
	}

	if _, err := h.consumer.Fetch(grpcAs(t, member), &shv1.FetchRequest{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	// An empty fetch is admitted but neither charged nor metered.
	if _, err := h.consumer.Fetch(grpcAs(t, member), &shv1.FetchRequest{Topic: "t", Offset: 3}); err != nil {
		t.Fatal(err)
	}
	if got := u.took(); !slices.Equal(got, []string{all}) {
		t.Fatalf("gRPC usage %q", got)
	}
	if got := q.took(); !slices.Equal(got, []string{"fetch", "charge 18", "fetch"}) {
		t.Fatalf("gRPC quota calls %q", got)
	}

	// WebSocket: booked once the fetch's records are written to the socket.
	c, st, body := h.dial("/ws/consume?topic=t&offset=earliest", member)
	if c == nil {
		t.Fatalf("dial: %d %s", st, body)
	}
	for range 3 {
		var rec map[string]any
		if err := c.ReadJSON(&rec); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the ws consumer's usage", func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.calls) > 0
	})
	if got := u.took(); !slices.Equal(got, []string{all}) {
		t.Fatalf("ws usage %q", got)
	}
}

func TestUsageSubscribe(t *testing.T) {
	t.Parallel()
	u := &fakeUsage{}
	q := &fakeQuotas{fetch: &refusal{status: 429, retry: 10 * time.Millisecond, msg: "rate"}, fetchRefusals: 2}
	client, _, tenant, _ := newSubscribeHarness(t, func(g *GRPCConfig) { g.Usage, g.Quotas = u, q })
	s := subscribe(t, client, &shv1.SubscribeRequest{Group: "g", Topics: []string{"orders"}, SessionTimeoutMs: 300, MaxWaitMs: 50})
	waitUntil(t, "the records", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.values) == 6
	})
	waitUntil(t, "the usage", func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.calls) == 3
	})
	s.cancel()
	<-s.done
	// Three partitions of two 2-byte records, a batch each, after two
	// refused polls.
	want := fmt.Sprintf("consumed %d 2 4", tenant)
	if got := u.took(); !slices.Equal(got, []string{want, want, want}) {
		t.Fatalf("usage %q", got)
	}
	calls := q.took()
	if len(calls) < 5 || calls[0] != "fetch" || calls[1] != "fetch" || slices.Index(calls, "charge 4") < 0 {
		t.Fatalf("quota calls %q", calls)
	}
}

func TestAuditChanges(t *testing.T) {
	t.Parallel()
	au := &fakeAudit{}
	h := newAuthHarness(t, func(d *Deps, _ *GRPCConfig) { d.Audit = au })
	h.commit("g", 1)
	h.commit("g2", 1)
	admin := testCredential(h.a, registry.RoleAdmin)
	st, _, body := h.call("POST", "/api/v1/topics", admin, `{"name":"n","partitions":2}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	created := decode[topicJSON](t, []byte(body))
	// Changes are audited once done; reads, data, refusals and failures
	// are not.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/topics/n/partitions", `{"partitions":3}`},
		{"DELETE", "/api/v1/topics/n", ""},
		{"POST", "/api/v1/groups/g/reset", `{"to":"latest","topic":"t"}`},
		{"DELETE", "/api/v1/groups/g", ""},
		{"POST", "/api/v1/topics", `{"name":"t","partitions":1}`},              // exists
		{"POST", "/api/v1/topics", `{"name":"n2","retention_ms":0}`},           // invalid
		{"POST", "/api/v1/topics/t/partitions", `{"partitions":1}`},            // not growing
		{"DELETE", "/api/v1/topics/nope", ""},                                  // not found
		{"POST", "/api/v1/groups/g2/reset", `{"to":"nowhere"}`},                // invalid
		{"DELETE", "/api/v1/groups/nope", ""},                                  // not found
		{"POST", "/api/v1/topics/t/records", `{"records":[{"value":"data"}]}`}, // data
		{"GET", "/api/v1/topics/t", ""},                                        // a read
		{"GET", "/api/v1/groups/g2", ""},                                       // a read
		{"DELETE", "/api/v1/topics/t", "member"},                               // refused: a member may not
		{"DELETE", "/api/v1/groups/g2", ""},
	} {
		cred := admin
		if c.body == "member" {
			cred, c.body = testCredential(h.a, registry.RoleMember), ""
		}
		h.call(c.method, c.path, cred, c.body)
	}
	if _, err := h.admin.CreateTopic(grpcAs(t, admin), &shv1.CreateTopicRequest{Name: "m", Partitions: proto.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.ResetGroupOffsets(grpcAs(t, admin), &shv1.ResetGroupOffsetsRequest{Group: "gx", Topic: "m", To: "earliest"}); err != nil {
		t.Fatal(err)
	}
	a := h.a
	want := []string{
		fmt.Sprintf("%d user:7 topic.create n partitions=2", a),
		fmt.Sprintf("%d user:7 topic.partitions n partitions=2->3", a),
		fmt.Sprintf("%d user:7 topic.delete n id=%d", a, created.ID),
		fmt.Sprintf("%d user:7 group.reset g to=latest topics=t", a),
		fmt.Sprintf("%d user:7 group.delete g ", a),
		fmt.Sprintf("%d user:7 group.delete g2 ", a),
		fmt.Sprintf("%d user:7 topic.create m partitions=1", a),
		fmt.Sprintf("%d user:7 group.reset gx to=earliest topics=m", a),
	}
	au.mu.Lock()
	defer au.mu.Unlock()
	if !slices.Equal(au.events, want) {
		t.Fatalf("audit:\n%s\nwant:\n%s", fmt.Sprint(au.events), fmt.Sprint(want))
	}
}

// TestQuotaSubscribeRefused: a refusal other than a rate ends the stream
// with it, before anything is fetched.
func TestQuotaSubscribeRefused(t *testing.T) {
	t.Parallel()
	q := &fakeQuotas{fetch: countRefusal}
	u := &fakeUsage{}
	client, _, _, _ := newSubscribeHarness(t, func(g *GRPCConfig) { g.Quotas, g.Usage = q, u })
	s := subscribe(t, client, &shv1.SubscribeRequest{Group: "g", Topics: []string{"orders"}, SessionTimeoutMs: 300, MaxWaitMs: 50})
	select {
	case err := <-s.done:
		checkStatus(t, err, codes.PermissionDenied, "forbidden")
	case <-time.After(10 * time.Second):
		t.Fatal("the stream went on")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.values) != 0 || len(u.took()) != 0 {
		t.Fatalf("served %v", s.values)
	}
}
