package billing

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

func newTestLimiters(t *testing.T, cfg LimitersConfig) (*Limiters, *fakeClock) {
	t.Helper()
	clock := newFakeClock(t0)
	cfg.Now = clock.Now
	l, err := NewLimiters(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

func rateErr(t *testing.T, err error) *QuotaError {
	t.Helper()
	var qe *QuotaError
	if !errors.As(err, &qe) {
		t.Fatalf("want a *QuotaError, got %v", err)
	}
	return qe
}

// The free plan produces 1 MiB/s with a burst of one second: a full
// bucket passes 1 MiB at once, then refuses and says when to retry.
func TestLimitersBurstThenRetryAfter(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{})
	free := mustPlan(t, "free")
	const mib = 1 << 20
	if err := l.Allow(1, free, ProduceBytes, mib); err != nil {
		t.Fatalf("first second of burst refused: %v", err)
	}
	err := l.Allow(1, free, ProduceBytes, mib/2)
	qe := rateErr(t, err)
	if qe.Kind() != KindRate || qe.HTTPStatus() != http.StatusTooManyRequests || qe.RetryAfter != 500*time.Millisecond {
		t.Fatalf("refusal = %+v (status %d)", qe, qe.HTTPStatus())
	}
	if want := "quota produce_bytes_per_second exceeded: limit 1048576 on plan free, retry after 500ms"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	// A refusal takes nothing: after the advertised wait the batch passes.
	clock.Advance(499 * time.Millisecond)
	if err := l.Allow(1, free, ProduceBytes, mib/2); err == nil {
		t.Fatal("passed 1 ms before the advertised retry")
	}
	clock.Advance(time.Millisecond)
	if err := l.Allow(1, free, ProduceBytes, mib/2); err != nil {
		t.Fatalf("refused at the advertised retry: %v", err)
	}
	// Over ten seconds, exactly ten seconds of rate pass.
	var passed int64
	for range 10_000 {
		clock.Advance(time.Millisecond)
		if l.Allow(1, free, ProduceBytes, 4096) == nil {
			passed += 4096
		}
	}
	if passed < 10*mib-4096 || passed > 10*mib {
		t.Fatalf("passed %d bytes in 10 s, want about %d", passed, 10*mib)
	}
}

func TestLimitersKeysAreIndependent(t *testing.T) {
	l, _ := newTestLimiters(t, LimitersConfig{})
	free := mustPlan(t, "free")
	if err := l.Allow(1, free, ProduceRecords, 1000); err != nil {
		t.Fatal(err)
	}
	if err := l.Allow(1, free, ProduceRecords, 1); err == nil {
		t.Fatal("org 1 records bucket should be empty")
	}
	if err := l.Allow(2, free, ProduceRecords, 1000); err != nil {
		t.Fatalf("org 2 shares org 1's bucket: %v", err)
	}
	if err := l.Allow(1, free, FetchBytes, 2<<20); err != nil {
		t.Fatalf("fetch shares the produce bucket: %v", err)
	}
	if err := l.Allow(1, free, ProduceBytes, 1<<20); err != nil {
		t.Fatalf("bytes share the records bucket: %v", err)
	}
	if l.Len() != 4 {
		t.Fatalf("Len = %d, want 4", l.Len())
	}
}

func TestLimitersBatchLargerThanBurst(t *testing.T) {
	l, _ := newTestLimiters(t, LimitersConfig{})
	err := l.Allow(1, mustPlan(t, "free"), FetchBytes, 2<<20+1)
	qe := rateErr(t, err)
	if qe.Kind() != KindBatch || qe.HTTPStatus() != http.StatusRequestEntityTooLarge {
		t.Fatalf("refusal = %+v", qe)
	}
	if want := "quota fetch_bytes_per_second exceeded: a batch of 2097153 is more than the limit 2097152 on plan free, the most one request may carry; split it"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

func TestLimitersUnlimitedAndEmpty(t *testing.T) {
	l, _ := newTestLimiters(t, LimitersConfig{})
	unl := *mustPlan(t, "enterprise")
	unl.Limits.ProduceRecordsPerSecond = Unlimited
	for range 100 {
		if err := l.Allow(1, &unl, ProduceRecords, 1<<40); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Allow(1, mustPlan(t, "free"), ProduceRecords, 0); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 0 {
		t.Fatalf("unlimited or empty batches made %d buckets", l.Len())
	}
	if err := l.Allow(1, &unl, RateKind(9), 1); err == nil || !strings.Contains(err.Error(), "unknown rate kind 9") {
		t.Fatalf("unknown kind: %v", err)
	}
}

// An upgrade takes effect on the next batch: the bucket keeps its tokens
// and refills at the new rate up to the new burst.
func TestLimitersPlanChange(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{})
	free, starter := mustPlan(t, "free"), mustPlan(t, "starter")
	if err := l.Allow(1, free, ProduceRecords, 1000); err != nil {
		t.Fatal(err)
	}
	// 5000 is beyond free's burst (a 413) but within starter's.
	if qe := rateErr(t, l.Allow(1, free, ProduceRecords, 5000)); qe.Kind() != KindBatch {
		t.Fatalf("on free: %+v", qe)
	}
	qe := rateErr(t, l.Allow(1, starter, ProduceRecords, 5000))
	if qe.Kind() != KindRate || qe.Limit != 10_000 || qe.Plan != "starter" || qe.RetryAfter != 500*time.Millisecond {
		t.Fatalf("after upgrade: %+v", qe)
	}
	clock.Advance(500 * time.Millisecond)
	if err := l.Allow(1, starter, ProduceRecords, 5000); err != nil {
		t.Fatalf("starter rate not applied: %v", err)
	}
	// And back: a downgrade caps the bucket at the smaller burst.
	clock.Advance(10 * time.Second)
	if err := l.Allow(1, free, ProduceRecords, 1000); err != nil {
		t.Fatal(err)
	}
	if err := l.Allow(1, free, ProduceRecords, 1); err == nil {
		t.Fatal("downgrade kept starter's burst")
	}
}

func TestLimitersSweepAndBound(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{IdleAfter: time.Minute, MaxEntries: 100})
	free := mustPlan(t, "free")
	for org := range int64(50) {
		if err := l.Allow(org, free, ProduceRecords, 1); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(30 * time.Second)
	for org := int64(50); org < 80; org++ {
		_ = l.Allow(org, free, ProduceRecords, 1)
	}
	clock.Advance(30 * time.Second)
	if n := l.Sweep(); n != 50 || l.Len() != 30 {
		t.Fatalf("Sweep dropped %d, %d left; want 50 dropped, 30 left", n, l.Len())
	}

	// More organizations than MaxEntries within one second: the map stays
	// at the bound, dropping the least recently used.
	for org := int64(1000); org < 1500; org++ {
		_ = l.Allow(org, free, ProduceRecords, 1)
		clock.Advance(time.Microsecond)
		if l.Len() > 100 {
			t.Fatalf("Len %d beyond MaxEntries 100", l.Len())
		}
	}
	if err := l.Allow(1499, free, ProduceRecords, 1000); err == nil {
		t.Fatal("the most recent bucket was dropped: it still had its burst")
	}
	// Full buckets (idle a second) are dropped first, busy ones kept.
	clock.Advance(2 * time.Second)
	_ = l.Allow(7, free, ProduceRecords, 1)
	if l.Len() != 1 {
		t.Fatalf("Len = %d after a full bucket made room, want 1 (all others idle 2 s)", l.Len())
	}
}

func TestNewLimitersRefuses(t *testing.T) {
	for _, c := range []struct {
		cfg  LimitersConfig
		want string
	}{
		{LimitersConfig{IdleAfter: 500 * time.Millisecond}, "IdleAfter 500ms is below 1s"},
		{LimitersConfig{MaxEntries: -1}, "MaxEntries -1 is negative"},
	} {
		if _, err := NewLimiters(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewLimiters(%+v) = %v, want %s", c.cfg, err, c.want)
		}
	}
}

// Many routers' goroutines share one organization's bucket: exactly the
// burst passes, whatever the interleaving (run with -race).
func TestLimitersConcurrent(t *testing.T) {
	l, _ := newTestLimiters(t, LimitersConfig{MaxEntries: 16})
	free := mustPlan(t, "free")
	var passed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				org := int64(i % 4)
				if l.Allow(org, free, ProduceRecords, 1) == nil && org == 0 {
					passed.Add(1)
				}
				if g == 0 && i%500 == 0 {
					l.Sweep()
				}
			}
		})
	}
	wg.Wait()
	if passed.Load() != 1000 {
		t.Fatalf("org 0 passed %d records with the clock stopped, want its burst 1000", passed.Load())
	}
}

func TestLimitersRunSweeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := NewLimiters(LimitersConfig{IdleAfter: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()
		_ = l.Allow(1, mustPlan(t, "free"), FetchBytes, 10)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if l.Len() != 1 {
			t.Fatalf("swept before IdleAfter: Len %d", l.Len())
		}
		time.Sleep(6 * time.Second) // the sweep at 15 s sees 15 s idle
		synctest.Wait()
		if l.Len() != 0 {
			t.Fatalf("not swept after IdleAfter: Len %d", l.Len())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
