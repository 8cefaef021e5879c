package router

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/streamhouse/streamhouse/wire"
)

// Values of the api label.
const (
	apiHTTP = "http"
	apiGRPC = "grpc"
	apiWS   = "ws"
)

// Metrics are the router's Prometheus instruments, shared by the HTTP,
// WebSocket and gRPC edges (pass the same *Metrics to Deps and GRPCConfig):
//
//	streamhouse_produce_records_total{topic}, streamhouse_produce_bytes_total{topic}
//	streamhouse_fetch_records_total{topic}, streamhouse_fetch_bytes_total{topic}
//	streamhouse_router_request_duration_seconds{api,route,code}
//	streamhouse_router_errors_total{api,kind}
//
// Records and bytes count what partition owners acknowledged (produce) or
// returned (fetch), once per request, never per record; bytes are the
// records' payload: key, value and headers. A nil *Metrics records
// nothing. It is safe for concurrent use.
type Metrics struct {
	produceRecords, produceBytes *prometheus.CounterVec
	fetchRecords, fetchBytes     *prometheus.CounterVec
	duration                     *prometheus.HistogramVec
	errors                       *prometheus.CounterVec

	// statuses holds the code label of every HTTP status, so that a
	// request's observation does not format one.
	statuses [600]string

	mu struct {
		sync.RWMutex
		topics map[string]*topicCounters // by topic name
	}
}

// topicCounters are one topic's series, resolved once.
type topicCounters struct {
	produceRecords, produceBytes, fetchRecords, fetchBytes prometheus.Counter
}

// NewMetrics registers the router's instruments in reg. A nil reg returns
// a nil *Metrics: no metrics. It fails if reg already has any of them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		produceRecords: counter("streamhouse_produce_records_total", "Records acknowledged by partition owners, by topic.", "topic"),
		produceBytes:   counter("streamhouse_produce_bytes_total", "Payload bytes (key, value, headers) of acknowledged records, by topic.", "topic"),
		fetchRecords:   counter("streamhouse_fetch_records_total", "Records served to consumers (gRPC Fetch and Subscribe, WebSocket consume), by topic.", "topic"),
		fetchBytes:     counter("streamhouse_fetch_bytes_total", "Payload bytes (key, value, headers) of records served to consumers, by topic.", "topic"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "streamhouse_router_request_duration_seconds",
			Help: "Duration of API requests by api (http, grpc, ws), route pattern or gRPC method, and status code; " +
				"a WebSocket produce frame counts as one request.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to 16 s
		}, []string{"api", "route", "code"}),
		errors: counter("streamhouse_router_errors_total", "Errors answered to clients by api and kind (the error code's API name).", "api", "kind"),
	}
	m.mu.topics = map[string]*topicCounters{}
	for i := range m.statuses {
		m.statuses[i] = strconv.Itoa(i)
	}
	for _, c := range []prometheus.Collector{m.produceRecords, m.produceBytes, m.fetchRecords, m.fetchBytes, m.duration, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register router metrics: %w", err)
		}
	}
	return m, nil
}

// topic returns the topic's series, resolving them on first use.
func (m *Metrics) topic(name string) *topicCounters {
	m.mu.RLock()
	tc := m.mu.topics[name]
	m.mu.RUnlock()
	if tc != nil {
		return tc
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if tc = m.mu.topics[name]; tc == nil {
		tc = &topicCounters{
			produceRecords: m.produceRecords.WithLabelValues(name),
			produceBytes:   m.produceBytes.WithLabelValues(name),
			fetchRecords:   m.fetchRecords.WithLabelValues(name),
			fetchBytes:     m.fetchBytes.WithLabelValues(name),
		}
		m.mu.topics[name] = tc
	}
	return tc
}

// ForgetTopic drops a deleted topic's series, so that topics created and
// deleted over time do not grow the registry without bound.
func (m *Metrics) ForgetTopic(name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mu.topics, name)
	for _, v := range []*prometheus.CounterVec{m.produceRecords, m.produceBytes, m.fetchRecords, m.fetchBytes} {
		v.DeleteLabelValues(name)
	}
}

// produced counts the acknowledged partition batches of p.
func (m *Metrics) produced(topic string, p *plan) {
	if m == nil {
		return
	}
	var recs int
	var size int64
	for g := range p.reqs {
		if p.results[g].err != nil {
			continue
		}
		recs += len(p.reqs[g].Records)
		size += p.bytes[g]
	}
	if recs == 0 {
		return
	}
	tc := m.topic(topic)
	tc.produceRecords.Add(float64(recs))
	tc.produceBytes.Add(float64(size))
}

// fetched counts one fetch answer of records records, size bytes.
func (m *Metrics) fetched(topic string, records int, size int64) {
	if m == nil || records == 0 {
		return
	}
	tc := m.topic(topic)
	tc.fetchRecords.Add(float64(records))
	tc.fetchBytes.Add(float64(size))
}

// failed counts an error answered on api.
func (m *Metrics) failed(api string, c wire.Code) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(api, c.String()).Inc()
}

// observe records one request's duration.
func (m *Metrics) observe(api, route, code string, d time.Duration) {
	m.duration.WithLabelValues(api, route, code).Observe(d.Seconds())
}

// apiOf tells which edge an HTTP request came through.
func apiOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/ws/") {
		return apiWS
	}
	return apiHTTP
}

// httpMiddleware times every plain HTTP request, labelled with chi's route
// pattern (never the raw path, whose topic names would make a series each).
// WebSocket connections are left out: their lifetime is no request
// latency; wsProducer times each frame instead.
func (m *Metrics) httpMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apiOf(r) == apiWS {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		code := ww.Status()
		if code == 0 {
			code = http.StatusOK // nothing written: net/http sends 200
		}
		label := "other"
		if code > 0 && code < len(m.statuses) {
			label = m.statuses[code]
		}
		m.observe(apiHTTP, route, label, time.Since(start))
	})
}

// grpcOptions returns the interceptors that time every gRPC call by full
// method name and status code, and count its error by kind. A server
// stream (Subscribe) counts once, when it ends.
func (m *Metrics) grpcOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			start := time.Now()
			resp, err := h(ctx, req)
			m.grpcDone(info.FullMethod, start, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			start := time.Now()
			err := h(srv, ss)
			m.grpcDone(info.FullMethod, start, err)
			return err
		}),
	}
}

func (m *Metrics) grpcDone(method string, start time.Time, err error) {
	st := status.Convert(err)
	m.observe(apiGRPC, method, st.Code().String(), time.Since(start))
	if err != nil {
		m.errors.WithLabelValues(apiGRPC, grpcErrorKind(st)).Inc()
	}
}

// grpcErrorKind is the error code's API name that grpcStatus put in the
// status's ErrorInfo; a status without one (a client's cancel, a transport
// failure) is named after its gRPC code, as "grpc_canceled".
func grpcErrorKind(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == grpcErrorDomain {
			return info.GetReason()
		}
	}
	return "grpc_" + strings.ToLower(st.Code().String())
}

// wsProduceRoute is the route label of a WebSocket produce frame.
const wsProduceRoute = "/ws/produce"

// wsFrame records one WebSocket frame's duration, with its error's code
// (ok without one).
func (m *Metrics) wsFrame(route string, start time.Time, err error) {
	if m == nil {
		return
	}
	code := wire.OK
	if err != nil {
		code, _, _ = codeOf(err)
	}
	m.observe(apiWS, route, code.String(), time.Since(start))
}

// firstErr returns the error of p's first failed partition batch, if any.
func (p *plan) firstErr() error {
	for _, r := range p.results {
		if r.err != nil {
			return r.err
		}
	}
	return nil
}
