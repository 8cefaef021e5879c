package partition

import (
	"context"
	"errors"
	"fmt"
)

// WAL is the write-ahead log of one partition, as the partition actor sees it
// (DESIGN.md, The partition actor). The cell implements it on a JetStream
// subject per partition (cells/wal.go); tests may use MemWAL.
//
// Sequences are the log's own (JetStream stream sequences), increasing but not
// dense: other partitions' entries share the stream. 0 means "no entry".
//
// Fencing lives here, not in the lease: every Append names the sequence its
// writer believes is the partition's last, and the log refuses the append
// atomically if another entry came after it. A deposed owner's next append
// therefore fails, and its actor must stop at once.
type WAL interface {
	// Append writes one entry if the partition's last sequence is still
	// expectedLast, and returns the entry's sequence. Otherwise it writes
	// nothing and returns a *WALFencedError (errors.Is ErrWALFenced). An
	// error of another kind leaves the outcome unknown: the entry may have
	// been written. It blocks until the log has acknowledged, bounded by ctx.
	Append(ctx context.Context, expectedLast uint64, entry []byte) (uint64, error)

	// LastSeq returns the sequence of the partition's last entry, 0 if it has
	// none.
	LastSeq(ctx context.Context) (uint64, error)

	// Replay calls fn, in order, for each entry with after < seq <= upTo. fn
	// must not keep entry after it returns. An error from fn stops the replay
	// and is returned.
	Replay(ctx context.Context, after, upTo uint64, fn func(seq uint64, entry []byte) error) error

	// Trim removes the entries below seq, always keeping the partition's last
	// entry (a log trimmed empty would read as "no last sequence", and the
	// owner's next expected-sequence append would fail). Trimming what is gone
	// already is not an error.
	Trim(ctx context.Context, below uint64) error
}

// ErrWALFenced: an append found another entry after the one it expected, so
// another owner has taken the partition.
var ErrWALFenced = errors.New("wal fenced: another owner appended")

// WALFencedError is returned by WAL.Append when the expected last sequence
// does not hold.
type WALFencedError struct {
	Expected uint64 // the last sequence the writer believed in
	Actual   uint64 // the last sequence the log has, 0 if the log does not say
}

func (e *WALFencedError) Error() string {
	return fmt.Sprintf("%v: expected last sequence %d, log has %d", ErrWALFenced, e.Expected, e.Actual)
}

func (e *WALFencedError) Unwrap() error { return ErrWALFenced }
