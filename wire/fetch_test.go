package wire

import (
	"errors"
	"reflect"
	"testing"
)

func sampleFetchResponse() *FetchResponse {
	return &FetchResponse{
		HighWatermark: 120, LogStartOffset: 7, NextOffset: 103,
		Records: []FetchedRecord{
			{Offset: 100, Timestamp: 1_700_000_000_000, Key: []byte("k1"), Value: []byte(`{"a":1}`),
				Headers: []Header{{Key: "trace", Value: []byte("t1")}, {Key: "empty", Value: []byte{}}}},
			{Offset: 101, Timestamp: 1_700_000_000_001, Key: nil, Value: []byte{},
				Headers: []Header{{Key: "trace", Value: nil}}},
			{Offset: 102, Timestamp: -1, Key: []byte{}, Value: nil},
		},
	}
}

func TestFetchRequestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, req := range []FetchRequest{
		{},
		{TenantID: 1, TopicID: 7, Partition: 3, Offset: 1 << 40, MaxBytes: 8 << 20, MaxWaitMs: 30_000},
		{TenantID: -1, TopicID: -2, Partition: -3, Offset: -4, MaxBytes: -5, MaxWaitMs: -6},
	} {
		b, _ := req.AppendBinary(nil)
		var got FetchRequest
		if err := got.Decode(b); err != nil {
			t.Fatalf("decode %+v: %v", req, err)
		}
		if got != req {
			t.Fatalf("round trip: %+v -> %+v", req, got)
		}
	}
}

func TestFetchResponseRoundTrip(t *testing.T) {
	t.Parallel()
	want := sampleFetchResponse()
	b, _ := want.AppendBinary(nil)
	var got FetchResponse
	if err := got.Decode(b); err != nil {
		t.Fatal(err)
	}
	got.hdrs = nil
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, *want)
	}
	if got.Records[1].Key != nil || got.Records[1].Value == nil || got.Records[2].Value != nil {
		t.Fatal("nil and empty not kept apart")
	}
	if got.Records[1].Headers[0].Value != nil || got.Records[0].Headers[1].Value == nil {
		t.Fatal("nil and empty header values not kept apart")
	}

	// An error answer and an empty one.
	for _, r := range []FetchResponse{
		{Code: OutOfRange, Message: "offset 3 below the log start offset 7", HighWatermark: 9, LogStartOffset: 7, NextOffset: 3},
		{HighWatermark: 5, NextOffset: 5},
	} {
		b, _ := r.AppendBinary(nil)
		var got FetchResponse
		if err := got.Decode(b); err != nil {
			t.Fatal(err)
		}
		got.hdrs = nil
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: %+v -> %+v", r, got)
		}
	}
	var ok FetchResponse
	if ok.Err() != nil {
		t.Fatal("OK response has an error")
	}
	bad := FetchResponse{Code: OutOfRange, Message: "m"}
	var we *Error
	if !errors.As(bad.Err(), &we) || we.Code != OutOfRange || OutOfRange.String() != "out_of_range" {
		t.Fatalf("Err() = %v", bad.Err())
	}
}

// Decoding reuses the response's storage: a second Decode into the same
// value allocates nothing but the message string and new header keys.
func TestFetchResponseDecodeReuse(t *testing.T) {
	b, _ := sampleFetchResponse().AppendBinary(nil)
	var r FetchResponse
	if err := r.Decode(b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.Decode(b); err != nil {
			t.Fatal(err)
		}
	})
	// Header keys: "trace" and "empty" of record 0, "trace" of record 1 is
	// shared with record 0's.
	if allocs > 2 {
		t.Fatalf("Decode into a reused response: %v allocations, want <= 2", allocs)
	}
}

func TestFetchDecodeMalformed(t *testing.T) {
	t.Parallel()
	good, _ := sampleFetchResponse().AppendBinary(nil)
	for n := range len(good) {
		var r FetchResponse
		if err := r.Decode(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated at %d: err %v, want ErrMalformed", n, err)
		}
	}
	req, _ := (&FetchRequest{TenantID: 1, TopicID: 2, Offset: 3, MaxBytes: 4, MaxWaitMs: 5}).AppendBinary(nil)
	for n := range len(req) {
		var r FetchRequest
		if err := r.Decode(req[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated at %d: err %v, want ErrMalformed", n, err)
		}
	}
	var r FetchRequest
	if err := r.Decode(good); !errors.Is(err, ErrMalformed) {
		t.Fatalf("response decoded as a request: %v", err)
	}
}

// A newer writer's extra fields at the end of a group are skipped.
func TestFetchRequestSkipsNewerFields(t *testing.T) {
	t.Parallel()
	b, _ := (&FetchRequest{TenantID: 1, TopicID: 2, Partition: 3, Offset: 4, MaxBytes: 5, MaxWaitMs: 6}).AppendBinary(nil)
	// Grow the header group by one field (varint 9).
	b[1]++
	b = append(b, 0x12)
	var r FetchRequest
	if err := r.Decode(b); err != nil || r.MaxWaitMs != 6 {
		t.Fatalf("decode with a newer field: %+v, %v", r, err)
	}
}

func FuzzDecodeFetchRequest(f *testing.F) {
	good, _ := (&FetchRequest{TenantID: 1, TopicID: 7, Partition: 3, Offset: 99, MaxBytes: 1 << 20, MaxWaitMs: 500}).AppendBinary(nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{tagFetchRequest, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r FetchRequest
		if err := r.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 FetchRequest
		if err := r2.Decode(again); err != nil || r2 != r {
			t.Fatalf("round trip: %+v -> %+v, %v", r, r2, err)
		}
	})
}

func FuzzDecodeFetchResponse(f *testing.F) {
	good, _ := sampleFetchResponse().AppendBinary(nil)
	empty, _ := (&FetchResponse{Code: OutOfRange, Message: "x"}).AppendBinary(nil)
	f.Add(good)
	f.Add(empty)
	f.Add(good[:len(good)/2])
	f.Add([]byte{tagFetchResponse, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x02, 0x02, 0x00})
	// Offsets that descend: refused, else they would not re-encode.
	f.Add([]byte("\x05\a0\x00000000\x03#0\x80\xa0\xab\xfe\xf90\x0400.00000000000000000000000\x00\x110\x82\xa0\xab\xfe\xf90\x01\x00\x01\x0500000\x01\x05 0\x01\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r FetchResponse
		if err := r.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 FetchResponse
		if err := r2.Decode(again); err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		r.hdrs, r2.hdrs = nil, nil
		if len(r.Records) == 0 {
			r.Records, r2.Records = nil, nil
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the response:\n%#v\n%#v", r, r2)
		}
	})
}
