package partition

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// benchBatch is a batch of about 256 KiB of values of valueSize bytes each:
// JSON-ish text (see jsonish; LZ4 shrinks it about 2-3x), a short key per
// record, no headers, timestamps 1 ms apart.
func benchBatch(valueSize int) Batch {
	rng := rand.New(rand.NewPCG(31, 32))
	n := (256 << 10) / valueSize
	b := Batch{BaseOffset: 1000, ProducerID: NoProducer, ProducerEpoch: NoProducer, BaseSequence: NoProducer}
	for i := range n {
		b.Records = append(b.Records, Record{
			Timestamp: baseTime + int64(i),
			Key:       fmt.Appendf(nil, "user-%d", rng.IntN(10000)),
			Value:     jsonish(rng, valueSize),
		})
	}
	return b
}

// BenchmarkBatch measures batch encoding and decoding, and as reference raw
// LZ4 block compression and decompression of the same uncompressed body.
// MB/s counts uncompressed body bytes throughout.
func BenchmarkBatch(b *testing.B) {
	for _, size := range []int{100, 1024} {
		batch := benchBatch(size)
		n := len(batch.Records)
		var enc Encoder
		encoded, err := enc.AppendBatch(nil, &batch)
		if err != nil {
			b.Fatal(err)
		}
		raw := append([]byte(nil), enc.raw...) // the uncompressed body just encoded
		var c lz4.Compressor
		compressed := make([]byte, lz4.CompressBlockBound(len(raw)))
		cn, _ := c.CompressBlock(raw, compressed)
		compressed = compressed[:cn]
		name := fmt.Sprintf("%dB", size)
		report := func(b *testing.B) {
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		}

		b.Run("encode/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			buf := make([]byte, 0, len(encoded))
			for b.Loop() {
				var err error
				if buf, err = enc.AppendBatch(buf[:0], &batch); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
			b.ReportMetric(float64(len(raw))/float64(len(buf)), "ratio")
		})
		b.Run("decode/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			var dec Decoder
			for b.Loop() {
				dec.Reset()
				if _, _, err := dec.DecodeBatch(encoded); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
		b.Run("lz4-compress/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			dst := make([]byte, lz4.CompressBlockBound(len(raw)))
			for b.Loop() {
				if _, err := c.CompressBlock(raw, dst); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
		b.Run("lz4-decompress/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			dst := make([]byte, len(raw))
			for b.Loop() {
				if _, err := lz4.UncompressBlock(compressed, dst); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
}

// BenchmarkSegmentRead measures opening a 64-batch segment in an in-memory
// store and reading it whole, batch by batch, with one reused decoder.
func BenchmarkSegmentRead(b *testing.B) {
	rng := rand.New(rand.NewPCG(33, 34))
	batches := make([]int, 64)
	for i := range batches {
		batches[i] = 100
	}
	obj, parts, _ := buildSegment(b, rng, segmentSpec{ids: []ID{{1, 7, 3}}, batches: batches, valueSize: 100})
	store := putObject(b, obj)
	p := parts[0]
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	var dec Decoder
	for b.Loop() {
		seg, err := OpenSegment(b.Context(), store, testKey, int64(len(obj)))
		if err != nil {
			b.Fatal(err)
		}
		for off := p.FirstOffset; off <= p.LastOffset; {
			_, next, err := seg.ReadFrom(b.Context(), p.ID, off, 0, &dec)
			if err != nil {
				b.Fatal(err)
			}
			off = next
		}
	}
	b.ReportMetric(float64(p.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
