package cells

import (
	"context"
	"errors"
	"fmt"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// Group administration: the describe, reset and delete ops of the group
// service (wire.GroupDescribe, GroupReset, GroupDelete), the coordinator's
// side of them, and NATSGroups as the router's router.GroupAdmin.
//
// A reset or delete goes through the group's coordinator (acquiring the
// group's lease if nobody holds it), so it is decided against the
// coordinator's live membership and no member joins while it writes.

// SetOffsets writes offsets as the group's committed offsets, in one
// registry transaction, while the group has no members (else a
// *GroupNotEmptyError); joins meanwhile get ErrResetInProgress. The
// offsets are written as given (the caller computed them).
func (c *GroupCoordinator) SetOffsets(ctx context.Context, offsets []registry.GroupOffset) error {
	return c.whileEmpty(func(g *Group) error { return g.writeOffsets(ctx, offsets) })
}

// DeleteOffsets removes all the group's committed offsets while it has no
// members (else a *GroupNotEmptyError); a group without offsets gives
// registry.ErrNotFound, wrapped.
func (c *GroupCoordinator) DeleteOffsets(ctx context.Context) error {
	return c.whileEmpty(func(g *Group) error {
		if err := c.store.DeleteGroup(ctx, g.cfg.Tenant, g.cfg.Name); err != nil {
			return fmt.Errorf("group %q delete: %w", g.cfg.Name, err)
		}
		return nil
	})
}

// whileEmpty runs write as ResetOffsets runs its write: behind the group's
// other commits, with the group marked resetting (members kept out).
func (c *GroupCoordinator) whileEmpty(write func(g *Group) error) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	g := c.mu.g
	err := g.beginReset()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		c.mu.Lock()
		g.endReset()
		c.mu.Unlock()
	}()
	return write(g) // reads only g.cfg
}

// serveAdmin answers the admin ops; a refusal for members carries them, as
// a describe does.
func (a *groupActor) serveAdmin(c *GroupCoordinator, req *wire.GroupRequest, resp *wire.GroupResponse) error {
	var err error
	switch req.Op {
	case wire.GroupReset:
		offs := make([]registry.GroupOffset, len(req.Offsets))
		for i, o := range req.Offsets {
			offs[i] = registry.GroupOffset{Topic: o.TopicID, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata}
		}
		ctx, cancel := context.WithTimeout(a.s.ctx, groupOpTimeout)
		err = c.SetOffsets(ctx, offs)
		cancel()
	case wire.GroupDelete:
		ctx, cancel := context.WithTimeout(a.s.ctx, groupOpTimeout)
		err = c.DeleteOffsets(ctx)
		cancel()
	}
	d := c.Describe()
	resp.MemberID, resp.Generation, resp.Strategy, resp.State = "", d.Generation, d.Strategy, string(d.State)
	for _, m := range d.Members {
		resp.Members = append(resp.Members, wire.GroupMemberInfo{MemberID: m.ID, ClientID: m.ClientID,
			SessionTimeoutMs: m.SessionTimeout.Milliseconds(), Assignment: groupPartitions(m.Assignment)})
	}
	return err
}

// DescribeGroup returns the group's state, generation, strategy and
// members (with their assignments) as its coordinator sees them; a group
// nobody coordinated has none (the agent that takes the request becomes its
// coordinator).
func (g *NATSGroups) DescribeGroup(ctx context.Context, tenant int64, group string) (*wire.GroupResponse, error) {
	return g.do(ctx, wire.GroupDescribe, &wire.GroupRequest{TenantID: tenant, Group: group})
}

// SetGroupOffsets writes offsets as the group's committed offsets, in one
// registry transaction, unless the group has members (an error wrapping
// ErrGroupNotEmpty).
func (g *NATSGroups) SetGroupOffsets(ctx context.Context, tenant int64, group string, offsets []registry.GroupOffset) error {
	req := &wire.GroupRequest{TenantID: tenant, Group: group, Offsets: make([]wire.GroupOffset, len(offsets))}
	for i, o := range offsets {
		req.Offsets[i] = wire.GroupOffset{TopicID: o.Topic, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata}
	}
	resp, err := g.do(ctx, wire.GroupReset, req)
	return adminErr(resp, err)
}

// DeleteGroup removes the group's committed offsets unless it has members
// (ErrGroupNotEmpty); a group without offsets gives a NotFound *wire.Error.
func (g *NATSGroups) DeleteGroup(ctx context.Context, tenant int64, group string) error {
	resp, err := g.do(ctx, wire.GroupDelete, &wire.GroupRequest{TenantID: tenant, Group: group})
	return adminErr(resp, err)
}

// adminErr marks a refusal for members (busy, with members in the answer)
// with ErrGroupNotEmpty.
func adminErr(resp *wire.GroupResponse, err error) error {
	var we *wire.Error
	if resp != nil && len(resp.Members) > 0 && errors.As(err, &we) && we.Code == wire.Busy {
		return fmt.Errorf("%w: %d members: %w", ErrGroupNotEmpty, len(resp.Members), err)
	}
	return err
}
