// Package waltest is the contract suite every partition.WAL implementation
// passes: the in-memory MemWAL and the cell's JetStream WAL.
package waltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/partition"
)

// Factory returns two handles on one fresh, empty partition log, as two
// owners of the partition would hold them.
type Factory func(t *testing.T) (a, b partition.WAL)

// Run runs the contract against logs made by open.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b partition.WAL)
	}{
		{"EmptyLog", testEmptyLog},
		{"AppendAdvancesLastSeq", testAppendAdvances},
		{"WrongExpectedWritesNothing", testWrongExpected},
		{"NewOwnerFencesOld", testNewOwnerFencesOld},
		{"ReplayRanges", testReplayRanges},
		{"ReplayStopsOnError", testReplayStopsOnError},
		{"TrimKeepsLastEntry", testTrimKeepsLast},
		{"RacingAppendsOneWins", testRacingAppends},
		{"EntryIsCopied", testEntryIsCopied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

func appendOK(t *testing.T, w partition.WAL, expected uint64, entry string) uint64 {
	t.Helper()
	seq, err := w.Append(context.Background(), expected, []byte(entry))
	if err != nil {
		t.Fatalf("append %q after %d: %v", entry, expected, err)
	}
	if seq <= expected {
		t.Fatalf("append %q after %d returned sequence %d, want more", entry, expected, seq)
	}
	return seq
}

func lastSeq(t *testing.T, w partition.WAL) uint64 {
	t.Helper()
	seq, err := w.LastSeq(context.Background())
	if err != nil {
		t.Fatalf("last sequence: %v", err)
	}
	return seq
}

type entry struct {
	seq  uint64
	data string
}

func replay(t *testing.T, w partition.WAL, after, upTo uint64) []entry {
	t.Helper()
	var got []entry
	err := w.Replay(context.Background(), after, upTo, func(seq uint64, e []byte) error {
		got = append(got, entry{seq, string(e)})
		return nil
	})
	if err != nil {
		t.Fatalf("replay (%d, %d]: %v", after, upTo, err)
	}
	return got
}

func mustFenced(t *testing.T, err error, expected uint64) {
	t.Helper()
	var fe *partition.WALFencedError
	if !errors.Is(err, partition.ErrWALFenced) || !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *WALFencedError", err)
	}
	if fe.Expected != expected {
		t.Errorf("fenced error expected = %d, want %d", fe.Expected, expected)
	}
}

func testEmptyLog(t *testing.T, a, _ partition.WAL) {
	if s := lastSeq(t, a); s != 0 {
		t.Fatalf("last sequence of an empty log = %d, want 0", s)
	}
	if got := replay(t, a, 0, 1<<62); len(got) != 0 {
		t.Fatalf("replay of an empty log gave %v", got)
	}
	if err := a.Trim(context.Background(), 100); err != nil {
		t.Fatalf("trim of an empty log: %v", err)
	}
}

func testAppendAdvances(t *testing.T, a, b partition.WAL) {
	s1 := appendOK(t, a, 0, "one")
	s2 := appendOK(t, a, s1, "two")
	if got := lastSeq(t, a); got != s2 {
		t.Fatalf("last sequence = %d, want %d", got, s2)
	}
	if got := lastSeq(t, b); got != s2 {
		t.Fatalf("the other handle reads last sequence %d, want %d", got, s2)
	}
	want := []entry{{s1, "one"}, {s2, "two"}}
	if got := replay(t, b, 0, s2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replay = %v, want %v", got, want)
	}
}

func testWrongExpected(t *testing.T, a, _ partition.WAL) {
	s1 := appendOK(t, a, 0, "one")
	_, err := a.Append(context.Background(), 0, []byte("stale"))
	mustFenced(t, err, 0)
	_, err = a.Append(context.Background(), s1+1, []byte("future"))
	mustFenced(t, err, s1+1)
	if got := lastSeq(t, a); got != s1 {
		t.Fatalf("a refused append moved the last sequence to %d, want %d", got, s1)
	}
	if got := replay(t, a, 0, s1+1000); len(got) != 1 || got[0].data != "one" {
		t.Fatalf("after refused appends the log holds %v, want only one", got)
	}
}

// testNewOwnerFencesOld walks DESIGN.md's takeover: the new owner reads the
// last sequence and appends a marker on it; the old owner's next append fails
// and everything it was acknowledged for lies before the marker.
func testNewOwnerFencesOld(t *testing.T, oldOwner, newOwner partition.WAL) {
	s1 := appendOK(t, oldOwner, 0, "acked-1")
	s2 := appendOK(t, oldOwner, s1, "acked-2")
	marker := appendOK(t, newOwner, lastSeq(t, newOwner), "epoch-marker")
	_, err := oldOwner.Append(context.Background(), s2, []byte("late"))
	mustFenced(t, err, s2)
	want := []entry{{s1, "acked-1"}, {s2, "acked-2"}, {marker, "epoch-marker"}}
	if got := replay(t, newOwner, 0, marker); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log after takeover = %v, want %v", got, want)
	}
	appendOK(t, newOwner, marker, "new-owner-1")
}

func testReplayRanges(t *testing.T, a, _ partition.WAL) {
	var seqs []uint64
	var last uint64
	for i := range 10 {
		last = appendOK(t, a, last, fmt.Sprint("e", i))
		seqs = append(seqs, last)
	}
	cases := []struct {
		after, upTo uint64
		from, to    int // want entries seqs[from:to]
	}{
		{0, last, 0, 10},
		{seqs[2], seqs[5], 3, 6},
		{seqs[9], last + 100, 10, 10},
		{seqs[4], seqs[4], 5, 5},
		{seqs[6], seqs[3], 7, 7}, // after past upTo: nothing
		{0, seqs[0], 0, 1},
	}
	for _, c := range cases {
		got := replay(t, a, c.after, c.upTo)
		var want []entry
		for i := c.from; i < c.to; i++ {
			want = append(want, entry{seqs[i], fmt.Sprint("e", i)})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("replay (%d, %d] = %v, want %v", c.after, c.upTo, got, want)
		}
	}
}

func testReplayStopsOnError(t *testing.T, a, _ partition.WAL) {
	var last uint64
	for i := range 5 {
		last = appendOK(t, a, last, fmt.Sprint("e", i))
	}
	stop := errors.New("stop here")
	calls := 0
	err := a.Replay(context.Background(), 0, last, func(uint64, []byte) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("replay returned %v after %d calls, want the callback's error after 2", err, calls)
	}
}

func testTrimKeepsLast(t *testing.T, a, b partition.WAL) {
	var seqs []uint64
	var last uint64
	for i := range 5 {
		last = appendOK(t, a, last, fmt.Sprint("e", i))
		seqs = append(seqs, last)
	}
	ctx := context.Background()
	// Trimming below 0 or 1 removes nothing: a naive purge with sequence 0
	// would empty the log.
	for _, below := range []uint64{0, 1} {
		if err := a.Trim(ctx, below); err != nil {
			t.Fatalf("trim below %d: %v", below, err)
		}
		if got := replay(t, a, 0, last); len(got) != 5 {
			t.Fatalf("trim below %d left %d entries, want all 5", below, len(got))
		}
	}
	if err := a.Trim(ctx, seqs[3]); err != nil {
		t.Fatal(err)
	}
	if got := replay(t, a, 0, last); len(got) != 2 || got[0].seq != seqs[3] || got[1].seq != seqs[4] {
		t.Fatalf("after trim below %d the log holds %v, want e3 and e4", seqs[3], got)
	}
	if err := b.Trim(ctx, last+1000); err != nil {
		t.Fatal(err)
	}
	if got := replay(t, a, 0, last); len(got) != 1 || got[0].seq != last {
		t.Fatalf("trim past the end left %v, want only the last entry", got)
	}
	if got := lastSeq(t, b); got != last {
		t.Fatalf("last sequence after trimming = %d, want %d", got, last)
	}
	if err := a.Trim(ctx, seqs[1]); err != nil {
		t.Fatalf("trimming what is gone already: %v", err)
	}
	_, err := b.Append(ctx, 0, []byte("stale"))
	mustFenced(t, err, 0)
	appendOK(t, a, last, "after-trim")
}

func testRacingAppends(t *testing.T, a, b partition.WAL) {
	last := appendOK(t, a, 0, "base")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		w := a
		if i%2 == 1 {
			w = b
		}
		wg.Go(func() {
			_, errs[i] = w.Append(context.Background(), last, []byte(fmt.Sprint("racer", i)))
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, partition.ErrWALFenced):
			t.Errorf("racer %d: %v, want success or ErrWALFenced", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appends on one expected sequence won, want exactly 1", wins)
	}
	if got := replay(t, a, 0, 1<<62); len(got) != 2 {
		t.Fatalf("log holds %v, want the base and one racer", got)
	}
}

func testEntryIsCopied(t *testing.T, a, _ partition.WAL) {
	buf := []byte("original")
	seq := appendOK(t, a, 0, string(buf))
	in := []byte("original")
	s2, err := a.Append(context.Background(), seq, in)
	if err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	got := replay(t, a, 0, s2)
	if len(got) != 2 || !bytes.Equal([]byte(got[1].data), []byte("original")) {
		t.Fatalf("after the caller reused its buffer the log holds %v", got)
	}
}
