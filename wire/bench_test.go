package wire

import (
	"fmt"
	"testing"
)

// benchRecords returns n records of a 16-byte key and a valueSize-byte value,
// each with one header, as a batch from a typical client.
func benchRecords(n, valueSize int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		recs[i] = Record{
			Key:     fmt.Appendf(nil, "key-%012d", i),
			Value:   v,
			Headers: []Header{{Key: "content-type", Value: []byte("application/json")}},
		}
	}
	return recs
}

func BenchmarkDecodeProduceRequest(b *testing.B) {
	req := &ProduceRequest{TenantID: 1, TopicID: 2, ProducerID: NoProducer, ProducerEpoch: NoProducer,
		BaseSequence: NoProducer, Records: benchRecords(1000, 100)}
	enc, _ := req.AppendBinary(nil)
	var r ProduceRequest
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkEncodeProduceRequest(b *testing.B) {
	req := &ProduceRequest{TenantID: 1, TopicID: 2, ProducerID: NoProducer, ProducerEpoch: NoProducer,
		BaseSequence: NoProducer, Records: benchRecords(1000, 100)}
	buf, _ := req.AppendBinary(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = req.AppendBinary(buf[:0])
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}
