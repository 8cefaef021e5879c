package cells

import (
	"fmt"
	"testing"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// TestQuotasAddUp checks that the agents' quotas, each computed alone from
// one view of the live agents, add up to the partitions and differ by at
// most one.
func TestQuotasAddUp(t *testing.T) {
	t.Parallel()
	for agents := 1; agents <= 7; agents++ {
		live := make(map[string]bool)
		for i := range agents {
			live[fmt.Sprintf("agent-%d", i)] = true
		}
		for parts := 0; parts <= 20; parts++ {
			sum, lo, hi := 0, parts, 0
			for id := range live {
				s := &supervisor{a: &Agent{cfg: AgentConfig{AgentID: id}}, live: live}
				q := s.quota(parts)
				sum += q
				lo, hi = min(lo, q), max(hi, q)
			}
			if sum != parts || hi-lo > 1 {
				t.Errorf("%d agents, %d partitions: quotas sum to %d, range [%d, %d]", agents, parts, sum, lo, hi)
			}
		}
	}
}

// TestRendezvousSpread checks that each agent prefers a different share of
// the partitions: the top-ranked agent of 4000 partitions among 4 agents
// gets about a quarter each.
func TestRendezvousSpread(t *testing.T) {
	t.Parallel()
	agents := []string{"a", "b", "c", "d"}
	top := make(map[string]int)
	for p := range int32(4000) {
		key := LeaseKey{Tenant: 1, Topic: 7, Partition: p}
		best := ""
		for _, a := range agents {
			if best == "" || score(key, a) > score(key, best) {
				best = a
			}
		}
		top[best]++
	}
	for _, a := range agents {
		if top[a] < 800 || top[a] > 1200 {
			t.Errorf("agent %s ranks first for %d of 4000 partitions, want about 1000 (%v)", a, top[a], top)
		}
	}
}

func TestProduceCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want wire.Code
	}{
		{partition.ErrBusy, wire.Busy},
		{&partition.NotOwnerError{Err: registry.ErrEpochFenced}, wire.NotOwner},
		{fmt.Errorf("x: %w", partition.ErrStopped), wire.NotOwner},
		{partition.ErrActorFailed, wire.Unavailable},
		{fmt.Errorf("%w (%v)", partition.ErrOutcomeUnknown, &partition.NotOwnerError{Err: registry.ErrEpochFenced}), wire.Unavailable},
		{&partition.SequenceError{ProducerID: 1, Expected: 2, Got: 4}, wire.SequenceGap},
		{fmt.Errorf("x: %w", partition.ErrProducerFenced), wire.ProducerFenced},
		{fmt.Errorf("x: %w", partition.ErrInvalidBatch), wire.Invalid},
		{fmt.Errorf("something else"), wire.Internal},
	} {
		if got := produceCode(tc.err); got != tc.want {
			t.Errorf("produceCode(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
