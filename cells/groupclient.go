package cells

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/wire"
)

// Defaults of NATSGroupsConfig.
const (
	DefaultGroupRequestTimeout = 5 * time.Second
	DefaultGroupRetryBackoff   = 20 * time.Millisecond
	DefaultGroupMaxBackoff     = 500 * time.Millisecond
	DefaultGroupRetryFor       = 15 * time.Second
)

// NATSGroupsConfig configures NATSGroups. Conn and Cell are required.
type NATSGroupsConfig struct {
	Conn *nats.Conn
	// Cell is the cell's name (ValidateCellName).
	Cell string
	// Timeout bounds one attempt (5 s by default).
	Timeout time.Duration
	// RetryBackoff is the first pause before retrying a request answered
	// not_owner or unanswered for want of responders (the coordinator is
	// moving); it doubles up to MaxBackoff (defaults 20 ms and 500 ms).
	RetryBackoff, MaxBackoff time.Duration
	// RetryFor bounds the time spent retrying (15 s by default; ctx may end
	// it sooner).
	RetryFor time.Duration
}

// NATSGroups carries consumer group requests from the router to the
// groups' coordinators over NATS request/reply on GroupSubject (see
// GroupService). Safe for concurrent use.
type NATSGroups struct {
	cfg NATSGroupsConfig
}

// NewNATSGroups returns a NATSGroups; it fails if Conn is missing or Cell is
// invalid.
func NewNATSGroups(cfg NATSGroupsConfig) (*NATSGroups, error) {
	if cfg.Conn == nil {
		return nil, errors.New("new nats groups: Conn is required")
	}
	if err := ValidateCellName(cfg.Cell); err != nil {
		return nil, fmt.Errorf("new nats groups: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultGroupRequestTimeout
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultGroupRetryBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultGroupMaxBackoff
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = DefaultGroupRetryFor
	}
	return &NATSGroups{cfg: cfg}, nil
}

// Join joins (MemberID empty) or rejoins the group req.Group of tenant
// req.TenantID with req.Topics, req.Strategy, req.SessionTimeoutMs.
func (g *NATSGroups) Join(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error) {
	return g.do(ctx, wire.GroupJoin, req)
}

// Heartbeat renews req.MemberID's session at req.Generation; a
// RebalanceInProgress error comes with the group's generation in the
// response.
func (g *NATSGroups) Heartbeat(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error) {
	return g.do(ctx, wire.GroupHeartbeat, req)
}

// Leave removes req.MemberID from the group.
func (g *NATSGroups) Leave(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error) {
	return g.do(ctx, wire.GroupLeave, req)
}

// Assignment returns req.MemberID's assignment in req.Generation.
func (g *NATSGroups) Assignment(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error) {
	return g.do(ctx, wire.GroupAssignment, req)
}

// Commit stores req.Offsets for req.MemberID at req.Generation, checked by
// the coordinator (IllegalGeneration, UnknownMember, Invalid for a partition
// not assigned to the member).
func (g *NATSGroups) Commit(ctx context.Context, req *wire.GroupRequest) (*wire.GroupResponse, error) {
	return g.do(ctx, wire.GroupCommit, req)
}

// do sends req with op and returns the answer; a non-OK answer is returned
// together with its *wire.Error. not_owner answers and missing responders
// are retried with a doubling, capped backoff for up to RetryFor; a timeout
// is not retried (the request may have been applied) and gives an
// Unavailable *wire.Error.
func (g *NATSGroups) do(ctx context.Context, op wire.GroupOp, req *wire.GroupRequest) (*wire.GroupResponse, error) {
	r := *req
	r.Op = op
	data, _ := r.AppendBinary(nil)
	subject := GroupSubject(g.cfg.Cell, r.TenantID, r.Group)
	ctx, cancel := context.WithTimeout(ctx, g.cfg.RetryFor)
	defer cancel()
	backoff := g.cfg.RetryBackoff
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, g.cfg.Timeout)
		msg, err := g.cfg.Conn.RequestWithContext(actx, subject, data)
		acancel()
		switch {
		case err == nil:
			resp := new(wire.GroupResponse)
			if err := resp.Decode(msg.Data); err != nil {
				return nil, fmt.Errorf("group %s: answer: %w", op, err)
			}
			if resp.Code != wire.NotOwner {
				return resp, resp.Err()
			}
			last = resp.Err()
		case errors.Is(err, nats.ErrNoResponders):
			last = wire.Errorf(wire.NotOwner, "group %s: no agent serves consumer groups", op)
		case ctx.Err() != nil && last != nil:
			return nil, last
		case ctx.Err() != nil:
			return nil, wire.Errorf(wire.Unavailable, "group %s abandoned: %v", op, context.Cause(ctx))
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return nil, wire.Errorf(wire.Unavailable, "group %s: the coordinator did not answer within %v", op, g.cfg.Timeout)
		default:
			return nil, wire.Errorf(wire.Unavailable, "group %s: %v", op, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, last
		}
		backoff = min(2*backoff, g.cfg.MaxBackoff)
	}
}
