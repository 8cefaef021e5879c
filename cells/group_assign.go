package cells

import (
	"cmp"
	"fmt"
	"slices"
)

// Assignment strategies a consumer group may use, by the names Kafka
// clients send.
const (
	// StrategyRange is Kafka's RangeAssignor: per topic, the members
	// subscribed to it (sorted by id) get consecutive ranges of its
	// partitions, the first ones one partition more when the count does not
	// divide evenly. The default.
	StrategyRange = "range"
	// StrategyRoundRobin is Kafka's RoundRobinAssignor: all subscribed
	// topic-partitions, sorted, dealt in turn to the members (sorted by id),
	// skipping a member not subscribed to the partition's topic.
	StrategyRoundRobin = "roundrobin"
	// StrategySticky keeps each member's previous partitions where still
	// valid, then balances with as few moves as it can (see AssignSticky).
	StrategySticky = "sticky"
)

// TopicPartition names one partition of a topic by the topic's registry id.
type TopicPartition struct {
	Topic     int64
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%d/%d", tp.Topic, tp.Partition) }

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// AssignMember is one member as an assignor sees it.
type AssignMember struct {
	ID string
	// Topics are the topic ids the member subscribes to; a topic missing
	// from the partition counts is ignored.
	Topics []int64
	// Previous is the member's assignment of the last generation; only the
	// sticky strategy reads it.
	Previous []TopicPartition
}

// Assignments maps a member id to its partitions, sorted. Every member given
// to an assignor has an entry, possibly empty.
type Assignments map[string][]TopicPartition

// Assign computes an assignment with the named strategy ("" is
// StrategyRange). It is a pure function of its arguments: the same members
// and counts give the same result whatever their order. An unknown strategy
// gives ErrUnknownStrategy.
func Assign(strategy string, members []AssignMember, partitions map[int64]int32) (Assignments, error) {
	switch strategy {
	case StrategyRange, "":
		return AssignRange(members, partitions), nil
	case StrategyRoundRobin:
		return AssignRoundRobin(members, partitions), nil
	case StrategySticky:
		return AssignSticky(members, partitions), nil
	}
	return nil, fmt.Errorf("assignment strategy %q: %w", strategy, ErrUnknownStrategy)
}

// ValidStrategy reports whether Assign knows the strategy ("" counts as
// StrategyRange).
func ValidStrategy(s string) bool {
	return s == "" || s == StrategyRange || s == StrategyRoundRobin || s == StrategySticky
}

// sortedMembers returns the members sorted by id, each with its known
// subscribed topics sorted and de-duplicated.
func sortedMembers(members []AssignMember, partitions map[int64]int32) []AssignMember {
	out := make([]AssignMember, len(members))
	for i, m := range members {
		var topics []int64
		for _, t := range m.Topics {
			if partitions[t] > 0 {
				topics = append(topics, t)
			}
		}
		slices.Sort(topics)
		m.Topics = slices.Compact(topics)
		out[i] = m
	}
	slices.SortFunc(out, func(a, b AssignMember) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func emptyAssignments(members []AssignMember) Assignments {
	out := make(Assignments, len(members))
	for _, m := range members {
		out[m.ID] = []TopicPartition{}
	}
	return out
}

func sortAssignments(a Assignments) Assignments {
	for _, tps := range a {
		slices.SortFunc(tps, compareTP)
	}
	return a
}

// AssignRange is Kafka's RangeAssignor; see StrategyRange.
func AssignRange(members []AssignMember, partitions map[int64]int32) Assignments {
	ms := sortedMembers(members, partitions)
	out := emptyAssignments(ms)
	subscribers := map[int64][]string{}
	for _, m := range ms { // sorted by id, so each list is too
		for _, t := range m.Topics {
			subscribers[t] = append(subscribers[t], m.ID)
		}
	}
	for t, subs := range subscribers {
		n := int(partitions[t])
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for i, id := range subs {
			count := per
			if i < extra {
				count++
			}
			for range count {
				out[id] = append(out[id], TopicPartition{t, int32(p)})
				p++
			}
		}
	}
	return sortAssignments(out)
}

// AssignRoundRobin is Kafka's RoundRobinAssignor; see StrategyRoundRobin.
func AssignRoundRobin(members []AssignMember, partitions map[int64]int32) Assignments {
	ms := sortedMembers(members, partitions)
	out := emptyAssignments(ms)
	if len(ms) == 0 {
		return out
	}
	subscribed := make([]map[int64]bool, len(ms))
	var topics []int64
	for i, m := range ms {
		subscribed[i] = map[int64]bool{}
		for _, t := range m.Topics {
			subscribed[i][t] = true
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	next := 0 // the circular iterator over the sorted members
	for _, t := range topics {
		for p := range partitions[t] {
			for !subscribed[next][t] { // some member subscribes to t
				next = (next + 1) % len(ms)
			}
			out[ms[next].ID] = append(out[ms[next].ID], TopicPartition{t, p})
			next = (next + 1) % len(ms)
		}
	}
	return sortAssignments(out)
}

// AssignSticky keeps each member's previous partitions where still valid
// (the topic still subscribed by the member and the partition still
// existing; a partition claimed by two members goes to the one whose id
// sorts first), deals the partitions left over one by one (sorted) to the
// eligible member with the fewest, and then moves partitions one at a time
// from the fullest member to the emptiest eligible one while they differ by
// two or more. The result is balanced in Kafka's sense: for any two members
// whose counts differ by more than one, none of the bigger one's partitions
// is eligible for the smaller one; with equal subscriptions that is max −
// min ≤ 1. Each move lowers the sum of squared counts, so it terminates, and
// only partitions that must move for the balance do.
func AssignSticky(members []AssignMember, partitions map[int64]int32) Assignments {
	ms := sortedMembers(members, partitions)
	out := emptyAssignments(ms)
	if len(ms) == 0 {
		return out
	}
	eligible := make(map[string]map[int64]bool, len(ms))
	for _, m := range ms {
		eligible[m.ID] = map[int64]bool{}
		for _, t := range m.Topics {
			eligible[m.ID][t] = true
		}
	}
	owner := map[TopicPartition]string{}
	for _, m := range ms {
		prev := slices.Clone(m.Previous)
		slices.SortFunc(prev, compareTP)
		for _, tp := range slices.Compact(prev) {
			if !eligible[m.ID][tp.Topic] || tp.Partition < 0 || tp.Partition >= partitions[tp.Topic] {
				continue
			}
			if _, taken := owner[tp]; taken {
				continue
			}
			owner[tp] = m.ID
			out[m.ID] = append(out[m.ID], tp)
		}
	}
	// fewest returns the eligible member with the fewest partitions (ties:
	// the smaller id), or "" if none is eligible.
	fewest := func(topic int64, except string, below int) string {
		best := ""
		for _, m := range ms {
			if m.ID == except || !eligible[m.ID][topic] || len(out[m.ID]) >= below {
				continue
			}
			if best == "" || len(out[m.ID]) < len(out[best]) {
				best = m.ID
			}
		}
		return best
	}
	var topics []int64
	for t := range partitions {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		for p := range partitions[t] {
			tp := TopicPartition{t, p}
			if _, ok := owner[tp]; ok {
				continue
			}
			if id := fewest(t, "", int(^uint(0)>>1)); id != "" {
				owner[tp] = id
				out[id] = append(out[id], tp)
			}
		}
	}
	// Balance: move one partition at a time from a fullest member to the
	// emptiest eligible member holding at least two fewer.
	for {
		order := slices.Clone(ms)
		slices.SortStableFunc(order, func(a, b AssignMember) int { return cmp.Compare(len(out[b.ID]), len(out[a.ID])) })
		moved := false
		for _, from := range order {
			tps := out[from.ID]
			slices.SortFunc(tps, compareTP)
			// Give away the last partitions first, so a member keeps the
			// start of its sorted list.
			for i := len(tps) - 1; i >= 0 && !moved; i-- {
				to := fewest(tps[i].Topic, from.ID, len(tps)-1)
				if to == "" {
					continue
				}
				out[to] = append(out[to], tps[i])
				out[from.ID] = slices.Delete(tps, i, i+1)
				moved = true
			}
			if moved {
				break
			}
		}
		if !moved {
			return sortAssignments(out)
		}
	}
}
