package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/wire"
)

// fetchMaxBytes is a Fetch's max_bytes while reading a topic through.
const fetchMaxBytes = 1 << 20

// readResult is what reading a topic through measured.
type readResult struct {
	retries int64 // fetches answered UNAVAILABLE or RESOURCE_EXHAUSTED, and sent again
	records int64
	bytes   int64 // value bytes
	elapsed time.Duration
}

func (r readResult) mbPerSec() float64 { return float64(r.bytes) / 1e6 / r.elapsed.Seconds() }

// readAll reads every partition of topic from offset 0 to the high
// watermark it has when its first fetch answers, conc partitions at a time,
// and stops at d (a budget, not a target: a partial read still reports).
func readAll(ctx context.Context, a *api, topic string, partitions, conc int, d time.Duration) (readResult, error) {
	var recs, bytes, next, retries atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	g, gctx := errgroup.WithContext(ctx)
	for range min(conc, partitions) {
		g.Go(func() error {
			for p := next.Add(1) - 1; p < int64(partitions); p = next.Add(1) - 1 {
				var off, hwm int64 = 0, -1
				for (hwm < 0 || off < hwm) && time.Now().Before(deadline) {
					resp, err := a.fetch(gctx, topic, int(p), off, fetchMaxBytes, 0)
					for t := time.Now(); errors.Is(err, errRetry) && time.Since(t) < retryBudget; {
						retries.Add(1)
						time.Sleep(retryPause)
						resp, err = a.fetch(gctx, topic, int(p), off, fetchMaxBytes, 0)
					}
					if err != nil {
						return err
					}
					if hwm < 0 {
						hwm = resp.HighWatermark
					}
					if resp.NextOffset <= off && off < hwm {
						return fmt.Errorf("fetch %s/%d at %d: no progress below the high watermark %d", topic, p, off, hwm)
					}
					for _, r := range resp.Records {
						bytes.Add(int64(len(r.Value)))
					}
					recs.Add(int64(len(resp.Records)))
					off = resp.NextOffset
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return readResult{}, err
	}
	if recs.Load() == 0 {
		return readResult{}, fmt.Errorf("read %s: no records", topic)
	}
	return readResult{retries: retries.Load(), records: recs.Load(), bytes: bytes.Load(), elapsed: time.Since(start)}, nil
}

// endToEnd produces one record at a time to partition 0 of topic, every
// gap, while a consumer long-polls the partition, and returns for each
// record the time from its produce request's send to the consumer's fetch
// answer holding it. It stops after d or n records.
func endToEnd(ctx context.Context, a *api, topic string, gap, d time.Duration, n int) ([]time.Duration, error) {
	first, err := a.fetch(ctx, topic, 0, 0, 1, 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan time.Duration, n)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { // the consumer
		off := first.HighWatermark
		for got := 0; got < n; {
			resp, err := a.fetch(gctx, topic, 0, off, 1<<20, 5*time.Second)
			if gctx.Err() != nil {
				return nil // the producer is done: the last long poll is cut short
			}
			if err != nil {
				return err
			}
			now := time.Now()
			for _, r := range resp.Records {
				sent, err := strconv.ParseInt(string(r.Value), 10, 64)
				if err != nil {
					return fmt.Errorf("end-to-end: record %d holds %q, not a send time", r.Offset, r.Value)
				}
				seen <- now.Sub(time.Unix(0, sent))
				got++
			}
			off = resp.NextOffset
		}
		return nil
	})
	g.Go(func() error { // the producer: one record in flight at most
		defer cancel()
		start := time.Now()
		var body []byte
		for i := 0; i < n && time.Since(start) < d; i++ {
			t := time.Now()
			body = wire.AppendRecords(body[:0], []wire.Record{{Value: strconv.AppendInt(nil, t.UnixNano(), 10)}})
			err := a.produce(gctx, topic, 0, body)
			for errors.Is(err, errRetry) && time.Since(t) < retryBudget {
				time.Sleep(retryPause)
				err = a.produce(gctx, topic, 0, body)
			}
			if err != nil {
				return err
			}
			// Wait for the consumer to see it (or time out) before the next.
			deadline := time.Now().Add(10 * time.Second)
			for len(seen) < i+1 && time.Now().Before(deadline) && gctx.Err() == nil {
				time.Sleep(100 * time.Microsecond)
			}
			if len(seen) < i+1 {
				return fmt.Errorf("end-to-end: record %d not seen by the consumer within 10 s", i)
			}
			if d := gap - time.Since(t); d > 0 {
				time.Sleep(d)
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	close(seen)
	var lats []time.Duration
	for l := range seen {
		lats = append(lats, l)
	}
	if len(lats) == 0 {
		return nil, fmt.Errorf("end-to-end on %s: no record seen", topic)
	}
	return lats, nil
}
