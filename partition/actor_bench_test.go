package partition

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
)

// BenchmarkActorProduce measures produce requests of 10 records of 128 B
// from parallel producers through one actor on a MemWAL.
func BenchmarkActorProduce(b *testing.B) {
	env := newActorEnv(b, registry.DurabilityWAL)
	cfg := env.config(registry.DurabilityWAL)
	cfg.TailBytes = 1 << 20
	a := env.start(cfg)
	value := make([]byte, 128)
	b.ReportAllocs()
	b.SetBytes(10 * 128)
	b.RunParallel(func(pb *testing.PB) {
		recs := make([]Record, 10)
		for pb.Next() {
			for i := range recs {
				recs[i] = Record{Value: value}
			}
			if _, err := a.Produce(context.Background(), ProduceRequest{Records: recs, ProducerID: NoProducer}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadTail measures a tail read of up to 1 MiB from an actor
// holding 4 MiB of 1 KiB JSON-like records (what a consumer at the head
// of the log gets).
func BenchmarkReadTail(b *testing.B) {
	env := newActorEnv(b, registry.DurabilityWAL)
	cfg := env.config(registry.DurabilityWAL)
	cfg.TailBytes = 64 << 20
	a := env.start(cfg)
	rng := rand.New(rand.NewPCG(3, 3))
	for a.HighWatermark() < 4096 {
		recs := make([]Record, 16)
		for i := range recs {
			recs[i] = Record{Value: jsonish(rng, 1024)}
		}
		if _, err := a.Produce(context.Background(), ProduceRequest{Records: recs, ProducerID: NoProducer}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(1 << 20)
	for b.Loop() {
		if bs, ok := a.ReadTail(0, 1<<20); !ok || len(bs) == 0 {
			b.Fatalf("ReadTail: %d batches, %v", len(bs), ok)
		}
	}
}
