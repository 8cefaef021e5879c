package cells

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// groupActor coordinates one group on this agent: it acquires the group's
// lease, then serves its mailbox one request at a time and expires members
// on a timer, until the service stops, the lease is lost or the group has
// been empty for IdleTimeout.
type groupActor struct {
	s      *GroupService
	key    string
	tenant int64
	name   string
	inbox  chan groupEnvelope

	serving atomic.Bool
	coord   atomic.Pointer[GroupCoordinator]
}

func (a *groupActor) run() {
	s := a.s
	actx, cancel := context.WithTimeout(s.ctx, groupOpTimeout)
	lease, holder, err := s.acquire(actx, a.key)
	cancel()
	if err != nil {
		if holder != "" && holder != s.cfg.Agent {
			s.mu.Lock()
			s.mu.holders[a.key] = groupHolder{agent: holder, until: time.Now().Add(s.cfg.LeaseTTL)}
			s.mu.Unlock()
		}
		a.stop(func(env groupEnvelope) {
			if holder != "" && holder != s.cfg.Agent && !env.forwarded {
				s.forward(env, holder)
				return
			}
			respondGroupErr(env.msg, wire.NotOwner, "group %q: not coordinated here: %v", env.req.Group, err)
		})
		return
	}
	coord, err := NewGroupCoordinator(GroupConfig{
		Tenant: a.tenant, Name: a.name, Store: s.cfg.Store, OffsetForTime: s.cfg.OffsetForTime,
		DefaultSessionTimeout: s.cfg.DefaultSessionTimeout,
		MinSessionTimeout:     s.cfg.MinSessionTimeout, MaxSessionTimeout: s.cfg.MaxSessionTimeout,
	})
	if err != nil { // the configuration was checked at start
		a.release(lease)
		a.stop(func(env groupEnvelope) { respondGroupErr(env.msg, wire.Internal, "group %q: %v", env.req.Group, err) })
		return
	}
	a.coord.Store(coord)
	a.serving.Store(true)
	s.mu.Lock()
	delete(s.mu.holders, a.key)
	s.mu.Unlock()
	s.log.Info("group coordinator started", "group_key", a.key)

	kctx, kcancel := context.WithCancel(s.ctx)
	kept := make(chan error, 1)
	go func() { kept <- lease.KeepAlive(kctx) }()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	idleSince := time.Now()
	reason := "stopped"
loop:
	for {
		now := time.Now()
		next, ok := coord.NextDeadline()
		if ok {
			idleSince = time.Time{}
		} else {
			if idleSince.IsZero() {
				idleSince = now
			}
			next = idleSince.Add(s.cfg.IdleTimeout)
		}
		timer.Reset(max(next.Sub(now)+time.Millisecond, 0))
		select {
		case env := <-a.inbox:
			respondGroup(env.msg, a.serve(coord, &env.req))
		case <-timer.C:
			now := time.Now()
			if gone := coord.Expire(now); len(gone) > 0 {
				s.log.Info("group members expired", "group_key", a.key, "members", gone)
			}
			if _, ok := coord.NextDeadline(); !ok && !idleSince.IsZero() && now.Sub(idleSince) >= s.cfg.IdleTimeout {
				reason = "idle"
				break loop
			}
		case <-lease.Lost():
			reason = "lease lost"
			break loop
		case <-s.ctx.Done():
			break loop
		}
	}
	kcancel()
	<-kept
	a.serving.Store(false)
	s.log.Info("group coordinator stopping", "group_key", a.key, "reason", reason)
	// Out of the map first, so that new requests start a new actor (which
	// acquires the lease once released); the rest of the inbox gets
	// not_owner and retries.
	a.stop(func(env groupEnvelope) {
		respondGroupErr(env.msg, wire.NotOwner, "group %q: coordinator moving (%s)", env.req.Group, reason)
	})
	a.release(lease)
}

func (a *groupActor) release(lease *Lease) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.s.ctx), groupReleaseTimeout)
	defer cancel()
	if err := lease.Release(ctx); err != nil && !errors.Is(err, ErrLeaseLost) {
		a.s.log.Warn("group lease release failed; it lapses after its TTL", "group_key", a.key, "err", err)
	}
}

// stop takes the actor out of the service's map and answers what is left
// in its inbox with answer.
func (a *groupActor) stop(answer func(groupEnvelope)) {
	a.s.remove(a)
	for {
		select {
		case env := <-a.inbox:
			answer(env)
		default:
			return
		}
	}
}

// serve runs one request against the coordinator.
func (a *groupActor) serve(c *GroupCoordinator, req *wire.GroupRequest) *wire.GroupResponse {
	if req.Group != a.name {
		return &wire.GroupResponse{Code: wire.Invalid, Message: "group name does not match its key's (hash collision)"}
	}
	now := time.Now()
	resp := &wire.GroupResponse{MemberID: req.MemberID, Generation: req.Generation}
	var err error
	switch req.Op {
	case wire.GroupJoin:
		var res JoinResult
		ctx, cancel := context.WithTimeout(a.s.ctx, groupOpTimeout)
		timeout := time.Duration(req.SessionTimeoutMs) * time.Millisecond
		res, err = c.Join(ctx, JoinRequest{MemberID: req.MemberID, ClientID: req.ClientID, Topics: req.Topics,
			Strategy: req.Strategy, SessionTimeout: timeout}, now)
		cancel()
		if err == nil {
			resp.MemberID, resp.Generation, resp.Strategy = res.MemberID, res.Generation, res.Strategy
			resp.SessionTimeoutMs = max(timeout, 0).Milliseconds()
			if timeout == 0 {
				resp.SessionTimeoutMs = a.s.cfg.DefaultSessionTimeout.Milliseconds()
			}
			resp.Assignment = groupPartitions(res.Assignment)
		}
	case wire.GroupHeartbeat:
		err = c.Heartbeat(req.MemberID, req.Generation, now)
	case wire.GroupLeave:
		err = c.Leave(req.MemberID)
	case wire.GroupAssignment:
		var tps []TopicPartition
		if tps, err = c.Assignment(req.MemberID, req.Generation); err == nil {
			resp.Assignment = groupPartitions(tps)
		}
	case wire.GroupCommit:
		offs := make([]registry.GroupOffset, len(req.Offsets))
		for i, o := range req.Offsets {
			offs[i] = registry.GroupOffset{Topic: o.TopicID, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata}
		}
		ctx, cancel := context.WithTimeout(a.s.ctx, groupOpTimeout)
		err = c.CommitOffsets(ctx, req.MemberID, req.Generation, offs)
		cancel()
	case wire.GroupDescribe, wire.GroupReset, wire.GroupDelete:
		err = a.serveAdmin(c, req, resp) // admin_groups.go
	default:
		return &wire.GroupResponse{Code: wire.Invalid, Message: "unknown group op " + req.Op.String()}
	}
	if err != nil {
		resp.Code, resp.Message = groupCode(err), err.Error()
		if ge := (*GenerationError)(nil); errors.As(err, &ge) {
			resp.Generation = ge.Current
		}
		if resp.Code == wire.Internal {
			a.s.log.Error("group request failed", "group_key", a.key, "op", req.Op.String(), "err", err)
		}
	}
	return resp
}

func groupPartitions(tps []TopicPartition) []wire.GroupPartition {
	out := make([]wire.GroupPartition, len(tps))
	for i, tp := range tps {
		out[i] = wire.GroupPartition{TopicID: tp.Topic, Partition: tp.Partition}
	}
	return out
}
