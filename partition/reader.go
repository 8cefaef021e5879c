package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/streamhouse/streamhouse/objectstore"
)

// TailRead is how many bytes OpenSegment reads from the end of an object in
// its first request: the trailer and, unless the footer is larger, the
// footer too.
const TailRead = 64 << 10

// Segment is an opened segment object: its footer, read once, and the store
// to fetch batches from. Its methods are safe for concurrent use.
type Segment struct {
	store objectstore.Store
	key   string
	size  int64
	parts []PartitionIndex
	byID  map[ID]int
}

// OpenSegment reads the footer of the segment at key, an object of size
// bytes (as the registry's segment index records it): one ranged read of the
// last min(size, TailRead) bytes, and a second one only if the footer is
// larger. A malformed object yields a *CorruptError; store errors are
// returned wrapped.
func OpenSegment(ctx context.Context, store objectstore.Store, key string, size int64) (*Segment, error) {
	s := &Segment{store: store, key: key, size: size}
	if size < TrailerLen+1 {
		return nil, &CorruptError{Key: key, Pos: 0, Offset: -1, Reason: fmt.Sprintf("object of %d bytes is too small for a segment", size)}
	}
	tailPos := size - min(size, TailRead)
	tail, err := s.fetch(ctx, tailPos, size-tailPos)
	if err != nil {
		return nil, err
	}
	tr, err := readTrailer(tail[len(tail)-TrailerLen:], size)
	if err != nil {
		return nil, s.locate(err, 0, -1)
	}
	var footer []byte
	if tr.footerPos >= tailPos {
		footer = tail[tr.footerPos-tailPos : len(tail)-TrailerLen]
	} else if footer, err = s.fetch(ctx, tr.footerPos, tr.footerLen); err != nil {
		return nil, err
	}
	if got := crc32.Checksum(footer, castagnoli); got != tr.footerCRC {
		return nil, &CorruptError{Key: key, Pos: tr.footerPos, Offset: -1, Reason: fmt.Sprintf("footer CRC32C %08x, want %08x", got, tr.footerCRC)}
	}
	if s.parts, err = decodeFooter(footer, tr.footerPos); err != nil {
		return nil, s.locate(err, 0, -1)
	}
	s.byID = make(map[ID]int, len(s.parts))
	for i := range s.parts {
		s.byID[s.parts[i].ID] = i
	}
	return s, nil
}

// OpenSegmentUnsized is OpenSegment for a caller that does not know the
// object's size: it lists the key first to learn it.
func OpenSegmentUnsized(ctx context.Context, store objectstore.Store, key string) (*Segment, error) {
	infos, err := store.List(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", key, err)
	}
	for _, info := range infos {
		if info.Key == key {
			return OpenSegment(ctx, store, key, info.Size)
		}
	}
	return nil, fmt.Errorf("open segment %s: %w", key, objectstore.ErrNotFound)
}

// Key is the segment's object key.
func (s *Segment) Key() string { return s.key }

// Size is the segment's object size in bytes.
func (s *Segment) Size() int64 { return s.size }

// Partitions returns the index of every partition in the segment, in the
// order of the object. The caller must not modify it.
func (s *Segment) Partitions() []PartitionIndex { return s.parts }

// Partition returns the index of partition id, or an error wrapping
// ErrPartitionNotInSegment.
func (s *Segment) Partition(id ID) (*PartitionIndex, error) {
	i, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("segment %s: %w: %s", s.key, ErrPartitionNotInSegment, id)
	}
	return &s.parts[i], nil
}

// ReadFrom returns the batches of partition id from the one holding offset
// onwards, as Kafka's fetch does: the first batch may start before offset
// (skip records below it), and it is returned whole even when it exceeds
// maxBytes; further batches follow while their stored (compressed) sizes
// add up to at most maxBytes. next is the offset after the last batch
// returned. It fetches one ranged read: the index block holding offset
// (about WriterConfig.IndexInterval bytes) plus up to maxBytes, never more
// than the partition's range.
//
// The batches and their records alias dec's memory (see Decoder), which
// ReadFrom resets first; dec may be nil for a fresh one. An offset outside
// the partition's range yields an *OffsetRangeError, a partition not in the
// segment ErrPartitionNotInSegment, a malformed batch a *CorruptError, and
// a failed read the store's error, wrapped.
func (s *Segment) ReadFrom(ctx context.Context, id ID, offset, maxBytes int64, dec *Decoder) (batches []Batch, next int64, err error) {
	p, err := s.Partition(id)
	if err != nil {
		return nil, 0, err
	}
	if offset < p.FirstOffset || offset > p.LastOffset {
		return nil, 0, &OffsetRangeError{Key: s.key, ID: id, Offset: offset, First: p.FirstOffset, Last: p.LastOffset}
	}
	if dec == nil {
		dec = new(Decoder)
	} else {
		dec.Reset()
	}
	k := sort.Search(len(p.index), func(i int) bool { return p.index[i].offset > offset }) - 1
	end := p.End()
	if k+1 < len(p.index) {
		end = p.index[k+1].pos
	}
	end += min(max(maxBytes, 0), p.End()-end)
	w, err := s.walk(ctx, p, k, end)
	if err != nil {
		return nil, 0, err
	}
	var used int64
	batches = dec.batches[:0]
	for {
		h, raw, ok, err := w.next()
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			if len(batches) == 0 {
				return nil, 0, s.locate(corruptf(w.pos, "batch holding offset %d runs past its index block", offset), 0, w.want)
			}
			break
		}
		if h.lastOffset() < offset {
			continue
		}
		if len(batches) > 0 && used+int64(h.size) > maxBytes {
			break
		}
		b, err := dec.decodeBody(raw, &h)
		if err != nil {
			return nil, 0, s.locate(err, w.pos-int64(h.size), h.baseOffset)
		}
		batches = append(batches, b)
		used += int64(h.size)
		next = h.lastOffset() + 1
	}
	dec.batches = batches
	return batches, next, nil
}

// OffsetForTime returns the earliest offset of partition id whose record
// timestamp is at or after ts, and true; or LastOffset+1 and false when
// every record of the partition in this segment is older. It reads at most
// one index block, and nothing when ts is at or before the partition's
// smallest timestamp.
func (s *Segment) OffsetForTime(ctx context.Context, id ID, ts int64) (int64, bool, error) {
	p, err := s.Partition(id)
	if err != nil {
		return 0, false, err
	}
	switch {
	case ts > p.MaxTimestamp:
		return p.LastOffset + 1, false, nil
	case ts <= p.MinTimestamp:
		return p.FirstOffset, true, nil
	}
	// The first block whose running max reaches ts holds the answer: every
	// record before it is older.
	k := sort.Search(len(p.index), func(i int) bool { return p.index[i].maxTS >= ts })
	end := p.End()
	if k+1 < len(p.index) {
		end = p.index[k+1].pos
	}
	w, err := s.walk(ctx, p, k, end)
	if err != nil {
		return 0, false, err
	}
	var dec Decoder
	for {
		h, raw, ok, err := w.next()
		if err != nil {
			return 0, false, err
		}
		if !ok {
			return 0, false, s.locate(corruptf(p.index[k].pos, "time index block has no timestamp at or after %d", ts), 0, p.index[k].offset)
		}
		if h.maxTS < ts {
			continue
		}
		b, err := dec.decodeBody(raw, &h)
		if err != nil {
			return 0, false, s.locate(err, w.pos-int64(h.size), h.baseOffset)
		}
		for _, r := range b.Records {
			if r.Timestamp >= ts {
				return r.Offset, true, nil
			}
		}
		return 0, false, s.locate(corruptf(0, "no record reaches the batch's max timestamp"), w.pos-int64(h.size), h.baseOffset)
	}
}

// walk fetches [index[k].pos, end) of partition p and returns a walker
// over its batches.
func (s *Segment) walk(ctx context.Context, p *PartitionIndex, k int, end int64) (walker, error) {
	start := p.index[k].pos
	buf, err := s.fetch(ctx, start, end-start)
	if err != nil {
		return walker{}, err
	}
	return walker{s: s, p: p, buf: buf, start: start, pos: start, want: p.index[k].offset, entry: k + 1}, nil
}

// fetch reads n bytes at pos; a short object is a *CorruptError.
func (s *Segment) fetch(ctx context.Context, pos, n int64) ([]byte, error) {
	b, err := s.store.GetRange(ctx, s.key, pos, n)
	switch {
	case errors.Is(err, objectstore.ErrInvalidRange):
		return nil, &CorruptError{Key: s.key, Pos: pos, Offset: -1, Reason: fmt.Sprintf("object shorter than the %d bytes expected", s.size), Err: err}
	case err != nil:
		return nil, fmt.Errorf("read segment %s: %w", s.key, err)
	case int64(len(b)) != n:
		return nil, &CorruptError{Key: s.key, Pos: pos + int64(len(b)), Offset: -1, Reason: fmt.Sprintf("object ends at byte %d, want %d", pos+int64(len(b)), s.size)}
	}
	return b, nil
}

// locate fills a *CorruptError with the key, moves its position by pos and
// sets its offset if unknown; other errors pass unchanged.
func (s *Segment) locate(err error, pos, offset int64) error {
	var c *CorruptError
	if errors.As(err, &c) {
		c.Key = s.key
		c.Pos += pos
		if c.Offset < 0 {
			c.Offset = offset
		}
	}
	return err
}

// walker steps through the batches of one partition held in buf, fetched
// from object position start, checking each against the index and the
// batch before it.
type walker struct {
	s     *Segment
	p     *PartitionIndex
	buf   []byte
	start int64
	pos   int64 // object position of the next batch
	want  int64 // base offset the next batch must have
	entry int   // next index entry to meet
}

// next returns the next batch's checked header and stored bytes, or
// ok=false at the end of the partition or of buf.
func (w *walker) next() (h batchHeader, raw []byte, ok bool, err error) {
	p := w.p
	if w.pos >= p.End() {
		if w.want != p.LastOffset+1 {
			return h, nil, false, w.corrupt("partition ends at offset %d, footer says %d", w.want-1, p.LastOffset)
		}
		return h, nil, false, nil
	}
	avail := w.buf[w.pos-w.start:]
	if len(avail) < 4 {
		return h, nil, false, nil
	}
	size := int64(binary.LittleEndian.Uint32(avail)) + 4
	if size < batchHeaderLen || size > p.End()-w.pos {
		return h, nil, false, w.corrupt("batch of %d bytes does not fit the partition's range", size)
	}
	for ; w.entry < len(p.index) && p.index[w.entry].pos < w.pos+size; w.entry++ {
		if e := p.index[w.entry]; e.pos != w.pos || e.offset != w.want {
			return h, nil, false, w.corrupt("batch disagrees with index entry (offset %d at byte %d)", e.offset, e.pos)
		}
	}
	if size > int64(len(avail)) {
		return h, nil, false, nil
	}
	if h, err = readBatchHeader(avail); err != nil {
		return h, nil, false, w.s.locate(err, w.pos, w.want)
	}
	switch {
	case h.baseOffset != w.want:
		return h, nil, false, w.corrupt("batch base offset %d, want %d", h.baseOffset, w.want)
	case h.lastOffset() > p.LastOffset:
		return h, nil, false, w.corrupt("batch ends at offset %d, past the partition's last %d", h.lastOffset(), p.LastOffset)
	case h.firstTS < p.MinTimestamp || h.maxTS > p.MaxTimestamp:
		return h, nil, false, w.corrupt("batch timestamps [%d, %d] outside the partition's [%d, %d]", h.firstTS, h.maxTS, p.MinTimestamp, p.MaxTimestamp)
	}
	w.pos += size
	w.want = h.lastOffset() + 1
	return h, avail[:size], true, nil
}

func (w *walker) corrupt(format string, args ...any) error {
	return &CorruptError{Key: w.s.key, Pos: w.pos, Offset: w.want, Reason: fmt.Sprintf(format, args...)}
}
