package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
)

// quotaNow is mid-month, so that a month's rows lie before and after it.
var quotaNow = time.Date(2026, 11, 23, 20, 10, 0, 0, time.UTC)

type quotaFixture struct {
	reg    *registry.Embedded
	q      *quotas
	clock  *billingClock
	tenant int64
	logs   *lockedBuffer
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newQuotaFixture returns quotas over a fresh embedded registry with the
// repository's pricing, on a settable clock, and a tenant on the free plan.
func newQuotaFixture(t *testing.T, cfg quotasConfig) *quotaFixture {
	t.Helper()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	pricing, err := billing.DefaultPricing()
	if err != nil {
		t.Fatal(err)
	}
	f := &quotaFixture{reg: reg, clock: &billingClock{t: quotaNow}, logs: &lockedBuffer{}}
	cfg.reg, cfg.pricing, cfg.now = reg, pricing, f.clock.Now
	cfg.log = slog.New(slog.NewTextHandler(f.logs, nil))
	if f.q, err = newQuotas(cfg); err != nil {
		t.Fatal(err)
	}
	f.tenant = usageTenant(t, reg, "acme")
	return f
}

// refused fails unless err is a quota refusal with the status and a
// message containing want.
func refused(t *testing.T, err error, status int, want string) router.QuotaRefusal {
	t.Helper()
	var r router.QuotaRefusal
	if !errors.As(err, &r) {
		t.Fatalf("want a %d refusal %q, got %v", status, want, err)
	}
	if r.HTTPStatus() != status || !strings.Contains(r.Error(), want) {
		t.Fatalf("refusal %d %q, want %d containing %q", r.HTTPStatus(), r.Error(), status, want)
	}
	return r
}

func noQuotaErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// The produce rates of the free plan: 1,000 records and 1 MiB a second,
// a request over either a 413, and a refusal takes nothing.
func TestQuotaProduceRates(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, q, tn := t.Context(), f.q, f.tenant
	noQuotaErr(t, "first second", q.AdmitProduce(ctx, tn, 1000, 1000))
	r := refused(t, q.AdmitProduce(ctx, tn, 10, 1000), http.StatusTooManyRequests,
		"quota produce_records_per_second exceeded: limit 1000 on plan free, retry after 10ms")
	if r.RetryAfterDuration() != 10*time.Millisecond {
		t.Fatalf("RetryAfter %s, want 10ms", r.RetryAfterDuration())
	}
	// The refused request took no bytes: the rest of the MiB passes.
	f.clock.Advance(10 * time.Millisecond)
	noQuotaErr(t, "after RetryAfter", q.AdmitProduce(ctx, tn, 10, 1<<20-1000))
	// Both short now: records by 1 (1ms), bytes by 19,000 (18ms), which
	// names the refusal.
	r = refused(t, q.AdmitProduce(ctx, tn, 1, 20_000), http.StatusTooManyRequests,
		"quota produce_bytes_per_second exceeded: limit 1048576 on plan free")
	if r.RetryAfterDuration() < 18*time.Millisecond {
		t.Fatalf("RetryAfter %s, want the bytes' wait", r.RetryAfterDuration())
	}

	f.clock.Advance(time.Second)
	refused(t, q.AdmitProduce(ctx, tn, 1001, 10), http.StatusRequestEntityTooLarge,
		"quota produce_records_per_second exceeded: a batch of 1001 is more than the limit 1000 on plan free")
	refused(t, q.AdmitProduce(ctx, tn, 1, 1<<20+1), http.StatusRequestEntityTooLarge,
		"quota produce_bytes_per_second exceeded: a batch of 1048577 is more than the limit 1048576 on plan free")
	// Another tenant has buckets of its own.
	other := usageTenant(t, f.reg, "globex")
	noQuotaErr(t, "other tenant", q.AdmitProduce(ctx, other, 1000, 1<<20))
	if err := q.AdmitProduce(ctx, tn, -1, 0); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative records: %v", err)
	}
}

// records_per_month counts the registry's usage of this UTC month (not
// the last) plus what this process admitted since the last read.
func TestQuotaRecordsPerMonth(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{usageTTL: 5 * time.Second})
	ctx, q, tn := t.Context(), f.q, f.tenant
	thisMonth := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	lastMonth := time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
	noQuotaErr(t, "AddUsage", f.reg.AddUsage(ctx, tn, thisMonth, registry.UsageCounts{RecordsProduced: 9_999_000}, "a"))
	noQuotaErr(t, "AddUsage", f.reg.AddUsage(ctx, tn, lastMonth, registry.UsageCounts{RecordsProduced: 5_000_000}, "b"))

	noQuotaErr(t, "within the month", q.AdmitProduce(ctx, tn, 500, 500))
	refused(t, q.AdmitProduce(ctx, tn, 600, 600), http.StatusForbidden,
		"quota records_per_month exceeded: 9999500 of 10000000 used, 600 more requested on plan free")
	noQuotaErr(t, "up to the limit", q.AdmitProduce(ctx, tn, 500, 500))
	refused(t, q.AdmitProduce(ctx, tn, 1, 1), http.StatusForbidden,
		"quota records_per_month exceeded: 10000000 of 10000000 used on plan free")

	// The meter flushes what was admitted; the next read sees it.
	noQuotaErr(t, "AddUsage", f.reg.AddUsage(ctx, tn, quotaNow.Truncate(time.Hour), registry.UsageCounts{RecordsProduced: 1000}, "c"))
	f.clock.Advance(5 * time.Second)
	refused(t, q.AdmitProduce(ctx, tn, 1, 1), http.StatusForbidden,
		"quota records_per_month exceeded: 10000000 of 10000000 used on plan free")

	// A new month starts from nothing.
	f.clock.Advance(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Sub(f.clock.Now()))
	noQuotaErr(t, "next month", q.AdmitProduce(ctx, tn, 1000, 1000))
}

// Produce is refused while the stored bytes are at the plan's limit.
func TestQuotaStorageBytes(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{storageTTL: 10 * time.Second})
	ctx, q, tn := t.Context(), f.q, f.tenant
	noQuotaErr(t, "empty", q.AdmitProduce(ctx, tn, 1, 1))
	topic, err := f.reg.CreateTopic(ctx, tn, registry.TopicSpec{Name: "orders", Partitions: 1})
	noQuotaErr(t, "CreateTopic", err)
	p := registry.PartitionID{Tenant: tn, Topic: topic.ID, Partition: 0}
	for i, length := range []int64{999_999_999, 1} {
		err := f.reg.CommitSegment(ctx, registry.Segment{Partition: p, ObjectKey: fmt.Sprintf("objects/%d", i),
			Length: length, ObjectSize: length, FirstOffset: int64(i), LastOffset: int64(i),
			MinTimestamp: 1, MaxTimestamp: 1, RecordCount: 1})
		noQuotaErr(t, "CommitSegment", err)
	}
	// Cached for storageTTL.
	f.clock.Advance(9 * time.Second)
	noQuotaErr(t, "cached", q.AdmitProduce(ctx, tn, 1, 1))
	f.clock.Advance(time.Second)
	refused(t, q.AdmitProduce(ctx, tn, 1, 1), http.StatusForbidden,
		"quota storage_bytes exceeded: 1000000000 of 1000000000 used on plan free")
	// Reads are not refused, and other tenants may produce.
	noQuotaErr(t, "fetch", q.AdmitFetch(ctx, tn))
	noQuotaErr(t, "other tenant", q.AdmitProduce(ctx, usageTenant(t, f.reg, "globex"), 1, 1))
}

func TestQuotaTopicsAndPartitions(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, q, tn := t.Context(), f.q, f.tenant
	refused(t, q.AdmitTopic(ctx, tn, 5), http.StatusForbidden,
		"quota partitions_per_topic exceeded: a topic of 5 partitions is more than the limit 4 on plan free")
	for i := range 10 {
		noQuotaErr(t, "AdmitTopic", q.AdmitTopic(ctx, tn, 4))
		_, err := f.reg.CreateTopic(ctx, tn, registry.TopicSpec{Name: fmt.Sprintf("t%d", i), Partitions: 4})
		noQuotaErr(t, "CreateTopic", err)
	}
	refused(t, q.AdmitTopic(ctx, tn, 1), http.StatusForbidden, "quota topics exceeded: 10 of 10 used on plan free")
	refused(t, q.AdmitPartitions(ctx, tn, 5), http.StatusForbidden,
		"quota partitions_per_topic exceeded: a topic of 5 partitions is more than the limit 4 on plan free")
	noQuotaErr(t, "AdmitPartitions 4", q.AdmitPartitions(ctx, tn, 4))
	// Another tenant's topics do not count.
	noQuotaErr(t, "other tenant", q.AdmitTopic(ctx, usageTenant(t, f.reg, "globex"), 1))
	// Sizes the registry refuses as invalid are left to it.
	noQuotaErr(t, "zero partitions", q.AdmitPartitions(ctx, tn, 0))
}

// A fetch is admitted while the bucket holds a token and charged after:
// a 5 MiB fetch on free (2 MiB/s) leaves 1.5 s of debt.
func TestQuotaFetch(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, q, tn := t.Context(), f.q, f.tenant
	noQuotaErr(t, "AdmitFetch", q.AdmitFetch(ctx, tn))
	q.ChargeFetch(tn, 5<<20)
	r := refused(t, q.AdmitFetch(ctx, tn), http.StatusTooManyRequests,
		"quota fetch_bytes_per_second exceeded: limit 2097152 on plan free, retry after 1.5s")
	if d := r.RetryAfterDuration(); d < 1500*time.Millisecond || d > 1501*time.Millisecond {
		t.Fatalf("RetryAfter %s, want 1.5s", d)
	}
	f.clock.Advance(1501 * time.Millisecond)
	noQuotaErr(t, "after the debt", q.AdmitFetch(ctx, tn))
	// A charge for a tenant never admitted uses the default plan.
	other := usageTenant(t, f.reg, "globex")
	q.ChargeFetch(other, 3<<20)
	refused(t, q.AdmitFetch(ctx, other), http.StatusTooManyRequests, "limit 2097152 on plan free")
}

// An upgrade applies once the cached plan is planTTL old.
func TestQuotaPlanUpgrade(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{planTTL: 2 * time.Second})
	ctx, q, tn := t.Context(), f.q, f.tenant
	refused(t, q.AdmitTopic(ctx, tn, 16), http.StatusForbidden, "limit 4 on plan free")
	refused(t, q.AdmitProduce(ctx, tn, 5000, 5000), http.StatusRequestEntityTooLarge, "limit 1000 on plan free")
	_, err := f.reg.SetTenantSettings(ctx, tn, registry.TenantSettings{Plan: "starter"})
	noQuotaErr(t, "SetTenantSettings", err)
	f.clock.Advance(time.Second)
	refused(t, q.AdmitTopic(ctx, tn, 16), http.StatusForbidden, "limit 4 on plan free")
	f.clock.Advance(time.Second)
	noQuotaErr(t, "upgraded topic", q.AdmitTopic(ctx, tn, 16))
	noQuotaErr(t, "upgraded produce", q.AdmitProduce(ctx, tn, 5000, 5000))
	refused(t, q.AdmitTopic(ctx, tn, 17), http.StatusForbidden,
		"a topic of 17 partitions is more than the limit 16 on plan starter")

	// enterprise: unlimited topics, storage and records; no registry reads
	// for them, only its rates.
	_, err = f.reg.SetTenantSettings(ctx, tn, registry.TenantSettings{Plan: "enterprise"})
	noQuotaErr(t, "SetTenantSettings", err)
	f.clock.Advance(2 * time.Second)
	// The buckets keep their tokens across a plan change and fill at the
	// new rate: a second later they hold enterprise's burst.
	noQuotaErr(t, "enterprise produce", q.AdmitProduce(ctx, tn, 1, 1))
	f.clock.Advance(time.Second)
	noQuotaErr(t, "enterprise burst", q.AdmitProduce(ctx, tn, 1_000_000, 1<<20))
	refused(t, q.AdmitProduce(ctx, tn, 1, 1), http.StatusTooManyRequests, "limit 1000000 on plan enterprise")
}

// A plan the pricing file does not know is the default plan, logged once.
func TestQuotaUnknownPlan(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{planTTL: time.Second})
	ctx, q, tn := t.Context(), f.q, f.tenant
	_, err := f.reg.SetTenantSettings(ctx, tn, registry.TenantSettings{Plan: "legacy-gold"})
	noQuotaErr(t, "SetTenantSettings", err)
	for range 3 {
		refused(t, q.AdmitTopic(ctx, tn, 5), http.StatusForbidden, "limit 4 on plan free")
		f.clock.Advance(time.Second) // read again each time
	}
	if n := strings.Count(f.logs.String(), "plan=legacy-gold"); n != 1 {
		t.Fatalf("unknown plan logged %d times, want once:\n%s", n, f.logs.String())
	}
}

// The unknown plan names remembered for logging are bounded: past
// maxUnknownPlans names, new ones are no longer logged.
func TestQuotaUnknownPlanLogBounded(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, q := t.Context(), f.q
	for i := range maxUnknownPlans + 3 {
		tn := usageTenant(t, f.reg, fmt.Sprintf("org%d", i))
		_, err := f.reg.SetTenantSettings(ctx, tn, registry.TenantSettings{Plan: fmt.Sprintf("legacy%d", i)})
		noQuotaErr(t, "SetTenantSettings", err)
		refused(t, q.AdmitTopic(ctx, tn, 5), http.StatusForbidden, "limit 4 on plan free")
	}
	if n := strings.Count(f.logs.String(), "not in the pricing file"); n != maxUnknownPlans {
		t.Fatalf("%d unknown plans logged, want the bound %d", n, maxUnknownPlans)
	}
	if len(q.mu.unknown) != maxUnknownPlans {
		t.Fatalf("%d unknown plan names held, want %d", len(q.mu.unknown), maxUnknownPlans)
	}
}

// A registry failure is an error with context, not a refusal.
func TestQuotaRegistryErrors(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, q := t.Context(), f.q
	err := q.AdmitProduce(ctx, f.tenant+100, 1, 1)
	var r router.QuotaRefusal
	if !errors.Is(err, registry.ErrNotFound) || errors.As(err, &r) ||
		!strings.Contains(err.Error(), fmt.Sprintf("quotas: plan of tenant %d", f.tenant+100)) {
		t.Fatalf("unknown tenant: %v", err)
	}
	noQuotaErr(t, "warm the plan", q.AdmitFetch(ctx, f.tenant))
	_ = f.reg.Close()
	err = q.AdmitProduce(ctx, f.tenant, 1, 1)
	if err == nil || errors.As(err, &r) || !strings.Contains(err.Error(), "quotas: stored bytes") {
		t.Fatalf("closed registry: %v", err)
	}
	err = q.AdmitTopic(ctx, f.tenant, 1)
	if err == nil || errors.As(err, &r) || !strings.Contains(err.Error(), "quotas: topics of tenant") {
		t.Fatalf("closed registry: %v", err)
	}
}

// The tenant cache stays within maxTenants, and Run sweeps idle tenants.
func TestQuotaCacheBounded(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{maxTenants: 3})
	ctx, q := t.Context(), f.q
	for i := range 6 {
		tn := usageTenant(t, f.reg, fmt.Sprintf("org%d", i))
		noQuotaErr(t, "AdmitFetch", q.AdmitFetch(ctx, tn))
		f.clock.Advance(time.Millisecond)
		q.mu.RLock()
		n := len(q.mu.tenants)
		q.mu.RUnlock()
		if n > 3 {
			t.Fatalf("%d tenants cached, maxTenants 3", n)
		}
	}
	f.clock.Advance(q.idleAfter())
	q.sweep(f.clock.Now().Add(-q.idleAfter()))
	if n := len(q.mu.tenants); n != 0 {
		t.Fatalf("%d tenants left after sweeping idle ones", n)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := newQuotas(quotasConfig{reg: f.reg}); err == nil || !strings.Contains(err.Error(), "a registry and a pricing are required") {
		t.Fatalf("newQuotas without pricing: %v", err)
	}
}

// Concurrent produces of one tenant never admit past the month's limit
// (run with -race).
func TestQuotaConcurrentMonth(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, q, tn := t.Context(), f.q, f.tenant
	noQuotaErr(t, "AddUsage", f.reg.AddUsage(ctx, tn, quotaNow.Truncate(time.Hour),
		registry.UsageCounts{RecordsProduced: 10_000_000 - 500}, "k"))
	var mu sync.Mutex
	var admitted int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if q.AdmitProduce(ctx, tn, 7, 7) == nil {
					mu.Lock()
					admitted += 7
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 497 {
		t.Fatalf("admitted %d records, want 497 (71 requests of 7 within the 500 left)", admitted)
	}
}

// The cached path of a produce admission: plan, storage and month from
// the caches, then the rate buckets.
func BenchmarkQuotaAdmitProduce(b *testing.B) {
	reg, err := registry.OpenEmbedded(filepath.Join(b.TempDir(), "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = reg.Close() }()
	pricing, err := billing.DefaultPricing()
	if err != nil {
		b.Fatal(err)
	}
	// pro's counts, with rates that do not refuse: the admissions all pass.
	pro, err := pricing.Plan("pro")
	if err != nil {
		b.Fatal(err)
	}
	pro.Limits.ProduceBytesPerSecond, pro.Limits.ProduceRecordsPerSecond = 1<<40, 1<<40
	q, err := newQuotas(quotasConfig{reg: reg, pricing: pricing, planTTL: time.Hour, usageTTL: time.Hour, storageTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	tn, err := reg.CreateTenant(b.Context(), "acme")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := reg.SetTenantSettings(b.Context(), tn.ID, registry.TenantSettings{Plan: "pro"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := q.AdmitProduce(b.Context(), tn.ID, 1, 100); err != nil {
			b.Fatal(err)
		}
	}
}

// Limiters given by the caller are the ones charged, so a process's
// other users of them (and their metrics) see the same buckets.
func TestQuotaGivenLimiters(t *testing.T) {
	clock := &billingClock{t: quotaNow}
	lim, err := billing.NewLimiters(billing.LimitersConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := newQuotaFixture(t, quotasConfig{limiters: lim})
	if f.q.ownLimiters {
		t.Fatal("quotas made limiters of its own although given some")
	}
	f.q.ChargeFetch(f.tenant, 3<<20)
	free, err := f.q.pricing.Plan("free")
	if err != nil {
		t.Fatal(err)
	}
	refused(t, lim.Admit(f.tenant, free, billing.FetchBytes), http.StatusTooManyRequests, "fetch_bytes_per_second")
}

// blockingStorage holds StorageBytes of the registry it wraps until
// released, while block is set.
type blockingStorage struct {
	quotaRegistry
	block   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStorage) StorageBytes(ctx context.Context) (map[int64]int64, error) {
	if b.block.Load() {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.quotaRegistry.StorageBytes(ctx)
}

// A storage refresh does not hold up other produces: while one caller
// reads, the others use the previous sizes; only the very first read is
// waited for (and the wait ends with the caller's context).
func TestQuotaStorageRefreshDoesNotBlock(t *testing.T) {
	f := newQuotaFixture(t, quotasConfig{})
	ctx, tn := t.Context(), f.tenant
	slow := &blockingStorage{quotaRegistry: f.reg, entered: make(chan struct{}), release: make(chan struct{})}
	q, err := newQuotas(quotasConfig{reg: slow, pricing: f.q.pricing, now: f.clock.Now, storageTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	other := usageTenant(t, f.reg, "globex")
	noQuotaErr(t, "warm other's plan", q.AdmitFetch(ctx, other))

	// The first read: a caller whose context ends gives up waiting.
	slow.block.Store(true)
	first := make(chan error, 1)
	go func() { first <- q.AdmitProduce(ctx, tn, 1, 1) }()
	<-slow.entered
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.AdmitProduce(cancelled, other, 1, 1); !errors.Is(err, context.Canceled) ||
		!strings.Contains(err.Error(), "quotas: stored bytes") {
		t.Fatalf("waiting for the first read with a cancelled context: %v", err)
	}
	slow.release <- struct{}{}
	noQuotaErr(t, "first read", <-first)

	// Fill tn's storage; once the sizes are stale, one caller refreshes
	// and the others are answered from the old sizes meanwhile.
	topic, err := f.reg.CreateTopic(ctx, tn, registry.TopicSpec{Name: "orders", Partitions: 1})
	noQuotaErr(t, "CreateTopic", err)
	err = f.reg.CommitSegment(ctx, registry.Segment{Partition: registry.PartitionID{Tenant: tn, Topic: topic.ID},
		ObjectKey: "objects/0", Length: 1_000_000_000, ObjectSize: 1_000_000_000, RecordCount: 1, MinTimestamp: 1, MaxTimestamp: 1})
	noQuotaErr(t, "CommitSegment", err)
	f.clock.Advance(10 * time.Second)
	refresh := make(chan error, 1)
	go func() { refresh <- q.AdmitProduce(ctx, other, 1, 1) }()
	<-slow.entered
	noQuotaErr(t, "produce during the refresh, on the old sizes", q.AdmitProduce(ctx, tn, 1, 1))
	slow.release <- struct{}{}
	noQuotaErr(t, "refreshing caller", <-refresh)
	slow.block.Store(false)
	refused(t, q.AdmitProduce(ctx, tn, 1, 1), http.StatusForbidden,
		"quota storage_bytes exceeded: 1000000000 of 1000000000 used on plan free")
}
