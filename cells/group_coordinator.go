package cells

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// GroupCoordinator makes a Group safe for concurrent use and keeps registry
// I/O outside its lock.
//
// Lock order: commitMu, then mu. mu guards the Group and is never held
// across I/O. commitMu is held across the registry write of a commit or a
// reset, so that this group's writes land in the order they were checked:
// two commits of one member for the same partition cannot overtake each
// other and move its offset backward. Heartbeats, joins and expiry take only
// mu and never wait for the registry.
//
// A commit is checked under mu and written after mu is released, so a
// rebalance may happen between the check and the write. The write is then
// of offsets the member had processed while it owned the partitions in the
// checked generation: at worst it lands after the new owner's first commit
// and moves the offset back, which redelivers records (at-least-once holds)
// and loses none.
type GroupCoordinator struct {
	store GroupStore // immutable

	commitMu sync.Mutex

	mu struct {
		sync.Mutex
		g *Group
	}
}

// NewGroupCoordinator returns a coordinator over a new, empty group.
// cfg.Store is required.
func NewGroupCoordinator(cfg GroupConfig) (*GroupCoordinator, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("new group coordinator %q: no store", cfg.Name)
	}
	g, err := NewGroup(cfg)
	if err != nil {
		return nil, err
	}
	c := &GroupCoordinator{store: cfg.Store}
	c.mu.g = g
	return c, nil
}

// Join reads the partition counts of req.Topics from the registry (an
// unknown topic gives ErrUnknownTopic), records them (UpdateTopics, which
// rebalances if a subscribed topic grew) and joins as Group.Join.
func (c *GroupCoordinator) Join(ctx context.Context, req JoinRequest, now time.Time) (JoinResult, error) {
	c.mu.Lock()
	tenant, name := c.mu.g.cfg.Tenant, c.mu.g.cfg.Name
	c.mu.Unlock()
	counts := make(map[int64]int32, len(req.Topics))
	for _, t := range req.Topics {
		parts, err := c.store.ListPartitions(ctx, tenant, t)
		if errors.Is(err, registry.ErrNotFound) {
			return JoinResult{}, fmt.Errorf("group %q join: topic %d: %w", name, t, ErrUnknownTopic)
		}
		if err != nil {
			return JoinResult{}, fmt.Errorf("group %q join: topic %d: %w", name, t, err)
		}
		counts[t] = int32(len(parts))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.g.UpdateTopics(counts)
	return c.mu.g.Join(req, now)
}

// UpdateTopics is Group.UpdateTopics.
func (c *GroupCoordinator) UpdateTopics(counts map[int64]int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.UpdateTopics(counts)
}

// Heartbeat is Group.Heartbeat.
func (c *GroupCoordinator) Heartbeat(member string, generation int32, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.Heartbeat(member, generation, now)
}

// Leave is Group.Leave.
func (c *GroupCoordinator) Leave(member string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.Leave(member)
}

// Expire is Group.Expire.
func (c *GroupCoordinator) Expire(now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.Expire(now)
}

// NextDeadline is Group.NextDeadline.
func (c *GroupCoordinator) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.NextDeadline()
}

// Assignment is Group.Assignment.
func (c *GroupCoordinator) Assignment(member string, generation int32) ([]TopicPartition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.Assignment(member, generation)
}

// Describe is Group.Describe.
func (c *GroupCoordinator) Describe() GroupDescription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.g.Describe()
}

// CommitOffsets is Group.CommitOffsets; the check happens under mu, the
// write after it (see the type's comment). It blocks behind the group's
// other commits and resets.
func (c *GroupCoordinator) CommitOffsets(ctx context.Context, member string, generation int32, offsets []registry.GroupOffset) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	g := c.mu.g
	err := g.checkCommit(member, generation, offsets)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return g.writeOffsets(ctx, offsets) // reads only g.cfg, which never changes
}

// ResetOffsets is Group.ResetOffsets: refused with a *GroupNotEmptyError
// while the group has members; joins meanwhile get ErrResetInProgress.
func (c *GroupCoordinator) ResetOffsets(ctx context.Context, req OffsetReset) ([]registry.GroupOffset, error) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	g := c.mu.g
	err := g.beginReset()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer func() {
		c.mu.Lock()
		g.endReset()
		c.mu.Unlock()
	}()
	offsets, err := g.resetTargets(ctx, req) // reads only g.cfg
	if err != nil {
		return nil, err
	}
	if err := g.writeOffsets(ctx, offsets); err != nil {
		return nil, err
	}
	return offsets, nil
}

// Lag is Group.Lag, reading the registry outside the lock.
func (c *GroupCoordinator) Lag(ctx context.Context) ([]PartitionLag, error) {
	d := c.Describe()
	return groupLag(ctx, c.store, d)
}
