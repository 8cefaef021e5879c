package cells

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// GroupStore is the part of the registry a group coordinator uses: the
// committed offsets, and the partitions' watermarks for resets and lag.
// registry.Store satisfies it.
type GroupStore interface {
	registry.Offsets
	ListPartitions(ctx context.Context, tenant, topic int64) ([]registry.Partition, error)
}

// OffsetForTimeFunc returns the first offset of the partition whose record
// timestamp is at or after ts (Kafka's ListOffsets by timestamp), or the
// high watermark if there is none.
type OffsetForTimeFunc func(ctx context.Context, topic int64, partition int32, ts time.Time) (int64, error)

// GroupConfig configures a Group. Zero fields take the defaults that
// EnsureDefaults documents.
type GroupConfig struct {
	// Tenant owns the group; its offsets are stored under it. Required.
	Tenant int64
	// Name is the group id. Required.
	Name string
	// Store keeps the committed offsets and gives the watermarks. Required
	// by CommitOffsets, ResetOffsets and Lag only.
	Store GroupStore
	// OffsetForTime serves ResetToTime; without it such a reset fails.
	OffsetForTime OffsetForTimeFunc
	// DefaultSessionTimeout is used by a join that gives none. The default
	// is 45s (Kafka's session.timeout.ms).
	DefaultSessionTimeout time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout. The defaults are 6s and 30m (Kafka's
	// group.min/max.session.timeout.ms).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// NewMemberID makes the id of a member joining without one. It must not
	// repeat ids across coordinators, or a zombie of an earlier coordinator
	// could pass for a new member. The default is the client id, "-" and
	// crypto/rand.Text (26 base32 digits, 128 bits).
	NewMemberID func(clientID string) string
}

// EnsureDefaults fills the zero fields with their defaults.
func (c *GroupConfig) EnsureDefaults() {
	if c.DefaultSessionTimeout == 0 {
		c.DefaultSessionTimeout = 45 * time.Second
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.NewMemberID == nil {
		c.NewMemberID = randomMemberID
	}
}

func randomMemberID(clientID string) string {
	return clientID + "-" + rand.Text()
}

// GroupState is the state Describe reports.
type GroupState string

const (
	// GroupEmpty has no members; its committed offsets may be reset.
	GroupEmpty GroupState = "Empty"
	// GroupStable has members, each with its assignment of the current
	// generation.
	GroupStable GroupState = "Stable"
	// GroupResetting has no members and an offset reset being written.
	GroupResetting GroupState = "Resetting"
)

// JoinRequest is a member's request to join (or rejoin) a group.
type JoinRequest struct {
	// MemberID is empty on a first join: the group then makes one. A
	// member rejoining gives the id it was given; an id the group does not
	// know gives ErrUnknownMember.
	MemberID string
	ClientID string
	// Topics are the registry ids of the topics the member subscribes to;
	// the group must know each one's partition count (UpdateTopics).
	Topics []int64
	// Strategy is StrategyRange, StrategyRoundRobin or StrategySticky; ""
	// takes the group's (StrategyRange for an empty group). All members use
	// one strategy.
	Strategy string
	// SessionTimeout is how long the member may go without a heartbeat
	// before Expire drops it; 0 takes GroupConfig.DefaultSessionTimeout.
	SessionTimeout time.Duration
}

// JoinResult is what a join gives the member.
type JoinResult struct {
	MemberID   string
	Generation int32
	Strategy   string
	Assignment []TopicPartition
}

// GroupMember describes one member.
type GroupMember struct {
	ID             string
	ClientID       string
	Topics         []int64
	SessionTimeout time.Duration
	// Deadline is when the session expires without a heartbeat.
	Deadline   time.Time
	Assignment []TopicPartition
}

// GroupDescription is a snapshot of a group.
type GroupDescription struct {
	Tenant     int64
	Name       string
	State      GroupState
	Generation int32
	Strategy   string
	// Members are sorted by id.
	Members []GroupMember
	// Partitions are the partition counts the group assigns from.
	Partitions map[int64]int32
}

type groupMember struct {
	id, clientID   string
	topics         []int64 // sorted, unique
	sessionTimeout time.Duration
	deadline       time.Time
}

// renew moves the session deadline to now + the session timeout; it never
// moves it back, so calls whose now arrive out of order (read before a
// lock) cannot shorten a session.
func (m *groupMember) renew(now time.Time) {
	if d := now.Add(m.sessionTimeout); d.After(m.deadline) {
		m.deadline = d
	}
}

// Group is one consumer group's coordinator state: members, sessions,
// generations and assignments, as a deterministic state machine. It starts
// no goroutine and reads no clock: every call that depends on time takes
// now, and the owner calls Expire when NextDeadline passes. A Group is not
// safe for concurrent use; GroupCoordinator wraps it with a mutex.
//
// Rebalancing is Kafka's classic protocol without the join/sync barrier:
// every change of membership or subscription bumps the generation and
// computes all assignments at once. Members learn of it from Heartbeat's
// ErrRebalance and fetch their new assignment with Assignment. Commits carry
// the generation and must match it, so a member that has not yet heard of a
// rebalance cannot commit for partitions that may be someone else's now.
type Group struct {
	cfg         GroupConfig
	generation  int32
	strategy    string // "" while empty
	members     map[string]*groupMember
	partitions  map[int64]int32
	assignments Assignments
	resetting   bool
}

// NewGroup returns an empty group at generation 0.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if cfg.Name == "" {
		return nil, errors.New("new group: empty name")
	}
	cfg.EnsureDefaults()
	if cfg.MinSessionTimeout > cfg.MaxSessionTimeout {
		return nil, fmt.Errorf("new group %q: min session timeout %v above max %v",
			cfg.Name, cfg.MinSessionTimeout, cfg.MaxSessionTimeout)
	}
	return &Group{
		cfg:         cfg,
		members:     map[string]*groupMember{},
		partitions:  map[int64]int32{},
		assignments: Assignments{},
	}, nil
}

// Name returns the group's name.
func (g *Group) Name() string { return g.cfg.Name }

// Generation returns the current generation.
func (g *Group) Generation() int32 { return g.generation }

// UpdateTopics records topics' partition counts (a count <= 0 forgets the
// topic, as for a deleted one). If a count changed for a topic some member
// subscribes to, the group rebalances; the result says whether it did.
func (g *Group) UpdateTopics(counts map[int64]int32) bool {
	changed := false
	for t, n := range counts {
		if n < 0 {
			n = 0
		}
		if g.partitions[t] == n {
			continue
		}
		if n == 0 {
			delete(g.partitions, t)
		} else {
			g.partitions[t] = n
		}
		changed = changed || g.subscribed(t)
	}
	if changed {
		g.rebalance()
	}
	return changed
}

func (g *Group) subscribed(topic int64) bool {
	for _, m := range g.members {
		if slices.Contains(m.topics, topic) {
			return true
		}
	}
	return false
}

// Join adds a member (empty MemberID) or refreshes one, and returns its id,
// the generation and its assignment. A new member, or a member changing its
// topics or strategy, bumps the generation and reassigns; a rejoin without
// changes only renews the session. Errors: ErrUnknownMember,
// ErrUnknownStrategy, ErrInconsistentStrategy, ErrInvalidSessionTimeout,
// ErrUnknownTopic, ErrResetInProgress; a refused join changes nothing.
func (g *Group) Join(req JoinRequest, now time.Time) (JoinResult, error) {
	if g.resetting {
		return JoinResult{}, fmt.Errorf("group %q join: %w", g.cfg.Name, ErrResetInProgress)
	}
	if !ValidStrategy(req.Strategy) {
		return JoinResult{}, fmt.Errorf("group %q join: strategy %q: %w", g.cfg.Name, req.Strategy, ErrUnknownStrategy)
	}
	var m *groupMember
	if req.MemberID != "" {
		if m = g.members[req.MemberID]; m == nil {
			return JoinResult{}, fmt.Errorf("group %q join member %q: %w", g.cfg.Name, req.MemberID, ErrUnknownMember)
		}
	}
	strategy := req.Strategy
	if strategy == "" {
		strategy = cmp.Or(g.strategy, StrategyRange)
	}
	others := len(g.members)
	if m != nil {
		others--
	}
	if others > 0 && strategy != g.strategy {
		return JoinResult{}, fmt.Errorf("group %q join: strategy %q, the group uses %q: %w",
			g.cfg.Name, strategy, g.strategy, ErrInconsistentStrategy)
	}
	timeout := cmp.Or(req.SessionTimeout, g.cfg.DefaultSessionTimeout)
	if timeout < g.cfg.MinSessionTimeout || timeout > g.cfg.MaxSessionTimeout {
		return JoinResult{}, fmt.Errorf("group %q join: session timeout %v outside [%v, %v]: %w",
			g.cfg.Name, timeout, g.cfg.MinSessionTimeout, g.cfg.MaxSessionTimeout, ErrInvalidSessionTimeout)
	}
	topics := slices.Clone(req.Topics)
	slices.Sort(topics)
	topics = slices.Compact(topics)
	for _, t := range topics {
		if g.partitions[t] == 0 {
			return JoinResult{}, fmt.Errorf("group %q join: topic %d: %w", g.cfg.Name, t, ErrUnknownTopic)
		}
	}

	changed := m == nil || !slices.Equal(m.topics, topics) || strategy != g.strategy
	if m == nil {
		id := g.cfg.NewMemberID(req.ClientID)
		for g.members[id] != nil {
			id = g.cfg.NewMemberID(req.ClientID)
		}
		m = &groupMember{id: id}
		g.members[id] = m
	}
	m.clientID, m.topics, m.sessionTimeout = req.ClientID, topics, timeout
	m.renew(now)
	g.strategy = strategy
	if changed {
		g.rebalance()
	}
	return JoinResult{
		MemberID:   m.id,
		Generation: g.generation,
		Strategy:   g.strategy,
		Assignment: slices.Clone(g.assignments[m.id]),
	}, nil
}

// Heartbeat renews the member's session until now + its session timeout.
// It returns nil if generation is the group's, a *GenerationError matching
// ErrRebalance if the group has moved on (the session is renewed all the
// same: fetch the assignment of GenerationError.Current), one matching
// ErrIllegalGeneration for a generation the group has not reached, and
// ErrUnknownMember for a member not in the group (left or expired: a
// zombie), whose session is not renewed.
func (g *Group) Heartbeat(member string, generation int32, now time.Time) error {
	m := g.members[member]
	if m == nil {
		return fmt.Errorf("group %q heartbeat member %q: %w", g.cfg.Name, member, ErrUnknownMember)
	}
	m.renew(now)
	return g.checkGeneration(member, generation, ErrRebalance)
}

func (g *Group) checkGeneration(member string, generation int32, stale error) error {
	switch {
	case generation == g.generation:
		return nil
	case generation < g.generation:
		return &GenerationError{Group: g.cfg.Name, Member: member, Got: generation, Current: g.generation, Err: stale}
	default:
		return &GenerationError{Group: g.cfg.Name, Member: member, Got: generation, Current: g.generation, Err: ErrIllegalGeneration}
	}
}

// Leave removes the member at once (a clean shutdown, after its last
// commit) and rebalances the others. Unknown member: ErrUnknownMember.
func (g *Group) Leave(member string) error {
	if g.members[member] == nil {
		return fmt.Errorf("group %q leave member %q: %w", g.cfg.Name, member, ErrUnknownMember)
	}
	delete(g.members, member)
	g.rebalance()
	return nil
}

// Expire drops the members whose session deadline is before now (crashed or
// cut off) and, if any, rebalances. It returns their ids, sorted.
func (g *Group) Expire(now time.Time) []string {
	var gone []string
	for id, m := range g.members {
		if now.After(m.deadline) {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	for _, id := range gone {
		delete(g.members, id)
	}
	slices.Sort(gone)
	g.rebalance()
	return gone
}

// NextDeadline returns the earliest session deadline, when the owner should
// next call Expire; false for a group without members.
func (g *Group) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, m := range g.members {
		if next.IsZero() || m.deadline.Before(next) {
			next = m.deadline
		}
	}
	return next, !next.IsZero()
}

// Assignment returns the member's partitions in the generation, which must
// be the current one (else a *GenerationError as from Heartbeat).
func (g *Group) Assignment(member string, generation int32) ([]TopicPartition, error) {
	if g.members[member] == nil {
		return nil, fmt.Errorf("group %q assignment member %q: %w", g.cfg.Name, member, ErrUnknownMember)
	}
	if err := g.checkGeneration(member, generation, ErrRebalance); err != nil {
		return nil, err
	}
	return slices.Clone(g.assignments[member]), nil
}

// rebalance bumps the generation and computes every member's assignment,
// the previous one given to the sticky strategy.
func (g *Group) rebalance() {
	g.generation++
	if len(g.members) == 0 {
		g.strategy = ""
		g.assignments = Assignments{}
		return
	}
	ms := make([]AssignMember, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, AssignMember{ID: m.id, Topics: m.topics, Previous: g.assignments[m.id]})
	}
	a, err := Assign(g.strategy, ms, g.partitions)
	if err != nil { // Join admits only valid strategies
		panic(fmt.Sprintf("group %q: %v", g.cfg.Name, err))
	}
	g.assignments = a
}

// checkCommit refuses a commit unless member is in the group, generation is
// the current one and every partition is in the member's assignment.
func (g *Group) checkCommit(member string, generation int32, offsets []registry.GroupOffset) error {
	if g.members[member] == nil {
		return fmt.Errorf("group %q commit member %q: %w", g.cfg.Name, member, ErrUnknownMember)
	}
	if err := g.checkGeneration(member, generation, ErrIllegalGeneration); err != nil {
		return err
	}
	owned := g.assignments[member]
	for _, o := range offsets {
		tp := TopicPartition{o.Topic, o.Partition}
		if _, ok := slices.BinarySearchFunc(owned, tp, compareTP); !ok {
			return &NotAssignedError{Group: g.cfg.Name, Member: member, Generation: generation, Partition: tp}
		}
	}
	return nil
}

// CommitOffsets stores the member's offsets (each the next offset to read)
// through GroupConfig.Store, in one registry transaction, after checking
// them: a member not in the group gives ErrUnknownMember, another
// generation a *GenerationError (ErrIllegalGeneration), a partition not
// assigned to the member a *NotAssignedError; a refused commit writes
// nothing. Registry errors (ErrInvalid, ErrNotFound) are returned wrapped.
func (g *Group) CommitOffsets(ctx context.Context, member string, generation int32, offsets []registry.GroupOffset) error {
	if err := g.checkCommit(member, generation, offsets); err != nil {
		return err
	}
	return g.writeOffsets(ctx, offsets)
}

func (g *Group) writeOffsets(ctx context.Context, offsets []registry.GroupOffset) error {
	if len(offsets) == 0 {
		return nil
	}
	if err := g.cfg.Store.CommitOffsets(ctx, g.cfg.Tenant, g.cfg.Name, offsets); err != nil {
		return fmt.Errorf("group %q commit offsets: %w", g.cfg.Name, err)
	}
	return nil
}

// Describe returns a snapshot of the group; it shares no memory with it.
func (g *Group) Describe() GroupDescription {
	d := GroupDescription{
		Tenant:     g.cfg.Tenant,
		Name:       g.cfg.Name,
		State:      GroupStable,
		Generation: g.generation,
		Strategy:   g.strategy,
		Partitions: make(map[int64]int32, len(g.partitions)),
	}
	switch {
	case g.resetting:
		d.State = GroupResetting
	case len(g.members) == 0:
		d.State = GroupEmpty
	}
	for t, n := range g.partitions {
		d.Partitions[t] = n
	}
	for _, m := range g.members {
		d.Members = append(d.Members, GroupMember{
			ID:             m.id,
			ClientID:       m.clientID,
			Topics:         slices.Clone(m.topics),
			SessionTimeout: m.sessionTimeout,
			Deadline:       m.deadline,
			Assignment:     slices.Clone(g.assignments[m.id]),
		})
	}
	slices.SortFunc(d.Members, func(a, b GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	return d
}
