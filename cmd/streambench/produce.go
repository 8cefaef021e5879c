package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/wire"
)

// retryPause is the pause after a 429 or 503 before the batch is resent;
// retryBudget bounds how long one batch may keep being refused.
const (
	retryPause  = 2 * time.Millisecond
	retryBudget = 30 * time.Second
)

// payload returns a batch of records of size bytes each, in the wire
// Records encoding, and how many records it holds: as many as fit in
// batchBytes, at least one. Values are pseudo-random (a fixed seed), so
// LZ4 finds nothing to compress: stored bytes are about the bytes sent.
func payload(size, batchBytes int) (body []byte, records int) {
	records = max(1, batchBytes/size)
	rng := rand.New(rand.NewPCG(uint64(size), 1))
	recs := make([]wire.Record, records)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		recs[i] = wire.Record{Value: v}
	}
	return wire.AppendRecords(nil, recs), records
}

// loadSpec is one produce step: one topic, one record size, a rate.
type loadSpec struct {
	topic      string
	partitions int
	body       []byte // the batch sent in every request
	records    int    // records in body
	recordSize int    // value bytes per record
	conc       int    // requests in flight at most
	duration   time.Duration
	maxBytes   int64   // stop once this many value bytes are acknowledged
	rate       float64 // records/s; 0 is flat out
}

// loadResult is what a produce step measured. Latencies are per request
// (each carries spec.records records): from the request's send (at a fixed
// rate, from when it was due, so that a stalled cell is not hidden by the
// harness waiting) to its 200 answer, retries of 429 and 503 included.
type loadResult struct {
	records int64
	bytes   int64 // value bytes acknowledged
	elapsed time.Duration
	retries int64
	lat     []time.Duration
}

func (r loadResult) recordsPerSec() float64 { return float64(r.records) / r.elapsed.Seconds() }
func (r loadResult) mbPerSec() float64      { return float64(r.bytes) / 1e6 / r.elapsed.Seconds() }

// runLoad runs one produce step: spec.conc workers send spec.body to the
// topic's partitions in turn, back to back (flat out) or as a pacer hands
// them due times (fixed rate), until spec.duration or spec.maxBytes.
func runLoad(ctx context.Context, a *api, spec loadSpec) (loadResult, error) {
	var (
		next    atomic.Int64 // partition round robin
		acked   atomic.Int64 // value bytes acknowledged
		retries atomic.Int64
		mu      sync.Mutex
		lats    []time.Duration
		lastAck time.Time
		window  time.Duration // fixed rate: the pacer's sending window
	)
	batchBytes := int64(spec.records * spec.recordSize)
	start := time.Now()
	deadline := start.Add(spec.duration)
	full := func() bool { return time.Now().After(deadline) || acked.Load() >= spec.maxBytes }

	send := func(ctx context.Context, from time.Time) error {
		p := int(next.Add(1)-1) % spec.partitions
		for {
			err := a.produce(ctx, spec.topic, p, spec.body)
			if errors.Is(err, errRetry) {
				if time.Since(from) > retryBudget {
					return fmt.Errorf("produce to %s/%d: refused (429/503) for %s", spec.topic, p, retryBudget)
				}
				retries.Add(1)
				time.Sleep(retryPause)
				continue
			}
			if err != nil {
				return err
			}
			now := time.Now()
			acked.Add(batchBytes)
			mu.Lock()
			lats = append(lats, now.Sub(from))
			lastAck = now
			mu.Unlock()
			return nil
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	if spec.rate <= 0 {
		for range spec.conc {
			g.Go(func() error {
				for !full() && gctx.Err() == nil {
					if err := send(gctx, time.Now()); err != nil {
						return err
					}
				}
				return nil
			})
		}
	} else {
		interval := time.Duration(float64(time.Second) * float64(spec.records) / spec.rate)
		due := make(chan time.Time, spec.conc)
		g.Go(func() error { // the pacer: owns due and closes it
			defer close(due)
			for i := 0; ; i++ {
				t := start.Add(time.Duration(i) * interval)
				if t.After(deadline) || acked.Load() >= spec.maxBytes {
					return nil
				}
				if d := time.Until(t); d > 0 {
					select {
					case <-time.After(d):
					case <-gctx.Done():
						return nil
					}
				}
				select {
				case due <- t:
					// When it was handed over, not when it was due: a pacer
					// held back by busy workers shows as a lower rate.
					window = time.Since(start) + interval // read after g.Wait
				case <-gctx.Done():
					return nil
				}
			}
		})
		for range spec.conc {
			g.Go(func() error {
				for t := range due {
					if err := send(gctx, t); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return loadResult{}, err
	}
	if len(lats) == 0 {
		return loadResult{}, fmt.Errorf("produce to %s: no request acknowledged in %s", spec.topic, spec.duration)
	}
	// Flat out, the rate is over the time to the last acknowledgement; at a
	// fixed rate, over the window the pacer sent in (the last
	// acknowledgements' wait is latency, not a lower rate).
	elapsed := lastAck.Sub(start)
	if spec.rate > 0 {
		elapsed = window
	}
	return loadResult{
		records: int64(len(lats)) * int64(spec.records),
		bytes:   acked.Load(),
		elapsed: elapsed,
		retries: retries.Load(),
		lat:     lats,
	}, nil
}
