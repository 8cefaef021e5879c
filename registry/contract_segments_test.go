package registry

import (
	"errors"
	"maps"
	"math"
	"slices"
	"testing"
)

func testCommitAndFindSegments(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p, other := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}

	_, err := s.LatestSegment(ctx, p)
	wantErr(t, "LatestSegment of empty", err, ErrNotFound)
	if l, err := s.ListSegments(ctx, p, 0, 0); err != nil || len(l) != 0 {
		t.Fatalf("ListSegments of empty = %v, %v", l, err)
	}

	a := newSeg(p, 0, 0, 9, "objects/a")
	a.Position, a.Length, a.ObjectSize, a.WALSeq = 4096, 512, 1<<20, 1<<40
	b := newSeg(p, 0, 10, 19, "objects/b")
	b.RecordCount = 7 // compaction may leave gaps
	b.MinTimestamp, b.MaxTimestamp = 500, 5000
	c := newSeg(p, 0, 20, 29, "objects/c")
	c.MinTimestamp, c.MaxTimestamp = 100, 3000 // timestamps need not grow with offsets
	c.WALSeq = 0
	mustCommit(t, s, a, b, c)
	mustCommit(t, s, newSeg(other, 0, 0, 99, "objects/other"))

	if got := mustPartition(t, s, p); got.HighWatermark != 30 || got.LogStartOffset != 0 || got.LastWALSeq != 1<<40 {
		t.Errorf("partition after commits = %+v, want high watermark 30, last WAL sequence 2^40 (the highest)", got)
	}
	all, err := s.ListSegments(ctx, p, 0, 0)
	noErr(t, "ListSegments", err)
	if len(all) != 3 || !sameSegment(all[0], a) || !sameSegment(all[1], b) || !sameSegment(all[2], c) {
		t.Fatalf("ListSegments = %+v, want a, b, c", all)
	}
	for _, sg := range all {
		if sg.CommittedAt.IsZero() {
			t.Errorf("segment %d has no commit time", sg.FirstOffset)
		}
	}

	for _, tc := range []struct {
		from  int64
		limit int
		want  []Segment
	}{
		{0, 0, []Segment{a, b, c}},
		{9, 0, []Segment{a, b, c}},
		{10, 0, []Segment{b, c}},
		{15, 0, []Segment{b, c}},
		{29, 0, []Segment{c}},
		{30, 0, nil},
		{1000, 0, nil},
		{0, 1, []Segment{a}},
		{15, 1, []Segment{b}},
		{0, 2, []Segment{a, b}},
	} {
		got, err := s.ListSegments(ctx, p, tc.from, tc.limit)
		noErr(t, "ListSegments", err)
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			ok = sameSegment(got[i], tc.want[i])
		}
		if !ok {
			t.Errorf("ListSegments(from %d, limit %d) = %s, want %s", tc.from, tc.limit, segsString(got), segsString(tc.want))
		}
	}

	for off, want := range map[int64]Segment{0: a, 5: a, 9: a, 10: b, 19: b, 20: c, 29: c} {
		got, err := s.SegmentAt(ctx, p, off)
		noErr(t, "SegmentAt", err)
		if !sameSegment(got, want) {
			t.Errorf("SegmentAt(%d) = %s, want %s", off, segsString([]Segment{got}), segsString([]Segment{want}))
		}
	}
	for _, off := range []int64{30, 31, math.MaxInt64} {
		_, err := s.SegmentAt(ctx, p, off)
		wantErr(t, "SegmentAt past the end", err, ErrNotFound)
	}

	// a: 1000..1090, b: 500..5000, c: 100..3000.
	for ts, want := range map[int64]string{0: "objects/a", 1090: "objects/a", 1091: "objects/b", 5000: "objects/b"} {
		got, err := s.SegmentAtTime(ctx, p, ts)
		noErr(t, "SegmentAtTime", err)
		if got.ObjectKey != want {
			t.Errorf("SegmentAtTime(%d) = %s, want %s", ts, got.ObjectKey, want)
		}
	}
	_, err = s.SegmentAtTime(ctx, p, 5001)
	wantErr(t, "SegmentAtTime past all", err, ErrNotFound)

	latest, err := s.LatestSegment(ctx, p)
	noErr(t, "LatestSegment", err)
	if !sameSegment(latest, c) {
		t.Errorf("LatestSegment = %+v, want %+v", latest, c)
	}

	unknown := PartitionID{tn.ID, tp.ID, 2}
	_, err = s.ListSegments(ctx, unknown, 0, 0)
	wantErr(t, "ListSegments unknown", err, ErrNotFound)
	_, err = s.SegmentAt(ctx, unknown, 0)
	wantErr(t, "SegmentAt unknown", err, ErrNotFound)
	_, err = s.SegmentAtTime(ctx, unknown, 0)
	wantErr(t, "SegmentAtTime unknown", err, ErrNotFound)
	_, err = s.LatestSegment(ctx, unknown)
	wantErr(t, "LatestSegment unknown", err, ErrNotFound)
	wantErr(t, "CommitSegment unknown", s.CommitSegment(ctx, newSeg(unknown, 0, 0, 1, "x")), ErrNotFound)
}

func testCommitRefusedStaleEpoch(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 1)
	p := PartitionID{tn.ID, tp.ID, 0}
	mustCommit(t, s, newSeg(p, 0, 0, 9, "e0"))
	_, err := s.BumpEpoch(ctx, p, 0)
	noErr(t, "BumpEpoch", err)
	for _, epoch := range []int64{0, 2} {
		err := s.CommitSegment(ctx, newSeg(p, epoch, 10, 19, "stale"))
		wantErr(t, "CommitSegment at wrong epoch", err, ErrEpochFenced)
		var ee *EpochError
		if !errors.As(err, &ee) || ee.Partition != p || ee.Expected != epoch || ee.Actual != 1 {
			t.Errorf("error = %#v, want EpochError{%s %d 1}", err, p, epoch)
		}
	}
	// Fencing comes before the offset check: a stale owner at a wrong offset
	// learns it is fenced.
	wantErr(t, "stale epoch and wrong offset", s.CommitSegment(ctx, newSeg(p, 0, 50, 59, "stale")), ErrEpochFenced)
	if got := checkIndex(t, s, p); len(got) != 1 || got[0].ObjectKey != "e0" {
		t.Errorf("index after refused commits = %s", segsString(got))
	}
	if got := mustPartition(t, s, p); got.HighWatermark != 10 || got.Epoch != 1 {
		t.Errorf("partition after refused commits = %+v", got)
	}
	mustCommit(t, s, newSeg(p, 1, 10, 19, "e1"))
}

func testCommitRefusedNotContiguous(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 1)
	p := PartitionID{tn.ID, tp.ID, 0}
	wantErr(t, "first commit not at 0", s.CommitSegment(ctx, newSeg(p, 0, 1, 9, "gap")), ErrOffsetConflict)
	mustCommit(t, s, newSeg(p, 0, 0, 9, "a"), newSeg(p, 0, 10, 19, "b"))
	for _, first := range []int64{0, 10, 15, 19, 21, 100} {
		err := s.CommitSegment(ctx, newSeg(p, 0, first, first+5, "bad"))
		wantErr(t, "CommitSegment not at the watermark", err, ErrOffsetConflict)
		var oe *OffsetError
		if !errors.As(err, &oe) || oe.Partition != p || oe.Want != 20 || oe.Got != first {
			t.Errorf("error = %#v, want OffsetError{%s want 20 got %d}", err, p, first)
		}
	}
	if got := checkIndex(t, s, p); len(got) != 2 {
		t.Errorf("index after refused commits = %s", segsString(got))
	}
	if got := mustPartition(t, s, p); got.HighWatermark != 20 {
		t.Errorf("high watermark after refused commits = %d, want 20", got.HighWatermark)
	}
}

func testCommitRefusedInvalid(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 1)
	p := PartitionID{tn.ID, tp.ID, 0}
	for name, mutate := range map[string]func(*Segment){
		"empty key":         func(s *Segment) { s.ObjectKey = "" },
		"negative position": func(s *Segment) { s.Position = -1 },
		"zero length":       func(s *Segment) { s.Length = 0 },
		"past object end":   func(s *Segment) { s.Position = 50; s.ObjectSize = 100 },
		"last before first": func(s *Segment) { s.LastOffset = -1 },
		"negative first":    func(s *Segment) { s.FirstOffset = -5 },
		"no records":        func(s *Segment) { s.RecordCount = 0 },
		"too many records":  func(s *Segment) { s.RecordCount = 11 },
		"timestamps":        func(s *Segment) { s.MinTimestamp = s.MaxTimestamp + 1 },
		"negative epoch":    func(s *Segment) { s.Epoch = -1 },
		"huge WAL sequence": func(s *Segment) { s.WALSeq = math.MaxUint64 },
		"no tenant":         func(s *Segment) { s.Partition.Tenant = 0 },
		"negative part":     func(s *Segment) { s.Partition.Partition = -1 },
	} {
		sg := newSeg(p, 0, 0, 9, "k")
		mutate(&sg)
		wantErr(t, "CommitSegment "+name, s.CommitSegment(ctx, sg), ErrInvalid)
		wantErr(t, "CommitSegments "+name, s.CommitSegments(ctx, []Segment{sg}), ErrInvalid)
	}
	if got := mustPartition(t, s, p); got.HighWatermark != 0 {
		t.Errorf("invalid segments moved the watermark to %d", got.HighWatermark)
	}
}

func testCommitSegmentsAllOrNothing(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 3)
	tq := mustTopic(t, s, tn.ID, "audit", 1)
	p0, p1, p2 := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}, PartitionID{tn.ID, tp.ID, 2}
	q0 := PartitionID{tn.ID, tq.ID, 0}

	noErr(t, "CommitSegments empty", s.CommitSegments(ctx, nil))

	// One object packing four partitions of two topics.
	packed := func(key string, firsts [4]int64, epochs [4]int64) []Segment {
		var out []Segment
		for i, p := range []PartitionID{p0, p1, p2, q0} {
			sg := newSeg(p, epochs[i], firsts[i], firsts[i]+9, key)
			sg.Position, sg.Length, sg.ObjectSize = int64(i)*100, 100, 400
			out = append(out, sg)
		}
		return out
	}
	noErr(t, "CommitSegments packed", s.CommitSegments(ctx, packed("obj1", [4]int64{0, 0, 0, 0}, [4]int64{})))
	for _, p := range []PartitionID{p0, p1, p2, q0} {
		segs := checkIndex(t, s, p)
		if len(segs) != 1 || segs[0].ObjectKey != "obj1" || mustPartition(t, s, p).HighWatermark != 10 {
			t.Fatalf("%s after packed commit: %s", p, segsString(segs))
		}
	}

	_, err := s.BumpEpoch(ctx, p1, 0)
	noErr(t, "BumpEpoch", err)
	err = s.CommitSegments(ctx, packed("obj2", [4]int64{10, 10, 10, 10}, [4]int64{}))
	wantErr(t, "CommitSegments with one fenced", err, ErrEpochFenced)
	var ee *EpochError
	if !errors.As(err, &ee) || ee.Partition != p1 {
		t.Errorf("error %v does not name the fenced partition %s", err, p1)
	}
	err = s.CommitSegments(ctx, packed("obj3", [4]int64{10, 10, 10, 11}, [4]int64{0, 1, 0, 0}))
	wantErr(t, "CommitSegments with one gap", err, ErrOffsetConflict)
	for _, p := range []PartitionID{p0, p1, p2, q0} {
		if segs := checkIndex(t, s, p); len(segs) != 1 || mustPartition(t, s, p).HighWatermark != 10 {
			t.Errorf("%s after refused packed commits: %s", p, segsString(segs))
		}
	}

	// Consecutive segments of one partition in one call, given out of order.
	a, b := newSeg(p0, 0, 10, 19, "a"), newSeg(p0, 0, 20, 29, "b")
	noErr(t, "CommitSegments consecutive", s.CommitSegments(ctx, []Segment{b, a}))
	if segs := checkIndex(t, s, p0); len(segs) != 3 || mustPartition(t, s, p0).HighWatermark != 30 {
		t.Errorf("after consecutive commit: %s", segsString(segs))
	}
	// Overlapping ones: refused whole.
	err = s.CommitSegments(ctx, []Segment{newSeg(p0, 0, 30, 39, "c"), newSeg(p0, 0, 35, 44, "d"), newSeg(p2, 0, 10, 19, "e")})
	wantErr(t, "CommitSegments overlapping", err, ErrOffsetConflict)
	if segs := checkIndex(t, s, p0); len(segs) != 3 {
		t.Errorf("after refused overlap: %s", segsString(segs))
	}
	if segs := checkIndex(t, s, p2); len(segs) != 1 {
		t.Errorf("p2 after refused overlap: %s", segsString(segs))
	}
	// An unknown partition in the batch: nothing written.
	err = s.CommitSegments(ctx, []Segment{newSeg(p2, 0, 10, 19, "f"), newSeg(PartitionID{tn.ID, tp.ID, 9}, 0, 0, 9, "f")})
	wantErr(t, "CommitSegments with unknown partition", err, ErrNotFound)
	if segs := checkIndex(t, s, p2); len(segs) != 1 {
		t.Errorf("p2 after refused batch: %s", segsString(segs))
	}
}

func testRetention(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 1)
	p := PartitionID{tn.ID, tp.ID, 0}
	mustCommit(t, s, newSeg(p, 0, 0, 9, "a"), newSeg(p, 0, 10, 19, "b"), newSeg(p, 0, 20, 29, "c"))
	epoch, err := s.BumpEpoch(ctx, p, 0)
	noErr(t, "BumpEpoch", err)

	removed, err := s.DeleteSegmentsBefore(ctx, p, epoch, 15)
	noErr(t, "DeleteSegmentsBefore 15", err)
	if len(removed.Segments) != 1 || removed.Segments[0].ObjectKey != "a" || !slices.Equal(removed.UnreferencedObjects, []string{"a"}) {
		t.Errorf("DeleteSegmentsBefore(15) removed %s, unreferenced %q; want a, a", segsString(removed.Segments), removed.UnreferencedObjects)
	}
	if got := mustPartition(t, s, p); got.LogStartOffset != 15 || got.HighWatermark != 30 {
		t.Errorf("partition after retention = %+v, want log start 15", got)
	}
	if segs := checkIndex(t, s, p); len(segs) != 2 || segs[0].ObjectKey != "b" {
		t.Errorf("index after retention = %s", segsString(segs))
	}
	_, err = s.SegmentAt(ctx, p, 5)
	wantErr(t, "SegmentAt below the index", err, ErrNotFound)
	if sg, err := s.SegmentAt(ctx, p, 12); err != nil || sg.ObjectKey != "b" {
		t.Errorf("SegmentAt(12) = %+v, %v; want b (it straddles the log start)", sg, err)
	}

	for _, back := range []int64{15, 10, 0} {
		removed, err = s.DeleteSegmentsBefore(ctx, p, epoch, back)
		noErr(t, "DeleteSegmentsBefore backward", err)
		if len(removed.Segments) != 0 || len(removed.UnreferencedObjects) != 0 {
			t.Errorf("DeleteSegmentsBefore(%d) removed %s, %q", back, segsString(removed.Segments), removed.UnreferencedObjects)
		}
	}
	if got := mustPartition(t, s, p); got.LogStartOffset != 15 {
		t.Errorf("log start moved backward to %d", got.LogStartOffset)
	}
	_, err = s.DeleteSegmentsBefore(ctx, p, epoch, 31)
	wantErr(t, "DeleteSegmentsBefore past the watermark", err, ErrInvalid, "high watermark")
	_, err = s.DeleteSegmentsBefore(ctx, p, epoch-1, 20)
	wantErr(t, "DeleteSegmentsBefore stale epoch", err, ErrEpochFenced)
	if segs := checkIndex(t, s, p); len(segs) != 2 {
		t.Errorf("refused retention changed the index: %s", segsString(segs))
	}

	removed, err = s.DeleteSegmentsBefore(ctx, p, AnyEpoch, 20)
	noErr(t, "DeleteSegmentsBefore AnyEpoch", err)
	if len(removed.Segments) != 1 || removed.Segments[0].ObjectKey != "b" || !slices.Equal(removed.UnreferencedObjects, []string{"b"}) {
		t.Errorf("DeleteSegmentsBefore(20) removed %s, unreferenced %q; want b, b", segsString(removed.Segments), removed.UnreferencedObjects)
	}
	removed, err = s.DeleteSegmentsBefore(ctx, p, epoch, 30) // everything
	noErr(t, "DeleteSegmentsBefore all", err)
	if len(removed.Segments) != 1 || removed.Segments[0].ObjectKey != "c" || !slices.Equal(removed.UnreferencedObjects, []string{"c"}) {
		t.Errorf("DeleteSegmentsBefore(30) removed %s, unreferenced %q; want c, c", segsString(removed.Segments), removed.UnreferencedObjects)
	}
	if got := mustPartition(t, s, p); got.LogStartOffset != 30 || got.HighWatermark != 30 || got.LastWALSeq != 30 {
		t.Errorf("partition after full retention = %+v, want log start, watermark and last WAL sequence 30", got)
	}
	_, err = s.LatestSegment(ctx, p)
	wantErr(t, "LatestSegment after full retention", err, ErrNotFound)
	if segs, err := s.ListSegments(ctx, p, 0, 0); err != nil || len(segs) != 0 {
		t.Errorf("ListSegments after full retention = %v, %v", segs, err)
	}
	mustCommit(t, s, newSeg(p, epoch, 30, 39, "d"))
	if segs := checkIndex(t, s, p); len(segs) != 1 || segs[0].ObjectKey != "d" {
		t.Errorf("index after commit past retention = %s", segsString(segs))
	}
}

func testPartitionSizes(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 3)
	neighbour := mustTopic(t, s, tn.ID, "audit", 1)
	stranger := mustTenant(t, s, "u")
	theirs := mustTopic(t, s, stranger.ID, "orders", 1)
	p0, p1 := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}

	wantSizes := func(what string, topic int64, want map[int32]PartitionSize) {
		t.Helper()
		got, err := s.PartitionSizes(ctx, tn.ID, topic)
		noErr(t, "PartitionSizes "+what, err)
		if !maps.Equal(got, want) {
			t.Errorf("PartitionSizes %s = %v, want %v", what, got, want)
		}
	}
	wantSizes("of a new topic", tp.ID, map[int32]PartitionSize{0: {}, 1: {}, 2: {}})

	a := newSeg(p0, 0, 0, 9, "objects/a")
	a.Position, a.Length, a.ObjectSize = 4096, 512, 1<<20 // Length counts, not the object's size
	b := newSeg(p0, 0, 10, 19, "objects/b")
	b.Length, b.ObjectSize = 300, 300
	c := newSeg(p1, 0, 0, 4, "objects/a") // the same object as a: both ranges count
	c.Position, c.Length, c.ObjectSize = 0, 4096, 1<<20
	mustCommit(t, s, a, b, c)
	mustCommit(t, s, newSeg(PartitionID{tn.ID, neighbour.ID, 0}, 0, 0, 9, "objects/n"))
	mustCommit(t, s, newSeg(PartitionID{stranger.ID, theirs.ID, 0}, 0, 0, 9, "objects/s"))

	wantSizes("after commits", tp.ID, map[int32]PartitionSize{0: {812, 2}, 1: {4096, 1}, 2: {}})
	wantSizes("of the neighbour", neighbour.ID, map[int32]PartitionSize{0: {100, 1}})

	_, err := s.DeleteSegmentsBefore(ctx, p0, AnyEpoch, 10)
	noErr(t, "DeleteSegmentsBefore", err)
	wantSizes("after retention", tp.ID, map[int32]PartitionSize{0: {300, 1}, 1: {4096, 1}, 2: {}})

	_, err = s.AddPartitions(ctx, tn.ID, tp.ID, 4)
	noErr(t, "AddPartitions", err)
	wantSizes("after adding a partition", tp.ID, map[int32]PartitionSize{0: {300, 1}, 1: {4096, 1}, 2: {}, 3: {}})

	_, err = s.PartitionSizes(ctx, tn.ID, theirs.ID)
	wantErr(t, "PartitionSizes of another tenant's topic", err, ErrNotFound)
	_, err = s.PartitionSizes(ctx, tn.ID, math.MaxInt64)
	wantErr(t, "PartitionSizes of an unknown topic", err, ErrNotFound)
	_, err = s.DeleteTopic(ctx, tn.ID, tp.ID)
	noErr(t, "DeleteTopic", err)
	_, err = s.PartitionSizes(ctx, tn.ID, tp.ID)
	wantErr(t, "PartitionSizes of a deleted topic", err, ErrNotFound)
}

func testCancelledContext(t *testing.T, s Store) {
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 1)
	p := PartitionID{tn.ID, tp.ID, 0}
	ctx := ctxCancelled()
	if err := s.CommitSegment(ctx, newSeg(p, 0, 0, 9, "a")); err == nil {
		t.Error("CommitSegment with a cancelled context succeeded")
	}
	if _, err := s.BumpEpoch(ctx, p, 0); err == nil {
		t.Error("BumpEpoch with a cancelled context succeeded")
	}
	if _, err := s.CreateTopic(ctx, tn.ID, TopicSpec{Name: "x", Partitions: 1}); err == nil {
		t.Error("CreateTopic with a cancelled context succeeded")
	}
	if got := mustPartition(t, s, p); got != (Partition{ID: p}) {
		t.Errorf("partition after cancelled calls = %+v", got)
	}
}
