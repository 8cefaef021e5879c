package billing

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are billing's Prometheus instruments, shared by a process's
// Limiters and Meter (pass the same *Metrics to both configs):
//
//	streamhouse_billing_rate_refusals_total{quota,kind}  refused batches (kind "rate" or "batch")
//	streamhouse_billing_rate_buckets                      token buckets held
//	streamhouse_billing_meter_items_total{result}         usage items sent to the sink ("ok" or "error")
//	streamhouse_billing_meter_pending_items               items waiting for a retry
//
// A nil *Metrics records nothing. It is safe for concurrent use.
type Metrics struct {
	refusals *prometheus.CounterVec
	buckets  prometheus.Gauge
	items    *prometheus.CounterVec
	pending  prometheus.Gauge
}

// NewMetrics registers billing's instruments in reg. A nil reg returns a
// nil *Metrics: no metrics. It fails if reg already has any of them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_billing_rate_refusals_total",
			Help: "Batches refused by the per-organization rate limits, by quota and kind (rate: retry later; batch: larger than a second of the rate).",
		}, []string{"quota", "kind"}),
		buckets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamhouse_billing_rate_buckets",
			Help: "Per-organization token buckets held by the rate limiter.",
		}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_billing_meter_items_total",
			Help: "Usage items (organization and hour) sent to the usage sink, by result (ok, error).",
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamhouse_billing_meter_pending_items",
			Help: "Usage items waiting to be retried after a failed flush.",
		}),
	}
	for _, c := range []prometheus.Collector{m.refusals, m.buckets, m.items, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register billing metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) refused(q Quota, kind QuotaKind) {
	if m == nil {
		return
	}
	k := "rate"
	if kind == KindBatch {
		k = "batch"
	}
	m.refusals.WithLabelValues(string(q), k).Inc()
}

func (m *Metrics) setBuckets(n int) {
	if m != nil {
		m.buckets.Set(float64(n))
	}
}

func (m *Metrics) delivered(ok, failed, pending int) {
	if m == nil {
		return
	}
	m.items.WithLabelValues("ok").Add(float64(ok))
	m.items.WithLabelValues("error").Add(float64(failed))
	m.pending.Set(float64(pending))
}
