package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// runContract is the one behaviour suite every Store implementation must
// pass. open returns a new, empty store that is closed when t ends; each
// subtest opens its own, so subtests run in parallel.
func runContract(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Tenants", testTenants},
		{"NameValidation", testNameValidation},
		{"Topics", testTopics},
		{"TopicSpecValidation", testTopicSpecValidation},
		{"UpdateRetention", testUpdateRetention},
		{"AddPartitions", testAddPartitions},
		{"DeleteTopic", testDeleteTopic},
		{"TenantIsolation", testTenantIsolation},
		{"BumpEpoch", testBumpEpoch},
		{"CommitAndFindSegments", testCommitAndFindSegments},
		{"CommitRefusedStaleEpoch", testCommitRefusedStaleEpoch},
		{"CommitRefusedNotContiguous", testCommitRefusedNotContiguous},
		{"CommitRefusedInvalid", testCommitRefusedInvalid},
		{"CommitSegmentsAllOrNothing", testCommitSegmentsAllOrNothing},
		{"Retention", testRetention},
		{"PartitionSizes", testPartitionSizes},
		{"SharedObjectRetention", testSharedObjectRetention},
		{"SharedObjectDeleteTopic", testSharedObjectDeleteTopic},
		{"LostCommitReply", testLostCommitReply},
		{"CancelledContext", testCancelledContext},
		{"GroupOffsets", testGroupOffsets},
		{"GroupOffsetsValidation", testGroupOffsetsValidation},
		{"Schemas", testSchemas},
		{"SchemaDeletion", testSchemaDeletion},
		{"SchemaReferences", testSchemaReferences},
		{"FencingRace", testFencingRace},
		{"PackedCommitRace", testPackedCommitRace},
		{"SharedObjectRace", testSharedObjectRace},
		{"TenantSettings", testTenantSettings},
		{"Users", testUsers},
		{"Memberships", testMemberships},
		{"APIKeys", testAPIKeys},
		{"Sessions", testSessions},
		{"Audit", testAudit},
		{"AccountsIsolation", testAccountsIsolation},
		{"AccountsRace", testAccountsRace},
		{"UsageIdempotent", testUsageIdempotent},
		{"UsageValidation", testUsageValidation},
		{"UsageRace", testUsageRace},
		{"UsageIsolation", testUsageIsolation},
		{"StorageBytes", testStorageBytes},
		{"PruneUsageKeys", testPruneUsageKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Helpers shared by the contract tests.

func mustTenant(t *testing.T, s Store, name string) Tenant {
	t.Helper()
	tn, err := s.CreateTenant(t.Context(), name)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn
}

func mustTopic(t *testing.T, s Store, tenant int64, name string, partitions int32) Topic {
	t.Helper()
	tp, err := s.CreateTopic(t.Context(), tenant, TopicSpec{Name: name, Partitions: partitions})
	if err != nil {
		t.Fatalf("CreateTopic(%q): %v", name, err)
	}
	return tp
}

func mustPartition(t *testing.T, s Store, id PartitionID) Partition {
	t.Helper()
	p, err := s.Partition(t.Context(), id)
	if err != nil {
		t.Fatalf("Partition(%s): %v", id, err)
	}
	return p
}

// newSeg builds a valid segment of offsets first..last, with timestamps
// 1000+10*offset.
func newSeg(p PartitionID, epoch, first, last int64, key string) Segment {
	return Segment{Partition: p, Epoch: epoch, ObjectKey: key, Position: 0, Length: 100, ObjectSize: 100,
		FirstOffset: first, LastOffset: last, MinTimestamp: 1000 + 10*first, MaxTimestamp: 1000 + 10*last,
		RecordCount: last - first + 1, WALSeq: uint64(last + 1)}
}

func mustCommit(t *testing.T, s Store, segs ...Segment) {
	t.Helper()
	for _, sg := range segs {
		if err := s.CommitSegment(t.Context(), sg); err != nil {
			t.Fatalf("CommitSegment(%s@%d): %v", sg.Partition, sg.FirstOffset, err)
		}
	}
}

// wantErr fails unless err wraps target; contains, if given, must appear in
// the message.
func wantErr(t *testing.T, what string, err, target error, contains ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("%s: error %q does not mention %q", what, err, c)
		}
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameSegment compares all fields but CommittedAt, which the store sets.
func sameSegment(a, b Segment) bool {
	a.CommittedAt, b.CommittedAt = time.Time{}, time.Time{}
	return a == b
}

func segsString(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		fmt.Fprintf(&b, "[%d-%d e%d %s] ", s.FirstOffset, s.LastOffset, s.Epoch, s.ObjectKey)
	}
	return b.String()
}

// checkIndex asserts the partition's index is contiguous from the log start
// to the high watermark, with epochs that never go down, and returns it.
func checkIndex(t *testing.T, s Store, id PartitionID) []Segment {
	t.Helper()
	p := mustPartition(t, s, id)
	segs, err := s.ListSegments(t.Context(), id, 0, 0)
	noErr(t, "ListSegments", err)
	next := int64(-1)
	for i, sg := range segs {
		if i == 0 {
			if sg.FirstOffset > p.LogStartOffset || sg.LastOffset < p.LogStartOffset {
				t.Fatalf("%s: first segment [%d-%d] does not hold log start %d", id, sg.FirstOffset, sg.LastOffset, p.LogStartOffset)
			}
		} else if sg.FirstOffset != next {
			t.Fatalf("%s: index not contiguous at %d: %s", id, i, segsString(segs))
		} else if sg.Epoch < segs[i-1].Epoch {
			t.Fatalf("%s: epoch goes down at %d: %s", id, i, segsString(segs))
		}
		next = sg.LastOffset + 1
	}
	if len(segs) > 0 && next != p.HighWatermark {
		t.Fatalf("%s: last segment ends at %d, high watermark %d", id, next-1, p.HighWatermark)
	}
	return segs
}

func ctxCancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
