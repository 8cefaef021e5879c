package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
)

var _ router.Quotas = (*quotas)(nil)

// quotaRegistry is what quotas read; registry.Store has it.
type quotaRegistry interface {
	TenantSettings(ctx context.Context, tenant int64) (registry.TenantSettings, error)
	ListTopics(ctx context.Context, tenant int64) ([]registry.Topic, error)
	Usage(ctx context.Context, tenant int64, from, to time.Time) ([]registry.HourUsageRow, error)
	StorageBytes(ctx context.Context) (map[int64]int64, error)
}

// quotasConfig configures quotas.
type quotasConfig struct {
	reg     quotaRegistry    // required
	pricing *billing.Pricing // required
	// limiters are the process's rate limiters; the caller runs their
	// Run. nil: quotas makes its own, swept by quotas.Run.
	limiters *billing.Limiters
	log      *slog.Logger     // default: discard
	metrics  *billing.Metrics // for limiters quotas makes; may be nil
	// planTTL is how long a tenant's plan is used before it is read
	// again, so an upgrade applies within it. Default 5 s.
	planTTL time.Duration
	// usageTTL is how long the month's records read from the registry are
	// used, plus what this process admitted since. Default 5 s.
	usageTTL time.Duration
	// storageTTL is how long the stored bytes of all tenants (one registry
	// read) are used. Default 10 s.
	storageTTL time.Duration
	// maxTenants bounds the tenants whose plan and month are cached; past
	// it the least recently used is forgotten (and read again). Default
	// 10,000.
	maxTenants int
	// now is the clock of the caches and of limiters quotas makes; tests
	// set it. Default time.Now.
	now func() time.Time
}

// quotas holds each tenant of a managed cell to its plan: it implements
// router.Quotas. Counts and volumes are read from the registry through
// short caches; rates are billing.Limiters. Run owns the sweeping.
//
// records_per_month is the month's records produced as the registry had
// them at the last read (at most usageTTL old) plus what this process
// admitted since. The registry lags the usage meters by their flush
// interval, so what was admitted in the interval before a read is missing
// from it: a tenant producing at full rate at the edge of its limit may
// pass it by about one meter flush interval of its rate, per router. It
// is never refused early.
type quotas struct {
	reg         quotaRegistry
	pricing     *billing.Pricing
	fallback    *billing.Plan // the pricing's default plan
	limiters    *billing.Limiters
	ownLimiters bool // made here: Run sweeps them
	log         *slog.Logger
	now         func() time.Time
	planTTL     time.Duration
	usageTTL    time.Duration
	storageTTL  time.Duration
	maxTenants  int

	mu struct {
		sync.RWMutex
		tenants map[int64]*tenantQuota
		unknown map[string]bool // plan names not in the pricing, logged once
	}

	// storage caches StorageBytes for all tenants. One caller refreshes
	// it (a scan of every segment) while the others use the stale sizes,
	// so produce latency does not spike every storageTTL; only the first
	// read is waited for.
	storage struct {
		sync.Mutex
		sizes      map[int64]int64
		at         time.Time
		refreshing chan struct{} // closed when the refresh under way ends; nil if none
	}
}

// tenantQuota is one tenant's cached plan and month of records.
type tenantQuota struct {
	lastUsed atomic.Int64 // unix nanoseconds, for eviction
	// plan and planAt (unix nanoseconds of its read) are read without mu,
	// so fetches and charges do not wait behind a produce's refresh.
	plan   atomic.Pointer[billing.Plan]
	planAt atomic.Int64

	// mu serialises the tenant's refreshes and produce admissions, so the
	// month's check and its count are one step.
	mu        sync.Mutex
	month     time.Time // start of the month records counts
	records   int64     // the month's records produced per the registry at recordsAt
	recordsAt time.Time
	admitted  int64 // records this process admitted since recordsAt
}

// maxUnknownPlans bounds the plan names logged as unknown.
const maxUnknownPlans = 64

// quotaSweepEvery is how often Run forgets idle buckets and tenants.
const quotaSweepEvery = 30 * time.Second

// newQuotas returns quotas; the caller puts Run in the run group.
func newQuotas(cfg quotasConfig) (*quotas, error) {
	if cfg.reg == nil || cfg.pricing == nil {
		return nil, errors.New("quotas: a registry and a pricing are required")
	}
	fallback, err := cfg.pricing.Plan(cfg.pricing.DefaultPlan)
	if err != nil {
		return nil, fmt.Errorf("quotas: the pricing's default plan: %w", err)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.planTTL, 5 * time.Second}, {&cfg.usageTTL, 5 * time.Second}, {&cfg.storageTTL, 10 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return nil, fmt.Errorf("quotas: negative cache TTL %s", *d.v)
		}
	}
	if cfg.maxTenants == 0 {
		cfg.maxTenants = 10_000
	}
	if cfg.maxTenants < 0 {
		return nil, fmt.Errorf("quotas: maxTenants %d is negative", cfg.maxTenants)
	}
	q := &quotas{
		reg: cfg.reg, pricing: cfg.pricing, fallback: fallback, limiters: cfg.limiters, log: cfg.log,
		now: cfg.now, planTTL: cfg.planTTL, usageTTL: cfg.usageTTL, storageTTL: cfg.storageTTL,
		maxTenants: cfg.maxTenants,
	}
	if q.limiters == nil {
		if q.limiters, err = billing.NewLimiters(billing.LimitersConfig{Now: cfg.now, Metrics: cfg.metrics}); err != nil {
			return nil, fmt.Errorf("quotas: %w", err)
		}
		q.ownLimiters = true
	}
	q.mu.tenants = make(map[int64]*tenantQuota)
	q.mu.unknown = make(map[string]bool)
	return q, nil
}

// Run forgets idle cached tenants (and sweeps the rate limiters quotas
// made) until ctx is done, then returns nil. The caller puts it in the
// process's run group.
func (q *quotas) Run(ctx context.Context) error {
	t := time.NewTicker(quotaSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if q.ownLimiters {
				q.limiters.Sweep()
			}
			q.sweep(q.now().Add(-q.idleAfter()))
		}
	}
}

// idleAfter is how long a cached tenant outlives its use: past every TTL
// it holds nothing that is still used.
func (q *quotas) idleAfter() time.Duration {
	return max(q.planTTL, q.usageTTL, time.Minute)
}

// AdmitProduce implements router.Quotas: storage, then the month's
// records (403), then the produce rates (429, or 413 for a request larger
// than a second of a rate), taken last and all or nothing, so a refusal
// takes nothing.
func (q *quotas) AdmitProduce(ctx context.Context, tenant, records, bytes int64) error {
	if records < 0 || bytes < 0 {
		return fmt.Errorf("quotas: produce of %d records and %d bytes: negative", records, bytes)
	}
	tq := q.tenant(tenant, true)
	tq.mu.Lock()
	defer tq.mu.Unlock()
	plan, err := q.planLocked(ctx, tq, tenant)
	if err != nil {
		return err
	}
	if !plan.Limits.StorageBytes.IsUnlimited() {
		stored, err := q.storedBytes(ctx, tenant)
		if err != nil {
			return err
		}
		// Refused while at or over the limit, whatever the request's size:
		// stored bytes are compressed segments, not the produced bytes.
		if err := plan.Check(billing.QuotaStorageBytes, stored, 1); err != nil {
			return err
		}
	}
	if !plan.Limits.RecordsPerMonth.IsUnlimited() {
		used, err := q.monthRecordsLocked(ctx, tq, tenant)
		if err != nil {
			return err
		}
		if err := plan.Check(billing.QuotaRecordsPerMonth, used, records); err != nil {
			return err
		}
	}
	err = q.limiters.AllowAll(tenant, plan,
		billing.Take{Kind: billing.ProduceBytes, N: bytes}, billing.Take{Kind: billing.ProduceRecords, N: records})
	if err != nil {
		return err
	}
	tq.admitted += records
	return nil
}

// AdmitFetch implements router.Quotas: refused while the tenant's fetch
// bucket is empty or in debt.
func (q *quotas) AdmitFetch(ctx context.Context, tenant int64) error {
	plan, err := q.plan(ctx, tenant)
	if err != nil {
		return err
	}
	return q.limiters.Admit(tenant, plan, billing.FetchBytes)
}

// ChargeFetch implements router.Quotas. It must not block on the
// registry: it uses the plan AdmitFetch cached, or the default plan if the
// tenant was forgotten in between.
func (q *quotas) ChargeFetch(tenant, bytes int64) {
	plan := q.fallback
	if tq := q.tenant(tenant, false); tq != nil {
		if p := tq.plan.Load(); p != nil {
			plan = p
		}
	}
	q.limiters.Charge(tenant, plan, billing.FetchBytes, bytes)
}

// AdmitTopic implements router.Quotas: the topic's partitions against
// partitions_per_topic, then the tenant's topics against topics. Two
// creations at once may both pass at the limit; one topic over is
// accepted rather than serialising creations across routers.
func (q *quotas) AdmitTopic(ctx context.Context, tenant int64, partitions int32) error {
	plan, err := q.plan(ctx, tenant)
	if err != nil {
		return err
	}
	if partitions > 0 { // fewer is the registry's invalid input
		if err := plan.Check(billing.QuotaPartitionsPerTopic, 0, int64(partitions)); err != nil {
			return err
		}
	}
	if plan.Limits.Topics.IsUnlimited() {
		return nil
	}
	topics, err := q.reg.ListTopics(ctx, tenant)
	if err != nil {
		return fmt.Errorf("quotas: topics of tenant %d: %w", tenant, err)
	}
	return plan.Check(billing.QuotaTopics, int64(len(topics)), 1)
}

// AdmitPartitions implements router.Quotas.
func (q *quotas) AdmitPartitions(ctx context.Context, tenant int64, total int32) error {
	plan, err := q.plan(ctx, tenant)
	if err != nil {
		return err
	}
	if total <= 0 {
		return nil
	}
	return plan.Check(billing.QuotaPartitionsPerTopic, 0, int64(total))
}

// plan returns the tenant's plan, read again once planTTL old.
func (q *quotas) plan(ctx context.Context, tenant int64) (*billing.Plan, error) {
	tq := q.tenant(tenant, true)
	if p := q.freshPlan(tq); p != nil {
		return p, nil
	}
	tq.mu.Lock()
	defer tq.mu.Unlock()
	return q.planLocked(ctx, tq, tenant)
}

// planLocked is plan with tq.mu held. A plan name the pricing does not
// know (a pricing file changed under existing tenants) is the pricing's
// default plan, logged once per name.
func (q *quotas) planLocked(ctx context.Context, tq *tenantQuota, tenant int64) (*billing.Plan, error) {
	if p := q.freshPlan(tq); p != nil {
		return p, nil // read by another caller meanwhile
	}
	now := q.now()
	s, err := q.reg.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("quotas: plan of tenant %d: %w", tenant, err)
	}
	plan, err := q.pricing.Plan(s.Plan)
	if err != nil {
		plan = q.fallback
		q.logUnknownPlan(tenant, s.Plan)
	}
	tq.planAt.Store(now.UnixNano())
	tq.plan.Store(plan)
	return plan, nil
}

// freshPlan returns the tenant's cached plan if younger than planTTL.
func (q *quotas) freshPlan(tq *tenantQuota) *billing.Plan {
	p := tq.plan.Load()
	if p == nil || q.now().UnixNano()-tq.planAt.Load() >= int64(q.planTTL) {
		return nil
	}
	return p
}

func (q *quotas) logUnknownPlan(tenant int64, name string) {
	q.mu.Lock()
	first := !q.mu.unknown[name] && len(q.mu.unknown) < maxUnknownPlans
	if first {
		q.mu.unknown[name] = true
	}
	q.mu.Unlock()
	if first {
		q.log.Warn("tenant's plan is not in the pricing file; using the default plan",
			"tenant", tenant, "plan", name, "default_plan", q.fallback.Name)
	}
}

// monthRecordsLocked returns the records the tenant produced this UTC
// month: the registry's count, read again once usageTTL old or when the
// month turns, plus what this process admitted since. tq.mu is held.
func (q *quotas) monthRecordsLocked(ctx context.Context, tq *tenantQuota, tenant int64) (int64, error) {
	now := q.now()
	month := billing.MonthStart(now)
	if tq.recordsAt.IsZero() || !tq.month.Equal(month) || now.Sub(tq.recordsAt) >= q.usageTTL {
		rows, err := q.reg.Usage(ctx, tenant, month, month.AddDate(0, 1, 0))
		if err != nil {
			return 0, fmt.Errorf("quotas: records of tenant %d this month: %w", tenant, err)
		}
		var sum int64
		for _, r := range rows {
			sum = addSaturating(sum, r.Usage.RecordsProduced)
		}
		tq.month, tq.records, tq.recordsAt, tq.admitted = month, sum, now, 0
	}
	return addSaturating(tq.records, tq.admitted), nil
}

// addSaturating is a+b for non-negative counts, at most MaxInt64.
func addSaturating(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// storedBytes returns the tenant's stored bytes from a cache of all
// tenants'. Once storageTTL old, the first caller reads them again and
// the others use the old sizes meanwhile; only while there are none yet
// do they wait for the read.
func (q *quotas) storedBytes(ctx context.Context, tenant int64) (int64, error) {
	st := &q.storage
	for {
		st.Lock()
		if st.sizes != nil && (q.now().Sub(st.at) < q.storageTTL || st.refreshing != nil) {
			n := st.sizes[tenant]
			st.Unlock()
			return n, nil
		}
		if wait := st.refreshing; wait != nil {
			st.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return 0, fmt.Errorf("quotas: stored bytes: %w", ctx.Err())
			}
		}
		done := make(chan struct{})
		st.refreshing = done
		st.Unlock()

		sizes, err := q.reg.StorageBytes(ctx)
		st.Lock()
		st.refreshing = nil
		if err == nil {
			st.sizes, st.at = sizes, q.now()
		}
		st.Unlock()
		close(done)
		if err != nil {
			return 0, fmt.Errorf("quotas: stored bytes: %w", err)
		}
		return sizes[tenant], nil
	}
}

// tenant returns the tenant's cache entry; with create, a new one if
// there is none, making room past maxTenants.
func (q *quotas) tenant(tenant int64, create bool) *tenantQuota {
	now := q.now().UnixNano()
	q.mu.RLock()
	tq := q.mu.tenants[tenant]
	q.mu.RUnlock()
	if tq != nil || !create {
		if tq != nil {
			tq.lastUsed.Store(now)
		}
		return tq
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if tq = q.mu.tenants[tenant]; tq == nil {
		if len(q.mu.tenants) >= q.maxTenants {
			q.makeRoomLocked()
		}
		tq = &tenantQuota{}
		q.mu.tenants[tenant] = tq
	}
	tq.lastUsed.Store(now)
	return tq
}

// makeRoomLocked forgets the tenants idle past idleAfter or, if none is,
// the least recently used one. q.mu is held.
func (q *quotas) makeRoomLocked() {
	cutoff := q.now().Add(-q.idleAfter()).UnixNano()
	var oldest int64
	oldestAt := int64(math.MaxInt64)
	n := 0
	for id, tq := range q.mu.tenants {
		at := tq.lastUsed.Load()
		if at <= cutoff {
			delete(q.mu.tenants, id)
			n++
		} else if at < oldestAt {
			oldest, oldestAt = id, at
		}
	}
	if n == 0 {
		delete(q.mu.tenants, oldest)
	}
}

// sweep forgets the tenants unused since before.
func (q *quotas) sweep(before time.Time) {
	cutoff := before.UnixNano()
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, tq := range q.mu.tenants {
		if tq.lastUsed.Load() <= cutoff {
			delete(q.mu.tenants, id)
		}
	}
}
