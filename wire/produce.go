package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Tag bytes: the first byte of each message, naming its kind and format
// version. ONLY ADD TO THE END.
const (
	tagProduceRequest  byte = 0x01
	tagProduceResponse byte = 0x02
	tagRecords         byte = 0x03
)

// NoProducer is ProduceRequest's ProducerID, ProducerEpoch and BaseSequence
// when the records come from no idempotent producer.
const NoProducer = -1

// ErrMalformed is what every decoding error wraps: the bytes are not a
// message of the expected kind (truncated, a length past the end, a value out
// of range, an unknown tag).
var ErrMalformed = errors.New("wire: malformed message")

// Header is one record header. A nil Value and an empty one are kept apart.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record to produce.
type Record struct {
	// Timestamp in milliseconds since the Unix epoch; 0 lets the broker set
	// it.
	Timestamp int64
	// Key is nil for "no key", which is not the same as an empty key (it
	// also partitions differently).
	Key []byte
	// Value is nil for a tombstone (compacted topics drop the key), which is
	// not the same as an empty value.
	Value []byte
	// Headers are ordered; keys may repeat. No headers decode as nil.
	Headers []Header
}

// Size is the record's payload in bytes: key, value, and every header's key
// and value. The record size limit applies to it.
func (r *Record) Size() int { return payloadSize(r.Key, r.Value, r.Headers) }

// payloadSize is what the size limits count of a record: key, value, and
// every header's key and value.
func payloadSize(key, value []byte, headers []Header) int {
	n := len(key) + len(value)
	for _, h := range headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// ProduceRequest asks a partition's owner to append records, in order, to one
// partition. The router sends one per partition per client request.
type ProduceRequest struct {
	TenantID  int64
	TopicID   int64
	Partition int32
	// ProducerID, ProducerEpoch and BaseSequence identify an idempotent
	// producer's batch (the sequence of its first record); NoProducer in all
	// three when there is none.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Records       []Record

	hdrs []Header // backing array of the decoded records' headers, reused by Decode
}

// ProduceResponse is the owner's answer to a ProduceRequest: the records got
// offsets BaseOffset, BaseOffset+1, ... in order, or, if Code is not OK, none
// of them was written (except with Unavailable, which says nothing either
// way).
type ProduceResponse struct {
	BaseOffset int64
	Code       Code
	Message    string
	// Duplicate says the request was an idempotent producer's retry of a
	// batch already written: BaseOffset is the first write's and nothing
	// new was written, so metering must not count it again. Encoded as an
	// optional trailing field: older decoders skip it, and its absence
	// reads as false.
	Duplicate bool
}

// Err returns nil if the response is OK, else an *Error with its code and
// message.
func (r *ProduceResponse) Err() error {
	if r.Code == OK {
		return nil
	}
	return &Error{Code: r.Code, Message: r.Message}
}

// AppendBinary appends the request's encoding to dst (encoding.BinaryAppender).
// It never fails.
func (r *ProduceRequest) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, tagProduceRequest)
	hlen := varintLen(r.TenantID) + varintLen(r.TopicID) + varintLen(int64(r.Partition)) +
		varintLen(r.ProducerID) + varintLen(int64(r.ProducerEpoch)) + varintLen(int64(r.BaseSequence))
	dst = binary.AppendUvarint(dst, uint64(hlen))
	dst = binary.AppendVarint(dst, r.TenantID)
	dst = binary.AppendVarint(dst, r.TopicID)
	dst = binary.AppendVarint(dst, int64(r.Partition))
	dst = binary.AppendVarint(dst, r.ProducerID)
	dst = binary.AppendVarint(dst, int64(r.ProducerEpoch))
	dst = binary.AppendVarint(dst, int64(r.BaseSequence))
	return appendRecords(dst, r.Records), nil
}

// Decode sets r from the encoding in b. On success the records' keys, values
// and header values alias b, so b must stay unchanged while r is in use. r's
// Records slice and header storage are reused: records from an earlier
// Decode into r are overwritten. Header keys are strings, copied (a key equal
// to the previous record's at the same position shares its string, so a
// batch whose records carry the same header keys allocates them once).
// Errors wrap ErrMalformed; on error r is in an unspecified state.
func (r *ProduceRequest) Decode(b []byte) error {
	d := decoder{b: b, what: "produce request"}
	d.tag(tagProduceRequest)
	h := d.group("header")
	r.TenantID = h.varint("tenant id")
	r.TopicID = h.varint("topic id")
	r.Partition = int32(h.varintIn("partition", math.MinInt32, math.MaxInt32))
	r.ProducerID = h.varint("producer id")
	r.ProducerEpoch = int16(h.varintIn("producer epoch", math.MinInt16, math.MaxInt16))
	r.BaseSequence = int32(h.varintIn("base sequence", math.MinInt32, math.MaxInt32))
	if h.err != nil {
		return h.err
	}
	r.Records, r.hdrs = d.records(r.Records, r.hdrs[:0])
	return d.err
}

// AppendBinary appends the response's encoding to dst
// (encoding.BinaryAppender). It never fails.
func (r *ProduceResponse) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, tagProduceResponse)
	n := varintLen(r.BaseOffset) + uvarintLen(uint64(r.Code)) + uvarintLen(uint64(len(r.Message))) + len(r.Message)
	if r.Duplicate {
		n++
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendVarint(dst, r.BaseOffset)
	dst = binary.AppendUvarint(dst, uint64(r.Code))
	dst = binary.AppendUvarint(dst, uint64(len(r.Message)))
	dst = append(dst, r.Message...)
	if r.Duplicate {
		dst = append(dst, 1) // flags: bit 0 duplicate
	}
	return dst, nil
}

// Decode sets r from the encoding in b; nothing aliases b. Errors wrap
// ErrMalformed.
func (r *ProduceResponse) Decode(b []byte) error {
	d := decoder{b: b, what: "produce response"}
	d.tag(tagProduceResponse)
	g := d.group("response")
	r.BaseOffset = g.varint("base offset")
	r.Code = Code(g.uvarintMax("code", math.MaxUint16))
	r.Message = string(g.str("message"))
	r.Duplicate = false
	if g.err == nil && g.left() > 0 { // the optional flags; later fields are skipped
		r.Duplicate = g.uvarint("flags")&1 != 0
	}
	if d.err != nil {
		return d.err
	}
	return g.err
}

// AppendRecords appends the Records encoding of recs (the body of the HTTP
// content type application/vnd.streamhouse.batch) to dst.
func AppendRecords(dst []byte, recs []Record) []byte {
	return appendRecords(append(dst, tagRecords), recs)
}

// DecodeRecords decodes a Records encoding into dst's storage (grown as
// needed) and returns the records. Keys, values and header values alias b,
// so b must stay unchanged while they are in use; header keys are copied as
// in ProduceRequest.Decode. Errors wrap ErrMalformed.
func DecodeRecords(b []byte, dst []Record) ([]Record, error) {
	d := decoder{b: b, what: "records"}
	d.tag(tagRecords)
	recs, _ := d.records(dst, nil)
	if d.err != nil {
		return nil, d.err
	}
	return recs, nil
}

// RecordsCount returns the record count a Records encoding declares,
// without decoding the records: a caller can refuse a batch over its limit
// before DecodeRecords allocates for it. Errors wrap ErrMalformed.
func RecordsCount(b []byte) (int, error) {
	d := decoder{b: b, what: "records"}
	d.tag(tagRecords)
	n := d.uvarint("record count")
	if d.err == nil && n > uint64(d.left()) {
		d.fail("record count", fmt.Sprintf("%d records cannot fit in %d bytes", n, d.left()))
	}
	return int(n), d.err
}

func appendRecords(dst []byte, recs []Record) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		rec := &recs[i]
		dst = binary.AppendUvarint(dst, uint64(recordLen(rec)))
		dst = binary.AppendVarint(dst, rec.Timestamp)
		dst = appendBytes(dst, rec.Key)
		dst = appendBytes(dst, rec.Value)
		dst = binary.AppendUvarint(dst, uint64(len(rec.Headers)))
		for _, h := range rec.Headers {
			dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = appendBytes(dst, h.Value)
		}
	}
	return dst
}

// recordLen is the length of a record's group, without its length prefix.
func recordLen(r *Record) int {
	n := varintLen(r.Timestamp) + bytesLen(r.Key) + bytesLen(r.Value) + uvarintLen(uint64(len(r.Headers)))
	for _, h := range r.Headers {
		n += uvarintLen(uint64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int { return uvarintLen(uint64(v<<1) ^ uint64(v>>63)) }

// decoder reads one message or one length-prefixed group of it. The first
// error sticks; every read after it returns zero values. Offsets in errors
// are from the start of the message.
type decoder struct {
	b    []byte
	off  int    // next byte to read, in b
	base int    // offset of b[0] in the message
	what string // message kind, for errors
	in   string // the group being read, if any, for errors
	err  error
}

func (d *decoder) fail(field, reason string) {
	if d.err == nil {
		if d.in != "" {
			field = d.in + " " + field
		}
		d.err = fmt.Errorf("%s: %s at byte %d: %s: %w", d.what, field, d.base+d.off, reason, ErrMalformed)
	}
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) tag(want byte) {
	if d.left() < 1 {
		d.fail("tag", "empty")
		return
	}
	if d.b[0] != want {
		d.fail("tag", fmt.Sprintf("0x%02x, want 0x%02x", d.b[0], want))
		return
	}
	d.off = 1
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, "truncated or overlong varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, "truncated or overlong varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varintIn(field string, lo, hi int64) int64 {
	at := d.off
	v := d.varint(field)
	if v < lo || v > hi {
		d.off = at
		d.fail(field, fmt.Sprintf("%d out of range [%d, %d]", v, lo, hi))
		return 0
	}
	return v
}

func (d *decoder) uvarintMax(field string, hi uint64) uint64 {
	at := d.off
	v := d.uvarint(field)
	if v > hi {
		d.off = at
		d.fail(field, fmt.Sprintf("%d over %d", v, hi))
		return 0
	}
	return v
}

// take returns the next n bytes, aliasing the input, capped so that an
// append to them cannot overwrite what follows.
func (d *decoder) take(field string, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(d.left()) {
		d.fail(field, fmt.Sprintf("length %d past the end (%d bytes left)", n, d.left()))
		return nil
	}
	end := d.off + int(n)
	s := d.b[d.off:end:end]
	d.off = end
	return s
}

// bytes reads a nullable byte string (length -1 is nil).
func (d *decoder) bytes(field string) []byte {
	at := d.off
	n := d.varint(field)
	switch {
	case d.err != nil:
		return nil
	case n == -1:
		return nil
	case n < 0:
		d.off = at
		d.fail(field, fmt.Sprintf("negative length %d", n))
		return nil
	}
	return d.take(field, uint64(n))
}

func (d *decoder) str(field string) []byte {
	return d.take(field, d.uvarint(field))
}

// group reads a length-prefixed group and returns a decoder over it; the
// caller reads the fields it knows and leaves the rest (fields added later).
// A failure inside the group is reported by the returned decoder.
func (d *decoder) group(field string) decoder {
	b := d.take(field, d.uvarint(field))
	return decoder{b: b, base: d.base + d.off - len(b), what: d.what, in: field, err: d.err}
}

// records reads a records section into recs' storage, appending headers to
// hdrs, and returns both.
func (d *decoder) records(recs []Record, hdrs []Header) ([]Record, []Header) {
	count := d.uvarint("record count")
	if d.err != nil {
		return recs[:0], hdrs
	}
	if count > uint64(d.left()) { // a record takes at least one byte
		d.fail("record count", fmt.Sprintf("%d records cannot fit in %d bytes", count, d.left()))
		return recs[:0], hdrs
	}
	n := int(count)
	if cap(recs) < n {
		recs = make([]Record, n)
	}
	recs = recs[:n]
	for i := range recs {
		g := d.group("record")
		var prev []Header
		if i > 0 {
			prev = recs[i-1].Headers
		}
		hdrs = g.record(&recs[i], prev, hdrs)
		if g.err != nil {
			d.err = g.err
			return recs[:0], hdrs
		}
	}
	return recs, hdrs
}

// record decodes a record's timestamp, key, value and headers into rec; the
// headers go to the end of hdrs (returned), one array for the batch. prev
// is the previous record's headers, whose key strings are reused.
func (d *decoder) record(rec *Record, prev, hdrs []Header) []Header {
	*rec = Record{}
	rec.Timestamp = d.varint("timestamp")
	rec.Key = d.bytes("key")
	rec.Value = d.bytes("value")
	nh := d.uvarint("header count")
	if d.err == nil && nh > uint64(d.left()/2) { // a header takes at least two bytes
		d.fail("header count", fmt.Sprintf("%d headers cannot fit in %d bytes", nh, d.left()))
	}
	if d.err != nil || nh == 0 {
		return hdrs
	}
	start := len(hdrs)
	hdrs = d.headers(hdrs, prev, int(nh))
	if d.err == nil {
		rec.Headers = hdrs[start:len(hdrs):len(hdrs)]
	}
	return hdrs
}

// headers appends n decoded headers to hdrs. A key equal to the one at the
// same place in prev (the previous record's headers) reuses its string, so
// records that repeat their header keys, as most do, allocate no key.
func (d *decoder) headers(hdrs, prev []Header, n int) []Header {
	for j := 0; j < n; j++ {
		kb := d.str("header key")
		v := d.bytes("header value")
		var key string
		if j < len(prev) && prev[j].Key == string(kb) {
			key = prev[j].Key
		} else {
			key = string(kb)
		}
		hdrs = append(hdrs, Header{Key: key, Value: v})
	}
	return hdrs
}
