package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/ops"
	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// series names one metric family and, optionally, labels its samples must
// carry.
type series struct {
	name   string
	labels map[string]string
}

func (s series) String() string {
	if len(s.labels) == 0 {
		return s.name
	}
	var kv []string
	for k, v := range s.labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return s.name + "{" + strings.Join(kv, ",") + "}"
}

// movingMetrics are the metrics of issue 4 that an end-to-end produce and
// consume must move (counters and histograms grow, gauges leave zero).
var movingMetrics = []series{
	{"streamhouse_produce_records_total", map[string]string{"topic": "metered"}},
	{"streamhouse_produce_bytes_total", map[string]string{"topic": "metered"}},
	{"streamhouse_fetch_records_total", map[string]string{"topic": "metered"}},
	{"streamhouse_fetch_bytes_total", map[string]string{"topic": "metered"}},
	{"streamhouse_router_request_duration_seconds", map[string]string{"api": "http", "route": "/api/v1/topics/{topic}/records", "code": "200"}},
	{"streamhouse_router_request_duration_seconds", map[string]string{"api": "grpc", "route": "/streamhouse.v1.ConsumerService/Fetch", "code": "OK"}},
	{"streamhouse_router_request_duration_seconds", map[string]string{"api": "ws", "route": "/ws/produce", "code": "ok"}},
	{"streamhouse_router_errors_total", map[string]string{"api": "http", "kind": "not_found"}},
	{"streamhouse_router_errors_total", map[string]string{"api": "grpc", "kind": "not_found"}},
	{"streamhouse_objectstore_operations_total", map[string]string{"op": "put", "result": "ok"}},
	{"streamhouse_objectstore_operation_duration_seconds", map[string]string{"op": "put"}},
	{"streamhouse_agent_partitions_owned", nil},
	{"streamhouse_agent_lease_acquisitions_total", nil},
	{"streamhouse_group_lag_records", map[string]string{"group": "lagging", "topic": "metered"}},
	{"streamhouse_partition_batch_records", nil},
	{"streamhouse_partition_flush_bytes", nil},
	{"streamhouse_partition_flush_duration_seconds", nil},
	{"streamhouse_partition_wal_backlog_bytes", nil},
}

// cacheMetrics move when a restarted cell reads committed segments from
// object storage, once to load them and once from memory.
var cacheMetrics = []series{
	{"streamhouse_partition_cache_hits_total", nil},
	{"streamhouse_partition_cache_misses_total", nil},
	{"streamhouse_partition_cache_bytes", nil},
}

// TestMetricsEndToEnd runs a dev cell, produces and consumes over every
// API, and checks that /metrics parses as Prometheus text and that every
// metric of movingMetrics moved; then restarts it, reads everything back
// from object storage and checks cacheMetrics. The ops/ dashboards and
// alert rules are then checked against the families the cell serves.
func TestMetricsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cell := startDev(t, dir)
	before := cell.scrape(t)

	cell.post(t, "/api/v1/topics", `{"name":"metered","partitions":2}`, http.StatusCreated)
	want := cell.produce(t, "metered", 0, 40)
	for k, v := range cell.produceWS(t, "metered", "over-websocket") {
		want[k] = v
	}
	cell.readAll(t, "metered", 2, want)
	cell.consumeWS(t, "metered", 0)
	cell.post(t, "/api/v1/topics/missing/records", `{"records":[{"value":1}]}`, http.StatusNotFound)
	if _, err := cell.grpc.Fetch(context.Background(), &streamhousev1.FetchRequest{Topic: "missing"}); err == nil {
		t.Fatal("fetch of a missing topic succeeded")
	}

	// Group lag: commit everything of partition 0, produce more, and the
	// lag of (lagging, metered, 0) is what was produced since.
	hw := int64(0)
	for at := range want {
		if at.partition == 0 {
			hw = max(hw, at.offset+1)
		}
	}
	if _, err := cell.grpc.CommitOffsets(context.Background(), &streamhousev1.CommitOffsetsRequest{
		Group: "lagging", Offsets: []*streamhousev1.PartitionOffset{{Topic: "metered", Partition: 0, Offset: hw}},
	}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	more := cell.produce(t, "metered", 40, 30)
	// The WAL backlog is acknowledged records not yet in a segment: right
	// after a produce, before the flush (1 s), it is above 0.
	backlog := cell.scrape(t)
	for k, v := range more {
		want[k] = v
	}
	wantLag := 0.0
	for at := range more {
		if at.partition == 0 {
			wantLag++
		}
	}
	if wantLag == 0 {
		t.Fatal("no record of the second produce went to partition 0; pick other keys")
	}

	// Segments flush in the background: poll until a put is counted.
	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = cell.scrape(t)
		if value(after, series{"streamhouse_objectstore_operations_total", map[string]string{"op": "put", "result": "ok"}}) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no object-store put counted within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, s := range movingMetrics {
		b, a := value(before, s), value(after, s)
		if s.name == "streamhouse_partition_wal_backlog_bytes" {
			a = value(backlog, s) // back to 0 after the flush
		}
		if !(a > b) {
			t.Errorf("%v did not move: %v before, %v after", s, b, a)
		}
	}
	lag := series{"streamhouse_group_lag_records", map[string]string{"group": "lagging", "topic": "metered", "partition": "0"}}
	if got := value(after, lag); got != wantLag {
		t.Errorf("%v = %v, want %v", lag, got, wantLag)
	}
	unowned := series{"streamhouse_cluster_partitions_unowned", map[string]string{"topic": "metered"}}
	if n, v := len(samples(after, unowned)), value(after, unowned); n != 1 || v != 0 {
		t.Errorf("%v: %d samples, value %v; want one, 0 (the agent owns both partitions)", unowned, n, v)
	}
	produced := series{"streamhouse_produce_records_total", map[string]string{"topic": "metered"}}
	if got := value(after, produced); got != 71 {
		t.Errorf("%v = %v, want 71 (40 + 1 over WebSocket + 30)", produced, got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}

	// A restarted cell reads the committed segments from object storage,
	// through the segment cache: misses first, hits the second time.
	cell.stop(t)
	cell = startDev(t, dir)
	cell.readAll(t, "metered", 2, want)
	cell.readAll(t, "metered", 2, want)
	restarted := cell.scrape(t)
	for _, s := range cacheMetrics {
		if v := value(restarted, s); !(v > 0) {
			t.Errorf("%v = %v after reading committed segments twice, want > 0", s, v)
		}
	}
	for name, f := range restarted {
		after[name] = f
	}
	checkOpsQueries(t, after)
}

// samples returns the samples of s's family that carry s's labels.
func samples(fams map[string]*dto.MetricFamily, s series) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fams[s.name].GetMetric() {
		if hasLabels(m, s.labels) {
			out = append(out, m)
		}
	}
	return out
}

// checkOpsQueries checks that every StreamHouse metric the dashboards and
// alert rules of ops/ name is a family the cell serves (a histogram's
// _bucket, _sum and _count series count as their family).
func checkOpsQueries(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	qs, err := ops.Queries()
	if err != nil {
		t.Fatal(err)
	}
	isHistogram := func(name string) bool {
		f := fams[name]
		return f != nil && f.GetType() == dto.MetricType_HISTOGRAM
	}
	checked := map[string]bool{}
	for _, q := range qs {
		for _, name := range ops.MetricNames(q.Expr) {
			family := ops.Family(name, isHistogram)
			if fams[family] == nil {
				t.Errorf("%s, %q: %s is not a metric the cell serves", q.File, q.Where, name)
			}
			checked[family] = true
		}
	}
	for _, s := range movingMetrics {
		if !checked[s.name] {
			t.Errorf("%s is on no dashboard and in no alert", s.name)
		}
	}
}

// scrape fetches /metrics and parses it with Prometheus's text parser.
func (c *devCell) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(c.http + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums s's samples: a counter's or gauge's value, a histogram's
// count. An absent family is 0.
func value(fams map[string]*dto.MetricFamily, s series) float64 {
	f := fams[s.name]
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		if !hasLabels(m, s.labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

// consumeWS reads one record of the partition over /ws/consume.
func (c *devCell) consumeWS(t *testing.T, topic string, partition int) {
	t.Helper()
	url := fmt.Sprintf("ws%s/ws/consume?topic=%s&partition=%d&offset=earliest", strings.TrimPrefix(c.http, "http"), topic, partition)
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var rec struct {
		Offset *int64 `json:"offset"`
	}
	if err := conn.ReadJSON(&rec); err != nil || rec.Offset == nil {
		t.Fatalf("websocket consume: %+v, %v", rec, err)
	}
}

// TestAgentAndRouterMetrics runs `streamhouse agent` and `streamhouse
// router` as production does (PostgreSQL, a file store, NATS) and checks
// that each serves its own part on /metrics: the router what it produced,
// the agent (on its health listener) what it owns and wrote.
func TestAgentAndRouterMetrics(t *testing.T) {
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	env := envOf(map[string]string{
		"STREAMHOUSE_NATS_URL":     ns.ClientURL(),
		"STREAMHOUSE_REGISTRY":     pgtest.URL(t),
		"STREAMHOUSE_OBJECT_STORE": "file:" + t.TempDir(),
		"STREAMHOUSE_CELL":         "mtest",
		"STREAMHOUSE_LOG_LEVEL":    "warn",
		"STREAMHOUSE_AUTH":         "off", // a trusted test network
	})
	agent := startPart(t, "agent", runAgent, env, "--agent-id", "m1", "--lease-ttl", "1s", "--health-addr", "127.0.0.1:0")
	rt := startPart(t, "router", runRouter, env, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--schema-registry", "127.0.0.1:0")
	for _, p := range []*part{agent, rt} {
		p.waitReady(t)
	}
	cell := &devCell{http: rt.addr["http:"]}
	cell.post(t, "/api/v1/topics", `{"name":"split","partitions":3}`, http.StatusCreated)
	cell.produce(t, "split", 0, 25)

	agentCell := &devCell{http: agent.addr["health:"]}
	owned := series{"streamhouse_agent_partitions_owned", nil}
	waitFor(t, 20*time.Second, "the agent's segments flushed", func() (bool, string) {
		fams := agentCell.scrape(t)
		puts := value(fams, series{"streamhouse_objectstore_operations_total", map[string]string{"op": "put", "result": "ok"}})
		return value(fams, owned) == 3 && puts > 0, fmt.Sprintf("owned %v, puts %v", value(fams, owned), puts)
	})
	agentFams := agentCell.scrape(t)
	if v := value(agentFams, series{"streamhouse_agent_lease_acquisitions_total", nil}); v != 3 {
		t.Errorf("agent lease acquisitions = %v, want 3", v)
	}
	for _, s := range []series{{"streamhouse_partition_batch_records", nil}, {"streamhouse_partition_flush_bytes", nil}} {
		if v := value(agentFams, s); !(v > 0) {
			t.Errorf("agent %v = %v samples, want > 0", s, v)
		}
	}
	if agentFams["streamhouse_produce_records_total"] != nil {
		t.Error("the agent serves the router's produce counters")
	}

	routerFams := rt.scrapeHTTP(t)
	if v := value(routerFams, series{"streamhouse_produce_records_total", map[string]string{"topic": "split"}}); v != 25 {
		t.Errorf("router produce records = %v, want 25", v)
	}
	if routerFams["streamhouse_agent_partitions_owned"] != nil {
		t.Error("the router serves agent metrics")
	}
	unowned := series{"streamhouse_cluster_partitions_unowned", map[string]string{"topic": "split"}}
	if n := len(samples(routerFams, unowned)); n != 1 {
		t.Errorf("router: %d samples of %v, want 1", n, unowned)
	}
}

func (p *part) scrapeHTTP(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	return (&devCell{http: p.addr["http:"]}).scrape(t)
}
