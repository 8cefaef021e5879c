package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultIndexInterval is the default number of batch bytes between two
// entries of a partition's sparse offset and time index.
const DefaultIndexInterval = 4 << 10

// WriterConfig configures a SegmentWriter. The zero value is the default.
type WriterConfig struct {
	// IndexInterval is the number of batch bytes between two entries of a
	// partition's sparse index: a new entry starts at the first batch after
	// that many bytes since the previous entry, so every batch gets one when
	// batches are larger. A read fetches at least one index block, so this
	// bounds the over-read; each entry costs the footer about 4-6 bytes.
	// The default is DefaultIndexInterval (4 KiB).
	IndexInterval int
	// Uncompressed stores batch bodies without LZ4. The default compresses
	// every body that LZ4 shrinks.
	Uncompressed bool
}

// EnsureDefaults fills unset fields with their defaults.
func (c *WriterConfig) EnsureDefaults() {
	if c.IndexInterval <= 0 {
		c.IndexInterval = DefaultIndexInterval
	}
}

// SegmentWriter builds one segment object in memory: batches of one or more
// partitions, each partition's batches contiguous and with contiguous
// offsets, then the footer and trailer on Seal. It is not safe for
// concurrent use.
type SegmentWriter struct {
	cfg    WriterConfig
	enc    Encoder
	buf    []byte
	parts  []PartitionIndex
	seen   map[ID]struct{}
	sealed bool
}

// NewSegmentWriter returns a writer with the default configuration.
func NewSegmentWriter() *SegmentWriter { return NewSegmentWriterConfig(WriterConfig{}) }

// NewSegmentWriterConfig returns a writer configured by cfg.
func NewSegmentWriterConfig(cfg WriterConfig) *SegmentWriter {
	cfg.EnsureDefaults()
	w := &SegmentWriter{cfg: cfg, seen: make(map[ID]struct{})}
	w.enc.Uncompressed = cfg.Uncompressed
	return w
}

// Len is the number of batch bytes written so far (without the footer and
// trailer that Seal adds).
func (w *SegmentWriter) Len() int { return len(w.buf) }

// Append encodes b as the next batch of partition id; the writer keeps no
// reference to b. The batch must start at the offset after the previous
// batch of id, and a partition's batches must be contiguous in the object:
// once another partition's batch was appended, id cannot come back. Both
// violations wrap ErrNonContiguous; an unencodable batch wraps
// ErrInvalidBatch. A refused batch leaves the writer unchanged.
func (w *SegmentWriter) Append(id ID, b *Batch) error {
	if w.sealed {
		return errors.New("append to a sealed segment writer")
	}
	cur, err := w.partitionAt(id, b.BaseOffset)
	if err != nil {
		return err
	}
	pos := int64(len(w.buf))
	buf, err := w.enc.AppendBatch(w.buf, b)
	if err != nil {
		return fmt.Errorf("partition %s: %w", id, err)
	}
	w.buf = buf
	h := buf[pos:]
	minTS := int64(binary.LittleEndian.Uint64(h[offFirstTS:]))
	for i := range b.Records {
		minTS = min(minTS, b.Records[i].Timestamp)
	}
	w.index(cur, id, pos, h, minTS)
	return nil
}

// appendEncoded appends raw, one batch as an Encoder wrote it (a WAL
// entry's), of partition id, without decoding it: the actor's flush copies
// the batches it encoded when it took the requests instead of decoding and
// encoding them again. minTS bounds its records' timestamps from below
// (their batch header keeps only the first and the largest). The caller
// vouches for raw; the checks are Append's: contiguity and order.
func (w *SegmentWriter) appendEncoded(id ID, raw []byte, minTS int64) error {
	if w.sealed {
		return errors.New("append to a sealed segment writer")
	}
	if len(raw) < batchHeaderLen || int(binary.LittleEndian.Uint32(raw[offLength:]))+4 != len(raw) {
		return fmt.Errorf("%w: partition %s: encoded batch of %d bytes with a bad length", ErrInvalidBatch, id, len(raw))
	}
	cur, err := w.partitionAt(id, int64(binary.LittleEndian.Uint64(raw[offBaseOffset:])))
	if err != nil {
		return err
	}
	pos := int64(len(w.buf))
	w.buf = append(w.buf, raw...)
	w.index(cur, id, pos, w.buf[pos:], minTS)
	return nil
}

// reserve makes room for n more bytes of batches (and a small footer), so
// that a writer of a known size grows its buffer once.
func (w *SegmentWriter) reserve(n int) {
	w.buf = grow(w.buf, n+n/64+TrailerLen+256)
}

// partitionAt checks that a batch of id at offset base may come next and
// returns id's entry if it has one (nil for a new partition).
func (w *SegmentWriter) partitionAt(id ID, base int64) (*PartitionIndex, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	n := len(w.parts)
	if n > 0 && w.parts[n-1].ID == id {
		cur := &w.parts[n-1]
		if base != cur.LastOffset+1 {
			return nil, fmt.Errorf("%w: partition %s: batch at offset %d, want %d", ErrNonContiguous, id, base, cur.LastOffset+1)
		}
		return cur, nil
	}
	if _, ok := w.seen[id]; ok {
		return nil, fmt.Errorf("%w: partition %s: its batches were followed by partition %s's and cannot resume", ErrNonContiguous, id, w.parts[n-1].ID)
	}
	return nil, nil
}

// index accounts for the batch h just appended at pos: the partition's
// range, offsets, timestamps and sparse index; cur is the partition's entry
// if it has one already.
func (w *SegmentWriter) index(cur *PartitionIndex, id ID, pos int64, h []byte, minTS int64) {
	le := binary.LittleEndian
	size := int64(len(h))
	base := int64(le.Uint64(h[offBaseOffset:]))
	firstTS, maxTS := int64(le.Uint64(h[offFirstTS:])), int64(le.Uint64(h[offMaxTS:]))
	n := int64(le.Uint32(h[offCount:]))
	if cur == nil {
		w.seen[id] = struct{}{}
		w.parts = append(w.parts, PartitionIndex{
			ID: id, Pos: pos, FirstOffset: base, LastOffset: base - 1,
			MinTimestamp: min(firstTS, minTS), MaxTimestamp: maxTS,
		})
		cur = &w.parts[len(w.parts)-1]
	}
	cur.Size += size
	cur.LastOffset += n
	cur.Records += n
	cur.Batches++
	cur.MinTimestamp = min(cur.MinTimestamp, minTS)
	cur.MaxTimestamp = max(cur.MaxTimestamp, maxTS)
	if k := len(cur.index); k == 0 || pos-cur.index[k-1].pos >= int64(w.cfg.IndexInterval) {
		cur.index = append(cur.index, indexEntry{offset: base, pos: pos})
	}
	cur.index[len(cur.index)-1].maxTS = cur.MaxTimestamp
}

// setProducers records snap, a producer snapshot as of the partition's last
// offset so far, in the footer entry of partition id, which must have
// batches in the writer. A later call replaces it.
func (w *SegmentWriter) setProducers(id ID, snap []byte) error {
	for i := range w.parts {
		if w.parts[i].ID == id {
			w.parts[i].producers = snap
			return nil
		}
	}
	return fmt.Errorf("producer snapshot for partition %s without batches in the segment", id)
}

// Seal appends the footer and trailer and returns the whole object and the
// index of each partition in it, in the order of the object. The writer
// cannot be used afterwards. It refuses a writer with no batches.
func (w *SegmentWriter) Seal() ([]byte, []PartitionIndex, error) {
	if w.sealed {
		return nil, nil, errors.New("seal a sealed segment writer")
	}
	if len(w.parts) == 0 {
		return nil, nil, errors.New("seal a segment without batches")
	}
	footerPos := int64(len(w.buf))
	buf := appendFooter(w.buf, w.parts)
	footer := buf[footerPos:]
	if len(footer) > MaxFooterBytes {
		return nil, nil, fmt.Errorf("segment footer of %d bytes over the limit of %d", len(footer), MaxFooterBytes)
	}
	buf = appendTrailer(buf, footerPos, footer)
	w.sealed = true
	parts := w.parts
	w.buf, w.parts = nil, nil
	return buf, parts, nil
}
