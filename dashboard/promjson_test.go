package dashboard

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestQuantile(t *testing.T) {
	bucket := func(ub float64, n uint64) *dto.Bucket { return &dto.Bucket{UpperBound: &ub, CumulativeCount: &n} }
	hist := func(count uint64, b ...*dto.Bucket) *dto.Histogram {
		return &dto.Histogram{SampleCount: &count, Bucket: b}
	}
	for _, c := range []struct {
		name string
		q    float64
		h    *dto.Histogram
		want float64 // NaN: no answer
	}{
		{"empty", 0.5, hist(0, bucket(1, 0)), math.NaN()},
		{"first bucket, linear from 0", 0.5, hist(10, bucket(1, 10), bucket(2, 10)), 0.5},
		{"second bucket", 0.75, hist(4, bucket(1, 2), bucket(3, 4)), 2},
		{"in +Inf: the highest finite bound", 0.99, hist(10, bucket(1, 5), bucket(math.Inf(1), 10)), 1},
		{"unsorted buckets", 0.5, hist(4, bucket(3, 4), bucket(1, 2)), 1},
	} {
		got := quantile(c.q, c.h)
		switch {
		case math.IsNaN(c.want) && got != nil:
			t.Errorf("%s: %v, want none", c.name, *got)
		case !math.IsNaN(c.want) && (got == nil || math.Abs(*got-c.want) > 1e-9):
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestGatherMetricsLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamhouse_test_things"}, []string{"n"})
	reg.MustRegister(v)
	for _, n := range []string{"a", "b", "c"} {
		v.WithLabelValues(n).Set(1)
	}
	m, truncated, err := gatherMetrics(reg, 2)
	if err != nil || !truncated || len(m["streamhouse_test_things"].Samples) != 2 {
		t.Fatalf("%v %v %v", m, truncated, err)
	}
	if m, truncated, err = gatherMetrics(nil, 2); err != nil || truncated || len(m) != 0 {
		t.Fatalf("nil gatherer: %v %v %v", m, truncated, err)
	}
}
