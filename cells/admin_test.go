package cells

import (
	"errors"
	"reflect"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

func TestClusterOwnersAndAgents(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	c, err := NewCluster(js, cell)
	if err != nil {
		t.Fatal(err)
	}
	// No agent has started: no buckets, nothing owned.
	if owners, err := c.Owners(ctx, 1, 2); err != nil || len(owners) != 0 {
		t.Fatalf("Owners before any bucket = %v, %v", owners, err)
	}
	if agents, err := c.Agents(ctx); err != nil || len(agents) != 0 {
		t.Fatalf("Agents before any bucket = %v, %v", agents, err)
	}

	la := openTestLeases(t, js, cell, "agent-a", 0)
	lb := openTestLeases(t, js, cell, "agent-b", 0)
	var held []*Lease
	for _, k := range []LeaseKey{{1, 2, 1}, {1, 2, 0}, {1, 3, 0}} {
		l, err := la.Acquire(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	if _, err := lb.Acquire(ctx, LeaseKey{1, 2, 2}); err != nil {
		t.Fatal(err)
	}
	agents, err := openAgentsBucket(ctx, js, AgentConfig{Cell: cell, LeaseTTL: DefaultLeaseTTL, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agents.PutString(ctx, "agent-a", "agent-a"); err != nil {
		t.Fatal(err)
	}

	owners, err := c.Owners(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]string{0: "agent-a", 1: "agent-a", 2: "agent-b"}; !reflect.DeepEqual(owners, want) {
		t.Fatalf("Owners = %v, want %v", owners, want)
	}
	got, err := c.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []ClusterAgent{
		{ID: "agent-a", Live: true, Partitions: []registry.PartitionID{rpid(1, 2, 0), rpid(1, 2, 1), rpid(1, 3, 0)}},
		{ID: "agent-b", Live: false, Partitions: []registry.PartitionID{rpid(1, 2, 2)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Agents = %+v\nwant %+v", got, want)
	}

	// A released lease is no longer owned.
	if err := held[1].Release(ctx); err != nil {
		t.Fatal(err)
	}
	owners, err = c.Owners(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]string{1: "agent-a", 2: "agent-b"}; !reflect.DeepEqual(owners, want) {
		t.Fatalf("Owners after release = %v, want %v", owners, want)
	}
}

func TestGroupServiceAdminOps(t *testing.T) {
	t.Parallel()
	e := newGroupEnv(t)
	ctx := testCtx(t)
	m := &testMember{}
	e.join(t, m, 10_000)

	d, err := e.client.DescribeGroup(ctx, e.tenant, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != string(GroupStable) || d.Generation != m.gen || len(d.Members) != 1 ||
		d.Members[0].MemberID != m.id || d.Members[0].ClientID != "c" || d.Members[0].SessionTimeoutMs != 10_000 ||
		!reflect.DeepEqual(d.Members[0].Assignment, m.parts) || len(m.parts) != 3 {
		t.Fatalf("describe = %+v (member %+v)", d, m)
	}

	offs := []registry.GroupOffset{{Topic: e.topicA, Partition: 0, Offset: 0}}
	if err := e.client.SetGroupOffsets(ctx, e.tenant, "g1", offs); !errors.Is(err, ErrGroupNotEmpty) {
		t.Fatalf("reset with a member: %v, want ErrGroupNotEmpty", err)
	}
	if err := e.client.DeleteGroup(ctx, e.tenant, "g1"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Fatalf("delete with a member: %v, want ErrGroupNotEmpty", err)
	}

	if _, err := e.client.Leave(ctx, &wire.GroupRequest{TenantID: e.tenant, Group: "g1", MemberID: m.id}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.SetGroupOffsets(ctx, e.tenant, "g1", offs); err != nil {
		t.Fatalf("reset of an empty group: %v", err)
	}
	got, err := e.reg.FetchOffsets(ctx, e.tenant, "g1")
	if err != nil || len(got) != 1 || got[0].Offset != 0 || got[0].Topic != e.topicA {
		t.Fatalf("offsets after reset = %+v, %v", got, err)
	}
	d, err = e.client.DescribeGroup(ctx, e.tenant, "g1")
	if err != nil || d.State != string(GroupEmpty) || len(d.Members) != 0 {
		t.Fatalf("describe of the empty group = %+v, %v", d, err)
	}
	if err := e.client.DeleteGroup(ctx, e.tenant, "g1"); err != nil {
		t.Fatalf("delete of an empty group: %v", err)
	}
	if groups, err := e.reg.ListGroups(ctx, e.tenant); err != nil || len(groups) != 0 {
		t.Fatalf("groups after delete = %v, %v", groups, err)
	}
	if err := e.client.DeleteGroup(ctx, e.tenant, "g1"); codeOf(err) != wire.NotFound {
		t.Fatalf("delete again: %v, want not_found", err)
	}

	// A group nobody coordinates describes as empty.
	d, err = e.client.DescribeGroup(ctx, e.tenant, "never-joined")
	if err != nil || d.State != string(GroupEmpty) || len(d.Members) != 0 {
		t.Fatalf("describe of an unknown group = %+v, %v", d, err)
	}
}

func rpid(tenant, topic int64, p int32) registry.PartitionID {
	return registry.PartitionID{Tenant: tenant, Topic: topic, Partition: p}
}
