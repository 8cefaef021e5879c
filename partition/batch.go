package partition

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"

	"github.com/pierrec/lz4/v4"
)

// MaxBatchBytes bounds the uncompressed body of one batch (its encoded
// records). The encoder refuses a larger batch and the decoder treats a
// larger length as corruption, so a corrupt length never allocates more.
// It is twice the project's 8 MiB request limit: a whole request always fits
// in one batch, with room for the partition actor to coalesce small ones.
const MaxBatchBytes = 16 << 20

// Batch header layout, little-endian; see FORMAT.md. ONLY ADD NEW FIELDS
// WITH A NEW BATCH VERSION.
const (
	batchVersion = 1

	offLength      = 0  // u32: bytes after this field
	offCRC         = 4  // u32: CRC32C of bytes [8, 4+length)
	offVersion     = 8  // u8
	offAttributes  = 9  // u8: bits 0-2 compression, others zero
	offEpoch       = 10 // i16 producer epoch
	offBaseOffset  = 12 // i64
	offCount       = 20 // u32 record count, >= 1
	offFirstTS     = 24 // i64
	offMaxTS       = 32 // i64
	offProducerID  = 40 // i64
	offBaseSeq     = 48 // i32
	offRawLen      = 52 // u32 uncompressed body length
	batchHeaderLen = 56

	// crcStart is where the CRC coverage starts.
	crcStart = offVersion
	// maxStoredBody bounds the stored body: the encoder stores a body
	// uncompressed whenever LZ4 does not shrink it.
	maxStoredBody = MaxBatchBytes

	compressionNone = 0
	compressionLZ4  = 1
	compressionMask = 0x07

	// minRecordLen is the smallest encoded record: its length, timestamp
	// delta, key length, value length and header count, one byte each.
	minRecordLen = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encoder encodes batches, reusing its scratch memory and LZ4 state across
// calls. The zero value compresses with LZ4. An Encoder is not safe for
// concurrent use.
type Encoder struct {
	// Uncompressed stores every body without compression.
	Uncompressed bool

	raw []byte
	lz  lz4.Compressor
}

// AppendBatch appends the encoding of b to dst and returns the extended
// slice. Records get offsets BaseOffset, BaseOffset+1, …; the batch's
// timestamps are derived from the records. The body is LZ4-compressed unless
// that does not shrink it. It refuses (ErrInvalidBatch) a batch with no
// records, a negative base offset, offsets past MaxInt64 or a body over
// MaxBatchBytes; dst is then returned unchanged.
func (e *Encoder) AppendBatch(dst []byte, b *Batch) ([]byte, error) {
	n := len(b.Records)
	switch {
	case n == 0:
		return dst, fmt.Errorf("%w: batch at offset %d has no records", ErrInvalidBatch, b.BaseOffset)
	case b.BaseOffset < 0:
		return dst, fmt.Errorf("%w: negative base offset %d", ErrInvalidBatch, b.BaseOffset)
	case b.BaseOffset > math.MaxInt64-int64(n)+1:
		return dst, fmt.Errorf("%w: base offset %d plus %d records overflows", ErrInvalidBatch, b.BaseOffset, n)
	}
	first := b.Records[0].Timestamp
	maxTS := first
	raw := e.raw[:0]
	for i := range b.Records {
		r := &b.Records[i]
		maxTS = max(maxTS, r.Timestamp)
		raw = appendRecord(raw, r, first)
		if len(raw) > MaxBatchBytes {
			e.raw = raw[:0]
			return dst, fmt.Errorf("%w: batch at offset %d exceeds %d bytes at record %d", ErrInvalidBatch, b.BaseOffset, MaxBatchBytes, i)
		}
	}
	e.raw = raw

	start := len(dst)
	dst = grow(dst, batchHeaderLen+lz4.CompressBlockBound(len(raw)))
	body := dst[start+batchHeaderLen : cap(dst)]
	attrs := byte(compressionNone)
	stored := 0
	if !e.Uncompressed {
		if c, err := e.lz.CompressBlock(raw, body); err == nil && c > 0 && c < len(raw) {
			attrs, stored = compressionLZ4, c
		}
	}
	if attrs == compressionNone {
		stored = copy(body, raw)
	}
	dst = dst[:start+batchHeaderLen+stored]
	h := dst[start:]
	le := binary.LittleEndian
	le.PutUint32(h[offLength:], uint32(batchHeaderLen-4+stored))
	h[offVersion] = batchVersion
	h[offAttributes] = attrs
	le.PutUint16(h[offEpoch:], uint16(b.ProducerEpoch))
	le.PutUint64(h[offBaseOffset:], uint64(b.BaseOffset))
	le.PutUint32(h[offCount:], uint32(n))
	le.PutUint64(h[offFirstTS:], uint64(first))
	le.PutUint64(h[offMaxTS:], uint64(maxTS))
	le.PutUint64(h[offProducerID:], uint64(b.ProducerID))
	le.PutUint32(h[offBaseSeq:], uint32(b.BaseSequence))
	le.PutUint32(h[offRawLen:], uint32(len(raw)))
	le.PutUint32(h[offCRC:], crc32.Checksum(h[crcStart:], castagnoli))
	return dst, nil
}

// grow makes room for n more bytes after len(b) without changing len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// appendRecord appends one record, its timestamp as a delta from base.
func appendRecord(dst []byte, r *Record, base int64) []byte {
	tsDelta := r.Timestamp - base
	size := varintLen(tsDelta) + bytesLen(r.Key) + bytesLen(r.Value) + uvarintLen(uint64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		size += uvarintLen(uint64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	dst = binary.AppendUvarint(dst, uint64(size))
	dst = binary.AppendVarint(dst, tsDelta)
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// appendBytes appends a signed varint length (-1 for nil) and the bytes.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// bytesLen is the encoded size of appendBytes(b).
func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func varintLen(x int64) int { return uvarintLen(uint64(x<<1) ^ uint64(x>>63)) }
