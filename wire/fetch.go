package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tag bytes of the fetch messages; they continue the table in produce.go.
// ONLY ADD TO THE END.
const (
	tagFetchRequest  byte = 0x04
	tagFetchResponse byte = 0x05
)

// Fetch messages travel on sh.<cell>.fetch.<tenant>.<topic>.<partition>,
// request/reply to the partition's owner. Their encoding (see the package
// doc for the conventions; the same append-only rule holds — ONLY ADD TO THE
// END of a group or a message):
//
//	FetchRequest  = 0x04 uvarint(len) { varint tenant_id, varint topic_id, varint partition,
//	                                    varint offset, varint max_bytes, varint max_wait_ms }
//	FetchResponse = 0x05 uvarint(len) { uvarint code, string message, varint high_watermark,
//	                                    varint log_start_offset, varint next_offset }
//	                     fetched
//
//	fetched        = varint base_offset uvarint(count) fetched_record*
//	fetched_record = uvarint(len) { uvarint offset_delta, varint timestamp_ms, bytes key,
//	                                bytes value, uvarint(header_count)
//	                                (string header_key, bytes header_value)* }
//
// offset_delta is the record's offset minus base_offset (the first record's
// offset, as written); offsets ascend strictly, or the message is malformed. Records are sent decoded, not as the segment's LZ4 batches: the
// owner holds them decoded already (tail and segment reads both decode), so
// re-compressing would cost it more than the bytes it saves on the
// agent–router hop, and the router would decode them again to serve gRPC.

// FetchRequest asks a partition's owner for records from Offset on.
type FetchRequest struct {
	TenantID  int64
	TopicID   int64
	Partition int32
	// Offset is the first offset wanted.
	Offset int64
	// MaxBytes bounds the records' payload (keys, values, headers) of the
	// answer; the first record is sent whatever its size, so a consumer
	// always progresses. The owner caps it at its own limit.
	MaxBytes int32
	// MaxWaitMs is how long the owner may hold the request when Offset is
	// the high watermark, waiting for a record (a long poll); 0 answers at
	// once.
	MaxWaitMs int32
}

// FetchedRecord is one record of a FetchResponse. Key, Value and header
// values alias the decoded message; nil keeps apart from empty as in Record.
type FetchedRecord struct {
	Offset    int64
	Timestamp int64 // ms since the Unix epoch
	Key       []byte
	Value     []byte
	Headers   []Header // ordered; nil when none
}

// Size is the record's payload in bytes, as MaxBytes counts it: key, value,
// and every header's key and value.
func (r *FetchedRecord) Size() int { return payloadSize(r.Key, r.Value, r.Headers) }

// FetchResponse is the owner's answer to a FetchRequest. With Code OK,
// Records holds records in offset order from the offset asked for (none:
// nothing new arrived within the wait), and NextOffset is the offset to
// fetch next. With OutOfRange, the offset is below LogStartOffset or past
// HighWatermark and the consumer must reset; the watermarks are set. Any
// other code carries no records.
type FetchResponse struct {
	Code    Code
	Message string
	// HighWatermark is the partition's next offset to be written, when the
	// answer was made; LogStartOffset its first readable offset.
	HighWatermark  int64
	LogStartOffset int64
	// NextOffset is the offset after the last record returned, or the
	// offset asked for when none is.
	NextOffset int64
	Records    []FetchedRecord

	hdrs []Header // backing array of the decoded records' headers, reused by Decode
}

// Err returns nil if the response is OK, else an *Error with its code and
// message.
func (r *FetchResponse) Err() error {
	if r.Code == OK {
		return nil
	}
	return &Error{Code: r.Code, Message: r.Message}
}

// AppendBinary appends the request's encoding to dst
// (encoding.BinaryAppender). It never fails.
func (r *FetchRequest) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, tagFetchRequest)
	n := varintLen(r.TenantID) + varintLen(r.TopicID) + varintLen(int64(r.Partition)) +
		varintLen(r.Offset) + varintLen(int64(r.MaxBytes)) + varintLen(int64(r.MaxWaitMs))
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendVarint(dst, r.TenantID)
	dst = binary.AppendVarint(dst, r.TopicID)
	dst = binary.AppendVarint(dst, int64(r.Partition))
	dst = binary.AppendVarint(dst, r.Offset)
	dst = binary.AppendVarint(dst, int64(r.MaxBytes))
	dst = binary.AppendVarint(dst, int64(r.MaxWaitMs))
	return dst, nil
}

// Decode sets r from the encoding in b; nothing aliases b. Errors wrap
// ErrMalformed.
func (r *FetchRequest) Decode(b []byte) error {
	d := decoder{b: b, what: "fetch request"}
	d.tag(tagFetchRequest)
	g := d.group("header")
	r.TenantID = g.varint("tenant id")
	r.TopicID = g.varint("topic id")
	r.Partition = int32(g.varintIn("partition", math.MinInt32, math.MaxInt32))
	r.Offset = g.varint("offset")
	r.MaxBytes = int32(g.varintIn("max bytes", math.MinInt32, math.MaxInt32))
	r.MaxWaitMs = int32(g.varintIn("max wait ms", math.MinInt32, math.MaxInt32))
	if d.err != nil {
		return d.err
	}
	return g.err
}

// AppendBinary appends the response's encoding to dst
// (encoding.BinaryAppender). It never fails. Record offsets must ascend
// (as the owner makes them).
func (r *FetchResponse) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, tagFetchResponse)
	n := uvarintLen(uint64(r.Code)) + uvarintLen(uint64(len(r.Message))) + len(r.Message) +
		varintLen(r.HighWatermark) + varintLen(r.LogStartOffset) + varintLen(r.NextOffset)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(r.Code))
	dst = binary.AppendUvarint(dst, uint64(len(r.Message)))
	dst = append(dst, r.Message...)
	dst = binary.AppendVarint(dst, r.HighWatermark)
	dst = binary.AppendVarint(dst, r.LogStartOffset)
	dst = binary.AppendVarint(dst, r.NextOffset)

	var base int64
	if len(r.Records) > 0 {
		base = r.Records[0].Offset
	}
	dst = binary.AppendVarint(dst, base)
	dst = binary.AppendUvarint(dst, uint64(len(r.Records)))
	for i := range r.Records {
		rec := &r.Records[i]
		delta := uint64(rec.Offset - base)
		dst = binary.AppendUvarint(dst, uint64(fetchedRecordLen(rec, delta)))
		dst = binary.AppendUvarint(dst, delta)
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
	return dst, nil
}

// EncodedLen is the size of the record's encoding in a FetchResponse, near
// enough (it assumes a one-byte offset delta) for a sender to keep an
// answer under a message size limit.
func (r *FetchedRecord) EncodedLen() int {
	n := fetchedRecordLen(r, 1)
	return uvarintLen(uint64(n)) + n
}

func fetchedRecordLen(r *FetchedRecord, delta uint64) int {
	n := uvarintLen(delta) + varintLen(r.Timestamp) + bytesLen(r.Key) + bytesLen(r.Value) + uvarintLen(uint64(len(r.Headers)))
	for _, h := range r.Headers {
		n += uvarintLen(uint64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

// Decode sets r from the encoding in b. On success the records' keys,
// values and header values alias b, so b must stay unchanged while r is in
// use. r's Records slice and header storage are reused, as in
// ProduceRequest.Decode (header keys are copied, and shared with the
// previous record's equal key at the same position). Errors wrap
// ErrMalformed; on error r is in an unspecified state.
func (r *FetchResponse) Decode(b []byte) error {
	d := decoder{b: b, what: "fetch response"}
	d.tag(tagFetchResponse)
	g := d.group("response")
	r.Code = Code(g.uvarintMax("code", math.MaxUint16))
	r.Message = string(g.str("message"))
	r.HighWatermark = g.varint("high watermark")
	r.LogStartOffset = g.varint("log start offset")
	r.NextOffset = g.varint("next offset")
	if d.err == nil && g.err != nil {
		d.err = g.err
	}
	r.Records, r.hdrs = d.fetchedRecords(r.Records, r.hdrs[:0])
	return d.err
}

// fetchedRecords reads a fetched section into recs' storage, appending
// headers to hdrs, and returns both.
func (d *decoder) fetchedRecords(recs []FetchedRecord, hdrs []Header) ([]FetchedRecord, []Header) {
	base := d.varint("base offset")
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
		recs = make([]FetchedRecord, n)
	}
	recs = recs[:n]
	for i := range recs {
		g := d.group("record")
		var rec FetchedRecord
		at := g.off
		delta := g.uvarint("offset delta")
		switch {
		case g.err != nil:
		case delta > uint64(math.MaxInt64-max(base, 0)):
			g.off = at
			g.fail("offset delta", fmt.Sprintf("%d overflows base offset %d", delta, base))
		case i > 0 && base+int64(delta) <= recs[i-1].Offset:
			g.off = at
			g.fail("offset delta", fmt.Sprintf("offset %d not above the previous record's %d", base+int64(delta), recs[i-1].Offset))
		}
		rec.Offset = base + int64(delta)
		if g.err != nil {
			d.err = g.err
			return recs[:0], hdrs
		}
		var prev []Header
		if i > 0 {
			prev = recs[i-1].Headers
		}
		var r Record
		hdrs = g.record(&r, prev, hdrs)
		if g.err != nil {
			d.err = g.err
			return recs[:0], hdrs
		}
		rec.Timestamp, rec.Key, rec.Value, rec.Headers = r.Timestamp, r.Key, r.Value, r.Headers
		recs[i] = rec
	}
	return recs, hdrs
}
