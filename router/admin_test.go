package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeCluster stands in for cells.Cluster.
type fakeCluster struct {
	owners map[int64]map[int32]string // by topic id
	agents []AgentInfo
	err    error
}

func (f *fakeCluster) Owners(_ context.Context, _, topic int64) (map[int32]string, error) {
	return f.owners[topic], f.err
}

func (f *fakeCluster) Agents(context.Context) ([]AgentInfo, error) { return f.agents, f.err }

// fakeGroups stands in for the groups' coordinators: members per group; a
// reset or delete of a group with members is refused.
type fakeGroups struct {
	reg     *registry.Embedded
	members map[string][]wire.GroupMemberInfo
}

func (f *fakeGroups) DescribeGroup(_ context.Context, _ int64, group string) (GroupInfo, error) {
	if m := f.members[group]; len(m) > 0 {
		return GroupInfo{State: "Stable", Generation: 2, Strategy: "range", Members: m}, nil
	}
	return GroupInfo{State: "Empty"}, nil
}

func (f *fakeGroups) SetGroupOffsets(ctx context.Context, tenant int64, group string, offs []registry.GroupOffset) error {
	if len(f.members[group]) > 0 {
		return fmt.Errorf("%w: %d", ErrGroupNotEmpty, len(f.members[group]))
	}
	return f.reg.CommitOffsets(ctx, tenant, group, offs)
}

func (f *fakeGroups) DeleteGroup(ctx context.Context, tenant int64, group string) error {
	if len(f.members[group]) > 0 {
		return ErrGroupNotEmpty
	}
	return f.reg.DeleteGroup(ctx, tenant, group)
}

// newAdminHarness is newHarness with the admin Deps that set adds.
func newAdminHarness(t *testing.T, set func(h *harness, d *Deps)) *harness {
	t.Helper()
	h := newHarness(t, Config{})
	d := Deps{Topics: h.reg, Producer: h.prod, Offsets: h.reg}
	if set != nil {
		set(h, &d)
	}
	var err error
	if h.rt, err = New(Config{Authenticate: Anonymous(h.tenant.ID)}, d); err != nil {
		t.Fatal(err)
	}
	return h
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func TestAddPartitions(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var changed []registry.Topic
	h := newAdminHarness(t, func(_ *harness, d *Deps) {
		d.TopicCreated = func(tp registry.Topic) { mu.Lock(); changed = append(changed, tp); mu.Unlock() }
	})
	h.createTopic("orders", 2)
	w := h.do("POST", "/api/v1/topics/orders/partitions", "application/json", []byte(`{"partitions":5}`))
	if w.Code != http.StatusOK {
		t.Fatalf("add partitions: %d %s", w.Code, w.Body)
	}
	got := decode[topicJSON](t, w.Body.Bytes())
	if got.Name != "orders" || got.Partitions != 5 {
		t.Fatalf("add partitions answered %+v", got)
	}
	mu.Lock()
	if len(changed) != 2 || changed[1].Partitions != 5 { // the create, then the change
		t.Errorf("hook calls = %+v, want the grown topic last", changed)
	}
	mu.Unlock()
	w = h.do("GET", "/api/v1/topics/orders", "", nil)
	if d := decode[topicJSON](t, w.Body.Bytes()); len(d.PartitionInfo) != 5 || d.PartitionInfo[4].Partition != 4 {
		t.Fatalf("describe after add: %s", w.Body)
	}

	wantError(t, h.do("POST", "/api/v1/topics/orders/partitions", "application/json", []byte(`{"partitions":3}`)),
		http.StatusBadRequest, "invalid", "partitions")
	wantError(t, h.do("POST", "/api/v1/topics/orders/partitions", "application/json", []byte(`{"partitions":10001}`)),
		http.StatusBadRequest, "invalid", "at most 10000")
	wantError(t, h.do("POST", "/api/v1/topics/orders/partitions", "application/json", []byte(`{"partitons":8}`)),
		http.StatusBadRequest, "invalid", "unknown field")
	wantError(t, h.do("POST", "/api/v1/topics/nope/partitions", "application/json", []byte(`{"partitions":8}`)),
		http.StatusNotFound, "not_found", `topic "nope" not found`)

	// TopicChanged wins over TopicCreated when set.
	var hook string
	h2 := newAdminHarness(t, func(_ *harness, d *Deps) {
		d.TopicCreated = func(registry.Topic) { hook = "created" }
		d.TopicChanged = func(registry.Topic) { hook = "changed" }
	})
	h2.createTopic("a", 1)
	if w := h2.do("POST", "/api/v1/topics/a/partitions", "application/json", []byte(`{"partitions":2}`)); w.Code != 200 || hook != "changed" {
		t.Fatalf("%d %s, hook %q", w.Code, w.Body, hook)
	}
}

func TestDescribeTopicOwners(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{owners: map[int64]map[int32]string{}}
	ff := &fakeFetch{}
	ff.set(&wire.FetchResponse{HighWatermark: 42}, nil)
	h := newAdminHarness(t, func(_ *harness, d *Deps) { d.Cluster, d.Fetch = cl, ff })
	h.createTopic("orders", 2)
	tp, err := h.reg.Topic(t.Context(), h.tenant.ID, "orders")
	if err != nil {
		t.Fatal(err)
	}
	cl.owners[tp.ID] = map[int32]string{1: "agent-b"}
	w := h.do("GET", "/api/v1/topics/orders", "", nil)
	got := decode[topicJSON](t, w.Body.Bytes())
	if len(got.PartitionInfo) != 2 {
		t.Fatalf("describe: %s", w.Body)
	}
	p0, p1 := got.PartitionInfo[0], got.PartitionInfo[1]
	if p0.Owner != "" || p0.LiveHighWatermark != nil || p1.Owner != "agent-b" || p1.LiveHighWatermark == nil || *p1.LiveHighWatermark != 42 {
		t.Fatalf("partitions: %s", w.Body)
	}
	if req := ff.last(); req.TopicID != tp.ID || req.Partition != 1 || req.MaxWaitMs != 0 {
		t.Errorf("live high watermark fetch = %+v", req)
	}

	// A cluster that cannot answer leaves the owners out; the describe
	// still answers.
	cl.err = errors.New("nats down")
	w = h.do("GET", "/api/v1/topics/orders", "", nil)
	if w.Code != 200 || strings.Contains(w.Body.String(), "owner") {
		t.Fatalf("describe without the cluster: %d %s", w.Code, w.Body)
	}
}

func TestListAgents(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{}
	h := newAdminHarness(t, func(_ *harness, d *Deps) { d.Cluster = cl })
	h.createTopic("orders", 3)
	h.createTopic("audit", 1)
	ctx := t.Context()
	orders, _ := h.reg.Topic(ctx, h.tenant.ID, "orders")
	audit, _ := h.reg.Topic(ctx, h.tenant.ID, "audit")
	ten := h.tenant.ID
	cl.agents = []AgentInfo{
		{ID: "agent-a", Live: true, Partitions: []registry.PartitionID{pid(ten, orders.ID, 2), pid(ten, audit.ID, 0), pid(ten, 999, 0), pid(ten+1, orders.ID, 0)}},
		{ID: "agent-b", Live: true},
		{ID: "agent-c", Partitions: []registry.PartitionID{pid(ten, orders.ID, 0)}},
	}
	w := h.do("GET", "/api/v1/agents", "", nil)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := `{"agents":[` +
		`{"id":"agent-a","live":true,"partitions":[{"topic":"audit","partition":0},{"topic":"orders","partition":2}]},` +
		`{"id":"agent-b","live":true,"partitions":[]},` +
		`{"id":"agent-c","live":false,"partitions":[{"topic":"orders","partition":0}]}]}` + "\n"
	if w.Body.String() != want {
		t.Fatalf("agents:\n%s\nwant\n%s", w.Body, want)
	}

	wantError(t, newAdminHarness(t, nil).do("GET", "/api/v1/agents", "", nil), http.StatusServiceUnavailable, "unavailable", "agents")
	cl.err = errors.New("boom")
	wantError(t, h.do("GET", "/api/v1/agents", "", nil), http.StatusInternalServerError, "internal", "internal error")
}

func pid(tenant, topic int64, p int32) registry.PartitionID {
	return registry.PartitionID{Tenant: tenant, Topic: topic, Partition: p}
}

// groupsSetup makes topic "orders" (2 partitions: 10 records in 0, 4 in 1
// from log start 2) and group "g" with an offset of 3 on partition 0.
func groupsSetup(t *testing.T, h *harness) registry.Topic {
	t.Helper()
	ctx := t.Context()
	h.createTopic("orders", 2)
	tp, _ := h.reg.Topic(ctx, h.tenant.ID, "orders")
	p0, p1 := pid(h.tenant.ID, tp.ID, 0), pid(h.tenant.ID, tp.ID, 1)
	for _, s := range []registry.Segment{
		{Partition: p0, ObjectKey: "a", Length: 1, ObjectSize: 1, FirstOffset: 0, LastOffset: 9, RecordCount: 10},
		{Partition: p1, ObjectKey: "b", Length: 1, ObjectSize: 1, FirstOffset: 0, LastOffset: 3, RecordCount: 4},
	} {
		if err := h.reg.CommitSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.reg.DeleteSegmentsBefore(ctx, p1, registry.AnyEpoch, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.reg.CommitOffsets(ctx, h.tenant.ID, "g", []registry.GroupOffset{{Topic: tp.ID, Partition: 0, Offset: 3}}); err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestGroupsListDescribe(t *testing.T) {
	t.Parallel()
	fg := &fakeGroups{members: map[string][]wire.GroupMemberInfo{}}
	h := newAdminHarness(t, func(h *harness, d *Deps) { fg.reg = h.reg; d.Groups = fg })
	tp := groupsSetup(t, h)

	w := h.do("GET", "/api/v1/groups", "", nil)
	if w.Code != 200 || w.Body.String() != `{"groups":["g"]}`+"\n" {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	w = h.do("GET", "/api/v1/groups/g", "", nil)
	got := decode[groupJSON](t, w.Body.Bytes())
	want := groupJSON{Group: "g", State: "Empty", Members: []groupMemberJSON{}, Offsets: []groupOffsetJSON{
		{Topic: "orders", Partition: 0, Committed: 3, HighWatermark: 10, Lag: 7},
		{Topic: "orders", Partition: 1, Committed: -1, HighWatermark: 4, LogStartOffset: 2, Lag: 2},
	}}
	if w.Code != 200 || !reflect.DeepEqual(got, want) {
		t.Fatalf("describe: %d %s\nwant %+v", w.Code, w.Body, want)
	}

	fg.members["g"] = []wire.GroupMemberInfo{{MemberID: "c-1", ClientID: "c", SessionTimeoutMs: 45000,
		Assignment: []wire.GroupPartition{{TopicID: tp.ID, Partition: 0}, {TopicID: tp.ID, Partition: 1}}}}
	w = h.do("GET", "/api/v1/groups/g", "", nil)
	got = decode[groupJSON](t, w.Body.Bytes())
	if got.State != "Stable" || got.Generation != 2 || len(got.Members) != 1 || got.Members[0].ID != "c-1" ||
		len(got.Members[0].Assignment) != 2 || got.Members[0].Assignment[1] != (agentPartJSON{"orders", 1}) ||
		got.Offsets[1].Member != "c-1" {
		t.Fatalf("describe with a member: %s", w.Body)
	}

	wantError(t, h.do("GET", "/api/v1/groups/nobody", "", nil), http.StatusNotFound, "not_found", `group "nobody" not found`)
	wantError(t, newAdminHarness(t, func(_ *harness, d *Deps) { d.Offsets = nil }).do("GET", "/api/v1/groups", "", nil),
		http.StatusNotFound, "not_found", "not served")
}

func TestGroupReset(t *testing.T) {
	t.Parallel()
	fg := &fakeGroups{members: map[string][]wire.GroupMemberInfo{}}
	var asked []int64
	h := newAdminHarness(t, func(h *harness, d *Deps) {
		fg.reg = h.reg
		d.Groups = fg
		d.OffsetForTime = func(_ context.Context, id registry.PartitionID, ts int64) (int64, error) {
			asked = append(asked, ts)
			return 5, nil
		}
	})
	tp := groupsSetup(t, h)
	offsetsOf := func() map[int32]int64 {
		offs, err := h.reg.FetchOffsets(t.Context(), h.tenant.ID, "g")
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		for _, o := range offs {
			if o.Topic == tp.ID {
				out[o.Partition] = o.Offset
			}
		}
		return out
	}
	for _, tc := range []struct {
		body string
		want map[int32]int64
	}{
		{`{"topic":"orders","to":"earliest"}`, map[int32]int64{0: 0, 1: 2}},
		{`{"topic":"orders","to":"latest"}`, map[int32]int64{0: 10, 1: 4}},
		{`{"topic":"orders","to":"offset","offset":3}`, map[int32]int64{0: 3, 1: 3}},
		{`{"topic":"orders","to":"offset","offset":0}`, map[int32]int64{0: 0, 1: 2}}, // clamped to log start
		{`{"to":"offset","offset":100}`, map[int32]int64{0: 10, 1: 4}},               // all the group's topics; clamped
		{`{"topic":"orders","to":"timestamp","timestamp_ms":1700000000000}`, map[int32]int64{0: 5, 1: 4}},
	} {
		w := h.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(tc.body))
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tc.body, w.Code, w.Body)
		}
		if got := offsetsOf(); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: offsets %v, want %v (answer %s)", tc.body, got, tc.want, w.Body)
		}
	}
	if len(asked) != 2 || asked[0] != 1700000000000 {
		t.Errorf("OffsetForTime asked %v", asked)
	}
	w := h.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(`{"topic":"orders","to":"earliest"}`))
	if w.Body.String() != `{"offsets":[{"topic":"orders","partition":0,"offset":0},{"topic":"orders","partition":1,"offset":2}]}`+"\n" {
		t.Fatalf("answer %s", w.Body)
	}

	for body, want := range map[string]string{
		`{"topic":"orders","to":"nowhere"}`:   `"to" is "nowhere"`,
		`{"topic":"orders","to":"offset"}`:    `needs "offset"`,
		`{"topic":"orders","to":"timestamp"}`: `needs "timestamp_ms"`,
		`{"topic":"a/b","to":"earliest"}`:     "topic",
	} {
		wantError(t, h.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(body)), http.StatusBadRequest, "invalid", want)
	}
	wantError(t, h.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(`{"topic":"nope","to":"earliest"}`)),
		http.StatusNotFound, "not_found", `topic "nope"`)
	wantError(t, h.do("POST", "/api/v1/groups/fresh/reset", "application/json", []byte(`{"to":"earliest"}`)),
		http.StatusNotFound, "not_found", "name a topic")

	// A group with members refuses; nothing is written.
	before := offsetsOf()
	fg.members["g"] = []wire.GroupMemberInfo{{MemberID: "c-1"}}
	wantError(t, h.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(`{"topic":"orders","to":"latest"}`)),
		http.StatusConflict, "group_not_empty", "active members")
	if got := offsetsOf(); !reflect.DeepEqual(got, before) {
		t.Fatalf("refused reset wrote %v (was %v)", got, before)
	}

	// Without OffsetForTime a timestamp reset is unavailable; without a
	// coordinator client the reset goes to the registry directly.
	h2 := newAdminHarness(t, nil)
	groupsSetup(t, h2)
	wantError(t, h2.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(`{"topic":"orders","to":"timestamp","timestamp_ms":1}`)),
		http.StatusServiceUnavailable, "unavailable", "timestamp")
	if w := h2.do("POST", "/api/v1/groups/g/reset", "application/json", []byte(`{"topic":"orders","to":"latest"}`)); w.Code != 200 {
		t.Fatalf("direct reset: %d %s", w.Code, w.Body)
	}
}

func TestGroupDelete(t *testing.T) {
	t.Parallel()
	fg := &fakeGroups{members: map[string][]wire.GroupMemberInfo{"g": {{MemberID: "c-1"}}}}
	h := newAdminHarness(t, func(h *harness, d *Deps) { fg.reg = h.reg; d.Groups = fg })
	groupsSetup(t, h)
	wantError(t, h.do("DELETE", "/api/v1/groups/g", "", nil), http.StatusConflict, "group_not_empty", "active members")
	delete(fg.members, "g")
	if w := h.do("DELETE", "/api/v1/groups/g", "", nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	wantError(t, h.do("DELETE", "/api/v1/groups/g", "", nil), http.StatusNotFound, "not_found", `group "g" not found`)
	if w := h.do("GET", "/api/v1/groups", "", nil); w.Body.String() != `{"groups":[]}`+"\n" {
		t.Fatalf("list after delete: %s", w.Body)
	}

	// Without a coordinator client: straight to the registry.
	h2 := newAdminHarness(t, nil)
	groupsSetup(t, h2)
	if w := h2.do("DELETE", "/api/v1/groups/g", "", nil); w.Code != http.StatusNoContent {
		t.Fatalf("direct delete: %d %s", w.Code, w.Body)
	}
	wantError(t, h2.do("DELETE", "/api/v1/groups/g", "", nil), http.StatusNotFound, "not_found", "not found")
}
