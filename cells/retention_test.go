package cells

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

func TestRetentionCutoff(t *testing.T) {
	t.Parallel()
	const now = 10_000 // ms
	// seg i covers offsets 10i..10i+9.
	segs := func(ts []int64, sizes []int64) []registry.Segment {
		out := make([]registry.Segment, len(ts))
		for i := range ts {
			out[i] = registry.Segment{FirstOffset: int64(10 * i), LastOffset: int64(10*i + 9), MaxTimestamp: ts[i], Length: sizes[i]}
		}
		return out
	}
	u := registry.Unlimited
	for _, c := range []struct {
		name      string
		ms, bytes int64
		segs      []registry.Segment
		want      int64 // -1: nothing to drop
	}{
		{"unlimited", u, u, segs([]int64{1, 2, 3}, []int64{100, 100, 100}), -1},
		{"no segments", 1, 1, nil, -1},
		{"time only", 4000, u, segs([]int64{1000, 5000, 9000}, []int64{100, 100, 100}), 20},
		{"time: boundary kept", 4000, u, segs([]int64{6000, 9000}, []int64{1, 1}), -1},
		{"time: stops at the first fresh segment", 4000, u, segs([]int64{1000, 9000, 2000}, []int64{1, 1, 1}), 10},
		{"time: everything older", 1000, u, segs([]int64{1000, 5000, 8999}, []int64{100, 100, 100}), 30},
		{"time: nothing to drop", 60_000, u, segs([]int64{1000, 5000}, []int64{100, 100}), -1},
		{"size only", u, 250, segs([]int64{1, 2, 3}, []int64{100, 100, 100}), 10},
		{"size: down to the budget", u, 100, segs([]int64{1, 2, 3}, []int64{100, 100, 100}), 20},
		{"size: exactly the budget", u, 300, segs([]int64{1, 2, 3}, []int64{100, 100, 100}), -1},
		{"size: newest kept", u, 50, segs([]int64{1, 2}, []int64{100, 500}), 10},
		{"size: single segment over the budget", u, 1, segs([]int64{1}, []int64{100}), -1},
		{"both: time then size", 4000, 150, segs([]int64{1000, 9000, 9000, 9000}, []int64{100, 100, 100, 100}), 30},
		{"both: size drops more", 4000, 100, segs([]int64{9000, 9000, 9000}, []int64{100, 100, 100}), 20},
		{"both: time drops more", 1000, 1 << 30, segs([]int64{1000, 2000, 9500}, []int64{100, 100, 100}), 20},
		{"both: time drops all", 1000, 1, segs([]int64{1000, 2000}, []int64{100, 100}), 20},
	} {
		got, ok := retentionCutoff(c.ms, c.bytes, c.segs, time.UnixMilli(now))
		if !ok {
			got = -1
		}
		if got != c.want {
			t.Errorf("%s: cutoff %d (ok %v), want %d", c.name, got, ok, c.want)
		}
	}
}

// retentionEnv is an embedded registry with a two-partition topic and an
// in-memory object store, for the retention runner.
type retentionEnv struct {
	t     *testing.T
	reg   *registry.Embedded
	store *objectstore.Mem
	tp    registry.Topic
	p     [2]registry.PartitionID
	epoch int64
}

func newRetentionEnv(t *testing.T, retentionMs, retentionBytes int64) *retentionEnv {
	t.Helper()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	ctx := testCtx(t)
	tn, err := reg.CreateTenant(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	tp, err := reg.CreateTopic(ctx, tn.ID, registry.TopicSpec{Name: "events", Partitions: 2, RetentionMs: retentionMs, RetentionBytes: retentionBytes})
	if err != nil {
		t.Fatal(err)
	}
	e := &retentionEnv{t: t, reg: reg, store: objectstore.NewMem(), tp: tp}
	for i := range e.p {
		e.p[i] = registry.PartitionID{Tenant: tn.ID, Topic: tp.ID, Partition: int32(i)}
		if e.epoch, err = reg.BumpEpoch(ctx, e.p[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// part is one partition's range in an object: n records from first, all
// stamped ts.
type part struct {
	p         int32
	first, n  int64
	timestamp int64
}

// commit writes one object holding the parts (in order) and commits their
// segments together; it returns the object key.
func (e *retentionEnv) commit(parts ...part) string {
	e.t.Helper()
	w := partition.NewSegmentWriter()
	for _, pt := range parts {
		b := &partition.Batch{BaseOffset: pt.first, ProducerID: partition.NoProducer, ProducerEpoch: partition.NoProducer, BaseSequence: partition.NoProducer}
		for i := range pt.n {
			b.Records = append(b.Records, partition.Record{Timestamp: pt.timestamp, Value: fmt.Appendf(nil, "%d-%d", pt.p, pt.first+i)})
		}
		id := e.p[pt.p]
		if err := w.Append(partition.ID{Tenant: id.Tenant, Topic: id.Topic, Partition: id.Partition}, b); err != nil {
			e.t.Fatal(err)
		}
	}
	data, idx, err := w.Seal()
	if err != nil {
		e.t.Fatal(err)
	}
	key := partition.SegmentKey("", idx[0].ID, idx[0].FirstOffset, e.epoch)
	ctx := testCtx(e.t)
	if err := e.store.Put(ctx, key, data); err != nil {
		e.t.Fatal(err)
	}
	var segs []registry.Segment
	for _, x := range idx {
		segs = append(segs, registry.Segment{
			Partition: registry.PartitionID{Tenant: x.ID.Tenant, Topic: x.ID.Topic, Partition: x.ID.Partition},
			Epoch:     e.epoch, ObjectKey: key, Position: x.Pos, Length: x.Size, ObjectSize: int64(len(data)),
			FirstOffset: x.FirstOffset, LastOffset: x.LastOffset, MinTimestamp: x.MinTimestamp, MaxTimestamp: x.MaxTimestamp,
			RecordCount: x.Records,
		})
	}
	if err := e.reg.CommitSegments(ctx, segs); err != nil {
		e.t.Fatal(err)
	}
	return key
}

func (e *retentionEnv) runner(p int32, epoch int64, now *time.Time) *retention {
	return &retention{
		id: e.p[p], epoch: epoch, reg: e.reg, store: e.store, interval: time.Millisecond,
		now: func() time.Time { return *now }, log: slog.New(slog.DiscardHandler),
	}
}

// check says that partition p's log starts at logStart and that its index
// holds segments starting at firsts.
func (e *retentionEnv) check(p int32, logStart int64, firsts ...int64) {
	e.t.Helper()
	ctx := testCtx(e.t)
	pp, err := e.reg.Partition(ctx, e.p[p])
	if err != nil {
		e.t.Fatal(err)
	}
	segs, err := e.reg.ListSegments(ctx, e.p[p], 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	got := []int64{}
	for _, s := range segs {
		got = append(got, s.FirstOffset)
	}
	if pp.LogStartOffset != logStart || !slices.Equal(got, append([]int64{}, firsts...)) {
		e.t.Errorf("partition %d: log start %d, segments at %v; want %d, %v", p, pp.LogStartOffset, got, logStart, firsts)
	}
}

// exists says which of the keys are in the object store.
func (e *retentionEnv) exists(want map[string]bool) {
	e.t.Helper()
	for key, w := range want {
		_, err := e.store.Get(testCtx(e.t), key)
		if got := err == nil; got != w || (err != nil && !errors.Is(err, objectstore.ErrNotFound)) {
			e.t.Errorf("object %s: exists %v (%v), want %v", key, got, err, w)
		}
	}
}

func TestRetentionRunner(t *testing.T) {
	t.Parallel()
	hour := time.Hour.Milliseconds()
	e := newRetentionEnv(t, hour, registry.Unlimited)
	t0 := time.UnixMilli(1_800_000_000_000)
	now := t0
	ts := t0.UnixMilli()
	shared := e.commit(part{0, 0, 2, ts - 3*hour}, part{1, 0, 2, ts}) // p0 old, p1 fresh
	old0 := e.commit(part{0, 2, 2, ts - 2*hour})
	fresh0 := e.commit(part{0, 4, 2, ts})
	ctx := testCtx(t)

	// A stale epoch moves nothing and stops the runner.
	if err := e.runner(0, e.epoch-1, &now).apply(ctx); !errors.Is(err, errRetentionDone) || !errors.Is(err, registry.ErrEpochFenced) {
		t.Fatalf("apply with a stale epoch: %v, want fenced", err)
	}
	e.check(0, 0, 0, 2, 4)
	e.exists(map[string]bool{shared: true, old0: true, fresh0: true})

	// p0's two old segments go; the shared object stays for p1.
	if err := e.runner(0, e.epoch, &now).apply(ctx); err != nil {
		t.Fatal(err)
	}
	e.check(0, 4, 4)
	e.check(1, 0, 0)
	e.exists(map[string]bool{shared: true, old0: false, fresh0: true})

	// Nothing more to drop: a no-op.
	if err := e.runner(0, e.epoch, &now).apply(ctx); err != nil {
		t.Fatal(err)
	}
	e.check(0, 4, 4)

	// Two hours later p1's segment expires too (every committed segment may
	// go by time) and the shared object with it; so does p0's last one.
	now = t0.Add(2 * time.Hour)
	for p := range int32(2) {
		if err := e.runner(p, e.epoch, &now).apply(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.check(0, 6)
	e.check(1, 2)
	e.exists(map[string]bool{shared: false, old0: false, fresh0: false})
}

func TestRetentionRunnerBySize(t *testing.T) {
	t.Parallel()
	e := newRetentionEnv(t, registry.Unlimited, 1)
	now := time.UnixMilli(1_800_000_000_000)
	ts := now.UnixMilli()
	k0 := e.commit(part{0, 0, 3, ts})
	k1 := e.commit(part{0, 3, 3, ts})
	k2 := e.commit(part{0, 6, 3, ts})
	if err := e.runner(0, e.epoch, &now).apply(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	e.check(0, 6, 6) // the newest segment is kept
	e.exists(map[string]bool{k0: false, k1: false, k2: true})
}

// The loop: it applies retention every interval, and ends by itself once
// the partition has moved to a newer epoch.
func TestRetentionRunnerLoop(t *testing.T) {
	t.Parallel()
	e := newRetentionEnv(t, time.Hour.Milliseconds(), registry.Unlimited)
	now := time.UnixMilli(1_800_000_000_000)
	old := e.commit(part{0, 0, 2, now.UnixMilli() - 2*time.Hour.Milliseconds()})
	e.commit(part{0, 2, 2, now.UnixMilli()})
	r := e.runner(0, e.epoch, &now)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	waitFor(t, 10*time.Second, func() error {
		if _, err := e.store.Get(testCtx(t), old); err == nil {
			return errors.New("old object still there")
		}
		return nil
	})
	e.check(0, 2, 2)
	if _, err := e.reg.BumpEpoch(testCtx(t), e.p[0], e.epoch); err != nil { // another owner
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("retention runner did not stop after the partition moved")
	}
}

// An agent applies its topics' retention: records stamped long ago leave
// the log, and a fetch below the new log start is out of range.
func TestAgentRetention(t *testing.T) {
	t.Parallel()
	c := newAgentCell(t)
	ctx := testCtx(t)
	tp, err := c.reg.CreateTopic(ctx, c.tenant.ID, registry.TopicSpec{Name: "expiring", Partitions: 1, RetentionMs: time.Hour.Milliseconds()})
	if err != nil {
		t.Fatal(err)
	}
	nc := c.connect()
	a, err := NewAgent(ctx, AgentConfig{
		Cell: c.cell, AgentID: "a1", Conn: nc, Registry: c.reg, Store: c.store, LeaseTTL: testLeaseTTL,
		RetentionInterval: 20 * time.Millisecond, StopTimeout: 5 * time.Second,
		Actor: partition.ActorConfig{FlushAge: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	}()
	ta := &testAgent{Agent: a}
	waitOwned(t, 20*time.Second, 1, nil, ta)

	p := c.producer(nc)
	pid := registry.PartitionID{Tenant: tp.TenantID, Topic: tp.ID}
	send := func(ts int64, values ...string) {
		t.Helper()
		req := &wire.ProduceRequest{TenantID: tp.TenantID, TopicID: tp.ID,
			ProducerID: wire.NoProducer, ProducerEpoch: wire.NoProducer, BaseSequence: wire.NoProducer}
		for _, v := range values {
			req.Records = append(req.Records, wire.Record{Timestamp: ts, Value: []byte(v)})
		}
		resp, err := p.Produce(ctx, req)
		if err == nil {
			err = resp.Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	committed := func(hwm int64) {
		t.Helper()
		waitFor(t, 20*time.Second, func() error {
			pp, err := c.reg.Partition(ctx, pid)
			if err != nil || pp.HighWatermark < hwm {
				return fmt.Errorf("registry high watermark %d, %v; want %d", pp.HighWatermark, err, hwm)
			}
			return nil
		})
	}
	// Three records stamped two hours ago (expired) then two fresh ones
	// (broker time), in separate segments.
	send(time.Now().Add(-2*time.Hour).UnixMilli(), "old0", "old1", "old2")
	committed(3)
	send(0, "new3", "new4")
	committed(5)

	waitFor(t, 20*time.Second, func() error {
		pp, err := c.reg.Partition(ctx, pid)
		if err != nil || pp.LogStartOffset != 3 {
			return fmt.Errorf("log start %d, %v; want 3", pp.LogStartOffset, err)
		}
		// Every remaining object is a remaining segment's.
		segs, err := c.reg.ListSegments(ctx, pid, 0, 0)
		if err != nil {
			return err
		}
		objs, err := c.store.List(ctx, "")
		if err != nil {
			return err
		}
		var want, got []string
		for _, s := range segs {
			want = append(want, s.ObjectKey)
		}
		for _, o := range objs {
			got = append(got, o.Key)
		}
		if len(segs) != 1 || segs[0].FirstOffset != 3 || !slices.Equal(got, slices.Compact(want)) {
			return fmt.Errorf("segments %v, objects %q", segs, got)
		}
		return nil
	})

	f, err := NewNATSFetcher(NATSFetcherConfig{Conn: c.connect(), Cell: c.cell})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.Fetch(ctx, &wire.FetchRequest{TenantID: tp.TenantID, TopicID: tp.ID, Offset: 0, MaxBytes: 1 << 20})
	if err != nil || resp.Code != wire.OutOfRange || resp.LogStartOffset != 3 {
		t.Fatalf("fetch below the log start: %+v, %v; want out_of_range, log start 3", resp, err)
	}
	resp, err = f.Fetch(ctx, &wire.FetchRequest{TenantID: tp.TenantID, TopicID: tp.ID, Offset: 3, MaxBytes: 1 << 20})
	if err == nil {
		err = resp.Err()
	}
	if err != nil || len(resp.Records) != 2 || string(resp.Records[0].Value) != "new3" {
		t.Fatalf("fetch at the log start: %+v, %v", resp, err)
	}
}
