package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/partition"
)

// newMetricsRegistry returns the process's one metrics registry (no
// global: every component registers into the one it is handed), with the
// Go runtime's and the process's collectors.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// addMetrics serves reg's metrics on GET /metrics in Prometheus's text (or
// OpenMetrics, if asked) format. A collector that fails is logged and left
// out; the rest is served.
func addMetrics(mux *http.ServeMux, reg *prometheus.Registry, log *slog.Logger) {
	addMetricsGuarded(mux, reg, log, nil)
}

// addMetricsGuarded is addMetrics with guard (nil: none) around the
// handler.
func addMetricsGuarded(mux *http.ServeMux, reg *prometheus.Registry, log *slog.Logger, guard func(http.Handler) http.Handler) {
	var h http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.With("component", "metrics").Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
	})
	if guard != nil {
		h = guard(h)
	}
	mux.Handle("GET /metrics", h)
}

// meteredStore wraps the cell's object store so that its calls are counted
// and timed (streamhouse_objectstore_*).
func meteredStore(s objectstore.Store, reg prometheus.Registerer) objectstore.Store {
	return objectstore.WithMetrics(s, reg, "segments")
}

// singleTenant lists the one tenant a router acts for, for the group lag
// collector.
func singleTenant(id int64) func(context.Context) ([]int64, error) {
	return func(context.Context) ([]int64, error) { return []int64{id}, nil }
}

var (
	cacheHitsDesc = prometheus.NewDesc("streamhouse_partition_cache_hits_total",
		"Segment cache lookups served from memory (opened footers and blocks of committed segments).", nil, nil)
	cacheMissesDesc = prometheus.NewDesc("streamhouse_partition_cache_misses_total",
		"Segment cache lookups that loaded from the object store.", nil, nil)
	cacheBytesDesc = prometheus.NewDesc("streamhouse_partition_cache_bytes",
		"Bytes the segment cache holds (payloads and overhead).", nil, nil)
)

// cacheCollector reads a segment cache's counters at scrape time: the
// cache counts with atomics already, so the read path pays nothing more.
type cacheCollector struct{ cache *partition.Cache }

func (c cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHitsDesc
	ch <- cacheMissesDesc
	ch <- cacheBytesDesc
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.cache.Stats()
	ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(cacheBytesDesc, prometheus.GaugeValue, float64(s.Bytes))
}

// agentInstruments returns the templates of an agent's fetch server and
// partition actors (cells.AgentConfig's Fetch and Actor) with their
// instruments in reg: the segment cache's counters, and the actors' batch,
// flush and WAL backlog figures.
func agentInstruments(reg prometheus.Registerer, registry partition.FetchRegistry, store objectstore.Store) (cells.FetchServerConfig, partition.ActorConfig, error) {
	cache := partition.NewCache(partition.CacheConfig{})
	if err := reg.Register(cacheCollector{cache}); err != nil {
		return cells.FetchServerConfig{}, partition.ActorConfig{}, fmt.Errorf("register segment cache metrics: %w", err)
	}
	fetcher, err := partition.NewFetcher(partition.FetcherConfig{Registry: registry, Store: store, Cache: cache})
	if err != nil {
		return cells.FetchServerConfig{}, partition.ActorConfig{}, fmt.Errorf("segment fetcher: %w", err)
	}
	actors, err := partition.NewMetrics(reg)
	if err != nil {
		return cells.FetchServerConfig{}, partition.ActorConfig{}, err
	}
	return cells.FetchServerConfig{Fetcher: fetcher}, partition.ActorConfig{Metrics: actors}, nil
}

// guardMetrics protects /metrics of a cell with authentication on: its
// series name every organization's topics, so only the operator's scraper,
// with Authorization: Bearer <token>, reads them (Prometheus's
// scrape_config authorization); anything else is 401 (an organization's
// key or token is not the operator's). With no token configured nobody
// reads them.
func guardMetrics(h http.Handler, token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Comparing digests of equal length keeps the comparison's time
		// independent of the token.
		sum := sha256.Sum256([]byte(got))
		if !ok || token == "" || subtle.ConstantTimeCompare(want[:], sum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics: the operator's metrics-token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
