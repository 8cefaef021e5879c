package billing

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const mib = 1 << 20

// A fetch is admitted while a token is left and charged once served: a
// 5 MiB fetch on the free plan (2 MiB/s, 2 MiB burst) leaves 3 MiB of
// debt, and the next fetch waits until it is repaid.
func TestLimitersAdmitThenCharge(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{})
	free := mustPlan(t, "free")
	for range 3 {
		if err := l.Admit(1, free, FetchBytes); err != nil {
			t.Fatalf("admit on a full bucket: %v", err)
		}
	}
	// Admit took nothing: the whole burst is still there.
	if err := l.Allow(1, free, FetchBytes, 2*mib); err != nil {
		t.Fatalf("Admit took tokens: %v", err)
	}
	clock.Advance(time.Second)
	l.Charge(1, free, FetchBytes, 5*mib)
	err := l.Admit(1, free, FetchBytes)
	qe := rateErr(t, err)
	// 3 MiB of debt plus one byte at 2 MiB/s: 1.5 s and a little.
	if qe.Kind() != KindRate || qe.HTTPStatus() != http.StatusTooManyRequests ||
		qe.RetryAfter < 1500*time.Millisecond || qe.RetryAfter > 1501*time.Millisecond {
		t.Fatalf("refusal = %+v (status %d)", qe, qe.HTTPStatus())
	}
	if want := "quota fetch_bytes_per_second exceeded: limit 2097152 on plan free, retry after 1.5s"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	clock.Advance(1500 * time.Millisecond)
	if err := l.Admit(1, free, FetchBytes); err == nil {
		t.Fatal("admitted with the debt not yet repaid")
	}
	clock.Advance(time.Millisecond)
	if err := l.Admit(1, free, FetchBytes); err != nil {
		t.Fatalf("refused after the advertised wait: %v", err)
	}
	// Other organizations are not affected.
	if err := l.Admit(2, free, FetchBytes); err != nil {
		t.Fatal(err)
	}
}

// Debt is capped at MaxDebt of the rate: a 1 GiB fetch on the free plan
// costs at most ten seconds of waiting, not eight minutes.
func TestLimitersChargeDebtCapped(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{})
	free := mustPlan(t, "free")
	l.Charge(1, free, FetchBytes, 1<<30)
	qe := rateErr(t, l.Admit(1, free, FetchBytes))
	// The bucket went from +2 MiB to -20 MiB (10 s of 2 MiB/s), not to
	// -1022 MiB: 10 s and a byte until a token is back.
	if qe.RetryAfter < MaxDebt || qe.RetryAfter > MaxDebt+time.Millisecond {
		t.Fatalf("RetryAfter %s, want just over %s", qe.RetryAfter, MaxDebt)
	}
	// Charging more while at the cap adds nothing.
	l.Charge(1, free, FetchBytes, 1<<30)
	clock.Advance(MaxDebt)
	if err := l.Admit(1, free, FetchBytes); err == nil {
		t.Fatal("admitted one byte short of repaying")
	}
	clock.Advance(time.Millisecond)
	if err := l.Admit(1, free, FetchBytes); err != nil {
		t.Fatalf("debt beyond MaxDebt: %v", err)
	}
}

func TestLimitersChargeNothing(t *testing.T) {
	l, _ := newTestLimiters(t, LimitersConfig{})
	unl := *mustPlan(t, "enterprise")
	unl.Limits.FetchBytesPerSecond = Unlimited
	l.Charge(1, &unl, FetchBytes, 1<<40)
	l.Charge(1, mustPlan(t, "free"), FetchBytes, 0)
	l.Charge(1, mustPlan(t, "free"), FetchBytes, -5)
	l.Charge(1, mustPlan(t, "free"), RateKind(9), 5)
	if err := l.Admit(1, &unl, FetchBytes); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 0 {
		t.Fatalf("nothing charged, yet %d buckets", l.Len())
	}
	if err := l.Admit(1, &unl, RateKind(9)); err == nil || !strings.Contains(err.Error(), "unknown rate kind 9") {
		t.Fatalf("unknown kind: %v", err)
	}
}

// A bucket in debt is not forgotten by Sweep or to make room: a new
// bucket would forgive the debt.
func TestLimitersKeepBucketsInDebt(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{IdleAfter: time.Second, MaxEntries: 2})
	free := mustPlan(t, "free")
	l.Charge(1, free, FetchBytes, 1<<30) // 10 s of debt
	if err := l.Allow(2, free, ProduceRecords, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	// Room for org 3: org 2's bucket is full again, org 1's is not.
	if err := l.Allow(3, free, ProduceRecords, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(1, free, FetchBytes); err == nil {
		t.Fatal("making room forgave org 1's debt")
	}
	if n := l.Sweep(); n != 0 {
		t.Fatalf("Sweep dropped %d buckets, want 0 (org 1 in debt, org 3 just used)", n)
	}
	clock.Advance(7 * time.Second) // org 1 repaid and full again
	if n := l.Sweep(); n != 2 || l.Len() != 0 {
		t.Fatalf("Sweep dropped %d, %d left; want 2 and 0", n, l.Len())
	}
}

// AllowAll takes a produce's bytes and records together or not at all,
// and names the rate that holds the request back longest.
func TestLimitersAllowAll(t *testing.T) {
	l, clock := newTestLimiters(t, LimitersConfig{})
	free := mustPlan(t, "free")
	if err := l.AllowAll(1, free, Take{ProduceBytes, mib}, Take{ProduceRecords, 10}); err != nil {
		t.Fatal(err)
	}
	qe := rateErr(t, l.AllowAll(1, free, Take{ProduceRecords, 10}, Take{ProduceBytes, mib / 4}))
	if qe.Quota != QuotaProduceBytesPerSecond || qe.RetryAfter != 250*time.Millisecond {
		t.Fatalf("refusal = %+v, want produce bytes, 250ms", qe)
	}
	// The refused request took none of its records.
	if err := l.Allow(1, free, ProduceRecords, 990); err != nil {
		t.Fatalf("a refused AllowAll took records: %v", err)
	}
	// Now both are short; records (1000/s, 10 short: 10ms) wait less than
	// bytes (1 MiB/s, 1/4 MiB short: 250ms).
	qe = rateErr(t, l.AllowAll(1, free, Take{ProduceRecords, 10}, Take{ProduceBytes, mib / 4}))
	if qe.Quota != QuotaProduceBytesPerSecond || qe.RetryAfter != 250*time.Millisecond {
		t.Fatalf("refusal = %+v, want the longer wait", qe)
	}
	clock.Advance(250 * time.Millisecond)
	if err := l.AllowAll(1, free, Take{ProduceRecords, 10}, Take{ProduceBytes, mib / 4}); err != nil {
		t.Fatalf("refused after RetryAfter: %v", err)
	}

	// A batch over any burst is a 413 naming that rate's limit.
	err := l.AllowAll(1, free, Take{ProduceBytes, 10}, Take{ProduceRecords, 1001})
	qe = rateErr(t, err)
	if qe.Kind() != KindBatch || qe.HTTPStatus() != http.StatusRequestEntityTooLarge {
		t.Fatalf("refusal = %+v", qe)
	}
	if want := "quota produce_records_per_second exceeded: a batch of 1001 is more than the limit 1000 on plan free, the most one request may carry; split it"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	if err := l.AllowAll(1, free, Take{ProduceBytes, 1}, Take{ProduceBytes, 1}); err == nil ||
		!strings.Contains(err.Error(), "rate produce_bytes_per_second given twice") {
		t.Fatalf("duplicate kind: %v", err)
	}
	if err := l.AllowAll(1, free); err != nil {
		t.Fatalf("nothing to take: %v", err)
	}
}

// Concurrent charges never take a bucket past MaxDebt, and concurrent
// AllowAll calls never take a partial request (run with -race).
func TestLimitersChargeConcurrent(t *testing.T) {
	l, _ := newTestLimiters(t, LimitersConfig{})
	free := mustPlan(t, "free")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				l.Charge(1, free, FetchBytes, 3*mib)
				_ = l.Admit(1, free, FetchBytes)
				_ = l.AllowAll(2, free, Take{ProduceBytes, 1024}, Take{ProduceRecords, 1})
			}
		})
	}
	wg.Wait()
	qe := rateErr(t, l.Admit(1, free, FetchBytes))
	if qe.RetryAfter > MaxDebt+time.Millisecond {
		t.Fatalf("debt of %s, beyond MaxDebt", qe.RetryAfter)
	}
	// Org 2: records (1000) ran out before bytes (1024 requests of 1 KiB),
	// and no refused request took its bytes: exactly 24 KiB are left.
	if err := l.Allow(2, free, ProduceBytes, mib-1000*1024); err != nil {
		t.Fatalf("refused requests took bytes: %v", err)
	}
	if err := l.Allow(2, free, ProduceBytes, 1); err == nil {
		t.Fatal("more bytes left than 1000 requests leave")
	}
}
