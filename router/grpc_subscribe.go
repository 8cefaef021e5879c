package router

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// Groups carries consumer group requests to the groups' coordinators (in a
// cell: NATS request/reply on sh.<cell>.group..., cells.NATSGroups). Each
// method sends its operation with the request's fields; a non-OK answer
// comes back together with its *wire.Error (RebalanceInProgress with the
// group's generation in the answer, IllegalGeneration, UnknownMember,
// Invalid, NotFound, NotOwner or Unavailable once retries ran out).
type Groups interface {
	Join(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error)
	Heartbeat(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error)
	Leave(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error)
	Commit(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error)
}

// Subscribe defaults.
const (
	// DefaultSubscribeWait is a Subscribe's long-poll wait per fetch.
	DefaultSubscribeWait  = 5 * time.Second
	subscribeLeaveTimeout = 2 * time.Second
	subscribeRetryMin     = 20 * time.Millisecond
	subscribeRetryMax     = time.Second
)

// Subscribe joins the group and streams assignments and records (see the
// proto). The call is authenticated and authorized (consume) at its start.
// Every poll of a partition is one fetch for GRPCConfig.Quotas: while the
// organization's fetch rate is spent the partition's reader waits the
// refusal's RetryAfter; any other refusal ends the stream with it. Batches
// are charged and metered once sent. Without GRPCConfig.Groups it answers
// UNIMPLEMENTED.
func (s *consumerService) Subscribe(in *shv1.SubscribeRequest, stream grpc.ServerStreamingServer[shv1.SubscribeResponse]) error {
	ctx := stream.Context()
	p, err := s.authorize(ctx, auth.ActConsume)
	if err != nil {
		return s.toStatus(ctx, "Subscribe", err)
	}
	if s.cfg.Groups == nil {
		return status.Error(codes.Unimplemented, "Subscribe needs the consumer group service, which this server was started without")
	}
	err = s.subscribe(ctx, p.Tenant, in, stream)
	if err == nil || ctx.Err() != nil {
		return nil
	}
	return s.toStatus(ctx, "Subscribe", err)
}

// subscription is one Subscribe stream's member state; only the stream's
// goroutine touches it, except pos (readers).
type subscription struct {
	s        *consumerService
	tenant   int64
	in       *shv1.SubscribeRequest
	names    map[int64]string
	topicIDs []int64
	latest   bool
	maxWait  int32
	maxBytes int32

	memberID string
	gen      int32
	session  time.Duration
	assigned []wire.GroupPartition

	posMu sync.Mutex
	pos   map[wire.GroupPartition]int64 // next offset to read, per partition of the running readers
}

type subscribeBatch struct {
	tp   wire.GroupPartition
	resp *wire.FetchResponse
}

// subscribe runs a Subscribe stream for tenant, authorized at its start.
func (s *consumerService) subscribe(ctx context.Context, tenant int64, in *shv1.SubscribeRequest, stream grpc.ServerStreamingServer[shv1.SubscribeResponse]) error {
	if err := registry.ValidateName(in.GetGroup()); err != nil {
		return wire.Errorf(wire.Invalid, "group: %s", trimSentinel(err, registry.ErrInvalid))
	}
	if len(in.GetTopics()) == 0 {
		return wire.Errorf(wire.Invalid, "no topics to subscribe to")
	}
	sub := &subscription{s: s, tenant: tenant, in: in, names: map[int64]string{}, memberID: in.GetMemberId(),
		pos: map[wire.GroupPartition]int64{}}
	switch in.GetAutoOffsetReset() {
	case "", "earliest":
	case "latest":
		sub.latest = true
	default:
		return wire.Errorf(wire.Invalid, "auto_offset_reset %q: want earliest or latest", in.GetAutoOffsetReset())
	}
	switch {
	case in.GetMaxWaitMs() < 0, in.GetMaxBytes() < 0, in.GetSessionTimeoutMs() < 0:
		return wire.Errorf(wire.Invalid, "max_wait_ms, max_bytes and session_timeout_ms must not be negative")
	}
	sub.maxWait = min(cmpOr(in.GetMaxWaitMs(), int32(DefaultSubscribeWait.Milliseconds())), int32(s.cfg.MaxFetchWait.Milliseconds()))
	sub.maxBytes = min(cmpOr(in.GetMaxBytes(), DefaultFetchMaxBytes), s.cfg.MaxFetchBytes)
	for _, name := range in.GetTopics() {
		t, err := s.topic(ctx, tenant, name, 0)
		if err != nil {
			return err
		}
		if _, dup := sub.names[t.ID]; !dup {
			sub.names[t.ID] = t.Name
			sub.topicIDs = append(sub.topicIDs, t.ID)
		}
	}
	if err := sub.join(ctx); err != nil {
		return err
	}
	defer sub.leave(ctx)
	for {
		next, err := sub.consume(ctx, stream)
		if err != nil || ctx.Err() != nil {
			return err
		}
		if next == rejoinFresh {
			sub.memberID = ""
		}
		if err := sub.join(ctx); err != nil {
			return err
		}
	}
}

func cmpOr(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// join joins (or rejoins) the group and records the answer; a member id the
// group no longer knows is dropped for a fresh one.
func (sub *subscription) join(ctx context.Context) error {
	for {
		resp, err := sub.s.cfg.Groups.Join(ctx, &wire.GroupRequest{
			TenantID: sub.tenant, Group: sub.in.GetGroup(), MemberID: sub.memberID, ClientID: sub.in.GetClientId(),
			SessionTimeoutMs: int64(sub.in.GetSessionTimeoutMs()), Strategy: sub.in.GetStrategy(), Topics: sub.topicIDs,
		})
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.UnknownMember && sub.memberID != "" {
			sub.memberID = ""
			continue
		}
		if err != nil {
			return err
		}
		sub.memberID, sub.gen, sub.assigned = resp.MemberID, resp.Generation, resp.Assignment
		sub.session = time.Duration(resp.SessionTimeoutMs) * time.Millisecond
		if sub.session <= 0 {
			sub.session = 45 * time.Second
		}
		return nil
	}
}

// leave leaves the group when the stream ends, on a context of its own.
func (sub *subscription) leave(ctx context.Context) {
	if sub.memberID == "" {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), subscribeLeaveTimeout)
	defer cancel()
	if _, err := sub.s.cfg.Groups.Leave(lctx, &wire.GroupRequest{TenantID: sub.tenant, Group: sub.in.GetGroup(), MemberID: sub.memberID}); err != nil {
		sub.s.log.DebugContext(ctx, "subscribe: leave failed; the session expires instead", "group", sub.in.GetGroup(), "err", err)
	}
}

type rejoinKind int

const (
	rejoinSame  rejoinKind = iota // rebalance: rejoin with the member id
	rejoinFresh                   // unknown member: join as a new member
)

// maxHeartbeatInterval bounds the pause between a member's heartbeats.
const maxHeartbeatInterval = time.Second

// consume serves one generation: it sends the assignment, reads the
// assigned partitions and heartbeats until the group rebalances (or the
// member is dropped), the stream ends (nil, with ctx done) or fails.
func (sub *subscription) consume(ctx context.Context, stream grpc.ServerStreamingServer[shv1.SubscribeResponse]) (rejoinKind, error) {
	if err := stream.Send(sub.assignmentMsg()); err != nil {
		return 0, err
	}
	starts, err := sub.startPositions(ctx)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	batches := make(chan subscribeBatch)
	failed := make(chan error, len(sub.assigned))
	for _, tp := range sub.assigned {
		wg.Go(func() { sub.read(rctx, tp, starts[tp], batches, failed) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Heartbeats are how a member learns of a rebalance, so they come at
	// least every maxHeartbeatInterval even with a long session: until the
	// next one, this member keeps streaming partitions that may already be
	// another's (re-delivered, at least once).
	hb := time.NewTicker(min(max(sub.session/3, 10*time.Millisecond), maxHeartbeatInterval))
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, nil
		case err := <-failed:
			return 0, err
		case b := <-batches:
			recs := fetchResponse(b.resp)
			if err := stream.Send(&shv1.SubscribeResponse{Event: &shv1.SubscribeResponse_Records{Records: &shv1.RecordBatch{
				Topic: sub.names[b.tp.TopicID], Partition: b.tp.Partition, Records: recs.Records,
				HighWatermark: b.resp.HighWatermark, Generation: sub.gen,
			}}}); err != nil {
				return 0, err
			}
			servedFetch(sub.s.cfg.Metrics, sub.s.accounting(), sub.names[b.tp.TopicID], sub.tenant, b.resp.Records)
		case <-hb.C:
			_, err := sub.s.cfg.Groups.Heartbeat(ctx, &wire.GroupRequest{TenantID: sub.tenant, Group: sub.in.GetGroup(),
				MemberID: sub.memberID, Generation: sub.gen})
			var we *wire.Error
			switch {
			case err == nil:
			case errors.As(err, &we) && (we.Code == wire.RebalanceInProgress || we.Code == wire.IllegalGeneration):
				return rejoinSame, nil
			case errors.As(err, &we) && we.Code == wire.UnknownMember:
				return rejoinFresh, nil
			case ctx.Err() != nil:
				return 0, nil
			default:
				// The coordinator is moving or unreachable: try again at
				// the next tick; if the session lapsed meanwhile, the next
				// answer is unknown_member and the member joins again.
				sub.s.log.WarnContext(ctx, "subscribe: heartbeat failed", "group", sub.in.GetGroup(), "err", err)
			}
		}
	}
}

func (sub *subscription) assignmentMsg() *shv1.SubscribeResponse {
	a := &shv1.Assignment{MemberId: sub.memberID, Generation: sub.gen}
	idx := map[int64]*shv1.TopicPartitions{}
	for _, tp := range sub.assigned {
		tps := idx[tp.TopicID]
		if tps == nil {
			tps = &shv1.TopicPartitions{Topic: sub.names[tp.TopicID]}
			idx[tp.TopicID] = tps
			a.Partitions = append(a.Partitions, tps)
		}
		tps.Partitions = append(tps.Partitions, tp.Partition)
	}
	return &shv1.SubscribeResponse{Event: &shv1.SubscribeResponse_Assignment{Assignment: a}}
}

// startPositions gives each assigned partition its first offset: where this
// stream's reader of the previous generation stopped if it kept the
// partition, else the group's committed offset, else -1 (resolved by the
// reader per auto_offset_reset).
func (sub *subscription) startPositions(ctx context.Context) (map[wire.GroupPartition]int64, error) {
	committed, err := sub.s.cfg.Topics.FetchOffsets(ctx, sub.tenant, sub.in.GetGroup())
	if err != nil {
		return nil, err
	}
	byTP := make(map[wire.GroupPartition]int64, len(committed))
	for _, o := range committed {
		byTP[wire.GroupPartition{TopicID: o.Topic, Partition: o.Partition}] = o.Offset
	}
	sub.posMu.Lock()
	defer sub.posMu.Unlock()
	starts := make(map[wire.GroupPartition]int64, len(sub.assigned))
	kept := make(map[wire.GroupPartition]int64, len(sub.assigned))
	for _, tp := range sub.assigned {
		p, ok := sub.pos[tp]
		if !ok {
			if p, ok = byTP[tp]; !ok {
				p = -1
			}
		}
		starts[tp] = p
		kept[tp] = p
	}
	sub.pos = kept
	return starts, nil
}

// read long-polls one partition from pos on and hands its batches to the
// stream's goroutine until ctx ends; a failure no retry can fix goes to
// failed.
func (sub *subscription) read(ctx context.Context, tp wire.GroupPartition, pos int64, out chan<- subscribeBatch, failed chan<- error) {
	backoff := subscribeRetryMin
	for ctx.Err() == nil {
		req := &wire.FetchRequest{TenantID: sub.tenant, TopicID: tp.TopicID, Partition: tp.Partition,
			Offset: max(pos, 0), MaxBytes: sub.maxBytes, MaxWaitMs: sub.maxWait}
		probe := pos < 0 && sub.latest
		if probe { // only the high watermark is wanted
			req.MaxBytes, req.MaxWaitMs = 1, 0
		}
		var resp *wire.FetchResponse
		err := sub.s.accounting().admitFetch(ctx, sub.tenant)
		if wait, ok := retryAfter(err); ok { // the fetch rate is spent: throttled
			t := time.NewTimer(max(wait, subscribeRetryMin))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if err == nil { // else another refusal (ends the stream) or a failed check (retried)
			resp, err = sub.s.cfg.Fetch.Fetch(ctx, req)
		}
		if err == nil && resp.Code != wire.OK && resp.Code != wire.OutOfRange {
			err = resp.Err()
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if code, _, _ := codeOf(err); code == wire.NotOwner || code == wire.Unavailable || code == wire.Busy || code == wire.Fenced {
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(2*backoff, subscribeRetryMax)
				continue
			}
			failed <- err
			return
		}
		backoff = subscribeRetryMin
		switch {
		case probe:
			pos = resp.HighWatermark
		case resp.Code == wire.OutOfRange && sub.latest:
			pos = resp.HighWatermark
		case resp.Code == wire.OutOfRange:
			pos = resp.LogStartOffset
		case len(resp.Records) == 0:
			pos = resp.NextOffset
		default:
			select {
			case out <- subscribeBatch{tp: tp, resp: resp}:
			case <-ctx.Done():
				return
			}
			pos = resp.NextOffset
		}
		sub.posMu.Lock()
		sub.pos[tp] = pos
		sub.posMu.Unlock()
	}
}

// commitAsMember sends a Subscribe member's commit through the group's
// coordinator, which checks the member id, generation and assignment.
func (s *consumerService) commitAsMember(ctx context.Context, tenant int64, in *shv1.CommitOffsetsRequest, offs []registry.GroupOffset) error {
	if s.cfg.Groups == nil {
		return wire.Errorf(wire.Invalid, "member_id is set but this server has no consumer group service")
	}
	if err := registry.ValidateName(in.GetGroup()); err != nil {
		return wire.Errorf(wire.Invalid, "group: %s", trimSentinel(err, registry.ErrInvalid))
	}
	req := &wire.GroupRequest{TenantID: tenant, Group: in.GetGroup(), MemberID: in.GetMemberId(), Generation: in.GetGeneration(),
		Offsets: make([]wire.GroupOffset, len(offs))}
	for i, o := range offs {
		req.Offsets[i] = wire.GroupOffset{TopicID: o.Topic, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata}
	}
	_, err := s.cfg.Groups.Commit(ctx, req)
	return err
}
