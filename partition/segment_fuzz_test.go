package partition

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeSegment feeds arbitrary bytes to the whole read path (open,
// read every partition, look up timestamps) over an in-memory store. It
// must never panic; an error must be a *CorruptError; a segment that reads
// back must survive re-encoding: written again and read again, its batches
// are equal. With fixCRC the input's CRCs are recomputed first, so the
// fuzzer reaches the checks behind them.
func FuzzDecodeSegment(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data, s.fixCRC)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = fixCRCs(data)
		}
		ctx := context.Background()
		got, err := readAll(ctx, putObject(t, data), testKey, int64(len(data)), 1<<20)
		if err != nil {
			mustCorrupt(t, err, "read")
			return
		}
		seg, err := OpenSegment(ctx, putObject(t, data), testKey, int64(len(data)))
		if err != nil {
			t.Fatalf("second open: %v", err)
		}
		w := NewSegmentWriter()
		for _, p := range seg.Partitions() {
			for _, b := range got[p.ID] {
				if err := w.Append(p.ID, &b); err != nil {
					t.Fatalf("re-encode %s: %v", p.ID, err)
				}
			}
		}
		obj, _, err := w.Seal()
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		again, err := readAll(ctx, putObject(t, obj), testKey, int64(len(obj)), 1<<20)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		for id, bs := range got {
			if len(again[id]) != len(bs) {
				t.Fatalf("%s: %d batches re-read, want %d", id, len(again[id]), len(bs))
			}
			for i := range bs {
				if d := diffBatch(again[id][i], bs[i]); d != "" {
					t.Fatalf("%s batch %d: %s", id, i, d)
				}
			}
		}
	})
}

// FuzzDecodeBatch decodes arbitrary bytes as one batch: no panic, errors
// are *CorruptError, and a decoded batch re-encodes to one that decodes
// equal.
func FuzzDecodeBatch(f *testing.F) {
	rng := rand.New(rand.NewPCG(27, 28))
	var enc Encoder
	for _, n := range []int{1, 3, 20} {
		b := genBatch(rng, int64(n), n, 30)
		buf, _ := enc.AppendBatch(nil, &b)
		f.Add(buf, false)
		u := Encoder{Uncompressed: true}
		buf, _ = u.AppendBatch(nil, &b)
		f.Add(buf, false)
		f.Add(buf, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC && len(data) >= batchHeaderLen {
			if n := int(binary.LittleEndian.Uint32(data)) + 4; n >= batchHeaderLen && n <= len(data) {
				binary.LittleEndian.PutUint32(data[offCRC:], crc32.Checksum(data[crcStart:n], castagnoli))
			}
		}
		var dec Decoder
		b, _, err := dec.DecodeBatch(data)
		if err != nil {
			mustCorrupt(t, err, "decode")
			return
		}
		var enc Encoder
		buf, err := enc.AppendBatch(nil, &b)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var dec2 Decoder
		again, _, err := dec2.DecodeBatch(buf)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d := diffBatch(again, b); d != "" {
			t.Fatal(d)
		}
	})
}

// fixCRCs returns data with the trailer's, the footer's and every batch's
// CRC recomputed, as far as the lengths it meets allow.
func fixCRCs(in []byte) []byte {
	data := append([]byte(nil), in...)
	if len(data) < TrailerLen {
		return data
	}
	le := binary.LittleEndian
	t := data[len(data)-TrailerLen:]
	limit := int64(len(data) - TrailerLen)
	fpos, flen := int64(le.Uint64(t[trailerFooterPos:])), int64(le.Uint32(t[trailerFooterLen:]))
	footerOK := fpos >= 0 && fpos+flen == limit
	if footerOK {
		limit = fpos
	}
	for pos := int64(0); pos+batchHeaderLen <= limit; {
		n := int64(le.Uint32(data[pos:])) + 4
		if n < batchHeaderLen || pos+n > limit {
			break
		}
		le.PutUint32(data[pos+offCRC:], crc32.Checksum(data[pos+crcStart:pos+n], castagnoli))
		pos += n
	}
	if footerOK {
		le.PutUint32(t[trailerFooterCRC:], crc32.Checksum(data[fpos:fpos+flen], castagnoli))
	}
	le.PutUint32(t[trailerCRC:], crc32.Checksum(t[:trailerCRC], castagnoli))
	return data
}

type fuzzSeed struct {
	name   string
	data   []byte
	fixCRC bool
}

// fuzzSeeds are valid segments of one and three partitions, a truncated
// one and ones with flipped bytes (with and without fixed CRCs).
func fuzzSeeds(t testing.TB) []fuzzSeed {
	rng := rand.New(rand.NewPCG(29, 30))
	one, _, _ := buildSegment(t, rng, segmentSpec{ids: []ID{{1, 7, 3}}, batches: []int{2, 1}, valueSize: 20})
	three, _, _ := buildSegment(t, rng, segmentSpec{
		ids: []ID{{1, 7, 0}, {1, 7, 1}, {4, 2, 9}}, batches: []int{1, 4, 2}, valueSize: 30, cfg: WriterConfig{IndexInterval: 150},
	})
	unc, _, _ := buildSegment(t, rng, segmentSpec{ids: []ID{{1, 1, 0}}, batches: []int{3}, valueSize: 5, cfg: WriterConfig{Uncompressed: true}})
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i%len(c)] ^= 0x5a
		return c
	}
	return []fuzzSeed{
		{"valid-1-partition", one, false},
		{"valid-3-partitions", three, false},
		{"valid-uncompressed", unc, false},
		{"truncated", three[:len(three)-7], false},
		{"truncated-footer", one[:len(one)-TrailerLen], false},
		{"flipped-batch-byte", flip(one, 40), false},
		{"flipped-footer-byte", flip(three, len(three)-TrailerLen-5), false},
		{"flipped-trailer-byte", flip(three, len(three)-3), false},
		{"flipped-record-fixed-crc", flip(unc, batchHeaderLen+2), true},
		{"flipped-header-fixed-crc", flip(three, offCount), true},
		{"flipped-footer-fixed-crc", flip(three, len(three)-TrailerLen-9), true},
	}
}

var updateCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzDecodeSegment seeds")

// TestFuzzCorpus checks that the committed seed corpus is what fuzzSeeds
// makes today, so a format change cannot leave stale seeds behind; with
// -update-fuzz-corpus it rewrites the corpus instead.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeSegment")
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", s.data, s.fixCRC)
		path := filepath.Join(dir, "seed-"+s.name)
		if *updateCorpus {
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Errorf("seed %s is missing or stale (%v): run go test ./partition/ -run TestFuzzCorpus -update-fuzz-corpus", path, err)
		}
	}
}
