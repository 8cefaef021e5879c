package router

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/streamhouse/streamhouse/cells"
	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// logFetch serves fetches from fixed per-partition logs, long-polling
// (briefly) at the end of a log.
type logFetch struct {
	mu   sync.Mutex
	logs map[int32][]string // partition → values; offsets are indexes
}

func (f *logFetch) Fetch(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	f.mu.Lock()
	log := f.logs[req.Partition]
	f.mu.Unlock()
	hw := int64(len(log))
	resp := &wire.FetchResponse{HighWatermark: hw, NextOffset: req.Offset}
	if req.Offset > hw {
		resp.Code = wire.OutOfRange
		return resp, nil
	}
	for o := req.Offset; o < hw; o++ {
		resp.Records = append(resp.Records, wire.FetchedRecord{Offset: o, Value: []byte(log[o])})
		resp.NextOffset = o + 1
	}
	if len(resp.Records) == 0 {
		t := time.NewTimer(min(time.Duration(req.MaxWaitMs)*time.Millisecond, 20*time.Millisecond))
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return resp, nil
}

// newSubscribeHarness serves the gRPC API with a real GroupService (on an
// embedded NATS) behind NATSGroups, a real embedded registry (topic
// "orders", 3 partitions) and a logFetch; set, if given, adds to the
// GRPCConfig.
func newSubscribeHarness(t *testing.T, set ...func(*GRPCConfig)) (shv1.ConsumerServiceClient, *registry.Embedded, int64, registry.Topic) {
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
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := cells.StartGroupService(ctx, cells.GroupServiceConfig{Conn: nc, JS: js, Cell: "sub", Agent: "agent-1", Store: reg,
		LeaseTTL: time.Second, MinSessionTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gs.Stop)
	groups, err := cells.NewNATSGroups(cells.NATSGroupsConfig{Conn: nc, Cell: "sub"})
	if err != nil {
		t.Fatal(err)
	}
	fetch := &logFetch{logs: map[int32][]string{0: {"a0", "a1"}, 1: {"b0", "b1"}, 2: {"c0", "c1"}}}
	cfg := GRPCConfig{Authenticate: AnonymousGRPC(ten.ID), Topics: reg, Fetch: fetch, Groups: groups}
	for _, f := range set {
		f(&cfg)
	}
	srv, err := NewGRPCServer(cfg)
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
	return shv1.NewConsumerServiceClient(conn), reg, ten.ID, top
}

// subscriber reads a Subscribe stream in the background.
type subscriber struct {
	cancel  context.CancelFunc
	mu      sync.Mutex
	assigns []*shv1.Assignment
	values  []string
	done    chan error
}

func subscribe(t *testing.T, client shv1.ConsumerServiceClient, req *shv1.SubscribeRequest) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &subscriber{cancel: cancel, done: make(chan error, 1)}
	t.Cleanup(cancel)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				s.done <- err
				return
			}
			s.mu.Lock()
			if a := msg.GetAssignment(); a != nil {
				s.assigns = append(s.assigns, a)
			}
			for _, r := range msg.GetRecords().GetRecords() {
				s.values = append(s.values, string(r.GetValue()))
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *subscriber) last() (*shv1.Assignment, []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.assigns) == 0 {
		return nil, nil
	}
	a := s.assigns[len(s.assigns)-1]
	var ps []int32
	for _, tp := range a.GetPartitions() {
		ps = append(ps, tp.GetPartitions()...)
	}
	slices.Sort(ps)
	return a, ps
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGRPCSubscribe(t *testing.T) {
	t.Parallel()
	client, reg, tenant, _ := newSubscribeHarness(t)
	ctx := grpcCtx(t)
	req := &shv1.SubscribeRequest{Group: "g", Topics: []string{"orders"}, SessionTimeoutMs: 300, MaxWaitMs: 50}

	a := subscribe(t, client, req)
	waitUntil(t, "a's records", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.values) == 6
	})
	asg, parts := a.last()
	if !slices.Equal(parts, []int32{0, 1, 2}) || asg.GetGeneration() != 1 {
		t.Fatalf("a's assignment %v", asg)
	}

	// Member commits are checked by the coordinator.
	commit := func(member string, gen int32, p int32) error {
		_, err := client.CommitOffsets(ctx, &shv1.CommitOffsetsRequest{Group: "g", MemberId: member, Generation: gen,
			Offsets: []*shv1.PartitionOffset{{Topic: "orders", Partition: p, Offset: 2}}})
		return err
	}
	if err := commit(asg.GetMemberId(), asg.GetGeneration(), 0); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, commit(asg.GetMemberId(), asg.GetGeneration()+5, 0), codes.Aborted, "illegal_generation")
	checkStatus(t, commit("nobody", asg.GetGeneration(), 0), codes.Aborted, "unknown_member")

	// b joins: the partitions are split, a hears of it at its heartbeat.
	b := subscribe(t, client, req)
	waitUntil(t, "the split", func() bool {
		aa, ap := a.last()
		ba, bp := b.last()
		return aa != nil && ba != nil && aa.GetGeneration() == ba.GetGeneration() && len(ap)+len(bp) == 3 && len(ap) > 0 && len(bp) > 0
	})
	// b leaves (its stream ends): a gets everything back.
	b.cancel()
	waitUntil(t, "a to get all partitions", func() bool {
		_, ap := a.last()
		return len(ap) == 3
	})
	// A new member of the group starts from the committed offset: c gets
	// partition 0's records from offset 2 (none), the others' from 0.
	a.cancel()
	<-a.done
	c := subscribe(t, client, req)
	waitUntil(t, "c's records", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.values) == 4
	})
	c.mu.Lock()
	got := slices.Sorted(slices.Values(c.values))
	c.mu.Unlock()
	if fmt.Sprint(got) != "[b0 b1 c0 c1]" {
		t.Fatalf("c read %v", got)
	}
	offs, err := reg.FetchOffsets(ctx, tenant, "g")
	if err != nil || len(offs) != 1 {
		t.Fatalf("offsets %v, %v", offs, err)
	}
}
