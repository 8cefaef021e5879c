package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// Actor errors; match them with errors.Is.
var (
	// ErrBusy: the actor's inbox is full (InboxRecords or InboxBytes). Nothing
	// of the request was written; the router answers 429/503 and the client
	// retries later.
	ErrBusy = errors.New("partition busy: inbox full")
	// ErrNotOwner: the actor has been fenced (another owner's WAL entry or
	// epoch) or killed (lease lost). Comes as a *NotOwnerError with the cause.
	ErrNotOwner = errors.New("not the partition's owner")
	// ErrStopped: the actor was stopped (Stop) and takes no more requests.
	ErrStopped = errors.New("partition actor stopped")
	// ErrActorFailed: the actor stopped after an error it could not resolve
	// (a WAL whose outcome stayed unknown through every retry, a corrupt WAL
	// on takeover). Requests that were pending fail with it and were not
	// acknowledged, though they may be durable: a new owner's takeover
	// replays whatever the WAL holds.
	ErrActorFailed = errors.New("partition actor failed")
	// ErrOutcomeUnknown: the actor stopped (killed, fenced or failed) while
	// the request's write was in flight — its WAL append, or in object mode
	// the PUT and commit of its segment — so it may or may not be written.
	// Unlike ErrNotOwner it does not say that nothing was written: only an
	// idempotent producer may send it again (the router must not resend a
	// plain request; a blind resend duplicated records in the chaos test).
	// Comes wrapped with the actor's reason in the message.
	ErrOutcomeUnknown = errors.New("write outcome unknown: the partition's owner stopped while writing it")
	// errKilled is the cause of a NotOwnerError after Kill.
	errKilled = errors.New("actor killed: lease lost")
)

// NotOwnerError says the actor no longer owns its partition and why. It
// unwraps to ErrNotOwner and the cause (ErrWALFenced, registry.ErrEpochFenced,
// ...).
type NotOwnerError struct {
	ID    ID
	Epoch int64 // the actor's epoch
	Err   error
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("partition %s epoch %d: %v: %v", e.ID, e.Epoch, ErrNotOwner, e.Err)
}

func (e *NotOwnerError) Unwrap() []error { return []error{ErrNotOwner, e.Err} }

// ActorRegistry is the part of the registry the actor uses;
// registry.Store satisfies it.
type ActorRegistry interface {
	Partition(ctx context.Context, id registry.PartitionID) (registry.Partition, error)
	BumpEpoch(ctx context.Context, id registry.PartitionID, expected int64) (int64, error)
	CommitSegment(ctx context.Context, s registry.Segment) error
	LatestSegment(ctx context.Context, id registry.PartitionID) (registry.Segment, error)
}

// ActorConfig configures a partition actor. EnsureDefaults fills the unset
// fields; ID, Store, Registry and (in wal mode) WAL are required.
type ActorConfig struct {
	// ID is the partition the actor owns.
	ID ID
	// Durability says when a produce is acknowledged: registry.DurabilityWAL
	// (the default) once the WAL has it, registry.DurabilityObject once its
	// segment is in object storage and committed.
	Durability registry.Durability
	// WAL is the partition's write-ahead log; nil in object mode.
	WAL WAL
	// Store receives the segments.
	Store objectstore.Store
	// Registry fences the actor (epoch) and indexes its segments.
	Registry ActorRegistry
	// KeyPrefix is the segment keys' prefix (SegmentKey); may be empty.
	KeyPrefix string
	// FlushBytes starts a segment flush once this many bytes are unflushed.
	// The default is 8 MiB.
	FlushBytes int
	// FlushAge starts a flush once the oldest unflushed entry is this old. In
	// object mode it is the acknowledgement latency. The default is 1 s.
	FlushAge time.Duration
	// FlushRequests, in object mode, starts a flush once this many requests
	// wait for one: their senders can send no more until answered (the
	// agent works on ProduceLanes requests per partition at once), so
	// waiting out FlushAge would only cap the partition at FlushRequests
	// requests per FlushAge (cmd/streambench measured 2 MB/s). 0 leaves it
	// to FlushBytes and FlushAge.
	FlushRequests int
	// InboxRecords and InboxBytes bound the records and bytes waiting in the
	// inbox; a produce that would pass either gets ErrBusy (a single request
	// is taken into an empty inbox whatever its size). Defaults: 65536
	// records, 64 MiB.
	InboxRecords int
	InboxBytes   int
	// MaxEntryBytes bounds the requests drained into one WAL entry (a group
	// commit); one request over it still makes an entry of its own. Keep it
	// below the WAL's largest message. The default is 4 MiB.
	MaxEntryBytes int
	// MaxUnflushedBytes bounds the bytes acknowledged (or, in object mode,
	// waiting) but not yet in a committed segment: past it the actor takes
	// nothing from its inbox, which fills and answers ErrBusy, until a flush
	// succeeds. The default is 8 × FlushBytes.
	MaxUnflushedBytes int
	// TailBytes bounds the flushed entries kept in memory for ReadTail;
	// unflushed ones are always kept. The default is 32 MiB.
	TailBytes int
	// WALRetries is how often an append of unknown outcome is resolved and
	// retried before the actor gives up (ErrActorFailed). The default is 8.
	WALRetries int
	// RetryBackoff is the first pause between retries of a failed WAL
	// append, PUT or commit; it doubles up to 30 times itself. The default is
	// 50 ms.
	RetryBackoff time.Duration
	// Now is the clock for broker timestamps (records without their own,
	// or all of a broker-time topic's); the default is time.Now. Flush ages
	// are measured on the monotonic clock, so a jump of this one (the chaos
	// test's clock-jump fault) moves no flush.
	Now func() time.Time
	// Logger receives the actor's events; the default discards them.
	Logger *slog.Logger
	// Metrics, if set, receives batch, flush and WAL backlog figures
	// (metrics.go); share one among a process's actors. Nil: none.
	Metrics *Metrics
}

// EnsureDefaults fills unset fields with their defaults.
func (c *ActorConfig) EnsureDefaults() {
	if c.Durability == "" {
		c.Durability = registry.DurabilityWAL
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = 8 << 20
	}
	if c.FlushAge <= 0 {
		c.FlushAge = time.Second
	}
	if c.MaxUnflushedBytes <= 0 {
		c.MaxUnflushedBytes = 8 * c.FlushBytes
	}
	if c.InboxRecords <= 0 {
		c.InboxRecords = 1 << 16
	}
	if c.InboxBytes <= 0 {
		c.InboxBytes = 64 << 20
	}
	if c.MaxEntryBytes <= 0 {
		c.MaxEntryBytes = 4 << 20
	}
	if c.TailBytes <= 0 {
		c.TailBytes = 32 << 20
	}
	if c.WALRetries <= 0 {
		c.WALRetries = 8
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 50 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *ActorConfig) validate() error {
	if err := c.ID.Validate(); err != nil {
		return err
	}
	switch {
	case c.Store == nil || c.Registry == nil:
		return errors.New("actor config: Store and Registry are required")
	case c.Durability == registry.DurabilityWAL && c.WAL == nil:
		return errors.New("actor config: wal durability needs a WAL")
	case c.Durability != registry.DurabilityWAL && c.Durability != registry.DurabilityObject:
		return fmt.Errorf("actor config: unknown durability %q", c.Durability)
	}
	return nil
}

// TimestampPolicy says where records' timestamps come from.
type TimestampPolicy uint8

const (
	// TimestampProducer keeps each record's Timestamp, setting a zero one to
	// the broker's clock.
	TimestampProducer TimestampPolicy = iota
	// TimestampBroker sets every record's Timestamp to the broker's clock.
	TimestampBroker
)

// ProduceRequest is one producer's records for the partition.
type ProduceRequest struct {
	// Records are written in order with dense offsets. The actor reads them
	// (and sets Timestamp per Timestamps) until Produce returns; the caller
	// must not touch them meanwhile.
	Records []Record
	// ProducerID, ProducerEpoch and BaseSequence identify an idempotent
	// producer's batch; ProducerID NoProducer (any negative value) means a
	// plain producer, and then the other two are ignored.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Timestamps    TimestampPolicy
}

type produceResult struct {
	base int64
	dup  bool // a retry of a batch already written
	err  error
}

// Produced is the answer to a produce: the offset of the request's first
// record, and whether the request was an idempotent producer's retry of a
// batch already written (then Base is the first write's, and nothing new
// was written: metering must not count it twice).
type Produced struct {
	Base      int64
	Duplicate bool
}

// produceReq is a request in the inbox and until its answer.
type produceReq struct {
	ProduceRequest
	bytes int
	done  chan produceResult // buffered 1: the actor never blocks on it
}

// tailEntry is one WAL entry (or, in object mode, one group) kept in
// memory: its batches, encoded, with offsets [base, last].
type tailEntry struct {
	seq        uint64 // WAL sequence; 0 in object mode
	base, last int64
	at         time.Time // when it was added: its flush age
	data       []byte    // encoded batches, immutable
	minTS      int64     // its records' smallest timestamp (batch headers keep only the first)
}

// Actor owns one partition: one goroutine that alone assigns offsets,
// appends to the WAL, flushes segments and answers produce requests
// (DESIGN.md, The partition actor). Its methods are safe for concurrent use.
//
// Locks: Actor.mu (tail, high watermark channel) and the inbox's mu are
// never held together and never across I/O; the produce path takes each
// once per request or group, not per record. Everything else (offsets,
// producers, flush state) belongs to the actor's goroutine (actorState).
type Actor struct {
	cfg   ActorConfig
	pid   registry.PartitionID
	log   *slog.Logger
	epoch int64

	in actorInbox

	ctx    context.Context // cancelled by Kill and at exit: aborts I/O
	cancel context.CancelFunc
	stopCh chan struct{} // closed by Stop: drain, flush, exit
	killCh chan struct{} // closed by Kill: exit without committing
	stop   sync.Once
	kill   sync.Once
	done   chan struct{} // closed once the loop and its jobs have exited
	jobs   sync.WaitGroup
	err    error // why the loop exited; written before done is closed

	hwm atomic.Int64 // the next offset to be made visible

	mu struct {
		sync.Mutex
		tail      []tailEntry // ascending, contiguous
		tailBytes int
		hwmCh     chan struct{} // closed and replaced when hwm moves
	}

	// Owned by the loop goroutine (and by StartActor before it runs).
	st actorState
}

// StartActor takes over the partition and starts its actor: in wal mode it
// bumps the epoch (compare-and-set, retried a few times on a race), appends
// an epoch marker to the WAL with the last sequence it read (re-read and
// retried on a mismatch), replays the WAL past the last committed segment
// with the offsets it holds, and only then takes produce requests. In object
// mode it only bumps the epoch. ctx bounds the takeover only; the actor runs
// until Stop or Kill, or until it is fenced or fails.
func StartActor(ctx context.Context, cfg ActorConfig) (*Actor, error) {
	cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Actor{
		cfg:    cfg,
		pid:    registry.PartitionID{Tenant: cfg.ID.Tenant, Topic: cfg.ID.Topic, Partition: cfg.ID.Partition},
		log:    cfg.Logger.With("partition", cfg.ID.String()),
		stopCh: make(chan struct{}),
		killCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	a.in.init(cfg.InboxRecords, cfg.InboxBytes)
	a.mu.hwmCh = make(chan struct{})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.takeover(ctx); err != nil {
		a.cancel()
		return nil, err
	}
	a.log.Info("partition actor started", "epoch", a.epoch, "high_watermark", a.hwm.Load(), "durability", string(cfg.Durability))
	go a.run() // owned by the actor: Stop and Kill wait for done
	return a, nil
}

// Epoch is the epoch the actor took the partition with.
func (a *Actor) Epoch() int64 { return a.epoch }

// HighWatermark is the next offset to be acknowledged: every offset below it
// is durable (per the durability mode) and readable.
func (a *Actor) HighWatermark() int64 { return a.hwm.Load() }

// Done is closed once the actor has exited (Stop, Kill, fencing or failure);
// Err then says why.
func (a *Actor) Done() <-chan struct{} { return a.done }

// Err returns why the actor exited: nil after a clean Stop, a *NotOwnerError
// when fenced or killed, ErrActorFailed otherwise. Before Done it is nil.
func (a *Actor) Err() error {
	select {
	case <-a.done:
		return a.err
	default:
		return nil
	}
}

// Produce hands the request to the actor and waits for its answer: the
// offset of its first record, once its records are durable (in the WAL, or
// committed in a segment in object mode). It never blocks on a full inbox:
// that is ErrBusy. A retry of an idempotent producer's batch gets the
// offsets of the first write; a sequence gap is a *SequenceError, an old
// producer epoch ErrProducerFenced. After fencing or Kill it returns a
// *NotOwnerError, after Stop ErrStopped. Cancelling ctx abandons the wait,
// not the request: its records may still be written.
func (a *Actor) Produce(ctx context.Context, req ProduceRequest) (int64, error) {
	p, err := a.ProduceDetail(ctx, req)
	return p.Base, err
}

// ProduceDetail is Produce, also telling whether the request was a
// duplicate.
func (a *Actor) ProduceDetail(ctx context.Context, req ProduceRequest) (Produced, error) {
	if len(req.Records) == 0 {
		return Produced{}, fmt.Errorf("%w: produce with no records", ErrInvalidBatch)
	}
	size := 0
	for i := range req.Records {
		r := &req.Records[i]
		size += len(r.Key) + len(r.Value) + 16
		for j := range r.Headers {
			size += len(r.Headers[j].Key) + len(r.Headers[j].Value) + 4
		}
	}
	r := &produceReq{ProduceRequest: req, bytes: size, done: make(chan produceResult, 1)}
	if err := a.in.push(r); err != nil {
		return Produced{}, err
	}
	select {
	case res := <-r.done:
		return Produced{Base: res.base, Duplicate: res.dup}, res.err
	case <-ctx.Done():
		return Produced{}, ctx.Err()
	}
}

// Stop stops the actor gracefully: it takes no more requests (those still in
// the inbox fail with ErrStopped, unwritten), lets the WAL append in flight
// finish, flushes and commits everything buffered, and returns once the
// actor has exited. If ctx ends first it kills the actor (nothing more is
// committed) and returns ctx's error. It returns the actor's exit error,
// nil after a clean stop.
func (a *Actor) Stop(ctx context.Context) error {
	a.stop.Do(func() { close(a.stopCh) })
	select {
	case <-a.done:
		if errors.Is(a.err, ErrStopped) {
			return nil
		}
		return a.err
	case <-ctx.Done():
		a.Kill()
		return ctx.Err()
	}
}

// Kill stops the actor at once, as when its lease is lost: nothing more is
// written or committed, pending requests fail with a *NotOwnerError. It
// returns once the actor and its jobs have exited.
func (a *Actor) Kill() {
	a.kill.Do(func() {
		close(a.killCh)
		a.cancel()
	})
	<-a.done
}

// ReadTail returns the batches of the in-memory tail from the one holding
// offset, up to about maxBytes (at least one batch), below the high
// watermark. ok is false when offset is below the tail: read segments
// instead. An offset at or past the high watermark gives no batches and ok
// (wait with Wait). The batches are the caller's.
func (a *Actor) ReadTail(offset int64, maxBytes int) ([]Batch, bool) {
	hwm := a.hwm.Load()
	if offset >= hwm {
		return nil, true
	}
	a.mu.Lock()
	tail := a.mu.tail
	i := 0
	for i < len(tail) && tail[i].last < offset {
		i++
	}
	if len(tail) == 0 || offset < tail[0].base || i == len(tail) {
		a.mu.Unlock()
		return nil, false
	}
	var picked []tailEntry
	n := 0
	for ; i < len(tail) && tail[i].base < hwm && (n == 0 || n < maxBytes); i++ {
		picked = append(picked, tail[i])
		n += len(tail[i].data)
	}
	a.mu.Unlock()

	dec := Decoder{skipCRC: true} // our own bytes, in memory
	var out []Batch
	n = 0
	for _, e := range picked {
		err := decodeWALBatches(&dec, e.data, func(b *Batch) error {
			if b.LastOffset() < offset || b.BaseOffset >= hwm || (len(out) > 0 && n >= maxBytes) {
				return nil
			}
			out = append(out, *b)
			for j := range b.Records {
				n += len(b.Records[j].Key) + len(b.Records[j].Value)
			}
			return nil
		})
		if err != nil { // the actor encoded these bytes: cannot happen
			a.log.Error("tail entry does not decode", "err", err)
			return nil, false
		}
	}
	return out, true
}

// Wait blocks until the high watermark passes offset (a record at offset is
// readable), ctx ends (its error) or the actor exits (its exit error, or
// ErrStopped).
func (a *Actor) Wait(ctx context.Context, offset int64) error {
	for {
		a.mu.Lock()
		ch := a.mu.hwmCh
		a.mu.Unlock()
		if a.hwm.Load() > offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-a.done:
			if a.hwm.Load() > offset {
				return nil
			}
			if a.err != nil {
				return a.err
			}
			return ErrStopped
		}
	}
}

// publish makes offsets below hwm visible and wakes waiters.
func (a *Actor) publish(hwm int64) {
	a.mu.Lock()
	a.hwm.Store(hwm)
	close(a.mu.hwmCh)
	a.mu.hwmCh = make(chan struct{})
	a.mu.Unlock()
}

// addTail appends an entry to the tail.
func (a *Actor) addTail(e tailEntry) {
	a.mu.Lock()
	a.mu.tail = append(a.mu.tail, e)
	a.mu.tailBytes += len(e.data)
	a.mu.Unlock()
}

// shrinkTail drops flushed entries (last < flushed) from the front
// while the tail is over TailBytes.
func (a *Actor) shrinkTail(flushed int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := 0
	for i < len(a.mu.tail) && a.mu.tail[i].last < flushed && a.mu.tailBytes > a.cfg.TailBytes {
		a.mu.tailBytes -= len(a.mu.tail[i].data)
		i++
	}
	if i > 0 {
		a.mu.tail = append(a.mu.tail[:0:0], a.mu.tail[i:]...)
	}
}

// actorInbox is the bounded inbox: push never blocks, pop hands over a
// batch of requests (nats-server ipqueue).
type actorInbox struct {
	maxRecords, maxBytes int
	signal               chan struct{} // buffered 1: "not empty"
	mu                   struct {
		sync.Mutex
		reqs           []*produceReq
		records, bytes int
		closed         error // set: push refuses with it
	}
}

func (q *actorInbox) init(maxRecords, maxBytes int) {
	q.maxRecords, q.maxBytes = maxRecords, maxBytes
	q.signal = make(chan struct{}, 1)
}

func (q *actorInbox) push(r *produceReq) error {
	q.mu.Lock()
	if err := q.mu.closed; err != nil {
		q.mu.Unlock()
		return err
	}
	if len(q.mu.reqs) > 0 && (q.mu.records+len(r.Records) > q.maxRecords || q.mu.bytes+r.bytes > q.maxBytes) {
		q.mu.Unlock()
		return ErrBusy
	}
	q.mu.reqs = append(q.mu.reqs, r)
	q.mu.records += len(r.Records)
	q.mu.bytes += r.bytes
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return nil
}

// pop moves requests of about maxBytes (at least one) into dst.
func (q *actorInbox) pop(dst []*produceReq, maxBytes int) []*produceReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.mu.reqs) && (n == 0 || size+q.mu.reqs[n].bytes <= maxBytes) {
		size += q.mu.reqs[n].bytes
		q.mu.records -= len(q.mu.reqs[n].Records)
		n++
	}
	dst = append(dst, q.mu.reqs[:n]...)
	rest := copy(q.mu.reqs, q.mu.reqs[n:]) // keep the array: no allocation per push
	clear(q.mu.reqs[rest:])
	q.mu.reqs = q.mu.reqs[:rest]
	q.mu.bytes -= size
	return dst
}

func (q *actorInbox) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.mu.reqs) == 0
}

// close refuses further pushes with err and returns what was queued.
func (q *actorInbox) close(err error) []*produceReq {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.closed == nil {
		q.mu.closed = err
	}
	reqs := q.mu.reqs
	q.mu.reqs, q.mu.records, q.mu.bytes = nil, 0, 0
	return reqs
}
