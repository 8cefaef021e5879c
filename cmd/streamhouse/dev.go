package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// devConfig is what the dev subcommand's flags set.
type devConfig struct {
	dataDir  string
	httpAddr string
	grpcAddr string
	natsPort int
	cell     string
	leaseTTL time.Duration
	logLevel slog.Level
	pprof    string // --pprof: serve net/http/pprof here (loopback only); "" for none
	schemas  string // --schema-registry: the Confluent Schema Registry API; "" for none
	// auth turns on authentication and the plans' quotas (--auth); off,
	// every request acts as the owner of tenant "default".
	auth          bool
	metricsToken  string        // --metrics-token: /metrics' bearer token with auth on
	pricing       string        // --pricing: a pricing file; "" for the built-in one
	meterInterval time.Duration // --meter-interval
}

func parseDevFlags(args []string, stderr io.Writer) (devConfig, error) {
	var c devConfig
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", ".streamhouse", "folder that keeps all of the cell's data (registry, objects, NATS)")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "address of the HTTP API and the health endpoints")
	fs.StringVar(&c.grpcAddr, "grpc", "127.0.0.1:50051", "address of the gRPC API")
	fs.IntVar(&c.natsPort, "nats-port", 0, "port of the embedded NATS server on 127.0.0.1 (0 picks a free one)")
	fs.StringVar(&c.cell, "cell", "dev", "name of the cell")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", cells.DefaultLeaseTTL, "partition lease TTL: a crashed agent's partitions move after about this long")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.StringVar(&c.schemas, "schema-registry", "127.0.0.1:8081", "address of the schema registry (Confluent's REST API); empty turns it off")
	fs.StringVar(&c.pprof, "pprof", "", "serve Go's profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060; off by default")
	fs.BoolVar(&c.auth, "auth", false, "require an access token or API key on every request and enforce the plans' quotas (keys kept in the data folder's secrets.json)")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "with --auth, the bearer token /metrics wants (empty: /metrics refused)")
	fs.StringVar(&c.pricing, "pricing", "", "pricing file of the plans (default: the built-in one)")
	fs.DurationVar(&c.meterInterval, "meter-interval", DefaultMeterInterval, "how often metered usage is booked in the registry")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.meterInterval < time.Second {
		return c, fmt.Errorf("--meter-interval %s: must be at least 1s", c.meterInterval)
	}
	return c, nil
}

// runDev runs a whole cell in one process until ctx is cancelled: the
// embedded registry, the local object store, an embedded NATS server with
// JetStream (sync always), one agent, and the router's HTTP and gRPC APIs.
// On cancel it stops taking requests, drains the agent (flush, commit,
// release) and shuts down in reverse order.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseDevFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	// The registry opens first: its file lock keeps a second dev cell off
	// this data folder (nats-server does not lock its store).
	reg, err := registry.OpenEmbedded(filepath.Join(cfg.dataDir, "registry.db"))
	if err != nil {
		return fmt.Errorf("open registry (is another dev cell using %s?): %w", cfg.dataDir, err)
	}
	defer reg.Close()
	store, err := objectstore.NewFS(filepath.Join(cfg.dataDir, "objects"))
	if err != nil {
		return fmt.Errorf("open object store: %w", err)
	}
	metrics := newMetricsRegistry()
	objects := meteredStore(store, metrics)
	tenant, err := ensureTenant(ctx, reg, defaultTenant)
	if err != nil {
		return err
	}

	// nats-server's start-up banner is noise next to ours: its log shows
	// errors only, unless the cell logs at debug.
	natsLevel := max(cfg.logLevel, slog.LevelError)
	if cfg.logLevel <= slog.LevelDebug {
		natsLevel = cfg.logLevel
	}
	natsLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: natsLevel})).With("component", "nats")
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{
		Dir: filepath.Join(cfg.dataDir, "nats"), Port: cfg.natsPort, Logger: natsLog,
	})
	if err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL(), ns.InProcess(), nats.Name("streamhouse-dev"))
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()

	fetchCfg, actorCfg, err := agentInstruments(metrics, reg, objects)
	if err != nil {
		return err
	}
	agent, err := cells.NewAgent(ctx, cells.AgentConfig{
		Cell: cfg.cell, Conn: nc, Registry: reg, Store: objects, LeaseTTL: cfg.leaseTTL,
		Logger: log.With("component", "agent"), Metrics: metrics,
		Fetch: fetchCfg, Actor: actorCfg,
	})
	if err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	var keys secrets
	if cfg.auth {
		if keys, err = devSecrets(cfg.dataDir); err != nil {
			return err
		}
	}
	mg, err := newManaged(managedConfig{reg: reg, log: log, authOn: cfg.auth, tenant: tenant.ID, secrets: keys,
		pricingFile: cfg.pricing, meterInterval: cfg.meterInterval, metricsToken: cfg.metricsToken, metrics: metrics})
	if err != nil {
		return err
	}
	api, grpcServer, err := newAPIs(apiDeps{
		cell: cfg.cell, nc: nc, reg: reg, store: objects, tenant: tenant.ID, log: log, metrics: metrics, managed: mg,
		topicCreated: func(registry.Topic) { agent.Rebalance() },
		topicDeleted: func(ctx context.Context, _ registry.Topic, removed registry.Removed) error {
			agent.Rebalance()
			return deleteObjects(ctx, objects, removed.UnreferencedObjects)
		},
	})
	if err != nil {
		return err
	}
	console, consoleSrc, err := newConsole(api, metrics)
	if err != nil {
		return err
	}
	schemas, err := schemaRegistry(log, reg, mg.schemaTenant)
	if err != nil {
		return err
	}
	lns, err := listen(cfg.httpAddr, cfg.grpcAddr)
	if err != nil {
		return err
	}
	httpLn, grpcLn := lns[0], lns[1]
	pprofLn, err := listenPprof(cfg.pprof)
	if err != nil {
		httpLn.Close()
		grpcLn.Close()
		return err
	}
	schemaLn, err := listenSchemaRegistry(cfg.schemas)
	if err != nil {
		httpLn.Close()
		grpcLn.Close()
		if pprofLn != nil {
			pprofLn.Close()
		}
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/ws/", api)
	addHealth(mux, reg, objects, nc, nil)
	addMetricsGuarded(mux, metrics, log, mg.metricsGuard())
	mg.mount(mux)
	mountConsole(mux, console, consoleSrc)
	mountSchemaConsole(mux, schemas)

	printBanner(stdout, cfg, tenant, httpLn.Addr(), grpcLn.Addr(), ns.ClientURL(), schemaBanner(schemaLn))

	// One run group: every long-lived part starts here and stops when ctx
	// ends or any part fails. The agent drains on its own ctx's end.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return agent.Run(gctx) })
	g.Go(func() error { return console.Run(gctx) })
	stopMeter := mg.run(g, gctx)
	serveAPIs(g, gctx, log, "shutting down: closing the APIs, then draining the agent", httpLn, mux, grpcLn, grpcServer)
	servePprof(g, gctx, pprofLn)
	serveSchemaRegistry(g, gctx, schemaLn, schemas)
	return errors.Join(g.Wait(), stopMeter())
}

func printBanner(w io.Writer, cfg devConfig, tenant registry.Tenant, httpAddr, grpcAddr net.Addr, natsURL, schemas string) {
	abs, _ := filepath.Abs(cfg.dataDir)
	fmt.Fprintf(w, `StreamHouse dev cell %q
  data:      %s (registry.db, objects/, nats/)
  auth:      %[9]s
  tenant:    %[3]s (id %[4]d)
  http:      http://%[5]s  (API under /api/v1, /metrics, health at /health)
  console:   http://%[5]s/
  grpc:      %[6]s
  nats:      %[7]s
  schemas:   %[8]s
Try it (in another terminal):
  go run ./cmd/streamctl topic create orders --partitions 4
  go run ./cmd/streamctl produce orders --key k1 hello world
  go run ./cmd/streamctl consume orders --all
Stop with Ctrl-C.
`, cfg.cell, abs, tenant.Name, tenant.ID, httpAddr, grpcAddr, natsURL, schemas, authBanner(cfg.auth))
}

// listenPprof listens on addr for --pprof, which must be a loopback
// address: profiles show the process's internals. "" listens nowhere (nil).
func listenPprof(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return nil, fmt.Errorf("--pprof %q: want a loopback address such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	return ln, nil
}

// servePprof adds to g a server of net/http/pprof on ln (nil: none) that
// closes when gctx ends. Its own mux: nothing else is served there.
func servePprof(g *errgroup.Group, gctx context.Context, ln net.Listener) {
	if ln == nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("pprof server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		return srv.Close()
	})
}

func authBanner(on bool) string {
	if on {
		return "on (sign up: POST /api/v1/auth/signup or the console; streamctl takes an API key in STREAMHOUSE_TOKEN)"
	}
	return "off (every request is tenant default's owner; --auth turns it on)"
}
