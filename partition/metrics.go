package partition

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/registry"
)

// Metrics are the partition actors' instruments, shared by every actor of
// a process (ActorConfig.Metrics):
//
//	streamhouse_partition_batch_records           records per group commit (a WAL entry, or an object-mode group)
//	streamhouse_partition_flush_bytes             size of each segment object written
//	streamhouse_partition_flush_duration_seconds  a flush from its start to its commit in the registry, retries included
//	streamhouse_partition_wal_backlog_bytes       bytes acknowledged through the WAL and not yet in a committed segment, summed over the actors
//
// They are updated once per group or flush, never per record. A nil
// *Metrics records nothing. The segment cache's counters are read from
// Cache.Stats at scrape time instead. Safe for concurrent use.
type Metrics struct {
	batchRecords, flushBytes, flushDuration prometheus.Histogram
	walBacklog                              prometheus.Gauge
}

// NewMetrics registers the actors' instruments in reg; a nil reg returns a
// nil *Metrics (no metrics). It fails if reg already has any of them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhouse_partition_batch_records",
			Help:    "Records per group commit: one WAL entry (wal durability) or one group queued for a segment (object).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 to 262,144
		}),
		flushBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhouse_partition_flush_bytes",
			Help:    "Size of each segment object flushed to the object store.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10), // 1 KiB to 256 MiB
		}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhouse_partition_flush_duration_seconds",
			Help:    "Duration of a segment flush: build, upload and registry commit, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to 33 s
		}),
		walBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamhouse_partition_wal_backlog_bytes",
			Help: "Bytes acknowledged through the WAL and not yet in a committed segment, over the partitions this process owns.",
		}),
	}
	for _, c := range []prometheus.Collector{m.batchRecords, m.flushBytes, m.flushDuration, m.walBacklog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register partition metrics: %w", err)
		}
	}
	return m, nil
}

// batch records one group commit of n records.
func (m *Metrics) batch(n int64) {
	if m != nil {
		m.batchRecords.Observe(float64(n))
	}
}

// flush records a committed segment of size bytes that took d.
func (m *Metrics) flush(size int64, d time.Duration) {
	if m != nil {
		m.flushBytes.Observe(float64(size))
		m.flushDuration.Observe(d.Seconds())
	}
}

// setBacklog moves the WAL backlog gauge by this actor's change to n bytes
// (wal durability only: in object mode nothing unflushed is acknowledged).
// Only the actor's goroutine calls it.
func (a *Actor) setBacklog(n int) {
	m := a.cfg.Metrics
	if m == nil || a.cfg.Durability != registry.DurabilityWAL {
		return
	}
	m.walBacklog.Add(float64(n - a.st.backlog))
	a.st.backlog = n
}
