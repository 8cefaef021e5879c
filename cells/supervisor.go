package cells

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
)

// supervisor is the agent's one loop that decides which partitions it owns.
// Everything in it belongs to the loop's goroutine (run); the watchers and
// the slots talk to it through channels.
//
// Fair share: the live agents (heartbeat keys present, this one always
// included) are sorted by id; with P partitions and A agents, the first
// P mod A get ⌈P/A⌉ partitions and the rest ⌊P/A⌋, so the quotas add up to P
// and every agent computes everyone's from the same view. An agent under its
// quota acquires free partitions, those it ranks highest first (rendezvous
// hashing of partition key and agent id, so agents do not race for the same
// ones); an agent over it hands back gracefully (unsubscribe, stop the actor
// with a flush and commit, release the lease) the ones it ranks lowest. A
// partition left free for a lease TTL (its owner's heartbeat still present,
// say) is an orphan, and any agent takes it regardless of quota.
type supervisor struct {
	a   *Agent
	log *slog.Logger

	leaseUpdates chan leaseUpdate     // from the lease watcher
	members      chan map[string]bool // from the heartbeat watcher
	slotDone     chan *slot           // a slot's goroutine has ended

	holders map[LeaseKey]string // every held lease, as the watcher last told
	live    map[string]bool     // live agents, as the heartbeat watcher last told
	parts   map[LeaseKey]registry.Durability
	slots   map[LeaseKey]*slot

	freeSince map[LeaseKey]time.Time // when a partition was first seen free
	retryAt   map[LeaseKey]time.Time // not before: after a failed takeover

	// The views the rebalance needs before its first decision: without
	// them an agent would count itself alone, take everything and hand it
	// back a moment later.
	haveLeases, haveMembers bool

	workCtx    context.Context // the slots' parent: outlives Run's ctx for the drain
	workCancel context.CancelFunc
	slotsWG    sync.WaitGroup
	draining   bool
}

func newSupervisor(a *Agent) *supervisor {
	s := &supervisor{
		a:            a,
		log:          a.log,
		leaseUpdates: make(chan leaseUpdate, 64),
		members:      make(chan map[string]bool, 1),
		slotDone:     make(chan *slot),
		holders:      make(map[LeaseKey]string),
		live:         make(map[string]bool),
		parts:        make(map[LeaseKey]registry.Durability),
		slots:        make(map[LeaseKey]*slot),
		freeSince:    make(map[LeaseKey]time.Time),
		retryAt:      make(map[LeaseKey]time.Time),
	}
	s.workCtx, s.workCancel = context.WithCancel(context.Background())
	return s
}

// run is the supervisor's loop. It heartbeats, re-reads the registry, and
// rebalances on every change it hears of; when ctx ends it drains and
// returns once every slot has ended.
func (s *supervisor) run(ctx context.Context) error {
	defer s.workCancel()
	ttl := s.a.cfg.LeaseTTL
	s.heartbeat(ctx)
	if err := s.refreshPartitions(ctx); err != nil {
		s.log.Warn("read partitions", "err", err)
	}
	beat := time.NewTicker(ttl / 3)
	defer beat.Stop()
	reread := time.NewTicker(s.a.cfg.RebalanceInterval)
	defer reread.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.drain()
		case u := <-s.leaseUpdates:
			s.applyLease(u)
		case live := <-s.members:
			s.live, s.haveMembers = live, true
		case sl := <-s.slotDone:
			s.ended(sl)
		case <-beat.C:
			s.heartbeat(ctx)
		case <-reread.C:
			if err := s.refreshPartitions(ctx); err != nil {
				s.log.Warn("read partitions", "err", err)
			}
		case <-s.a.kick:
			if err := s.refreshPartitions(ctx); err != nil {
				s.log.Warn("read partitions", "err", err)
			}
		}
		s.rebalance(ctx)
	}
}

// heartbeat writes this agent's key in the heartbeat bucket; its age then
// starts at zero.
func (s *supervisor) heartbeat(ctx context.Context) {
	hctx, cancel := context.WithTimeout(ctx, s.a.cfg.LeaseTTL/3)
	defer cancel()
	if _, err := s.a.agents.PutString(hctx, s.a.cfg.AgentID, s.a.cfg.AgentID); err != nil && ctx.Err() == nil {
		s.log.Warn("heartbeat", "err", err)
	}
}

// refreshPartitions reads every partition of every tenant's topics.
func (s *supervisor) refreshPartitions(ctx context.Context) error {
	reg := s.a.cfg.Registry
	tenants, err := reg.ListTenants(ctx)
	if err != nil {
		return err
	}
	parts := make(map[LeaseKey]registry.Durability, len(s.parts))
	for _, tn := range tenants {
		topics, err := reg.ListTopics(ctx, tn.ID)
		if err != nil {
			return err
		}
		for _, tp := range topics {
			for p := range tp.Partitions {
				parts[LeaseKey{Tenant: tn.ID, Topic: tp.ID, Partition: p}] = tp.Durability
			}
		}
	}
	s.parts = parts
	return nil
}

func (s *supervisor) applyLease(u leaseUpdate) {
	if u.snapshot != nil {
		s.holders, s.haveLeases = u.snapshot, true
		return
	}
	switch u.event.Kind {
	case LeaseAcquired:
		s.holders[u.event.Key] = u.event.Holder
	case LeaseReleased, LeaseExpired:
		delete(s.holders, u.event.Key)
	}
}

// ended forgets a slot whose goroutine has returned.
func (s *supervisor) ended(sl *slot) {
	delete(s.slots, sl.key)
	if s.holders[sl.key] == s.a.cfg.AgentID {
		delete(s.holders, sl.key) // released, or about to lapse
	}
	if sl.startErr != nil {
		s.retryAt[sl.key] = time.Now().Add(s.a.cfg.LeaseTTL)
	}
}

// quota is this agent's fair share of n partitions among the live agents.
func (s *supervisor) quota(n int) int {
	live := make([]string, 0, len(s.live)+1)
	for id := range s.live {
		live = append(live, id)
	}
	self := s.a.cfg.AgentID
	if !s.live[self] {
		live = append(live, self)
	}
	slices.Sort(live)
	i := slices.Index(live, self)
	q := n / len(live)
	if i < n%len(live) {
		q++
	}
	return q
}

// rebalance moves this agent towards its fair share: it hands back what is
// over its quota or no longer exists, and acquires free partitions up to its
// quota, plus orphans.
func (s *supervisor) rebalance(ctx context.Context) {
	if s.draining || ctx.Err() != nil || !s.haveLeases || !s.haveMembers {
		return
	}
	self := s.a.cfg.AgentID
	now := time.Now()

	owned := make([]*slot, 0, len(s.slots))
	for key, sl := range s.slots {
		if _, ok := s.parts[key]; !ok {
			sl.handBack() // its topic is gone
		}
		if !sl.handingBack {
			owned = append(owned, sl)
		}
	}
	quota := s.quota(len(s.parts))

	if len(owned) > quota {
		// Hand back the ones this agent ranks lowest.
		slices.SortFunc(owned, func(x, y *slot) int { return cmpScore(score(x.key, self), score(y.key, self)) })
		for _, sl := range owned[:len(owned)-quota] {
			s.log.Info("handing partition back", "partition", sl.key.String(), "quota", quota)
			sl.handBack()
		}
		return
	}

	var free []LeaseKey
	for key := range s.parts {
		if _, held := s.holders[key]; held {
			delete(s.freeSince, key)
			continue
		}
		if _, mine := s.slots[key]; mine {
			continue
		}
		if _, ok := s.freeSince[key]; !ok {
			s.freeSince[key] = now
		}
		if at, ok := s.retryAt[key]; ok {
			if now.Before(at) {
				continue
			}
			delete(s.retryAt, key)
		}
		free = append(free, key)
	}
	for key := range s.freeSince {
		if _, ok := s.parts[key]; !ok {
			delete(s.freeSince, key)
		}
	}
	slices.SortFunc(free, func(x, y LeaseKey) int { return cmpScore(score(y, self), score(x, self)) })
	want := quota - len(owned)
	for _, key := range free {
		orphan := now.Sub(s.freeSince[key]) >= s.a.cfg.LeaseTTL
		if want <= 0 && !orphan {
			continue
		}
		if s.acquire(ctx, key) {
			want--
		}
	}
	s.a.assigned.Store(true)
}

// acquire takes the lease on key and starts the partition's slot.
func (s *supervisor) acquire(ctx context.Context, key LeaseKey) bool {
	actx, cancel := context.WithTimeout(ctx, s.a.cfg.LeaseTTL/2)
	defer cancel()
	lease, err := s.a.leases.Acquire(actx, key)
	if err != nil {
		var held *LeaseHeldError
		if errors.As(err, &held) && held.Holder != "" {
			s.holders[key] = held.Holder // the watcher will say so too
		} else if ctx.Err() == nil {
			s.log.Warn("acquire lease", "partition", key.String(), "err", err)
		}
		return false
	}
	s.holders[key] = s.a.cfg.AgentID
	s.a.metrics.acquired()
	delete(s.freeSince, key)
	sl := newSlot(s.workCtx, s.a, key, s.parts[key], lease)
	s.slots[key] = sl
	s.slotsWG.Go(func() {
		sl.run()
		s.slotDone <- sl // the loop reads until every slot has ended
	})
	return true
}

// drain ends every slot: gracefully (hand back) while the connection is
// open, else at once (kill: the leases lapse, other agents replay the WAL).
// It deregisters the heartbeat first, so that the other agents' quotas grow
// and they take each partition as it is released.
func (s *supervisor) drain() error {
	s.draining = true
	closed := s.a.nc.IsClosed()
	if !closed {
		dctx, cancel := context.WithTimeout(s.workCtx, s.a.cfg.LeaseTTL)
		if err := s.a.agents.Delete(dctx, s.a.cfg.AgentID); err != nil {
			s.log.Warn("deregister", "err", err)
		}
		cancel()
	}
	s.log.Info("draining", "partitions", len(s.slots), "connection_closed", closed)
	for _, sl := range s.slots {
		if closed {
			sl.kill()
		} else {
			sl.handBack()
		}
	}
	for len(s.slots) > 0 {
		s.ended(<-s.slotDone)
	}
	s.slotsWG.Wait()
	if closed {
		return errors.New("nats connection closed")
	}
	return nil
}

// score ranks partition key for agent: rendezvous (highest random weight)
// hashing, so that each partition has a stable order of preferred agents
// and agents agree on it without talking.
func score(key LeaseKey, agent string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key.String()))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(agent))
	// fnv's low bits mix poorly for near-equal inputs: finish with a
	// splitmix64 round.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func cmpScore(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// partitionID converts a lease key to the partition's id.
func partitionID(k LeaseKey) partition.ID {
	return partition.ID{Tenant: k.Tenant, Topic: k.Topic, Partition: k.Partition}
}
