package registry

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// Objects shared between partitions and topics: a removal reports an object
// as unreferenced only once no remaining segment uses it.

func testSharedObjectRetention(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p0, p1 := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}
	packed0, packed1 := newSeg(p0, 0, 0, 9, "packed"), newSeg(p1, 0, 0, 4, "packed")
	packed0.ObjectSize, packed1.ObjectSize, packed1.Position = 200, 200, 100
	noErr(t, "CommitSegments", s.CommitSegments(ctx, []Segment{packed0, packed1}))
	mustCommit(t, s, newSeg(p0, 0, 10, 19, "own0"), newSeg(p1, 0, 5, 9, "own1"))

	r, err := s.DeleteSegmentsBefore(ctx, p0, AnyEpoch, 10)
	noErr(t, "DeleteSegmentsBefore p0", err)
	if len(r.Segments) != 1 || !sameSegment(r.Segments[0], packed0) {
		t.Errorf("p0 retention removed %s, want packed p0", segsString(r.Segments))
	}
	if r.UnreferencedObjects == nil || len(r.UnreferencedObjects) != 0 {
		t.Errorf("p0 retention: unreferenced %#v, want none: p1 still uses the object", r.UnreferencedObjects)
	}
	if sg, err := s.SegmentAt(ctx, p1, 0); err != nil || sg.ObjectKey != "packed" {
		t.Fatalf("p1's packed segment after p0's retention = %+v, %v", sg, err)
	}

	r, err = s.DeleteSegmentsBefore(ctx, p1, AnyEpoch, 5)
	noErr(t, "DeleteSegmentsBefore p1", err)
	if len(r.Segments) != 1 || !sameSegment(r.Segments[0], packed1) {
		t.Errorf("p1 retention removed %s, want packed p1", segsString(r.Segments))
	}
	if !slices.Equal(r.UnreferencedObjects, []string{"packed"}) {
		t.Errorf("p1 retention: unreferenced %q, want [packed]", r.UnreferencedObjects)
	}

	// Consecutive segments of one partition in one object: reported once,
	// and only when the last of them goes.
	noErr(t, "CommitSegments", s.CommitSegments(ctx, []Segment{
		newSeg(p0, 0, 20, 29, "twice"), newSeg(p0, 0, 30, 39, "twice"), newSeg(p1, 0, 10, 14, "twice")}))
	r, err = s.DeleteSegmentsBefore(ctx, p0, AnyEpoch, 35)
	noErr(t, "DeleteSegmentsBefore p0 35", err)
	if keys := objectKeys(r.Segments); !slices.Equal(keys, []string{"own0", "twice"}) ||
		!slices.Equal(r.UnreferencedObjects, []string{"own0"}) {
		t.Errorf("p0 retention to 35 removed %q, unreferenced %q; want own0 twice, own0", keys, r.UnreferencedObjects)
	}
	r, err = s.DeleteSegmentsBefore(ctx, p1, AnyEpoch, 15)
	noErr(t, "DeleteSegmentsBefore p1 15", err)
	if !slices.Equal(r.UnreferencedObjects, []string{"own1"}) {
		t.Errorf("p1 retention to 15: unreferenced %q, want [own1] (p0 still uses twice)", r.UnreferencedObjects)
	}
	r, err = s.DeleteSegmentsBefore(ctx, p0, AnyEpoch, 40)
	noErr(t, "DeleteSegmentsBefore p0 40", err)
	if !slices.Equal(r.UnreferencedObjects, []string{"twice"}) {
		t.Errorf("p0 retention to 40: unreferenced %q, want [twice]", r.UnreferencedObjects)
	}
}

func testSharedObjectDeleteTopic(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	a := mustTopic(t, s, tn.ID, "a", 1)
	b := mustTopic(t, s, tn.ID, "b", 1)
	a0, b0 := PartitionID{tn.ID, a.ID, 0}, PartitionID{tn.ID, b.ID, 0}
	noErr(t, "CommitSegments", s.CommitSegments(ctx, []Segment{newSeg(a0, 0, 0, 9, "shared"), newSeg(b0, 0, 0, 9, "shared")}))
	mustCommit(t, s, newSeg(a0, 0, 10, 19, "a-own"))

	r, err := s.DeleteTopic(ctx, tn.ID, a.ID)
	noErr(t, "DeleteTopic a", err)
	if keys := objectKeys(r.Segments); !slices.Equal(keys, []string{"shared", "a-own"}) {
		t.Errorf("DeleteTopic a removed %q, want shared a-own", keys)
	}
	if !slices.Equal(r.UnreferencedObjects, []string{"a-own"}) {
		t.Errorf("DeleteTopic a: unreferenced %q, want [a-own]: topic b still uses shared", r.UnreferencedObjects)
	}
	if sg, err := s.SegmentAt(ctx, b0, 0); err != nil || sg.ObjectKey != "shared" {
		t.Fatalf("b's segment after deleting a = %+v, %v", sg, err)
	}

	r, err = s.DeleteTopic(ctx, tn.ID, b.ID)
	noErr(t, "DeleteTopic b", err)
	if !slices.Equal(r.UnreferencedObjects, []string{"shared"}) {
		t.Errorf("DeleteTopic b: unreferenced %q, want [shared]", r.UnreferencedObjects)
	}

	// A topic without segments removes none and frees no object.
	c := mustTopic(t, s, tn.ID, "c", 1)
	r, err = s.DeleteTopic(ctx, tn.ID, c.ID)
	noErr(t, "DeleteTopic c", err)
	if r.Segments == nil || r.UnreferencedObjects == nil || len(r.Segments)+len(r.UnreferencedObjects) != 0 {
		t.Errorf("DeleteTopic of an empty topic = %#v, want empty, non-nil slices", r)
	}
}

// testLostCommitReply: when a commit's reply is lost and the caller retries,
// the retry is refused with ErrOffsetConflict although the first attempt
// landed; comparing SegmentAt(first offset).ObjectKey with the caller's own
// key tells that apart from a real conflict.
func testLostCommitReply(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p, q := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}

	// landed reports whether mine is in the index, as a caller would check.
	landed := func(mine Segment) bool {
		t.Helper()
		got, err := s.SegmentAt(ctx, mine.Partition, mine.FirstOffset)
		if errors.Is(err, ErrNotFound) {
			return false
		}
		noErr(t, "SegmentAt", err)
		return got.ObjectKey == mine.ObjectKey
	}

	mine := newSeg(p, 0, 0, 9, "objects/mine-1")
	noErr(t, "CommitSegment", s.CommitSegment(ctx, mine)) // its reply "lost"
	err := s.CommitSegment(ctx, mine)                     // the retry
	wantErr(t, "retried CommitSegment", err, ErrOffsetConflict)
	if !landed(mine) {
		t.Error("after a lost reply, SegmentAt(first offset) does not show the caller's object key")
	}
	if l, err := s.LatestSegment(ctx, p); err != nil || l.ObjectKey != mine.ObjectKey {
		t.Errorf("LatestSegment = %+v, %v; want the caller's key", l, err)
	}

	// A real conflict: another owner committed the range first.
	theirs := newSeg(p, 0, 10, 19, "objects/theirs")
	mustCommit(t, s, theirs)
	mine2 := newSeg(p, 0, 10, 19, "objects/mine-2")
	wantErr(t, "conflicting CommitSegment", s.CommitSegment(ctx, mine2), ErrOffsetConflict)
	if landed(mine2) {
		t.Error("a real conflict looks as if the caller's segment landed")
	}

	// A range past the watermark (nothing there yet) did not land either.
	ahead := newSeg(p, 0, 30, 39, "objects/ahead")
	wantErr(t, "CommitSegment ahead", s.CommitSegment(ctx, ahead), ErrOffsetConflict)
	if landed(ahead) {
		t.Error("a segment past the watermark looks landed")
	}

	// The same holds for a packed commit: all or none landed, so one
	// segment's key tells.
	packed := []Segment{newSeg(p, 0, 20, 29, "objects/packed"), newSeg(q, 0, 0, 4, "objects/packed")}
	noErr(t, "CommitSegments", s.CommitSegments(ctx, packed))
	wantErr(t, "retried CommitSegments", s.CommitSegments(ctx, packed), ErrOffsetConflict)
	for _, sg := range packed {
		if !landed(sg) {
			t.Errorf("after a lost CommitSegments reply, %s@%d does not show the caller's key", sg.Partition, sg.FirstOffset)
		}
	}
	checkIndex(t, s, p)
	checkIndex(t, s, q)
}

func objectKeys(segs []Segment) []string {
	var keys []string
	for _, s := range segs {
		keys = append(keys, s.ObjectKey)
	}
	return keys
}

// testSharedObjectRace: partitions packed into the same objects apply
// retention at once, one goroutine each; every object is reported
// unreferenced by exactly one of the calls (never none, which would leak it,
// never two).
func testSharedObjectRace(t *testing.T, s Store) {
	const partitions, objects = 4, 10
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", partitions)
	for o := range int64(objects) {
		var packed []Segment
		for i := range int32(partitions) {
			sg := newSeg(PartitionID{tn.ID, tp.ID, i}, 0, 10*o, 10*o+9, fmt.Sprintf("obj-%02d", o))
			sg.Position, sg.ObjectSize = 100*int64(i), 100*partitions
			packed = append(packed, sg)
		}
		noErr(t, "CommitSegments", s.CommitSegments(ctx, packed))
	}
	var mu sync.Mutex
	reported := map[string]int{}
	var wg sync.WaitGroup
	for i := range int32(partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range int64(objects) {
				r, err := s.DeleteSegmentsBefore(ctx, PartitionID{tn.ID, tp.ID, i}, AnyEpoch, 10*o+10)
				if err != nil {
					t.Errorf("DeleteSegmentsBefore: %v", err)
					return
				}
				mu.Lock()
				for _, k := range r.UnreferencedObjects {
					reported[k]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for o := range objects {
		if k := fmt.Sprintf("obj-%02d", o); reported[k] != 1 {
			t.Errorf("object %s reported unreferenced %d times, want once", k, reported[k])
		}
	}
}
