package partition

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestWriterRefusesNonContiguous(t *testing.T) {
	t.Parallel()
	a, b := ID{1, 7, 0}, ID{1, 7, 1}
	rec := []Record{{Timestamp: 1, Value: []byte("v")}, {Timestamp: 2, Value: []byte("w")}}
	w := NewSegmentWriter()
	if err := w.Append(a, &Batch{BaseOffset: 10, Records: rec}); err != nil {
		t.Fatal(err)
	}
	for name, off := range map[string]int64{"gap": 13, "overlap": 11, "repeat": 10, "before": 0} {
		err := w.Append(a, &Batch{BaseOffset: off, Records: rec})
		if !errors.Is(err, ErrNonContiguous) || !strings.Contains(err.Error(), "want 12") || !strings.Contains(err.Error(), "1/7/0") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := w.Append(a, &Batch{BaseOffset: 12, Records: rec}); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(b, &Batch{BaseOffset: 0, Records: rec}); err != nil {
		t.Fatal(err)
	}
	err := w.Append(a, &Batch{BaseOffset: 14, Records: rec})
	if !errors.Is(err, ErrNonContiguous) || !strings.Contains(err.Error(), "followed by partition 1/7/1") {
		t.Errorf("resume: %v", err)
	}
	if err := w.Append(ID{0, 7, 0}, &Batch{Records: rec}); err == nil {
		t.Errorf("invalid id accepted")
	}
	if err := w.Append(b, &Batch{BaseOffset: 2}); !errors.Is(err, ErrInvalidBatch) {
		t.Errorf("empty batch: %v", err)
	}
	size := w.Len()
	obj, parts, err := w.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].ID != a || parts[1].ID != b || parts[0].FirstOffset != 10 || parts[0].LastOffset != 13 ||
		parts[0].Records != 4 || parts[0].Batches != 2 || parts[1].Pos != parts[0].End() || parts[1].End() != int64(size) || len(obj) <= size {
		t.Fatalf("index %+v", parts)
	}
	if _, _, err := w.Seal(); err == nil {
		t.Errorf("second seal accepted")
	}
	if err := w.Append(b, &Batch{BaseOffset: 2, Records: rec}); err == nil {
		t.Errorf("append after seal accepted")
	}
	if _, _, err := NewSegmentWriter().Seal(); err == nil {
		t.Errorf("empty seal accepted")
	}
}

func TestWriterIndex(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	_, parts, written := buildSegment(t, rng, segmentSpec{
		ids: []ID{{2, 3, 4}}, batches: []int{1, 5, 30, 2, 2, 2, 100, 1}, valueSize: 200, cfg: WriterConfig{IndexInterval: 2000},
	})
	p := parts[0]
	var recs int64
	minTS, maxTS := int64(1<<62), int64(-1<<62)
	for _, b := range written[p.ID] {
		for _, r := range b.Records {
			recs++
			minTS, maxTS = min(minTS, r.Timestamp), max(maxTS, r.Timestamp)
		}
	}
	if p.Records != recs || p.LastOffset-p.FirstOffset+1 != recs || p.MinTimestamp != minTS || p.MaxTimestamp != maxTS || p.Batches != 8 {
		t.Fatalf("index %+v", p)
	}
	if len(p.index) < 2 || len(p.index) >= 8 {
		t.Fatalf("%d index entries for 8 batches with a 2000-byte interval", len(p.index))
	}
	for i := 1; i < len(p.index); i++ {
		if p.index[i].pos-p.index[i-1].pos < 2000 || p.index[i].maxTS < p.index[i-1].maxTS {
			t.Fatalf("index %+v", p.index)
		}
	}
}
