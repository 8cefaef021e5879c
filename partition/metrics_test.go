package partition

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamhouse/streamhouse/registry"
)

// histogram returns a histogram's sample count and sum.
func histogram(t *testing.T, h prometheus.Histogram) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestActorMetrics(t *testing.T) {
	t.Parallel()
	for _, d := range []registry.Durability{registry.DurabilityWAL, registry.DurabilityObject} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newActorEnv(t, d)
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			cfg := e.config(d)
			cfg.Metrics = m
			if d == registry.DurabilityObject {
				cfg.FlushAge = 1 // object mode acknowledges at the flush
			}
			a := e.start(cfg)
			if _, err := a.Produce(ctx, plainReq("a", "b", "c")); err != nil {
				t.Fatal(err)
			}
			if n, sum := histogram(t, m.batchRecords); n != 1 || sum != 3 {
				t.Errorf("batch records: %d samples, sum %v; want 1 group of 3", n, sum)
			}
			backlog := testutil.ToFloat64(m.walBacklog)
			if d == registry.DurabilityWAL && backlog <= 0 {
				t.Errorf("WAL backlog %v with an acknowledged, unflushed group; want > 0", backlog)
			}
			if d == registry.DurabilityObject && backlog != 0 {
				t.Errorf("WAL backlog %v in object mode; want 0", backlog)
			}
			if err := a.Stop(ctx); err != nil { // flushes
				t.Fatal(err)
			}
			objs, err := e.store.List(ctx, "seg/")
			if err != nil || len(objs) != 1 {
				t.Fatalf("segments: %v, %v; want one", objs, err)
			}
			if n, sum := histogram(t, m.flushBytes); n != 1 || sum != float64(objs[0].Size) {
				t.Errorf("flush bytes: %d samples, sum %v; want 1 of %d", n, sum, objs[0].Size)
			}
			if n, sum := histogram(t, m.flushDuration); n != 1 || sum <= 0 {
				t.Errorf("flush duration: %d samples, sum %v; want 1 above 0", n, sum)
			}
			if v := testutil.ToFloat64(m.walBacklog); v != 0 {
				t.Errorf("WAL backlog %v after the flush; want 0", v)
			}
		})
	}
}

func TestNewMetrics(t *testing.T) {
	t.Parallel()
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v; want nil, nil", m, err)
	}
	var m *Metrics
	m.batch(1) // nil records nothing
	m.flush(1, 1)
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil || !strings.Contains(err.Error(), "register partition metrics") {
		t.Fatalf("second NewMetrics on one registry: %v, want a registration error", err)
	}
}
