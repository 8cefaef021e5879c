package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// walAppendResult is the outcome of appendWAL.
type walAppendResult struct {
	seq uint64 // the entry's sequence
	err error  // ErrWALFenced (not written), or unknown outcome after every retry
	// fencedAfter: the entry landed at seq, and another owner's entry
	// followed it (last): acknowledge, then stop.
	fencedAfter bool
	last        uint64
}

// errStopReplay ends a Replay early.
var errStopReplay = errors.New("stop replay")

// appendWAL appends entry expecting expected as the partition's last
// sequence.
//
// An error that is neither success nor a fence leaves the outcome unknown.
// The actor does not acknowledge on it; it resolves it instead, up to
// WALRetries times with backoff: it reads the last sequence, and
//   - if it is still expected, the entry did not land: append again;
//   - else it reads the first entry after expected: if that entry is ours
//     (equal bytes: the epoch and the offsets make them unique) it landed —
//     and if more entries follow it, another owner has come (fencedAfter);
//     if it is not ours, another owner appended first: fenced.
//
// An entry trimmed away before it could be compared reads as "not ours":
// the group then fails unacknowledged, which is safe. When the retries run
// out the error is returned and the actor stops (ErrActorFailed) without
// acknowledging; a new owner's replay settles what landed.
func (a *Actor) appendWAL(ctx context.Context, expected uint64, entry []byte) walAppendResult {
	w := a.cfg.WAL
	seq, err := w.Append(ctx, expected, entry)
	for attempt := 0; ; attempt++ {
		switch {
		case err == nil:
			return walAppendResult{seq: seq}
		case errors.Is(err, ErrWALFenced):
			return walAppendResult{err: err}
		case attempt >= a.cfg.WALRetries || ctx.Err() != nil:
			return walAppendResult{err: err}
		}
		a.log.Warn("wal append of unknown outcome, resolving", "expected_seq", expected, "attempt", attempt+1, "err", err)
		if perr := a.pause(ctx, attempt); perr != nil {
			return walAppendResult{err: err}
		}
		last, lerr := w.LastSeq(ctx)
		if lerr != nil {
			err = fmt.Errorf("read last wal sequence: %w", lerr)
			continue
		}
		if last == expected {
			seq, err = w.Append(ctx, expected, entry)
			continue
		}
		var first uint64
		ours := false
		rerr := w.Replay(ctx, expected, last, func(s uint64, e []byte) error {
			first, ours = s, bytes.Equal(e, entry)
			return errStopReplay
		})
		if rerr != nil && !errors.Is(rerr, errStopReplay) {
			err = fmt.Errorf("read wal entry after %d: %w", expected, rerr)
			continue
		}
		switch {
		case ours && first == last:
			return walAppendResult{seq: first}
		case ours:
			return walAppendResult{seq: first, fencedAfter: true, last: last}
		default:
			return walAppendResult{err: &WALFencedError{Expected: expected, Actual: last}}
		}
	}
}

// pause waits the backoff of the attempt'th retry (from 0), or until ctx
// ends.
func (a *Actor) pause(ctx context.Context, attempt int) error {
	d := min(a.cfg.RetryBackoff<<min(attempt, 5), 30*a.cfg.RetryBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
