package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeCluster stands in for cells.Cluster: owners by topic name, agents as
// given.
type fakeCluster struct {
	reg    *registry.Embedded
	tenant int64
	mu     sync.Mutex
	owners map[string]map[int32]string
	agents []router.AgentInfo
}

func (f *fakeCluster) Owners(ctx context.Context, tenant, topic int64) (map[int32]string, error) {
	t, err := f.reg.TopicByID(ctx, tenant, topic)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.owners[t.Name], nil
}

func (f *fakeCluster) Agents(context.Context) ([]router.AgentInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.agents, nil
}

// fakeGroups stands in for the groups' coordinators: members per group; a
// reset or delete of a group with members is refused.
type fakeGroups struct {
	reg     *registry.Embedded
	mu      sync.Mutex
	members map[string][]wire.GroupMemberInfo
}

func (f *fakeGroups) of(group string) []wire.GroupMemberInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[group]
}

func (f *fakeGroups) set(group string, m []wire.GroupMemberInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[group] = m
}

func (f *fakeGroups) DescribeGroup(_ context.Context, _ int64, group string) (router.GroupInfo, error) {
	if m := f.of(group); len(m) > 0 {
		return router.GroupInfo{State: "Stable", Generation: 2, Strategy: "range", Members: m}, nil
	}
	return router.GroupInfo{State: "Empty"}, nil
}

func (f *fakeGroups) SetGroupOffsets(ctx context.Context, tenant int64, group string, offs []registry.GroupOffset) error {
	if m := f.of(group); len(m) > 0 {
		return fmt.Errorf("%w: %d", router.ErrGroupNotEmpty, len(m))
	}
	return f.reg.CommitOffsets(ctx, tenant, group, offs)
}

func (f *fakeGroups) DeleteGroup(ctx context.Context, tenant int64, group string) error {
	if len(f.of(group)) > 0 {
		return router.ErrGroupNotEmpty
	}
	return f.reg.DeleteGroup(ctx, tenant, group)
}

// adminServer is a test server with a cluster, group coordinators, a
// fetcher for live high watermarks and offsets for times.
type adminServer struct {
	*testServer
	cluster *fakeCluster
	groups  *fakeGroups
	fetch   *fakeFetcher
	mu      sync.Mutex
	asked   []int64 // OffsetForTime's timestamps
}

func newAdminServer(t *testing.T) *adminServer {
	t.Helper()
	as := &adminServer{fetch: newFakeFetcher()}
	as.testServer = newTestServerWith(t, func(ts *testServer, d *router.Deps) {
		as.cluster = &fakeCluster{reg: ts.reg, tenant: ts.tenant, owners: map[string]map[int32]string{}}
		as.groups = &fakeGroups{reg: ts.reg, members: map[string][]wire.GroupMemberInfo{}}
		d.Cluster, d.Groups, d.Fetch = as.cluster, as.groups, as.fetch
		d.OffsetForTime = func(_ context.Context, _ registry.PartitionID, ts int64) (int64, error) {
			as.mu.Lock()
			defer as.mu.Unlock()
			as.asked = append(as.asked, ts)
			return 5, nil
		}
	})
	return as
}

// setupGroup makes topic "orders" (2 partitions: 10 records in 0, 4 in 1
// from log start 2) and group "g" with an offset of 3 on partition 0.
func (as *adminServer) setupGroup(t *testing.T) registry.Topic {
	t.Helper()
	as.cli(t, "", "topic", "create", "orders", "-p", "2").must(t, exitOK)
	ctx := t.Context()
	tp, err := as.reg.Topic(ctx, as.tenant, "orders")
	if err != nil {
		t.Fatal(err)
	}
	p0 := registry.PartitionID{Tenant: as.tenant, Topic: tp.ID, Partition: 0}
	p1 := registry.PartitionID{Tenant: as.tenant, Topic: tp.ID, Partition: 1}
	for _, s := range []registry.Segment{
		{Partition: p0, ObjectKey: "a", Length: 1, ObjectSize: 1, FirstOffset: 0, LastOffset: 9, RecordCount: 10},
		{Partition: p1, ObjectKey: "b", Length: 1, ObjectSize: 1, FirstOffset: 0, LastOffset: 3, RecordCount: 4},
	} {
		if err := as.reg.CommitSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := as.reg.DeleteSegmentsBefore(ctx, p1, registry.AnyEpoch, 2); err != nil {
		t.Fatal(err)
	}
	if err := as.reg.CommitOffsets(ctx, as.tenant, "g", []registry.GroupOffset{{Topic: tp.ID, Partition: 0, Offset: 3}}); err != nil {
		t.Fatal(err)
	}
	return tp
}

func (as *adminServer) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	offs, err := as.reg.FetchOffsets(t.Context(), as.tenant, group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, o := range offs {
		out[o.Partition] = o.Offset
	}
	return out
}

func TestTopicAddPartitions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "orders", "-p", "2").must(t, exitOK)

	out := ts.cli(t, "", "topic", "add-partitions", "orders", "4").must(t, exitOK).stdout
	if want := "topic \"orders\" now has 4 partitions\n"; out != want {
		t.Errorf("add-partitions printed %q, want %q", out, want)
	}
	out = ts.cli(t, "", "topic", "alter", "orders", "--partitions", "6").must(t, exitOK).stdout
	if want := "topic \"orders\" now has 6 partitions\n"; out != want {
		t.Errorf("alter printed %q, want %q", out, want)
	}
	var tp topic
	out = ts.cli(t, "", "-o", "json", "topic", "add-partitions", "orders", "7").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &tp); err != nil || tp.Name != "orders" || tp.Partitions != 7 {
		t.Errorf("add-partitions -o json: %v\n%s", err, out)
	}
	out = ts.cli(t, "", "topic", "describe", "orders").must(t, exitOK).stdout
	if !strings.Contains(out, "\n6          0") || strings.Contains(out, "OWNER") || strings.Contains(out, "LIVE HW") {
		t.Errorf("describe after growing:\n%s", out)
	}

	// Fewer partitions than it has: the server refuses (exit 1).
	r := ts.cli(t, "", "topic", "add-partitions", "orders", "3").must(t, exitServer)
	if !strings.HasPrefix(r.stderr, "streamctl: invalid: ") || !strings.Contains(r.stderr, "(HTTP 400)") {
		t.Errorf("shrink: stderr %q", r.stderr)
	}
	r = ts.cli(t, "", "topic", "add-partitions", "nope", "3").must(t, exitServer)
	if !strings.Contains(r.stderr, `not_found: topic "nope" not found (HTTP 404)`) {
		t.Errorf("unknown topic: stderr %q", r.stderr)
	}
	ts.cli(t, "", "topic", "add-partitions", "orders", "0").must(t, exitUsage)
	ts.cli(t, "", "topic", "add-partitions", "orders", "x").must(t, exitUsage)
	ts.cli(t, "", "topic", "add-partitions", "orders").must(t, exitUsage)
	ts.cli(t, "", "topic", "alter", "orders").must(t, exitUsage) // --partitions is required
}

func TestTopicDescribeOwners(t *testing.T) {
	t.Parallel()
	as := newAdminServer(t)
	as.cli(t, "", "topic", "create", "orders", "-p", "2").must(t, exitOK)
	as.fetch.add(1, rec("k", "a"), rec("k", "b"), rec("k", "c"))
	as.cluster.mu.Lock()
	as.cluster.owners["orders"] = map[int32]string{1: "agent-b"}
	as.cluster.mu.Unlock()
	// Partition 0 has two committed segments: 1 MiB + 200 KiB in their objects.
	tp, err := as.reg.Topic(t.Context(), as.tenant, "orders")
	if err != nil {
		t.Fatal(err)
	}
	p0 := registry.PartitionID{Tenant: as.tenant, Topic: tp.ID, Partition: 0}
	for _, s := range []registry.Segment{
		{Partition: p0, ObjectKey: "a", Position: 10, Length: 1 << 20, ObjectSize: 2 << 20, FirstOffset: 0, LastOffset: 4, RecordCount: 5},
		{Partition: p0, ObjectKey: "b", Length: 200 << 10, ObjectSize: 200 << 10, FirstOffset: 5, LastOffset: 9, RecordCount: 5},
	} {
		if err := as.reg.CommitSegment(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}

	out := as.cli(t, "", "topic", "describe", "orders").must(t, exitOK).stdout
	want := "" +
		"PARTITION  EPOCH  LOG START  HIGH WATERMARK  RECORDS  SIZE     SEGMENTS  OWNER    LIVE HW\n" +
		"0          0      0          10              10       1.2 MiB  2         -        -\n" +
		"1          0      0          0               0        0 B      0         agent-b  3\n"
	if _, parts, _ := strings.Cut(out, "\n\n"); parts != want {
		t.Errorf("topic describe:\n%s\nwant partitions:\n%s", out, want)
	}
	var desc topic
	out = as.cli(t, "", "-o", "json", "topic", "describe", "orders").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &desc); err != nil || len(desc.PartitionInfo) != 2 ||
		desc.PartitionInfo[1].Owner != "agent-b" || desc.PartitionInfo[1].LiveHighWatermark == nil || *desc.PartitionInfo[1].LiveHighWatermark != 3 ||
		desc.PartitionInfo[0].Owner != "" || desc.PartitionInfo[0].LiveHighWatermark != nil ||
		desc.PartitionInfo[0].SizeBytes == nil || *desc.PartitionInfo[0].SizeBytes != 1<<20+200<<10 ||
		desc.PartitionInfo[0].Segments == nil || *desc.PartitionInfo[0].Segments != 2 {
		t.Errorf("describe -o json: %v\n%s", err, out)
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1<<20 + 200<<10: "1.2 MiB",
		1<<20 - 1: "1.0 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB", math.MaxInt64: "8.0 EiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestClusterStatusAgents(t *testing.T) {
	t.Parallel()
	as := newAdminServer(t)
	as.cli(t, "", "topic", "create", "orders", "-p", "3").must(t, exitOK)
	as.cli(t, "", "topic", "create", "audit").must(t, exitOK)

	out := as.cli(t, "", "cluster", "status").must(t, exitOK).stdout
	if !strings.HasSuffix(out, "\n\nagents: none\n") {
		t.Errorf("no agents:\n%s", out)
	}

	ctx := t.Context()
	orders, _ := as.reg.Topic(ctx, as.tenant, "orders")
	audit, _ := as.reg.Topic(ctx, as.tenant, "audit")
	pid := func(topic int64, p int32) registry.PartitionID {
		return registry.PartitionID{Tenant: as.tenant, Topic: topic, Partition: p}
	}
	as.cluster.mu.Lock()
	as.cluster.agents = []router.AgentInfo{
		{ID: "agent-a", Live: true, Partitions: []registry.PartitionID{pid(audit.ID, 0), pid(orders.ID, 0), pid(orders.ID, 2)}},
		{ID: "agent-b", Live: true},
		{ID: "agent-c", Partitions: []registry.PartitionID{pid(orders.ID, 1)}},
	}
	as.cluster.mu.Unlock()
	out = as.cli(t, "", "cluster", "status").must(t, exitOK).stdout
	want := "" +
		"ENDPOINT  HTTP  COMPONENT    STATUS\n" +
		"/health   200   objectstore  ok\n" +
		"/health   200   registry     ok\n" +
		"/ready    200   objectstore  ok\n" +
		"/ready    200   registry     ok\n" +
		"\n" +
		"ID       LIVE  PARTITIONS\n" +
		"agent-a  yes   audit:0 orders:0,2\n" +
		"agent-b  yes   -\n" +
		"agent-c  no    orders:1\n"
	if out != want {
		t.Errorf("cluster status:\n%s\nwant:\n%s", out, want)
	}

	var st struct {
		Checks      []checkResult
		Agents      []agent
		AgentsError string `json:"agents_error"`
	}
	out = as.cli(t, "", "cluster", "status", "-o", "json").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Agents) != 3 || st.AgentsError != "" ||
		st.Agents[0].ID != "agent-a" || len(st.Agents[0].Partitions) != 3 || st.Agents[2].Live {
		t.Errorf("cluster status -o json: %v\n%s", err, out)
	}

	// Without a cluster view (503): said, and the exit code is the checks'.
	ts := newTestServer(t)
	out = ts.cli(t, "", "cluster", "status", "-o", "json").must(t, exitOK).stdout
	st.Agents, st.AgentsError = nil, ""
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Agents != nil || !strings.Contains(st.AgentsError, "agents") {
		t.Errorf("cluster status -o json without agents: %v\n%s", err, out)
	}
	as.health = map[string]string{"registry": "down"}
	as.status = 503
	r := as.cli(t, "", "cluster", "status").must(t, exitServer)
	if !strings.Contains(r.stdout, "agent-a") || !strings.Contains(r.stderr, "unhealthy") {
		t.Errorf("unhealthy with agents: stdout\n%s\nstderr %q", r.stdout, r.stderr)
	}
}

func TestGroupListDescribe(t *testing.T) {
	t.Parallel()
	as := newAdminServer(t)
	if out := as.cli(t, "", "group", "list").must(t, exitOK).stdout; out != "No consumer groups.\n" {
		t.Errorf("empty list printed %q", out)
	}
	tp := as.setupGroup(t)

	if out := as.cli(t, "", "group", "list").must(t, exitOK).stdout; out != "GROUP\ng\n" {
		t.Errorf("list printed %q", out)
	}
	var list struct{ Groups []string }
	out := as.cli(t, "", "-o", "json", "group", "list").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Groups) != 1 || list.Groups[0] != "g" {
		t.Errorf("list -o json: %v\n%s", err, out)
	}

	out = as.cli(t, "", "group", "describe", "g").must(t, exitOK).stdout
	want := "" +
		"Group:       g\n" +
		"State:       Empty\n" +
		"Generation:  0\n" +
		"Strategy:    -\n" +
		"Members:     0\n" +
		"\n" +
		"TOPIC   PARTITION  COMMITTED  HIGH WATERMARK  LAG  MEMBER\n" +
		"orders  0          3          10              7    -\n" +
		"orders  1          -          4               2    -\n"
	if out != want {
		t.Errorf("describe:\n%s\nwant:\n%s", out, want)
	}

	as.groups.set("g", []wire.GroupMemberInfo{
		{MemberID: "c-1", ClientID: "svc", SessionTimeoutMs: 45000, Assignment: []wire.GroupPartition{{TopicID: tp.ID, Partition: 0}, {TopicID: tp.ID, Partition: 1}}},
		{MemberID: "c-2", SessionTimeoutMs: 10000},
	})
	out = as.cli(t, "", "group", "describe", "g").must(t, exitOK).stdout
	want = "" +
		"Group:       g\n" +
		"State:       Stable\n" +
		"Generation:  2\n" +
		"Strategy:    range\n" +
		"Members:     2\n" +
		"\n" +
		"MEMBER  CLIENT  SESSION TIMEOUT  ASSIGNMENT\n" +
		"c-1     svc     45s              orders:0,1\n" +
		"c-2     -       10s              -\n" +
		"\n" +
		"TOPIC   PARTITION  COMMITTED  HIGH WATERMARK  LAG  MEMBER\n" +
		"orders  0          3          10              7    c-1\n" +
		"orders  1          -          4               2    c-1\n"
	if out != want {
		t.Errorf("describe with members:\n%s\nwant:\n%s", out, want)
	}
	var g groupDesc
	out = as.cli(t, "", "-o", "json", "group", "describe", "g").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.State != "Stable" || len(g.Members) != 2 ||
		len(g.Members[0].Assignment) != 2 || len(g.Offsets) != 2 || g.Offsets[1].Committed != -1 || g.Offsets[0].Lag != 7 {
		t.Errorf("describe -o json: %v\n%s", err, out)
	}

	r := as.cli(t, "", "group", "describe", "nobody").must(t, exitServer)
	if r.stderr != "streamctl: not_found: group \"nobody\" not found (HTTP 404)\n" {
		t.Errorf("unknown group: stderr %q", r.stderr)
	}
	// A server without groups.
	ts := newTestServerWith(t, func(_ *testServer, d *router.Deps) { d.Offsets = nil })
	r = ts.cli(t, "", "group", "list").must(t, exitServer)
	if !strings.Contains(r.stderr, "not served") {
		t.Errorf("no groups: stderr %q", r.stderr)
	}
}

func TestGroupReset(t *testing.T) {
	t.Parallel()
	as := newAdminServer(t)
	as.setupGroup(t)

	out := as.cli(t, "", "group", "reset", "g", "--to", "earliest", "--topic", "orders").must(t, exitOK).stdout
	want := "" +
		"group \"g\" reset to earliest: 2 offsets written\n" +
		"TOPIC   PARTITION  OFFSET\n" +
		"orders  0          0\n" +
		"orders  1          2\n"
	if out != want {
		t.Errorf("reset earliest:\n%s\nwant:\n%s", out, want)
	}
	for _, tc := range []struct {
		args []string
		want map[int32]int64
	}{
		{[]string{"--to", "latest"}, map[int32]int64{0: 10, 1: 4}},
		{[]string{"--to", "offset", "--offset", "3", "-t", "orders"}, map[int32]int64{0: 3, 1: 3}},
		{[]string{"--to", "offset", "--offset", "100"}, map[int32]int64{0: 10, 1: 4}}, // clamped
		{[]string{"--to", "timestamp", "--time", "2023-11-14T22:13:20Z"}, map[int32]int64{0: 5, 1: 4}},
		{[]string{"--to", "timestamp", "--time=-1h"}, map[int32]int64{0: 5, 1: 4}},
	} {
		as.cli(t, "", append([]string{"group", "reset", "g"}, tc.args...)...).must(t, exitOK)
		if got := as.committed(t, "g"); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("reset %q: offsets %v, want %v", tc.args, got, tc.want)
		}
	}
	as.mu.Lock()
	asked := as.asked
	as.mu.Unlock()
	hourAgo := time.Now().Add(-time.Hour).UnixMilli()
	if len(asked) != 4 || asked[0] != 1_700_000_000_000 || asked[2] < hourAgo-60_000 || asked[2] > hourAgo {
		t.Errorf("OffsetForTime asked %v, want 1700000000000 twice then about %d", asked, hourAgo)
	}

	var res struct {
		Offsets []struct {
			Topic     string
			Partition int32
			Offset    int64
		}
	}
	out = as.cli(t, "", "-o", "json", "group", "reset", "g", "--to", "earliest").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Offsets) != 2 || res.Offsets[1].Offset != 2 {
		t.Errorf("reset -o json: %v\n%s", err, out)
	}

	// Usage errors: nothing is sent.
	for _, args := range [][]string{
		{"--to", "offset"},
		{"--to", "offset", "--offset", "-1"},
		{"--to", "earliest", "--offset", "3"},
		{"--to", "timestamp"},
		{"--to", "latest", "--time=-1h"},
		{"--to", "timestamp", "--time", "yesterday"},
		{"--to", "timestamp", "--time=-forever"},
		{"--to", "somewhere"},
		{},
	} {
		r := as.cli(t, "", append([]string{"group", "reset", "g"}, args...)...)
		if r.code != exitUsage {
			t.Errorf("reset %q: exit %d, want %d; stderr %q", args, r.code, exitUsage, r.stderr)
		}
	}

	// A group with members refuses, and nothing is written.
	before := as.committed(t, "g")
	as.groups.set("g", []wire.GroupMemberInfo{{MemberID: "c-1"}})
	r := as.cli(t, "", "group", "reset", "g", "--to", "latest").must(t, exitServer)
	if !strings.HasPrefix(r.stderr, "streamctl: group_not_empty: ") || !strings.Contains(r.stderr, "(HTTP 409)") {
		t.Errorf("reset with members: stderr %q", r.stderr)
	}
	if got := as.committed(t, "g"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("refused reset wrote %v (was %v)", got, before)
	}
	r = as.cli(t, "", "group", "reset", "g", "--to", "latest", "--topic", "nope").must(t, exitServer)
	if !strings.Contains(r.stderr, "not_found") {
		t.Errorf("unknown topic: stderr %q", r.stderr)
	}
}

func TestParseResetTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"-1h":                       now.Add(-time.Hour),
		"-90m":                      now.Add(-90 * time.Minute),
		"-2d":                       now.Add(-48 * time.Hour),
		"2024-04-30T10:00:00Z":      time.Date(2024, 4, 30, 10, 0, 0, 0, time.UTC),
		"2024-04-30T10:00:00+02:00": time.Date(2024, 4, 30, 8, 0, 0, 0, time.UTC),
	} {
		got, err := parseResetTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseResetTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"1h", "--1h", "-+1h", "-", "-forever", "-0s", "2024-04-30", "now"} {
		var ue *usageError
		if _, err := parseResetTime(in, now); !errors.As(err, &ue) {
			t.Errorf("parseResetTime(%q): err %v, want a usage error", in, err)
		}
	}
}

func TestGroupDelete(t *testing.T) {
	t.Parallel()
	as := newAdminServer(t)
	as.setupGroup(t)
	args := []string{"--server", as.url, "group", "delete", "g"}

	r := as.cli(t, "y\n", "group", "delete", "g").must(t, exitUsage) // stdin is no terminal
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("stderr %q does not mention --yes", r.stderr)
	}
	r = runWith(t, env{stdin: strings.NewReader("n\n"), stdinTTY: true}, args...).must(t, exitServer)
	if !strings.Contains(r.stderr, `Delete consumer group "g"`) || !strings.Contains(r.stderr, `group "g" not deleted`) {
		t.Errorf("stderr %q", r.stderr)
	}
	as.cli(t, "", "group", "describe", "g").must(t, exitOK)

	as.groups.set("g", []wire.GroupMemberInfo{{MemberID: "c-1"}})
	r = as.cli(t, "", "group", "delete", "g", "--yes").must(t, exitServer)
	if !regexp.MustCompile(`^streamctl: group_not_empty: .*active members.*\(HTTP 409\)\n$`).MatchString(r.stderr) {
		t.Errorf("delete with members: stderr %q", r.stderr)
	}
	as.groups.set("g", nil)

	r = runWith(t, env{stdin: strings.NewReader("yes\n"), stdinTTY: true}, args...).must(t, exitOK)
	if r.stdout != "group \"g\" deleted\n" {
		t.Errorf("delete printed %q", r.stdout)
	}
	if out := as.cli(t, "", "group", "list").must(t, exitOK).stdout; out != "No consumer groups.\n" {
		t.Errorf("list after delete printed %q", out)
	}
	r = as.cli(t, "", "-o", "json", "group", "delete", "g", "-y").must(t, exitServer)
	if !strings.Contains(r.stderr, `not_found: group "g" not found`) {
		t.Errorf("second delete: stderr %q", r.stderr)
	}
	as.setupGroup2(t)
	if out := as.cli(t, "", "-o", "json", "group", "delete", "h", "-y").must(t, exitOK).stdout; out != "{\n  \"deleted\": \"h\"\n}\n" {
		t.Errorf("delete -o json printed %q", out)
	}
}

// setupGroup2 commits an offset of group "h" on "orders" partition 0.
func (as *adminServer) setupGroup2(t *testing.T) {
	t.Helper()
	tp, err := as.reg.Topic(t.Context(), as.tenant, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := as.reg.CommitOffsets(t.Context(), as.tenant, "h", []registry.GroupOffset{{Topic: tp.ID, Partition: 0, Offset: 1}}); err != nil {
		t.Fatal(err)
	}
}
