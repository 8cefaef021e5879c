package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// newMetricsHarness is newAdminHarness with the router's metrics in a
// fresh registry.
func newMetricsHarness(t *testing.T, set func(h *harness, d *Deps)) (*harness, *prometheus.Registry, *Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := newAdminHarness(t, func(h *harness, d *Deps) {
		d.Metrics = m
		if set != nil {
			set(h, d)
		}
	})
	return h, reg, m
}

func TestMetricsProduce(t *testing.T) {
	t.Parallel()
	h, reg, m := newMetricsHarness(t, func(h *harness, _ *Deps) {
		h.prod.answer = func(_ context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
			if req.Partition == 1 {
				return &wire.ProduceResponse{Code: wire.Busy, Message: "full"}, nil
			}
			return nil, nil
		}
	})
	h.createTopic("orders", 2)
	// 2 records to partition 0 (acknowledged), 1 to partition 1 (busy):
	// only the acknowledged ones count. Payload: key + value + header.
	body := `{"records":[{"key":"ab","value":"xyz","partition":0,"headers":{"h":"v"}},` +
		`{"value":"12345","partition":0},{"value":"lost","partition":1}]}`
	if w := h.do("POST", "/api/v1/topics/orders/records", "application/json", []byte(body)); w.Code != 429 {
		t.Fatalf("produce: %d %s, want 429 (one partition busy)", w.Code, w.Body)
	}
	h.do("POST", "/api/v1/topics/nope/records", "application/json", []byte(`{"records":[{"value":1}]}`))

	if got := testutil.ToFloat64(m.produceRecords.WithLabelValues("orders")); got != 2 {
		t.Errorf("produce records = %v, want 2", got)
	}
	// "ab" + `"xyz"` as JSON is the string xyz: 2 + 3 + 1 + 1, then 5.
	if got := testutil.ToFloat64(m.produceBytes.WithLabelValues("orders")); got != 12 {
		t.Errorf("produce bytes = %v, want 12", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("http", "busy")); got != 1 {
		t.Errorf("errors{http,busy} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("http", "not_found")); got != 1 {
		t.Errorf("errors{http,not_found} = %v, want 1", got)
	}
	counts := histogramCounts(t, reg, "streamhouse_router_request_duration_seconds")
	for _, want := range []string{
		"http 429 /api/v1/topics/{topic}/records",
		"http 404 /api/v1/topics/{topic}/records",
		"http 201 /api/v1/topics",
	} {
		if counts[want] != 1 {
			t.Errorf("request duration %q: %d samples, want 1 (all: %v)", want, counts[want], counts)
		}
	}
	for k := range counts {
		if strings.Contains(k, "orders") || strings.Contains(k, "nope") {
			t.Errorf("route label %q carries a raw path", k)
		}
	}

	m.ForgetTopic("orders")
	if n := testutil.CollectAndCount(m.produceRecords); n != 0 {
		t.Errorf("after ForgetTopic: %d produce series, want 0", n)
	}
}

// histogramCounts returns the sample count of each series of a histogram
// family, keyed by its label values (sorted by label name: api, code,
// route) joined by spaces.
func histogramCounts(t *testing.T, reg *prometheus.Registry, name string) map[string]uint64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			out[strings.Join(vals, " ")] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func TestNewMetrics(t *testing.T) {
	t.Parallel()
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v; want nil, nil", m, err)
	}
	var m *Metrics // nil records nothing and does not panic
	m.produced("t", &plan{})
	m.fetched("t", 1, 1)
	m.failed(apiHTTP, wire.Busy)
	m.ForgetTopic("t")
	m.wsFrame(wsProduceRoute, time.Now(), nil)

	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil || !strings.Contains(err.Error(), "register router metrics") {
		t.Fatalf("second NewMetrics on one registry: %v, want a registration error", err)
	}
}

// lagFetch answers every fetch with the partition's high watermark from hw.
type lagFetch struct{ hw map[int32]int64 }

func (f lagFetch) Fetch(_ context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	hw, ok := f.hw[req.Partition]
	if !ok {
		return nil, wire.Errorf(wire.NotOwner, "no owner")
	}
	return &wire.FetchResponse{HighWatermark: hw, NextOffset: hw}, nil
}

func TestCellMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var topicID int64
	h := newAdminHarness(t, func(h *harness, d *Deps) {
		// Partition 0 has an owner with a live high watermark of 50;
		// partition 1 none (the registry's 0 counts).
		d.Fetch = lagFetch{hw: map[int32]int64{0: 50}}
		d.Cluster = &fakeCluster{agents: []AgentInfo{{ID: "a1", Live: true,
			Partitions: []registry.PartitionID{{Tenant: h.tenant.ID, Topic: -1, Partition: 0}}}}}
	})
	h.createTopic("orders", 3)
	top, err := h.reg.Topic(ctx, h.tenant.ID, "orders")
	if err != nil {
		t.Fatal(err)
	}
	topicID = top.ID
	h.rt.deps.Cluster.(*fakeCluster).agents[0].Partitions[0].Topic = topicID
	if err := h.reg.CommitOffsets(ctx, h.tenant.ID, "g1", []registry.GroupOffset{
		{Topic: topicID, Partition: 0, Offset: 20}, {Topic: topicID, Partition: 1, Offset: 0},
	}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	tenants := func(context.Context) ([]int64, error) { return []int64{h.tenant.ID}, nil }
	if err := h.rt.RegisterCellMetrics(reg, tenants, 0); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP streamhouse_cluster_partitions_unowned Partitions of the topic whose lease no agent holds: they take no produce requests until one does.
# TYPE streamhouse_cluster_partitions_unowned gauge
streamhouse_cluster_partitions_unowned{topic="orders"} 2
# HELP streamhouse_group_lag_records Records of a partition not yet committed by the consumer group: high watermark − committed offset (live high watermark from the owner when it answers, else the registry's).
# TYPE streamhouse_group_lag_records gauge
streamhouse_group_lag_records{group="g1",partition="0",topic="orders"} 30
streamhouse_group_lag_records{group="g1",partition="1",topic="orders"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	if err := h.rt.RegisterCellMetrics(reg, tenants, -time.Second); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative timeout: %v, want an error naming it", err)
	}
	if err := (&Router{}).RegisterCellMetrics(reg, tenants, 0); err == nil {
		t.Fatal("a router without Deps.Offsets registered cell metrics")
	}
	if err := h.rt.RegisterCellMetrics(nil, tenants, 0); err != nil {
		t.Fatalf("nil registerer: %v, want nothing done", err)
	}
}

// TestCellMetricsTimeout checks that a scrape waits at most the timeout
// for a look-up that hangs, and serves nothing of it.
func TestCellMetricsTimeout(t *testing.T) {
	t.Parallel()
	h := newAdminHarness(t, nil)
	reg := prometheus.NewRegistry()
	hang := func(ctx context.Context) ([]int64, error) { <-ctx.Done(); return nil, ctx.Err() }
	if err := h.rt.RegisterCellMetrics(reg, hang, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("scrape took %v with a 100ms timeout", d)
	}
	if len(fams) != 0 {
		t.Errorf("gathered %v from a look-up that timed out", names(fams))
	}
}

func names(fams []*dto.MetricFamily) []string {
	var out []string
	for _, f := range fams {
		out = append(out, f.GetName())
	}
	return out
}
