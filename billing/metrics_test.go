package billing

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil || !strings.Contains(err.Error(), "register billing metrics") {
		t.Fatalf("second registration: %v", err)
	}
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Fatalf("nil registry: %v, %v", m, err)
	}

	l, clock := newTestLimiters(t, LimitersConfig{Metrics: m})
	free := mustPlan(t, "free")
	_ = l.Allow(1, free, ProduceRecords, 1000)
	_ = l.Allow(1, free, ProduceRecords, 1)    // rate
	_ = l.Allow(2, free, ProduceRecords, 1001) // batch: no bucket made
	if got := testutil.ToFloat64(m.refusals.WithLabelValues("produce_records_per_second", "rate")); got != 1 {
		t.Fatalf("rate refusals %v", got)
	}
	if got := testutil.ToFloat64(m.refusals.WithLabelValues("produce_records_per_second", "batch")); got != 1 {
		t.Fatalf("batch refusals %v", got)
	}
	if got := testutil.ToFloat64(m.buckets); got != 1 {
		t.Fatalf("buckets %v", got)
	}

	sink := newMemSink()
	meter, err := NewMeter(MeterConfig{Sink: sink, Now: clock.Now, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	meter.Produced(1, 1, 1)
	meter.Produced(2, 1, 1)
	sink.failBefore = 1
	_ = meter.Flush(t.Context())
	if ok, bad, pending := testutil.ToFloat64(m.items.WithLabelValues("ok")), testutil.ToFloat64(m.items.WithLabelValues("error")), testutil.ToFloat64(m.pending); ok != 1 || bad != 1 || pending != 1 {
		t.Fatalf("after a failed item: ok %v error %v pending %v", ok, bad, pending)
	}
	if err := meter.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, pending := testutil.ToFloat64(m.items.WithLabelValues("ok")), testutil.ToFloat64(m.pending); ok != 2 || pending != 0 {
		t.Fatalf("after the retry: ok %v pending %v", ok, pending)
	}
}
