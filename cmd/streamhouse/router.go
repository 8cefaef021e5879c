package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
	"github.com/streamhouse/streamhouse/schema"
)

const routerUsage = `usage: streamhouse router [flags]

Runs a router of a cell: the HTTP API (and /live, /ready, /health) and the
gRPC API, carrying requests to the cell's agents over NATS. It needs the
cell's NATS and registry; with --object-store it also deletes the objects of
deleted topics, else it leaves them to garbage collection. Runs until
SIGTERM or SIGINT, then stops taking requests and finishes those under way.

It serves a managed, multi-tenant service: with --auth on (the default)
every request carries an access token or an API key (Authorization: Bearer,
gRPC metadata "authorization"), acts inside its organization with its role,
is held to its plan's quotas (--pricing) and metered for billing; the
account API (/api/v1/auth/signup, login, keys, members, audit, billing)
manages organizations. Every router of a cell needs the same token-key and
key-pepper. With --auth off every request acts as the owner of the tenant
"default" (created on first start), unlimited: trusted networks only.

Each setting is a flag, an environment variable STREAMHOUSE_<NAME> (such as
STREAMHOUSE_NATS_URL) or a key of the config file; flags win over the
environment, which wins over the file.

flags:
`

// runRouter runs `streamhouse router` until ctx ends. getenv reads the
// environment (os.Getenv); the addresses it listens on go to stdout.
func runRouter(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("router", roleRouter, args, getenv, stderr, routerUsage)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel).With("cell", cfg.Cell)

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
	if store != nil {
		store = meteredStore(store, metrics)
	}
	tenant, err := ensureTenant(ctx, reg, defaultTenant)
	if err != nil {
		return err
	}
	nc, err := connectNATS(cfg, "streamhouse-router")
	if err != nil {
		return err
	}
	defer nc.Close()

	var keys secrets
	if cfg.Auth == "on" {
		if keys, err = cfg.secrets(); err != nil {
			return err
		}
	}
	mg, err := newManaged(managedConfig{reg: reg, log: log, authOn: cfg.Auth == "on", tenant: tenant.ID, secrets: keys,
		pricingFile: cfg.Pricing, meterInterval: cfg.MeterInterval, metricsToken: cfg.MetricsToken, metrics: metrics})
	if err != nil {
		return err
	}

	// The agents run elsewhere: tell them of a topic created or deleted.
	announce := func(t registry.Topic) {
		if err := nc.Publish(cells.TopicEventsSubject(cfg.Cell), strconv.AppendInt(nil, t.ID, 10)); err != nil {
			log.Warn("announce topic change; the agents see it at their next periodic look", "topic", t.Name, "err", err)
		}
	}
	api, grpcServer, err := newAPIs(apiDeps{
		cell: cfg.Cell, nc: nc, reg: reg, store: store, tenant: tenant.ID, log: log, metrics: metrics, managed: mg,
		topicCreated: announce,
		topicDeleted: func(ctx context.Context, t registry.Topic, removed registry.Removed) error {
			announce(t)
			if store == nil {
				return nil // no object store: the garbage collector's job
			}
			return deleteObjects(ctx, store, removed.UnreferencedObjects)
		},
	})
	if err != nil {
		return err
	}
	schemas, err := schemaRegistry(log, reg, mg.schemaTenant)
	if err != nil {
		return err
	}
	console, consoleSrc, err := newConsole(api, metrics)
	if err != nil {
		return err
	}
	lns, err := listen(cfg.HTTPAddr, cfg.GRPCAddr, cfg.SchemaRegistryAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/ws/", api)
	addHealth(mux, reg, store, nc, nil)
	addMetricsGuarded(mux, metrics, log, mg.metricsGuard())
	mg.mount(mux)
	mountConsole(mux, console, consoleSrc)
	mountSchemaConsole(mux, schemas)

	fmt.Fprintf(stdout, `StreamHouse router of cell %q
  auth:      %s
  tenant:    %s (id %d: every request's, when auth is off)
  http:      http://%[5]s  (API under /api/v1, /metrics, health at /health)
  console:   http://%[5]s/
  grpc:      %[6]s
  nats:      %[7]s
  schemas:   %[8]s
`, cfg.Cell, cfg.Auth, tenant.Name, tenant.ID, lns[0].Addr(), lns[1].Addr(), cfg.NATSURL, schemaBanner(lns[2]))

	export, err := newExporter(cfg, reg, log.With("component", "billing-export"))
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return console.Run(gctx) })
	if export != nil { // nil without billing-export-url
		g.Go(func() error { return export.Run(gctx) })
	}
	stopMeter := mg.run(g, gctx)
	serveAPIs(g, gctx, log, "shutting down: closing the APIs", lns[0], mux, lns[1], grpcServer)
	serveSchemaRegistry(g, gctx, lns[2], schemas)
	return errors.Join(g.Wait(), stopMeter())
}

// defaultTenant is the tenant every request acts for while authentication
// is off.
const defaultTenant = "default"

// apiDeps is what newAPIs wires the HTTP and gRPC APIs to.
type apiDeps struct {
	cell string
	nc   *nats.Conn
	reg  registry.Store
	// store, if set, serves offset resets to a timestamp (segment indexes).
	store  objectstore.Store
	tenant int64
	log    *slog.Logger
	// topicCreated and topicDeleted are router.Deps' hooks.
	topicCreated func(registry.Topic)
	topicDeleted func(context.Context, registry.Topic, registry.Removed) error
	// managed, if set, authenticates, holds to quotas, meters and audits
	// (managed.go); nil serves everyone as tenant's owner.
	managed *managed
	// metrics, if set, receives the APIs' instruments and the group lag
	// collector (streamhouse_produce_*, _fetch_*, _router_*, _group_lag_*).
	metrics prometheus.Registerer
}

// newAPIs builds the HTTP API (to be mounted under /api/ and /ws/) and the gRPC
// server of a cell's router, both carrying requests to the partition owners
// over NATS and acting for one tenant.
func newAPIs(d apiDeps) (*router.Router, *grpc.Server, error) {
	producer, err := cells.NewNATSProducer(cells.NATSProducerConfig{Cell: d.cell, Conn: d.nc})
	if err != nil {
		return nil, nil, fmt.Errorf("produce client: %w", err)
	}
	fetcher, err := cells.NewNATSFetcher(cells.NATSFetcherConfig{Cell: d.cell, Conn: d.nc})
	if err != nil {
		return nil, nil, fmt.Errorf("fetch client: %w", err)
	}
	groups, err := cells.NewNATSGroups(cells.NATSGroupsConfig{Cell: d.cell, Conn: d.nc})
	if err != nil {
		return nil, nil, fmt.Errorf("groups client: %w", err)
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	cluster, err := cells.NewCluster(js, d.cell)
	if err != nil {
		return nil, nil, err
	}
	metrics, err := router.NewMetrics(d.metrics)
	if err != nil {
		return nil, nil, err
	}
	topicDeleted := d.topicDeleted
	if metrics != nil {
		topicDeleted = func(ctx context.Context, t registry.Topic, removed registry.Removed) error {
			metrics.ForgetTopic(t.Name)
			if d.topicDeleted == nil {
				return nil
			}
			return d.topicDeleted(ctx, t, removed)
		}
	}
	topicCache := router.NewTopicCache(d.reg, 0, 0) // one for both edges
	deps := router.Deps{
		Topics:       d.reg,
		TopicCache:   topicCache,
		Producer:     producer,
		Logger:       d.log.With("component", "router"),
		TopicCreated: d.topicCreated,
		TopicDeleted: topicDeleted,
		Fetch:        fetcher,
		Cluster:      clusterAdmin{cluster},
		Offsets:      d.reg,
		Groups:       groupAdmin{groups},
		Metrics:      metrics,
	}
	if d.store != nil {
		pf, err := partition.NewFetcher(partition.FetcherConfig{Registry: d.reg, Store: d.store})
		if err != nil {
			return nil, nil, fmt.Errorf("offset for time: %w", err)
		}
		deps.OffsetForTime = func(ctx context.Context, id registry.PartitionID, tsMs int64) (int64, error) {
			off, _, err := pf.OffsetForTime(ctx, partition.ID{Tenant: id.Tenant, Topic: id.Topic, Partition: id.Partition}, tsMs)
			return off, err
		}
	}
	rcfg := router.Config{Authenticate: router.Anonymous(d.tenant), Schemas: schema.NewValidator(d.reg)}
	gcfg := router.GRPCConfig{
		Authenticate: router.AnonymousGRPC(d.tenant), Topics: d.reg, TopicCache: topicCache, Fetch: fetcher, Groups: groups, Admin: &deps, Logger: d.log.With("component", "grpc"),
		Metrics: metrics,
	}
	if d.managed != nil {
		d.managed.routerDeps(&rcfg, &deps, &gcfg)
	}
	api, err := router.New(rcfg, deps)
	if err != nil {
		return nil, nil, fmt.Errorf("router: %w", err)
	}
	if err := api.RegisterCellMetrics(d.metrics, singleTenant(d.tenant), 0); err != nil {
		return nil, nil, err
	}
	grpcServer, err := router.NewGRPCServer(gcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("grpc: %w", err)
	}
	return api, grpcServer, nil
}

// clusterAdmin is cells.Cluster as router.Cluster (cells does not import
// router: the router's tests import cells).
type clusterAdmin struct{ c *cells.Cluster }

func (a clusterAdmin) Owners(ctx context.Context, tenant, topic int64) (map[int32]string, error) {
	return a.c.Owners(ctx, tenant, topic)
}

func (a clusterAdmin) Agents(ctx context.Context) ([]router.AgentInfo, error) {
	agents, err := a.c.Agents(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]router.AgentInfo, len(agents))
	for i, ag := range agents {
		out[i] = router.AgentInfo{ID: ag.ID, Live: ag.Live, Partitions: ag.Partitions}
	}
	return out, nil
}

// groupAdmin is cells.NATSGroups as router.GroupAdmin.
type groupAdmin struct{ g *cells.NATSGroups }

func (a groupAdmin) DescribeGroup(ctx context.Context, tenant int64, group string) (router.GroupInfo, error) {
	resp, err := a.g.DescribeGroup(ctx, tenant, group)
	if err != nil {
		return router.GroupInfo{}, err
	}
	return router.GroupInfo{State: resp.State, Generation: resp.Generation, Strategy: resp.Strategy, Members: resp.Members}, nil
}

func (a groupAdmin) SetGroupOffsets(ctx context.Context, tenant int64, group string, offsets []registry.GroupOffset) error {
	return notEmpty(a.g.SetGroupOffsets(ctx, tenant, group, offsets))
}

func (a groupAdmin) DeleteGroup(ctx context.Context, tenant int64, group string) error {
	return notEmpty(a.g.DeleteGroup(ctx, tenant, group))
}

func notEmpty(err error) error {
	if errors.Is(err, cells.ErrGroupNotEmpty) {
		return fmt.Errorf("%w: %w", router.ErrGroupNotEmpty, err)
	}
	return err
}

// listen opens a TCP listener on each address, or none.
func listen(addrs ...string) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// serveAPIs adds to g the HTTP server of handler on httpLn and, if
// grpcServer is set, the gRPC server on grpcLn. When gctx ends it logs msg,
// stops both from taking requests and waits (up to 10 s for HTTP) for those
// under way.
func serveAPIs(g *errgroup.Group, gctx context.Context, log *slog.Logger, msg string, httpLn net.Listener, handler http.Handler, grpcLn net.Listener, grpcServer *grpc.Server) {
	httpServer := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := httpServer.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	if grpcServer != nil {
		g.Go(func() error {
			if err := grpcServer.Serve(grpcLn); err != nil {
				return fmt.Errorf("serve grpc: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info(msg)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if grpcServer != nil {
			grpcServer.GracefulStop()
		}
		return httpServer.Shutdown(shutdownCtx)
	})
}

// deleteObjects removes a deleted topic's objects that no segment uses any
// more. A failure leaves garbage, not lost data.
func deleteObjects(ctx context.Context, store objectstore.Store, keys []string) error {
	var errs []error
	for _, k := range keys {
		if err := store.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ensureTenant returns the named tenant, creating it on the first start.
// Of routers starting at once, one creates it and the others find it.
func ensureTenant(ctx context.Context, reg registry.Store, name string) (registry.Tenant, error) {
	t, err := reg.TenantByName(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		t, err = reg.CreateTenant(ctx, name)
		if errors.Is(err, registry.ErrExists) {
			t, err = reg.TenantByName(ctx, name)
		}
	}
	if err != nil {
		return registry.Tenant{}, fmt.Errorf("tenant %s: %w", name, err)
	}
	return t, nil
}
