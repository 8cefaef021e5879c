package billing

import (
	"context"
	"strings"
	"testing"
	"time"
)

// hoursOf lists what the sink holds for org, as the registry would answer
// a month's query.
func (s *memSink) hoursOf(org int64) []HourUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hs []HourUsage
	for k, u := range s.usage {
		if k.org == org {
			hs = append(hs, HourUsage{Hour: k.hour, Usage: u})
		}
	}
	return hs
}

// Known traffic across a restart and a month boundary, with a lost answer
// on the way, priced to the cent.
func TestMeteringToInvoice(t *testing.T) {
	sink := newMemSink()
	clock := newFakeClock(hourAt("2026-11-30T23:30:00Z"))
	sampler := &fakeSampler{sizes: map[int64]int64{7: 100 * bytesPerGB}}
	run := func(produce, consumeBytes int64) {
		m := newTestMeter(t, sink, sampler, clock)
		m.Produced(7, produce, produce*100)
		m.Consumed(7, produce, consumeBytes)
		sink.failAfter = 1 // the first answer is lost; the retry must not count twice
		_ = m.Flush(context.Background())
		for m.Pending() > 0 {
			if err := m.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(60_000_000, 70*bytesPerGB) // November's last hour
	run(60_000_000, 40*bytesPerGB) // a restart in the same hour
	clock.Advance(time.Hour)       // December
	run(1_000_000, bytesPerGB)

	starter := mustPlan(t, "starter")
	inv, err := starter.Invoice(hourAt("2026-11-15T00:00:00Z"), sink.hoursOf(7))
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{RecordsProduced: 120_000_000, BytesProduced: 12_000_000_000, RecordsConsumed: 120_000_000,
		BytesConsumed: 110 * bytesPerGB, StorageByteHours: 100 * bytesPerGB}
	if inv.Usage != want {
		t.Fatalf("November usage %+v, want %+v", inv.Usage, want)
	}
	// 20M records over × 10c = 200; storage 100 GB-hours is within 50
	// GB-months; 10 GB consumed over × 5c = 50.
	if got := amounts(inv); got[1] != 200 || got[2] != 0 || got[3] != 50 || inv.TotalCents != 3150 {
		t.Fatalf("November invoice %v total %d", got, inv.TotalCents)
	}
	dec, err := starter.Invoice(hourAt("2026-12-01T00:00:00Z"), sink.hoursOf(7))
	if err != nil {
		t.Fatal(err)
	}
	if dec.Usage.RecordsProduced != 1_000_000 || dec.Usage.StorageByteHours != 100*bytesPerGB || dec.TotalCents != 2900 {
		t.Fatalf("December %+v total %d", dec.Usage, dec.TotalCents)
	}
}

func FuzzParsePricing(f *testing.F) {
	f.Add(defaultPricing)
	f.Add([]byte(`{"currency":"usd","default_plan":"a","plans":[{"name":"a","limits":{"topics":"unlimited"},"prices":{"per_gb_consumed_cents":0.0001}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePricing(b)
		if err != nil {
			return
		}
		if _, err := p.Plan(p.DefaultPlan); err != nil {
			t.Fatalf("valid pricing without its default plan: %v", err)
		}
		for _, plan := range p.Plans {
			if _, err := plan.Invoice(time.Now(), []HourUsage{{Hour: time.Now(), Usage: Usage{RecordsProduced: 1 << 40, BytesConsumed: 1 << 50}}}); err != nil && !strings.Contains(err.Error(), "overflows int64") {
				t.Fatalf("invoice on a valid plan: %v", err)
			}
		}
	})
}
