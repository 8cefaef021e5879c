package registry

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// raceRounds is how many slots each partition's race is run for.
func raceRounds() int {
	if testing.Short() {
		return 10
	}
	return 40
}

// testFencingRace is the takeover race: in each round, old owners at epoch E
// commit segments at the partition's high watermark while a new owner bumps
// the epoch to E+1 and commits its own segment at the same first offset.
// Exactly one commit wins each slot, every loser gets a typed error, and the
// index stays contiguous with the watermark at its end. Several partitions
// race at once to load the store.
func testFencingRace(t *testing.T, s Store) {
	const partitions, oldOwners = 4, 3
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", partitions)
	rounds := raceRounds()

	var wg sync.WaitGroup
	var oldWins, newWins atomic.Int64
	errs := make(chan error, partitions)
	for i := range int32(partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := PartitionID{tn.ID, tp.ID, i}
			for r := range rounds {
				newWon, err := raceRound(t, s, p, r, oldOwners)
				if newWon {
					newWins.Add(1)
				} else {
					oldWins.Add(1)
				}
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", p, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d slots: the old owner won %d, the new owner %d", partitions*rounds, oldWins.Load(), newWins.Load())
	for i := range int32(partitions) {
		p := PartitionID{tn.ID, tp.ID, i}
		segs := checkIndex(t, s, p)
		part := mustPartition(t, s, p)
		if len(segs) != rounds || part.Epoch != int64(rounds) || segs[0].FirstOffset != 0 {
			t.Errorf("%s: %d segments, epoch %d after %d rounds: %s", p, len(segs), part.Epoch, rounds, segsString(segs))
		}
		for j, sg := range segs {
			if sg.Epoch != int64(j) && sg.Epoch != int64(j+1) {
				t.Errorf("%s: segment %d has epoch %d, want %d or %d", p, j, sg.Epoch, j, j+1)
			}
		}
	}
}

type commitResult struct {
	seg   Segment
	err   error
	isNew bool
}

// raceRound runs one slot's race and checks its outcome; it reports
// whether the new owner won.
func raceRound(t *testing.T, s Store, p PartitionID, round, oldOwners int) (newWon bool, err error) {
	ctx := t.Context()
	before, err := s.Partition(ctx, p)
	if err != nil {
		return false, err
	}
	e, h := before.Epoch, before.HighWatermark
	results := make([]commitResult, oldOwners+1)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range oldOwners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sg := newSeg(p, e, h, h+int64(i), fmt.Sprintf("old-%d-%d", round, i))
			<-start
			results[i] = commitResult{seg: sg, err: s.CommitSegment(ctx, sg)}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sg := newSeg(p, e+1, h, h+9, fmt.Sprintf("new-%d", round))
		<-start
		next, err := s.BumpEpoch(ctx, p, e)
		if err == nil && next != e+1 {
			err = fmt.Errorf("BumpEpoch(%d) = %d", e, next)
		}
		if err == nil {
			err = s.CommitSegment(ctx, sg)
		} else {
			err = fmt.Errorf("new owner's bump: %w", err) // no one else bumps: a failure here fails the test
		}
		results[oldOwners] = commitResult{seg: sg, err: err, isNew: true}
	}()
	close(start)
	wg.Wait()

	var winner *commitResult
	for i := range results {
		r := &results[i]
		switch {
		case r.err == nil:
			if winner != nil {
				return false, fmt.Errorf("two winners: %s and %s", winner.seg.ObjectKey, r.seg.ObjectKey)
			}
			winner = r
		case r.isNew && !errors.Is(r.err, ErrOffsetConflict):
			return false, fmt.Errorf("new owner lost with %v, want an offset conflict", r.err)
		case !r.isNew && !errors.Is(r.err, ErrEpochFenced) && !errors.Is(r.err, ErrOffsetConflict):
			return false, fmt.Errorf("old owner %s lost with untyped error %v", r.seg.ObjectKey, r.err)
		}
		var ee *EpochError
		if errors.As(r.err, &ee) && (ee.Expected != e || ee.Actual != e+1) {
			return false, fmt.Errorf("old owner fenced with %+v, want expected %d actual %d", ee, e, e+1)
		}
	}
	if winner == nil {
		return false, errors.New("no commit won the slot")
	}
	after, err := s.Partition(ctx, p)
	if err != nil {
		return false, err
	}
	if after.Epoch != e+1 || after.HighWatermark != winner.seg.LastOffset+1 {
		return false, fmt.Errorf("partition after round = %+v, want epoch %d and watermark %d", after, e+1, winner.seg.LastOffset+1)
	}
	latest, err := s.LatestSegment(ctx, p)
	if err != nil {
		return false, err
	}
	if !sameSegment(latest, winner.seg) {
		return false, fmt.Errorf("latest segment %+v, want the winner %+v", latest, winner.seg)
	}
	// A straggling old owner, even at the right offset, stays fenced.
	err = s.CommitSegment(ctx, newSeg(p, e, after.HighWatermark, after.HighWatermark, fmt.Sprintf("straggler-%d", round)))
	if !errors.Is(err, ErrEpochFenced) {
		return false, fmt.Errorf("old owner at the high watermark after the bump: got %v, want fenced", err)
	}
	return winner.isNew, nil
}

// testPackedCommitRace: an old owner commits a packed object covering two
// partitions while a new owner takes over one of them. The packed commit
// lands whole or not at all.
func testPackedCommitRace(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p0, p1 := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}
	for round := range raceRounds() {
		b0, b1 := mustPartition(t, s, p0), mustPartition(t, s, p1)
		key := fmt.Sprintf("packed-%d", round)
		s0, s1 := newSeg(p0, b0.Epoch, b0.HighWatermark, b0.HighWatermark+4, key), newSeg(p1, b1.Epoch, b1.HighWatermark, b1.HighWatermark+4, key)
		s1.Position, s0.ObjectSize, s1.ObjectSize = 100, 200, 200
		var packedErr, newErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			packedErr = s.CommitSegments(ctx, []Segment{s0, s1})
		}()
		go func() {
			defer wg.Done()
			<-start
			if _, newErr = s.BumpEpoch(ctx, p1, b1.Epoch); newErr == nil {
				newErr = s.CommitSegment(ctx, newSeg(p1, b1.Epoch+1, b1.HighWatermark, b1.HighWatermark+2, fmt.Sprintf("new-%d", round)))
			}
		}()
		close(start)
		wg.Wait()

		a0, a1 := mustPartition(t, s, p0), mustPartition(t, s, p1)
		switch {
		case packedErr == nil && errors.Is(newErr, ErrOffsetConflict):
			if a0.HighWatermark != s0.LastOffset+1 || a1.HighWatermark != s1.LastOffset+1 {
				t.Fatalf("round %d: packed commit won but watermarks are %d, %d", round, a0.HighWatermark, a1.HighWatermark)
			}
		case newErr == nil && (errors.Is(packedErr, ErrEpochFenced) || errors.Is(packedErr, ErrOffsetConflict)):
			if a0.HighWatermark != b0.HighWatermark || a1.HighWatermark != b1.HighWatermark+3 {
				t.Fatalf("round %d: packed commit lost but p0 moved to %d (from %d), p1 to %d",
					round, a0.HighWatermark, b0.HighWatermark, a1.HighWatermark)
			}
		default:
			t.Fatalf("round %d: packed commit: %v; new owner: %v; want exactly one to win", round, packedErr, newErr)
		}
		// The old owner, straggling at the right offsets, is fenced whole.
		late0 := newSeg(p0, a0.Epoch, a0.HighWatermark, a0.HighWatermark, key+"-late")
		late1 := newSeg(p1, b1.Epoch, a1.HighWatermark, a1.HighWatermark, key+"-late")
		wantErr(t, "straggling packed commit", s.CommitSegments(ctx, []Segment{late0, late1}), ErrEpochFenced)
		if got := mustPartition(t, s, p0); got.HighWatermark != a0.HighWatermark {
			t.Fatalf("round %d: refused packed commit moved p0 to %d", round, got.HighWatermark)
		}
	}
	for _, p := range []PartitionID{p0, p1} {
		checkIndex(t, s, p)
	}
}
