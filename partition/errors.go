package partition

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrCorrupt: a segment or batch whose bytes fail a check (CRC, magic,
	// bounds, a length or count that contradicts another). Always carried by
	// a *CorruptError that says where.
	ErrCorrupt = errors.New("corrupt segment")

	// ErrOffsetOutOfRange: an offset outside the range a segment holds for a
	// partition. Carried by an *OffsetRangeError.
	ErrOffsetOutOfRange = errors.New("offset out of range")

	// ErrPartitionNotInSegment: the segment holds no batches of the partition.
	ErrPartitionNotInSegment = errors.New("partition not in segment")

	// ErrNonContiguous: the writer was given a batch whose offsets do not
	// follow the previous batch of its partition, or a partition whose batches
	// were interrupted by another partition's.
	ErrNonContiguous = errors.New("batches not contiguous")

	// ErrInvalidBatch: a batch the encoder refuses (no records, too large,
	// offsets that overflow).
	ErrInvalidBatch = errors.New("invalid batch")

	// ErrInvalidSegmentKey: a key ParseSegmentKey refuses.
	ErrInvalidSegmentKey = errors.New("invalid segment key")
)

// CorruptError reports bytes that fail a check of the segment format. It
// unwraps to ErrCorrupt and, when present, to the cause Err (for example an
// objectstore error when the object is shorter than the size it was opened
// with).
type CorruptError struct {
	Key    string // object key; empty when decoding bytes that came from no object
	Pos    int64  // byte position in the object (or in the decoded buffer) of the failing structure
	Offset int64  // record offset of the failing batch if known, else -1
	Reason string // what failed
	Err    error  // optional cause
}

func (e *CorruptError) Error() string {
	key := e.Key
	if key == "" {
		key = "(buffer)"
	}
	msg := fmt.Sprintf("corrupt segment %s at byte %d", key, e.Pos)
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" (offset %d)", e.Offset)
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrCorrupt and the cause, if any.
func (e *CorruptError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCorrupt, e.Err}
	}
	return []error{ErrCorrupt}
}

// corruptf builds a *CorruptError at pos with no key and no known offset;
// the reader fills in the key and rebases pos (see (*Segment).rebase).
func corruptf(pos int64, format string, args ...any) *CorruptError {
	return &CorruptError{Pos: pos, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

// OffsetRangeError reports an offset the segment does not hold for a
// partition. It unwraps to ErrOffsetOutOfRange.
type OffsetRangeError struct {
	Key         string // object key
	ID          ID     // partition
	Offset      int64  // the offset asked for
	First, Last int64  // the partition's offsets in this segment, inclusive
}

func (e *OffsetRangeError) Error() string {
	return fmt.Sprintf("segment %s partition %s: offset %d outside [%d, %d]", e.Key, e.ID, e.Offset, e.First, e.Last)
}

// Unwrap returns ErrOffsetOutOfRange.
func (e *OffsetRangeError) Unwrap() error { return ErrOffsetOutOfRange }
