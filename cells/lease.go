package cells

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultLeaseTTL is the lease TTL when LeaseConfig.TTL is zero: a crashed
// agent's partitions move in about this long (the issue aims under 5 s), and
// holders renew every second.
const DefaultLeaseTTL = 3 * time.Second

// maxAgentIDLen bounds an agent id, the value of every lease it holds.
const maxAgentIDLen = 256

// LeaseConfig configures one agent's view of a cell's lease bucket.
type LeaseConfig struct {
	// Cell names the cell; its lease bucket is sh_<cell>_leases. Required,
	// see ValidateCellName.
	Cell string

	// Agent is the id written as the value of every lease this agent holds.
	// Required, at most 256 bytes. It must be unique per running agent
	// process (include a random part): two processes with one id would read
	// each other's leases as their own.
	Agent string

	// TTL is how long a lease lives unless renewed; holders renew at TTL/3.
	// It is the bucket's TTL, so every agent of a cell must use the same
	// value: OpenLeases refuses a bucket that exists with another. The
	// default is DefaultLeaseTTL; the minimum is one second.
	TTL time.Duration

	// Replicas is the bucket's replica count: 1 (the default) for the dev
	// cell, 3 on a NATS cluster.
	Replicas int

	// Logger receives lease losses and other events. The default discards.
	Logger *slog.Logger
}

// EnsureDefaults fills in the zero fields that have a default.
func (c *LeaseConfig) EnsureDefaults() {
	if c.TTL == 0 {
		c.TTL = DefaultLeaseTTL
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *LeaseConfig) validate() error {
	if err := ValidateCellName(c.Cell); err != nil {
		return err
	}
	switch {
	case c.Agent == "" || len(c.Agent) > maxAgentIDLen:
		return fmt.Errorf("invalid agent id %q: want 1 to %d bytes", c.Agent, maxAgentIDLen)
	case c.TTL < time.Second:
		return fmt.Errorf("lease TTL %s is below the minimum of 1s (JetStream's limit marker TTL is whole seconds)", c.TTL)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("lease bucket replicas %d out of range 1..5", c.Replicas)
	}
	return nil
}

// markerTTL is how long JetStream keeps the marker it writes when a lease
// expires: the lease TTL rounded up to whole seconds, the unit JetStream
// keeps. A marker also ages out with the bucket's TTL, so it lives at most
// about one TTL either way.
func markerTTL(ttl time.Duration) time.Duration {
	return (ttl + time.Second - 1) / time.Second * time.Second
}

// Leases is one agent's handle on a cell's partition leases, kept in the NATS
// KV bucket sh_<cell>_leases (DESIGN.md, Ownership, leases and fencing). The
// bucket's TTL is the lease TTL and it keeps one revision per key, so each
// renewal writes a value whose age starts at zero, and JetStream removes a
// lease nobody renewed within the TTL and leaves a marker that watchers see.
//
// A lease alone does not fence a paused holder: whoever acquires one must
// bump the partition's epoch in the registry before acting on it.
//
// Leases is safe for concurrent use.
type Leases struct {
	kv     jetstream.KeyValue
	bucket string
	agent  string
	value  []byte
	ttl    time.Duration
	log    *slog.Logger
}

// OpenLeases opens the cell's lease bucket, creating it if it does not exist.
// It fails if the bucket exists with another TTL, history or marker TTL (an
// agent configured apart from the rest of its cell), or if the server's
// JetStream predates limit markers (nats-server 2.11). It blocks on the
// server, bounded by ctx.
func OpenLeases(ctx context.Context, js jetstream.JetStream, cfg LeaseConfig) (*Leases, error) {
	cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("open leases: %w", err)
	}
	bucket := leaseBucket(cfg.Cell)
	want := jetstream.KeyValueConfig{
		Bucket:         bucket,
		Description:    "StreamHouse partition leases of cell " + cfg.Cell + ": key <tenant id>.<topic id>.<partition>, value the holding agent's id",
		History:        1,
		TTL:            cfg.TTL,
		LimitMarkerTTL: markerTTL(cfg.TTL),
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
	}
	kv, err := js.CreateKeyValue(ctx, want)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = openExistingLeaseBucket(ctx, js, want)
	}
	if err != nil {
		return nil, fmt.Errorf("open lease bucket %s: %w", bucket, err)
	}
	return &Leases{
		kv:     kv,
		bucket: bucket,
		agent:  cfg.Agent,
		value:  []byte(cfg.Agent),
		ttl:    cfg.TTL,
		log:    cfg.Logger.With("bucket", bucket, "agent", cfg.Agent),
	}, nil
}

// openExistingLeaseBucket opens a bucket that exists with a configuration
// other than want, and refuses it if the difference breaks the lease
// contract.
func openExistingLeaseBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, want.Bucket)
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.TTL() != want.TTL || st.History() != int64(want.History) || st.LimitMarkerTTL() != want.LimitMarkerTTL {
		return nil, fmt.Errorf("bucket exists with TTL %s, history %d, limit marker TTL %s; this agent wants TTL %s, history %d, limit marker TTL %s (every agent of a cell must use one lease TTL)",
			st.TTL(), st.History(), st.LimitMarkerTTL(), want.TTL, want.History, want.LimitMarkerTTL)
	}
	return kv, nil
}

// Bucket is the name of the lease bucket, sh_<cell>_leases.
func (l *Leases) Bucket() string { return l.bucket }

// Agent is the agent id this handle acquires leases as.
func (l *Leases) Agent() string { return l.agent }

// TTL is the lease TTL.
func (l *Leases) TTL() time.Duration { return l.ttl }

// maxAcquireAttempts bounds Acquire's retries when the lease changes hands
// between its write and its read of the holder.
const maxAcquireAttempts = 3

// Acquire takes the lease on key for this agent with a KV Create, which
// succeeds only if the key has no live value. The lease then lives for the
// TTL unless renewed (Renew, or KeepAlive). If any agent, this one included,
// holds the lease, Acquire returns a *LeaseHeldError naming the holder
// (errors.Is(err, ErrLeaseHeld)). Of concurrent Acquires on one key, exactly
// one succeeds.
//
// It blocks on the server, bounded by ctx. If ctx ends after the server
// applied the Create, the lease is held but nobody has it; it expires after
// the TTL.
func (l *Leases) Acquire(ctx context.Context, key LeaseKey) (*Lease, error) {
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	k := key.String()
	for attempt := 1; ; attempt++ {
		sent := time.Now()
		rev, err := l.kv.Create(ctx, k, l.value)
		if err == nil {
			l.log.Debug("lease acquired", "key", k, "revision", rev)
			return newLease(l, key, rev, sent.Add(l.ttl)), nil
		}
		if !isRevisionConflict(err) {
			return nil, fmt.Errorf("acquire lease %s: %w", key, err)
		}
		e, err := l.kv.Get(ctx, k)
		switch {
		case err == nil:
			return nil, &LeaseHeldError{Key: key, Holder: string(e.Value()), Revision: e.Revision()}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, fmt.Errorf("acquire lease %s: read holder: %w", key, err)
		case attempt == maxAcquireAttempts:
			return nil, &LeaseHeldError{Key: key}
		}
		// Released or expired between the Create and the Get: try again.
	}
}

// Holder returns the agent id holding the lease on key and the lease's
// revision, or "" and 0 if nobody holds it. It blocks on the server, bounded
// by ctx.
func (l *Leases) Holder(ctx context.Context, key LeaseKey) (string, uint64, error) {
	if err := key.Validate(); err != nil {
		return "", 0, fmt.Errorf("read lease holder: %w", err)
	}
	e, err := l.kv.Get(ctx, key.String())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read lease holder %s: %w", key, err)
	}
	return string(e.Value()), e.Revision(), nil
}

// leaseState is where a Lease is in its life: held, then lost or released.
type leaseState uint8

const (
	leaseHeld leaseState = iota
	leaseLost
	leaseReleased
)

// Lease is a lease this agent acquired. Renew keeps it (KeepAlive renews it
// on schedule), Release hands it back; Lost is closed once it is known lost.
// Its methods are safe for concurrent use; Renew and Release are serialised,
// so that a renewal never makes a concurrent release miss its revision.
type Lease struct {
	leases *Leases
	key    LeaseKey
	k      string

	ops  chan struct{} // a one-slot semaphore held across each KV write
	lost chan struct{} // closed when the lease is lost
	done chan struct{} // closed when the lease is lost or released

	mu struct {
		sync.Mutex
		rev        uint64
		validUntil time.Time
		state      leaseState
		lostErr    error
	}
}

func newLease(l *Leases, key LeaseKey, rev uint64, validUntil time.Time) *Lease {
	ls := &Lease{
		leases: l,
		key:    key,
		k:      key.String(),
		ops:    make(chan struct{}, 1),
		lost:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	ls.mu.rev = rev
	ls.mu.validUntil = validUntil
	return ls
}

// Key is the partition the lease is on.
func (ls *Lease) Key() LeaseKey { return ls.key }

// Revision is the lease's current KV revision, which moves at each renewal.
func (ls *Lease) Revision() uint64 {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.mu.rev
}

// ValidUntil is a conservative local deadline: the TTL counted from when the
// last successful write (acquire or renewal) was sent. The server cannot
// expire the lease before it; past it, the holder must assume the lease lost.
// It relies on the server's clock not jumping forward.
func (ls *Lease) ValidUntil() time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.mu.validUntil
}

// Lost is closed once the lease is known lost, by Renew, Release or
// KeepAlive. It is never closed for a lease released by its holder.
func (ls *Lease) Lost() <-chan struct{} { return ls.lost }

// Renew extends the lease by a TTL from now, with a KV Update on its last
// revision. If the revision moved or the key is gone (the lease expired, and
// maybe someone else took it), it returns an error wrapping ErrLeaseLost and
// closes Lost. After Release it returns ErrLeaseReleased. Other errors
// (network, ctx) leave the lease held until ValidUntil; try again.
//
// It blocks on the server, and while another Renew or Release of this lease
// runs, bounded by ctx. A renewal whose outcome is unknown (ctx ended after
// the server applied it) makes the next one fail with ErrLeaseLost: an
// ambiguous renewal can cost the lease, never give it two holders.
func (ls *Lease) Renew(ctx context.Context) error {
	if err := ls.lockOps(ctx); err != nil {
		return fmt.Errorf("renew lease %s: %w", ls.key, err)
	}
	defer ls.unlockOps()

	ls.mu.Lock()
	rev, state, lostErr := ls.mu.rev, ls.mu.state, ls.mu.lostErr
	ls.mu.Unlock()
	switch state {
	case leaseReleased:
		return fmt.Errorf("renew lease %s: %w", ls.key, ErrLeaseReleased)
	case leaseLost:
		return fmt.Errorf("renew lease %s: %w", ls.key, lostErr)
	}

	sent := time.Now()
	newRev, err := ls.leases.kv.Update(ctx, ls.k, ls.leases.value, rev)
	if err != nil {
		if isRevisionConflict(err) {
			lost := ls.markLost(fmt.Errorf("revision %d is no longer current: %w", rev, ErrLeaseLost))
			return fmt.Errorf("renew lease %s: %w", ls.key, lost)
		}
		return fmt.Errorf("renew lease %s: %w", ls.key, err)
	}
	ls.mu.Lock()
	ls.mu.rev = newRev
	ls.mu.validUntil = sent.Add(ls.leases.ttl)
	ls.mu.Unlock()
	return nil
}

// Release hands the lease back at once, with a KV Delete on its last
// revision, so that another agent can acquire it without waiting for the TTL;
// watchers see it released. It ends KeepAlive. Releasing a released lease
// does nothing. If the revision moved, nothing is deleted and the error wraps
// ErrLeaseLost. On other errors (network, ctx) the lease is still held and
// expires after the TTL unless renewed; Release may be called again.
//
// It blocks on the server, and while a Renew of this lease runs, bounded by
// ctx. A lease already known lost is still released if its key turns out to
// be unchanged.
func (ls *Lease) Release(ctx context.Context) error {
	if err := ls.lockOps(ctx); err != nil {
		return fmt.Errorf("release lease %s: %w", ls.key, err)
	}
	defer ls.unlockOps()

	ls.mu.Lock()
	rev, state := ls.mu.rev, ls.mu.state
	ls.mu.Unlock()
	if state == leaseReleased {
		return nil
	}
	err := ls.leases.kv.Delete(ctx, ls.k, jetstream.LastRevision(rev))
	if err != nil {
		if isRevisionConflict(err) {
			lost := ls.markLost(fmt.Errorf("revision %d is no longer current: %w", rev, ErrLeaseLost))
			return fmt.Errorf("release lease %s: %w", ls.key, lost)
		}
		return fmt.Errorf("release lease %s: %w", ls.key, err)
	}
	ls.mu.Lock()
	wasHeld := ls.mu.state == leaseHeld
	ls.mu.state = leaseReleased
	ls.mu.Unlock()
	if wasHeld {
		close(ls.done)
	}
	ls.leases.log.Debug("lease released", "key", ls.k, "revision", rev)
	return nil
}

// markLost records that the lease is lost for the reason err (which wraps
// ErrLeaseLost), closes Lost once, and returns the first recorded reason.
func (ls *Lease) markLost(err error) error {
	ls.mu.Lock()
	if ls.mu.state != leaseHeld {
		first := ls.mu.lostErr
		ls.mu.Unlock()
		if first == nil { // released meanwhile
			return err
		}
		return first
	}
	ls.mu.state = leaseLost
	ls.mu.lostErr = err
	ls.mu.Unlock()
	close(ls.lost)
	close(ls.done)
	ls.leases.log.Warn("lease lost", "key", ls.k, "err", err)
	return err
}

func (ls *Lease) lockOps(ctx context.Context) error {
	select {
	case ls.ops <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ls *Lease) unlockOps() { <-ls.ops }
