package objectstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gathered returns every sample in reg as "name{label=value,...}" → value;
// a histogram gives its sample count under its own name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := fam.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsMove(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := WithMetrics(NewMem(), reg, "seg")
	ctx := t.Context()

	mustPut(t, s, "a", []byte("12345"))        // 5 bytes written
	_ = s.PutIfAbsent(ctx, "a", []byte("xx"))  // precondition_failed, not written
	_ = s.PutIfAbsent(ctx, "b", []byte("123")) // 3 bytes written
	mustGet(t, s, "a", []byte("12345"))        // 5 bytes read
	_, _ = s.Get(ctx, "missing")               // not_found
	_, _ = s.GetRange(ctx, "a", 1, 2)          // 2 bytes read
	_, _ = s.GetRange(ctx, "a", 9, 2)          // error: invalid range
	_ = s.Put(ctx, "bad//key", nil)            // error: invalid key
	_, _ = s.List(ctx, "")
	_ = s.Delete(ctx, "a")

	got := gathered(t, reg)
	ops := func(op, result string) string {
		return fmt.Sprintf("streamhouse_objectstore_operations_total{op=%s,result=%s,store=seg}", op, result)
	}
	dur := func(op string) string {
		return fmt.Sprintf("streamhouse_objectstore_operation_duration_seconds{op=%s,store=seg}", op)
	}
	for key, want := range map[string]float64{
		ops("put", "ok"): 1, ops("put", "error"): 1, ops("put", "not_found"): 0,
		ops("put-if-absent", "ok"): 1, ops("put-if-absent", "precondition_failed"): 1,
		ops("get", "ok"): 1, ops("get", "not_found"): 1, ops("get", "error"): 0,
		ops("get-range", "ok"): 1, ops("get-range", "error"): 1,
		ops("list", "ok"): 1, ops("delete", "ok"): 1,
		dur("put"): 2, dur("put-if-absent"): 2, dur("get"): 2, dur("get-range"): 2, dur("list"): 1, dur("delete"): 1,
		"streamhouse_objectstore_bytes_total{direction=written,store=seg}": 8,
		"streamhouse_objectstore_bytes_total{direction=read,store=seg}":    7,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestMetricsStoresShareARegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := WithMetrics(NewMem(), reg, "a")
	b := WithMetrics(NewMem(), reg, "b") // must not panic
	mustPut(t, a, "k", []byte("x"))
	mustPut(t, b, "k", []byte("x"))
	mustPut(t, b, "k", []byte("x"))
	got := gathered(t, reg)
	if a, b := got["streamhouse_objectstore_operations_total{op=put,result=ok,store=a}"],
		got["streamhouse_objectstore_operations_total{op=put,result=ok,store=b}"]; a != 1 || b != 2 {
		t.Fatalf("puts: a=%v b=%v, want 1 and 2", a, b)
	}
	// Without a registry the wrapper still works.
	mustPut(t, WithMetrics(NewMem(), nil, "c"), "k", []byte("x"))
}
