package partition

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFetch reads a whole partition (three segments, about 2.5 MB of
// 200-byte records in batches of 50, one segment stored uncompressed) with
// 1 MiB fetches from an in-memory store and a real embedded registry:
// warm (every block cached) and cold (a new cache per pass). MB/s counts
// stored (compressed) bytes.
func BenchmarkFetch(b *testing.B) {
	rng := rand.New(rand.NewPCG(21, 22))
	e := newFetchEnv(b, rng, nil, 0)
	e.batchRecords = 50
	var off int64
	for si := range 3 {
		e.addSegment(b, rng, off, 100, 200, si%2 == 1)
		off = e.hw()
	}
	var stored, records int64
	for i, bt := range e.batches {
		stored += e.sizes[i]
		records += int64(len(bt.Records))
	}
	const maxBytes = 1 << 20
	readAll := func(b *testing.B, f *Fetcher, dec *Decoder) {
		var n int64
		for off := int64(0); off < e.hw(); {
			res, err := f.Fetch(b.Context(), e.id, off, maxBytes, dec)
			if err != nil {
				b.Fatal(err)
			}
			for _, bt := range res.Batches {
				n += int64(len(bt.Records))
			}
			off = res.Next
		}
		if n != records {
			b.Fatalf("read %d records, want %d", n, records)
		}
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("warm", func(b *testing.B) {
		f := e.fetcher(b, CacheConfig{})
		var dec Decoder
		readAll(b, f, &dec)
		b.SetBytes(stored)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			readAll(b, f, &dec)
		}
		report(b)
	})
	b.Run("cold", func(b *testing.B) {
		var dec Decoder
		b.SetBytes(stored)
		b.ReportAllocs()
		for range b.N {
			readAll(b, e.fetcher(b, CacheConfig{}), &dec)
		}
		report(b)
	})
}
