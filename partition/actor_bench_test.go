package partition

import (
	"context"
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
