package partition

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

func TestActorOffsetsDenseAcrossConcurrentProducers(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	jw := &journalWAL{WAL: env.wal}
	cfg := env.config(registry.DurabilityWAL)
	cfg.WAL = jw
	a := env.start(cfg)

	const producers, requests = 8, 100
	type ack struct {
		base int64
		vals []string
	}
	acks := make([][]ack, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range requests {
				vals := []string{fmt.Sprintf("p%d-%d-a", p, i)}
				if i%3 == 0 {
					vals = append(vals, fmt.Sprintf("p%d-%d-b", p, i))
				}
				base, err := a.Produce(context.Background(), plainReq(vals...))
				if err != nil {
					t.Error(err)
					return
				}
				acks[p] = append(acks[p], ack{base, vals})
			}
		})
	}
	wg.Wait()

	want := make(map[int64]string)
	for p := range producers {
		last := int64(-1)
		for _, k := range acks[p] {
			if k.base <= last {
				t.Fatalf("producer %d: offset %d after %d", p, k.base, last)
			}
			for i, v := range k.vals {
				if _, dup := want[k.base+int64(i)]; dup {
					t.Fatalf("offset %d given twice", k.base+int64(i))
				}
				want[k.base+int64(i)] = v
			}
			last = k.base
		}
	}
	hwm := a.HighWatermark()
	if int64(len(want)) != hwm {
		t.Fatalf("high watermark %d, %d records acknowledged", hwm, len(want))
	}
	for off := range hwm {
		if _, ok := want[off]; !ok {
			t.Fatalf("offset %d missing: offsets not dense", off)
		}
	}
	// The tail serves them all, at their offsets.
	got := readActorTail(t, a, 0)
	for off, v := range want {
		if got[off] != v {
			t.Fatalf("tail offset %d = %q, want %q", off, got[off], v)
		}
	}
	t.Logf("%d requests in %d WAL appends", producers*requests, jw.appends.Load()-1)
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := env.committed(); len(got) != len(want) {
		t.Fatalf("committed %d records, want %d", len(got), len(want))
	}
}

// readActorTail reads the actor's tail from offset to the high watermark.
func readActorTail(t testing.TB, a *Actor, from int64) map[int64]string {
	t.Helper()
	out := make(map[int64]string)
	for off := from; off < a.HighWatermark(); {
		bs, ok := a.ReadTail(off, 1<<10)
		if !ok || len(bs) == 0 {
			t.Fatalf("ReadTail(%d) = %d batches, %v", off, len(bs), ok)
		}
		for _, b := range bs {
			for _, r := range b.Records {
				if r.Offset >= off {
					out[r.Offset] = string(r.Value)
				}
			}
			off = b.LastOffset() + 1
		}
	}
	return out
}

func TestActorGroupCommitGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityWAL)
		gw := &gateWAL{WAL: env.wal, gate: make(chan struct{})}
		cfg := env.config(registry.DurabilityWAL)
		cfg.WAL = gw
		a := env.start(cfg)
		markers := gw.appends.Load()

		const n = 50
		errs := make(chan error, n)
		produce := func(i int) {
			_, err := a.Produce(context.Background(), plainReq(fmt.Sprint(i)))
			errs <- err
		}
		go produce(0)
		synctest.Wait() // the first append is in flight, held at the gate
		for i := 1; i < n; i++ {
			go produce(i)
		}
		synctest.Wait() // 49 requests wait in the inbox
		close(gw.gate)
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := gw.appends.Load() - markers; got != 2 {
			t.Fatalf("%d requests took %d WAL appends, want 2 (one in flight, one group)", n, got)
		}
		if a.HighWatermark() != n {
			t.Fatalf("high watermark %d, want %d", a.HighWatermark(), n)
		}
	})
}

func TestActorBusyInbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityWAL)
		gw := &gateWAL{WAL: env.wal, gate: make(chan struct{})}
		cfg := env.config(registry.DurabilityWAL)
		cfg.WAL = gw
		cfg.InboxRecords = 2
		a := env.start(cfg)
		errs := make(chan error, 3)
		produce := func(vals ...string) {
			_, err := a.Produce(context.Background(), plainReq(vals...))
			errs <- err
		}
		go produce("in flight")
		synctest.Wait()
		go produce("q1", "q2") // fills the inbox
		synctest.Wait()
		if _, err := a.Produce(context.Background(), plainReq("over")); !errors.Is(err, ErrBusy) {
			t.Fatalf("produce into a full inbox: %v, want ErrBusy", err)
		}
		close(gw.gate)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if a.HighWatermark() != 3 {
			t.Fatalf("high watermark %d, want 3: the refused request must not be written", a.HighWatermark())
		}
	})
}

func TestActorTakeoverFencesOldOwnerAndKeepsOffsets(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	cfg := env.config(registry.DurabilityWAL)
	cfg.FlushBytes = 200 // a few segments get committed and the WAL trimmed
	old := env.start(cfg)
	want := make(map[int64]string)
	ctx := context.Background()
	for i := range 40 {
		v := fmt.Sprintf("old-%d", i)
		base, err := old.Produce(ctx, plainReq(v, v+"'"))
		if err != nil {
			t.Fatal(err)
		}
		want[base], want[base+1] = v, v+"'"
	}
	oldHWM := old.HighWatermark()
	// Some of it is in segments (and trimmed from the WAL), the rest only in
	// the WAL.
	actorCheckFor(t, 10*time.Second, func() bool {
		p, err := env.reg.Partition(ctx, env.pid)
		return err == nil && p.HighWatermark > 0
	})

	cfg.FlushBytes = 1 << 30
	next := env.start(cfg)
	if next.Epoch() <= old.Epoch() {
		t.Fatalf("new epoch %d not above old %d", next.Epoch(), old.Epoch())
	}
	if next.HighWatermark() != oldHWM {
		t.Fatalf("new owner's high watermark %d, old acknowledged up to %d", next.HighWatermark(), oldHWM)
	}
	_, err := old.Produce(ctx, plainReq("stale"))
	if !errors.Is(err, ErrNotOwner) {
		t.Fatalf("old owner's produce after takeover: %v, want ErrNotOwner", err)
	}
	<-old.Done()
	if _, err := old.Produce(ctx, plainReq("stale2")); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("old owner's produce after it stopped: %v, want ErrNotOwner", err)
	}

	base, err := next.Produce(ctx, plainReq("new"))
	if err != nil || base != oldHWM {
		t.Fatalf("new owner's first produce: offset %d, %v; want %d", base, err, oldHWM)
	}
	want[base] = "new"
	if err := next.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got := env.committed()
	if len(got) != len(want) {
		t.Fatalf("%d records committed, want %d", len(got), len(want))
	}
	segs, _ := env.reg.ListSegments(ctx, env.pid, 0, 0)
	epochs := map[int64]bool{}
	for _, sg := range segs {
		epochs[sg.Epoch] = true
	}
	if !epochs[old.Epoch()] || !epochs[next.Epoch()] {
		t.Fatalf("segments of epochs %v, want both owners'", epochs)
	}
	for off, v := range want {
		if got[off] != v {
			t.Fatalf("offset %d = %q, want %q", off, got[off], v)
		}
	}
}

func TestActorFlushByAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityWAL)
		cfg := env.config(registry.DurabilityWAL)
		cfg.FlushAge = time.Second
		a := env.start(cfg)
		ctx := context.Background()
		if _, err := a.Produce(ctx, plainReq("a", "b")); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Produce(ctx, plainReq("c")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if p, _ := env.reg.Partition(ctx, env.pid); p.HighWatermark != 0 {
			t.Fatalf("committed before the flush age: %+v", p)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		p, err := env.reg.Partition(ctx, env.pid)
		if err != nil {
			t.Fatal(err)
		}
		entries := env.walEntries()
		if p.HighWatermark != 3 || len(entries) != 1 || entries[0] != fmt.Sprintf("%d:data", p.LastWALSeq) {
			t.Fatalf("after the flush age: partition %+v, wal %v; want hwm 3 and only the segment's last entry kept", p, entries)
		}
		objs, _ := env.store.List(ctx, "seg/")
		if len(objs) != 1 || objs[0].Key != SegmentKey("seg", env.id, 0, a.Epoch()) {
			t.Fatalf("objects %v", objs)
		}
		if got := env.committed(); got[0] != "a" || got[2] != "c" {
			t.Fatalf("committed %v", got)
		}
	})
}

// TestActorDurableStepOrder is a golden test of the durable steps of a
// takeover, three produces and a graceful stop: segment put, then commit,
// then (with idempotent producers) the producer snapshot, then trim.
func TestActorDurableStepOrder(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	j := &stepJournal{}
	cfg := env.config(registry.DurabilityWAL)
	cfg.WAL = &journalWAL{WAL: env.wal, j: j}
	cfg.Store = &journalStore{Store: env.store, j: j}
	cfg.Registry = &journalRegistry{ActorRegistry: env.reg, j: j}
	a := env.start(cfg)
	ctx := context.Background()
	for i := range 3 {
		req := plainReq(fmt.Sprint(i))
		if i == 2 {
			req.ProducerID, req.ProducerEpoch, req.BaseSequence = 9, 0, 0
		}
		if _, err := a.Produce(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	key := SegmentKey("seg", env.id, 0, 1)
	want := "wal append marker expected=0 -> seq=3 err=<nil>\n" +
		"wal append data expected=3 -> seq=6 err=<nil>\n" +
		"wal append data expected=6 -> seq=9 err=<nil>\n" +
		"wal append data expected=9 -> seq=12 err=<nil>\n" +
		"put " + key + " err=<nil>\n" +
		"commit " + key + " offsets=0-2 epoch=1 wal_seq=12 err=<nil>\n" +
		"wal append producers expected=12 -> seq=15 err=<nil>\n" +
		"wal trim below=12 err=<nil>\n"
	if got := j.String(); got != want {
		t.Fatalf("durable steps:\n%s\nwant:\n%s", got, want)
	}
}

func TestActorObjectModeAcksAfterCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityObject)
		cfg := env.config(registry.DurabilityObject)
		cfg.FlushAge = 500 * time.Millisecond
		a := env.start(cfg)
		ctx := context.Background()
		type res struct {
			base int64
			err  error
		}
		results := make(chan res, 2)
		for _, v := range []string{"x", "y"} {
			go func() {
				base, err := a.Produce(ctx, plainReq(v))
				results <- res{base, err}
			}()
		}
		synctest.Wait()
		select {
		case r := <-results:
			t.Fatalf("acknowledged before the segment commit: %+v", r)
		default:
		}
		if a.HighWatermark() != 0 {
			t.Fatalf("high watermark %d before the commit", a.HighWatermark())
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		seen := map[int64]bool{}
		for range 2 {
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			seen[r.base] = true
		}
		if !seen[0] || !seen[1] {
			t.Fatalf("offsets %v, want 0 and 1", seen)
		}
		p, err := env.reg.Partition(ctx, env.pid)
		if err != nil || p.HighWatermark != 2 || a.HighWatermark() != 2 {
			t.Fatalf("partition %+v (%v), actor hwm %d; want 2 committed", p, err, a.HighWatermark())
		}
		if got := env.committed(); len(got) != 2 {
			t.Fatalf("committed %v", got)
		}
	})
}

func TestActorIdempotentProducer(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	jw := &journalWAL{WAL: env.wal}
	cfg := env.config(registry.DurabilityWAL)
	cfg.WAL = jw
	a := env.start(cfg)
	ctx := context.Background()
	idem := func(epoch int16, seq int32, vals ...string) ProduceRequest {
		return ProduceRequest{Records: actorRecords(vals...), ProducerID: 7, ProducerEpoch: epoch, BaseSequence: seq}
	}
	mustProduce := func(req ProduceRequest, want int64, dup bool) {
		t.Helper()
		p, err := a.ProduceDetail(ctx, req)
		if err != nil || p.Base != want || p.Duplicate != dup {
			t.Fatalf("produce seq %d: %+v, %v; want offset %d, duplicate %v", req.BaseSequence, p, err, want, dup)
		}
	}
	mustBase := func(req ProduceRequest, want int64) { t.Helper(); mustProduce(req, want, false) }
	mustBase(idem(0, 0, "a", "b", "c"), 0)
	mustBase(plainReq("other"), 3)
	mustBase(idem(0, 3, "d", "e"), 4)
	appends := jw.appends.Load()
	mustProduce(idem(0, 0, "a", "b", "c"), 0, true) // retry
	mustProduce(idem(0, 3, "d", "e"), 4, true)      // retry
	if jw.appends.Load() != appends || a.HighWatermark() != 6 {
		t.Fatalf("retries wrote: %d appends (was %d), high watermark %d", jw.appends.Load(), appends, a.HighWatermark())
	}

	_, err := a.Produce(ctx, idem(0, 9, "gap"))
	var se *SequenceError
	if !errors.As(err, &se) || se.Expected != 5 || se.Got != 9 {
		t.Fatalf("gap: %v, want a SequenceError expecting 5, got 9", err)
	}
	mustBase(idem(1, 0, "new epoch"), 6)
	if _, err := a.Produce(ctx, idem(0, 5, "zombie")); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("old producer epoch: %v, want ErrProducerFenced", err)
	}
	if a.HighWatermark() != 7 {
		t.Fatalf("high watermark %d, want 7", a.HighWatermark())
	}

	// The state survives a flush (WAL trimmed behind a producer snapshot)
	// and a takeover.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if entries := env.walEntries(); len(entries) != 2 || entries[1][len(entries[1])-len("producers"):] != "producers" {
		t.Fatalf("wal after flush: %v, want the segment's last entry and a producer snapshot", entries)
	}
	b := env.start(cfg)
	base, err := b.Produce(ctx, idem(1, 0, "new epoch"))
	if err != nil || base != 6 {
		t.Fatalf("retry after takeover: offset %d, %v; want 6", base, err)
	}
	if _, err := b.Produce(ctx, idem(1, 2, "gap")); !errors.As(err, &se) || se.Expected != 1 {
		t.Fatalf("gap after takeover: %v, want expected 1", err)
	}
	// Rebuilt from replayed WAL batches too (not yet flushed).
	mustB := func(req ProduceRequest, want int64) {
		t.Helper()
		base, err := b.Produce(ctx, req)
		if err != nil || base != want {
			t.Fatalf("produce: offset %d, %v; want %d", base, err, want)
		}
	}
	mustB(idem(1, 1, "f"), 7)
	c := env.start(cfg)
	base, err = c.Produce(ctx, idem(1, 1, "f"))
	if err != nil || base != 7 {
		t.Fatalf("retry after second takeover: offset %d, %v; want 7", base, err)
	}
}

func TestActorStopFlushesAndRefuses(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	a := env.start(env.config(registry.DurabilityWAL))
	ctx := context.Background()
	for i := range 5 {
		if _, err := a.Produce(ctx, plainReq(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := env.reg.Partition(ctx, env.pid)
	if err != nil || p.HighWatermark != 5 {
		t.Fatalf("after Stop: %+v, %v; want 5 committed", p, err)
	}
	if _, err := a.Produce(ctx, plainReq("late")); !errors.Is(err, ErrStopped) {
		t.Fatalf("produce after Stop: %v, want ErrStopped", err)
	}
	if err := a.Wait(ctx, 10); !errors.Is(err, ErrStopped) {
		t.Fatalf("Wait after Stop: %v", err)
	}
}

func TestActorWaitWakesOnHighWatermark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityWAL)
		a := env.start(env.config(registry.DurabilityWAL))
		ctx := context.Background()
		woke := make(chan error, 1)
		go func() { woke <- a.Wait(ctx, 0) }()
		synctest.Wait()
		select {
		case err := <-woke:
			t.Fatalf("Wait returned before any record: %v", err)
		default:
		}
		if _, err := a.Produce(ctx, plainReq("r")); err != nil {
			t.Fatal(err)
		}
		if err := <-woke; err != nil {
			t.Fatal(err)
		}
		if bs, ok := a.ReadTail(0, 100); !ok || len(bs) != 1 || string(bs[0].Records[0].Value) != "r" {
			t.Fatalf("ReadTail = %v, %v", bs, ok)
		}
		if bs, ok := a.ReadTail(1, 100); !ok || len(bs) != 0 {
			t.Fatalf("ReadTail at the high watermark = %v, %v", bs, ok)
		}
	})
}

func TestActorResolvesWALErrorsOfUnknownOutcome(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	cfg := env.config(registry.DurabilityWAL)
	cfg.WAL = &flakyWAL{WAL: env.wal, faults: []string{"", "lost", "landed", "lost", "landed", ""}}
	cfg.RetryBackoff = time.Millisecond
	a := env.start(cfg)
	ctx := context.Background()
	for i := range 6 {
		base, err := a.Produce(ctx, plainReq(fmt.Sprint(i)))
		if err != nil || base != int64(i) {
			t.Fatalf("produce %d: offset %d, %v", i, base, err)
		}
	}
	// Each record is in the WAL exactly once.
	if entries := env.walEntries(); len(entries) != 7 { // marker and six data entries
		t.Fatalf("wal holds %v, want the marker and six data entries", entries)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := env.committed(); len(got) != 6 || got[5] != "5" {
		t.Fatalf("committed %v", got)
	}
}

func TestActorCommitWithLostReply(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	cfg := env.config(registry.DurabilityWAL)
	cfg.Registry = &lostReplyRegistry{ActorRegistry: env.reg}
	cfg.RetryBackoff = time.Millisecond
	a := env.start(cfg)
	ctx := context.Background()
	if _, err := a.Produce(ctx, plainReq("a", "b")); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop after a commit whose reply was lost: %v", err)
	}
	if p, _ := env.reg.Partition(ctx, env.pid); p.HighWatermark != 2 {
		t.Fatalf("partition %+v", p)
	}
}

func TestActorKillCommitsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityWAL)
		gw := &gateWAL{WAL: env.wal, gate: make(chan struct{})}
		cfg := env.config(registry.DurabilityWAL)
		cfg.WAL = gw
		a := env.start(cfg)
		errs := make(chan error, 1)
		go func() {
			_, err := a.Produce(context.Background(), plainReq("pending"))
			errs <- err
		}()
		synctest.Wait()
		a.Kill()
		// Its append was in flight: the actor cannot know it did not land.
		if err := <-errs; !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotOwner) {
			t.Fatalf("pending produce after Kill: %v, want ErrOutcomeUnknown and not ErrNotOwner", err)
		}
		if _, err := a.Produce(context.Background(), plainReq("late")); !errors.Is(err, ErrNotOwner) {
			t.Fatalf("produce after Kill: %v, want ErrNotOwner", err)
		}
		if p, _ := env.reg.Partition(context.Background(), env.pid); p.HighWatermark != 0 {
			t.Fatalf("Kill committed: %+v", p)
		}
	})
}

// actorCheckFor polls cond until it holds or timeout passes (real I/O: bbolt
// fsyncs), never a bare sleep.
func actorCheckFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestActorUnflushedBacklogHoldsInbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityObject)
		cfg := env.config(registry.DurabilityObject)
		cfg.FlushAge = time.Second
		cfg.MaxUnflushedBytes = 1 // one group waits for its segment, then the inbox holds
		cfg.InboxRecords = 1
		a := env.start(cfg)
		errs := make(chan error, 2)
		for _, v := range []string{"first", "second"} {
			go func() {
				_, err := a.Produce(context.Background(), plainReq(v))
				errs <- err
			}()
			synctest.Wait()
		}
		if _, err := a.Produce(context.Background(), plainReq("third")); !errors.Is(err, ErrBusy) {
			t.Fatalf("produce behind an unflushed backlog: %v, want ErrBusy", err)
		}
		time.Sleep(time.Second) // first segment
		synctest.Wait()
		time.Sleep(time.Second) // second segment
		synctest.Wait()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if a.HighWatermark() != 2 {
			t.Fatalf("high watermark %d, want 2", a.HighWatermark())
		}
	})
}

func TestActorObjectModeFencedByEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityObject)
		cfg := env.config(registry.DurabilityObject)
		cfg.FlushAge = time.Second
		old := env.start(cfg)
		errs := make(chan error, 1)
		go func() {
			_, err := old.Produce(context.Background(), plainReq("stale"))
			errs <- err
		}()
		synctest.Wait()
		next := env.start(cfg)
		time.Sleep(time.Second)
		synctest.Wait()
		err := <-errs
		if !errors.Is(err, ErrNotOwner) || !errors.Is(err, registry.ErrEpochFenced) {
			t.Fatalf("old owner's produce: %v, want ErrNotOwner from an epoch fence", err)
		}
		if next.HighWatermark() != 0 {
			t.Fatalf("new owner's high watermark %d, want 0: nothing was acknowledged", next.HighWatermark())
		}
		if p, _ := env.reg.Partition(context.Background(), env.pid); p.HighWatermark != 0 {
			t.Fatalf("stale commit landed: %+v", p)
		}
	})
}

// Object mode: once FlushRequests requests wait for a segment, it is
// written at once rather than after FlushAge, since their senders can send
// nothing more until answered.
func TestActorObjectModeFlushesWhenRequestsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newActorEnv(t, registry.DurabilityObject)
		cfg := env.config(registry.DurabilityObject)
		cfg.FlushAge = time.Hour
		cfg.FlushRequests = 3
		a := env.start(cfg)
		start := time.Now()
		errs := make(chan error, 3)
		for _, v := range []string{"a", "b"} {
			go func() {
				_, err := a.Produce(context.Background(), plainReq(v))
				errs <- err
			}()
		}
		synctest.Wait()
		select {
		case err := <-errs:
			t.Fatalf("answered with 2 of 3 requests waiting: %v", err)
		default:
		}
		go func() {
			_, err := a.Produce(context.Background(), plainReq("c"))
			errs <- err
		}()
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if waited := time.Since(start); waited >= time.Hour {
			t.Fatalf("acknowledged after %s: waited for FlushAge", waited)
		}
		if a.HighWatermark() != 3 {
			t.Fatalf("high watermark %d, want 3", a.HighWatermark())
		}
	})
}
