package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/pierrec/lz4/v4"
)

// batchHeader is a batch's fixed header, checked against its CRC.
type batchHeader struct {
	size       int // stored size of the whole batch: header and body
	attrs      byte
	epoch      int16
	baseOffset int64
	count      int
	firstTS    int64
	maxTS      int64
	producerID int64
	baseSeq    int32
	rawLen     int
}

func (h *batchHeader) lastOffset() int64 { return h.baseOffset + int64(h.count) - 1 }

// readBatchHeader reads and checks the header of the batch at the start of
// src: its length against src and MaxBatchBytes, the CRC over the rest of the
// batch, the version and every field's range. It does not look at the
// records. Errors are *CorruptError with Pos 0, relative to src.
func readBatchHeader(src []byte) (batchHeader, error) { return readHeader(src, true) }

// readHeader is readBatchHeader, checking the CRC only if checkCRC.
func readHeader(src []byte, checkCRC bool) (batchHeader, error) {
	var h batchHeader
	if len(src) < batchHeaderLen {
		return h, corruptf(0, "batch header truncated: %d of %d bytes", len(src), batchHeaderLen)
	}
	le := binary.LittleEndian
	length := uint64(le.Uint32(src[offLength:]))
	if length < batchHeaderLen-4 || length-(batchHeaderLen-4) > maxStoredBody {
		return h, corruptf(0, "batch length %d outside [%d, %d]", length, batchHeaderLen-4, batchHeaderLen-4+maxStoredBody)
	}
	size := int(length) + 4
	if size > len(src) {
		return h, corruptf(0, "batch truncated: %d of %d bytes", len(src), size)
	}
	if checkCRC {
		if got, want := crc32.Checksum(src[crcStart:size], castagnoli), le.Uint32(src[offCRC:]); got != want {
			return h, corruptf(0, "batch CRC32C %08x, want %08x", got, want)
		}
	}
	h = batchHeader{
		size:       size,
		attrs:      src[offAttributes],
		epoch:      int16(le.Uint16(src[offEpoch:])),
		baseOffset: int64(le.Uint64(src[offBaseOffset:])),
		count:      int(le.Uint32(src[offCount:])),
		firstTS:    int64(le.Uint64(src[offFirstTS:])),
		maxTS:      int64(le.Uint64(src[offMaxTS:])),
		producerID: int64(le.Uint64(src[offProducerID:])),
		baseSeq:    int32(le.Uint32(src[offBaseSeq:])),
		rawLen:     int(le.Uint32(src[offRawLen:])),
	}
	stored := size - batchHeaderLen
	var reason string
	switch {
	case src[offVersion] != batchVersion:
		reason = fmt.Sprintf("unknown batch version %d", src[offVersion])
	case h.attrs&^compressionMask != 0 || h.attrs > compressionLZ4:
		reason = fmt.Sprintf("unknown batch attributes %#x", h.attrs)
	case h.rawLen > MaxBatchBytes:
		reason = fmt.Sprintf("uncompressed length %d over the limit of %d", h.rawLen, MaxBatchBytes)
	case h.attrs == compressionNone && h.rawLen != stored:
		reason = fmt.Sprintf("uncompressed body of %d bytes, header says %d", stored, h.rawLen)
	case h.attrs == compressionLZ4 && (stored == 0 || stored > lz4.CompressBlockBound(h.rawLen)):
		reason = fmt.Sprintf("compressed body of %d bytes cannot hold %d", stored, h.rawLen)
	case h.count < 1 || h.count > h.rawLen/minRecordLen:
		reason = fmt.Sprintf("record count %d impossible in %d bytes", h.count, h.rawLen)
	case h.baseOffset < 0 || h.baseOffset > math.MaxInt64-int64(h.count)+1:
		reason = fmt.Sprintf("base offset %d out of range", h.baseOffset)
	case h.firstTS > h.maxTS:
		reason = fmt.Sprintf("first timestamp %d after max timestamp %d", h.firstTS, h.maxTS)
	default:
		return h, nil
	}
	c := corruptf(0, "%s", reason)
	if h.baseOffset >= 0 {
		c.Offset = h.baseOffset
	}
	return batchHeader{}, c
}

// Decoder decodes batches, reusing its memory across calls. Keys, values
// and header slices of the records it returns alias either the source bytes
// (uncompressed bodies) or the decoder's memory: they stay valid until Reset,
// after which the decoder overwrites that memory. Header keys are strings,
// interned per decoder so that repeated keys do not allocate. Its memory
// grows to the largest amount decoded between two Resets and is kept. A
// Decoder is not safe for concurrent use; its zero value is ready.
type Decoder struct {
	buf    []byte // decompressed bodies
	recs   []Record
	hdrs   []Header
	intern map[string]string

	batches []Batch // ReadFrom's result

	// skipCRC trusts the bytes' CRC: for batches this process encoded and
	// kept in memory (the actor's tail), whose CRC guards storage, not
	// memory. Every other check stays. It was a tenth of a tail fetch's CPU.
	skipCRC bool
}

const (
	maxInternKeys   = 1024
	maxInternKeyLen = 64
)

// Reset lets the decoder reuse its memory; everything it returned before
// becomes invalid.
func (d *Decoder) Reset() {
	d.buf = d.buf[:0]
	d.recs = d.recs[:0]
	d.hdrs = d.hdrs[:0]
	d.batches = d.batches[:0]
}

// DecodeBatch decodes the batch at the start of src and returns it with its
// stored size in bytes. The batch's records are appended to the decoder's
// memory: batches decoded since the last Reset all stay valid. A batch that
// fails any check yields a *CorruptError (Pos relative to src).
func (d *Decoder) DecodeBatch(src []byte) (Batch, int, error) {
	h, err := readHeader(src, !d.skipCRC)
	if err != nil {
		return Batch{}, 0, err
	}
	b, err := d.decodeBody(src[:h.size], &h)
	return b, h.size, err
}

// decodeBody decodes the records of a batch whose header h was read from
// src by readBatchHeader.
func (d *Decoder) decodeBody(src []byte, h *batchHeader) (Batch, error) {
	body := src[batchHeaderLen:h.size]
	if h.attrs == compressionLZ4 {
		start := len(d.buf)
		if cap(d.buf)-start < h.rawLen {
			// Grow by doubling; earlier batches keep the old array.
			nb := make([]byte, start, max(2*cap(d.buf), start+h.rawLen))
			copy(nb, d.buf)
			d.buf = nb
		}
		out := d.buf[start : start+h.rawLen]
		n, err := lz4.UncompressBlock(body, out)
		if err != nil || n != h.rawLen {
			c := corruptf(0, "LZ4 body decodes to %d of %d bytes", n, h.rawLen)
			c.Offset, c.Err = h.baseOffset, err
			return Batch{}, c
		}
		d.buf = d.buf[:start+h.rawLen]
		body = out
	}
	recStart, hdrStart := len(d.recs), len(d.hdrs)
	d.recs = growRecords(d.recs, h.count)
	recs := d.recs[recStart : recStart+h.count : recStart+h.count]
	maxTS := h.firstTS
	p := 0
	var reason string
	for i := range recs {
		q, err := d.decodeRecord(body, p, h.firstTS, &recs[i])
		if err != nil {
			reason = fmt.Sprintf("record %d at body byte %d: %v", i, p, err)
			break
		}
		recs[i].Offset = h.baseOffset + int64(i)
		maxTS = max(maxTS, recs[i].Timestamp)
		p = q
	}
	switch {
	case reason != "":
	case p != len(body):
		reason = fmt.Sprintf("body has %d bytes after the last record", len(body)-p)
	case recs[0].Timestamp != h.firstTS:
		reason = fmt.Sprintf("first record's timestamp %d, header says %d", recs[0].Timestamp, h.firstTS)
	case maxTS != h.maxTS:
		reason = fmt.Sprintf("max timestamp %d, header says %d", maxTS, h.maxTS)
	default:
		return Batch{
			BaseOffset:     h.baseOffset,
			FirstTimestamp: h.firstTS,
			MaxTimestamp:   h.maxTS,
			ProducerID:     h.producerID,
			ProducerEpoch:  h.epoch,
			BaseSequence:   h.baseSeq,
			Records:        recs,
		}, nil
	}
	d.recs, d.hdrs = d.recs[:recStart], d.hdrs[:hdrStart]
	c := corruptf(0, "%s", reason)
	c.Offset = h.baseOffset
	return Batch{}, c
}

// growRecords makes room for n more records after len(s), keeping len(s).
func growRecords(s []Record, n int) []Record {
	if cap(s)-len(s) >= n {
		return s[:len(s)+n]
	}
	ns := make([]Record, len(s)+n, max(2*cap(s), len(s)+n))
	copy(ns, s)
	return ns
}

// decodeRecord decodes the record at body[p:] into r and returns the
// position after it.
func (d *Decoder) decodeRecord(body []byte, p int, baseTS int64, r *Record) (int, error) {
	n, p := uvarint(body, p)
	if p < 0 || n > uint64(len(body)-p) {
		return 0, errors.New("bad record length")
	}
	end := p + int(n)
	rec := body[:end]
	var ts int64
	if ts, p = varint(rec, p); p < 0 {
		return 0, errors.New("bad timestamp delta")
	}
	r.Timestamp = baseTS + ts
	if r.Key, p = readBytes(rec, p); p < 0 {
		return 0, errors.New("bad key")
	}
	if r.Value, p = readBytes(rec, p); p < 0 {
		return 0, errors.New("bad value")
	}
	nh, p := uvarint(rec, p)
	// Each header takes at least two bytes: key length and value length.
	if p < 0 || nh > uint64(end-p)/2 {
		return 0, errors.New("bad header count")
	}
	r.Headers = nil
	if nh > 0 {
		hs := len(d.hdrs)
		for range nh {
			var kl uint64
			if kl, p = uvarint(rec, p); p < 0 || kl > uint64(end-p) {
				return 0, errors.New("bad header key")
			}
			key := d.headerKey(rec[p : p+int(kl)])
			p += int(kl)
			var v []byte
			if v, p = readBytes(rec, p); p < 0 {
				return 0, errors.New("bad header value")
			}
			d.hdrs = append(d.hdrs, Header{Key: key, Value: v})
		}
		r.Headers = d.hdrs[hs:len(d.hdrs):len(d.hdrs)]
	}
	if p != end {
		return 0, errors.New("record length disagrees with its fields")
	}
	return end, nil
}

// headerKey returns b as a string, interned while the table has room.
func (d *Decoder) headerKey(b []byte) string {
	if len(b) > maxInternKeyLen {
		return string(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.intern == nil {
		d.intern = make(map[string]string)
	}
	if len(d.intern) < maxInternKeys {
		d.intern[s] = s
	}
	return s
}

// readBytes reads a signed varint length (-1: nil) and that many bytes of
// b from p. It returns a position of -1 on error.
func readBytes(b []byte, p int) ([]byte, int) {
	n, p := varint(b, p)
	switch {
	case p < 0 || n < -1 || n > int64(len(b)-p):
		return nil, -1
	case n == -1:
		return nil, p
	}
	e := p + int(n)
	return b[p:e:e], e
}

// uvarint reads an unsigned varint of b at p; the position is -1 on error.
// A one-byte varint takes the inlined path.
func uvarint(b []byte, p int) (uint64, int) {
	if uint(p) < uint(len(b)) && b[p] < 0x80 {
		return uint64(b[p]), p + 1
	}
	return uvarintLong(b, p)
}

// uvarintLong is uvarint past one byte, with a fast path for two bytes
// (values below 16 Ki: most lengths and timestamp deltas).
func uvarintLong(b []byte, p int) (uint64, int) {
	if p < 0 || p >= len(b) {
		return 0, -1
	}
	if p+1 < len(b) && b[p+1] < 0x80 {
		return uint64(b[p]&0x7f) | uint64(b[p+1])<<7, p + 2
	}
	x, n := binary.Uvarint(b[p:])
	if n <= 0 {
		return 0, -1
	}
	return x, p + n
}

// varint reads a zigzag varint of b at p; the position is -1 on error.
func varint(b []byte, p int) (int64, int) {
	u, p := uvarint(b, p)
	return int64(u>>1) ^ -int64(u&1), p
}
