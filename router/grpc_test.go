package router

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeFetch answers every fetch with resp or err and records the requests.
type fakeFetch struct {
	mu   sync.Mutex
	reqs []wire.FetchRequest
	resp *wire.FetchResponse
	err  error
}

func (f *fakeFetch) Fetch(_ context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, *req)
	return f.resp, f.err
}

func (f *fakeFetch) set(resp *wire.FetchResponse, err error) {
	f.mu.Lock()
	f.resp, f.err = resp, err
	f.mu.Unlock()
}

func (f *fakeFetch) last() wire.FetchRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

type grpcHarness struct {
	reg    *registry.Embedded
	tenant int64
	topic  registry.Topic
	fetch  *fakeFetch
	conn   *grpc.ClientConn
	client shv1.ConsumerServiceClient
}

// newGRPCHarness serves the gRPC API on 127.0.0.1:0 over a real embedded
// registry (tenant "default", topic "orders" with 3 partitions) and a fake
// fetch backend.
func newGRPCHarness(t *testing.T) *grpcHarness {
	t.Helper()
	ctx := context.Background()
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	ten, err := reg.CreateTenant(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	top, err := reg.CreateTopic(ctx, ten.ID, registry.TopicSpec{Name: "orders", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := &grpcHarness{reg: reg, tenant: ten.ID, topic: top, fetch: &fakeFetch{resp: &wire.FetchResponse{}}}
	srv, err := NewGRPCServer(GRPCConfig{
		Authenticate: AnonymousGRPC(ten.ID),
		Topics:       reg,
		Fetch:        h.fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
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
	h.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.conn.Close() })
	h.client = shv1.NewConsumerServiceClient(h.conn)
	return h
}

func grpcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkStatus checks err's gRPC code and, for coded errors, the ErrorInfo
// reason.
func checkStatus(t *testing.T, err error, want codes.Code, reason string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		t.Fatalf("error %v, want code %v", err, want)
	}
	if reason == "" {
		return
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == reason && info.Domain == grpcErrorDomain {
			return
		}
	}
	t.Fatalf("error %v: no ErrorInfo with reason %q in %v", err, reason, st.Details())
}

func TestGRPCFetch(t *testing.T) {
	t.Parallel()
	h := newGRPCHarness(t)
	ctx := grpcCtx(t)
	h.fetch.set(&wire.FetchResponse{
		HighWatermark: 12, LogStartOffset: 2, NextOffset: 12,
		Records: []wire.FetchedRecord{
			{Offset: 10, Timestamp: 1000, Key: []byte("k"), Value: []byte("v"), Headers: []wire.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2", Value: nil}}},
			{Offset: 11, Timestamp: 1001, Key: nil, Value: []byte{}},
		},
	}, nil)
	resp, err := h.client.Fetch(ctx, &shv1.FetchRequest{Topic: "orders", Partition: 2, Offset: 10, MaxWaitMs: 500})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetHighWatermark() != 12 || resp.GetNextOffset() != 12 || resp.GetLogStartOffset() != 2 || len(resp.GetRecords()) != 2 {
		t.Fatalf("response %v", resp)
	}
	r0, r1 := resp.GetRecords()[0], resp.GetRecords()[1]
	if r0.GetOffset() != 10 || r0.GetTimestampMs() != 1000 || string(r0.GetKey()) != "k" || string(r0.GetValue()) != "v" ||
		len(r0.GetHeaders()) != 2 || r0.GetHeaders()[0].GetKey() != "h1" || string(r0.GetHeaders()[0].GetValue()) != "x" {
		t.Fatalf("record 0: %v", r0)
	}
	if r1.Key != nil || r1.Value == nil || len(r1.Value) != 0 {
		t.Fatalf("record 1 lost nil key / empty value: key %#v value %#v", r1.Key, r1.Value)
	}
	want := wire.FetchRequest{TenantID: h.tenant, TopicID: h.topic.ID, Partition: 2, Offset: 10, MaxBytes: DefaultFetchMaxBytes, MaxWaitMs: 500}
	if got := h.fetch.last(); got != want {
		t.Fatalf("backend got %+v, want %+v", got, want)
	}

	// max_bytes and max_wait_ms are capped.
	if _, err := h.client.Fetch(ctx, &shv1.FetchRequest{Topic: "orders", MaxBytes: 1 << 30, MaxWaitMs: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if got := h.fetch.last(); got.MaxBytes != DefaultMaxFetchBytes || got.MaxWaitMs != int32(DefaultMaxFetchWait.Milliseconds()) {
		t.Fatalf("caps: %+v", got)
	}
}

func TestGRPCFetchErrors(t *testing.T) {
	t.Parallel()
	h := newGRPCHarness(t)
	ctx := grpcCtx(t)
	for _, c := range []struct {
		name   string
		req    *shv1.FetchRequest
		resp   *wire.FetchResponse
		err    error
		code   codes.Code
		reason string
	}{
		{"bad name", &shv1.FetchRequest{Topic: "no/slash"}, nil, nil, codes.InvalidArgument, "invalid"},
		{"empty name", &shv1.FetchRequest{}, nil, nil, codes.InvalidArgument, "invalid"},
		{"unknown topic", &shv1.FetchRequest{Topic: "nope"}, nil, nil, codes.NotFound, "not_found"},
		{"partition past the end", &shv1.FetchRequest{Topic: "orders", Partition: 3}, nil, nil, codes.InvalidArgument, "invalid"},
		{"negative partition", &shv1.FetchRequest{Topic: "orders", Partition: -1}, nil, nil, codes.InvalidArgument, "invalid"},
		{"negative offset", &shv1.FetchRequest{Topic: "orders", Offset: -1}, nil, nil, codes.InvalidArgument, "invalid"},
		{"negative max bytes", &shv1.FetchRequest{Topic: "orders", MaxBytes: -1}, nil, nil, codes.InvalidArgument, "invalid"},
		{"out of range", &shv1.FetchRequest{Topic: "orders"}, &wire.FetchResponse{Code: wire.OutOfRange, Message: "offset 0 is below the log start offset 5"}, nil, codes.OutOfRange, "out_of_range"},
		{"busy", &shv1.FetchRequest{Topic: "orders"}, &wire.FetchResponse{Code: wire.Busy, Message: "full"}, nil, codes.ResourceExhausted, "busy"},
		{"answer not owner", &shv1.FetchRequest{Topic: "orders"}, &wire.FetchResponse{Code: wire.NotOwner, Message: "moved"}, nil, codes.Unavailable, "not_owner"},
		{"no owner", &shv1.FetchRequest{Topic: "orders"}, nil, wire.Errorf(wire.NotOwner, "no agent serves it"), codes.Unavailable, "not_owner"},
		{"no answer", &shv1.FetchRequest{Topic: "orders"}, nil, wire.Errorf(wire.Unavailable, "timed out"), codes.Unavailable, "unavailable"},
		{"internal", &shv1.FetchRequest{Topic: "orders"}, nil, errors.New("boom"), codes.Internal, "internal"},
		{"newer code", &shv1.FetchRequest{Topic: "orders"}, &wire.FetchResponse{Code: 999, Message: "?"}, nil, codes.Internal, "code_999"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.fetch.set(c.resp, c.err)
			_, err := h.client.Fetch(ctx, c.req)
			checkStatus(t, err, c.code, c.reason)
			if c.code == codes.Internal && c.err != nil {
				if st, _ := status.FromError(err); st.Message() != "internal error" {
					t.Fatalf("internal error leaked: %q", st.Message())
				}
			}
		})
	}
}

func TestGRPCTenantError(t *testing.T) {
	t.Parallel()
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	srv, err := NewGRPCServer(GRPCConfig{
		Authenticate: noTokenGRPC, Topics: reg, Fetch: &fakeFetch{},
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = shv1.NewConsumerServiceClient(conn).Fetch(grpcCtx(t), &shv1.FetchRequest{Topic: "orders"})
	checkStatus(t, err, codes.Unauthenticated, "unauthenticated")

	if _, err := NewGRPCServer(GRPCConfig{Topics: reg}); err == nil {
		t.Fatal("a config without Tenant and Fetch was accepted")
	}
}

func TestGRPCOffsets(t *testing.T) {
	t.Parallel()
	h := newGRPCHarness(t)
	ctx := grpcCtx(t)
	if _, err := h.reg.CreateTopic(ctx, h.tenant, registry.TopicSpec{Name: "audit", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.CommitOffsets(ctx, &shv1.CommitOffsetsRequest{Group: "billing", Offsets: []*shv1.PartitionOffset{
		{Topic: "orders", Partition: 1, Offset: 41, Metadata: "m1"},
		{Topic: "orders", Partition: 0, Offset: 7},
		{Topic: "audit", Partition: 0, Offset: 3},
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	type off struct {
		topic     string
		partition int32
		offset    int64
		meta      string
	}
	var got []off
	for _, o := range resp.GetOffsets() {
		if o.GetCommittedAtMs() <= 0 {
			t.Fatalf("no commit time: %v", o)
		}
		got = append(got, off{o.GetTopic(), o.GetPartition(), o.GetOffset(), o.GetMetadata()})
	}
	want := []off{{"audit", 0, 3, ""}, {"orders", 0, 7, ""}, {"orders", 1, 41, "m1"}}
	if !slices.Equal(got, want) {
		t.Fatalf("offsets %v, want %v", got, want)
	}
	resp, err = h.client.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "billing", Topic: "audit"})
	if err != nil || len(resp.GetOffsets()) != 1 || resp.GetOffsets()[0].GetOffset() != 3 {
		t.Fatalf("offsets of one topic: %v, %v", resp, err)
	}
	resp, err = h.client.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "nobody"})
	if err != nil || len(resp.GetOffsets()) != 0 {
		t.Fatalf("offsets of an unknown group: %v, %v", resp, err)
	}

	for _, c := range []struct {
		name string
		req  *shv1.CommitOffsetsRequest
		code codes.Code
	}{
		{"nothing", &shv1.CommitOffsetsRequest{Group: "g"}, codes.InvalidArgument},
		{"no group", &shv1.CommitOffsetsRequest{Offsets: []*shv1.PartitionOffset{{Topic: "orders"}}}, codes.InvalidArgument},
		{"unknown topic", &shv1.CommitOffsetsRequest{Group: "g", Offsets: []*shv1.PartitionOffset{{Topic: "nope"}}}, codes.NotFound},
		{"bad partition", &shv1.CommitOffsetsRequest{Group: "g", Offsets: []*shv1.PartitionOffset{{Topic: "orders"}, {Topic: "orders", Partition: 9}}}, codes.InvalidArgument},
		{"negative offset", &shv1.CommitOffsetsRequest{Group: "g", Offsets: []*shv1.PartitionOffset{{Topic: "orders", Offset: -1}}}, codes.InvalidArgument},
		{"twice", &shv1.CommitOffsetsRequest{Group: "g", Offsets: []*shv1.PartitionOffset{{Topic: "orders"}, {Topic: "orders"}}}, codes.InvalidArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.client.CommitOffsets(ctx, c.req)
			checkStatus(t, err, c.code, "")
		})
	}
	_, err = h.client.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "billing", Topic: "nope"})
	checkStatus(t, err, codes.NotFound, "not_found")
	// Nothing of the refused commits landed.
	if resp, err := h.client.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: "g"}); err != nil || len(resp.GetOffsets()) != 0 {
		t.Fatalf("refused commits stored offsets: %v, %v", resp, err)
	}
}

func TestGRPCSubscribeUnimplemented(t *testing.T) {
	t.Parallel()
	h := newGRPCHarness(t)
	stream, err := h.client.Subscribe(grpcCtx(t), &shv1.SubscribeRequest{Group: "g", Topics: []string{"orders"}})
	if err == nil {
		_, err = stream.Recv()
	}
	checkStatus(t, err, codes.Unimplemented, "")
}

func TestGRPCReflection(t *testing.T) {
	t.Parallel()
	h := newGRPCHarness(t)
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
	if !slices.Contains(names, "streamhouse.v1.ConsumerService") {
		t.Fatalf("reflection lists %v, without streamhouse.v1.ConsumerService", names)
	}
	// The service's descriptor is served too (what grpcurl describe needs).
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "streamhouse.v1.ConsumerService"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("file containing the service: %v, %v", resp, err)
	}
}

func TestGRPCErrorTable(t *testing.T) {
	t.Parallel()
	for c := wire.Code(1); c.Known(); c++ {
		if _, ok := grpcCodes[c]; !ok {
			t.Errorf("code %s has no gRPC code", c)
		}
	}
}
