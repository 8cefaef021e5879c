package billing

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
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

// MaxDebt is how far Charge may take a bucket below empty, in time at the
// plan's rate: a fetch is charged after it is served, so one large fetch
// may overdraw the bucket, and the organization's next fetches wait until
// the debt is repaid; the cap bounds that wait.
const MaxDebt = 10 * time.Second

// LimitersConfig configures Limiters. The zero value is usable.
type LimitersConfig struct {
	// IdleAfter is how long an (organization, kind) bucket may go unused
	// before Sweep forgets it, if it is full by then (a full bucket is
	// what a new one is, so forgetting it changes nothing; one in debt is
	// kept). Must be at least one second, the burst window. The default
	// is one minute.
	IdleAfter time.Duration
	// MaxEntries bounds the number of buckets held. When a new bucket
	// would exceed it, full buckets idle for a second or more are
	// dropped; if none is, the least recently used bucket is dropped,
	// which refills it (memory stays bounded even under more active
	// organizations than this). The default is 100,000 (about 10 MB).
	MaxEntries int
	// Now returns the current time; tests set it. The default is time.Now.
	Now func() time.Time
	// Metrics, if set, counts refusals and buckets.
	Metrics *Metrics
}

// Limiters enforces the per-second rates of each organization's plan with
// a token bucket (golang.org/x/time/rate) per organization and kind; the
// burst is one second of the rate. Produce is admitted up front with
// Allow or AllowAll; fetch, whose size is known only once served, with
// Admit before and Charge after. Nothing blocks: a refusal carries the
// time after which the same request would pass. Safe for concurrent use;
// a call takes a map read lock and the buckets' own locks, once per
// request, never per record.
type Limiters struct {
	idleAfter  time.Duration
	maxEntries int
	now        func() time.Time
	metrics    *Metrics

	// mu guards the map; a lookup takes the read lock, only a new bucket
	// or a sweep the write lock.
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
	// mu makes a check and a take one step (AllowAll checks several
	// buckets before taking from any; Charge reads the debt before
	// adding to it). Several entries are locked in kind order.
	mu       sync.Mutex
	lim      *rate.Limiter
	limit    int64        // the plan limit the bucket was last set to; under mu
	lastUsed atomic.Int64 // unix nanoseconds of the last use
}

// minIdleAfter is the burst window: a bucket unused this long after
// taking tokens within its burst is full.
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

// Take is an amount of one rate, for AllowAll.
type Take struct {
	Kind RateKind
	N    int64
}

// Allow takes n units (bytes or records of one batch) from the
// organization's bucket for kind, sized by plan. It returns nil when the
// batch may pass; a *QuotaError of KindRate with RetryAfter when the
// bucket is short (nothing is taken); a *QuotaError of KindBatch when n is
// more than one second of the rate and can never pass. An unlimited rate
// or n <= 0 always passes. A plan change (upgrade) takes effect on the
// next call.
func (l *Limiters) Allow(org int64, plan *Plan, kind RateKind, n int64) error {
	return l.AllowAll(org, plan, Take{Kind: kind, N: n})
}

// AllowAll is Allow for several rates of one request (a produce's bytes
// and records): all are taken or none. A batch over any kind's burst is
// a KindBatch refusal (the first such kind in takes order); otherwise, if
// any bucket is short, the refusal names the kind with the longest wait
// and RetryAfter is that wait, after which the whole request passes. Each
// kind may appear once.
func (l *Limiters) AllowAll(org int64, plan *Plan, takes ...Take) error {
	type want struct {
		kind  RateKind
		limit int64
		n     int64
	}
	var ws [numRateKinds]want
	nw := 0
	var seen [numRateKinds]bool
	for _, t := range takes {
		if t.Kind >= numRateKinds {
			return fmt.Errorf("limiters: unknown rate kind %d", t.Kind)
		}
		if seen[t.Kind] {
			return fmt.Errorf("limiters: rate %s given twice", t.Kind.Quota())
		}
		seen[t.Kind] = true
		q := t.Kind.Quota()
		limit, err := plan.Limit(q)
		if err != nil {
			return fmt.Errorf("limiters: %w", err)
		}
		if limit.IsUnlimited() || t.N <= 0 {
			continue
		}
		if t.N > int64(limit) {
			l.metrics.refused(q, KindBatch)
			return &QuotaError{Quota: q, Plan: plan.Name, Limit: int64(limit), Adding: t.N, kind: KindBatch}
		}
		ws[nw] = want{t.Kind, int64(limit), t.N}
		nw++
	}
	if nw == 0 {
		return nil
	}
	held := ws[:nw]
	// Lock in kind order, so that two requests never wait on each other.
	slices.SortFunc(held, func(a, b want) int { return cmp.Compare(a.kind, b.kind) })
	var es [numRateKinds]*limiterEntry
	for i, w := range held {
		es[i] = l.entry(limiterKey{org, w.kind}, Limit(w.limit), l.now())
		es[i].mu.Lock()
	}
	defer func() {
		for i := range held {
			es[i].mu.Unlock()
		}
	}()
	now := l.now()
	var worst time.Duration
	worstAt := -1
	for i, w := range held {
		es[i].setLimitLocked(now, w.limit)
		if short := float64(w.n) - es[i].lim.TokensAt(now); short > 0 {
			if retry := retryAfter(short, w.limit); retry > worst {
				worst, worstAt = retry, i
			}
		}
	}
	if worstAt >= 0 {
		w := held[worstAt]
		q := w.kind.Quota()
		l.metrics.refused(q, KindRate)
		return &QuotaError{Quota: q, Plan: plan.Name, Limit: w.limit, Adding: w.n, RetryAfter: worst, kind: KindRate}
	}
	for i, w := range held {
		// Every bucket holds at least w.n under its lock: this succeeds.
		es[i].lim.AllowN(now, int(w.n))
	}
	return nil
}

// Admit reports whether the organization may start a request of kind
// whose size is known only afterwards (a fetch), to be paid with Charge:
// nil while the bucket holds a token, else (the bucket is empty or in
// debt) a *QuotaError of KindRate whose RetryAfter is when a token will be
// back. It takes nothing. An unlimited rate always passes.
func (l *Limiters) Admit(org int64, plan *Plan, kind RateKind) error {
	if kind >= numRateKinds {
		return fmt.Errorf("limiters: unknown rate kind %d", kind)
	}
	q := kind.Quota()
	limit, err := plan.Limit(q)
	if err != nil {
		return fmt.Errorf("limiters: %w", err)
	}
	if limit.IsUnlimited() {
		return nil
	}
	e := l.entry(limiterKey{org, kind}, limit, l.now())
	e.mu.Lock()
	defer e.mu.Unlock()
	now := l.now()
	e.setLimitLocked(now, int64(limit))
	short := 1 - e.lim.TokensAt(now)
	if short <= 0 {
		return nil
	}
	l.metrics.refused(q, KindRate)
	return &QuotaError{Quota: q, Plan: plan.Name, Limit: int64(limit), RetryAfter: retryAfter(short, int64(limit)), kind: KindRate}
}

// Charge takes n units from the organization's bucket for kind after the
// fact, letting the bucket go below empty, but never further than MaxDebt
// of the rate (the rest is forgiven, so one huge fetch cannot lock an
// organization out for long). n <= 0, an unknown kind or an unlimited
// rate charge nothing.
func (l *Limiters) Charge(org int64, plan *Plan, kind RateKind, n int64) {
	if kind >= numRateKinds || n <= 0 {
		return
	}
	limit, err := plan.Limit(kind.Quota())
	if err != nil || limit.IsUnlimited() {
		return
	}
	e := l.entry(limiterKey{org, kind}, limit, l.now())
	e.mu.Lock()
	defer e.mu.Unlock()
	now := l.now()
	e.setLimitLocked(now, int64(limit))
	floor := -MaxDebt.Seconds() * float64(limit)
	take := min(n, int64(math.Floor(e.lim.TokensAt(now)-floor)))
	// ReserveN refuses more than the burst (one second of the rate), so
	// the charge is taken in burst-sized pieces; at most MaxDebt/1s+1.
	for take > 0 {
		piece := min(take, int64(limit))
		if !e.lim.ReserveN(now, int(piece)).OK() {
			return
		}
		take -= piece
	}
}

// setLimitLocked applies a plan change to the bucket: it keeps its tokens
// (or debt), capped at the new burst. Called with e.mu held.
func (e *limiterEntry) setLimitLocked(now time.Time, limit int64) {
	if e.limit != limit {
		e.lim.SetLimitAt(now, rate.Limit(limit))
		e.lim.SetBurstAt(now, int(limit))
		e.limit = limit
	}
}

// retryAfter is how long a bucket of limit per second takes to refill
// short units, rounded up to the millisecond.
func retryAfter(short float64, limit int64) time.Duration {
	retry := time.Duration(math.Ceil(short / float64(limit) * float64(time.Second)))
	return max(retry, time.Millisecond)
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
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(limit), int(limit)), limit: int64(limit)}
		l.mu.m[key] = e
		l.metrics.setBuckets(len(l.mu.m))
	}
	e.lastUsed.Store(now.UnixNano())
	return e
}

// makeRoomLocked drops full buckets idle for the burst window; if none
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

// Sweep forgets the full buckets unused for IdleAfter and returns how
// many.
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
		// A bucket in debt is kept: a new one would forgive the debt.
		if e.lastUsed.Load() <= cutoff && e.lim.TokensAt(now) >= float64(e.lim.Burst()) {
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
