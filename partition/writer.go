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
	if err := id.Validate(); err != nil {
		return err
	}
	var cur *PartitionIndex
	if n := len(w.parts); n > 0 && w.parts[n-1].ID == id {
		cur = &w.parts[n-1]
		if b.BaseOffset != cur.LastOffset+1 {
			return fmt.Errorf("%w: partition %s: batch at offset %d, want %d", ErrNonContiguous, id, b.BaseOffset, cur.LastOffset+1)
		}
	} else if _, ok := w.seen[id]; ok {
		return fmt.Errorf("%w: partition %s: its batches were followed by partition %s's and cannot resume", ErrNonContiguous, id, w.parts[n-1].ID)
	}
	pos := int64(len(w.buf))
	buf, err := w.enc.AppendBatch(w.buf, b)
	if err != nil {
		return fmt.Errorf("partition %s: %w", id, err)
	}
	w.buf = buf
	h := buf[pos:]
	le := binary.LittleEndian
	size := int64(len(h))
	firstTS, maxTS := int64(le.Uint64(h[offFirstTS:])), int64(le.Uint64(h[offMaxTS:]))
	n := int64(len(b.Records))
	if cur == nil {
		w.seen[id] = struct{}{}
		w.parts = append(w.parts, PartitionIndex{
			ID: id, Pos: pos, FirstOffset: b.BaseOffset, LastOffset: b.BaseOffset - 1,
			MinTimestamp: firstTS, MaxTimestamp: maxTS,
		})
		cur = &w.parts[len(w.parts)-1]
	}
	minTS := firstTS
	for i := range b.Records {
		minTS = min(minTS, b.Records[i].Timestamp)
	}
	cur.Size += size
	cur.LastOffset += n
	cur.Records += n
	cur.Batches++
	cur.MinTimestamp = min(cur.MinTimestamp, minTS)
	cur.MaxTimestamp = max(cur.MaxTimestamp, maxTS)
	if k := len(cur.index); k == 0 || pos-cur.index[k-1].pos >= int64(w.cfg.IndexInterval) {
		cur.index = append(cur.index, indexEntry{offset: b.BaseOffset, pos: pos})
	}
	cur.index[len(cur.index)-1].maxTS = cur.MaxTimestamp
	return nil
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
