package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/streamhouse/streamhouse/objectstore"
)

// words feed jsonish: a small vocabulary, as event payloads repeat field
// names and enum values but vary ids, numbers and free text.
var words = []string{
	"click", "view", "purchase", "signup", "login", "logout", "search", "cart",
	"checkout", "refund", "mobile", "desktop", "tablet", "chrome", "firefox",
	"safari", "berlin", "paris", "tokyo", "lagos", "lima", "oslo", "delhi",
	"quebec", "red", "green", "blue", "small", "medium", "large", "premium",
	"basic", "active", "pending", "shipped", "delivered", "cancelled", "eur",
	"usd", "jpy", "alpha", "beta", "gamma", "delta", "omega", "north", "south",
}

// jsonish returns size bytes of JSON-like text: repeated keys, words from a
// small vocabulary, random ids and numbers. LZ4 compresses it about 2-3x,
// like real event payloads (not all zeros, not random bytes).
func jsonish(rng *rand.Rand, size int) []byte {
	b := make([]byte, 0, size+64)
	b = append(b, '{')
	for i := 0; len(b) < size; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		switch i % 6 {
		case 0:
			b = append(b, `"id":`...)
			b = strconv.AppendUint(b, rng.Uint64N(1<<40), 10)
		case 1:
			b = append(b, `"event":"`...)
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, '"')
		case 2:
			b = append(b, `"user":"u`...)
			b = strconv.AppendUint(b, rng.Uint64N(1e6), 36)
			b = append(b, '"')
		case 3:
			b = append(b, `"amount":`...)
			b = strconv.AppendFloat(b, rng.Float64()*1000, 'f', 2, 64)
		case 4:
			b = append(b, `"city":"`...)
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, '"')
		default:
			b = append(b, `"note":"`...)
			for range 1 + rng.IntN(4) {
				b = append(b, words[rng.IntN(len(words))]...)
				b = append(b, ' ')
			}
			b = append(b, '"')
		}
	}
	b = b[:size]
	if size > 0 {
		b[size-1] = '}'
	}
	return b
}

const baseTime = 1_764_000_000_000 // ms, November 2025

// genBatch returns a batch of n records at base with values of about size
// bytes, keys, headers and timestamps that wander (not monotonic).
func genBatch(rng *rand.Rand, base int64, n, size int) Batch {
	b := Batch{BaseOffset: base, ProducerID: NoProducer, ProducerEpoch: NoProducer, BaseSequence: NoProducer}
	if rng.IntN(2) == 0 {
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = rng.Int64N(1<<40), int16(rng.IntN(100)), rng.Int32N(1<<30)
	}
	for i := range n {
		r := Record{Timestamp: baseTime + base*10 + int64(i)*10 + rng.Int64N(50) - 25}
		switch rng.IntN(4) {
		case 0: // nil key
		case 1:
			r.Key = []byte{}
		default:
			r.Key = fmt.Appendf(nil, "key-%d", rng.IntN(1000))
		}
		r.Value = jsonish(rng, size)
		if rng.IntN(3) == 0 {
			r.Headers = []Header{{Key: "content-type", Value: []byte("application/json")}, {Key: "trace-id", Value: fmt.Appendf(nil, "%016x", rng.Uint64())}}
			if rng.IntN(2) == 0 {
				r.Headers = append(r.Headers, Header{Key: "empty", Value: []byte{}}, Header{Key: "null"})
			}
		}
		b.Records = append(b.Records, r)
	}
	return b
}

// cloneBatch deep-copies b so it survives the decoder's reuse.
func cloneBatch(b Batch) Batch {
	c := b
	c.Records = make([]Record, len(b.Records))
	for i, r := range b.Records {
		r.Key = cloneBytes(r.Key)
		r.Value = cloneBytes(r.Value)
		if r.Headers != nil {
			hs := make([]Header, len(r.Headers))
			for j, h := range r.Headers {
				hs[j] = Header{Key: h.Key, Value: cloneBytes(h.Value)}
			}
			r.Headers = hs
		}
		c.Records[i] = r
	}
	return c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// diffBatch describes the first difference between a decoded batch and the
// one encoded (whose timestamps are derived from its records), or "".
func diffBatch(got, want Batch) string {
	if len(want.Records) > 0 {
		want.FirstTimestamp = want.Records[0].Timestamp
		want.MaxTimestamp = want.Records[0].Timestamp
		for _, r := range want.Records {
			want.MaxTimestamp = max(want.MaxTimestamp, r.Timestamp)
		}
	}
	if got.BaseOffset != want.BaseOffset || got.FirstTimestamp != want.FirstTimestamp || got.MaxTimestamp != want.MaxTimestamp ||
		got.ProducerID != want.ProducerID || got.ProducerEpoch != want.ProducerEpoch || got.BaseSequence != want.BaseSequence {
		return fmt.Sprintf("batch header %+v, want %+v", headerOf(got), headerOf(want))
	}
	if len(got.Records) != len(want.Records) {
		return fmt.Sprintf("%d records, want %d", len(got.Records), len(want.Records))
	}
	for i := range want.Records {
		g, w := got.Records[i], want.Records[i]
		switch {
		case g.Offset != want.BaseOffset+int64(i):
			return fmt.Sprintf("record %d: offset %d", i, g.Offset)
		case g.Timestamp != w.Timestamp:
			return fmt.Sprintf("record %d: timestamp %d, want %d", i, g.Timestamp, w.Timestamp)
		case !sameBytes(g.Key, w.Key):
			return fmt.Sprintf("record %d: key %q (nil %v), want %q (nil %v)", i, g.Key, g.Key == nil, w.Key, w.Key == nil)
		case !sameBytes(g.Value, w.Value):
			return fmt.Sprintf("record %d: value differs (nil %v, want nil %v, len %d, want %d)", i, g.Value == nil, w.Value == nil, len(g.Value), len(w.Value))
		case len(g.Headers) != len(w.Headers) || (g.Headers == nil) != (len(w.Headers) == 0):
			return fmt.Sprintf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
				return fmt.Sprintf("record %d header %d: %q=%q, want %q=%q", i, j, g.Headers[j].Key, g.Headers[j].Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
	return ""
}

func headerOf(b Batch) Batch { b.Records = nil; return b }

// sameBytes is bytes.Equal that also keeps nil apart from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// countingStore counts the ranged and whole reads of the store it wraps
// and the bytes they return.
type countingStore struct {
	objectstore.Store
	gets, bytes atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := c.Store.Get(ctx, key)
	c.gets.Add(1)
	c.bytes.Add(int64(len(b)))
	return b, err
}

func (c *countingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := c.Store.GetRange(ctx, key, off, n)
	c.gets.Add(1)
	c.bytes.Add(int64(len(b)))
	return b, err
}

func (c *countingStore) reset() { c.gets.Store(0); c.bytes.Store(0) }

const testKey = "seg/1/7/3/00000000000000000000-1.seg"

// putObject stores data under testKey in a new Mem store.
func putObject(t testing.TB, data []byte) *objectstore.Mem {
	t.Helper()
	m := objectstore.NewMem()
	if err := m.Put(context.Background(), testKey, data); err != nil {
		t.Fatal(err)
	}
	return m
}

// segmentSpec describes a generated segment: per partition, batch sizes in
// records.
type segmentSpec struct {
	ids       []ID
	batches   []int // records per batch, for every partition
	valueSize int
	cfg       WriterConfig
}

// buildSegment writes spec and returns the object, the footer index and
// the batches written per partition.
func buildSegment(t testing.TB, rng *rand.Rand, spec segmentSpec) ([]byte, []PartitionIndex, map[ID][]Batch) {
	t.Helper()
	w := NewSegmentWriterConfig(spec.cfg)
	written := make(map[ID][]Batch)
	for pi, id := range spec.ids {
		off := int64(pi * 1000)
		for _, n := range spec.batches {
			b := genBatch(rng, off, n, spec.valueSize)
			if err := w.Append(id, &b); err != nil {
				t.Fatal(err)
			}
			written[id] = append(written[id], b)
			off += int64(n)
		}
	}
	obj, parts, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	return obj, parts, written
}

// readAll reads every batch of every partition of the segment at key,
// copied out of the decoder, and looks up a few timestamps of each.
func readAll(ctx context.Context, store objectstore.Store, key string, size, maxBytes int64) (map[ID][]Batch, error) {
	seg, err := OpenSegment(ctx, store, key, size)
	if err != nil {
		return nil, err
	}
	out := make(map[ID][]Batch)
	var dec Decoder
	for _, p := range seg.Partitions() {
		for off := p.FirstOffset; off <= p.LastOffset; {
			bs, next, err := seg.ReadFrom(ctx, p.ID, off, maxBytes, &dec)
			if err != nil {
				return nil, err
			}
			if len(bs) == 0 || next <= off {
				return nil, fmt.Errorf("read %s at %d: no progress", p.ID, off)
			}
			for _, b := range bs {
				out[p.ID] = append(out[p.ID], cloneBatch(b))
			}
			off = next
		}
		span := uint64(p.MaxTimestamp - p.MinTimestamp)
		for _, ts := range []int64{p.MinTimestamp, p.MinTimestamp + int64(min(span, 1)), p.MinTimestamp + int64(span/2), p.MaxTimestamp} {
			got, ok, err := seg.OffsetForTime(ctx, p.ID, ts)
			if err != nil {
				return nil, err
			}
			if !ok || got < p.FirstOffset || got > p.LastOffset {
				return nil, fmt.Errorf("%s: OffsetForTime(%d) = %d, %v", p.ID, ts, got, ok)
			}
		}
	}
	return out, nil
}

// mustCorrupt fails unless err is a *CorruptError that unwraps to ErrCorrupt.
func mustCorrupt(t testing.TB, err error, what string) {
	t.Helper()
	var c *CorruptError
	if !errors.As(err, &c) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: got %v (%T), want a *CorruptError", what, err, err)
	}
}
