package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/streamhouse/streamhouse/cells"
)

const agentUsage = `usage: streamhouse agent [flags]

Runs one agent of a cell: it takes a fair share of the cell's partitions
through leases in NATS, serves their produce and fetch requests, writes
their WAL to JetStream and their segments to the object store, and commits
them in the registry. Start as many as the load needs, each with its own
agent id; a dead agent's partitions move to the others within about a lease
TTL. /live, /ready and /health answer on --health-addr for orchestration.

On SIGTERM or SIGINT it drains: stops taking requests, flushes and commits
every acknowledged record, and hands its partitions back, so that the other
agents take them over at once. /ready then answers 503.

Each setting is a flag, an environment variable STREAMHOUSE_<NAME> (such as
STREAMHOUSE_REGISTRY) or a key of the config file; flags win over the
environment, which wins over the file.

flags:
`

// runAgent runs `streamhouse agent` until ctx ends, then drains the agent.
// getenv reads the environment (os.Getenv); the agent's id and health
// address go to stdout.
func runAgent(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("agent", roleAgent, args, getenv, stderr, agentUsage)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)

	reg, err := openRegistry(ctx, cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	store, err := openObjectStore(ctx, cfg)
	if err != nil {
		return err
	}
	metrics := newMetricsRegistry()
	store = meteredStore(store, metrics) // the agent's config requires a store
	nc, err := connectNATS(cfg, "streamhouse-agent")
	if err != nil {
		return err
	}
	defer nc.Close()

	fetchCfg, actorCfg, err := agentInstruments(metrics, reg, store)
	if err != nil {
		return err
	}
	agent, err := cells.NewAgent(ctx, cells.AgentConfig{
		Cell: cfg.Cell, AgentID: cfg.AgentID, Conn: nc, Registry: reg, Store: store,
		LeaseTTL: cfg.LeaseTTL, Logger: log.With("component", "agent"), Metrics: metrics,
		Fetch: fetchCfg, Actor: actorCfg, Now: newFaultClock(getenv),
	})
	if err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	// A router announces created and deleted topics: take or drop their
	// partitions now rather than at the next periodic look.
	sub, err := nc.Subscribe(cells.TopicEventsSubject(cfg.Cell), func(*nats.Msg) { agent.Rebalance() })
	if err != nil {
		return fmt.Errorf("subscribe to topic changes: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	lns, err := listen(cfg.HealthAddr)
	if err != nil {
		return err
	}
	runCtx, endRun := context.WithCancel(ctx)
	defer endRun()
	mux := http.NewServeMux()
	addHealth(mux, reg, store, nc, agentHealth(agent, runCtx))
	addMetrics(mux, metrics, log)
	healthServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	fmt.Fprintf(stdout, `StreamHouse agent of cell %q
  agent:     %s
  health:    http://%s  (/live, /ready, /health, /metrics)
  nats:      %s
`, cfg.Cell, agent.ID(), lns[0].Addr(), cfg.NATSURL)

	// One run group. The agent runs until ctx ends or the health listener
	// fails, then drains; the health endpoints answer until the drain is
	// over (/ready says 503 meanwhile), so that an orchestrator sees it.
	g, gctx := errgroup.WithContext(runCtx)
	agentDone := make(chan struct{})
	g.Go(func() error {
		defer close(agentDone)
		defer endRun() // a failed agent ends the health server too
		return agent.Run(gctx)
	})
	g.Go(func() error {
		if err := healthServer.Serve(lns[0]); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve health: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-agentDone
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return healthServer.Shutdown(shutdownCtx)
	})
	return g.Wait()
}
