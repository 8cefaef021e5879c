package wire

import (
	"errors"
	"reflect"
	"testing"
)

// The fuzz targets check that decoding never panics, that every failure
// wraps ErrMalformed, and that whatever decodes re-encodes to bytes that
// decode to the same value.

func FuzzDecodeProduceRequest(f *testing.F) {
	good, _ := sampleRequest().AppendBinary(nil)
	empty, _ := (&ProduceRequest{TenantID: 1, TopicID: 1}).AppendBinary(nil)
	f.Add(good)
	f.Add(empty)
	f.Add(good[:len(good)/2])
	f.Add([]byte{tagProduceRequest, 0x00, 0x00})
	f.Add([]byte{tagProduceRequest, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r ProduceRequest
		if err := r.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 ProduceRequest
		if err := r2.Decode(again); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		r.hdrs, r2.hdrs = nil, nil
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", r, r2)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(AppendRecords(nil, sampleRequest().Records))
	f.Add(AppendRecords(nil, nil))
	f.Add([]byte{tagRecords, 0x01, 0x03, 0x00, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeRecords(b, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		recs2, err := DecodeRecords(AppendRecords(nil, recs), nil)
		if err != nil {
			t.Fatalf("re-encoded records do not decode: %v", err)
		}
		if len(recs) != 0 && !reflect.DeepEqual(recs, recs2) {
			t.Fatalf("round trip changed the records")
		}
	})
}

func FuzzDecodeProduceResponse(f *testing.F) {
	for _, r := range []ProduceResponse{{BaseOffset: 41}, {Code: Busy, Message: "full"}} {
		b, _ := r.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte{tagProduceResponse, 0x03, 0x00, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r ProduceResponse
		if err := r.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 ProduceResponse
		if err := r2.Decode(again); err != nil || r2 != r {
			t.Fatalf("round trip: %+v -> %+v, %v", r, r2, err)
		}
	})
}
