package wire

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleRequest() *ProduceRequest {
	return &ProduceRequest{
		TenantID:      3,
		TopicID:       1 << 40,
		Partition:     7,
		ProducerID:    NoProducer,
		ProducerEpoch: NoProducer,
		BaseSequence:  NoProducer,
		Records: []Record{
			{Timestamp: 1700000000000, Key: []byte("k1"), Value: []byte(`{"a":1}`),
				Headers: []Header{{Key: "h", Value: []byte("v")}, {Key: "h", Value: nil}, {Key: "", Value: []byte{}}}},
			{Key: nil, Value: []byte{}}, // no key, empty value
			{Key: []byte{}, Value: nil}, // empty key, tombstone
			{Timestamp: -5, Key: []byte{0, 1, 2}, Value: []byte{0xff}, Headers: []Header{{Key: "h", Value: []byte("w")}}},
		},
	}
}

func TestProduceRequestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, req := range []*ProduceRequest{
		sampleRequest(),
		{TenantID: 1, TopicID: 2, Partition: 0, ProducerID: 1 << 50, ProducerEpoch: 32767, BaseSequence: -2147483648},
		{TenantID: -1, TopicID: 0, Partition: 2147483647, Records: []Record{{}}},
	} {
		b, err := req.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got ProduceRequest
		if err := got.Decode(b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		got.hdrs = nil
		if !reflect.DeepEqual(&got, req) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, *req)
		}
	}
}

func TestDecodeKeepsNilApartFromEmpty(t *testing.T) {
	t.Parallel()
	b, _ := sampleRequest().AppendBinary(nil)
	var r ProduceRequest
	if err := r.Decode(b); err != nil {
		t.Fatal(err)
	}
	recs := r.Records
	switch {
	case recs[1].Key != nil || recs[1].Value == nil || len(recs[1].Value) != 0:
		t.Errorf("record 1: key %#v value %#v, want nil key and empty value", recs[1].Key, recs[1].Value)
	case recs[2].Key == nil || recs[2].Value != nil:
		t.Errorf("record 2: key %#v value %#v, want empty key and nil value", recs[2].Key, recs[2].Value)
	case recs[0].Headers[1].Value != nil || recs[0].Headers[2].Value == nil:
		t.Errorf("record 0 headers: %#v", recs[0].Headers)
	case recs[1].Headers != nil:
		t.Errorf("record 1: headers %#v, want nil", recs[1].Headers)
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	t.Parallel()
	b, _ := sampleRequest().AppendBinary(nil)
	var r ProduceRequest
	if err := r.Decode(b); err != nil {
		t.Fatal(err)
	}
	// The key aliases b: changing b changes the key, and an append to the
	// key does not overwrite the bytes after it.
	k := r.Records[0].Key
	i := strings.Index(string(b), "k1")
	b[i] = 'K'
	if string(k) != "K1" {
		t.Fatalf("key %q does not alias the input", k)
	}
	if cap(k) != len(k) {
		t.Fatalf("key capacity %d lets an append overwrite the input", cap(k))
	}
	// Equal header keys in consecutive records share one string.
	if got, want := r.Records[3].Headers[0].Key, r.Records[0].Headers[0].Key; got != want {
		t.Fatalf("header key %q, want %q", got, want)
	}
}

func TestDecodeReusesStorage(t *testing.T) { // not parallel: AllocsPerRun
	b, _ := sampleRequest().AppendBinary(nil)
	var r ProduceRequest
	if err := r.Decode(b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.Decode(b); err != nil {
			t.Fatal(err)
		}
	})
	// Records and headers reuse r's storage; only header keys are copied,
	// unless equal to the previous record's key at the same position. Here
	// that is "h" twice in record 0 and "h" in record 3 (record 2 has no
	// headers to share with).
	if allocs > 3 {
		t.Fatalf("Decode into a used request: %v allocations, want <= 3", allocs)
	}
}

func TestForwardCompatible(t *testing.T) {
	t.Parallel()
	// A newer writer: one more header field, one more record field, and a
	// group after the records. An old reader skips all three.
	var b []byte
	b = append(b, tagProduceRequest)
	hdr := binary.AppendVarint(nil, 3)
	hdr = binary.AppendVarint(hdr, 4)
	hdr = binary.AppendVarint(hdr, 5)
	hdr = binary.AppendVarint(hdr, -1)
	hdr = binary.AppendVarint(hdr, -1)
	hdr = binary.AppendVarint(hdr, -1)
	hdr = append(hdr, 0x2a, 0x2a) // future header fields
	b = binary.AppendUvarint(b, uint64(len(hdr)))
	b = append(b, hdr...)
	rec := binary.AppendVarint(nil, 9)  // timestamp
	rec = appendBytes(rec, []byte("k")) // key
	rec = appendBytes(rec, []byte("v")) // value
	rec = binary.AppendUvarint(rec, 0)  // headers
	rec = append(rec, 0x01, 0x02, 0x03) // future record fields
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, uint64(len(rec)))
	b = append(b, rec...)
	b = append(b, 0x05, 'l', 'a', 't', 'e', 'r') // a future group

	var r ProduceRequest
	if err := r.Decode(b); err != nil {
		t.Fatal(err)
	}
	if r.TenantID != 3 || r.TopicID != 4 || r.Partition != 5 || len(r.Records) != 1 ||
		string(r.Records[0].Key) != "k" || string(r.Records[0].Value) != "v" || r.Records[0].Timestamp != 9 {
		t.Fatalf("decoded %+v", r)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	t.Parallel()
	good, _ := sampleRequest().AppendBinary(nil)
	// Every strict prefix of a message is malformed (the records section
	// is the last thing it must hold).
	for n := range len(good) {
		var r ProduceRequest
		if err := r.Decode(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes: err %v, want ErrMalformed", n, len(good), err)
		}
	}
	header := func(partition int64) []byte {
		h := binary.AppendVarint(nil, 1)
		h = binary.AppendVarint(h, 1)
		h = binary.AppendVarint(h, partition)
		h = binary.AppendVarint(h, -1)
		h = binary.AppendVarint(h, -1)
		h = binary.AppendVarint(h, -1)
		return append(binary.AppendUvarint([]byte{tagProduceRequest}, uint64(len(h))), h...)
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"wrong tag", append([]byte{tagRecords}, good[1:]...), "tag"},
		{"partition out of int32", append(header(1<<40), 0), "partition"},
		{"huge record count", binary.AppendUvarint(header(0), 1<<62), "record count"},
		{"record count past the end", append(binary.AppendUvarint(header(0), 3), 1, 0), "record count"},
		{"record length past the end", append(binary.AppendUvarint(header(0), 1), 0x7f, 0), "record"},
		{"negative key length", append(binary.AppendUvarint(header(0), 1), 2, 0, 0x03), "key"},
		{"key past the record", append(binary.AppendUvarint(header(0), 1), 2, 0, 0x04, 'a', 'b'), "key"},
		{"header count too big", append(binary.AppendUvarint(header(0), 1), 4, 0, 1, 1, 0x7f), "header count"},
		{"overlong varint", append(header(0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "record count"},
	}
	for _, c := range cases {
		var r ProduceRequest
		err := r.Decode(c.b)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want ErrMalformed naming %q", c.name, err, c.want)
		}
	}
}

func TestProduceResponseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, resp := range []ProduceResponse{
		{BaseOffset: 41},
		{BaseOffset: -1, Code: Busy, Message: "inbox full (4096 requests)"},
		{Code: Code(999), Message: "from the future"},
		{BaseOffset: 7, Duplicate: true},
	} {
		b, _ := resp.AppendBinary(nil)
		var got ProduceResponse
		if err := got.Decode(b); err != nil {
			t.Fatal(err)
		}
		if got != resp {
			t.Fatalf("got %+v, want %+v", got, resp)
		}
		for n := range len(b) {
			if err := got.Decode(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("prefix %d: %v", n, err)
			}
		}
	}
	// An older encoding (no flags) reads as not a duplicate; a newer one's
	// extra trailing bytes are skipped.
	old := []byte{tagProduceResponse, 0x03, 0x0e, 0x00, 0x00}
	var got ProduceResponse
	if err := got.Decode(old); err != nil || got.BaseOffset != 7 || got.Duplicate {
		t.Fatalf("old encoding: %+v, %v", got, err)
	}
	newer := []byte{tagProduceResponse, 0x06, 0x0e, 0x00, 0x00, 0x01, 0x7f, 0x7f}
	if err := got.Decode(newer); err != nil || got.BaseOffset != 7 || !got.Duplicate {
		t.Fatalf("newer encoding: %+v, %v", got, err)
	}
	var e *Error
	r := ProduceResponse{Code: NotOwner, Message: "partition 3 moved"}
	if !errors.As(r.Err(), &e) || e.Code != NotOwner || e.Error() != "not_owner: partition 3 moved" {
		t.Fatalf("Err() = %v", r.Err())
	}
	if (&ProduceResponse{BaseOffset: 1}).Err() != nil {
		t.Fatal("OK response has an error")
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	recs := sampleRequest().Records
	b := AppendRecords(nil, recs)
	got, err := DecodeRecords(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("got %#v\nwant %#v", got, recs)
	}
	if _, err := DecodeRecords(b[:len(b)-1], nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	if n, err := RecordsCount(b); n != len(recs) || err != nil {
		t.Fatalf("RecordsCount: %d %v", n, err)
	}
	if _, err := RecordsCount([]byte{tagRecords, 0x7f}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("RecordsCount of a count past the end: %v", err)
	}
	empty, err := DecodeRecords(AppendRecords(nil, nil), nil)
	if err != nil || len(empty) != 0 {
		t.Fatalf("no records: %v %v", empty, err)
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for c := OK; c < numCodes; c++ {
		name := c.String()
		if name == "" || seen[name] {
			t.Fatalf("code %d: name %q empty or repeated", c, name)
		}
		seen[name] = true
		if got, ok := ParseCode(name); !ok || got != c {
			t.Fatalf("ParseCode(%q) = %v, %v", name, got, ok)
		}
	}
	// The numbers are on the wire: pin them.
	if Busy != 5 || Internal != 10 || Forbidden != 12 || ProducerFenced != 13 {
		t.Fatal("codes were renumbered; the list is append-only")
	}
	if Code(500).String() != "code_500" || Code(500).Known() {
		t.Fatal("unknown code")
	}
	if _, ok := ParseCode("nope"); ok {
		t.Fatal("ParseCode accepted an unknown name")
	}
}

func TestRecordSize(t *testing.T) {
	t.Parallel()
	r := Record{Key: []byte("ab"), Value: []byte("cde"), Headers: []Header{{Key: "f", Value: []byte("gh")}}}
	if r.Size() != 8 {
		t.Fatalf("size %d, want 8", r.Size())
	}
}
