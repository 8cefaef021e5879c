package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	cases := map[string]Batch{
		"one record, nil key":    {BaseOffset: 0, Records: []Record{{Timestamp: 5, Value: []byte("v")}}},
		"empty key, empty value": {BaseOffset: 9, Records: []Record{{Timestamp: 5, Key: []byte{}, Value: []byte{}}}},
		"nil value":              {BaseOffset: 9, Records: []Record{{Timestamp: 5, Key: []byte("k")}}},
		"headers": {BaseOffset: 1, Records: []Record{
			{Timestamp: 1, Value: []byte("a"), Headers: []Header{{Key: "h", Value: []byte("v")}, {Key: "", Value: nil}, {Key: "e", Value: []byte{}}, {Key: "h", Value: []byte("again")}}},
			{Timestamp: 2, Value: []byte("b")},
			{Timestamp: 3, Value: []byte("c"), Headers: []Header{}},
		}},
		"timestamps out of order and negative": {BaseOffset: 100, Records: []Record{
			{Timestamp: 1000, Value: []byte("x")}, {Timestamp: -5, Value: []byte("y")}, {Timestamp: math.MaxInt64, Value: []byte("z")}, {Timestamp: math.MinInt64, Value: []byte("w")},
		}},
		"producer":             {BaseOffset: 7, ProducerID: 1 << 50, ProducerEpoch: 3, BaseSequence: 1<<31 - 1, Records: []Record{{Timestamp: 1, Value: []byte("p")}}},
		"1 MiB incompressible": {BaseOffset: 3, Records: []Record{{Timestamp: 1, Key: []byte("big"), Value: big}}},
		"1 MiB compressible":   {BaseOffset: 3, Records: []Record{{Timestamp: 1, Value: jsonish(rng, 1<<20)}, {Timestamp: 2, Value: jsonish(rng, 1<<20)}}},
		"many small":           genBatch(rng, 1<<40, 5000, 20),
		"near max offset":      {BaseOffset: math.MaxInt64 - 1, Records: []Record{{Timestamp: 1}, {Timestamp: 2}}},
	}
	for name, b := range cases {
		for _, unc := range []bool{false, true} {
			enc := Encoder{Uncompressed: unc}
			prefix := []byte("prefix")
			buf, err := enc.AppendBatch(prefix, &b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(buf[:6], []byte("prefix")) {
				t.Fatalf("%s: prefix overwritten", name)
			}
			var dec Decoder
			got, n, err := dec.DecodeBatch(buf[6:])
			if err != nil {
				t.Fatalf("%s (uncompressed %v): %v", name, unc, err)
			}
			if n != len(buf)-6 {
				t.Fatalf("%s: decoded %d bytes of %d", name, n, len(buf)-6)
			}
			if d := diffBatch(got, b); d != "" {
				t.Fatalf("%s (uncompressed %v): %s", name, unc, d)
			}
		}
	}
}

func TestBatchCompressionChoice(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	b := genBatch(rng, 0, 100, 200)
	var enc Encoder
	c, _ := enc.AppendBatch(nil, &b)
	if c[offAttributes] != compressionLZ4 {
		t.Fatalf("JSON-ish batch not compressed")
	}
	rnd := make([]byte, 4096)
	for i := range rnd {
		rnd[i] = byte(rng.Uint32())
	}
	r := Batch{Records: []Record{{Value: rnd}}}
	u, _ := enc.AppendBatch(nil, &r)
	if u[offAttributes] != compressionNone || len(u) != batchHeaderLen+int(binary.LittleEndian.Uint32(u[offRawLen:])) {
		t.Fatalf("random batch: attributes %d, %d bytes", u[offAttributes], len(u))
	}
}

func TestEncoderRefuses(t *testing.T) {
	t.Parallel()
	var enc Encoder
	huge := make([]byte, MaxBatchBytes)
	for name, b := range map[string]Batch{
		"no records":      {},
		"negative offset": {BaseOffset: -1, Records: []Record{{}}},
		"overflow":        {BaseOffset: math.MaxInt64, Records: []Record{{}, {}}},
		"too large":       {Records: []Record{{Value: huge}}},
	} {
		out, err := enc.AppendBatch([]byte("x"), &b)
		if !errors.Is(err, ErrInvalidBatch) || string(out) != "x" {
			t.Errorf("%s: %v, %q", name, err, out)
		}
	}
}

// TestDecoderAliasing checks that batches decoded since the last Reset stay
// valid while the decoder grows its memory.
func TestDecoderAliasing(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	var enc Encoder
	var dec Decoder
	var want, got []Batch
	for i := range 20 {
		b := genBatch(rng, int64(i*100), 1+rng.IntN(100), 10+rng.IntN(2000))
		buf, err := enc.AppendBatch(nil, &b)
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := dec.DecodeBatch(buf)
		if err != nil {
			t.Fatal(err)
		}
		want, got = append(want, b), append(got, d)
	}
	for i := range want {
		if d := diffBatch(got[i], want[i]); d != "" {
			t.Fatalf("batch %d: %s", i, d)
		}
	}
}

func TestDecodeBatchAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	b := genBatch(rng, 0, 200, 100)
	var enc Encoder
	buf, _ := enc.AppendBatch(nil, &b)
	var dec Decoder
	allocs := testing.AllocsPerRun(100, func() {
		dec.Reset()
		if _, _, err := dec.DecodeBatch(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per decode of a 200-record batch with a warm decoder, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = enc.AppendBatch(buf[:0], &b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per encode with a warm encoder, want 0", allocs)
	}
}

// TestDecodeBatchCorruptEveryByte flips every byte of a small batch: each
// flip must yield a *CorruptError, never a panic or wrong data.
func TestDecodeBatchCorruptEveryByte(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, unc := range []bool{false, true} {
		b := genBatch(rng, 42, 5, 30)
		enc := Encoder{Uncompressed: unc}
		buf, _ := enc.AppendBatch(nil, &b)
		for i := range buf {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(buf)
				c[i] ^= x
				var dec Decoder
				_, _, err := dec.DecodeBatch(c)
				mustCorrupt(t, err, "flip")
			}
		}
		for n := range len(buf) {
			var dec Decoder
			_, _, err := dec.DecodeBatch(buf[:n])
			mustCorrupt(t, err, "truncate")
		}
	}
}
