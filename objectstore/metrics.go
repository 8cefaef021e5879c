package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Result label values of streamhouse_objectstore_operations_total.
const (
	resultOK                 = "ok"
	resultNotFound           = "not_found"           // the key was missing
	resultPreconditionFailed = "precondition_failed" // PutIfAbsent found an object
	resultError              = "error"               // anything else
)

// WithMetrics wraps s so that every call is counted and timed in reg, with
// the label store=name (several stores may share reg):
//
//	streamhouse_objectstore_operations_total{store,op,result}       result: ok, not_found, precondition_failed, error
//	streamhouse_objectstore_operation_duration_seconds{store,op}    histogram of every call
//	streamhouse_objectstore_bytes_total{store,direction}            written (successful puts), read (successful gets)
//
// op is the Error.Op name of the call. A nil reg records into collectors
// that no one gathers. A collector in reg that clashes with these names but
// not their labels is a wiring bug and panics, as prometheus.MustRegister
// does.
func WithMetrics(s Store, reg prometheus.Registerer, name string) Store {
	ops := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamhouse_objectstore_operations_total",
		Help: "Object store calls by store, operation and result.",
	}, []string{"store", "op", "result"}))
	durations := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "streamhouse_objectstore_operation_duration_seconds",
		Help:    "Duration of object store calls, whatever their result.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to 33 s
	}, []string{"store", "op"}))
	byteCounts := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamhouse_objectstore_bytes_total",
		Help: "Bytes written by successful puts and read by successful gets.",
	}, []string{"store", "direction"}))

	m := &metered{
		inner:   s,
		written: byteCounts.WithLabelValues(name, "written"),
		read:    byteCounts.WithLabelValues(name, "read"),
	}
	for op, om := range map[string]*opMetrics{
		"put": &m.put, "put-if-absent": &m.putIfAbsent, "get": &m.get,
		"get-range": &m.getRange, "list": &m.list, "delete": &m.delete,
	} {
		*om = opMetrics{
			duration:           durations.WithLabelValues(name, op),
			ok:                 ops.WithLabelValues(name, op, resultOK),
			notFound:           ops.WithLabelValues(name, op, resultNotFound),
			preconditionFailed: ops.WithLabelValues(name, op, resultPreconditionFailed),
			failed:             ops.WithLabelValues(name, op, resultError),
		}
	}
	return m
}

// register registers c in reg, or returns the identical collector already
// registered there by another store.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("objectstore: register metrics: %v", err))
}

// opMetrics holds the series of one operation, resolved once.
type opMetrics struct {
	duration                                 prometheus.Observer
	ok, notFound, preconditionFailed, failed prometheus.Counter
}

func (om *opMetrics) observe(start time.Time, err error) {
	om.duration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		om.ok.Inc()
	case errors.Is(err, ErrNotFound):
		om.notFound.Inc()
	case errors.Is(err, ErrPreconditionFailed):
		om.preconditionFailed.Inc()
	default:
		om.failed.Inc()
	}
}

type metered struct {
	inner                                         Store
	put, putIfAbsent, get, getRange, list, delete opMetrics
	written, read                                 prometheus.Counter
}

func (m *metered) Put(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := m.inner.Put(ctx, key, data)
	m.put.observe(start, err)
	if err == nil {
		m.written.Add(float64(len(data)))
	}
	return err
}

func (m *metered) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := m.inner.PutIfAbsent(ctx, key, data)
	m.putIfAbsent.observe(start, err)
	if err == nil {
		m.written.Add(float64(len(data)))
	}
	return err
}

func (m *metered) Get(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	data, err := m.inner.Get(ctx, key)
	m.get.observe(start, err)
	m.read.Add(float64(len(data)))
	return data, err
}

func (m *metered) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	start := time.Now()
	data, err := m.inner.GetRange(ctx, key, offset, length)
	m.getRange.observe(start, err)
	m.read.Add(float64(len(data)))
	return data, err
}

func (m *metered) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	start := time.Now()
	infos, err := m.inner.List(ctx, prefix)
	m.list.observe(start, err)
	return infos, err
}

func (m *metered) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.inner.Delete(ctx, key)
	m.delete.observe(start, err)
	return err
}
