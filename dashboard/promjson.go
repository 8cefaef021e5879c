package dashboard

import (
	"math"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricPrefix selects the families the console shows: the process's own,
// not Go's runtime ones.
const metricPrefix = "streamhouse_"

// Family is one metric family in a snapshot.
type Family struct {
	Type    string   `json:"type"` // counter, gauge, histogram, summary, untyped
	Samples []Sample `json:"samples"`
}

// Sample is one series. Counters and gauges set Value; histograms set
// Count, Sum and the quantiles estimated from their buckets (as
// histogram_quantile does: linear within the bucket), NaN-free: a quantile
// with no observations is left out.
type Sample struct {
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
	Count  uint64            `json:"count,omitempty"`
	Sum    float64           `json:"sum,omitempty"`
	P50    *float64          `json:"p50,omitempty"`
	P95    *float64          `json:"p95,omitempty"`
	P99    *float64          `json:"p99,omitempty"`
}

// gatherMetrics reads g's streamhouse_ families, at most maxSeries series
// in all (the rest are dropped and truncated is true). A nil g has none.
func gatherMetrics(g prometheus.Gatherer, maxSeries int) (map[string]Family, bool, error) {
	out := map[string]Family{}
	if g == nil {
		return out, false, nil
	}
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return out, false, err
	}
	n, truncated := 0, false
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), metricPrefix) {
			continue
		}
		f := Family{Type: strings.ToLower(mf.GetType().String()), Samples: []Sample{}}
		for _, m := range mf.GetMetric() {
			if n >= maxSeries {
				truncated = true
				break
			}
			n++
			f.Samples = append(f.Samples, sampleOf(mf.GetType(), m))
		}
		out[mf.GetName()] = f
	}
	return out, truncated, nil
}

func sampleOf(t dto.MetricType, m *dto.Metric) Sample {
	var s Sample
	if len(m.GetLabel()) > 0 {
		s.Labels = make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			s.Labels[l.GetName()] = l.GetValue()
		}
	}
	switch t {
	case dto.MetricType_COUNTER:
		s.Value = m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		s.Value = m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		s.Value = m.GetUntyped().GetValue()
	case dto.MetricType_SUMMARY:
		s.Count, s.Sum = m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum()
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		s.Count, s.Sum = h.GetSampleCount(), h.GetSampleSum()
		s.P50, s.P95, s.P99 = quantile(0.5, h), quantile(0.95, h), quantile(0.99, h)
	}
	return s
}

// quantile estimates the q-quantile of h's cumulative buckets, nil when it
// has no observations. An answer in the +Inf bucket is the highest finite
// bound, as Prometheus's histogram_quantile gives.
func quantile(q float64, h *dto.Histogram) *float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return nil
	}
	buckets := h.GetBucket()
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].GetUpperBound() < buckets[j].GetUpperBound() })
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range buckets {
		ub, c := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if c >= rank {
			if math.IsInf(ub, 1) {
				return &prevBound
			}
			v := prevBound
			if c > prevCount {
				v += (ub - prevBound) * (rank - prevCount) / (c - prevCount)
			}
			return &v
		}
		prevBound, prevCount = ub, c
	}
	return &prevBound // every observation above the last bound
}
