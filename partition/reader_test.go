package partition

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/objectstore"
)

func TestSegmentRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 14))
	for name, spec := range map[string]segmentSpec{
		"one partition, one batch":  {ids: []ID{{1, 7, 3}}, batches: []int{1}, valueSize: 10},
		"one partition, many":       {ids: []ID{{1, 7, 3}}, batches: []int{1, 2, 50, 3, 100, 1, 1, 7, 200}, valueSize: 100},
		"three partitions":          {ids: []ID{{1, 7, 0}, {1, 7, 1}, {2, 9, 0}}, batches: []int{4, 40, 4}, valueSize: 1000},
		"uncompressed":              {ids: []ID{{1, 7, 0}, {1, 8, 0}}, batches: []int{3, 3}, valueSize: 100, cfg: WriterConfig{Uncompressed: true}},
		"index every batch":         {ids: []ID{{1, 7, 0}}, batches: []int{1, 1, 1, 1, 5, 1}, valueSize: 5, cfg: WriterConfig{IndexInterval: 1}},
		"big records":               {ids: []ID{{1, 7, 0}, {1, 7, 2}}, batches: []int{1, 2}, valueSize: 1 << 20},
		"tiny values, tiny batches": {ids: []ID{{1, 1, 0}}, batches: ones(100), valueSize: 0},
	} {
		obj, parts, written := buildSegment(t, rng, spec)
		store := putObject(t, obj)
		for _, maxBytes := range []int64{0, 5000, 1 << 40} {
			got, err := readAll(ctx, store, testKey, int64(len(obj)), maxBytes)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, p := range parts {
				want := written[p.ID]
				if len(got[p.ID]) != len(want) {
					t.Fatalf("%s: %s: %d batches, want %d", name, p.ID, len(got[p.ID]), len(want))
				}
				for i := range want {
					if d := diffBatch(got[p.ID][i], want[i]); d != "" {
						t.Fatalf("%s: %s batch %d: %s", name, p.ID, i, d)
					}
				}
			}
		}
		seg, err := OpenSegmentUnsized(ctx, store, testKey)
		if err != nil || len(seg.Partitions()) != len(spec.ids) || seg.Size() != int64(len(obj)) || seg.Key() != testKey {
			t.Fatalf("%s: unsized open: %v", name, err)
		}
		for i, p := range seg.Partitions() {
			w := parts[i]
			if p.ID != w.ID || p.Pos != w.Pos || p.Size != w.Size || p.FirstOffset != w.FirstOffset || p.LastOffset != w.LastOffset ||
				p.MinTimestamp != w.MinTimestamp || p.MaxTimestamp != w.MaxTimestamp || p.Records != w.Records || p.Batches != w.Batches || len(p.index) != len(w.index) {
				t.Fatalf("%s: footer %+v, writer said %+v", name, p, w)
			}
		}
	}
}

// ones returns n batch sizes of one record.
func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// TestReadFromEveryOffset reads at every offset of a segment whose index
// has several blocks: the first batch returned must hold the offset, and
// maxBytes must bound the rest.
func TestReadFromEveryOffset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(15, 16))
	batches := []int{1, 3, 1, 17, 2, 60, 1, 1, 9, 30, 4, 1}
	obj, parts, written := buildSegment(t, rng, segmentSpec{
		ids: []ID{{1, 7, 0}, {1, 7, 1}}, batches: batches, valueSize: 150, cfg: WriterConfig{IndexInterval: 1500},
	})
	seg, err := OpenSegment(ctx, putObject(t, obj), testKey, int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	var dec Decoder
	for _, p := range parts {
		if len(p.index) < 3 || len(p.index) >= len(batches) {
			t.Fatalf("%d index entries; the test wants several blocks of several batches", len(p.index))
		}
		for _, off := range []int64{p.FirstOffset - 1, p.LastOffset + 1} {
			_, _, err := seg.ReadFrom(ctx, p.ID, off, 1<<20, &dec)
			var re *OffsetRangeError
			if !errors.As(err, &re) || !errors.Is(err, ErrOffsetOutOfRange) || re.First != p.FirstOffset || re.Last != p.LastOffset ||
				!strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), p.ID.String()) {
				t.Fatalf("%s offset %d: %v", p.ID, off, err)
			}
		}
		for off := p.FirstOffset; off <= p.LastOffset; off++ {
			for _, maxBytes := range []int64{0, 3000, 1 << 40} {
				bs, next, err := seg.ReadFrom(ctx, p.ID, off, maxBytes, &dec)
				if err != nil {
					t.Fatalf("%s offset %d: %v", p.ID, off, err)
				}
				first := bs[0]
				if off < first.BaseOffset || off > first.LastOffset() {
					t.Fatalf("%s offset %d: first batch [%d, %d]", p.ID, off, first.BaseOffset, first.LastOffset())
				}
				if next != bs[len(bs)-1].LastOffset()+1 {
					t.Fatalf("%s offset %d: next %d", p.ID, off, next)
				}
				if maxBytes == 0 && len(bs) != 1 {
					t.Fatalf("%s offset %d: %d batches for maxBytes 0", p.ID, off, len(bs))
				}
				if maxBytes == 1<<40 && next != p.LastOffset+1 {
					t.Fatalf("%s offset %d: unbounded read stopped at %d", p.ID, off, next)
				}
				var enc Encoder
				var stored int64
				for i, b := range bs {
					raw, _ := enc.AppendBatch(nil, &b)
					if i > 0 {
						stored += int64(len(raw))
					}
					wi := findBatch(written[p.ID], b.BaseOffset)
					if d := diffBatch(b, written[p.ID][wi]); d != "" {
						t.Fatalf("%s offset %d batch %d: %s", p.ID, off, i, d)
					}
				}
				if stored > maxBytes {
					t.Fatalf("%s offset %d: %d bytes after the first batch, maxBytes %d", p.ID, off, stored, maxBytes)
				}
			}
		}
	}
	if _, _, err := seg.ReadFrom(ctx, ID{9, 9, 9}, 0, 0, nil); !errors.Is(err, ErrPartitionNotInSegment) {
		t.Fatalf("missing partition: %v", err)
	}
}

func findBatch(bs []Batch, base int64) int {
	for i, b := range bs {
		if b.BaseOffset == base {
			return i
		}
	}
	return -1
}

// TestOffsetForTime compares every lookup with a scan of all records, with
// timestamps that go back and forth.
func TestOffsetForTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(17, 18))
	obj, parts, written := buildSegment(t, rng, segmentSpec{
		ids: []ID{{1, 7, 0}, {3, 1, 2}}, batches: []int{2, 8, 1, 30, 5, 5, 5, 40}, valueSize: 80, cfg: WriterConfig{IndexInterval: 1000},
	})
	store := &countingStore{Store: putObject(t, obj)}
	seg, err := OpenSegment(ctx, store, testKey, int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		for ts := p.MinTimestamp - 2; ts <= p.MaxTimestamp+2; ts++ {
			want, wantOK := p.LastOffset+1, false
		scan:
			for _, b := range written[p.ID] {
				for i, r := range b.Records {
					if r.Timestamp >= ts {
						want, wantOK = b.BaseOffset+int64(i), true
						break scan
					}
				}
			}
			store.reset()
			got, ok, err := seg.OffsetForTime(ctx, p.ID, ts)
			if err != nil || got != want || ok != wantOK {
				t.Fatalf("%s ts %d: %d %v %v, want %d %v", p.ID, ts, got, ok, err, want, wantOK)
			}
			if store.gets.Load() > 1 {
				t.Fatalf("%s ts %d: %d reads", p.ID, ts, store.gets.Load())
			}
		}
	}
}

// TestReadFetchesOnlyNeededBytes reads one record of a 64-batch segment
// and counts the bytes fetched.
func TestReadFetchesOnlyNeededBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(19, 20))
	batches := make([]int, 64)
	for i := range batches {
		batches[i] = 20
	}
	obj, parts, _ := buildSegment(t, rng, segmentSpec{ids: []ID{{1, 7, 3}}, batches: batches, valueSize: 1000})
	store := &countingStore{Store: putObject(t, obj)}
	seg, err := OpenSegment(ctx, store, testKey, int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	openBytes := store.bytes.Load()
	if store.gets.Load() != 1 || openBytes > TailRead {
		t.Fatalf("open: %d reads, %d bytes", store.gets.Load(), openBytes)
	}
	store.reset()
	p := parts[0]
	bs, _, err := seg.ReadFrom(ctx, p.ID, p.FirstOffset+20*40+7, 0, nil)
	if err != nil || len(bs) != 1 {
		t.Fatalf("%d batches, %v", len(bs), err)
	}
	batchSize := p.Size / 64
	if store.gets.Load() != 1 || store.bytes.Load() > 2*batchSize {
		t.Fatalf("one record: %d reads, %d bytes of a %d-byte object (batches of about %d bytes)", store.gets.Load(), store.bytes.Load(), len(obj), batchSize)
	}
	t.Logf("object %d bytes; open read %d, one record read %d", len(obj), openBytes, store.bytes.Load())
}

// TestOpenLargeFooter makes a footer larger than TailRead, which costs a
// second read.
func TestOpenLargeFooter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(21, 22))
	obj, parts, written := buildSegment(t, rng, segmentSpec{ids: []ID{{1, 7, 3}}, batches: ones(30000), valueSize: 1, cfg: WriterConfig{IndexInterval: 1, Uncompressed: true}})
	footerLen := int64(len(obj)) - parts[0].End() - TrailerLen
	if footerLen <= TailRead {
		t.Fatalf("footer of %d bytes; the test wants more than %d", footerLen, TailRead)
	}
	store := &countingStore{Store: putObject(t, obj)}
	seg, err := OpenSegment(ctx, store, testKey, int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	if store.gets.Load() != 2 || store.bytes.Load() != TailRead+footerLen {
		t.Fatalf("open: %d reads, %d bytes", store.gets.Load(), store.bytes.Load())
	}
	bs, _, err := seg.ReadFrom(ctx, parts[0].ID, 12345, 0, nil)
	if err != nil || diffBatch(bs[0], written[parts[0].ID][12345]) != "" {
		t.Fatalf("read: %v", err)
	}
}

// TestOpenWrongSize opens an object with a size larger or smaller than its
// own: both are corruption, never a panic.
func TestOpenWrongSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(23, 24))
	obj, _, _ := buildSegment(t, rng, segmentSpec{ids: []ID{{1, 7, 3}}, batches: []int{3}, valueSize: 10})
	store := putObject(t, obj)
	for _, size := range []int64{0, 1, int64(len(obj)) - 1, int64(len(obj)) + 1, 1 << 40} {
		_, err := OpenSegment(ctx, store, testKey, size)
		mustCorrupt(t, err, "wrong size")
	}
	if _, err := OpenSegment(ctx, store, "missing/key", 100); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := OpenSegmentUnsized(ctx, store, "missing/key"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("missing unsized: %v", err)
	}
}

// TestFooterOfTinyEntries opens a segment whose footer entries are as small as
// they can be (small ids and offsets, timestamp 0, one tiny batch each): the
// partition count check must accept what the writer writes.
func TestFooterOfTinyEntries(t *testing.T) {
	ctx := context.Background()
	w := NewSegmentWriter()
	for p := range int32(3) {
		b := Batch{BaseOffset: 0, ProducerID: NoProducer, Records: []Record{{Value: []byte("v")}}}
		if err := w.Append(ID{Tenant: 1, Topic: 1, Partition: p}, &b); err != nil {
			t.Fatal(err)
		}
	}
	obj, parts, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(ctx, putObject(t, obj), testKey, int64(len(obj)), 1<<20)
	if err != nil {
		t.Fatalf("open a segment of three minimal entries: %v", err)
	}
	if len(got) != 3 || len(parts) != 3 {
		t.Fatalf("read %d partitions, writer reported %d; want 3", len(got), len(parts))
	}
	for id, bs := range got {
		if len(bs) != 1 || len(bs[0].Records) != 1 || string(bs[0].Records[0].Value) != "v" {
			t.Errorf("%s: read %+v, want one record with value v", id, bs)
		}
	}
}
