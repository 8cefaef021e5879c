package partition

import (
	"context"
	"slices"
	"sync"
)

// MemWAL is an in-memory WAL for unit tests of the code above the interface.
// Handing one *MemWAL to two actors models two owners of one partition: the
// expected-sequence check fences them exactly as the real log does.
// Sequences advance by Step (default 1) to keep callers from assuming that
// they are dense.
type MemWAL struct {
	Step uint64
	mu   struct {
		sync.Mutex
		next    uint64
		entries []memEntry // ascending by seq
	}
}

type memEntry struct {
	seq  uint64
	data []byte
}

var _ WAL = (*MemWAL)(nil)

func (w *MemWAL) Append(ctx context.Context, expectedLast uint64, entry []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.lastLocked()
	if last != expectedLast {
		return 0, &WALFencedError{Expected: expectedLast, Actual: last}
	}
	step := max(w.Step, 1)
	w.mu.next += step
	w.mu.entries = append(w.mu.entries, memEntry{seq: w.mu.next, data: slices.Clone(entry)})
	return w.mu.next, nil
}

func (w *MemWAL) lastLocked() uint64 {
	if n := len(w.mu.entries); n > 0 {
		return w.mu.entries[n-1].seq
	}
	return 0
}

func (w *MemWAL) LastSeq(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastLocked(), nil
}

func (w *MemWAL) Replay(ctx context.Context, after, upTo uint64, fn func(seq uint64, entry []byte) error) error {
	if after >= upTo {
		return nil
	}
	w.mu.Lock()
	var todo []memEntry
	for _, e := range w.mu.entries {
		if e.seq > after && e.seq <= upTo {
			todo = append(todo, e)
		}
	}
	w.mu.Unlock()
	for _, e := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.seq, e.data); err != nil {
			return err
		}
	}
	return nil
}

func (w *MemWAL) Trim(ctx context.Context, below uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.mu.entries)
	if n == 0 {
		return nil
	}
	below = min(below, w.mu.entries[n-1].seq) // the last entry always stays
	i, _ := slices.BinarySearchFunc(w.mu.entries, below, func(e memEntry, s uint64) int {
		switch {
		case e.seq < s:
			return -1
		case e.seq > s:
			return 1
		}
		return 0
	})
	w.mu.entries = slices.Delete(w.mu.entries, 0, i)
	return nil
}
