package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/account"
	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/registry"
)

// billingClock is a settable time source for the Now hooks of billing's
// Meter and Limiters and of quotas.
type billingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *billingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *billingClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// usageHour0 is the hour the usage tests meter in.
var usageHour0 = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

// forEachUsageRegistry runs f against the embedded registry and against
// PostgreSQL, each fresh.
func forEachUsageRegistry(t *testing.T, f func(t *testing.T, reg registry.Store)) {
	t.Run("embedded", func(t *testing.T) {
		reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Close() })
		f(t, reg)
	})
	t.Run("postgres", func(t *testing.T) {
		reg, err := registry.OpenPostgres(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Close() })
		f(t, reg)
	})
}

// testMeter is a Meter over reg as newMeter builds it, on clock.
func testMeter(t *testing.T, reg registry.Usage, clock *billingClock) *billing.Meter {
	t.Helper()
	cfg := meterConfig(reg, time.Hour, nil, nil)
	cfg.Now = clock.Now
	m, err := billing.NewMeter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func usageTenant(t *testing.T, reg registry.Store, name string) int64 {
	t.Helper()
	tn, err := reg.CreateTenant(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// registryHours reads the tenant's usage rows from usageHour0 on.
func registryHours(t *testing.T, reg registry.Store, tenant int64) []billing.HourUsage {
	t.Helper()
	rows, err := reg.Usage(t.Context(), tenant, usageHour0, usageHour0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return account.BillingHours(rows)
}

func wantHours(t *testing.T, what string, got []billing.HourUsage, want ...billing.HourUsage) {
	t.Helper()
	eq := func(a, b billing.HourUsage) bool { return a.Hour.Equal(b.Hour) && a.Usage == b.Usage }
	if !slices.EqualFunc(got, want, eq) {
		t.Fatalf("%s: usage rows\n got %+v\nwant %+v", what, got, want)
	}
}

// A Meter counting known amounts flushes exactly those, per tenant and
// hour, and the invoice prices exactly them.
func TestMeterUsageFlushesExactly(t *testing.T) {
	forEachUsageRegistry(t, func(t *testing.T, reg registry.Store) {
		ctx := t.Context()
		a, b := usageTenant(t, reg, "acme"), usageTenant(t, reg, "globex")
		clock := &billingClock{t: usageHour0.Add(10 * time.Minute)}
		m := testMeter(t, reg, clock)
		for range 100 {
			m.Produced(a, 3, 300)
			m.Consumed(a, 2, 150)
		}
		m.Produced(b, 1, 7)
		clock.Advance(time.Hour) // the next hour counts apart
		m.Produced(a, 5, 55)
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantHours(t, "tenant a", registryHours(t, reg, a),
			billing.HourUsage{Hour: usageHour0, Usage: billing.Usage{RecordsProduced: 300, BytesProduced: 30_000, RecordsConsumed: 200, BytesConsumed: 15_000}},
			billing.HourUsage{Hour: usageHour0.Add(time.Hour), Usage: billing.Usage{RecordsProduced: 5, BytesProduced: 55}})
		wantHours(t, "tenant b", registryHours(t, reg, b),
			billing.HourUsage{Hour: usageHour0, Usage: billing.Usage{RecordsProduced: 1, BytesProduced: 7}})

		// A flush with nothing new adds nothing.
		if err := m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		hours := registryHours(t, reg, a)
		pricing, err := billing.DefaultPricing()
		if err != nil {
			t.Fatal(err)
		}
		starter, err := pricing.Plan("starter")
		if err != nil {
			t.Fatal(err)
		}
		inv, err := starter.Invoice(usageHour0, hours)
		if err != nil {
			t.Fatal(err)
		}
		want := billing.Usage{RecordsProduced: 305, BytesProduced: 30_055, RecordsConsumed: 200, BytesConsumed: 15_000}
		if inv.Usage != want || inv.TotalCents != 2900 {
			t.Fatalf("invoice usage %+v total %d, want %+v and the base 2900", inv.Usage, inv.TotalCents, want)
		}
	})
}

// lossySink commits through the registry and then reports a failure for
// the first fail calls, as when the answer of a committed transaction is
// lost on the network.
type lossySink struct {
	inner billing.UsageSink
	mu    sync.Mutex
	fail  int
	calls int
}

func (s *lossySink) AddUsage(ctx context.Context, org int64, hour time.Time, u billing.Usage, key string) error {
	if err := s.inner.AddUsage(ctx, org, hour, u, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail > 0 {
		s.fail--
		return errors.New("connection reset after commit")
	}
	return nil
}

// A flush whose answer is lost is retried with the same keys and counted
// once; what was counted meanwhile is delivered after the retry.
func TestMeterUsageLostAnswerNotDoubleCounted(t *testing.T) {
	forEachUsageRegistry(t, func(t *testing.T, reg registry.Store) {
		ctx := t.Context()
		a, b := usageTenant(t, reg, "acme"), usageTenant(t, reg, "globex")
		clock := &billingClock{t: usageHour0}
		sink := &lossySink{inner: usageSink{reg}, fail: 2}
		m, err := billing.NewMeter(billing.MeterConfig{Sink: sink, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		m.Produced(a, 10, 1000)
		m.Consumed(b, 4, 400)
		if err := m.Flush(ctx); err == nil {
			t.Fatal("flush with lost answers reported success")
		}
		if m.Pending() != 2 {
			t.Fatalf("pending %d after the lost answers, want 2", m.Pending())
		}
		m.Produced(a, 1, 1) // counted while the retry waits
		if err := m.Flush(ctx); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if m.Pending() != 0 {
			t.Fatalf("pending %d after the retry", m.Pending())
		}
		wantHours(t, "tenant a", registryHours(t, reg, a),
			billing.HourUsage{Hour: usageHour0, Usage: billing.Usage{RecordsProduced: 11, BytesProduced: 1001}})
		wantHours(t, "tenant b", registryHours(t, reg, b),
			billing.HourUsage{Hour: usageHour0, Usage: billing.Usage{RecordsConsumed: 4, BytesConsumed: 400}})
		if sink.calls != 5 {
			t.Fatalf("sink called %d times, want 5 (2 lost, 2 retried, 1 new)", sink.calls)
		}
	})
}

// Two meters (two router processes) add up in the registry, concurrently.
func TestMeterUsageTwoMetersAddUp(t *testing.T) {
	forEachUsageRegistry(t, func(t *testing.T, reg registry.Store) {
		ctx := t.Context()
		a := usageTenant(t, reg, "acme")
		clock := &billingClock{t: usageHour0}
		m1, m2 := testMeter(t, reg, clock), testMeter(t, reg, clock)
		var wg sync.WaitGroup
		for _, m := range []*billing.Meter{m1, m2} {
			wg.Go(func() {
				for i := range 50 {
					m.Produced(a, 2, 20)
					m.Consumed(a, 1, 10)
					if i%10 == 9 {
						if err := m.Flush(ctx); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
		wg.Wait()
		wantHours(t, "two meters", registryHours(t, reg, a),
			billing.HourUsage{Hour: usageHour0, Usage: billing.Usage{RecordsProduced: 200, BytesProduced: 2000, RecordsConsumed: 100, BytesConsumed: 1000}})
	})
}

// Storage is sampled by every Meter but booked once per tenant and hour.
func TestMeterUsageStorageOncePerHour(t *testing.T) {
	forEachUsageRegistry(t, func(t *testing.T, reg registry.Store) {
		ctx := t.Context()
		a, idle := usageTenant(t, reg, "acme"), usageTenant(t, reg, "idle")
		topic, err := reg.CreateTopic(ctx, a, registry.TopicSpec{Name: "orders", Partitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := registry.PartitionID{Tenant: a, Topic: topic.ID, Partition: 0}
		for i, length := range []int64{4096, 1000} {
			first := int64(i * 10)
			err := reg.CommitSegment(ctx, registry.Segment{Partition: p, ObjectKey: fmt.Sprintf("objects/%d", i),
				Length: length, ObjectSize: length, FirstOffset: first, LastOffset: first + 9,
				MinTimestamp: 1, MaxTimestamp: 2, RecordCount: 10})
			if err != nil {
				t.Fatal(err)
			}
		}
		clock := &billingClock{t: usageHour0.Add(5 * time.Minute)}
		m1, m2 := testMeter(t, reg, clock), testMeter(t, reg, clock)
		for _, m := range []*billing.Meter{m1, m2, m1} {
			if err := m.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// A restarted process samples again in the same hour: ignored.
		if err := testMeter(t, reg, clock).Flush(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if err := m2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m1.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		wantHours(t, "storage", registryHours(t, reg, a),
			billing.HourUsage{Hour: usageHour0, Usage: billing.Usage{StorageByteHours: 5096}},
			billing.HourUsage{Hour: usageHour0.Add(time.Hour), Usage: billing.Usage{StorageByteHours: 5096}})
		wantHours(t, "tenant without segments", registryHours(t, reg, idle))
	})
}

func TestMeterUsageConversions(t *testing.T) {
	u := billing.Usage{RecordsProduced: 1, BytesProduced: 2, RecordsConsumed: 3, BytesConsumed: 4, StorageByteHours: 5}
	c := usageCounts(u)
	if c != (registry.UsageCounts{RecordsProduced: 1, BytesProduced: 2, RecordsConsumed: 3, BytesConsumed: 4, StorageByteHours: 5}) {
		t.Fatalf("usageCounts = %+v", c)
	}
	if back := account.BillingHours([]registry.HourUsageRow{{Usage: c}}); back[0].Usage != u {
		t.Fatalf("BillingHours(usageCounts(u)) = %+v, want %+v", back[0].Usage, u)
	}
	if got := account.BillingHours(nil); len(got) != 0 {
		t.Fatalf("BillingHours(nil) = %v", got)
	}
	m, err := newMeter(nil, -time.Second, nil, nil)
	if err == nil || m != nil {
		t.Fatalf("newMeter with a negative interval = %v, %v", m, err)
	}
}
