package cells

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

var groupT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// groupIDs makes member ids m1, m2, ... in join order.
func groupIDs() func(string) string {
	n := 0
	return func(string) string { n++; return fmt.Sprintf("m%d", n) }
}

// newTestGroup returns a group over topics 1 (4 partitions) and 2 (2),
// without a store.
func newTestGroup(t *testing.T) *Group {
	t.Helper()
	g, err := NewGroup(GroupConfig{Tenant: 1, Name: "g", NewMemberID: groupIDs()})
	if err != nil {
		t.Fatal(err)
	}
	g.UpdateTopics(map[int64]int32{1: 4, 2: 2})
	return g
}

func groupJoin(t *testing.T, g *Group, req JoinRequest, now time.Time) JoinResult {
	t.Helper()
	res, err := g.Join(req, now)
	if err != nil {
		t.Fatalf("join %+v: %v", req, err)
	}
	return res
}

// groupCheckGroupCover fails unless the group's assignments cover every
// partition of the subscribed topics exactly once.
func groupCheckGroupCover(t *testing.T, g *Group) {
	t.Helper()
	d := g.Describe()
	var ms []AssignMember
	a := Assignments{}
	for _, m := range d.Members {
		ms = append(ms, AssignMember{ID: m.ID, Topics: m.Topics})
		a[m.ID] = m.Assignment
	}
	groupCheckCover(t, ms, d.Partitions, a)
}

func TestGroupJoinLeaveExpireRebalances(t *testing.T) {
	g := newTestGroup(t)
	if d := g.Describe(); d.State != GroupEmpty || d.Generation != 0 {
		t.Fatalf("new group: %+v", d)
	}
	now := groupT0
	a := groupJoin(t, g, JoinRequest{ClientID: "c", Topics: []int64{1, 2}, SessionTimeout: 10 * time.Second}, now)
	if a.MemberID != "m1" || a.Generation != 1 || a.Strategy != StrategyRange || len(a.Assignment) != 6 {
		t.Fatalf("first join: %+v", a)
	}
	b := groupJoin(t, g, JoinRequest{ClientID: "c", Topics: []int64{1, 2}, SessionTimeout: 20 * time.Second}, now)
	if b.Generation != 2 || len(b.Assignment) != 3 {
		t.Fatalf("second join: %+v", b)
	}
	groupCheckGroupCover(t, g)

	// a learns of the rebalance from its heartbeat, and refetches.
	err := g.Heartbeat(a.MemberID, a.Generation, now)
	var ge *GenerationError
	if !errors.As(err, &ge) || !errors.Is(err, ErrRebalance) || ge.Current != 2 || ge.Got != 1 {
		t.Fatalf("heartbeat at old generation: %v", err)
	}
	if _, err := g.Assignment(a.MemberID, 1); !errors.Is(err, ErrRebalance) {
		t.Fatalf("assignment at old generation: %v", err)
	}
	got, err := g.Assignment(a.MemberID, ge.Current)
	if err != nil || len(got) != 3 {
		t.Fatalf("assignment: %v %v", got, err)
	}
	if err := g.Heartbeat(a.MemberID, 2, now); err != nil {
		t.Fatal(err)
	}
	if err := g.Heartbeat(a.MemberID, 7, now); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("heartbeat from the future: %v", err)
	}

	// Rejoining unchanged renews the session and keeps the generation.
	if r := groupJoin(t, g, JoinRequest{MemberID: b.MemberID, ClientID: "c", Topics: []int64{2, 1}, SessionTimeout: 20 * time.Second}, now); r.Generation != 2 {
		t.Fatalf("unchanged rejoin bumped: %+v", r)
	}
	// Changing the subscription rebalances.
	if r := groupJoin(t, g, JoinRequest{MemberID: b.MemberID, ClientID: "c", Topics: []int64{1}, SessionTimeout: 20 * time.Second}, now); r.Generation != 3 {
		t.Fatalf("resubscribe: %+v", r)
	}
	groupCheckGroupCover(t, g)

	// Leave: the other takes all.
	if err := g.Leave(b.MemberID); err != nil {
		t.Fatal(err)
	}
	if err := g.Leave(b.MemberID); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("second leave: %v", err)
	}
	if got, _ := g.Assignment(a.MemberID, 4); len(got) != 6 {
		t.Fatalf("after leave: %v", got)
	}

	// Crash: c joins, a keeps heartbeating, c goes silent and expires.
	c := groupJoin(t, g, JoinRequest{ClientID: "c", Topics: []int64{1, 2}, SessionTimeout: 10 * time.Second}, now)
	if c.Generation != 5 {
		t.Fatalf("third join: %+v", c)
	}
	if dl, ok := g.NextDeadline(); !ok || !dl.Equal(now.Add(10*time.Second)) {
		t.Fatalf("next deadline %v %v", dl, ok)
	}
	for i := range 3 {
		now = now.Add(4 * time.Second)
		if err := g.Heartbeat(a.MemberID, 5, now); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
		if gone := g.Expire(now); i < 2 && gone != nil {
			t.Fatalf("expired early at %v: %v", now.Sub(groupT0), gone)
		} else if i == 2 && !slices.Equal(gone, []string{c.MemberID}) {
			t.Fatalf("expired at %v: %v, want c", now.Sub(groupT0), gone)
		}
	}
	if d := g.Describe(); d.Generation != 6 || len(d.Members) != 1 || len(d.Members[0].Assignment) != 6 {
		t.Fatalf("after expiry: %+v", d)
	}
	// The zombie: its heartbeat and rejoin by id are refused.
	if err := g.Heartbeat(c.MemberID, c.Generation, now); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("zombie heartbeat: %v", err)
	}
	if _, err := g.Join(JoinRequest{MemberID: c.MemberID, Topics: []int64{1}}, now); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("zombie rejoin: %v", err)
	}

	// The last member expires: empty group, generation bumped.
	now = now.Add(time.Minute)
	if gone := g.Expire(now); !slices.Equal(gone, []string{a.MemberID}) {
		t.Fatalf("expire last: %v", gone)
	}
	if d := g.Describe(); d.State != GroupEmpty || d.Generation != 7 || d.Strategy != "" {
		t.Fatalf("empty: %+v", d)
	}
	if _, ok := g.NextDeadline(); ok {
		t.Fatal("deadline in an empty group")
	}
}

func TestGroupJoinRefusals(t *testing.T) {
	g := newTestGroup(t)
	groupJoin(t, g, JoinRequest{Topics: []int64{1}, Strategy: StrategySticky}, groupT0)
	tests := []struct {
		name string
		req  JoinRequest
		want error
	}{
		{"unknown member", JoinRequest{MemberID: "nobody", Topics: []int64{1}}, ErrUnknownMember},
		{"unknown strategy", JoinRequest{Topics: []int64{1}, Strategy: "magic"}, ErrUnknownStrategy},
		{"inconsistent strategy", JoinRequest{Topics: []int64{1}, Strategy: StrategyRange}, ErrInconsistentStrategy},
		{"timeout too short", JoinRequest{Topics: []int64{1}, SessionTimeout: time.Second}, ErrInvalidSessionTimeout},
		{"timeout too long", JoinRequest{Topics: []int64{1}, SessionTimeout: time.Hour}, ErrInvalidSessionTimeout},
		{"unknown topic", JoinRequest{Topics: []int64{1, 3}}, ErrUnknownTopic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := g.Join(tt.req, groupT0); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if d := g.Describe(); d.Generation != 1 || len(d.Members) != 1 {
				t.Fatalf("refused join changed the group: %+v", d)
			}
		})
	}
	// "" takes the group's strategy.
	if r := groupJoin(t, g, JoinRequest{Topics: []int64{1}}, groupT0); r.Strategy != StrategySticky {
		t.Fatalf("strategy %q", r.Strategy)
	}
}

func TestGroupUpdateTopicsRebalances(t *testing.T) {
	g := newTestGroup(t)
	r := groupJoin(t, g, JoinRequest{Topics: []int64{1}}, groupT0)
	if g.UpdateTopics(map[int64]int32{2: 5}) {
		t.Fatal("unsubscribed topic rebalanced")
	}
	if !g.UpdateTopics(map[int64]int32{1: 6}) || g.Generation() != r.Generation+1 {
		t.Fatalf("growth of a subscribed topic: generation %d", g.Generation())
	}
	if got, _ := g.Assignment(r.MemberID, g.Generation()); len(got) != 6 {
		t.Fatalf("after growth: %v", got)
	}
	// A deleted topic's partitions go.
	g.UpdateTopics(map[int64]int32{1: 0})
	if got, _ := g.Assignment(r.MemberID, g.Generation()); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
}

func TestGroupStrategiesThroughGroup(t *testing.T) {
	for _, s := range []string{StrategyRange, StrategyRoundRobin, StrategySticky} {
		t.Run(s, func(t *testing.T) {
			g := newTestGroup(t)
			now := groupT0
			var ids []string
			for i := range 5 {
				topics := []int64{1, 2}
				if i%2 == 1 {
					topics = []int64{1}
				}
				ids = append(ids, groupJoin(t, g, JoinRequest{Topics: topics, Strategy: s}, now).MemberID)
				groupCheckGroupCover(t, g)
			}
			for _, id := range ids[:4] {
				if err := g.Leave(id); err != nil {
					t.Fatal(err)
				}
				groupCheckGroupCover(t, g)
			}
		})
	}
}

// groupRegistry opens an embedded registry with tenant "t" and topics a (3
// partitions) and b (2), and returns it and their ids.
func groupRegistry(t *testing.T) (*registry.Embedded, int64, int64, int64) {
	t.Helper()
	ctx := t.Context()
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	ten, err := reg.CreateTenant(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.CreateTopic(ctx, ten.ID, registry.TopicSpec{Name: "a", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := reg.CreateTopic(ctx, ten.ID, registry.TopicSpec{Name: "b", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	return reg, ten.ID, a.ID, b.ID
}

// groupFill commits a segment of n records at the partition's high
// watermark.
func groupFill(t *testing.T, reg *registry.Embedded, p registry.PartitionID, n int64) {
	t.Helper()
	part, err := reg.Partition(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	first := part.HighWatermark
	err = reg.CommitSegment(t.Context(), registry.Segment{Partition: p, Epoch: part.Epoch,
		ObjectKey: fmt.Sprintf("seg-%s-%d", p, first), Length: 100, ObjectSize: 100,
		FirstOffset: first, LastOffset: first + n - 1, MinTimestamp: 1000 * first, MaxTimestamp: 1000 * (first + n - 1),
		RecordCount: n})
	if err != nil {
		t.Fatal(err)
	}
}

func newTestCoordinator(t *testing.T, reg *registry.Embedded, tenant int64, oft OffsetForTimeFunc) *GroupCoordinator {
	t.Helper()
	c, err := NewGroupCoordinator(GroupConfig{Tenant: tenant, Name: "g", Store: reg, OffsetForTime: oft, NewMemberID: groupIDs()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGroupCommitFetchAndLag(t *testing.T) {
	ctx := t.Context()
	reg, ten, ta, tb := groupRegistry(t)
	for p := range int32(3) {
		groupFill(t, reg, registry.PartitionID{Tenant: ten, Topic: ta, Partition: p}, 10*int64(p+1))
	}
	groupFill(t, reg, registry.PartitionID{Tenant: ten, Topic: tb, Partition: 1}, 7)
	c := newTestCoordinator(t, reg, ten, nil)

	if _, err := c.Join(ctx, JoinRequest{Topics: []int64{ta, 999}}, groupT0); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("join unknown topic: %v", err)
	}
	m1, err := c.Join(ctx, JoinRequest{Topics: []int64{ta, tb}}, groupT0)
	if err != nil {
		t.Fatal(err)
	}
	commit := []registry.GroupOffset{{Topic: ta, Partition: 0, Offset: 4}, {Topic: ta, Partition: 1, Offset: 20, Metadata: "m"}}
	if err := c.CommitOffsets(ctx, m1.MemberID, m1.Generation, commit); err != nil {
		t.Fatal(err)
	}
	got, err := reg.FetchOffsets(ctx, ten, "g")
	if err != nil || len(got) != 2 || got[0].Offset != 4 || got[1].Offset != 20 || got[1].Metadata != "m" {
		t.Fatalf("fetched %+v %v", got, err)
	}

	// m2 joins: generation 2. m1's commit at generation 1 is refused, and
	// so is a commit for a partition now m2's.
	m2, err := c.Join(ctx, JoinRequest{Topics: []int64{ta, tb}}, groupT0)
	if err != nil {
		t.Fatal(err)
	}
	stale := []registry.GroupOffset{{Topic: ta, Partition: 0, Offset: 9}}
	err = c.CommitOffsets(ctx, m1.MemberID, m1.Generation, stale)
	var ge *GenerationError
	if !errors.As(err, &ge) || !errors.Is(err, ErrIllegalGeneration) || ge.Current != 2 {
		t.Fatalf("stale commit: %v", err)
	}
	own, _ := c.Assignment(m2.MemberID, m2.Generation)
	var na *NotAssignedError
	err = c.CommitOffsets(ctx, m1.MemberID, m2.Generation, []registry.GroupOffset{{Topic: own[0].Topic, Partition: own[0].Partition, Offset: 1}})
	if !errors.As(err, &na) || na.Partition != own[0] {
		t.Fatalf("commit of another's partition: %v", err)
	}
	// The zombie: m1 expires (m2 heartbeats), then tries to commit.
	if err := c.Heartbeat(m2.MemberID, m2.Generation, groupT0.Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
	if gone := c.Expire(groupT0.Add(50 * time.Second)); !slices.Equal(gone, []string{m1.MemberID}) {
		t.Fatalf("expired %v", gone)
	}
	for _, gen := range []int32{2, 3} {
		if err := c.CommitOffsets(ctx, m1.MemberID, gen, stale); !errors.Is(err, ErrUnknownMember) {
			t.Fatalf("zombie commit at %d: %v", gen, err)
		}
	}
	if err := c.Heartbeat(m1.MemberID, 3, groupT0.Add(50*time.Second)); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("zombie heartbeat: %v", err)
	}
	got, _ = reg.FetchOffsets(ctx, ten, "g")
	if got[0].Offset != 4 {
		t.Fatalf("a refused commit landed: %+v", got)
	}
	// m2 now owns everything and commits.
	if err := c.CommitOffsets(ctx, m2.MemberID, 3, []registry.GroupOffset{{Topic: tb, Partition: 1, Offset: 2}}); err != nil {
		t.Fatal(err)
	}
	// A registry refusal comes back wrapped.
	if err := c.CommitOffsets(ctx, m2.MemberID, 3, []registry.GroupOffset{{Topic: ta, Partition: 2, Offset: -1}}); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("negative offset: %v", err)
	}

	lag, err := c.Lag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []PartitionLag{
		{Topic: ta, Partition: 0, Member: m2.MemberID, Committed: 4, HighWatermark: 10, Lag: 6},
		{Topic: ta, Partition: 1, Member: m2.MemberID, Committed: 20, HighWatermark: 20, Lag: 0},
		{Topic: ta, Partition: 2, Member: m2.MemberID, Committed: -1, HighWatermark: 30, Lag: 30},
		{Topic: tb, Partition: 0, Member: m2.MemberID, Committed: -1, HighWatermark: 0, Lag: 0},
		{Topic: tb, Partition: 1, Member: m2.MemberID, Committed: 2, HighWatermark: 7, Lag: 5},
	}
	if !slices.Equal(lag, want) {
		t.Fatalf("lag\n got %+v\nwant %+v", lag, want)
	}
	// Once the group is empty, lag still covers the committed partitions.
	if err := c.Leave(m2.MemberID); err != nil {
		t.Fatal(err)
	}
	lag, err = c.Lag(ctx)
	if err != nil || len(lag) != 5 || lag[0].Member != "" {
		t.Fatalf("lag of an empty group: %+v %v", lag, err)
	}
}

func TestGroupResetOffsets(t *testing.T) {
	ctx := t.Context()
	reg, ten, ta, tb := groupRegistry(t)
	for p := range int32(3) {
		pid := registry.PartitionID{Tenant: ten, Topic: ta, Partition: p}
		groupFill(t, reg, pid, 10)
		groupFill(t, reg, pid, 10)
	}
	// Retention moved partition 0's log start to 10.
	if _, err := reg.DeleteSegmentsBefore(ctx, registry.PartitionID{Tenant: ten, Topic: ta}, registry.AnyEpoch, 10); err != nil {
		t.Fatal(err)
	}
	oft := func(_ context.Context, topic int64, partition int32, ts time.Time) (int64, error) {
		if topic != ta {
			return 0, fmt.Errorf("topic %d", topic)
		}
		return ts.Unix() + int64(partition), nil // a fake index: offset = seconds + partition
	}
	c := newTestCoordinator(t, reg, ten, oft)
	m, err := c.Join(ctx, JoinRequest{Topics: []int64{ta}}, groupT0)
	if err != nil {
		t.Fatal(err)
	}
	var ne *GroupNotEmptyError
	if _, err := c.ResetOffsets(ctx, OffsetReset{Topics: []int64{ta}, To: ResetLatest}); !errors.As(err, &ne) || ne.Members != 1 || !errors.Is(err, ErrGroupNotEmpty) {
		t.Fatalf("reset with members: %v", err)
	}
	if err := c.Leave(m.MemberID); err != nil {
		t.Fatal(err)
	}

	offsets := func(gos []registry.GroupOffset) []int64 {
		var out []int64
		for _, o := range gos {
			out = append(out, o.Offset)
		}
		return out
	}
	tests := []struct {
		name string
		req  OffsetReset
		want []int64
	}{
		{"earliest", OffsetReset{Topics: []int64{ta}, To: ResetEarliest}, []int64{10, 0, 0}},
		{"latest", OffsetReset{Topics: []int64{ta}, To: ResetLatest}, []int64{20, 20, 20}},
		{"offset", OffsetReset{Topics: []int64{ta}, To: ResetToOffset, Offset: 5}, []int64{10, 5, 5}},
		{"offset past the end", OffsetReset{Topics: []int64{ta}, To: ResetToOffset, Offset: 99}, []int64{20, 20, 20}},
		{"time", OffsetReset{Topics: []int64{ta}, To: ResetToTime, Time: time.Unix(12, 0)}, []int64{12, 13, 14}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrote, err := c.ResetOffsets(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsets(wrote); !slices.Equal(got, tt.want) {
				t.Fatalf("wrote %v, want %v", got, tt.want)
			}
			fetched, err := reg.FetchOffsets(ctx, ten, "g")
			if err != nil || !slices.Equal(offsets(fetched), tt.want) {
				t.Fatalf("fetched %v %v, want %v", offsets(fetched), err, tt.want)
			}
		})
	}
	if _, err := c.ResetOffsets(ctx, OffsetReset{Topics: []int64{tb}, To: ResetToTime}); err == nil {
		t.Fatal("OffsetForTime error not returned")
	}
	if _, err := c.ResetOffsets(ctx, OffsetReset{Topics: []int64{12345}}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	// Without OffsetForTime a reset by time fails; a failed reset ends the
	// resetting state.
	c2 := newTestCoordinator(t, reg, ten, nil)
	if _, err := c2.ResetOffsets(ctx, OffsetReset{Topics: []int64{ta}, To: ResetToTime}); err == nil {
		t.Fatal("reset to time without OffsetForTime")
	}
	if d := c2.Describe(); d.State != GroupEmpty {
		t.Fatalf("state after a failed reset: %v", d.State)
	}
}

func TestGroupResetExcludesJoins(t *testing.T) {
	g := newTestGroup(t)
	if err := g.beginReset(); err != nil {
		t.Fatal(err)
	}
	if d := g.Describe(); d.State != GroupResetting {
		t.Fatalf("state %v", d.State)
	}
	if _, err := g.Join(JoinRequest{Topics: []int64{1}}, groupT0); !errors.Is(err, ErrResetInProgress) {
		t.Fatalf("join during reset: %v", err)
	}
	if err := g.beginReset(); !errors.Is(err, ErrResetInProgress) {
		t.Fatalf("second reset: %v", err)
	}
	g.endReset()
	groupJoin(t, g, JoinRequest{Topics: []int64{1}}, groupT0)
}

// TestGroupCoordinatorRace runs members that join, heartbeat, commit and
// leave, an expirer and a lag reader at once, under -race.
func TestGroupCoordinatorRace(t *testing.T) {
	ctx := t.Context()
	reg, ten, ta, tb := groupRegistry(t)
	c, err := NewGroupCoordinator(GroupConfig{Tenant: ten, Name: "g", Store: reg}) // random member ids
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		clock  sync.Mutex
		virtNs int64
	)
	now := func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		virtNs += int64(100 * time.Millisecond)
		return groupT0.Add(time.Duration(virtNs))
	}
	for w := range 4 {
		wg.Go(func() {
			for range 15 {
				req := JoinRequest{ClientID: fmt.Sprint("w", w), Topics: []int64{ta, tb}, Strategy: StrategySticky, SessionTimeout: 6 * time.Second}
				r, err := c.Join(ctx, req, now())
				for errors.Is(err, ErrResetInProgress) { // retriable
					r, err = c.Join(ctx, req, now())
				}
				if err != nil {
					t.Errorf("join: %v", err)
					return
				}
				gen := r.Generation
				for range 5 {
					err := c.Heartbeat(r.MemberID, gen, now())
					var ge *GenerationError
					switch {
					case errors.As(err, &ge):
						gen = ge.Current
					case errors.Is(err, ErrUnknownMember):
						return
					case err != nil:
						t.Errorf("heartbeat: %v", err)
						return
					}
					own, err := c.Assignment(r.MemberID, gen)
					if err != nil {
						continue // rebalanced again meanwhile
					}
					var offs []registry.GroupOffset
					for _, tp := range own {
						offs = append(offs, registry.GroupOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(gen)})
					}
					err = c.CommitOffsets(ctx, r.MemberID, gen, offs)
					if err != nil && !errors.Is(err, ErrIllegalGeneration) && !errors.Is(err, ErrUnknownMember) {
						t.Errorf("commit: %v", err)
					}
				}
				if err := c.Leave(r.MemberID); err != nil && !errors.Is(err, ErrUnknownMember) {
					t.Errorf("leave: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			c.Expire(now())
			if _, err := c.Lag(ctx); err != nil {
				t.Errorf("lag: %v", err)
			}
			d := c.Describe()
			seen := map[TopicPartition]bool{}
			for _, m := range d.Members {
				for _, tp := range m.Assignment {
					if seen[tp] {
						t.Errorf("%s assigned twice in generation %d", tp, d.Generation)
					}
					seen[tp] = true
				}
			}
			if _, err := c.ResetOffsets(ctx, OffsetReset{Topics: []int64{ta}, To: ResetEarliest}); err != nil &&
				!errors.Is(err, ErrGroupNotEmpty) && !errors.Is(err, ErrResetInProgress) {
				t.Errorf("reset: %v", err)
			}
		}
	})
	wg.Wait()
}
