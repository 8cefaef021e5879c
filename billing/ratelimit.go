package billing

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateKind is one of the per-organization rates a router enforces.
type RateKind uint8

// The rates, each a token bucket per organization.
const (
	ProduceBytes RateKind = iota
	ProduceRecords
	FetchBytes
	numRateKinds
)

// Quota returns the plan quota the kind is limited by.
func (k RateKind) Quota() Quota {
	switch k {
	case ProduceBytes:
		return QuotaProduceBytesPerSecond
	case ProduceRecords:
		return QuotaProduceRecordsPerSecond
	case FetchBytes:
		return QuotaFetchBytesPerSecond
	}
	return Quota(fmt.Sprintf("rate kind %d", k))
}

// LimitersConfig configures Limiters. The zero value is usable.
type LimitersConfig struct {
	// IdleAfter is how long an (organization, kind) bucket may go unused
	// before Sweep forgets it. Must be at least one second: the burst is
	// one second of the rate, so a bucket idle that long is full again and
	// forgetting it changes nothing. The default is one minute.
	IdleAfter time.Duration
	// MaxEntries bounds the number of buckets held. When a new bucket
	// would exceed it, buckets idle for a second or more are dropped; if
	// none is, the least recently used bucket is dropped, which refills it
	// (memory stays bounded even under more active organizations than
	// this). The default is 100,000 (about 10 MB).
	MaxEntries int
	// Now returns the current time; tests set it. The default is time.Now.
	Now func() time.Time
	// Metrics, if set, counts refusals and buckets.
	Metrics *Metrics
}

// Limiters enforces the per-second rates of each organization's plan with
// a token bucket (golang.org/x/time/rate) per organization and kind; the
// burst is one second of the rate. Allow never blocks: a refusal carries
// the time after which the same batch would pass. Safe for concurrent use;
// a call takes a map read lock and the bucket's own lock, once per batch,
// never per record.
type Limiters struct {
	idleAfter  time.Duration
	maxEntries int
	now        func() time.Time
	metrics    *Metrics

	// mu guards the map; a lookup takes the read lock, only a new bucket
	// or a sweep the write lock. Each bucket has its own lock inside rate.
	mu struct {
		sync.RWMutex
		m map[limiterKey]*limiterEntry
	}
}

type limiterKey struct {
	org  int64
	kind RateKind
}

type limiterEntry struct {
	lim      *rate.Limiter
	limit    atomic.Int64 // the plan limit the bucket was last set to
	lastUsed atomic.Int64 // unix nanoseconds of the last Allow
}

// minIdleAfter is the burst window: a bucket unused this long is full.
const minIdleAfter = time.Second

// NewLimiters returns empty Limiters; it refuses an IdleAfter below one
// second or a negative MaxEntries.
func NewLimiters(cfg LimitersConfig) (*Limiters, error) {
	if cfg.IdleAfter == 0 {
		cfg.IdleAfter = time.Minute
	}
	if cfg.IdleAfter < minIdleAfter {
		return nil, fmt.Errorf("limiters: IdleAfter %s is below %s, the burst window: eviction would refill busy buckets", cfg.IdleAfter, minIdleAfter)
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("limiters: MaxEntries %d is negative", cfg.MaxEntries)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiters{idleAfter: cfg.IdleAfter, maxEntries: cfg.MaxEntries, now: cfg.Now, metrics: cfg.Metrics}
	l.mu.m = make(map[limiterKey]*limiterEntry)
	return l, nil
}

// Allow takes n units (bytes or records of one batch) from the
// organization's bucket for kind, sized by plan. It returns nil when the
// batch may pass; a *QuotaError of KindRate with RetryAfter when the
// bucket is short (nothing is taken); a *QuotaError of KindBatch when n is
// more than one second of the rate and can never pass. An unlimited rate
// or n <= 0 always passes. A plan change (upgrade) takes effect on the
// next call.
func (l *Limiters) Allow(org int64, plan *Plan, kind RateKind, n int64) error {
	if kind >= numRateKinds {
		return fmt.Errorf("limiters: unknown rate kind %d", kind)
	}
	q := kind.Quota()
	limit, err := plan.Limit(q)
	if err != nil {
		return fmt.Errorf("limiters: %w", err)
	}
	if limit.IsUnlimited() || n <= 0 {
		return nil
	}
	if n > int64(limit) {
		l.metrics.refused(q, KindBatch)
		return &QuotaError{Quota: q, Plan: plan.Name, Limit: int64(limit), Adding: n, kind: KindBatch}
	}
	now := l.now()
	e := l.entry(limiterKey{org, kind}, limit, now)
	if e.limit.Load() != int64(limit) {
		e.lim.SetLimitAt(now, rate.Limit(limit))
		e.lim.SetBurstAt(now, int(limit))
		e.limit.Store(int64(limit))
	}
	if e.lim.AllowN(now, int(n)) {
		return nil
	}
	// AllowN took nothing. The retry hint is read separately: another
	// batch may move the bucket in between, which only makes it a hint.
	short := float64(n) - e.lim.TokensAt(now)
	retry := time.Duration(math.Ceil(short / float64(limit) * float64(time.Second)))
	retry = max(retry, time.Millisecond)
	l.metrics.refused(q, KindRate)
	return &QuotaError{Quota: q, Plan: plan.Name, Limit: int64(limit), Adding: n, RetryAfter: retry, kind: KindRate}
}

// entry returns the bucket for key, creating a full one if needed.
func (l *Limiters) entry(key limiterKey, limit Limit, now time.Time) *limiterEntry {
	l.mu.RLock()
	e, ok := l.mu.m[key]
	if ok {
		e.lastUsed.Store(now.UnixNano())
		l.mu.RUnlock()
		return e
	}
	l.mu.RUnlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok = l.mu.m[key]; !ok {
		if len(l.mu.m) >= l.maxEntries {
			l.makeRoomLocked(now)
		}
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(limit), int(limit))}
		e.limit.Store(int64(limit))
		l.mu.m[key] = e
		l.metrics.setBuckets(len(l.mu.m))
	}
	e.lastUsed.Store(now.UnixNano())
	return e
}

// makeRoomLocked drops full buckets (idle for the burst window); if none
// is, it drops the least recently used one.
func (l *Limiters) makeRoomLocked(now time.Time) {
	if l.sweepLocked(now, minIdleAfter) > 0 {
		return
	}
	var oldestKey limiterKey
	oldest := int64(math.MaxInt64)
	for k, e := range l.mu.m {
		if t := e.lastUsed.Load(); t < oldest {
			oldest, oldestKey = t, k
		}
	}
	delete(l.mu.m, oldestKey)
}

// Sweep forgets the buckets unused for IdleAfter and returns how many.
func (l *Limiters) Sweep() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.sweepLocked(l.now(), l.idleAfter)
	l.metrics.setBuckets(len(l.mu.m))
	return n
}

func (l *Limiters) sweepLocked(now time.Time, idle time.Duration) int {
	cutoff := now.Add(-idle).UnixNano()
	n := 0
	for k, e := range l.mu.m {
		if e.lastUsed.Load() <= cutoff {
			delete(l.mu.m, k)
			n++
		}
	}
	return n
}

// Len returns the number of buckets held.
func (l *Limiters) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.m)
}

// Run sweeps every IdleAfter/2 until ctx is done, then returns nil. The
// caller owns it (one actor in the process's run group).
func (l *Limiters) Run(ctx context.Context) error {
	t := time.NewTicker(l.idleAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.Sweep()
		}
	}
}
