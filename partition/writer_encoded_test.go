package partition

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// encodedEntry encodes batches back to back, as a tail entry holds them,
// and returns the entry and its records' smallest timestamp.
func encodedEntry(t testing.TB, bs []Batch) ([]byte, int64) {
	var enc Encoder
	var out []byte
	minTS := int64(math.MaxInt64)
	for i := range bs {
		var err error
		if out, err = enc.AppendBatch(out, &bs[i]); err != nil {
			t.Fatal(err)
		}
		for _, r := range bs[i].Records {
			minTS = min(minTS, r.Timestamp)
		}
	}
	return out, minTS
}

// appendEntry walks an entry's batches into w with appendEncoded.
func appendEntry(w *SegmentWriter, id ID, entry []byte, minTS int64) error {
	for p := 0; p < len(entry); {
		n := int(uint32(entry[p])|uint32(entry[p+1])<<8|uint32(entry[p+2])<<16|uint32(entry[p+3])<<24) + 4
		if err := w.appendEncoded(id, entry[p:p+n], minTS); err != nil {
			return err
		}
		p += n
	}
	return nil
}

// Copying encoded batches makes the very object that decoding and
// appending them makes, footer included.
func TestAppendEncodedMatchesAppend(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	id := ID{Tenant: 1, Topic: 2, Partition: 3}
	var bs []Batch
	next := int64(100)
	for range 40 {
		b := genBatch(rng, next, 1+rng.IntN(30), 20+rng.IntN(300))
		bs = append(bs, b)
		next += int64(len(b.Records))
	}
	// An early timestamp in a later record: the header's first timestamp
	// is not the minimum.
	bs[5].Records[len(bs[5].Records)-1].Timestamp = baseTime - 1_000_000

	ref := NewSegmentWriterConfig(WriterConfig{IndexInterval: 1024})
	for i := range bs {
		if err := ref.Append(id, &bs[i]); err != nil {
			t.Fatal(err)
		}
	}
	want, wantParts, err := ref.Seal()
	if err != nil {
		t.Fatal(err)
	}
	w := NewSegmentWriterConfig(WriterConfig{IndexInterval: 1024})
	for i := 0; i < len(bs); i += 7 { // entries of up to 7 batches
		entry, minTS := encodedEntry(t, bs[i:min(i+7, len(bs))])
		if err := appendEntry(w, id, entry, minTS); err != nil {
			t.Fatal(err)
		}
	}
	got, gotParts, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("objects differ: %d and %d bytes", len(got), len(want))
	}
	if gotParts[0].MinTimestamp != baseTime-1_000_000 || gotParts[0].MinTimestamp != wantParts[0].MinTimestamp {
		t.Fatalf("min timestamp %d, want %d", gotParts[0].MinTimestamp, wantParts[0].MinTimestamp)
	}
}

func TestAppendEncodedRefuses(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	id := ID{Tenant: 1, Topic: 2, Partition: 3}
	b := genBatch(rng, 10, 3, 50)
	entry, minTS := encodedEntry(t, []Batch{b})
	w := NewSegmentWriter()
	if err := w.appendEncoded(id, entry[:len(entry)-1], minTS); !errors.Is(err, ErrInvalidBatch) {
		t.Errorf("truncated batch: %v, want ErrInvalidBatch", err)
	}
	if err := w.appendEncoded(id, entry, minTS); err != nil {
		t.Fatal(err)
	}
	if err := w.appendEncoded(id, entry, minTS); !errors.Is(err, ErrNonContiguous) {
		t.Errorf("the same offsets again: %v, want ErrNonContiguous", err)
	}
	if err := w.appendEncoded(ID{}, entry, minTS); err == nil {
		t.Error("an invalid partition id accepted")
	}
}

// BenchmarkSegmentBuild compares the flush's two ways of building a segment
// from a tail of encoded entries (8 MiB of 1 KiB JSON-like records):
// decoding and encoding every batch again (before) and copying them.
func BenchmarkSegmentBuild(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	id := ID{Tenant: 1, Topic: 2, Partition: 3}
	type ent struct {
		data  []byte
		minTS int64
	}
	var entries []ent
	next, size := int64(0), 0
	for size < 8<<20 {
		var bs []Batch
		for range 8 { // a group commit of 8 requests of 16 records
			bt := genBatch(rng, next, 16, 1024)
			next += int64(len(bt.Records))
			bs = append(bs, bt)
		}
		data, minTS := encodedEntry(b, bs)
		entries = append(entries, ent{data, minTS})
		size += len(data)
	}
	b.Run("decode-encode", func(b *testing.B) {
		b.SetBytes(int64(size))
		var dec Decoder
		for b.Loop() {
			w := NewSegmentWriter()
			for _, e := range entries {
				dec.Reset()
				if err := decodeWALBatches(&dec, e.data, func(bt *Batch) error { return w.Append(id, bt) }); err != nil {
					b.Fatal(err)
				}
			}
			if _, _, err := w.Seal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(size))
		for b.Loop() {
			w := NewSegmentWriter()
			w.reserve(size)
			for _, e := range entries {
				if err := appendEntry(w, id, e.data, e.minTS); err != nil {
					b.Fatal(err)
				}
			}
			if _, _, err := w.Seal(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
