package cells

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/wire"
)

// unsubscribeWait bounds the wait for a drained produce subscription to
// hand over its last pending messages.
const unsubscribeWait = 5 * time.Second

// produceJob is one produce request taken from NATS, waiting in a lane.
type produceJob struct {
	msg  *nats.Msg
	req  *wire.ProduceRequest
	size int64
}

// The produce path of a partition:
//
//	NATS ──▶ onProduce (nats.go's goroutine of the subscription: decode,
//	         never blocks) ──▶ lane i (bounded channel) ──▶ actor.Produce ──▶ reply
//
// The subscription delivers in order on one goroutine, and a request goes
// to a lane without blocking, or is answered busy. Lanes let the actor see
// several requests at once and commit them as one WAL entry. Order: an
// idempotent producer's requests all take the lane of its id, so they reach
// the actor in the order they arrived; the records of one request keep their
// order and get dense offsets. Plain requests (no producer id) in flight at
// once are spread over the lanes and may be written in any order among
// themselves, as the requests of two Kafka producers are: a plain client that
// needs order across requests waits for each answer (the router does, per
// client request) or uses a producer id.
//
// Memory: nats.go's pending limits bound the subscription's queue
// (ProducePending, ProduceQueueBytes) and ProduceQueueBytes bounds the bytes
// taken into lanes; past it the answer is busy. Nothing is buffered without
// a bound.
//
// Bytes: nats.go gives each message its own copy of the payload, and the
// decoded records alias it; the actor encodes a request's records into its
// WAL entry or batch and keeps no reference to them once it has answered
// (its tail holds encoded bytes). The message stays referenced by its job
// until the actor's answer, so nothing is copied.

// serve starts the lanes and subscribes the partition's produce subject,
// then its fetch subject (served by the agent's FetchServer).
func (sl *slot) serve() error {
	n := sl.a.cfg.ProduceLanes
	sl.lanes = make([]chan produceJob, n)
	depth := max(sl.a.cfg.ProducePending/n, 1)
	for i := range sl.lanes {
		ch := make(chan produceJob, depth)
		sl.lanes[i] = ch
		sl.lanesW.Go(func() { sl.runLane(ch) })
	}
	var err error
	// Produce requests go to one subscriber of the queue group only. A
	// deposed agent that has not yet noticed (paused past its lease) is
	// still subscribed; with a plain subscription it would get a copy of
	// every request besides the new owner's, and its not_owner answer,
	// arriving first, would make the router retry a request the new owner
	// was writing: a duplicate (found by internal/e2e). With the queue
	// group, not_owner means that no one else got the request.
	sl.sub, err = sl.subscribe(ProduceSubject(sl.a.cfg.Cell, sl.id), produceQueue, sl.onProduce)
	if err == nil {
		sl.fetchSub, err = sl.subscribe(FetchSubject(sl.a.cfg.Cell, sl.id), "", sl.a.fetch.HandleMsg)
	}
	if err != nil {
		sl.unserve()
		return fmt.Errorf("serve partition %s: %w", sl.id, err)
	}
	return nil
}

// produceQueue is the queue group of every partition's produce subject.
const produceQueue = "owner"

// subscribe subscribes h to subject, in queue group queue unless it is
// empty, with the agent's pending limits.
func (sl *slot) subscribe(subject, queue string, h nats.MsgHandler) (*nats.Subscription, error) {
	var sub *nats.Subscription
	var err error
	if queue != "" {
		sub, err = sl.a.nc.QueueSubscribe(subject, queue, h)
	} else {
		sub, err = sl.a.nc.Subscribe(subject, h)
	}
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(sl.a.cfg.ProducePending, sl.a.cfg.ProduceQueueBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return sub, nil
}

// unserve stops taking requests: it drains the subscriptions (their
// pending messages are still handled), then closes the lanes, which answer
// what they hold, and waits for them. Produce requests that arrive later are
// answered not_owner, and the requester retries on the next owner; fetches
// being served find no actor and answer as the FetchServer documents.
func (sl *slot) unserve() {
	sl.drain(sl.fetchSub)
	sl.drain(sl.sub)
	sl.closeLanes()
}

// drain unsubscribes sub once its pending messages are handled, waiting at
// most unsubscribeWait.
func (sl *slot) drain(sub *nats.Subscription) {
	if sub == nil {
		return
	}
	closed := sub.StatusChanged(nats.SubscriptionClosed)
	if err := sub.Drain(); err != nil {
		if !sl.a.nc.IsClosed() {
			_ = sub.Unsubscribe()
		}
		return
	}
	t := time.NewTimer(unsubscribeWait)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
		sl.log.Warn("subscription did not drain in time; unsubscribing", "subject", sub.Subject)
		_ = sub.Unsubscribe()
	}
}

func (sl *slot) closeLanes() {
	sl.mu.Lock()
	if !sl.mu.closed {
		sl.mu.closed = true
		for _, ch := range sl.lanes {
			close(ch)
		}
	}
	sl.mu.Unlock()
	sl.lanesW.Wait()
}

// onProduce is the subscription's handler. It never blocks: it decodes the
// request and puts it in its lane, or answers at once.
func (sl *slot) onProduce(m *nats.Msg) {
	req := new(wire.ProduceRequest) // fresh: Decode reuses a request's storage
	if err := req.Decode(m.Data); err != nil {
		respond(m, &wire.ProduceResponse{Code: wire.Invalid, Message: err.Error()})
		return
	}
	if req.TenantID != sl.id.Tenant || req.TopicID != sl.id.Topic || req.Partition != sl.id.Partition {
		respond(m, &wire.ProduceResponse{Code: wire.Invalid, Message: fmt.Sprintf(
			"request for partition %d/%d/%d sent to the subject of %s", req.TenantID, req.TopicID, req.Partition, sl.id)})
		return
	}
	job := produceJob{msg: m, req: req, size: int64(len(m.Data))}
	var lane uint64
	if req.ProducerID >= 0 {
		lane = uint64(req.ProducerID) % uint64(len(sl.lanes))
	} else {
		lane = uint64(sl.rr.Add(1)) % uint64(len(sl.lanes))
	}

	sl.mu.Lock()
	if sl.mu.closed {
		sl.mu.Unlock()
		respond(m, &wire.ProduceResponse{Code: wire.NotOwner, Message: fmt.Sprintf("partition %s is moving to another agent", sl.id)})
		return
	}
	if q := sl.queued.Add(job.size); q > job.size && q > int64(sl.a.cfg.ProduceQueueBytes) {
		sl.queued.Add(-job.size)
		sl.mu.Unlock()
		respond(m, &wire.ProduceResponse{Code: wire.Busy, Message: fmt.Sprintf("partition %s: %d bytes of requests waiting", sl.id, q-job.size)})
		return
	}
	select {
	case sl.lanes[lane] <- job:
		sl.mu.Unlock()
	default:
		sl.queued.Add(-job.size)
		sl.mu.Unlock()
		respond(m, &wire.ProduceResponse{Code: wire.Busy, Message: fmt.Sprintf("partition %s: too many requests waiting", sl.id)})
	}
}

// runLane hands its requests to the actor one at a time, in order, and
// answers each.
func (sl *slot) runLane(ch <-chan produceJob) {
	for job := range ch {
		resp := sl.produce(job.req)
		sl.queued.Add(-job.size)
		respond(job.msg, resp)
	}
}

// produce hands one request to the actor and returns the answer.
func (sl *slot) produce(req *wire.ProduceRequest) *wire.ProduceResponse {
	if len(req.Records) == 0 {
		return &wire.ProduceResponse{Code: wire.Invalid, Message: "produce request with no records"}
	}
	nh := 0
	for i := range req.Records {
		nh += len(req.Records[i].Headers)
	}
	recs := make([]partition.Record, len(req.Records))
	var hdrs []partition.Header
	if nh > 0 {
		hdrs = make([]partition.Header, 0, nh) // one array for the request's headers
	}
	for i := range req.Records {
		r := &req.Records[i]
		rec := partition.Record{Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
		if len(r.Headers) > 0 {
			from := len(hdrs)
			for _, h := range r.Headers {
				hdrs = append(hdrs, partition.Header(h))
			}
			rec.Headers = hdrs[from:len(hdrs):len(hdrs)]
		}
		recs[i] = rec
	}
	// The actor always answers, even when it is killed: no deadline here.
	// Its inbox bound is the back-pressure (busy).
	done, err := sl.actor.ProduceDetail(context.Background(), partition.ProduceRequest{
		Records:       recs,
		ProducerID:    req.ProducerID,
		ProducerEpoch: req.ProducerEpoch,
		BaseSequence:  req.BaseSequence,
		Timestamps:    partition.TimestampProducer,
	})
	if err != nil {
		code := produceCode(err)
		return &wire.ProduceResponse{Code: code, Message: err.Error()}
	}
	return &wire.ProduceResponse{BaseOffset: done.Base, Duplicate: done.Duplicate}
}

// produceCode maps an actor's error to its wire code.
func produceCode(err error) wire.Code {
	var seq *partition.SequenceError
	switch {
	case errors.Is(err, partition.ErrBusy):
		return wire.Busy
	case errors.Is(err, partition.ErrOutcomeUnknown):
		return wire.Unavailable // may be written: never resent blindly (NotOwner is)
	case errors.Is(err, partition.ErrNotOwner), errors.Is(err, partition.ErrStopped):
		return wire.NotOwner
	case errors.Is(err, partition.ErrActorFailed):
		return wire.Unavailable
	case errors.As(err, &seq):
		return wire.SequenceGap
	case errors.Is(err, partition.ErrProducerFenced):
		return wire.ProducerFenced
	case errors.Is(err, partition.ErrInvalidBatch):
		return wire.Invalid
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return wire.Unavailable
	}
	return wire.Internal
}

// respond answers a request; a message without a reply subject (a plain
// publish) gets none.
func respond(m *nats.Msg, resp *wire.ProduceResponse) {
	if m.Reply == "" {
		return
	}
	b, _ := resp.AppendBinary(nil) // never fails
	_ = m.Respond(b)               // a requester gone or a closed connection: it times out
}
