package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// countObjects reports, for each topic of the stopped cell not reported
// yet, the objects and bytes its segments take per GB of values
// acknowledged. The cell's drain flushed every tail, so nothing acknowledged
// is missing from the count.
func (b *bench) countObjects(c *cell) error {
	floorPuts := 1e9 / segmentBytes
	for _, topic := range b.cellTopics[b.cur] {
		if b.counted[topic] || b.ingested[topic] == 0 {
			continue
		}
		b.counted[topic] = true
		u, err := objectsUnder(filepath.Join(c.opts.dataDir, "objects"), fmt.Sprintf("%s/%d", c.tenant, b.ids[topic]))
		if err != nil {
			return err
		}
		gb := float64(b.ingested[topic]) / 1e9
		puts, stored := float64(u.objects)/gb, float64(u.bytes)/1e9/gb
		b.rep.add("Object store per GB of values acknowledged (counted under the cell's objects/ after its drain)",
			fmt.Sprintf("%s (%s acknowledged)", topic, mib(b.ingested[topic])),
			fmt.Sprintf("%s PUTs · %.2f GB stored", count(puts), stored), puts,
			fmt.Sprintf("%.0f PUTs (%d MiB segments) · 1.00 GB", floorPuts, segmentBytes>>20),
			ratio(puts, floorPuts)+" · "+ratio(stored, 1))
	}
	return nil
}

// floors measures, once per run, the floors mode's figures are compared
// against, on the running cell's NATS server and filesystem.
func (b *bench) floors(ctx context.Context, c *cell, mode string) error {
	if mode == "object" {
		if b.putTP.bytes > 0 {
			return nil
		}
		b.logf("floor: raw %d MiB PUTs through objectstore.NewFS", segmentBytes>>20)
		tp, lats, err := putFloor(ctx, filepath.Join(c.opts.dataDir, "streambench-floor-objects"), segmentBytes, putFloorConc, b.cfg.step, b.cfg.stepBytes)
		if err != nil {
			return err
		}
		b.putTP, b.putLat = tp, quantiles(lats)
		b.rep.add("Floors", fmt.Sprintf("raw PUT of %d MiB objects, %d in flight (objectstore.NewFS)", segmentBytes>>20, putFloorConc),
			mb(tp.mbPerSec())+"; "+latencies(b.putLat, len(lats)), tp.mbPerSec(), "—", "—")
		return nil
	}
	if len(b.jsTP) > 0 {
		return nil
	}
	f, err := openJSFloor(ctx, c.natsURL)
	if err != nil {
		return err
	}
	for _, size := range b.cfg.sizes {
		body, recs := payload(size, b.cfg.walBatch)
		valueBytes := int64(recs * size)
		b.logf("floor: raw JetStream publish, %s records, %d per message", sizeName(size), recs)
		tp, err := f.asyncPublish(ctx, fmt.Sprint(size), body, valueBytes, b.cfg.step, b.cfg.stepBytes)
		if err != nil {
			_ = f.close(ctx)
			return err
		}
		lats, err := f.syncLatency(ctx, fmt.Sprint(size), body, floorLatencyTime, floorLatencyCount)
		if err != nil {
			_ = f.close(ctx)
			return err
		}
		b.jsTP[size], b.jsLat[size] = tp, quantiles(lats)
		b.rep.add("Floors", fmt.Sprintf("raw JetStream publish, %s records × %d per message: async throughput; sync ack latency p50 / p99 / p99.9", sizeName(size), recs),
			mb(tp.mbPerSec())+"; "+latencies(b.jsLat[size], len(lats)), tp.mbPerSec(), "—", "—")
	}
	lats, err := f.e2eLatency(ctx, floorLatencyTime, floorLatencyCount)
	if err != nil {
		_ = f.close(ctx)
		return err
	}
	b.jsE2E = quantiles(lats)
	b.rep.add("Floors", "raw JetStream publish → core NATS subscriber sees it, p50 / p99 / p99.9",
		latencies(b.jsE2E, len(lats)), float64(b.jsE2E[0]), "—", "—")
	return f.close(ctx)
}

// produceTopic creates a topic of p partitions and runs, for each record
// size, a flat-out step and a fixed-rate step.
func (b *bench) produceTopic(ctx context.Context, a *api, mode string, p int) error {
	topic := b.topic(fmt.Sprintf("bench-%s-%d", mode, p))
	if err := b.createTopic(ctx, a, topic, p, mode); err != nil {
		return err
	}
	t0 := time.Now()
	if err := a.waitReady(ctx, topic, p); err != nil {
		return err
	}
	b.logf("%s: %s served after %s", topic, partitionsName(p), time.Since(t0).Round(time.Millisecond))
	conc, batch, step := b.cfg.walConc, b.cfg.walBatch, b.cfg.step
	if mode == "object" {
		// Each request waits about the flush age: a few per partition keep
		// it busy, more only queue (and stretch the step past its budget).
		conc, batch, step = min(b.cfg.objectConc, objectPerPartition*p), b.cfg.objectBatch, 2*b.cfg.step
	}
	for _, size := range b.cfg.sizes {
		body, recs := payload(size, batch)
		spec := loadSpec{topic: topic, partitions: p, body: body, records: recs, recordSize: size,
			conc: conc, duration: step, maxBytes: b.cfg.stepBytes}
		what := fmt.Sprintf("%s · %s · %s", mode, sizeName(size), partitionsName(p))
		b.logf("produce flat out: %s", what)
		flat, err := runLoad(ctx, a, spec)
		if err != nil {
			return err
		}
		b.ingested[topic] += flat.bytes
		spec.rate = b.cfg.fixedFraction * flat.recordsPerSec()
		b.logf("produce at %.0f rec/s: %s", spec.rate, what)
		fixed, err := runLoad(ctx, a, spec)
		if err != nil {
			return err
		}
		b.ingested[topic] += fixed.bytes
		b.produceRows(mode, size, what, recs, flat, fixed, spec.rate)
	}
	return nil
}

func (b *bench) produceRows(mode string, size int, what string, recs int, flat, fixed loadResult, rate float64) {
	floorTP, floorLat := b.jsTP[size], b.jsLat[size]
	floorName := "raw JetStream"
	if mode == "object" {
		floorTP, floorLat, floorName = b.putTP, b.putLat, "raw PUT"
	}
	retried := ""
	if flat.retries > 0 {
		retried = fmt.Sprintf(" (%s requests retried after 429/503)", count(float64(flat.retries)))
	}
	b.rep.add("Produce throughput, flat out", what,
		fmt.Sprintf("%s rec/s · %s%s", count(flat.recordsPerSec()), mb(flat.mbPerSec()), retried), flat.mbPerSec(),
		floorName+" "+mb(floorTP.mbPerSec()), ratio(flat.mbPerSec(), floorTP.mbPerSec()))
	q := quantiles(flat.lat)
	b.rep.add("Acknowledgement latency flat out, ms: p50 / p99 / p99.9 per request", fmt.Sprintf("%s (%d records a request)", what, recs),
		latencies(q, len(flat.lat)), float64(q[0]), floorName+" "+triple(floorLat), latencyRatios(q, floorLat))
	q = quantiles(fixed.lat)
	b.rep.add(fmt.Sprintf("Acknowledgement latency at %.0f%% of flat out, ms: p50 / p99 / p99.9 per request", 100*b.cfg.fixedFraction),
		fmt.Sprintf("%s at %s rec/s (got %s rec/s)", what, count(rate), count(fixed.recordsPerSec())),
		latencies(q, len(fixed.lat)), float64(q[0]), floorName+" "+triple(floorLat), latencyRatios(q, floorLat))
}

// endToEnd measures produce → a long-polling consumer sees it, on a topic
// of one partition.
func (b *bench) endToEnd(ctx context.Context, a *api, mode string) error {
	topic := b.topic("e2e-" + mode)
	if err := b.createTopic(ctx, a, topic, 1, mode); err != nil {
		return err
	}
	if err := a.waitReady(ctx, topic, 1); err != nil {
		return err
	}
	b.logf("end to end: %s", mode)
	lats, err := endToEnd(ctx, a, topic, e2eGap, e2eBudget, b.cfg.e2eSamples)
	if err != nil {
		return err
	}
	q := quantiles(lats)
	floor, r := "—", "—"
	if b.jsE2E[0] > 0 {
		floor, r = "raw JetStream "+triple(b.jsE2E), latencyRatios(q, b.jsE2E)
	}
	b.rep.add("End-to-end latency, ms: p50 / p99 / p99.9 (produce sent → the consumer's long poll answers)",
		mode+" · 1 partition · one record at a time", latencies(q, len(lats)), float64(q[0]), floor, r)
	return nil
}

// consumeTail writes the consume topic and reads it straight back, while
// the records are in the partitions' in-memory tails.
func (b *bench) consumeTail(ctx context.Context, a *api) error {
	topic := b.topic("consume")
	if err := b.createTopic(ctx, a, topic, consumeTopicParts, "wal"); err != nil {
		return err
	}
	if err := a.waitReady(ctx, topic, consumeTopicParts); err != nil {
		return err
	}
	body, recs := payload(1024, b.cfg.walBatch)
	b.logf("consume: writing %s", mib(b.cfg.consumeBytes))
	w, err := runLoad(ctx, a, loadSpec{topic: topic, partitions: consumeTopicParts, body: body, records: recs, recordSize: 1024,
		conc: b.cfg.walConc, duration: consumeBudget, maxBytes: b.cfg.consumeBytes})
	if err != nil {
		return err
	}
	b.ingested[topic] += w.bytes
	b.logf("consume: reading from the tail")
	r, err := readAll(ctx, a, topic, consumeTopicParts, consumeConc, consumeBudget)
	if err != nil {
		return err
	}
	b.rep.add("Consume throughput (gRPC Fetch, 1 MiB a call, 16 partitions at once)",
		fmt.Sprintf("from the tail, just written: wal · 1 KiB · %d partitions, %s", consumeTopicParts, mib(r.bytes)),
		fmt.Sprintf("%s rec/s · %s%s", count(float64(r.records)/r.elapsed.Seconds()), mb(r.mbPerSec()), retriedFetches(r.retries)), r.mbPerSec(), "—", "—")
	return nil
}

// consumeObjects reads the consume topic after a restart: the new actors
// start with empty tails (the stop flushed and trimmed the WAL), so every
// record comes from a segment in object storage, through a cold cache.
func (b *bench) consumeObjects(ctx context.Context, c *cell, a *api) error {
	topic := b.topic("consume")
	if err := a.waitReady(ctx, topic, consumeTopicParts); err != nil {
		return err
	}
	b.logf("consume: reading from object storage")
	r, err := readAll(ctx, a, topic, consumeTopicParts, consumeConc, consumeBudget)
	if err != nil {
		return err
	}
	id, ok := b.ids[topic]
	if !ok {
		return fmt.Errorf("no id of topic %s", topic)
	}
	floor, err := getFloor(ctx, filepath.Join(c.opts.dataDir, "objects"), fmt.Sprintf("%s/%d/", c.tenant, id), consumeConc)
	if err != nil {
		return err
	}
	b.rep.add("Consume throughput (gRPC Fetch, 1 MiB a call, 16 partitions at once)",
		fmt.Sprintf("from object storage, after a restart: wal · 1 KiB · %d partitions, %s", consumeTopicParts, mib(r.bytes)),
		fmt.Sprintf("%s rec/s · %s%s", count(float64(r.records)/r.elapsed.Seconds()), mb(r.mbPerSec()), retriedFetches(r.retries)), r.mbPerSec(),
		"raw GET "+mb(floor.mbPerSec()), ratio(r.mbPerSec(), floor.mbPerSec()))
	return nil
}

// retriedFetches notes fetches sent again after UNAVAILABLE.
func retriedFetches(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s fetches retried after UNAVAILABLE)", count(float64(n)))
}
