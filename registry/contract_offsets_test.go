package registry

import (
	"slices"
	"strings"
	"testing"
)

func testGroupOffsets(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	a := mustTopic(t, s, tn.ID, "a", 3)
	b := mustTopic(t, s, tn.ID, "b", 1)

	if o, err := s.FetchOffsets(ctx, tn.ID, "nobody"); err != nil || len(o) != 0 {
		t.Fatalf("FetchOffsets of unknown group = %v, %v; want none", o, err)
	}
	noErr(t, "CommitOffsets", s.CommitOffsets(ctx, tn.ID, "g1", []GroupOffset{
		{Topic: b.ID, Partition: 0, Offset: 7, Metadata: "m-b"},
		{Topic: a.ID, Partition: 2, Offset: 20},
		{Topic: a.ID, Partition: 0, Offset: 0, Metadata: "m-a0"},
	}))
	noErr(t, "CommitOffsets g1 again", s.CommitOffsets(ctx, tn.ID, "g1", []GroupOffset{{Topic: a.ID, Partition: 2, Offset: 25, Metadata: "new"}}))
	noErr(t, "CommitOffsets empty", s.CommitOffsets(ctx, tn.ID, "g1", nil))
	noErr(t, "CommitOffsets g0", s.CommitOffsets(ctx, tn.ID, "g0", []GroupOffset{{Topic: a.ID, Partition: 1, Offset: 1}}))
	noErr(t, "CommitOffsets unicode group", s.CommitOffsets(ctx, tn.ID, "grüppe.é/1", []GroupOffset{{Topic: a.ID, Partition: 1, Offset: 2}}))

	got, err := s.FetchOffsets(ctx, tn.ID, "g1")
	noErr(t, "FetchOffsets", err)
	want := []GroupOffset{
		{Topic: a.ID, Partition: 0, Offset: 0, Metadata: "m-a0"},
		{Topic: a.ID, Partition: 2, Offset: 25, Metadata: "new"},
		{Topic: b.ID, Partition: 0, Offset: 7, Metadata: "m-b"},
	}
	if len(got) != len(want) {
		t.Fatalf("FetchOffsets = %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].CommittedAt.IsZero() {
			t.Errorf("offset %d has no commit time", i)
		}
		got[i].CommittedAt = want[i].CommittedAt
		if got[i] != want[i] {
			t.Errorf("FetchOffsets[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	groups, err := s.ListGroups(ctx, tn.ID)
	noErr(t, "ListGroups", err)
	if !slices.Equal(groups, []string{"g0", "g1", "grüppe.é/1"}) {
		t.Errorf("ListGroups = %q", groups)
	}

	// An unknown partition fails the whole commit.
	err = s.CommitOffsets(ctx, tn.ID, "g1", []GroupOffset{{Topic: a.ID, Partition: 0, Offset: 99}, {Topic: a.ID, Partition: 3, Offset: 1}})
	wantErr(t, "CommitOffsets unknown partition", err, ErrNotFound)
	err = s.CommitOffsets(ctx, tn.ID, "g1", []GroupOffset{{Topic: a.ID, Partition: 0, Offset: 99}, {Topic: a.ID + b.ID + 10, Partition: 0, Offset: 1}})
	wantErr(t, "CommitOffsets unknown topic", err, ErrNotFound)
	if got, _ := s.FetchOffsets(ctx, tn.ID, "g1"); len(got) != 3 || got[0].Offset != 0 {
		t.Errorf("refused commit changed offsets: %+v", got)
	}
	err = s.CommitOffsets(ctx, tn.ID, "new", []GroupOffset{{Topic: a.ID, Partition: 5, Offset: 1}})
	wantErr(t, "CommitOffsets unknown partition, new group", err, ErrNotFound)
	if g, _ := s.ListGroups(ctx, tn.ID); len(g) != 3 {
		t.Errorf("refused commit created a group: %q", g)
	}

	noErr(t, "DeleteGroup", s.DeleteGroup(ctx, tn.ID, "g1"))
	wantErr(t, "DeleteGroup again", s.DeleteGroup(ctx, tn.ID, "g1"), ErrNotFound, "g1")
	if o, err := s.FetchOffsets(ctx, tn.ID, "g1"); err != nil || len(o) != 0 {
		t.Errorf("FetchOffsets after delete = %v, %v", o, err)
	}
	if g, _ := s.ListGroups(ctx, tn.ID); !slices.Equal(g, []string{"g0", "grüppe.é/1"}) {
		t.Errorf("ListGroups after delete = %q", g)
	}
}

func testGroupOffsetsValidation(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "t")
	a := mustTopic(t, s, tn.ID, "a", 2)
	ok := GroupOffset{Topic: a.ID, Partition: 0, Offset: 1}
	for _, tc := range []struct {
		name, group string
		offsets     []GroupOffset
		mentions    string
	}{
		{"empty group", "", []GroupOffset{ok}, "group id"},
		{"long group", strings.Repeat("g", MaxFreeNameLen+1), []GroupOffset{ok}, "group id"},
		{"control char", "a\nb", []GroupOffset{ok}, "control"},
		{"NUL", "a\x00b", []GroupOffset{ok}, "control"},
		{"bad UTF-8", "a\xffb", []GroupOffset{ok}, "UTF-8"},
		{"negative offset", "g", []GroupOffset{{Topic: a.ID, Partition: 0, Offset: -1}}, "offset"},
		{"negative partition", "g", []GroupOffset{{Topic: a.ID, Partition: -1, Offset: 1}}, "partition"},
		{"twice", "g", []GroupOffset{ok, ok}, "twice"},
		{"metadata", "g", []GroupOffset{{Topic: a.ID, Partition: 1, Offset: 1, Metadata: strings.Repeat("m", MaxOffsetMetadata+1)}}, "metadata"},
	} {
		wantErr(t, "CommitOffsets "+tc.name, s.CommitOffsets(ctx, tn.ID, tc.group, tc.offsets), ErrInvalid, tc.mentions)
	}
	_, err := s.FetchOffsets(ctx, tn.ID, "a\x00")
	wantErr(t, "FetchOffsets NUL", err, ErrInvalid)
	wantErr(t, "DeleteGroup empty", s.DeleteGroup(ctx, tn.ID, ""), ErrInvalid)
	if g, err := s.ListGroups(ctx, tn.ID); err != nil || len(g) != 0 {
		t.Errorf("ListGroups after refused commits = %q, %v", g, err)
	}
	noErr(t, "CommitOffsets max metadata", s.CommitOffsets(ctx, tn.ID, strings.Repeat("g", MaxFreeNameLen),
		[]GroupOffset{{Topic: a.ID, Partition: 1, Offset: 1, Metadata: strings.Repeat("m", MaxOffsetMetadata)}}))
}
