package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/objectstore"
)

// The floor stream: its own name and subjects on the cell's NATS server,
// file storage, one replica, like the WAL stream (cells/wal.go), and under
// the server's sync setting (the dev cell's: fsync before every ack).
const (
	floorStream  = "streambench_floor"
	floorSubject = "streambench.floor."
)

// floorAsyncPending is the most unacknowledged async publishes: what the
// WAL's own raw-async benchmark uses (cells/wal_test.go).
const floorAsyncPending = 256

// throughput is what a floor or a step moved: value bytes over time.
type throughput struct {
	bytes   int64
	elapsed time.Duration
}

func (t throughput) mbPerSec() float64 { return float64(t.bytes) / 1e6 / t.elapsed.Seconds() }

// jsFloor publishes to the cell's NATS server directly.
type jsFloor struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func openJSFloor(ctx context.Context, url string) (*jsFloor, error) {
	nc, err := nats.Connect(url, nats.Name("streambench-floor"))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(floorAsyncPending))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: floorStream, Subjects: []string{floorSubject + ">"},
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		Storage: jetstream.FileStorage, Replicas: 1,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("create floor stream: %w", err)
	}
	return &jsFloor{nc: nc, js: js}, nil
}

// close deletes the floor stream (its bytes would count against the
// cell's disk) and disconnects.
func (f *jsFloor) close(ctx context.Context) error {
	defer f.nc.Close()
	if err := f.js.DeleteStream(ctx, floorStream); err != nil {
		return fmt.Errorf("delete floor stream: %w", err)
	}
	return nil
}

// asyncPublish publishes body back to back, floorAsyncPending in flight,
// until d or maxBytes of values, and reports the value bytes per second up
// to the last acknowledgement. valueBytes is the value bytes one body
// carries.
func (f *jsFloor) asyncPublish(ctx context.Context, subject string, body []byte, valueBytes int64, d time.Duration, maxBytes int64) (throughput, error) {
	var failed atomic.Int64
	js, err := jetstream.New(f.nc, jetstream.WithPublishAsyncMaxPending(floorAsyncPending),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return throughput{}, fmt.Errorf("jetstream: %w", err)
	}
	start := time.Now()
	var sent int64
	for time.Since(start) < d && sent < maxBytes {
		if _, err := js.PublishAsync(floorSubject+subject, body, jetstream.WithStallWait(time.Minute)); err != nil {
			return throughput{}, fmt.Errorf("floor publish: %w", err)
		}
		sent += valueBytes
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return throughput{}, errors.New("floor publish: acknowledgements not all in within a minute")
	case <-ctx.Done():
		return throughput{}, ctx.Err()
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return throughput{}, fmt.Errorf("floor publish: %d publishes failed", n)
	}
	return throughput{bytes: sent, elapsed: elapsed}, nil
}

// syncLatency publishes body one at a time for d (at most n times) and
// returns each publish's time to its acknowledgement: the least a WAL
// append can take.
func (f *jsFloor) syncLatency(ctx context.Context, subject string, body []byte, d time.Duration, n int) ([]time.Duration, error) {
	var lats []time.Duration
	start := time.Now()
	for time.Since(start) < d && len(lats) < n {
		t := time.Now()
		if _, err := f.js.Publish(ctx, floorSubject+subject, body); err != nil {
			return nil, fmt.Errorf("floor publish: %w", err)
		}
		lats = append(lats, time.Since(t))
	}
	return lats, nil
}

// e2eLatency publishes small messages one at a time and times each from
// its publish to a core NATS subscriber seeing it: the floor of produce →
// a long-polling consumer sees it.
func (f *jsFloor) e2eLatency(ctx context.Context, d time.Duration, n int) ([]time.Duration, error) {
	subject := floorSubject + "e2e"
	got := make(chan time.Time, 1)
	sub, err := f.nc.Subscribe(subject, func(*nats.Msg) {
		select {
		case got <- time.Now():
		default:
		}
	})
	if err != nil {
		return nil, fmt.Errorf("floor subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := f.nc.Flush(); err != nil {
		return nil, fmt.Errorf("floor subscribe: %w", err)
	}
	var lats []time.Duration
	start := time.Now()
	for time.Since(start) < d && len(lats) < n {
		t := time.Now()
		if _, err := f.js.Publish(ctx, subject, []byte(strconv.FormatInt(t.UnixNano(), 10))); err != nil {
			return nil, fmt.Errorf("floor publish: %w", err)
		}
		select {
		case seen := <-got:
			lats = append(lats, seen.Sub(t))
		case <-time.After(5 * time.Second):
			return nil, errors.New("floor e2e: a published message was not delivered within 5 s")
		}
	}
	return lats, nil
}

// putFloor writes objects of size bytes through objectstore.NewFS at root
// (on the cell's filesystem), conc at a time, until d or maxBytes, and
// returns the bytes per second and each PUT's latency. The objects are
// deleted afterwards.
func putFloor(ctx context.Context, root string, size, conc int, d time.Duration, maxBytes int64) (throughput, []time.Duration, error) {
	store, err := objectstore.NewFS(root)
	if err != nil {
		return throughput{}, nil, fmt.Errorf("floor store: %w", err)
	}
	data, _ := payload(size, size)
	var (
		put  atomic.Int64
		seq  atomic.Int64
		lats = make([][]time.Duration, conc)
	)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for w := range conc {
		g.Go(func() error {
			for time.Since(start) < d && put.Load() < maxBytes {
				key := fmt.Sprintf("floor/%08d.seg", seq.Add(1))
				t := time.Now()
				if err := store.Put(gctx, key, data); err != nil {
					return fmt.Errorf("floor put: %w", err)
				}
				lats[w] = append(lats[w], time.Since(t))
				put.Add(int64(len(data)))
			}
			return nil
		})
	}
	err = g.Wait()
	elapsed := time.Since(start)
	for i := range seq.Load() {
		_ = store.Delete(ctx, fmt.Sprintf("floor/%08d.seg", i+1))
	}
	if err != nil {
		return throughput{}, nil, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return throughput{bytes: put.Load(), elapsed: elapsed}, all, nil
}

// getFloor reads every object under prefix in the store at root, conc at a
// time: the floor of consuming from object storage.
func getFloor(ctx context.Context, root, prefix string, conc int) (throughput, error) {
	store, err := objectstore.NewFS(root)
	if err != nil {
		return throughput{}, fmt.Errorf("floor store: %w", err)
	}
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return throughput{}, fmt.Errorf("floor list: %w", err)
	}
	var (
		read atomic.Int64
		next atomic.Int64
	)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for range conc {
		g.Go(func() error {
			for i := next.Add(1) - 1; i < int64(len(objs)); i = next.Add(1) - 1 {
				b, err := store.Get(gctx, objs[i].Key)
				if err != nil {
					return fmt.Errorf("floor get: %w", err)
				}
				read.Add(int64(len(b)))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return throughput{}, err
	}
	if read.Load() == 0 {
		return throughput{}, fmt.Errorf("floor get: no objects under %q", prefix)
	}
	return throughput{bytes: read.Load(), elapsed: time.Since(start)}, nil
}
