package partition

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Trailer layout: the fixed last bytes of every segment, little-endian; see
// FORMAT.md. ONLY CHANGE WITH A NEW SEGMENT VERSION.
const (
	segmentMagic   = "SHSEG"
	segmentVersion = 1

	trailerFooterPos = 0  // u64
	trailerFooterLen = 8  // u32
	trailerFooterCRC = 12 // u32 CRC32C of the footer
	trailerCRC       = 16 // u32 CRC32C of trailer bytes [0, 16)
	trailerMagic     = 20 // "SHSEG"
	trailerVersion   = 25 // u8
	// TrailerLen is the size of the fixed trailer at the end of a segment.
	TrailerLen = 26

	// MaxFooterBytes bounds a footer: larger is treated as corruption.
	MaxFooterBytes = 64 << 20

	// minFooterEntry is the smallest partition entry with its length: 12
	// one-byte fields, one index entry of three bytes and the length byte.
	// TestFooterOfTinyEntries builds entries of exactly this size.
	minFooterEntry = 16
)

// PartitionIndex describes one partition's batches in a segment: what the
// footer records, and what the registry's segment index stores for the
// partition next to the object key.
type PartitionIndex struct {
	ID ID
	// Pos and Size are the byte range [Pos, Pos+Size) of the partition's
	// batches in the object.
	Pos, Size int64
	// FirstOffset and LastOffset are the offsets of its first and last
	// record, inclusive.
	FirstOffset, LastOffset int64
	// MinTimestamp and MaxTimestamp bound its records' timestamps.
	MinTimestamp, MaxTimestamp int64
	Records                    int64 // LastOffset-FirstOffset+1: offsets are dense
	Batches                    int64

	// producers is the idempotent producers' state as of LastOffset, in
	// the producer snapshot encoding (actor_producers.go); nil when the
	// writer recorded none. An object-mode actor reads it back on takeover.
	producers []byte

	// index holds one entry per index block: the first batch of the
	// partition and then the first batch after every IndexInterval bytes.
	index []indexEntry
}

// indexEntry locates one index block: the base offset and byte position of
// its first batch, and the largest timestamp of the partition up to the end
// of the block (the time index: non-decreasing).
type indexEntry struct {
	offset, pos, maxTS int64
}

// End is the byte position just past the partition's batches.
func (p *PartitionIndex) End() int64 { return p.Pos + p.Size }

// appendFooter appends the footer for parts.
func appendFooter(dst []byte, parts []PartitionIndex) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(parts)))
	var e []byte
	for i := range parts {
		p := &parts[i]
		e = e[:0]
		e = binary.AppendUvarint(e, uint64(p.ID.Tenant))
		e = binary.AppendUvarint(e, uint64(p.ID.Topic))
		e = binary.AppendUvarint(e, uint64(p.ID.Partition))
		e = binary.AppendUvarint(e, uint64(p.Pos))
		e = binary.AppendUvarint(e, uint64(p.Size))
		e = binary.AppendUvarint(e, uint64(p.FirstOffset))
		e = binary.AppendUvarint(e, uint64(p.LastOffset-p.FirstOffset))
		e = binary.AppendVarint(e, p.MinTimestamp)
		e = binary.AppendUvarint(e, uint64(p.MaxTimestamp-p.MinTimestamp))
		e = binary.AppendUvarint(e, uint64(p.Records))
		e = binary.AppendUvarint(e, uint64(p.Batches))
		e = binary.AppendUvarint(e, uint64(len(p.index)))
		prev := indexEntry{offset: p.FirstOffset, pos: p.Pos, maxTS: p.MinTimestamp}
		for _, x := range p.index {
			e = binary.AppendUvarint(e, uint64(x.offset-prev.offset))
			e = binary.AppendUvarint(e, uint64(x.pos-prev.pos))
			e = binary.AppendUvarint(e, uint64(x.maxTS-prev.maxTS))
			prev = x
		}
		if p.producers != nil {
			e = binary.AppendUvarint(e, uint64(len(p.producers)))
			e = append(e, p.producers...)
		}
		dst = binary.AppendUvarint(dst, uint64(len(e)))
		dst = append(dst, e...)
	}
	return dst
}

// appendTrailer appends the trailer locating a footer at pos.
func appendTrailer(dst []byte, footerPos int64, footer []byte) []byte {
	var t [TrailerLen]byte
	le := binary.LittleEndian
	le.PutUint64(t[trailerFooterPos:], uint64(footerPos))
	le.PutUint32(t[trailerFooterLen:], uint32(len(footer)))
	le.PutUint32(t[trailerFooterCRC:], crc32.Checksum(footer, castagnoli))
	le.PutUint32(t[trailerCRC:], crc32.Checksum(t[:trailerCRC], castagnoli))
	copy(t[trailerMagic:], segmentMagic)
	t[trailerVersion] = segmentVersion
	return append(dst, t[:]...)
}

// trailer is a decoded trailer.
type trailer struct {
	footerPos, footerLen int64
	footerCRC            uint32
}

// readTrailer checks the trailer t, the last TrailerLen bytes of an object
// of size bytes. Errors are *CorruptError with positions in the object.
func readTrailer(t []byte, size int64) (trailer, error) {
	pos := size - TrailerLen
	if len(t) != TrailerLen {
		return trailer{}, corruptf(pos, "trailer of %d bytes, want %d", len(t), TrailerLen)
	}
	if string(t[trailerMagic:trailerMagic+len(segmentMagic)]) != segmentMagic {
		return trailer{}, corruptf(pos+trailerMagic, "no segment magic %q at the end (truncated or not a segment)", segmentMagic)
	}
	if v := t[trailerVersion]; v != segmentVersion {
		return trailer{}, corruptf(pos+trailerVersion, "unknown segment version %d", v)
	}
	le := binary.LittleEndian
	if got, want := crc32.Checksum(t[:trailerCRC], castagnoli), le.Uint32(t[trailerCRC:]); got != want {
		return trailer{}, corruptf(pos+trailerCRC, "trailer CRC32C %08x, want %08x", got, want)
	}
	fpos, flen := le.Uint64(t[trailerFooterPos:]), int64(le.Uint32(t[trailerFooterLen:]))
	if flen < 1 || flen > MaxFooterBytes || flen > pos || fpos != uint64(pos-flen) {
		return trailer{}, corruptf(pos, "footer of %d bytes at %d does not end at the trailer (%d)", flen, fpos, pos)
	}
	return trailer{footerPos: int64(fpos), footerLen: flen, footerCRC: le.Uint32(t[trailerFooterCRC:])}, nil
}

// footerReader reads varints from a footer, remembering the first error.
type footerReader struct {
	b   []byte
	p   int
	bad bool
}

func (r *footerReader) uvarint() uint64 {
	x, p := uvarint(r.b, r.p)
	if p < 0 {
		r.bad = true
		return 0
	}
	r.p = p
	return x
}

func (r *footerReader) varint() int64 {
	x, p := varint(r.b, r.p)
	if p < 0 {
		r.bad = true
		return 0
	}
	r.p = p
	return x
}

// nonneg reads an unsigned varint that must fit an int64.
func (r *footerReader) nonneg() int64 {
	x := r.uvarint()
	if x > math.MaxInt64 {
		r.bad = true
		return 0
	}
	return int64(x)
}

// decodeFooter decodes and checks the footer b, which sits at footerPos and
// whose CRC has been checked. Partition ranges must tile [0, footerPos) in
// order; bytes after the fields of an entry, or after the last entry, are
// ignored (room for fields added later).
func decodeFooter(b []byte, footerPos int64) ([]PartitionIndex, error) {
	r := &footerReader{b: b}
	n := r.uvarint()
	if r.bad || n > uint64(len(b)/minFooterEntry) {
		return nil, corruptf(footerPos, "bad partition count")
	}
	// Grow with what decodes rather than trusting n: a crafted count with a
	// valid CRC must not reserve memory the input does not back.
	parts := make([]PartitionIndex, 0, min(n, 1024))
	seen := make(map[ID]struct{}, min(n, 1024))
	next := int64(0)
	for i := range int(n) {
		entryPos := footerPos + int64(r.p)
		l := r.uvarint()
		if r.bad || l > uint64(len(b)-r.p) {
			return nil, corruptf(entryPos, "partition entry %d: bad length", i)
		}
		end := r.p + int(l)
		er := &footerReader{b: b[:end], p: r.p}
		p, err := decodeEntry(er, next)
		if err != nil {
			return nil, corruptf(entryPos, "partition entry %d: %v", i, err)
		}
		if _, dup := seen[p.ID]; dup {
			return nil, corruptf(entryPos, "partition entry %d: partition %s twice", i, p.ID)
		}
		seen[p.ID] = struct{}{}
		parts = append(parts, p)
		next = p.End()
		r.p = end
	}
	if next != footerPos {
		return nil, corruptf(footerPos, "partitions end at byte %d, footer starts at %d", next, footerPos)
	}
	return parts, nil
}

// decodeEntry decodes one partition entry whose batches must start at pos.
func decodeEntry(r *footerReader, pos int64) (PartitionIndex, error) {
	var p PartitionIndex
	tenant, topic, part := r.nonneg(), r.nonneg(), r.uvarint()
	p.ID = ID{Tenant: tenant, Topic: topic, Partition: int32(part)}
	p.Pos, p.Size = r.nonneg(), r.nonneg()
	p.FirstOffset = r.nonneg()
	span := r.nonneg()
	p.MinTimestamp = r.varint()
	tsSpan := r.uvarint()
	p.Records, p.Batches = r.nonneg(), r.nonneg()
	nIndex := r.uvarint()
	if r.bad {
		return p, fmt.Errorf("bad varint")
	}
	p.LastOffset = p.FirstOffset + span
	p.MaxTimestamp = p.MinTimestamp + int64(tsSpan)
	switch {
	case part > math.MaxInt32 || p.ID.Validate() != nil:
		return p, fmt.Errorf("invalid partition id %d/%d/%d", tenant, topic, part)
	case p.Pos != pos:
		return p, fmt.Errorf("partition %s starts at byte %d, want %d", p.ID, p.Pos, pos)
	case p.Size < batchHeaderLen || p.Size > math.MaxInt64-p.Pos:
		return p, fmt.Errorf("partition %s: size %d", p.ID, p.Size)
	case p.LastOffset < p.FirstOffset || span == math.MaxInt64 || p.Records != span+1:
		return p, fmt.Errorf("partition %s: %d records in offsets [%d, %d]", p.ID, p.Records, p.FirstOffset, p.LastOffset)
	case p.MaxTimestamp < p.MinTimestamp:
		return p, fmt.Errorf("partition %s: timestamps [%d, %d]", p.ID, p.MinTimestamp, p.MaxTimestamp)
	case p.Batches < 1 || p.Batches > p.Records || p.Batches > p.Size/batchHeaderLen:
		return p, fmt.Errorf("partition %s: %d batches for %d records in %d bytes", p.ID, p.Batches, p.Records, p.Size)
	case nIndex < 1 || nIndex > uint64(p.Batches) || nIndex > uint64(len(r.b)-r.p)/3:
		return p, fmt.Errorf("partition %s: %d index entries", p.ID, nIndex)
	}
	p.index = make([]indexEntry, nIndex)
	prev := indexEntry{offset: p.FirstOffset, pos: p.Pos, maxTS: p.MinTimestamp}
	for i := range p.index {
		do, dp, dt := r.uvarint(), r.uvarint(), r.uvarint()
		x := indexEntry{offset: prev.offset + int64(do), pos: prev.pos + int64(dp), maxTS: prev.maxTS + int64(dt)}
		switch {
		case r.bad:
			return p, fmt.Errorf("partition %s: index entry %d: bad varint", p.ID, i)
		case i == 0 && (do != 0 || dp != 0):
			return p, fmt.Errorf("partition %s: first index entry is not the first batch", p.ID)
		case i > 0 && (do == 0 || dp < batchHeaderLen || do > uint64(p.LastOffset-prev.offset) || dp > uint64(p.End()-prev.pos)):
			return p, fmt.Errorf("partition %s: index entry %d out of order", p.ID, i)
		case x.pos > p.End()-batchHeaderLen || dt > uint64(p.MaxTimestamp-prev.maxTS):
			return p, fmt.Errorf("partition %s: index entry %d out of range", p.ID, i)
		}
		p.index[i] = x
		prev = x
	}
	if prev.maxTS != p.MaxTimestamp {
		return p, fmt.Errorf("partition %s: time index ends at %d, max timestamp %d", p.ID, prev.maxTS, p.MaxTimestamp)
	}
	if r.p < len(r.b) {
		n := r.uvarint()
		if r.bad || n > uint64(len(r.b)-r.p) {
			return p, fmt.Errorf("partition %s: bad producer snapshot length", p.ID)
		}
		p.producers = bytes.Clone(r.b[r.p : r.p+int(n)])
		r.p += int(n)
	}
	return p, nil
}
