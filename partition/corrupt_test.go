package partition

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
)

// smallSegment is a segment of two partitions with several index blocks,
// small enough to corrupt at every byte.
func smallSegment(t testing.TB) []byte {
	rng := rand.New(rand.NewPCG(25, 26))
	obj, _, _ := buildSegment(t, rng, segmentSpec{
		ids: []ID{{1, 7, 0}, {1, 7, 1}}, batches: []int{1, 3, 2}, valueSize: 40, cfg: WriterConfig{IndexInterval: 200},
	})
	return obj
}

// TestSegmentCorruptEveryByte flips each byte of a segment, in three ways,
// then opens it and reads every record and looks up timestamps: every flip
// must yield a *CorruptError (every byte is under a CRC), never a panic.
func TestSegmentCorruptEveryByte(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	obj := smallSegment(t)
	for i := range obj {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(obj)
			c[i] ^= x
			store := putObject(t, c)
			_, err := readAll(ctx, store, testKey, int64(len(c)), 1<<20)
			if err == nil {
				t.Fatalf("flip %#x at byte %d of %d: read back without error", x, i, len(obj))
			}
			mustCorrupt(t, err, "flip")
		}
	}
}

// TestSegmentTruncatedEveryLength opens every proper prefix of a segment.
func TestSegmentTruncatedEveryLength(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	obj := smallSegment(t)
	for n := range len(obj) {
		store := putObject(t, obj[:n])
		_, err := readAll(ctx, store, testKey, int64(n), 1<<20)
		mustCorrupt(t, err, "truncated")
	}
}

// TestCorruptErrorNamesKeyAndPosition checks what a corrupt batch reports.
func TestCorruptErrorNamesKeyAndPosition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	obj := smallSegment(t)
	seg, err := OpenSegment(ctx, putObject(t, obj), testKey, int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	p := seg.Partitions()[1]
	e := p.index[len(p.index)-1]
	c := bytes.Clone(obj)
	c[e.pos+batchHeaderLen+3] ^= 0x10
	seg, err = OpenSegment(ctx, putObject(t, c), testKey, int64(len(c)))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = seg.ReadFrom(ctx, p.ID, p.LastOffset, 0, nil)
	mustCorrupt(t, err, "read")
	ce := err.(*CorruptError)
	if ce.Key != testKey || ce.Pos != e.pos || ce.Offset != e.offset {
		t.Fatalf("%+v, want key %s pos %d offset %d", ce, testKey, e.pos, e.offset)
	}
	t.Log(err)
}

// TestSegmentCorruptEveryByteFixedCRC flips each byte and then recomputes
// every CRC, so the checks behind the CRCs (footer fields, index, batch
// header fields, records) see the damage: each flip must read as a
// *CorruptError or as a segment that reads back whole, never a panic.
func TestSegmentCorruptEveryByteFixedCRC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cfg := range []WriterConfig{{IndexInterval: 200}, {IndexInterval: 200, Uncompressed: true}} {
		rng := rand.New(rand.NewPCG(35, 36))
		obj, _, _ := buildSegment(t, rng, segmentSpec{ids: []ID{{1, 7, 0}, {1, 7, 1}}, batches: []int{1, 3, 2}, valueSize: 40, cfg: cfg})
		var detected, readable int
		for i := range obj {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(obj)
				c[i] ^= x
				c = fixCRCs(c)
				if _, err := readAll(ctx, putObject(t, c), testKey, int64(len(c)), 1<<20); err != nil {
					mustCorrupt(t, err, "flip")
					detected++
				} else {
					readable++
				}
			}
		}
		t.Logf("uncompressed %v: %d flips detected, %d read back (a changed key, value or timestamp)", cfg.Uncompressed, detected, readable)
	}
}
