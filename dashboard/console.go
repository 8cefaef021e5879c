// Package dashboard is the live web console: a single-page app (web/,
// built into dist/ and embedded) and one WebSocket, /ws/console, that pushes
// a Snapshot of the cell (topics, throughput, groups and lag, agents,
// health, metrics) to each browser at the refresh rate it chose. Actions
// (create or delete a topic, reset a group's offsets, the account pages)
// go from the browser to the HTTP API (/api/v1), not through here.
//
// In a managed cell the console is multi-tenant: each WebSocket is
// authenticated when it opens (Config.Authenticate) and sees only its own
// organization's snapshot, built by reading the Source as a principal of
// that organization.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/router/auth"
)

// Defaults and bounds of Config.
const (
	DefaultRefresh                = 2 * time.Second
	DefaultMinRefresh             = 500 * time.Millisecond
	DefaultMaxRefresh             = time.Minute
	DefaultSourceTimeout          = 5 * time.Second
	DefaultMaxTopics              = 500
	DefaultMaxGroups              = 500
	DefaultMaxSeries              = 5000
	DefaultMaxClients             = 64
	DefaultMaxClientsPerTenant    = 16
	DefaultWriteTimeout           = 10 * time.Second
	DefaultPingInterval           = 30 * time.Second
	DefaultReauthenticate         = 15 * time.Second
	DefaultMaxConcurrentSnapshots = 4
)

// contentSecurityPolicy lets the app load only its own files and talk
// only to its own origin (the API and /ws/console), and keeps other sites
// from framing it. Inline styles are allowed: the charts and bars set them.
const contentSecurityPolicy = "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"

// WSPath is where the console's WebSocket is served.
const WSPath = "/ws/console"

//go:embed dist
var dist embed.FS

// Config configures a Console; zero fields take the defaults.
type Config struct {
	// Source is what the console shows (required).
	Source Source
	// Gatherer, if set, supplies the metrics (its streamhouse_ families).
	// Nil shows none: the pages say "no data".
	Gatherer prometheus.Gatherer
	// Logger gets connection errors. Nil discards.
	Logger *slog.Logger
	// DefaultRefresh is a new client's refresh period (2 s); a client may
	// ask for any period in [MinRefresh (500 ms), MaxRefresh (1 min)], and
	// one outside is clamped into it.
	DefaultRefresh, MinRefresh, MaxRefresh time.Duration
	// SourceTimeout bounds each read of the source (5 s).
	SourceTimeout time.Duration
	// MaxTopics, MaxGroups and MaxSeries bound a snapshot (500, 500 and
	// 5000 metric series); the rest is left out and the snapshot says so.
	MaxTopics, MaxGroups, MaxSeries int
	// MaxClients is the most WebSocket connections at once (64); more are
	// refused with 503. MaxClientsPerTenant is the most of one
	// organization (16), so that one cannot take every slot; more are
	// refused with 429.
	MaxClients, MaxClientsPerTenant int
	// WriteTimeout bounds every write to a client (10 s); PingInterval is
	// the keepalive period (30 s): a client silent for two is dropped.
	WriteTimeout, PingInterval time.Duration

	// Authenticate, if set, says who a WebSocket acts as, from its upgrade
	// request: browsers cannot set headers on a WebSocket, so the
	// credential comes as ?access_token=. An error wrapping
	// auth.ErrUnauthenticated refuses the upgrade with 401, any other with
	// 503. Each connection sees only the snapshot of its principal's
	// organization (Principal.Tenant). Nil: every connection acts as the
	// zero Principal, one shared snapshot (a single-tenant cell).
	Authenticate func(*http.Request) (auth.Principal, error)
	// Reauthenticate is how often an open connection's request is
	// authenticated again (15 s), so that a logout, a revoked key or a
	// removed member ends the feed: a refusal closes the connection with
	// 1008 (policy violation).
	Reauthenticate time.Duration
	// MetricsVisible, if set, says whether a principal's snapshots carry
	// the process's metrics. They are labelled by topic and group, not by
	// organization, so a multi-tenant cell shows them to none (they would
	// tell one organization of another's traffic) or to its operators
	// only. Nil shows them to every connection.
	MetricsVisible func(auth.Principal) bool
	// MaxConcurrentSnapshots bounds the organizations whose snapshots are
	// read at once (4).
	MaxConcurrentSnapshots int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.DefaultRefresh, DefaultRefresh)
	def(&c.MinRefresh, DefaultMinRefresh)
	def(&c.MaxRefresh, DefaultMaxRefresh)
	def(&c.SourceTimeout, DefaultSourceTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.Reauthenticate, DefaultReauthenticate)
	defInt(&c.MaxConcurrentSnapshots, DefaultMaxConcurrentSnapshots)
	defInt(&c.MaxTopics, DefaultMaxTopics)
	defInt(&c.MaxGroups, DefaultMaxGroups)
	defInt(&c.MaxSeries, DefaultMaxSeries)
	defInt(&c.MaxClients, DefaultMaxClients)
	defInt(&c.MaxClientsPerTenant, DefaultMaxClientsPerTenant)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Console serves the app and /ws/console. Run must be running for clients
// to get snapshots; it is safe for concurrent use.
type Console struct {
	cfg    Config
	up     websocket.Upgrader
	static http.Handler
	wake   chan struct{} // a client came or changed its rate: poll now
	stop   chan struct{} // closed when Run ends: connections close
	conns  sync.WaitGroup
	mu     struct {
		sync.Mutex
		clients  map[*client]struct{}
		byTenant map[int64]int // connections per organization
		stopped  bool
	}
}

// New returns a Console; it fails without a Source or with bounds that
// contradict each other.
func New(cfg Config) (*Console, error) {
	cfg = cfg.withDefaults()
	if cfg.Source == nil {
		return nil, errors.New("dashboard: Config.Source is required")
	}
	if cfg.MinRefresh > cfg.MaxRefresh {
		return nil, fmt.Errorf("dashboard: MinRefresh %v is over MaxRefresh %v", cfg.MinRefresh, cfg.MaxRefresh)
	}
	cfg.DefaultRefresh = min(max(cfg.DefaultRefresh, cfg.MinRefresh), cfg.MaxRefresh)
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, fmt.Errorf("dashboard: embedded assets: %w", err)
	}
	c := &Console{cfg: cfg, static: http.FileServerFS(sub),
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.mu.clients = map[*client]struct{}{}
	c.mu.byTenant = map[int64]int{}
	// The default CheckOrigin: a browser's Origin must be the request's
	// own host, so another site cannot read the cell through a visitor.
	c.up = websocket.Upgrader{HandshakeTimeout: cfg.WriteTimeout}
	return c, nil
}

// ServeHTTP serves /ws/console and the app's files (any other path).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == WSPath {
		c.serveWS(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The assets are small and change with the binary: always revalidate.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	c.static.ServeHTTP(w, r)
}

// Run polls the source for the connected clients until ctx ends, then
// closes every connection, waits for their goroutines and returns nil.
// Polling happens only while a client is connected, at the shortest
// refresh period any of them asked for.
func (c *Console) Run(ctx context.Context) error {
	defer func() {
		c.mu.Lock()
		c.mu.stopped = true
		c.mu.Unlock()
		close(c.stop)
		c.conns.Wait()
	}()
	raters := map[int64]*rater{} // by organization; the poller's own
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		clients := c.clients()
		if len(clients) == 0 {
			clear(raters)
			select {
			case <-ctx.Done():
				return nil
			case <-c.wake:
				continue
			}
		}
		now := time.Now()
		period := c.cfg.MaxRefresh
		connected := map[int64]bool{}
		due := map[int64][]*client{} // the clients due now, by organization
		for _, cl := range clients {
			period = min(period, cl.period())
		}
		for _, cl := range clients {
			tenant := cl.who().Tenant
			connected[tenant] = true
			// Due with half a poll of slack, so a client's period is kept on
			// average rather than rounded up to the next poll.
			if !cl.sent.IsZero() && now.Sub(cl.sent) < cl.period()-period/2 {
				continue
			}
			due[tenant] = append(due[tenant], cl)
		}
		for tenant := range raters {
			if !connected[tenant] { // its last browser left: its history goes
				delete(raters, tenant)
			}
		}
		c.poll(ctx, due, raters, now)
		timer.Reset(period)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wake:
		}
	}
}

// poll builds one snapshot per organization in due, at most
// MaxConcurrentSnapshots at once, each read as one of its clients'
// principals, and offers it to that organization's clients only.
func (c *Console) poll(ctx context.Context, due map[int64][]*client, raters map[int64]*rater, now time.Time) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, c.cfg.MaxConcurrentSnapshots)
	for tenant, cls := range due {
		r := raters[tenant]
		if r == nil {
			r = &rater{}
			raters[tenant] = r
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			frame, err := marshal(c.snapshot(ctx, r, cls[0].who(), now))
			if err != nil {
				c.cfg.Logger.Error("console snapshot", "tenant", tenant, "err", err)
				return
			}
			for _, cl := range cls {
				cl.sent = now
				cl.offer(frame)
			}
		})
	}
	wg.Wait()
}

func (c *Console) clients() []*client {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*client, 0, len(c.mu.clients))
	for cl := range c.mu.clients {
		out = append(out, cl)
	}
	return out
}

// kick wakes the poller without blocking.
func (c *Console) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
