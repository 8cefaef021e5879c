package partition

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// An object-mode partition has no WAL: the producers' state reaches the next
// owner through the footer of the latest segment, and it must hold every
// producer, not only those of that segment.
func TestActorIdempotentProducerObjectModeSurvivesOwnerChange(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityObject)
	cfg := env.config(registry.DurabilityObject)
	cfg.FlushAge = 5 * time.Millisecond
	ctx := context.Background()
	idem := func(id int64, seq int32, vals ...string) ProduceRequest {
		return ProduceRequest{Records: actorRecords(vals...), ProducerID: id, BaseSequence: seq}
	}
	must := func(a *Actor, req ProduceRequest, want int64) {
		t.Helper()
		base, err := a.Produce(ctx, req)
		if err != nil || base != want {
			t.Fatalf("producer %d seq %d: offset %d, %v; want %d", req.ProducerID, req.BaseSequence, base, err, want)
		}
	}
	segments := func() int {
		t.Helper()
		segs, err := env.reg.ListSegments(ctx, env.pid, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(segs)
	}

	a := env.start(cfg)
	must(a, idem(7, 0, "a", "b", "c"), 0) // segment 1
	must(a, plainReq("other"), 3)         // segment 2
	must(a, idem(8, 0, "x"), 4)           // segment 3: producer 7 only in the carried state
	a.Kill()                              // every acknowledged batch is committed

	b := env.start(cfg)
	n := segments()
	must(b, idem(7, 0, "a", "b", "c"), 0) // retries answered from the footer's state
	must(b, idem(8, 0, "x"), 4)
	if got := segments(); got != n || b.HighWatermark() != 5 {
		t.Fatalf("retries wrote: %d segments (was %d), high watermark %d", got, n, b.HighWatermark())
	}
	var se *SequenceError
	if _, err := b.Produce(ctx, idem(7, 9, "gap")); !errors.As(err, &se) || se.Expected != 3 {
		t.Fatalf("gap after takeover: %v, want a SequenceError expecting 3", err)
	}
	must(b, idem(7, 3, "d"), 5)
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	c := env.start(cfg)
	must(c, idem(7, 3, "d"), 5)
	must(c, idem(8, 0, "x"), 4)
	if c.HighWatermark() != 6 {
		t.Fatalf("high watermark %d after the retries, want 6", c.HighWatermark())
	}
	if got := env.committed(); len(got) != 6 {
		t.Fatalf("committed records %v, want 6", got)
	}
}

func TestFooterProducerSnapshotRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	id := ID{Tenant: 1, Topic: 2, Partition: 3}
	other := ID{Tenant: 1, Topic: 2, Partition: 4}
	var p producers
	p.record(7, 2, producerBatch{baseSeq: 10, count: 3, base: 100})
	p.record(9, 0, producerBatch{baseSeq: 0, count: 1, base: 103})
	snap := appendProducerSnapshot(nil, &p)

	w := NewSegmentWriter()
	b := genBatch(rng, 100, 4, 50)
	if err := w.Append(id, &b); err != nil {
		t.Fatal(err)
	}
	if err := w.setProducers(other, snap); err == nil {
		t.Fatal("setProducers for a partition without batches: no error")
	}
	if err := w.setProducers(id, snap); err != nil {
		t.Fatal(err)
	}
	ob := genBatch(rng, 0, 2, 50)
	if err := w.Append(other, &ob); err != nil {
		t.Fatal(err)
	}
	obj, _, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	seg, err := OpenSegment(context.Background(), putObject(t, obj), testKey, int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	pi, err := seg.Partition(id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pi.producers, snap) {
		t.Fatalf("snapshot read back %x, wrote %x", pi.producers, snap)
	}
	var got producers
	if err := decodeProducerSnapshot(pi.producers, &got); err != nil {
		t.Fatal(err)
	}
	if bt, dup, _ := got.check(7, 2, 10, 3); !dup || bt.base != 100 {
		t.Fatalf("decoded state: retry of producer 7 gives %+v dup %v, want base 100", bt, dup)
	}
	// A partition written without a snapshot reads back as none, as
	// segments of older writers do.
	if po, err := seg.Partition(other); err != nil || po.producers != nil {
		t.Fatalf("partition without snapshot: %x, %v", po.producers, err)
	}
}
