package dashboard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/router/auth"
)

// fakeSource is a cell whose state the test moves.
type fakeSource struct {
	mu     sync.Mutex
	topics []Topic
	groups []Group
	agents []Agent
	err    error // returned by Groups
}

func (f *fakeSource) Topics(context.Context, auth.Principal) ([]Topic, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Topic(nil), f.topics...), nil
}

func (f *fakeSource) Groups(context.Context, auth.Principal) ([]Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Group(nil), f.groups...), f.err
}

func (f *fakeSource) Agents(context.Context, auth.Principal) ([]Agent, error) { return f.agents, nil }

func (f *fakeSource) Health(context.Context, auth.Principal) (map[string]string, error) {
	return map[string]string{"registry": "ok"}, nil
}

func (f *fakeSource) setHW(topic string, hw int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.topics {
		if f.topics[i].Name == topic {
			f.topics[i].PartitionInfo[0].HighWatermark = hw
		}
	}
}

func int64p(v int64) *int64 { return &v }

// startConsole serves a Console on 127.0.0.1 and runs it until cleanup.
func startConsole(t *testing.T, cfg Config) (*httptest.Server, context.CancelFunc, <-chan error) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx); close(done) }() // closed: the cleanup may receive again
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return srv, cancel, done
}

func dialConsole(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+WSPath, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// event is any console event, the fields the tests look at.
type event struct {
	Type            string            `json:"type"`
	RefreshMs       int64             `json:"refresh_ms"`
	MinRefreshMs    int64             `json:"min_refresh_ms"`
	Message         string            `json:"message"`
	Topics          []TopicStat       `json:"topics"`
	TopicsTruncated bool              `json:"topics_truncated"`
	GroupsTruncated bool              `json:"groups_truncated"`
	Groups          []GroupStat       `json:"groups"`
	Agents          []Agent           `json:"agents"`
	Health          map[string]string `json:"health"`
	Errors          map[string]string `json:"errors"`
	Metrics         map[string]Family `json:"metrics"`
}

// next reads events until one of type typ arrives.
func next(t *testing.T, conn *websocket.Conn, typ string) event {
	t.Helper()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var e event
		if err := conn.ReadJSON(&e); err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if e.Type == typ {
			return e
		}
	}
}

func TestConsoleSnapshots(t *testing.T) {
	t.Parallel()
	src := &fakeSource{
		topics: []Topic{{Name: "orders", Partitions: 1, PartitionInfo: []Partition{{HighWatermark: 10, LogStartOffset: 2, SizeBytes: int64p(300)}}}},
		groups: []Group{{Group: "billing", State: "Stable", Offsets: []GroupOffset{{Topic: "orders", Lag: 4}, {Topic: "orders", Partition: 1, Lag: 3}}}},
		agents: []Agent{{ID: "a1", Live: true, Partitions: []TopicPartition{{Topic: "orders"}}}},
	}
	reg := prometheus.NewRegistry()
	produced := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamhouse_produce_records_total"}, []string{"topic"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamhouse_router_request_duration_seconds", Buckets: []float64{0.01, 0.1, 1}})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "go_something_total"})
	reg.MustRegister(produced, latency, other)
	produced.WithLabelValues("orders").Add(7)
	for range 100 {
		latency.Observe(0.05)
	}
	srv, _, _ := startConsole(t, Config{Source: src, Gatherer: reg, MinRefresh: 50 * time.Millisecond, DefaultRefresh: 100 * time.Millisecond})
	conn := dialConsole(t, srv)

	if h := next(t, conn, "hello"); h.RefreshMs != 100 || h.MinRefreshMs != 50 {
		t.Fatalf("hello %+v", h)
	}
	s := next(t, conn, "snapshot")
	if len(s.Topics) != 1 || s.Topics[0].Records != 8 || s.Topics[0].SizeBytes != 300 || s.Topics[0].RecordsPerSec != 0 {
		t.Fatalf("topics %+v", s.Topics)
	}
	if len(s.Groups) != 1 || s.Groups[0].Lag != 7 || len(s.Agents) != 1 || s.Health["registry"] != "ok" {
		t.Fatalf("groups %+v agents %+v health %v", s.Groups, s.Agents, s.Health)
	}
	if f := s.Metrics["streamhouse_produce_records_total"]; f.Type != "counter" || len(f.Samples) != 1 || f.Samples[0].Value != 7 || f.Samples[0].Labels["topic"] != "orders" {
		t.Fatalf("counter %+v", f)
	}
	h := s.Metrics["streamhouse_router_request_duration_seconds"]
	if h.Type != "histogram" || h.Samples[0].Count != 100 || h.Samples[0].P50 == nil || *h.Samples[0].P50 <= 0.01 || *h.Samples[0].P50 > 0.1 {
		t.Fatalf("histogram %+v", h)
	}
	if _, ok := s.Metrics["go_something_total"]; ok {
		t.Fatal("a family without the streamhouse_ prefix was sent")
	}

	// Throughput: the high watermark grows between snapshots.
	src.setHW("orders", 1010)
	for deadline := time.Now().Add(5 * time.Second); ; {
		s = next(t, conn, "snapshot")
		if s.Topics[0].RecordsPerSec > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("records_per_sec stayed 0")
		}
	}

	// The rate is the client's, clamped; a bad frame is answered, not fatal.
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"refresh_ms": 1}`)); err != nil {
		t.Fatal(err)
	}
	if e := next(t, conn, "settings"); e.RefreshMs != 50 {
		t.Fatalf("clamped to %d, want 50", e.RefreshMs)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"refresh_ms": 99999999}`)); err != nil {
		t.Fatal(err)
	}
	if e := next(t, conn, "settings"); e.RefreshMs != DefaultMaxRefresh.Milliseconds() {
		t.Fatalf("clamped to %d, want %d", e.RefreshMs, DefaultMaxRefresh.Milliseconds())
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`nonsense`)); err != nil {
		t.Fatal(err)
	}
	if e := next(t, conn, "error"); !strings.Contains(e.Message, "refresh_ms") {
		t.Fatalf("error %+v", e)
	}
}

func TestConsoleNoMetricsAndFailedParts(t *testing.T) {
	t.Parallel()
	src := &fakeSource{err: errors.New("coordinator unreachable")}
	srv, _, _ := startConsole(t, Config{Source: src, MinRefresh: 50 * time.Millisecond})
	s := next(t, dialConsole(t, srv), "snapshot")
	if len(s.Metrics) != 0 || s.Topics == nil || len(s.Groups) != 0 || s.Errors["groups"] != "coordinator unreachable" {
		t.Fatalf("%+v", s)
	}
}

func TestConsoleLimits(t *testing.T) {
	t.Parallel()
	src := &fakeSource{topics: []Topic{{Name: "c"}, {Name: "a"}, {Name: "b"}}, groups: []Group{{Group: "y"}, {Group: "x"}}}
	srv, _, _ := startConsole(t, Config{Source: src, MaxTopics: 2, MaxGroups: 1, MaxClients: 1})
	conn := dialConsole(t, srv)
	s := next(t, conn, "snapshot")
	if len(s.Topics) != 2 || s.Topics[0].Name != "a" || s.Topics[1].Name != "b" || !s.TopicsTruncated {
		t.Fatalf("%+v truncated=%v", s.Topics, s.TopicsTruncated)
	}
	if len(s.Groups) != 1 || s.Groups[0].Group.Group != "x" || !s.GroupsTruncated {
		t.Fatalf("groups %+v", s.Groups)
	}
	// One client at most: the second is refused.
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+WSPath, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second client: %v %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "too many console connections (at most 1)") {
		t.Fatalf("body %q", body)
	}
	// A frame over 4 KiB closes the connection with 1009.
	if err := conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", maxClientFrame+1))); err != nil {
		t.Fatal(err)
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Fatalf("closed with %v, want 1009", err)
			}
			break
		}
	}
	// Its slot is free again.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+WSPath, nil)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %v", err)
		}
	}
}

func TestConsoleStopsWithContext(t *testing.T) {
	t.Parallel()
	srv, cancel, done := startConsole(t, Config{Source: &fakeSource{}})
	conn := dialConsole(t, srv)
	next(t, conn, "snapshot")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("closed with %v, want 1001", err)
			}
			break
		}
	}
	// After the stop, new clients are refused.
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+WSPath, nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after stop: %v", err)
	}
}

func TestConsoleServesApp(t *testing.T) {
	t.Parallel()
	srv, _, _ := startConsole(t, Config{Source: &fakeSource{}})
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "StreamHouse") {
		t.Fatalf("%d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, err = http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %d", resp.StatusCode)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "Source is required") {
		t.Fatalf("%v", err)
	}
	if _, err := New(Config{Source: &fakeSource{}, MinRefresh: time.Minute, MaxRefresh: time.Second}); err == nil || !strings.Contains(err.Error(), "MinRefresh 1m0s is over MaxRefresh 1s") {
		t.Fatalf("%v", err)
	}
}

// A client that does not read holds one frame: the newest.
func TestClientQueueKeepsNewest(t *testing.T) {
	cl := &client{out: make(chan []byte, 1)}
	for _, f := range []string{"1", "2", "3"} {
		cl.offer([]byte(f))
	}
	if len(cl.out) != 1 || string(<-cl.out) != "3" {
		t.Fatal("the queue did not keep only the newest frame")
	}
}
