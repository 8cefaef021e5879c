package cells

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
)

// Defaults of AgentConfig.
const (
	DefaultRebalanceInterval = 30 * time.Second
	DefaultStartTimeout      = time.Minute
	DefaultStopTimeout       = 30 * time.Second
	DefaultProduceLanes      = 8
	DefaultProduceQueueBytes = 64 << 20
	DefaultProducePending    = 4096
)

// agentIDRE is what an agent id may hold: one NATS subject token and one KV
// key, so that it can name the agent's heartbeat key and events subject.
var agentIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// AgentConfig configures one agent process: the supervisor of its partitions
// and their actors (DESIGN.md, Ownership, leases and fencing). Zero values
// take the defaults EnsureDefaults documents.
type AgentConfig struct {
	// Cell names the cell. Required, see ValidateCellName.
	Cell string

	// AgentID identifies this agent: the value of its leases and the key of
	// its heartbeat. 1 to 64 of [a-zA-Z0-9_-]. It must be unique per running
	// process; the default, "agent-" and 16 random hex digits, is.
	AgentID string

	// Conn is the agent's NATS connection (required): leases, heartbeats,
	// the WAL and the produce subjects all go through it. The agent never
	// closes it. If it is closed while the agent runs, Run stops the actors
	// without committing (the leases then lapse and other agents take over)
	// and returns an error.
	Conn *nats.Conn

	// Registry is the cell's catalogue (required): the partitions to own,
	// their epochs and segments.
	Registry registry.Store

	// Store receives the segments (required).
	Store objectstore.Store

	// KeyPrefix is the segment keys' prefix in Store; may be empty.
	KeyPrefix string

	// LeaseTTL is the partition leases' TTL (LeaseConfig.TTL), and also the
	// heartbeat bucket's: an agent that stops heartbeating leaves the live
	// set about a TTL later, when its leases lapse too. Every agent of a cell
	// must use one value. The default is DefaultLeaseTTL (3 s); at least 1 s.
	// A crashed agent's partitions move within about one TTL.
	LeaseTTL time.Duration

	// Replicas is the replica count of the lease and heartbeat buckets and
	// of the WAL stream: 1 (the default) for the dev cell, 3 on a cluster.
	Replicas int

	// WALMaxEntrySize is the WAL's largest entry (WALConfig.MaxEntrySize).
	// The default is DefaultWALMaxEntrySize.
	WALMaxEntrySize int

	// Actor is the template of every partition actor's configuration: its
	// flush, inbox and retry settings. ID, Durability, WAL, Store, Registry,
	// KeyPrefix and Logger are set per partition and ignored here.
	Actor partition.ActorConfig

	// Now is the agent's wall clock: broker timestamps of its actors (unless
	// Actor.Now is set) and retention by time. Leases and heartbeats are
	// timed by NATS, and flush ages and timeouts by the monotonic clock, so
	// a jump of this clock (TestChaos injects one) moves neither. The
	// default is time.Now.
	Now func() time.Time

	// RebalanceInterval is how often the agent re-reads the registry's
	// partitions and resyncs its view of the leases from a fresh snapshot
	// (a watcher disconnected for about a TTL can miss an expiry).
	// Rebalance asks for a re-read at once. The default is 30 s.
	RebalanceInterval time.Duration

	// StartTimeout bounds a takeover (StartActor: epoch bump, marker, WAL
	// replay). The default is 1 min.
	StartTimeout time.Duration

	// StopTimeout bounds the graceful stop of one partition (flush and
	// commit of everything acknowledged); past it the actor is killed and
	// the new owner replays the WAL. The default is 30 s.
	StopTimeout time.Duration

	// RetentionInterval is how often each owned partition applies its
	// topic's retention (by time and by size): it moves the log start offset
	// past the expired committed segments and deletes the objects no segment
	// refers to any more. The default is DefaultRetentionInterval (1 min).
	RetentionInterval time.Duration

	// ProduceLanes is the number of produce requests one partition works on
	// at once, which lets its actor group-commit them. An idempotent
	// producer's requests always take the same lane, so they keep their
	// order. The default is 8.
	ProduceLanes int

	// ProduceQueueBytes bounds the bytes of produce requests a partition has
	// taken from NATS and not yet answered; past it requests are answered
	// busy at once. The default is 64 MiB.
	ProduceQueueBytes int

	// ProducePending bounds the messages waiting in each of a partition's
	// subscriptions, produce and fetch (nats.go's pending limits; the byte
	// limit is ProduceQueueBytes). The handlers never block, so the bound is
	// only hit if the process stalls; messages over it are dropped by
	// nats.go and their requesters time out. The default is 4096.
	ProducePending int

	// Fetch configures the server of the fetch subjects of the partitions
	// the agent owns (tail reads, long polls). Lookup is set by the agent;
	// Fetcher, if nil, is one over Registry and Store with a default cache;
	// Logger, if nil, is Logger.
	Fetch FetchServerConfig

	// Logger receives the agent's events. The default discards them.
	Logger *slog.Logger

	// Metrics, if set, receives the agent's instruments (agent_metrics.go):
	// partitions owned, lease acquisitions and losses. The partition
	// actors' and the fetcher's are Actor's and Fetch.Fetcher's. Nil: none.
	Metrics prometheus.Registerer
}

// EnsureDefaults fills in the zero fields that have a default.
func (c *AgentConfig) EnsureDefaults() {
	if c.AgentID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		c.AgentID = "agent-" + hex.EncodeToString(b[:])
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RebalanceInterval == 0 {
		c.RebalanceInterval = DefaultRebalanceInterval
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = DefaultRetentionInterval
	}
	if c.ProduceLanes == 0 {
		c.ProduceLanes = DefaultProduceLanes
	}
	if c.ProduceQueueBytes == 0 {
		c.ProduceQueueBytes = DefaultProduceQueueBytes
	}
	if c.ProducePending == 0 {
		c.ProducePending = DefaultProducePending
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *AgentConfig) validate() error {
	if err := ValidateCellName(c.Cell); err != nil {
		return err
	}
	switch {
	case !agentIDRE.MatchString(c.AgentID):
		return fmt.Errorf("invalid agent id %q: want 1 to 64 of [a-zA-Z0-9_-]", c.AgentID)
	case c.Conn == nil || c.Registry == nil || c.Store == nil:
		return errors.New("agent config: Conn, Registry and Store are required")
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("agent config: lease TTL %s is below the minimum of 1s", c.LeaseTTL)
	case c.RebalanceInterval < 0 || c.StartTimeout < 0 || c.StopTimeout < 0 || c.RetentionInterval < 0:
		return errors.New("agent config: negative interval or timeout")
	case c.ProduceLanes < 1 || c.ProduceQueueBytes < 1 || c.ProducePending < 1:
		return errors.New("agent config: ProduceLanes, ProduceQueueBytes and ProducePending must be positive")
	}
	return nil
}

// Agent is one agent process: a supervisor that heartbeats, takes a fair
// share of the cell's partitions through leases, runs an actor per owned
// partition behind its produce subject, and hands partitions back when the
// cell grows or when it drains (DESIGN.md, Ownership, leases and fencing).
//
// Goroutines: Run owns all of them through one errgroup: the lease watcher,
// the heartbeat watcher and the supervisor loop; the supervisor loop owns
// one goroutine per partition slot, and each slot owns its lease's
// KeepAlive, its produce lanes and its retention runner; the FetchServer
// owns the fetches it serves, and Run closes it last. Nothing outlives Run.
//
// Locks: Agent.mu (the served partitions) and a slot's mu (its lanes open)
// are never held together, nor across I/O.
type Agent struct {
	cfg    AgentConfig
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	leases *Leases
	wal    *WALStream
	agents jetstream.KeyValue
	fetch  *FetchServer

	kick     chan struct{} // buffered 1: re-read the registry and rebalance now
	running  atomic.Bool
	assigned atomic.Bool // the first assignment pass is done (Assigned)
	metrics  *agentMetrics

	mu struct {
		sync.Mutex
		owned map[LeaseKey]*partition.Actor // partitions being served
	}
}

// NewAgent checks cfg and opens the cell's lease bucket, heartbeat bucket
// and WAL stream, creating them if needed; it fails if they exist with a
// configuration this agent cannot share (another lease TTL, say). It blocks
// on the server, bounded by ctx. Run starts the agent.
func NewAgent(ctx context.Context, cfg AgentConfig) (*Agent, error) {
	cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	log := cfg.Logger.With("cell", cfg.Cell, "agent", cfg.AgentID)
	leases, err := OpenLeases(ctx, js, LeaseConfig{
		Cell: cfg.Cell, Agent: cfg.AgentID, TTL: cfg.LeaseTTL, Replicas: cfg.Replicas, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	wal, err := OpenWAL(ctx, js, WALConfig{Cell: cfg.Cell, Replicas: cfg.Replicas, MaxEntrySize: cfg.WALMaxEntrySize})
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	agents, err := openAgentsBucket(ctx, js, cfg)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	a := &Agent{
		cfg:    cfg,
		log:    log,
		nc:     cfg.Conn,
		js:     js,
		leases: leases,
		wal:    wal,
		agents: agents,
		kick:   make(chan struct{}, 1),
	}
	a.mu.owned = make(map[LeaseKey]*partition.Actor)
	if a.metrics, err = newAgentMetrics(cfg.Metrics, a); err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	fcfg := cfg.Fetch
	fcfg.Lookup = func(id partition.ID) *partition.Actor {
		return a.Actor(LeaseKey{Tenant: id.Tenant, Topic: id.Topic, Partition: id.Partition})
	}
	if fcfg.Fetcher == nil {
		if fcfg.Fetcher, err = partition.NewFetcher(partition.FetcherConfig{Registry: cfg.Registry, Store: cfg.Store}); err != nil {
			return nil, fmt.Errorf("new agent: %w", err)
		}
	}
	if fcfg.Logger == nil {
		fcfg.Logger = log
	}
	if a.fetch, err = NewFetchServer(fcfg); err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	return a, nil
}

// openAgentsBucket opens the heartbeat bucket sh_<cell>_agents, creating it
// if needed: History 1, the lease TTL as its max age and a limit marker, so
// that a lapsed heartbeat reaches watchers as a marker.
func openAgentsBucket(ctx context.Context, js jetstream.JetStream, cfg AgentConfig) (jetstream.KeyValue, error) {
	want := jetstream.KeyValueConfig{
		Bucket:         AgentsBucket(cfg.Cell),
		Description:    "StreamHouse agent heartbeats of cell " + cfg.Cell + ": key the agent id, present while it lives",
		History:        1,
		TTL:            cfg.LeaseTTL,
		LimitMarkerTTL: markerTTL(cfg.LeaseTTL),
		Storage:        jetstream.FileStorage,
		Replicas:       cfg.Replicas,
	}
	kv, err := js.CreateKeyValue(ctx, want)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, want.Bucket)
		if err == nil {
			var st jetstream.KeyValueStatus
			if st, err = kv.Status(ctx); err == nil && st.TTL() != want.TTL {
				err = fmt.Errorf("bucket exists with TTL %s, this agent wants %s (every agent of a cell must use one lease TTL)", st.TTL(), want.TTL)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open agents bucket %s: %w", want.Bucket, err)
	}
	return kv, nil
}

// ID is the agent's id.
func (a *Agent) ID() string { return a.cfg.AgentID }

// Rebalance asks the running agent to re-read the registry's partitions and
// rebalance at once (after a topic was created or deleted, say) rather than
// at the next RebalanceInterval. It never blocks.
func (a *Agent) Rebalance() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Owned returns the partitions this agent serves now (actor started and
// produce subject subscribed), sorted.
func (a *Agent) Owned() []LeaseKey {
	a.mu.Lock()
	keys := make([]LeaseKey, 0, len(a.mu.owned))
	for k := range a.mu.owned {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	slices.SortFunc(keys, compareLeaseKeys)
	return keys
}

// Actor returns the actor of a partition this agent serves, or nil: the
// in-process path to its tail (ReadTail, Wait). The actor may stop at any
// time (Done); its methods then answer as documented.
func (a *Agent) Actor(key LeaseKey) *partition.Actor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.owned[key]
}

func (a *Agent) setOwned(key LeaseKey, actor *partition.Actor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if actor == nil {
		delete(a.mu.owned, key)
		return
	}
	a.mu.owned[key] = actor
}

// Run runs the agent until ctx is cancelled, then drains it, the SIGTERM
// path: it deregisters its heartbeat (so the other agents' shares grow),
// and for every partition stops taking produce and fetch requests
// (unsubscribe, answering what was taken), stops the actor (flush and commit everything
// acknowledged, bounded by StopTimeout) and releases the lease, so that
// another agent takes the partition over at once. It returns nil after a
// drain on ctx's cancellation.
//
// If the NATS connection closes, or a watcher fails, Run stops every actor
// without committing (a lost connection means lost leases: DESIGN.md's
// "lost → stop without committing"), and returns the error. Run may be
// called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	// The agent also hosts consumer-group coordinators: whichever agent
	// first serves a group's request takes its lease (groupservice.go).
	groups, err := StartGroupService(ctx, GroupServiceConfig{
		Conn: a.nc, JS: a.js, Cell: a.cfg.Cell, Agent: a.cfg.AgentID, Store: a.cfg.Registry,
		LeaseTTL: a.cfg.LeaseTTL, Replicas: a.cfg.Replicas, Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.cfg.AgentID, err)
	}
	defer groups.Stop() // releases the group leases on drain
	sup := newSupervisor(a)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.watchLeases(gctx, sup.leaseUpdates) })
	g.Go(func() error { return a.watchAgents(gctx, sup.members) })
	g.Go(func() error { return sup.run(gctx) })
	err = g.Wait()
	a.fetch.Close() // the fetch subscriptions are gone: end the fetches still served
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.cfg.AgentID, err)
	}
	return nil
}

func compareLeaseKeys(x, y LeaseKey) int {
	if c := cmp.Compare(x.Tenant, y.Tenant); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Topic, y.Topic); c != 0 {
		return c
	}
	return cmp.Compare(x.Partition, y.Partition)
}
