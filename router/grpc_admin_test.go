package router

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// adminGRPC is an admin harness (HTTP, over a real embedded registry) with
// the gRPC AdminService served on 127.0.0.1:0 over the same Deps.
type adminGRPC struct {
	*harness
	admin shv1.AdminServiceClient
	conn  *grpc.ClientConn
}

func newAdminGRPC(t *testing.T, set func(h *harness, d *Deps)) *adminGRPC {
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
	srv, err := NewGRPCServer(GRPCConfig{
		Authenticate: AnonymousGRPC(h.tenant.ID), Topics: h.reg, Fetch: &fakeFetch{}, Admin: &d,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := serveGRPC(t, srv)
	return &adminGRPC{harness: h, admin: shv1.NewAdminServiceClient(conn), conn: conn}
}

// serveGRPC serves srv on 127.0.0.1:0 until the test ends and returns a
// client connection to it.
func serveGRPC(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// checkAdminStatus is checkStatus plus a check of the message.
func checkAdminStatus(t *testing.T, err error, want codes.Code, reason, msg string) {
	t.Helper()
	checkStatus(t, err, want, reason)
	if m := status.Convert(err).Message(); !strings.Contains(m, msg) {
		t.Fatalf("error %v: message %q lacks %q", err, m, msg)
	}
}

func TestGRPCAdminTopics(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var created, changed, deleted []string
	cl := &fakeCluster{owners: map[int64]map[int32]string{}}
	ff := &fakeFetch{}
	ff.set(&wire.FetchResponse{HighWatermark: 42}, nil)
	h := newAdminGRPC(t, func(_ *harness, d *Deps) {
		d.Cluster, d.Fetch = cl, ff
		d.TopicCreated = func(tp registry.Topic) { mu.Lock(); created = append(created, tp.Name); mu.Unlock() }
		d.TopicChanged = func(tp registry.Topic) { mu.Lock(); changed = append(changed, tp.Name); mu.Unlock() }
		d.TopicDeleted = func(_ context.Context, tp registry.Topic, _ registry.Removed) error {
			mu.Lock()
			deleted = append(deleted, tp.Name)
			mu.Unlock()
			return errors.New("cleanup failed") // logged, not returned
		}
	})
	ctx := grpcCtx(t)

	// Create: explicit settings, then the defaults.
	resp, err := h.admin.CreateTopic(ctx, &shv1.CreateTopicRequest{Name: "orders", Partitions: proto.Int32(2),
		RetentionMs: proto.Int64(60000), CleanupPolicy: "compact"})
	if err != nil {
		t.Fatal(err)
	}
	if tp := resp.GetTopic(); tp.GetName() != "orders" || tp.GetPartitions() != 2 || tp.GetRetentionMs() != 60000 ||
		tp.GetCleanupPolicy() != "compact" || tp.GetDurability() != "wal" || tp.GetId() == 0 || tp.GetCreatedAtMs() == 0 {
		t.Fatalf("created %v", tp)
	}
	resp, err = h.admin.CreateTopic(ctx, &shv1.CreateTopicRequest{Name: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	w := h.do("GET", "/api/v1/topics/audit", "", nil)
	if tp := resp.GetTopic(); tp.GetPartitions() != 1 || tp.GetRetentionBytes() != -1 || tp.GetDurability() != "wal" {
		t.Fatalf("defaults %v", tp)
	}
	// The same topic as the HTTP API shows it.
	if hj := decode[topicJSON](t, w.Body.Bytes()); hj.ID != resp.GetTopic().GetId() || hj.RetentionMs != resp.GetTopic().GetRetentionMs() {
		t.Fatalf("HTTP shows %+v, gRPC %v", hj, resp.GetTopic())
	}

	// Create errors: the HTTP API's validation and codes.
	for _, tc := range []struct {
		req          *shv1.CreateTopicRequest
		code         codes.Code
		reason, text string
	}{
		{&shv1.CreateTopicRequest{Name: "orders"}, codes.AlreadyExists, "exists", `topic "orders" already exists`},
		{&shv1.CreateTopicRequest{Name: "x", RetentionMs: proto.Int64(0)}, codes.InvalidArgument, "invalid", "retention_ms 0"},
		{&shv1.CreateTopicRequest{Name: "x", RetentionBytes: proto.Int64(0)}, codes.InvalidArgument, "invalid", "retention_bytes 0"},
		{&shv1.CreateTopicRequest{Name: "x", Partitions: proto.Int32(0)}, codes.InvalidArgument, "invalid", "partitions"},
		{&shv1.CreateTopicRequest{Name: "a/b"}, codes.InvalidArgument, "invalid", "name"},
		{&shv1.CreateTopicRequest{Name: "x", Durability: "paper"}, codes.InvalidArgument, "invalid", "durability"},
	} {
		_, err := h.admin.CreateTopic(ctx, tc.req)
		checkAdminStatus(t, err, tc.code, tc.reason, tc.text)
	}

	// List.
	list, err := h.admin.ListTopics(ctx, &shv1.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range list.GetTopics() {
		names = append(names, tp.GetName())
	}
	if !reflect.DeepEqual(names, []string{"audit", "orders"}) {
		t.Fatalf("list: %v", names)
	}

	// Describe, with owners and live high watermarks.
	orders, err := h.reg.Topic(ctx, h.tenant.ID, "orders")
	if err != nil {
		t.Fatal(err)
	}
	cl.owners[orders.ID] = map[int32]string{1: "agent-b"}
	err = h.reg.CommitSegment(ctx, registry.Segment{Partition: registry.PartitionID{Tenant: h.tenant.ID, Topic: orders.ID},
		ObjectKey: "k", Position: 5, Length: 700, ObjectSize: 1000, FirstOffset: 0, LastOffset: 9, RecordCount: 10})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := h.admin.DescribeTopic(ctx, &shv1.DescribeTopicRequest{Topic: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	parts := desc.GetTopic().GetPartitionInfo()
	if len(parts) != 2 || parts[0].GetOwner() != "" || parts[0].LiveHighWatermark != nil ||
		parts[1].GetOwner() != "agent-b" || parts[1].GetLiveHighWatermark() != 42 ||
		parts[0].GetSizeBytes() != 700 || parts[0].GetSegments() != 1 ||
		parts[1].SizeBytes == nil || parts[1].GetSizeBytes() != 0 || parts[1].Segments == nil || parts[1].GetSegments() != 0 {
		t.Fatalf("describe: %v", desc)
	}
	_, err = h.admin.DescribeTopic(ctx, &shv1.DescribeTopicRequest{Topic: "nope"})
	checkAdminStatus(t, err, codes.NotFound, "not_found", `topic "nope" not found`)
	_, err = h.admin.DescribeTopic(ctx, &shv1.DescribeTopicRequest{Topic: "a/b"})
	checkAdminStatus(t, err, codes.InvalidArgument, "invalid", "topic name")
	_, err = h.admin.DescribeTopic(ctx, &shv1.DescribeTopicRequest{})
	checkAdminStatus(t, err, codes.InvalidArgument, "invalid", "topic name")

	// Add partitions.
	grown, err := h.admin.AddPartitions(ctx, &shv1.AddPartitionsRequest{Topic: "orders", Partitions: 5})
	if err != nil || grown.GetTopic().GetPartitions() != 5 {
		t.Fatalf("add partitions: %v, %v", grown, err)
	}
	_, err = h.admin.AddPartitions(ctx, &shv1.AddPartitionsRequest{Topic: "orders", Partitions: 3})
	checkAdminStatus(t, err, codes.InvalidArgument, "invalid", "partitions")
	_, err = h.admin.AddPartitions(ctx, &shv1.AddPartitionsRequest{Topic: "orders", Partitions: 10001})
	checkAdminStatus(t, err, codes.InvalidArgument, "invalid", "at most 10000")
	_, err = h.admin.AddPartitions(ctx, &shv1.AddPartitionsRequest{Topic: "nope", Partitions: 8})
	checkAdminStatus(t, err, codes.NotFound, "not_found", `topic "nope" not found`)

	// Delete.
	if _, err := h.admin.DeleteTopic(ctx, &shv1.DeleteTopicRequest{Topic: "audit"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.admin.DeleteTopic(ctx, &shv1.DeleteTopicRequest{Topic: "audit"})
	checkAdminStatus(t, err, codes.NotFound, "not_found", `topic "audit" not found`)
	if w := h.do("GET", "/api/v1/topics/audit", "", nil); w.Code != http.StatusNotFound {
		t.Fatalf("HTTP describe after gRPC delete: %d %s", w.Code, w.Body)
	}

	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(created, []string{"orders", "audit"}) || !reflect.DeepEqual(changed, []string{"orders"}) ||
		!reflect.DeepEqual(deleted, []string{"audit"}) {
		t.Errorf("hooks: created %v, changed %v, deleted %v", created, changed, deleted)
	}
}

func TestGRPCAdminAgents(t *testing.T) {
	t.Parallel()
	cl := &fakeCluster{}
	h := newAdminGRPC(t, func(_ *harness, d *Deps) { d.Cluster = cl })
	h.createTopic("orders", 3)
	h.createTopic("audit", 1)
	ctx := grpcCtx(t)
	orders, _ := h.reg.Topic(ctx, h.tenant.ID, "orders")
	audit, _ := h.reg.Topic(ctx, h.tenant.ID, "audit")
	ten := h.tenant.ID
	cl.agents = []AgentInfo{
		{ID: "agent-a", Live: true, Partitions: []registry.PartitionID{pid(ten, orders.ID, 2), pid(ten, audit.ID, 0), pid(ten, 999, 0), pid(ten+1, orders.ID, 0)}},
		{ID: "agent-b", Live: true},
		{ID: "agent-c", Partitions: []registry.PartitionID{pid(ten, orders.ID, 0)}},
	}
	got, err := h.admin.ListAgents(ctx, &shv1.ListAgentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &shv1.ListAgentsResponse{Agents: []*shv1.Agent{
		{Id: "agent-a", Live: true, Partitions: []*shv1.TopicPartition{{Topic: "audit"}, {Topic: "orders", Partition: 2}}},
		{Id: "agent-b", Live: true},
		{Id: "agent-c", Partitions: []*shv1.TopicPartition{{Topic: "orders"}}},
	}}
	if !proto.Equal(got, want) {
		t.Fatalf("agents %v, want %v", got, want)
	}

	_, err = newAdminGRPC(t, nil).admin.ListAgents(ctx, &shv1.ListAgentsRequest{})
	checkAdminStatus(t, err, codes.Unavailable, "unavailable", "agents")
	cl.err = errors.New("boom")
	_, err = h.admin.ListAgents(ctx, &shv1.ListAgentsRequest{})
	checkAdminStatus(t, err, codes.Internal, "internal", "internal error")
}

func TestGRPCAdminGroups(t *testing.T) {
	t.Parallel()
	fg := &fakeGroups{members: map[string][]wire.GroupMemberInfo{}}
	var asked []int64
	h := newAdminGRPC(t, func(h *harness, d *Deps) {
		fg.reg = h.reg
		d.Groups = fg
		d.OffsetForTime = func(_ context.Context, _ registry.PartitionID, ts int64) (int64, error) {
			asked = append(asked, ts)
			return 5, nil
		}
	})
	tp := groupsSetup(t, h.harness)
	ctx := grpcCtx(t)

	list, err := h.admin.ListGroups(ctx, &shv1.ListGroupsRequest{})
	if err != nil || !slices.Equal(list.GetGroups(), []string{"g"}) {
		t.Fatalf("list: %v, %v", list, err)
	}

	// Describe: the HTTP API's answer, field for field.
	fg.members["g"] = []wire.GroupMemberInfo{{MemberID: "c-1", ClientID: "c", SessionTimeoutMs: 45000,
		Assignment: []wire.GroupPartition{{TopicID: tp.ID, Partition: 0}, {TopicID: tp.ID, Partition: 1}}}}
	got, err := h.admin.DescribeGroup(ctx, &shv1.DescribeGroupRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	want := &shv1.DescribeGroupResponse{Group: "g", State: "Stable", Generation: 2, Strategy: "range",
		Members: []*shv1.GroupMember{{Id: "c-1", ClientId: "c", SessionTimeoutMs: 45000,
			Assignment: []*shv1.TopicPartition{{Topic: "orders"}, {Topic: "orders", Partition: 1}}}},
		Offsets: []*shv1.GroupPartitionLag{
			{Topic: "orders", Committed: 3, HighWatermark: 10, Lag: 7, Member: "c-1"},
			{Topic: "orders", Partition: 1, Committed: -1, HighWatermark: 4, LogStartOffset: 2, Lag: 2, Member: "c-1"},
		}}
	if !proto.Equal(got, want) {
		t.Fatalf("describe %v\nwant %v", got, want)
	}
	hj := decode[groupJSON](t, h.do("GET", "/api/v1/groups/g", "", nil).Body.Bytes())
	if hj.State != got.State || len(hj.Offsets) != len(got.Offsets) || hj.Offsets[1].Lag != got.Offsets[1].Lag {
		t.Fatalf("HTTP describes %+v", hj)
	}
	_, err = h.admin.DescribeGroup(ctx, &shv1.DescribeGroupRequest{Group: "nobody"})
	checkAdminStatus(t, err, codes.NotFound, "not_found", `group "nobody" not found`)
	_, err = h.admin.DescribeGroup(ctx, &shv1.DescribeGroupRequest{})
	checkAdminStatus(t, err, codes.InvalidArgument, "invalid", "invalid group name")

	// Reset: refused while the group has members, nothing written.
	_, err = h.admin.ResetGroupOffsets(ctx, &shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "latest"})
	checkAdminStatus(t, err, codes.FailedPrecondition, "group_not_empty", "active members")
	_, err = h.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "g"})
	checkAdminStatus(t, err, codes.FailedPrecondition, "group_not_empty", "active members")
	delete(fg.members, "g")

	for _, tc := range []struct {
		req  *shv1.ResetGroupOffsetsRequest
		want []*shv1.ResetOffset
	}{
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "earliest"},
			[]*shv1.ResetOffset{{Topic: "orders"}, {Topic: "orders", Partition: 1, Offset: 2}}},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "offset", Offset: proto.Int64(3)},
			[]*shv1.ResetOffset{{Topic: "orders", Offset: 3}, {Topic: "orders", Partition: 1, Offset: 3}}},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", To: "offset", Offset: proto.Int64(100)}, // all its topics; clamped
			[]*shv1.ResetOffset{{Topic: "orders", Offset: 10}, {Topic: "orders", Partition: 1, Offset: 4}}},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "timestamp", TimestampMs: proto.Int64(1700000000000)},
			[]*shv1.ResetOffset{{Topic: "orders", Offset: 5}, {Topic: "orders", Partition: 1, Offset: 4}}},
	} {
		got, err := h.admin.ResetGroupOffsets(ctx, tc.req)
		if err != nil {
			t.Fatalf("%v: %v", tc.req, err)
		}
		if !proto.Equal(got, &shv1.ResetGroupOffsetsResponse{Offsets: tc.want}) {
			t.Fatalf("%v: %v, want %v", tc.req, got, tc.want)
		}
		offs, err := h.reg.FetchOffsets(ctx, h.tenant.ID, "g")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range offs {
			if o.Offset != tc.want[o.Partition].Offset {
				t.Fatalf("%v: registry has %+v", tc.req, offs)
			}
		}
	}
	if len(asked) != 2 || asked[0] != 1700000000000 { // once per partition
		t.Errorf("OffsetForTime asked %v", asked)
	}
	for _, tc := range []struct {
		req          *shv1.ResetGroupOffsetsRequest
		code         codes.Code
		reason, text string
	}{
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "nowhere"}, codes.InvalidArgument, "invalid", `"to" is "nowhere"`},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "offset"}, codes.InvalidArgument, "invalid", `needs "offset"`},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "timestamp"}, codes.InvalidArgument, "invalid", `needs "timestamp_ms"`},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "a/b", To: "earliest"}, codes.InvalidArgument, "invalid", "topic"},
		{&shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "nope", To: "earliest"}, codes.NotFound, "not_found", `topic "nope"`},
		{&shv1.ResetGroupOffsetsRequest{Group: "fresh", To: "earliest"}, codes.NotFound, "not_found", "name a topic"},
		{&shv1.ResetGroupOffsetsRequest{To: "earliest"}, codes.InvalidArgument, "invalid", "invalid group name"},
	} {
		_, err := h.admin.ResetGroupOffsets(ctx, tc.req)
		checkAdminStatus(t, err, tc.code, tc.reason, tc.text)
	}

	// Delete.
	if _, err := h.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "g"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "g"})
	checkAdminStatus(t, err, codes.NotFound, "not_found", `group "g" not found`)
	if list, err := h.admin.ListGroups(ctx, &shv1.ListGroupsRequest{}); err != nil || list.GetGroups() != nil {
		t.Fatalf("list after delete: %v, %v", list, err)
	}

	// Without Offsets, groups are not served; without OffsetForTime a
	// timestamp reset is unavailable.
	h2 := newAdminGRPC(t, func(_ *harness, d *Deps) { d.Offsets = nil })
	_, err = h2.admin.ListGroups(ctx, &shv1.ListGroupsRequest{})
	checkAdminStatus(t, err, codes.NotFound, "not_found", "not served")
	_, err = h2.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "g"})
	checkAdminStatus(t, err, codes.NotFound, "not_found", "not served")
	h3 := newAdminGRPC(t, nil)
	groupsSetup(t, h3.harness)
	_, err = h3.admin.ResetGroupOffsets(ctx, &shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "timestamp", TimestampMs: proto.Int64(1)})
	checkAdminStatus(t, err, codes.Unavailable, "unavailable", "timestamp")
	if _, err := h3.admin.ResetGroupOffsets(ctx, &shv1.ResetGroupOffsetsRequest{Group: "g", Topic: "orders", To: "latest"}); err != nil {
		t.Fatalf("direct reset: %v", err)
	}
	if _, err := h3.admin.DeleteGroup(ctx, &shv1.DeleteGroupRequest{Group: "g"}); err != nil {
		t.Fatalf("direct delete: %v", err)
	}
}

func TestGRPCAdminTenantAndConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	srv, err := NewGRPCServer(GRPCConfig{
		Authenticate: noTokenGRPC, Topics: h.reg, Fetch: &fakeFetch{}, Admin: &Deps{Topics: h.reg},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = shv1.NewAdminServiceClient(serveGRPC(t, srv)).ListTopics(grpcCtx(t), &shv1.ListTopicsRequest{})
	checkAdminStatus(t, err, codes.Unauthenticated, "unauthenticated", "no token")

	if _, err := NewGRPCServer(GRPCConfig{Authenticate: AnonymousGRPC(1),
		Topics: h.reg, Fetch: &fakeFetch{}, Admin: &Deps{}}); err == nil {
		t.Fatal("an Admin without Topics was accepted")
	}
}

func TestGRPCAdminReflection(t *testing.T) {
	t.Parallel()
	h := newAdminGRPC(t, nil)
	stream, err := rpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(grpcCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "streamhouse.v1.AdminService") || !slices.Contains(names, "streamhouse.v1.ConsumerService") {
		t.Fatalf("reflection lists %v", names)
	}
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "streamhouse.v1.AdminService"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("file containing the service: %v, %v", resp, err)
	}
}
