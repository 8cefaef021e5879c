package billing

import (
	"sync/atomic"
	"testing"
)

// The per-batch cost on a router's hot path, from many goroutines.
func BenchmarkLimitersAllow(b *testing.B) {
	l, err := NewLimiters(LimitersConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ent := mustPlanB(b, "enterprise")
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		org := next.Add(1) % 64
		for pb.Next() {
			_ = l.Allow(org, ent, ProduceBytes, 1024)
		}
	})
}

// A produce's two rates, taken together, as the router's quotas do.
func BenchmarkLimitersAllowAll(b *testing.B) {
	l, err := NewLimiters(LimitersConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ent := mustPlanB(b, "enterprise")
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		org := next.Add(1) % 64
		for pb.Next() {
			_ = l.AllowAll(org, ent, Take{ProduceBytes, 1024}, Take{ProduceRecords, 1})
		}
	})
}

func BenchmarkMeterProduced(b *testing.B) {
	m, err := NewMeter(MeterConfig{Sink: newMemSink()})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		org := next.Add(1) % 64
		for pb.Next() {
			m.Produced(org, 100, 10_000)
		}
	})
}

func mustPlanB(b *testing.B, name string) *Plan {
	p, err := DefaultPricing()
	if err != nil {
		b.Fatal(err)
	}
	plan, err := p.Plan(name)
	if err != nil {
		b.Fatal(err)
	}
	return plan
}
