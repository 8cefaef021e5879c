package partition

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// fetchEnv is one partition with committed segments in a real embedded
// registry and an in-memory store that counts reads.
type fetchEnv struct {
	reg     *registry.Embedded
	store   *countingStore
	id      ID
	rid     registry.PartitionID
	batches []Batch // every batch written, in offset order
	sizes   []int64 // stored size of each batch
	segs    []registry.Segment
	objects map[string][]byte
	// batchRecords is the number of records per batch addSegment writes;
	// 0 draws 1-20.
	batchRecords int
}

// newFetchEnv commits one segment per element of segs, each with that many
// batches of 1-20 records of about valueSize bytes; every second segment is
// stored uncompressed.
func newFetchEnv(t testing.TB, rng *rand.Rand, segs []int, valueSize int) *fetchEnv {
	t.Helper()
	ctx := context.Background()
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	tn, err := reg.CreateTenant(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	tp, err := reg.CreateTopic(ctx, tn.ID, registry.TopicSpec{Name: "orders", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := &fetchEnv{
		reg:     reg,
		store:   &countingStore{Store: objectstore.NewMem()},
		id:      ID{Tenant: tn.ID, Topic: tp.ID, Partition: 0},
		rid:     registry.PartitionID{Tenant: tn.ID, Topic: tp.ID, Partition: 0},
		objects: make(map[string][]byte),
	}
	var off int64
	for si, nb := range segs {
		e.addSegment(t, rng, off, nb, valueSize, si%2 == 1)
		off = e.segs[len(e.segs)-1].LastOffset + 1
	}
	e.store.reset()
	return e
}

func (e *fetchEnv) addSegment(t testing.TB, rng *rand.Rand, base int64, nb, valueSize int, uncompressed bool) {
	t.Helper()
	ctx := context.Background()
	cfg := WriterConfig{IndexInterval: 1 << 10, Uncompressed: uncompressed}
	w := NewSegmentWriterConfig(cfg)
	enc := Encoder{Uncompressed: uncompressed}
	off := base
	for range nb {
		n := e.batchRecords
		if n == 0 {
			n = 1 + rng.IntN(20)
		}
		b := genBatch(rng, off, n, valueSize)
		if err := w.Append(e.id, &b); err != nil {
			t.Fatal(err)
		}
		raw, err := enc.AppendBatch(nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		e.batches = append(e.batches, b)
		e.sizes = append(e.sizes, int64(len(raw)))
		off += int64(len(b.Records))
	}
	obj, parts, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	key := SegmentKey("seg", e.id, base, 0)
	if err := e.store.Put(ctx, key, obj); err != nil {
		t.Fatal(err)
	}
	e.objects[key] = obj
	p := parts[0]
	seg := registry.Segment{
		Partition: e.rid, Epoch: 0, ObjectKey: key, Position: p.Pos, Length: p.Size, ObjectSize: int64(len(obj)),
		FirstOffset: p.FirstOffset, LastOffset: p.LastOffset, MinTimestamp: p.MinTimestamp, MaxTimestamp: p.MaxTimestamp,
		RecordCount: p.Records,
	}
	if err := e.reg.CommitSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	e.segs = append(e.segs, seg)
}

func (e *fetchEnv) fetcher(t testing.TB, cfg CacheConfig) *Fetcher {
	t.Helper()
	f, err := NewFetcher(FetcherConfig{Registry: e.reg, Store: e.store, Cache: NewCache(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// batchAt returns the index of the batch holding offset.
func (e *fetchEnv) batchAt(offset int64) int {
	for i, b := range e.batches {
		if offset <= b.BaseOffset+int64(len(b.Records))-1 {
			return i
		}
	}
	return len(e.batches)
}

func (e *fetchEnv) hw() int64 { return e.segs[len(e.segs)-1].LastOffset + 1 }

// check verifies a fetch result from offset with maxBytes: whole written
// batches from the one holding offset, as many as fit maxBytes (at least
// one) across segments.
func (e *fetchEnv) check(t testing.TB, res FetchResult, offset, maxBytes int64) {
	t.Helper()
	i := e.batchAt(offset)
	if len(res.Batches) == 0 {
		t.Fatalf("fetch at %d: no batches", offset)
	}
	var used int64
	for j, b := range res.Batches {
		if d := diffBatch(b, e.batches[i+j]); d != "" {
			t.Fatalf("fetch at %d, batch %d: %s", offset, j, d)
		}
		used += e.sizes[i+j]
	}
	end := i + len(res.Batches)
	if len(res.Batches) > 1 && used > maxBytes {
		t.Fatalf("fetch at %d max %d: %d stored bytes in %d batches", offset, maxBytes, used, len(res.Batches))
	}
	if end < len(e.batches) && used+e.sizes[end] <= maxBytes {
		t.Fatalf("fetch at %d max %d: stopped after %d bytes though batch at %d (%d bytes) fits", offset, maxBytes, used, e.batches[end].BaseOffset, e.sizes[end])
	}
	if want := res.Batches[len(res.Batches)-1].LastOffset() + 1; res.Next != want {
		t.Fatalf("fetch at %d: next %d, want %d", offset, res.Next, want)
	}
	if res.HighWatermark != e.hw() {
		t.Fatalf("fetch at %d: high watermark %d, want %d", offset, res.HighWatermark, e.hw())
	}
}

func TestFetchEveryOffset(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	e := newFetchEnv(t, rng, []int{12, 9, 15}, 100)
	f := e.fetcher(t, CacheConfig{BlockBytes: 4 << 10})
	ctx := t.Context()
	var dec Decoder
	for _, maxBytes := range []int64{0, 3000, 20000, 1 << 30} {
		for off := int64(0); off < e.hw(); off++ {
			res, err := f.Fetch(ctx, e.id, off, maxBytes, &dec)
			if err != nil {
				t.Fatalf("fetch at %d: %v", off, err)
			}
			e.check(t, res, off, maxBytes)
			for _, b := range res.Batches {
				for _, r := range b.Records {
					if cap(r.Value) != len(r.Value) || cap(r.Key) != len(r.Key) {
						t.Fatalf("offset %d: key or value not capped: appending could write into cached bytes", r.Offset)
					}
				}
			}
		}
	}
	// The whole partition in one fetch spans the three segments.
	res, err := f.Fetch(ctx, e.id, 0, 1<<30, &dec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Batches) != len(e.batches) || res.Next != e.hw() {
		t.Fatalf("fetch all: %d batches up to %d, want %d up to %d", len(res.Batches), res.Next, len(e.batches), e.hw())
	}
}

func TestFetchSecondReadFromCache(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	e := newFetchEnv(t, rng, []int{10, 10, 10}, 300)
	f := e.fetcher(t, CacheConfig{BlockBytes: 8 << 10})
	ctx := t.Context()
	var dec Decoder
	read := func() {
		for off := int64(0); off < e.hw(); {
			res, err := f.Fetch(ctx, e.id, off, 16<<10, &dec)
			if err != nil {
				t.Fatal(err)
			}
			e.check(t, res, off, 16<<10)
			off = res.Next
		}
	}
	read()
	if e.store.gets.Load() == 0 {
		t.Fatal("cold read made no store reads")
	}
	cold := e.store.gets.Load()
	e.store.reset()
	read()
	if n := e.store.gets.Load(); n != 0 {
		t.Fatalf("warm read made %d store reads (cold: %d), want 0", n, cold)
	}
	st := f.Cache().Stats()
	if st.Hits == 0 || st.Misses == 0 || st.Bytes > st.MaxBytes {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("cold reads %d, stats %+v", cold, st)
}

func TestFetchBounds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	e := newFetchEnv(t, rng, []int{5, 5, 5}, 50)
	f := e.fetcher(t, CacheConfig{})
	ctx := t.Context()

	for _, off := range []int64{e.hw(), e.hw() + 1, 1 << 40} {
		res, err := f.Fetch(ctx, e.id, off, 1<<20, nil)
		if err != nil || len(res.Batches) != 0 || res.Next != off || res.HighWatermark != e.hw() {
			t.Fatalf("fetch at %d (high watermark %d) = %+v, %v; want empty", off, e.hw(), res, err)
		}
	}
	if e.store.gets.Load() != 0 {
		t.Fatal("fetch at the high watermark read the store")
	}

	// Retention: drop the first segment and move the log start into the
	// second.
	logStart := e.segs[1].FirstOffset + 3
	if _, err := e.reg.DeleteSegmentsBefore(ctx, e.rid, registry.AnyEpoch, logStart); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, e.segs[0].LastOffset, logStart - 1} {
		_, err := f.Fetch(ctx, e.id, off, 1<<20, nil)
		var oe *OffsetOutOfRangeError
		if !errors.As(err, &oe) || !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("fetch at %d below log start %d: %v (%T), want *OffsetOutOfRangeError", off, logStart, err, err)
		}
		if oe.Offset != off || oe.LogStartOffset != logStart || oe.HighWatermark != e.hw() || oe.ID != e.id {
			t.Fatalf("error %+v", oe)
		}
	}
	res, err := f.Fetch(ctx, e.id, logStart, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.LogStartOffset != logStart {
		t.Fatalf("log start %d, want %d", res.LogStartOffset, logStart)
	}
	e.check(t, res, logStart, 0)

	// An object missing from the store although indexed: the error names
	// it; a fetch that already has batches returns them.
	last := e.segs[2]
	if err := e.store.Delete(ctx, last.ObjectKey); err != nil {
		t.Fatal(err)
	}
	f = e.fetcher(t, CacheConfig{})
	if _, err := f.Fetch(ctx, e.id, last.FirstOffset, 1<<20, nil); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("fetch of a missing object: %v, want ErrNotFound", err)
	}
	res, err = f.Fetch(ctx, e.id, logStart, 1<<30, nil)
	if err != nil || res.Next != last.FirstOffset {
		t.Fatalf("fetch up to a missing object: next %d, %v; want %d, nil", res.Next, err, last.FirstOffset)
	}
}

func TestFetchOffsetForTime(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	e := newFetchEnv(t, rng, []int{8, 8, 8}, 80)
	f := e.fetcher(t, CacheConfig{})
	ctx := t.Context()
	type rec struct{ off, ts int64 }
	var all []rec
	minTS, maxTS := int64(1<<62), int64(-1<<62)
	for _, b := range e.batches {
		for i, r := range b.Records {
			all = append(all, rec{b.BaseOffset + int64(i), r.Timestamp})
			minTS, maxTS = min(minTS, r.Timestamp), max(maxTS, r.Timestamp)
		}
	}
	want := func(ts int64) (int64, bool) {
		for _, r := range all {
			if r.ts >= ts {
				return r.off, true
			}
		}
		return e.hw(), false
	}
	tss := []int64{minTS - 1000, minTS, maxTS, maxTS + 1}
	for _, r := range all {
		tss = append(tss, r.ts, r.ts+1)
	}
	for _, ts := range tss {
		got, ok, err := f.OffsetForTime(ctx, e.id, ts)
		w, wok := want(ts)
		if err != nil || got != w || ok != wok {
			t.Fatalf("OffsetForTime(%d) = %d, %v, %v; want %d, %v", ts, got, ok, err, w, wok)
		}
	}
}

func TestFetchCorrupt(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	e := newFetchEnv(t, rng, []int{6, 6}, 100)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		seg  int
		pos  func(obj []byte) int
	}{
		{"batch", 1, func([]byte) int { return 60 }},
		{"footer", 0, func(obj []byte) int { return len(obj) - TrailerLen - 2 }},
	} {
		key := e.segs[tc.seg].ObjectKey
		obj := cloneBytes(e.objects[key])
		obj[tc.pos(obj)] ^= 0x40
		if err := e.store.Put(ctx, key, obj); err != nil {
			t.Fatal(err)
		}
		f := e.fetcher(t, CacheConfig{})
		_, err := f.Fetch(ctx, e.id, e.segs[tc.seg].FirstOffset, 1<<20, nil)
		var c *CorruptError
		if !errors.As(err, &c) || c.Key != key {
			t.Fatalf("%s: fetch of a corrupt object: %v, want a *CorruptError naming %s", tc.name, err, key)
		}
		if err := e.store.Put(ctx, key, e.objects[key]); err != nil {
			t.Fatal(err)
		}
	}
}
