package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func testTenants(t *testing.T, s Store) {
	ctx := t.Context()
	b := mustTenant(t, s, "beta")
	a := mustTenant(t, s, "acme")
	if a.ID <= 0 || b.ID <= 0 || a.ID == b.ID || a.CreatedAt.IsZero() {
		t.Fatalf("tenants %+v %+v: want distinct positive ids and a creation time", a, b)
	}
	got, err := s.Tenant(ctx, a.ID)
	noErr(t, "Tenant", err)
	if got.ID != a.ID || got.Name != "acme" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("Tenant(%d) = %+v, want %+v", a.ID, got, a)
	}
	got, err = s.TenantByName(ctx, "beta")
	noErr(t, "TenantByName", err)
	if got.ID != b.ID {
		t.Errorf("TenantByName(beta) = %+v, want id %d", got, b.ID)
	}
	_, err = s.CreateTenant(ctx, "acme")
	wantErr(t, "CreateTenant duplicate", err, ErrExists, "acme")
	_, err = s.Tenant(ctx, a.ID+b.ID+100)
	wantErr(t, "Tenant unknown", err, ErrNotFound, "tenant")
	_, err = s.TenantByName(ctx, "nope")
	wantErr(t, "TenantByName unknown", err, ErrNotFound, "nope")
	list, err := s.ListTenants(ctx)
	noErr(t, "ListTenants", err)
	if len(list) != 2 || list[0].Name != "acme" || list[1].Name != "beta" {
		t.Errorf("ListTenants = %+v, want acme, beta", list)
	}
}

// badNames are refused as tenant and topic names; each with a word the
// error must contain.
var badNames = []struct{ name, mentions string }{
	{"", "empty"},
	{strings.Repeat("a", 250), "249"},
	{".", "reserved"},
	{"..", "reserved"},
	{"a/b", `'/'`},
	{"a b", `' '`},
	{"café", `'é'`},
	{"日本", `'日'`},
	{"a\x00b", `'\x00'`},
	{"a:b", `':'`},
}

func testNameValidation(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	for _, bad := range badNames {
		_, err := s.CreateTenant(ctx, bad.name)
		wantErr(t, "CreateTenant "+shorten(bad.name), err, ErrInvalid, bad.mentions, "tenant name")
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("CreateTenant %q: error %T is not a *ValidationError", bad.name, err)
		}
		_, err = s.CreateTopic(ctx, tn.ID, TopicSpec{Name: bad.name, Partitions: 1})
		wantErr(t, "CreateTopic "+shorten(bad.name), err, ErrInvalid, bad.mentions, "topic name")
		if ValidateName(bad.name) == nil {
			t.Errorf("ValidateName(%q) = nil", bad.name)
		}
	}
	for _, good := range []string{strings.Repeat("a", 249), "...", "a.b_c-D9", "-", "_"} {
		if _, err := s.CreateTenant(ctx, good); err != nil {
			t.Errorf("CreateTenant(%q): %v", good, err)
		}
		if _, err := s.CreateTopic(ctx, tn.ID, TopicSpec{Name: good, Partitions: 1}); err != nil {
			t.Errorf("CreateTopic(%q): %v", good, err)
		}
	}
	topics, err := s.ListTopics(ctx, tn.ID)
	noErr(t, "ListTopics", err)
	if len(topics) != 5 {
		t.Errorf("ListTopics: %d topics, want the 5 valid ones", len(topics))
	}
}

func testTopics(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	orders, err := s.CreateTopic(ctx, tn.ID, TopicSpec{Name: "orders", Partitions: 3})
	noErr(t, "CreateTopic", err)
	want := Topic{TenantID: tn.ID, ID: orders.ID, Name: "orders", Partitions: 3, Durability: DurabilityWAL,
		RetentionMs: DefaultRetentionMs, RetentionBytes: Unlimited, CleanupPolicy: CleanupDelete,
		CreatedAt: orders.CreatedAt, UpdatedAt: orders.UpdatedAt}
	if orders != want || orders.ID <= 0 || orders.CreatedAt.IsZero() || orders.UpdatedAt.Before(orders.CreatedAt) {
		t.Fatalf("CreateTopic with defaults = %+v, want %+v", orders, want)
	}
	audit, err := s.CreateTopic(ctx, tn.ID, TopicSpec{Name: "audit", Partitions: 1, Durability: DurabilityObject,
		RetentionMs: Unlimited, RetentionBytes: 1 << 30, CleanupPolicy: CleanupCompact})
	noErr(t, "CreateTopic audit", err)
	if audit.Durability != DurabilityObject || audit.RetentionMs != Unlimited || audit.RetentionBytes != 1<<30 ||
		audit.CleanupPolicy != CleanupCompact || audit.ID == orders.ID {
		t.Errorf("CreateTopic audit = %+v", audit)
	}

	for _, get := range []func() (Topic, error){
		func() (Topic, error) { return s.Topic(ctx, tn.ID, "orders") },
		func() (Topic, error) { return s.TopicByID(ctx, tn.ID, orders.ID) },
	} {
		got, err := get()
		noErr(t, "get topic", err)
		if !got.CreatedAt.Equal(orders.CreatedAt) || !got.UpdatedAt.Equal(orders.UpdatedAt) {
			t.Errorf("topic times %v %v, want %v %v", got.CreatedAt, got.UpdatedAt, orders.CreatedAt, orders.UpdatedAt)
		}
		got.CreatedAt, got.UpdatedAt = orders.CreatedAt, orders.UpdatedAt
		if got != orders {
			t.Errorf("get topic = %+v, want %+v", got, orders)
		}
	}
	list, err := s.ListTopics(ctx, tn.ID)
	noErr(t, "ListTopics", err)
	if len(list) != 2 || list[0].Name != "audit" || list[1].Name != "orders" {
		t.Errorf("ListTopics = %+v, want audit, orders", list)
	}

	parts, err := s.ListPartitions(ctx, tn.ID, orders.ID)
	noErr(t, "ListPartitions", err)
	if len(parts) != 3 {
		t.Fatalf("ListPartitions: %d partitions, want 3", len(parts))
	}
	for i, p := range parts {
		want := Partition{ID: PartitionID{tn.ID, orders.ID, int32(i)}}
		if p != want {
			t.Errorf("partition %d = %+v, want %+v", i, p, want)
		}
		if got := mustPartition(t, s, p.ID); got != want {
			t.Errorf("Partition(%s) = %+v, want %+v", p.ID, got, want)
		}
	}
	_, err = s.Partition(ctx, PartitionID{tn.ID, orders.ID, 3})
	wantErr(t, "Partition past the last", err, ErrNotFound)
	_, err = s.Partition(ctx, PartitionID{tn.ID, orders.ID, -1})
	wantErr(t, "Partition -1", err, ErrNotFound)

	_, err = s.CreateTopic(ctx, tn.ID, TopicSpec{Name: "orders", Partitions: 7})
	wantErr(t, "CreateTopic duplicate", err, ErrExists, "orders")
	if got, _ := s.Topic(ctx, tn.ID, "orders"); got.Partitions != 3 {
		t.Errorf("duplicate create changed the topic: %+v", got)
	}
	_, err = s.CreateTopic(ctx, tn.ID+1000, TopicSpec{Name: "x", Partitions: 1})
	wantErr(t, "CreateTopic unknown tenant", err, ErrNotFound, "tenant")
	_, err = s.Topic(ctx, tn.ID, "nope")
	wantErr(t, "Topic unknown", err, ErrNotFound, "nope")
	_, err = s.TopicByID(ctx, tn.ID, orders.ID+audit.ID+100)
	wantErr(t, "TopicByID unknown", err, ErrNotFound)
	_, err = s.ListPartitions(ctx, tn.ID, orders.ID+audit.ID+100)
	wantErr(t, "ListPartitions unknown", err, ErrNotFound)

	big, err := s.CreateTopic(ctx, tn.ID, TopicSpec{Name: "big", Partitions: MaxPartitions})
	noErr(t, "CreateTopic with MaxPartitions", err)
	last := mustPartition(t, s, PartitionID{tn.ID, big.ID, MaxPartitions - 1})
	if last.HighWatermark != 0 {
		t.Errorf("last partition of big = %+v", last)
	}
}

func testTopicSpecValidation(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	for _, tc := range []struct {
		spec     TopicSpec
		mentions string
	}{
		{TopicSpec{Name: "a", Partitions: 0}, "partitions"},
		{TopicSpec{Name: "a", Partitions: -1}, "partitions"},
		{TopicSpec{Name: "a", Partitions: MaxPartitions + 1}, "partitions"},
		{TopicSpec{Name: "a", Partitions: 1, Durability: "fsync"}, "durability"},
		{TopicSpec{Name: "a", Partitions: 1, CleanupPolicy: "keep"}, "cleanup policy"},
		{TopicSpec{Name: "a", Partitions: 1, RetentionMs: -2}, "retention ms"},
		{TopicSpec{Name: "a", Partitions: 1, RetentionBytes: -5}, "retention bytes"},
	} {
		_, err := s.CreateTopic(ctx, tn.ID, tc.spec)
		wantErr(t, "CreateTopic "+tc.mentions, err, ErrInvalid, tc.mentions)
	}
	list, err := s.ListTopics(ctx, tn.ID)
	noErr(t, "ListTopics", err)
	if len(list) != 0 {
		t.Errorf("refused topics were created: %+v", list)
	}
}

func testUpdateRetention(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 1)
	got, err := s.UpdateRetention(ctx, tn.ID, tp.ID, 60_000, 1<<20)
	noErr(t, "UpdateRetention", err)
	if got.RetentionMs != 60_000 || got.RetentionBytes != 1<<20 || got.UpdatedAt.Before(tp.UpdatedAt) ||
		!got.CreatedAt.Equal(tp.CreatedAt) || got.Name != "orders" {
		t.Errorf("UpdateRetention = %+v (was %+v)", got, tp)
	}
	again, err := s.TopicByID(ctx, tn.ID, tp.ID)
	noErr(t, "TopicByID", err)
	if again.RetentionMs != 60_000 || again.RetentionBytes != 1<<20 {
		t.Errorf("retention not stored: %+v", again)
	}
	_, err = s.UpdateRetention(ctx, tn.ID, tp.ID, Unlimited, Unlimited)
	noErr(t, "UpdateRetention unlimited", err)
	_, err = s.UpdateRetention(ctx, tn.ID, tp.ID, 0, Unlimited)
	wantErr(t, "UpdateRetention 0 ms", err, ErrInvalid, "retention ms")
	_, err = s.UpdateRetention(ctx, tn.ID, tp.ID+100, 1, 1)
	wantErr(t, "UpdateRetention unknown", err, ErrNotFound)
}

func testAddPartitions(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p1 := PartitionID{tn.ID, tp.ID, 1}
	mustCommit(t, s, newSeg(p1, 0, 0, 9, "a"))
	_, err := s.BumpEpoch(ctx, p1, 0)
	noErr(t, "BumpEpoch", err)

	got, err := s.AddPartitions(ctx, tn.ID, tp.ID, 5)
	noErr(t, "AddPartitions", err)
	if got.Partitions != 5 || got.ID != tp.ID || got.Name != "orders" || got.UpdatedAt.Before(tp.UpdatedAt) ||
		!got.CreatedAt.Equal(tp.CreatedAt) || got.RetentionMs != tp.RetentionMs {
		t.Errorf("AddPartitions = %+v (was %+v)", got, tp)
	}
	again, err := s.TopicByID(ctx, tn.ID, tp.ID)
	noErr(t, "TopicByID", err)
	if again.Partitions != 5 {
		t.Errorf("partitions not stored: %+v", again)
	}
	parts, err := s.ListPartitions(ctx, tn.ID, tp.ID)
	noErr(t, "ListPartitions", err)
	if len(parts) != 5 {
		t.Fatalf("ListPartitions = %d partitions, want 5", len(parts))
	}
	for i, p := range parts {
		if p.ID.Partition != int32(i) {
			t.Errorf("partition %d has index %d", i, p.ID.Partition)
		}
		if i >= 2 && (p.Epoch != 0 || p.HighWatermark != 0 || p.LogStartOffset != 0 || p.LastWALSeq != 0) {
			t.Errorf("new partition %d = %+v, want epoch 0 and offsets 0", i, p)
		}
	}
	if old := mustPartition(t, s, p1); old.Epoch != 1 || old.HighWatermark != 10 {
		t.Errorf("existing partition changed: %+v", old)
	}
	// The new partitions take commits and bumps like the first ones.
	mustCommit(t, s, newSeg(PartitionID{tn.ID, tp.ID, 4}, 0, 0, 4, "b"))
	_, err = s.BumpEpoch(ctx, PartitionID{tn.ID, tp.ID, 4}, 0)
	noErr(t, "BumpEpoch new partition", err)

	_, err = s.AddPartitions(ctx, tn.ID, tp.ID, 5)
	wantErr(t, "AddPartitions same count", err, ErrInvalid, "partitions")
	_, err = s.AddPartitions(ctx, tn.ID, tp.ID, 3)
	wantErr(t, "AddPartitions shrink", err, ErrInvalid, "partitions")
	_, err = s.AddPartitions(ctx, tn.ID, tp.ID, MaxPartitions+1)
	wantErr(t, "AddPartitions over max", err, ErrInvalid, "partitions")
	_, err = s.AddPartitions(ctx, tn.ID, tp.ID+100, 8)
	wantErr(t, "AddPartitions unknown", err, ErrNotFound)
	other := mustTenant(t, s, "other")
	_, err = s.AddPartitions(ctx, other.ID, tp.ID, 8)
	wantErr(t, "AddPartitions other tenant", err, ErrNotFound)
	if n := mustPartitionCount(t, s, tn.ID, tp.ID); n != 5 {
		t.Errorf("refused AddPartitions changed the count to %d", n)
	}
	_, err = s.AddPartitions(ctx, tn.ID, tp.ID, MaxPartitions)
	noErr(t, "AddPartitions to MaxPartitions", err)
	if n := mustPartitionCount(t, s, tn.ID, tp.ID); n != MaxPartitions {
		t.Errorf("partitions after growing to the max = %d", n)
	}
}

func mustPartitionCount(t *testing.T, s Store, tenant, topic int64) int {
	t.Helper()
	parts, err := s.ListPartitions(t.Context(), tenant, topic)
	noErr(t, "ListPartitions", err)
	return len(parts)
}

func testDeleteTopic(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	doomed := mustTopic(t, s, tn.ID, "doomed", 2)
	kept := mustTopic(t, s, tn.ID, "kept", 1)
	p0, p1 := PartitionID{tn.ID, doomed.ID, 0}, PartitionID{tn.ID, doomed.ID, 1}
	k0 := PartitionID{tn.ID, kept.ID, 0}
	mustCommit(t, s, newSeg(p0, 0, 0, 9, "d0a"), newSeg(p0, 0, 10, 19, "d0b"), newSeg(p1, 0, 0, 4, "d1a"), newSeg(k0, 0, 0, 4, "k"))
	noErr(t, "CommitOffsets", s.CommitOffsets(ctx, tn.ID, "g", []GroupOffset{
		{Topic: doomed.ID, Partition: 0, Offset: 5}, {Topic: kept.ID, Partition: 0, Offset: 3}}))
	noErr(t, "CommitOffsets", s.CommitOffsets(ctx, tn.ID, "only-doomed", []GroupOffset{{Topic: doomed.ID, Partition: 1, Offset: 1}}))

	removed, err := s.DeleteTopic(ctx, tn.ID, doomed.ID)
	noErr(t, "DeleteTopic", err)
	var keys []string
	for _, sg := range removed.Segments {
		keys = append(keys, sg.ObjectKey)
	}
	if !slices.Equal(keys, []string{"d0a", "d0b", "d1a"}) || !slices.Equal(removed.UnreferencedObjects, keys) {
		t.Errorf("DeleteTopic returned %s, unreferenced %q; want d0a d0b d1a, all unreferenced",
			segsString(removed.Segments), removed.UnreferencedObjects)
	}
	_, err = s.Topic(ctx, tn.ID, "doomed")
	wantErr(t, "Topic after delete", err, ErrNotFound)
	_, err = s.TopicByID(ctx, tn.ID, doomed.ID)
	wantErr(t, "TopicByID after delete", err, ErrNotFound)
	_, err = s.Partition(ctx, p0)
	wantErr(t, "Partition after delete", err, ErrNotFound)
	_, err = s.ListSegments(ctx, p0, 0, 0)
	wantErr(t, "ListSegments after delete", err, ErrNotFound)
	wantErr(t, "CommitSegment after delete", s.CommitSegment(ctx, newSeg(p0, 0, 20, 29, "late")), ErrNotFound)
	_, err = s.DeleteTopic(ctx, tn.ID, doomed.ID)
	wantErr(t, "DeleteTopic again", err, ErrNotFound)

	offs, err := s.FetchOffsets(ctx, tn.ID, "g")
	noErr(t, "FetchOffsets", err)
	if len(offs) != 1 || offs[0].Topic != kept.ID || offs[0].Offset != 3 {
		t.Errorf("offsets after delete = %+v, want only kept's", offs)
	}
	groups, err := s.ListGroups(ctx, tn.ID)
	noErr(t, "ListGroups", err)
	if !slices.Equal(groups, []string{"g"}) {
		t.Errorf("ListGroups after delete = %v, want [g]", groups)
	}
	if segs := checkIndex(t, s, k0); len(segs) != 1 {
		t.Errorf("kept topic's index = %s", segsString(segs))
	}

	again := mustTopic(t, s, tn.ID, "doomed", 1)
	if again.ID == doomed.ID {
		t.Errorf("recreated topic reuses id %d", again.ID)
	}
	if p := mustPartition(t, s, PartitionID{tn.ID, again.ID, 0}); p.HighWatermark != 0 || p.Epoch != 0 {
		t.Errorf("recreated topic's partition = %+v", p)
	}
}

func testTenantIsolation(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	ta := mustTopic(t, s, a.ID, "orders", 1)
	pa := PartitionID{a.ID, ta.ID, 0}
	asB := PartitionID{b.ID, ta.ID, 0} // a's topic id under b
	mustCommit(t, s, newSeg(pa, 0, 0, 9, "a-seg"))
	noErr(t, "CommitOffsets", s.CommitOffsets(ctx, a.ID, "g", []GroupOffset{{Topic: ta.ID, Partition: 0, Offset: 4}}))
	sv, err := s.RegisterSchema(ctx, a.ID, "orders-value", SchemaSpec{Type: SchemaAvro, Text: `"string"`})
	noErr(t, "RegisterSchema", err)

	_, err = s.Topic(ctx, b.ID, "orders")
	wantErr(t, "b: Topic", err, ErrNotFound)
	_, err = s.TopicByID(ctx, b.ID, ta.ID)
	wantErr(t, "b: TopicByID", err, ErrNotFound)
	if l, err := s.ListTopics(ctx, b.ID); err != nil || len(l) != 0 {
		t.Errorf("b: ListTopics = %v, %v", l, err)
	}
	_, err = s.ListPartitions(ctx, b.ID, ta.ID)
	wantErr(t, "b: ListPartitions", err, ErrNotFound)
	_, err = s.Partition(ctx, asB)
	wantErr(t, "b: Partition", err, ErrNotFound)
	_, err = s.BumpEpoch(ctx, asB, 0)
	wantErr(t, "b: BumpEpoch", err, ErrNotFound)
	wantErr(t, "b: CommitSegment", s.CommitSegment(ctx, newSeg(asB, 0, 10, 19, "b-seg")), ErrNotFound)
	_, err = s.ListSegments(ctx, asB, 0, 0)
	wantErr(t, "b: ListSegments", err, ErrNotFound)
	_, err = s.SegmentAt(ctx, asB, 0)
	wantErr(t, "b: SegmentAt", err, ErrNotFound)
	_, err = s.LatestSegment(ctx, asB)
	wantErr(t, "b: LatestSegment", err, ErrNotFound)
	_, err = s.DeleteSegmentsBefore(ctx, asB, AnyEpoch, 5)
	wantErr(t, "b: DeleteSegmentsBefore", err, ErrNotFound)
	_, err = s.UpdateRetention(ctx, b.ID, ta.ID, 1, 1)
	wantErr(t, "b: UpdateRetention", err, ErrNotFound)
	_, err = s.DeleteTopic(ctx, b.ID, ta.ID)
	wantErr(t, "b: DeleteTopic", err, ErrNotFound)
	wantErr(t, "b: CommitOffsets", s.CommitOffsets(ctx, b.ID, "g", []GroupOffset{{Topic: ta.ID, Partition: 0, Offset: 1}}), ErrNotFound)
	if o, err := s.FetchOffsets(ctx, b.ID, "g"); err != nil || len(o) != 0 {
		t.Errorf("b: FetchOffsets = %v, %v", o, err)
	}
	if g, err := s.ListGroups(ctx, b.ID); err != nil || len(g) != 0 {
		t.Errorf("b: ListGroups = %v, %v", g, err)
	}
	wantErr(t, "b: DeleteGroup", s.DeleteGroup(ctx, b.ID, "g"), ErrNotFound)
	_, err = s.SchemaByID(ctx, b.ID, sv.Schema.ID)
	wantErr(t, "b: SchemaByID", err, ErrNotFound)
	_, err = s.SubjectVersion(ctx, b.ID, "orders-value", LatestVersion, true)
	wantErr(t, "b: SubjectVersion", err, ErrNotFound)
	if l, err := s.ListSubjects(ctx, b.ID, true); err != nil || len(l) != 0 {
		t.Errorf("b: ListSubjects = %v, %v", l, err)
	}
	_, err = s.DeleteSubject(ctx, b.ID, "orders-value", false)
	wantErr(t, "b: DeleteSubject", err, ErrNotFound)

	// b's own things with the same names are independent of a's.
	tb := mustTopic(t, s, b.ID, "orders", 2)
	svb, err := s.RegisterSchema(ctx, b.ID, "orders-value", SchemaSpec{Type: SchemaAvro, Text: `"string"`})
	noErr(t, "b: RegisterSchema", err)
	if tb.ID == ta.ID || svb.Version != 1 {
		t.Errorf("b's topic %+v / schema %+v collide with a's", tb, svb)
	}
	if p := mustPartition(t, s, pa); p.HighWatermark != 10 || p.Epoch != 0 {
		t.Errorf("a's partition changed: %+v", p)
	}
	if o, _ := s.FetchOffsets(ctx, a.ID, "g"); len(o) != 1 || o[0].Offset != 4 {
		t.Errorf("a's offsets changed: %+v", o)
	}
}

func testBumpEpoch(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	tp := mustTopic(t, s, tn.ID, "orders", 2)
	p0, p1 := PartitionID{tn.ID, tp.ID, 0}, PartitionID{tn.ID, tp.ID, 1}
	e, err := s.BumpEpoch(ctx, p0, 0)
	noErr(t, "BumpEpoch 0", err)
	if e != 1 {
		t.Fatalf("BumpEpoch(0) = %d, want 1", e)
	}
	e, err = s.BumpEpoch(ctx, p0, 1)
	noErr(t, "BumpEpoch 1", err)
	if e != 2 {
		t.Fatalf("BumpEpoch(1) = %d, want 2", e)
	}
	for _, stale := range []int64{0, 1, 3} {
		_, err = s.BumpEpoch(ctx, p0, stale)
		wantErr(t, "BumpEpoch stale", err, ErrEpochFenced)
		var ee *EpochError
		if !errors.As(err, &ee) || ee.Partition != p0 || ee.Expected != stale || ee.Actual != 2 {
			t.Errorf("BumpEpoch(%d) error = %#v, want EpochError{%s %d 2}", stale, err, p0, stale)
		}
	}
	if p := mustPartition(t, s, p0); p.Epoch != 2 {
		t.Errorf("epoch after refused bumps = %d, want 2", p.Epoch)
	}
	if p := mustPartition(t, s, p1); p.Epoch != 0 {
		t.Errorf("other partition's epoch = %d, want 0", p.Epoch)
	}
	_, err = s.BumpEpoch(ctx, PartitionID{tn.ID, tp.ID, 2}, 0)
	wantErr(t, "BumpEpoch unknown", err, ErrNotFound)
}
