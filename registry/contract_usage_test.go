package registry

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Usage contract: idempotent, exact, validated, tenant-scoped.

var usageHour = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func wantUsage(t *testing.T, s Store, tenant int64, from, to time.Time, want []HourUsageRow) {
	t.Helper()
	got, err := s.Usage(t.Context(), tenant, from, to)
	noErr(t, "Usage", err)
	if !slices.EqualFunc(got, want, func(a, b HourUsageRow) bool { return a.Hour.Equal(b.Hour) && a.Usage == b.Usage }) {
		t.Errorf("Usage(%d, %s, %s) = %v, want %v", tenant, from, to, got, want)
	}
	for _, r := range got {
		if r.Hour.Location() != time.UTC {
			t.Errorf("Usage hour %v is not in UTC", r.Hour)
		}
	}
}

func testUsageIdempotent(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	u := UsageCounts{RecordsProduced: 10, BytesProduced: 1000, RecordsConsumed: 5, BytesConsumed: 500, StorageByteHours: 7}
	noErr(t, "AddUsage", s.AddUsage(ctx, tn.ID, usageHour, u, "meter-a/1"))
	noErr(t, "AddUsage again", s.AddUsage(ctx, tn.ID, usageHour, u, "meter-a/1"))
	// The same key with other counts is still the same addition.
	noErr(t, "AddUsage same key", s.AddUsage(ctx, tn.ID, usageHour, UsageCounts{RecordsProduced: 99}, "meter-a/1"))
	wantUsage(t, s, tn.ID, usageHour, usageHour.Add(time.Hour), []HourUsageRow{{usageHour, u}})

	noErr(t, "AddUsage second key", s.AddUsage(ctx, tn.ID, usageHour, UsageCounts{RecordsProduced: 1, BytesConsumed: 2}, "meter-a/2"))
	next := usageHour.Add(time.Hour)
	noErr(t, "AddUsage next hour", s.AddUsage(ctx, tn.ID, next, UsageCounts{StorageByteHours: 3}, "meter-a/3"))
	noErr(t, "AddUsage zero", s.AddUsage(ctx, tn.ID, next.Add(time.Hour), UsageCounts{}, "meter-a/4"))
	sum := u
	sum.RecordsProduced++
	sum.BytesConsumed += 2
	all := []HourUsageRow{{usageHour, sum}, {next, UsageCounts{StorageByteHours: 3}}, {next.Add(time.Hour), UsageCounts{}}}
	wantUsage(t, s, tn.ID, usageHour.Add(-24*time.Hour), usageHour.Add(24*time.Hour), all)
	// [from, to): from is included, to is not; a from inside an hour skips it.
	wantUsage(t, s, tn.ID, next, next.Add(time.Hour), all[1:2])
	wantUsage(t, s, tn.ID, usageHour.Add(time.Minute), next.Add(time.Hour), all[1:2])
	wantUsage(t, s, tn.ID, usageHour, usageHour, []HourUsageRow{})
	wantUsage(t, s, tn.ID, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), usageHour.Add(time.Hour), all[:1])

	wantErr(t, "AddUsage unknown tenant", s.AddUsage(ctx, tn.ID+1000, usageHour, u, "k"), ErrNotFound)
}

func testUsageValidation(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	ok := UsageCounts{RecordsProduced: 1}
	for _, tc := range []struct {
		what, contains string
		hour           time.Time
		u              UsageCounts
		key            string
	}{
		{"hour not on the hour", "usage hour", usageHour.Add(time.Minute), ok, "k"},
		{"hour with nanoseconds", "usage hour", usageHour.Add(1), ok, "k"},
		{"hour not UTC", "usage hour", usageHour.In(time.FixedZone("CET", 3600)), ok, "k"},
		{"zero hour", "usage hour", time.Time{}, ok, "k"},
		{"negative records produced", "records produced", usageHour, UsageCounts{RecordsProduced: -1}, "k"},
		{"negative bytes produced", "bytes produced", usageHour, UsageCounts{BytesProduced: -1}, "k"},
		{"negative records consumed", "records consumed", usageHour, UsageCounts{RecordsConsumed: -1}, "k"},
		{"negative bytes consumed", "bytes consumed", usageHour, UsageCounts{BytesConsumed: -1}, "k"},
		{"negative storage", "storage byte-hours", usageHour, UsageCounts{StorageByteHours: -1}, "k"},
		{"empty key", "usage key", usageHour, ok, ""},
		{"long key", "usage key", usageHour, ok, strings.Repeat("k", MaxUsageKeyLen+1)},
	} {
		wantErr(t, "AddUsage "+tc.what, s.AddUsage(ctx, tn.ID, tc.hour, tc.u, tc.key), ErrInvalid, tc.contains)
	}
	wantUsage(t, s, tn.ID, time.Time{}, usageHour.Add(48*time.Hour), []HourUsageRow{})

	noErr(t, "AddUsage longest key", s.AddUsage(ctx, tn.ID, usageHour, ok, strings.Repeat("k", MaxUsageKeyLen)))
	// An overflowing sum is refused whole, and its key not recorded.
	big := UsageCounts{BytesProduced: 1 << 62}
	noErr(t, "AddUsage big", s.AddUsage(ctx, tn.ID, usageHour, big, "big-1"))
	wantErr(t, "AddUsage overflow", s.AddUsage(ctx, tn.ID, usageHour, big, "big-2"), ErrInvalid, "overflow")
	noErr(t, "AddUsage after overflow", s.AddUsage(ctx, tn.ID, usageHour, UsageCounts{BytesProduced: 5}, "big-2"))
	// A cancelled call adds nothing.
	if err := s.AddUsage(ctxCancelled(), tn.ID, usageHour, big, "cancelled"); err == nil {
		t.Error("AddUsage with a cancelled context succeeded")
	}
	wantUsage(t, s, tn.ID, usageHour, usageHour.Add(time.Hour),
		[]HourUsageRow{{usageHour, UsageCounts{RecordsProduced: 1, BytesProduced: 1<<62 + 5}}})
}

// testUsageRace adds from several goroutines at once, with distinct keys and
// with a shared one; the sums must be exact.
func testUsageRace(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	const workers, adds = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*adds*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range adds {
				u := UsageCounts{RecordsProduced: 1, BytesProduced: int64(w + 1), StorageByteHours: 2}
				errs <- s.AddUsage(ctx, tn.ID, usageHour, u, fmt.Sprintf("w%d/%d", w, i))
				// Every worker also retries one shared key: it counts once.
				errs <- s.AddUsage(ctx, tn.ID, usageHour.Add(time.Hour), UsageCounts{RecordsConsumed: 1}, fmt.Sprintf("shared/%d", i))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "concurrent AddUsage", err)
	}
	var bytes int64
	for w := range workers {
		bytes += int64(w+1) * adds
	}
	wantUsage(t, s, tn.ID, usageHour, usageHour.Add(2*time.Hour), []HourUsageRow{
		{usageHour, UsageCounts{RecordsProduced: workers * adds, BytesProduced: bytes, StorageByteHours: 2 * workers * adds}},
		{usageHour.Add(time.Hour), UsageCounts{RecordsConsumed: adds}},
	})
}

func testUsageIsolation(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	noErr(t, "AddUsage a", s.AddUsage(ctx, a.ID, usageHour, UsageCounts{RecordsProduced: 1}, "k"))
	// Keys are per tenant: b's equal key is its own addition.
	noErr(t, "AddUsage b", s.AddUsage(ctx, b.ID, usageHour, UsageCounts{RecordsProduced: 20}, "k"))
	noErr(t, "AddUsage b later", s.AddUsage(ctx, b.ID, usageHour.Add(time.Hour), UsageCounts{BytesConsumed: 3}, "k2"))
	end := usageHour.Add(24 * time.Hour)
	wantUsage(t, s, a.ID, usageHour, end, []HourUsageRow{{usageHour, UsageCounts{RecordsProduced: 1}}})
	wantUsage(t, s, b.ID, usageHour, end, []HourUsageRow{
		{usageHour, UsageCounts{RecordsProduced: 20}}, {usageHour.Add(time.Hour), UsageCounts{BytesConsumed: 3}}})
	wantUsage(t, s, b.ID+1000, usageHour, end, []HourUsageRow{})
}

func testStorageBytes(t *testing.T, s Store) {
	ctx := t.Context()
	a, b, idle := mustTenant(t, s, "a"), mustTenant(t, s, "b"), mustTenant(t, s, "idle")
	ta := mustTopic(t, s, a.ID, "orders", 2)
	ta2 := mustTopic(t, s, a.ID, "audit", 1)
	tb := mustTopic(t, s, b.ID, "orders", 1)
	mustTopic(t, s, idle.ID, "empty", 1)

	got, err := s.StorageBytes(ctx)
	noErr(t, "StorageBytes empty", err)
	if len(got) != 0 {
		t.Errorf("StorageBytes with no segments = %v, want none", got)
	}

	a0, a1 := PartitionID{a.ID, ta.ID, 0}, PartitionID{a.ID, ta.ID, 1}
	s1 := newSeg(a0, 0, 0, 9, "objects/x")
	s1.Length, s1.ObjectSize = 512, 1<<20 // Length counts, not the object's size
	s2 := newSeg(a0, 0, 10, 19, "objects/y")
	s2.Length = 300
	s3 := newSeg(a1, 0, 0, 4, "objects/x") // the same object: both ranges count
	s3.Position, s3.Length = 512, 4096
	s4 := newSeg(PartitionID{a.ID, ta2.ID, 0}, 0, 0, 0, "objects/z")
	s4.Length = 7
	s5 := newSeg(PartitionID{b.ID, tb.ID, 0}, 0, 0, 9, "objects/x")
	s5.Position, s5.Length = 4608, 1000
	for _, sg := range []*Segment{&s2, &s3, &s4, &s5} {
		sg.ObjectSize = 1 << 20
	}
	mustCommit(t, s, s1, s2, s3, s4, s5)

	want := map[int64]int64{a.ID: 512 + 300 + 4096 + 7, b.ID: 1000}
	got, err = s.StorageBytes(ctx)
	noErr(t, "StorageBytes", err)
	if !maps.Equal(got, want) {
		t.Errorf("StorageBytes = %v, want %v", got, want)
	}

	// Retention and topic deletion take their segments out of the count.
	_, err = s.DeleteSegmentsBefore(ctx, a0, AnyEpoch, 10)
	noErr(t, "DeleteSegmentsBefore", err)
	_, err = s.DeleteTopic(ctx, a.ID, ta2.ID)
	noErr(t, "DeleteTopic", err)
	want[a.ID] = 300 + 4096
	got, err = s.StorageBytes(ctx)
	noErr(t, "StorageBytes after removals", err)
	if !maps.Equal(got, want) {
		t.Errorf("StorageBytes after removals = %v, want %v", got, want)
	}
}

func testPruneUsageKeys(t *testing.T, s Store) {
	ctx := t.Context()
	tn := mustTenant(t, s, "acme")
	one := UsageCounts{RecordsProduced: 1}
	for i := range 3 {
		noErr(t, "AddUsage", s.AddUsage(ctx, tn.ID, usageHour, one, fmt.Sprintf("k%d", i)))
	}
	n, err := s.PruneUsageKeys(ctx, time.Now().Add(-time.Hour))
	noErr(t, "PruneUsageKeys old", err)
	if n != 0 {
		t.Errorf("PruneUsageKeys before an hour ago removed %d keys, want 0", n)
	}
	// Not pruned: a retry still counts once.
	noErr(t, "AddUsage retry", s.AddUsage(ctx, tn.ID, usageHour, one, "k0"))
	wantUsage(t, s, tn.ID, usageHour, usageHour.Add(time.Hour), []HourUsageRow{{usageHour, UsageCounts{RecordsProduced: 3}}})

	n, err = s.PruneUsageKeys(ctx, time.Now().Add(time.Hour))
	noErr(t, "PruneUsageKeys", err)
	if n != 3 {
		t.Errorf("PruneUsageKeys removed %d keys, want 3", n)
	}
	n, err = s.PruneUsageKeys(ctx, time.Now().Add(time.Hour))
	noErr(t, "PruneUsageKeys again", err)
	if n != 0 {
		t.Errorf("PruneUsageKeys again removed %d keys, want 0", n)
	}
	// Pruning keeps the counts; a pruned key given again counts again.
	noErr(t, "AddUsage pruned key", s.AddUsage(ctx, tn.ID, usageHour, one, "k0"))
	wantUsage(t, s, tn.ID, usageHour, usageHour.Add(time.Hour), []HourUsageRow{{usageHour, UsageCounts{RecordsProduced: 4}}})
}
