package cells

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// Consumer groups across a cell (DESIGN.md, Consumer groups): every agent
// runs a GroupService. A group's coordinator lives on exactly one agent at a
// time, owned through a lease in the KV bucket sh_<cell>_groups under the
// key GroupKey(tenant, name) = "<tenant id>.<hex of sha256(name)[:16]>"
// (the first 16 bytes of the hash, 32 hex digits: names never appear in keys
// or subjects). Requests go to sh.<cell>.group.<tenant id>.<hash>
// (GroupSubject); every agent's service listens on sh.<cell>.group.> in one
// queue group, so exactly one agent receives each request:
//
//   - if it coordinates the group, its actor answers;
//   - if nobody does, it acquires the group's lease (Create, as for a
//     partition) and becomes the coordinator: a new coordinator starts with
//     empty membership, so members of a group whose coordinator moved get
//     unknown_member at their next heartbeat and join again (their
//     committed offsets live in the registry and survive the move);
//   - if another agent holds the lease, it forwards the request to that
//     agent's own subject sh.<cell>.groupfwd.<agent id>
//     (GroupForwardSubject), which answers the client directly; if the
//     holder does not answer (it just died and its lease has not lapsed
//     yet), the client gets not_owner and retries.
//
// Each coordinator is an actor: one goroutine with a mailbox that serves
// join, heartbeat, leave, assignment and commit in order, keeps the lease
// alive, and drives GroupCoordinator.Expire from a timer on NextDeadline
// (members that stop heartbeating are dropped and the group rebalances). An
// actor stops, releasing its lease, when the service stops, when it loses
// the lease, or when its group has had no member for IdleTimeout.

// Defaults of GroupServiceConfig.
const (
	DefaultGroupIdleTimeout = time.Minute
	groupInbox              = 256
	groupReleaseTimeout     = 2 * time.Second
	groupOpTimeout          = 10 * time.Second
)

// GroupsBucket names the cell's consumer group lease bucket,
// sh_<cell>_groups.
func GroupsBucket(cell string) string { return "sh_" + cell + "_groups" }

// GroupKey is a group's key in the groups bucket and the last two tokens of
// its subject: "<tenant id>.<hex of the first 16 bytes of sha256(name)>".
func GroupKey(tenant int64, name string) string {
	sum := sha256.Sum256([]byte(name))
	return strconv.FormatInt(tenant, 10) + "." + hex.EncodeToString(sum[:16])
}

// GroupSubject is the request/reply subject of a group's coordinator:
// sh.<cell>.group.<tenant id>.<hash> (see GroupKey).
func GroupSubject(cell string, tenant int64, name string) string {
	return groupSubjectPrefix(cell) + GroupKey(tenant, name)
}

// GroupForwardSubject is the subject on which an agent's GroupService takes
// requests forwarded by other agents: sh.<cell>.groupfwd.<agent id>.
func GroupForwardSubject(cell, agent string) string { return "sh." + cell + ".groupfwd." + agent }

func groupSubjectPrefix(cell string) string { return "sh." + cell + ".group." }

// GroupServiceConfig configures a GroupService. Conn, JS, Cell, Agent and
// Store are required.
type GroupServiceConfig struct {
	Conn *nats.Conn
	JS   jetstream.JetStream
	// Cell names the cell (ValidateCellName).
	Cell string
	// Agent is this agent's id, the value of the group leases it holds; it
	// must be unique per process and one NATS subject token (no '.', '*',
	// '>' or white space).
	Agent string
	// Store keeps the committed offsets and gives partition counts.
	Store GroupStore
	// LeaseTTL is the groups bucket's TTL (DefaultLeaseTTL by default); all
	// agents of a cell must agree on it.
	LeaseTTL time.Duration
	// Replicas of the groups bucket (1 by default).
	Replicas int
	// DefaultSessionTimeout, MinSessionTimeout and MaxSessionTimeout are
	// given to every group (GroupConfig; zero takes its defaults).
	DefaultSessionTimeout, MinSessionTimeout, MaxSessionTimeout time.Duration
	// OffsetForTime is given to every group.
	OffsetForTime OffsetForTimeFunc
	// IdleTimeout is how long a coordinator without members keeps its
	// group's lease; the default is one minute.
	IdleTimeout time.Duration
	// Logger receives coordinator events; the default discards.
	Logger *slog.Logger
}

// GroupService hosts the consumer group coordinators of one agent. Stop
// ends it.
type GroupService struct {
	cfg    GroupServiceConfig
	leases *Leases // the groups bucket, in the lease machinery's terms
	kv     jetstream.KeyValue
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	subs   []*nats.Subscription
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		stopped bool
		actors  map[string]*groupActor
		holders map[string]groupHolder // other agents' groups, as last seen
	}
}

type groupHolder struct {
	agent string
	until time.Time
}

// StartGroupService opens (or creates) the groups bucket and starts serving
// the cell's group subjects.
func StartGroupService(ctx context.Context, cfg GroupServiceConfig) (*GroupService, error) {
	switch {
	case cfg.Conn == nil || cfg.JS == nil || cfg.Store == nil:
		return nil, errors.New("start group service: Conn, JS and Store are required")
	case cfg.Agent == "" || len(cfg.Agent) > maxAgentIDLen || strings.ContainsAny(cfg.Agent, ".*> \t\r\n"):
		return nil, fmt.Errorf("start group service: agent id %q is not one subject token of 1 to %d bytes", cfg.Agent, maxAgentIDLen)
	}
	if err := ValidateCellName(cfg.Cell); err != nil {
		return nil, fmt.Errorf("start group service: %w", err)
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < time.Second {
		return nil, fmt.Errorf("start group service: lease TTL %s below 1s", cfg.LeaseTTL)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultGroupIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	gc := GroupConfig{DefaultSessionTimeout: cfg.DefaultSessionTimeout, MinSessionTimeout: cfg.MinSessionTimeout, MaxSessionTimeout: cfg.MaxSessionTimeout}
	gc.EnsureDefaults()
	cfg.DefaultSessionTimeout, cfg.MinSessionTimeout, cfg.MaxSessionTimeout = gc.DefaultSessionTimeout, gc.MinSessionTimeout, gc.MaxSessionTimeout

	bucket := GroupsBucket(cfg.Cell)
	want := jetstream.KeyValueConfig{
		Bucket:         bucket,
		Description:    "StreamHouse consumer group coordinator leases of cell " + cfg.Cell + ": key <tenant id>.<hex of sha256(group name)[:16]>, value the coordinating agent's id",
		History:        1,
		TTL:            cfg.LeaseTTL,
		LimitMarkerTTL: markerTTL(cfg.LeaseTTL),
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
	}
	kv, err := cfg.JS.CreateKeyValue(ctx, want)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = openExistingLeaseBucket(ctx, cfg.JS, want)
	}
	if err != nil {
		return nil, fmt.Errorf("start group service: open bucket %s: %w", bucket, err)
	}
	log := cfg.Logger.With("bucket", bucket, "agent", cfg.Agent)
	s := &GroupService{
		cfg: cfg,
		kv:  kv,
		log: log,
		leases: &Leases{kv: kv, bucket: bucket, agent: cfg.Agent, value: []byte(cfg.Agent),
			ttl: cfg.LeaseTTL, log: log},
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.mu.actors = map[string]*groupActor{}
	s.mu.holders = map[string]groupHolder{}
	sub, err := cfg.Conn.QueueSubscribe(groupSubjectPrefix(cfg.Cell)+">", "sh."+cfg.Cell+".groups",
		func(m *nats.Msg) { s.handle(m, false) })
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("start group service: subscribe: %w", err)
	}
	fwd, err := cfg.Conn.Subscribe(GroupForwardSubject(cfg.Cell, cfg.Agent), func(m *nats.Msg) { s.handle(m, true) })
	if err != nil {
		_ = sub.Unsubscribe()
		s.cancel()
		return nil, fmt.Errorf("start group service: subscribe: %w", err)
	}
	s.subs = []*nats.Subscription{sub, fwd}
	if err := cfg.Conn.Flush(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start group service: flush: %w", err)
	}
	return s, nil
}

// Stop stops taking requests, stops every coordinator and releases their
// leases (so other agents take the groups over at once; members rejoin
// there). It waits for the coordinators to end.
func (s *GroupService) Stop() {
	s.mu.Lock()
	s.mu.stopped = true
	s.mu.Unlock()
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.cancel()
	s.wg.Wait()
}

// Coordinating returns the keys (GroupKey) of the groups this agent
// coordinates now.
func (s *GroupService) Coordinating() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k, a := range s.mu.actors {
		if a.serving.Load() {
			keys = append(keys, k)
		}
	}
	return keys
}

// Describe returns the description of a group this agent coordinates.
func (s *GroupService) Describe(tenant int64, name string) (GroupDescription, bool) {
	s.mu.Lock()
	a := s.mu.actors[GroupKey(tenant, name)]
	s.mu.Unlock()
	if a == nil {
		return GroupDescription{}, false
	}
	c := a.coord.Load()
	if c == nil {
		return GroupDescription{}, false
	}
	return c.Describe(), true
}

func respondGroup(m *nats.Msg, resp *wire.GroupResponse) {
	b, _ := resp.AppendBinary(nil)
	_ = m.Respond(b) // a requester gone or a closed connection: it times out
}

func respondGroupErr(m *nats.Msg, code wire.Code, format string, args ...any) {
	respondGroup(m, &wire.GroupResponse{Code: code, Message: fmt.Sprintf(format, args...)})
}

// handle routes one request: to the local actor of its group (created if
// none, which then tries to acquire the lease), or to the agent known to
// hold the group.
func (s *GroupService) handle(m *nats.Msg, forwarded bool) {
	var req wire.GroupRequest
	if err := req.Decode(m.Data); err != nil {
		respondGroupErr(m, wire.Invalid, "%v", err)
		return
	}
	if req.TenantID <= 0 || req.Group == "" {
		respondGroupErr(m, wire.Invalid, "group request without tenant or group name")
		return
	}
	key := GroupKey(req.TenantID, req.Group)
	if !forwarded && m.Subject != groupSubjectPrefix(s.cfg.Cell)+key {
		respondGroupErr(m, wire.Invalid, "subject %s is not group %q's", m.Subject, req.Group)
		return
	}
	env := groupEnvelope{msg: m, req: req, forwarded: forwarded}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopped {
		respondGroupErr(m, wire.NotOwner, "agent %s is stopping", s.cfg.Agent)
		return
	}
	a := s.mu.actors[key]
	if a == nil {
		if h, ok := s.mu.holders[key]; ok && !forwarded && time.Now().Before(h.until) {
			s.forward(env, h.agent)
			return
		}
		a = &groupActor{s: s, key: key, tenant: req.TenantID, name: req.Group,
			inbox: make(chan groupEnvelope, groupInbox)}
		s.mu.actors[key] = a
		s.wg.Go(a.run)
	}
	select {
	case a.inbox <- env:
	default:
		respondGroupErr(m, wire.Busy, "group %q: coordinator inbox full", req.Group)
	}
}

// forward hands a request to the agent holding its group; that agent
// answers the client. If it does not listen (it died; its lease has not
// lapsed yet), the client gets not_owner and retries.
func (s *GroupService) forward(env groupEnvelope, agent string) {
	s.wg.Go(func() {
		ctx, cancel := context.WithTimeout(s.ctx, groupOpTimeout)
		defer cancel()
		reply, err := s.cfg.Conn.RequestWithContext(ctx, GroupForwardSubject(s.cfg.Cell, agent), env.msg.Data)
		if err != nil {
			if errors.Is(err, nats.ErrNoResponders) {
				s.mu.Lock()
				if h, ok := s.mu.holders[env.key()]; ok && h.agent == agent {
					delete(s.mu.holders, env.key())
				}
				s.mu.Unlock()
			}
			respondGroupErr(env.msg, wire.NotOwner, "group %q: coordinator agent %s did not answer: %v", env.req.Group, agent, err)
			return
		}
		_ = env.msg.Respond(reply.Data)
	})
}

type groupEnvelope struct {
	msg       *nats.Msg
	req       wire.GroupRequest
	forwarded bool
}

func (e groupEnvelope) key() string { return GroupKey(e.req.TenantID, e.req.Group) }

// acquire takes the group's lease; on ErrLeaseHeld it also names the holder
// (if it could read it).
func (s *GroupService) acquire(ctx context.Context, key string) (*Lease, string, error) {
	sent := time.Now()
	rev, err := s.kv.Create(ctx, key, s.leases.value)
	if err == nil {
		// The Lease machinery works on any key of a bucket with the lease
		// contract; its LeaseKey (for messages) is left zero, the KV key set.
		ls := newLease(s.leases, LeaseKey{}, rev, sent.Add(s.cfg.LeaseTTL))
		ls.k = key
		return ls, "", nil
	}
	if !isRevisionConflict(err) {
		return nil, "", fmt.Errorf("acquire group lease %s: %w", key, err)
	}
	e, gerr := s.kv.Get(ctx, key)
	if gerr != nil {
		return nil, "", fmt.Errorf("acquire group lease %s: %w", key, ErrLeaseHeld)
	}
	return nil, string(e.Value()), fmt.Errorf("acquire group lease %s: held by %q: %w", key, e.Value(), ErrLeaseHeld)
}

// remove takes a from the map (if it is still there); from then on no
// request reaches its inbox.
func (s *GroupService) remove(a *groupActor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.actors[a.key] == a {
		delete(s.mu.actors, a.key)
	}
}

// groupCode maps a coordinator error to a wire code.
func groupCode(err error) wire.Code {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we.Code
	case errors.Is(err, ErrRebalance):
		return wire.RebalanceInProgress
	case errors.Is(err, ErrIllegalGeneration):
		return wire.IllegalGeneration
	case errors.Is(err, ErrUnknownMember):
		return wire.UnknownMember
	case errors.Is(err, ErrNotAssigned), errors.Is(err, ErrInconsistentStrategy),
		errors.Is(err, ErrUnknownStrategy), errors.Is(err, ErrInvalidSessionTimeout),
		errors.Is(err, registry.ErrInvalid):
		return wire.Invalid
	case errors.Is(err, ErrUnknownTopic), errors.Is(err, registry.ErrNotFound):
		return wire.NotFound
	case errors.Is(err, ErrResetInProgress), errors.Is(err, ErrGroupNotEmpty):
		return wire.Busy
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return wire.Unavailable
	}
	return wire.Internal
}
