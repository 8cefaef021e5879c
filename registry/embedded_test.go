package registry

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openEmbedded opens a store without fsync: the contract is about
// semantics, and on a busy machine thousands of fsyncs dominate the run.
// TestEmbeddedReopen keeps fsync on.
func openEmbedded(t *testing.T) Store {
	t.Helper()
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.db.NoSync = true
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	runContract(t, openEmbedded)
}

// TestEmbeddedReopen: everything written survives a close and reopen, and
// ids keep counting up.
func TestEmbeddedReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenEmbedded(path)
	noErr(t, "open", err)
	w := writeSample(t, s)
	noErr(t, "close", s.Close())

	s, err = OpenEmbedded(path)
	noErr(t, "reopen", err)
	defer s.Close()
	checkSample(t, s, w)
}

func TestEmbeddedClosed(t *testing.T) {
	t.Parallel()
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	noErr(t, "open", err)
	noErr(t, "close", s.Close())
	if _, err := s.CreateTenant(t.Context(), "a"); err == nil {
		t.Error("CreateTenant after Close succeeded")
	}
}

// sample is what writeSample wrote.
type sample struct {
	tenant Tenant
	topic  Topic
	p      PartitionID
	schema SubjectVersion
}

// writeSample writes one of everything.
func writeSample(t *testing.T, s Store) sample {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p := PartitionID{tn.ID, tp.ID, 1}
	mustCommit(t, s, newSeg(p, 0, 0, 9, "a"), newSeg(p, 0, 10, 19, "b"))
	_, err := s.BumpEpoch(ctx, p, 0)
	noErr(t, "BumpEpoch", err)
	_, err = s.DeleteSegmentsBefore(ctx, p, 1, 10)
	noErr(t, "DeleteSegmentsBefore", err)
	noErr(t, "CommitOffsets", s.CommitOffsets(ctx, tn.ID, "g", []GroupOffset{{Topic: tp.ID, Partition: 1, Offset: 12, Metadata: "m"}}))
	sv, err := s.RegisterSchema(ctx, tn.ID, "orders-value", SchemaSpec{Type: SchemaAvro, Text: avroA})
	noErr(t, "RegisterSchema", err)
	return sample{tn, tp, p, sv}
}

// checkSample reads back what writeSample wrote, then writes more.
func checkSample(t *testing.T, s Store, w sample) {
	ctx := t.Context()
	tn, err := s.TenantByName(ctx, "acme")
	noErr(t, "TenantByName", err)
	if tn.ID != w.tenant.ID || !tn.CreatedAt.Equal(w.tenant.CreatedAt) {
		t.Errorf("tenant = %+v, want %+v", tn, w.tenant)
	}
	tp, err := s.Topic(ctx, tn.ID, "orders")
	noErr(t, "Topic", err)
	if tp.ID != w.topic.ID || tp.Partitions != 2 || !tp.CreatedAt.Equal(w.topic.CreatedAt) {
		t.Errorf("topic = %+v, want %+v", tp, w.topic)
	}
	part := mustPartition(t, s, w.p)
	if part.Epoch != 1 || part.HighWatermark != 20 || part.LogStartOffset != 10 {
		t.Errorf("partition = %+v, want epoch 1, watermark 20, log start 10", part)
	}
	segs := checkIndex(t, s, w.p)
	if len(segs) != 1 || segs[0].ObjectKey != "b" || segs[0].WALSeq != 20 {
		t.Errorf("index = %s", segsString(segs))
	}
	offs, err := s.FetchOffsets(ctx, tn.ID, "g")
	noErr(t, "FetchOffsets", err)
	if len(offs) != 1 || offs[0].Offset != 12 || offs[0].Metadata != "m" {
		t.Errorf("offsets = %+v", offs)
	}
	sv, err := s.SubjectVersion(ctx, tn.ID, "orders-value", LatestVersion, false)
	noErr(t, "SubjectVersion", err)
	if sv.Schema.ID != w.schema.Schema.ID || sv.Version != 1 || sv.Schema.Text != avroA {
		t.Errorf("schema = %+v, want %+v", sv, w.schema)
	}

	// Sequences go on from where they were.
	tn2 := mustTenant(t, s, "beta")
	tp2 := mustTopic(t, s, tn.ID, "more", 1)
	sv2, err := s.RegisterSchema(ctx, tn.ID, "more-value", SchemaSpec{Type: SchemaAvro, Text: avroB})
	noErr(t, "RegisterSchema", err)
	if tn2.ID <= tn.ID || tp2.ID <= tp.ID || sv2.Schema.ID <= sv.Schema.ID {
		t.Errorf("ids after reopen: tenant %d, topic %d, schema %d; want above %d, %d, %d",
			tn2.ID, tp2.ID, sv2.Schema.ID, tn.ID, tp.ID, sv.Schema.ID)
	}
	mustCommit(t, s, newSeg(w.p, 1, 20, 29, "c"))
}

// TestEmbeddedObjectRefsBackfill: a file written before the object index
// existed gets it built on open, so shared objects are still told apart.
func TestEmbeddedObjectRefsBackfill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenEmbedded(path)
	noErr(t, "open", err)
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p0, p1 := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}
	noErr(t, "CommitSegments", s.CommitSegments(ctx, []Segment{newSeg(p0, 0, 0, 9, "packed"), newSeg(p1, 0, 0, 9, "packed")}))
	noErr(t, "drop the index", s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bktObjectRefs) }))
	noErr(t, "close", s.Close())

	s, err = OpenEmbedded(path)
	noErr(t, "reopen", err)
	defer s.Close()
	r, err := s.DeleteSegmentsBefore(ctx, p0, AnyEpoch, 10)
	noErr(t, "DeleteSegmentsBefore p0", err)
	if len(r.Segments) != 1 || len(r.UnreferencedObjects) != 0 {
		t.Errorf("p0 retention = %s, unreferenced %q; want one segment, none", segsString(r.Segments), r.UnreferencedObjects)
	}
	r, err = s.DeleteSegmentsBefore(ctx, p1, AnyEpoch, 10)
	noErr(t, "DeleteSegmentsBefore p1", err)
	if len(r.UnreferencedObjects) != 1 || r.UnreferencedObjects[0] != "packed" {
		t.Errorf("p1 retention: unreferenced %q, want [packed]", r.UnreferencedObjects)
	}
}
