package cells

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// groupFmt renders an assignment as "a=[1/0 1/1] b=[]", members sorted.
func groupFmt(a Assignments) string {
	ids := make([]string, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		parts := make([]string, len(a[id]))
		for j, tp := range a[id] {
			parts[j] = tp.String()
		}
		fmt.Fprintf(&b, "%s=[%s]", id, strings.Join(parts, " "))
	}
	return b.String()
}

// groupCheckCover fails unless every partition of a topic some member
// subscribes to is assigned exactly once, to a member subscribed to it.
func groupCheckCover(t *testing.T, members []AssignMember, partitions map[int64]int32, a Assignments) {
	t.Helper()
	subs := map[string]map[int64]bool{}
	wanted := map[int64]bool{}
	for _, m := range members {
		subs[m.ID] = map[int64]bool{}
		for _, tp := range m.Topics {
			subs[m.ID][tp] = true
			wanted[tp] = true
		}
		if _, ok := a[m.ID]; !ok {
			t.Errorf("member %s has no entry", m.ID)
		}
	}
	seen := map[TopicPartition]string{}
	for id, tps := range a {
		for _, tp := range tps {
			if prev, dup := seen[tp]; dup {
				t.Errorf("%s assigned to %s and %s", tp, prev, id)
			}
			seen[tp] = id
			if !subs[id][tp.Topic] {
				t.Errorf("%s assigned to %s, not subscribed", tp, id)
			}
		}
	}
	for topic := range wanted {
		for p := range partitions[topic] {
			if _, ok := seen[TopicPartition{topic, p}]; !ok {
				t.Errorf("%d/%d unassigned", topic, p)
			}
		}
	}
}

// groupCheckBalanced fails unless no partition could move from a member to
// one holding two fewer that is subscribed to its topic.
func groupCheckBalanced(t *testing.T, members []AssignMember, a Assignments) {
	t.Helper()
	for _, from := range members {
		for _, to := range members {
			if len(a[from.ID]) < len(a[to.ID])+2 {
				continue
			}
			for _, tp := range a[from.ID] {
				if slices.Contains(to.Topics, tp.Topic) {
					t.Errorf("unbalanced: %s (%d) could give %s to %s (%d): %s",
						from.ID, len(a[from.ID]), tp, to.ID, len(a[to.ID]), groupFmt(a))
					return
				}
			}
		}
	}
}

func groupMembers(subs map[string][]int64) []AssignMember {
	var ms []AssignMember
	for id, topics := range subs {
		ms = append(ms, AssignMember{ID: id, Topics: topics})
	}
	return ms
}

func TestGroupAssignRange(t *testing.T) {
	tests := []struct {
		name  string
		subs  map[string][]int64
		parts map[int64]int32
		want  string
	}{
		{"even", map[string][]int64{"a": {1}, "b": {1}}, map[int64]int32{1: 4},
			"a=[1/0 1/1] b=[1/2 1/3]"},
		// Kafka's example: 2 members, 2 topics of 3: a gets p0,p1 of each.
		{"uneven per topic", map[string][]int64{"a": {1, 2}, "b": {1, 2}}, map[int64]int32{1: 3, 2: 3},
			"a=[1/0 1/1 2/0 2/1] b=[1/2 2/2]"},
		{"more members than partitions", map[string][]int64{"a": {1}, "b": {1}, "c": {1}}, map[int64]int32{1: 2},
			"a=[1/0] b=[1/1] c=[]"},
		{"different topics", map[string][]int64{"a": {1}, "b": {1, 2}, "c": {2}}, map[int64]int32{1: 3, 2: 2},
			"a=[1/0 1/1] b=[1/2 2/0] c=[2/1]"},
		{"unknown topic ignored", map[string][]int64{"a": {1, 9}}, map[int64]int32{1: 1},
			"a=[1/0]"},
		{"no members", map[string][]int64{}, map[int64]int32{1: 3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := groupMembers(tt.subs)
			got := AssignRange(ms, tt.parts)
			if s := groupFmt(got); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
			groupCheckCover(t, ms, tt.parts, got)
		})
	}
}

func TestGroupAssignRoundRobin(t *testing.T) {
	tests := []struct {
		name  string
		subs  map[string][]int64
		parts map[int64]int32
		want  string
	}{
		// Kafka's example: C0, C1 over t0, t1 of 3 partitions each.
		{"kafka example", map[string][]int64{"c0": {0, 1}, "c1": {0, 1}}, map[int64]int32{0: 3, 1: 3},
			"c0=[0/0 0/2 1/1] c1=[0/1 1/0 1/2]"},
		// Kafka's example with different subscriptions: C0 {t0}, C1 {t0,t1},
		// C2 {t0,t1,t2}; t0 1 partition, t1 2, t2 3.
		{"kafka different subscriptions",
			map[string][]int64{"c0": {0}, "c1": {0, 1}, "c2": {0, 1, 2}}, map[int64]int32{0: 1, 1: 2, 2: 3},
			"c0=[0/0] c1=[1/0] c2=[1/1 2/0 2/1 2/2]"},
		{"uneven", map[string][]int64{"a": {1}, "b": {1}, "c": {1}}, map[int64]int32{1: 5},
			"a=[1/0 1/3] b=[1/1 1/4] c=[1/2]"},
		{"no members", map[string][]int64{}, map[int64]int32{1: 3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := groupMembers(tt.subs)
			got := AssignRoundRobin(ms, tt.parts)
			if s := groupFmt(got); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
			groupCheckCover(t, ms, tt.parts, got)
		})
	}
}

func TestGroupAssignSticky(t *testing.T) {
	tests := []struct {
		name    string
		members []AssignMember
		parts   map[int64]int32
		want    string
	}{
		{"fresh", []AssignMember{{ID: "a", Topics: []int64{1}}, {ID: "b", Topics: []int64{1}}},
			map[int64]int32{1: 5}, "a=[1/0 1/2 1/4] b=[1/1 1/3]"},
		{"keeps previous", []AssignMember{
			{ID: "a", Topics: []int64{1}, Previous: []TopicPartition{{1, 3}, {1, 4}}},
			{ID: "b", Topics: []int64{1}, Previous: []TopicPartition{{1, 0}, {1, 1}}}},
			map[int64]int32{1: 5}, "a=[1/2 1/3 1/4] b=[1/0 1/1]"},
		{"drops invalid previous", []AssignMember{
			{ID: "a", Topics: []int64{1}, Previous: []TopicPartition{{1, 7}, {2, 0}, {1, 1}}},
			{ID: "b", Topics: []int64{1}, Previous: []TopicPartition{{1, 1}}}},
			map[int64]int32{1: 2, 2: 1}, "a=[1/1] b=[1/0]"},
		{"balances an overfull member", []AssignMember{
			{ID: "a", Topics: []int64{1}, Previous: []TopicPartition{{1, 0}, {1, 1}, {1, 2}, {1, 3}}},
			{ID: "b", Topics: []int64{1}}},
			map[int64]int32{1: 4}, "a=[1/0 1/1] b=[1/2 1/3]"},
		{"different topics", []AssignMember{
			{ID: "a", Topics: []int64{1}}, {ID: "b", Topics: []int64{1, 2}}, {ID: "c", Topics: []int64{2}}},
			map[int64]int32{1: 3, 2: 3}, "a=[1/0 1/2] b=[1/1 2/1] c=[2/0 2/2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AssignSticky(tt.members, tt.parts)
			if s := groupFmt(got); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
			groupCheckCover(t, tt.members, tt.parts, got)
			groupCheckBalanced(t, tt.members, got)
			// Deterministic whatever the order of the members.
			rev := slices.Clone(tt.members)
			slices.Reverse(rev)
			if again := AssignSticky(rev, tt.parts); !reflect.DeepEqual(again, got) {
				t.Errorf("order-dependent: %s vs %s", groupFmt(again), groupFmt(got))
			}
		})
	}
}

// groupWithPrevious gives each member its partitions of a as Previous.
func groupWithPrevious(ms []AssignMember, a Assignments) []AssignMember {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Previous = a[out[i].ID]
	}
	return out
}

// groupMoved counts partitions owned in both assignments by different
// members.
func groupMoved(before, after Assignments) int {
	owner := map[TopicPartition]string{}
	for id, tps := range before {
		for _, tp := range tps {
			owner[tp] = id
		}
	}
	moved := 0
	for id, tps := range after {
		for _, tp := range tps {
			if prev, ok := owner[tp]; ok && prev != id {
				moved++
			}
		}
	}
	return moved
}

func TestGroupAssignStickyMinimalMovement(t *testing.T) {
	parts := map[int64]int32{1: 12, 2: 7}
	var ms []AssignMember
	for i := range 4 {
		ms = append(ms, AssignMember{ID: fmt.Sprintf("m%d", i), Topics: []int64{1, 2}})
	}
	before := AssignSticky(ms, parts)

	// A member joins: only the partitions it gets move, and no other.
	joined := append(groupWithPrevious(ms, before), AssignMember{ID: "m9", Topics: []int64{1, 2}})
	after := AssignSticky(joined, parts)
	groupCheckCover(t, joined, parts, after)
	groupCheckBalanced(t, joined, after)
	if got, want := groupMoved(before, after), len(after["m9"]); got != want || want != 19/5 {
		t.Errorf("join moved %d partitions, want %d (the newcomer's share, 3): %s", got, want, groupFmt(after))
	}
	// Range would have moved many more.
	if rm := groupMoved(AssignRange(ms, parts), AssignRange(joined, parts)); rm <= len(after["m9"]) {
		t.Errorf("range moved %d, expected more than sticky", rm)
	}

	// A member leaves: only its partitions move.
	left := groupWithPrevious(joined, after)
	gone := after["m1"]
	left = slices.DeleteFunc(left, func(m AssignMember) bool { return m.ID == "m1" })
	final := AssignSticky(left, parts)
	groupCheckCover(t, left, parts, final)
	groupCheckBalanced(t, left, final)
	stayed := Assignments{}
	for id, tps := range after {
		if id != "m1" {
			stayed[id] = tps
		}
	}
	if got := groupMoved(stayed, final); got != 0 {
		t.Errorf("leave moved %d partitions of staying members, want 0: %s", got, groupFmt(final))
	}
	for _, tp := range gone {
		found := false
		for _, tps := range final {
			found = found || slices.Contains(tps, tp)
		}
		if !found {
			t.Errorf("the leaver's %s not reassigned", tp)
		}
	}
}

func TestGroupAssignStickyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		parts := map[int64]int32{}
		for topic := range int64(1 + rng.IntN(4)) {
			parts[topic+1] = int32(1 + rng.IntN(9))
		}
		var ms []AssignMember
		for i := range 1 + rng.IntN(6) {
			var topics []int64
			for topic := range parts {
				if rng.IntN(3) > 0 {
					topics = append(topics, topic)
				}
			}
			ms = append(ms, AssignMember{ID: fmt.Sprintf("m%d", i), Topics: topics})
		}
		// Random previous assignment, possibly overlapping and stale.
		for i := range ms {
			for range rng.IntN(6) {
				ms[i].Previous = append(ms[i].Previous,
					TopicPartition{int64(1 + rng.IntN(5)), int32(rng.IntN(10))})
			}
		}
		a := AssignSticky(ms, parts)
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			groupCheckCover(t, ms, parts, a)
			groupCheckBalanced(t, ms, a)
			same := true
			for _, m := range ms {
				same = same && slices.Equal(m.Topics, ms[0].Topics)
			}
			if same {
				lo, hi := 1<<30, 0
				for _, tps := range a {
					lo, hi = min(lo, len(tps)), max(hi, len(tps))
				}
				if hi-lo > 1 {
					t.Errorf("equal subscriptions, max %d − min %d > 1: %s", hi, lo, groupFmt(a))
				}
			}
			// Stable: assigning again from the result changes nothing.
			if again := AssignSticky(groupWithPrevious(ms, a), parts); !reflect.DeepEqual(again, a) {
				t.Errorf("not stable: %s then %s", groupFmt(a), groupFmt(again))
			}
		})
	}
}

func TestGroupAssignUnknownStrategy(t *testing.T) {
	if _, err := Assign("cooperative-sticky", nil, nil); !errors.Is(err, ErrUnknownStrategy) {
		t.Fatalf("got %v, want ErrUnknownStrategy", err)
	}
	for _, s := range []string{"", StrategyRange, StrategyRoundRobin, StrategySticky} {
		if _, err := Assign(s, []AssignMember{{ID: "a", Topics: []int64{1}}}, map[int64]int32{1: 1}); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// BenchmarkGroupAssignSticky rebalances 2000 partitions of 20 topics over 100
// members with mixed subscriptions after one member joined.
func BenchmarkGroupAssignSticky(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	parts := map[int64]int32{}
	for topic := range int64(20) {
		parts[topic] = 100
	}
	var ms []AssignMember
	for i := range 100 {
		var topics []int64
		for topic := range int64(20) {
			if rng.IntN(4) > 0 {
				topics = append(topics, topic)
			}
		}
		ms = append(ms, AssignMember{ID: fmt.Sprintf("m%03d", i), Topics: topics})
	}
	prev := AssignSticky(ms[:99], parts)
	ms = groupWithPrevious(ms, prev)
	for b.Loop() {
		AssignSticky(ms, parts)
	}
}
