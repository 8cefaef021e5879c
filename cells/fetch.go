package cells

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// Defaults of FetchServerConfig.
const (
	// DefaultFetchMaxBytes is the budget of a fetch that asks for none
	// (MaxBytes <= 0): 1 MiB, Kafka's max.partition.fetch.bytes.
	DefaultFetchMaxBytes = 1 << 20
	// DefaultFetchMaxBytesCap is FetchServerConfig.MaxBytes's default: 8 MiB,
	// the request limit of DESIGN.md.
	DefaultFetchMaxBytesCap = 8 << 20
	// DefaultFetchMaxWait is FetchServerConfig.MaxWait's default.
	DefaultFetchMaxWait = 30 * time.Second
	// DefaultFetchMaxInFlight is FetchServerConfig.MaxInFlight's default.
	DefaultFetchMaxInFlight = 1024
	// fetchServeMargin is what HandleMsg allows a fetch beyond its wait: the
	// registry read and the segment reads.
	fetchServeMargin = 10 * time.Second
)

// FetchServerConfig configures a FetchServer. Lookup and Fetcher are
// required.
type FetchServerConfig struct {
	// Lookup returns the actor of a partition this agent owns, or nil. It is
	// called once per fetch and must be cheap and safe for concurrent use.
	Lookup func(partition.ID) *partition.Actor
	// Fetcher reads committed segments from object storage (and the
	// partition's log start offset from the registry).
	Fetcher *partition.Fetcher
	// Logger gets internal errors and failed replies; nil discards.
	Logger *slog.Logger
	// MaxBytes caps a request's MaxBytes. Keep it below the NATS server's
	// max_payload (nats.Conn.MaxPayload) less a few KiB: an answer holds up
	// to MaxBytes of encoded records plus one record. The default is 8 MiB
	// (DefaultFetchMaxBytesCap).
	MaxBytes int
	// MaxWait caps a request's long-poll wait. The default is 30 s.
	MaxWait time.Duration
	// MaxInFlight bounds the fetches HandleMsg serves at once (long polls
	// included); beyond it HandleMsg answers Busy at once. The default is
	// 1024.
	MaxInFlight int
}

// EnsureDefaults fills zero fields with their defaults.
func (c *FetchServerConfig) EnsureDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultFetchMaxBytesCap
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultFetchMaxWait
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultFetchMaxInFlight
	}
}

// FetchServer answers fetch requests for the partitions this agent owns
// (sh.<cell>.fetch.<tenant>.<topic>.<partition>): offsets still in the
// actor's in-memory tail from the tail, older ones from committed segments
// in object storage, then on into the tail when the budget allows. At the
// high watermark it long-polls the actor. It is safe for concurrent use.
//
// Goroutines: HandleMsg serves each request on a goroutine of its own, at
// most MaxInFlight at once; Close refuses new ones, cancels those running
// and waits for them.
type FetchServer struct {
	cfg   FetchServerConfig
	log   *slog.Logger
	ctx   context.Context // cancelled by Close
	stop  context.CancelFunc
	slots chan struct{} // one per request in flight in HandleMsg
	wg    sync.WaitGroup
	mu    struct {
		sync.Mutex
		closed bool
	}
	states sync.Pool // *fetchState
}

// NewFetchServer returns a FetchServer; it fails if Lookup or Fetcher is
// missing.
func NewFetchServer(cfg FetchServerConfig) (*FetchServer, error) {
	cfg.EnsureDefaults()
	if cfg.Lookup == nil || cfg.Fetcher == nil {
		return nil, errors.New("new fetch server: Lookup and Fetcher are required")
	}
	s := &FetchServer{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxInFlight)}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.states.New = func() any { return new(fetchState) }
	return s, nil
}

// fetchState is one request's working memory, pooled by HandleMsg: the
// segment decoder (the records alias it), the answer's records and header
// storage, the encoded reply.
type fetchState struct {
	dec  partition.Decoder
	resp wire.FetchResponse
	hdrs []wire.Header
	buf  []byte
}

// Serve answers one fetch request; it never fails, errors are coded in the
// answer. It blocks for up to the request's MaxWaitMs (capped at MaxWait)
// when the offset is at the high watermark; cancelling ctx ends the wait
// with Unavailable. The records of the answer alias memory Serve allocated
// for this call only.
func (s *FetchServer) Serve(ctx context.Context, req *wire.FetchRequest) *wire.FetchResponse {
	st := new(fetchState)
	s.serve(ctx, req, st)
	return &st.resp
}

// HandleMsg is the NATS handler of the fetch subjects: it decodes the
// request, serves it on a goroutine of its own and responds with the
// encoded FetchResponse. It returns at once (a long poll does not hold up
// the subscription's other messages). A request that does not decode gets
// Invalid; one beyond MaxInFlight gets Busy; one after Close gets
// Unavailable.
func (s *FetchServer) HandleMsg(msg *nats.Msg) {
	req := new(wire.FetchRequest)
	if err := req.Decode(msg.Data); err != nil {
		s.replyNew(msg, &wire.FetchResponse{Code: wire.Invalid, Message: err.Error()})
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.replyNew(msg, &wire.FetchResponse{Code: wire.Busy, Message: fmt.Sprintf("agent serves %d fetches already", s.cfg.MaxInFlight), NextOffset: req.Offset})
		return
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		<-s.slots
		s.replyNew(msg, &wire.FetchResponse{Code: wire.Unavailable, Message: "agent is shutting down", NextOffset: req.Offset})
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() { // owned by s: Close waits for it
		defer s.wg.Done()
		defer func() { <-s.slots }()
		ctx, cancel := context.WithTimeout(s.ctx, s.wait(req)+fetchServeMargin)
		defer cancel()
		st := s.states.Get().(*fetchState)
		s.serve(ctx, req, st)
		s.reply(msg, st)
		st.release()
		s.states.Put(st)
	}()
}

// Close refuses further requests in HandleMsg, cancels those being served
// (long polls answer Unavailable) and waits for them to finish.
func (s *FetchServer) Close() {
	s.mu.Lock()
	s.mu.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

// reply encodes st's answer into st.buf and responds to msg with it (the
// connection copies it); a failure (no reply subject, the answer over the
// server's max_payload, a closed connection) is logged.
func (s *FetchServer) reply(msg *nats.Msg, st *fetchState) {
	st.buf, _ = st.resp.AppendBinary(st.buf[:0])
	if err := msg.Respond(st.buf); err != nil {
		s.log.Warn("fetch reply not sent", "subject", msg.Subject, "bytes", len(st.buf), "err", err)
	}
}

// replyNew responds to msg with resp, an answer made without a state.
func (s *FetchServer) replyNew(msg *nats.Msg, resp *wire.FetchResponse) {
	st := s.states.Get().(*fetchState)
	st.resp = *resp
	s.reply(msg, st)
	st.resp = wire.FetchResponse{}
	s.states.Put(st)
}

// release drops what st's answer points to, keeping the storage.
func (st *fetchState) release() {
	clear(st.resp.Records)
	clear(st.hdrs)
	st.resp = wire.FetchResponse{Records: st.resp.Records[:0]}
	st.hdrs = st.hdrs[:0]
	st.dec.Reset()
}

// wait is the request's long-poll budget.
func (s *FetchServer) wait(req *wire.FetchRequest) time.Duration {
	return min(time.Duration(max(req.MaxWaitMs, 0))*time.Millisecond, s.cfg.MaxWait)
}

// serve answers req into st.resp.
func (s *FetchServer) serve(ctx context.Context, req *wire.FetchRequest, st *fetchState) {
	resp := &st.resp
	resp.NextOffset = req.Offset
	id := partition.ID{Tenant: req.TenantID, Topic: req.TopicID, Partition: req.Partition}
	if err := id.Validate(); err != nil {
		resp.Code, resp.Message = wire.Invalid, err.Error()
		return
	}
	if req.Offset < 0 {
		resp.Code, resp.Message = wire.Invalid, fmt.Sprintf("offset %d is negative", req.Offset)
		return
	}
	a := s.cfg.Lookup(id)
	if a == nil {
		resp.Code, resp.Message = wire.NotOwner, fmt.Sprintf("this agent does not own partition %s", id)
		return
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	maxBytes = min(maxBytes, s.cfg.MaxBytes)
	wait := s.wait(req)

	for waited := false; ; waited = true {
		// The log start offset is the registry's; the committed read the
		// Fetcher makes of an offset past every record returns it with no
		// segment read.
		bounds, err := s.cfg.Fetcher.Fetch(ctx, id, math.MaxInt64, 0, nil)
		if err != nil {
			s.fail(ctx, resp, id, err)
			return
		}
		hwm := a.HighWatermark()
		resp.HighWatermark, resp.LogStartOffset = hwm, bounds.LogStartOffset
		switch {
		case req.Offset < bounds.LogStartOffset:
			resp.Code, resp.Message = wire.OutOfRange, fmt.Sprintf("partition %s: offset %d is below the log start offset %d", id, req.Offset, bounds.LogStartOffset)
			return
		case req.Offset > hwm:
			resp.Code, resp.Message = wire.OutOfRange, fmt.Sprintf("partition %s: offset %d is past the high watermark %d", id, req.Offset, hwm)
			return
		case req.Offset < hwm:
			s.read(ctx, a, id, req.Offset, maxBytes, st)
			return
		case waited || wait == 0:
			return // nothing new: an empty answer
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		err = a.Wait(wctx, req.Offset)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			s.fail(ctx, resp, id, ctx.Err())
			return
		case errors.Is(err, context.DeadlineExceeded):
			// The wait is over; answer with the watermarks as they are now.
		default: // the actor exited
			s.fail(ctx, resp, id, err)
			return
		}
	}
}

// read fills st.resp with records from offset (below the actor's high
// watermark): from the tail if it still holds offset, else from committed
// segments and then on into the tail.
func (s *FetchServer) read(ctx context.Context, a *partition.Actor, id partition.ID, offset int64, maxBytes int, st *fetchState) {
	resp := &st.resp
	if batches, ok := a.ReadTail(offset, maxBytes); ok {
		st.add(batches, offset, maxBytes, 0)
		return
	}
	res, err := s.cfg.Fetcher.Fetch(ctx, id, offset, int64(maxBytes), &st.dec)
	if err != nil {
		s.fail(ctx, resp, id, err)
		return
	}
	used := st.add(res.Batches, offset, maxBytes, 0)
	if next := resp.NextOffset; used < maxBytes && next < a.HighWatermark() && (len(res.Batches) == 0 || next == res.Next) {
		// The segments ended within the budget: go on into the tail.
		if more, ok := a.ReadTail(next, maxBytes-used); ok {
			st.add(more, next, maxBytes, used)
		}
	}
}

// add appends the records of batches at or above from to st.resp while
// their encoded size keeps within maxBytes (the answer's first record is
// taken whatever its size), moving NextOffset past each; it returns the
// bytes used.
func (st *fetchState) add(batches []partition.Batch, from int64, maxBytes, used int) int {
	resp := &st.resp
	for i := range batches {
		for j := range batches[i].Records {
			r := &batches[i].Records[j]
			if r.Offset < from || r.Offset < resp.NextOffset && len(resp.Records) > 0 {
				continue
			}
			fr := wire.FetchedRecord{Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
			if len(r.Headers) > 0 {
				start := len(st.hdrs)
				for _, h := range r.Headers {
					st.hdrs = append(st.hdrs, wire.Header{Key: h.Key, Value: h.Value})
				}
				fr.Headers = st.hdrs[start:len(st.hdrs):len(st.hdrs)]
			}
			n := fr.EncodedLen()
			if len(resp.Records) > 0 && used+n > maxBytes {
				st.hdrs = st.hdrs[:len(st.hdrs)-len(fr.Headers)]
				return used
			}
			resp.Records = append(resp.Records, fr)
			resp.NextOffset = r.Offset + 1
			used += n
		}
	}
	return used
}

// fail codes err into resp.
func (s *FetchServer) fail(ctx context.Context, resp *wire.FetchResponse, id partition.ID, err error) {
	resp.Records = resp.Records[:0]
	var oor *partition.OffsetOutOfRangeError
	switch {
	case errors.As(err, &oor):
		resp.Code, resp.Message = wire.OutOfRange, oor.Error()
		resp.LogStartOffset, resp.HighWatermark = oor.LogStartOffset, max(resp.HighWatermark, oor.HighWatermark)
	case errors.Is(err, partition.ErrNotOwner), errors.Is(err, partition.ErrStopped), errors.Is(err, partition.ErrActorFailed):
		resp.Code, resp.Message = wire.NotOwner, fmt.Sprintf("partition %s: the owner has stopped: %v", id, err)
	case errors.Is(err, registry.ErrNotFound):
		resp.Code, resp.Message = wire.NotFound, fmt.Sprintf("partition %s not found", id)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		resp.Code, resp.Message = wire.Unavailable, fmt.Sprintf("partition %s: fetch abandoned: %v", id, err)
	default:
		s.log.ErrorContext(ctx, "fetch failed", "partition", id.String(), "err", err)
		resp.Code, resp.Message = wire.Internal, "internal error"
	}
}
