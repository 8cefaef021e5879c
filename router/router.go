// Package router is StreamHouse's front door: the HTTP API (chi), its
// WebSocket endpoints (ws.go) and the gRPC API (grpc.go). It resolves names
// to ids in the registry, picks each record's partition, and hands one
// batch per partition to a Producer, which carries it to the partition's
// owner (NATS request/reply in a cell). Errors from every layer go through
// one table (errors.go) to the client.
//
// Every entry point authenticates first (Config.Authenticate,
// GRPCConfig.Authenticate: an auth.Principal, or an error wrapping
// auth.ErrUnauthenticated: 401), checks the principal's role for its
// action (403; authz.go has the table's use), and scopes every look-up by
// the principal's tenant: another organization's topic or group is not
// found (404), exactly as a missing one. Then the organization's quotas
// (Deps.Quotas, quota.go: 403, 429 with Retry-After, 413) are checked
// before anything is written or read; what the owners acknowledged and
// what was served is metered (Deps.Usage), and changes are audited
// (Deps.Audit).
//
// HTTP API (all under /api/v1, JSON unless said otherwise):
//
//	                                                             least role
//	POST   /topics                  create a topic               admin   201 + topic
//	GET    /topics                  list the tenant's topics     viewer  200 {"topics":[...]}
//	GET    /topics/{topic}          describe, with partitions    viewer  200 + topic
//	DELETE /topics/{topic}          delete                       admin   204
//	POST   /topics/{topic}/records  produce (JSON or binary)     member  200 {"offsets":[...]}
//	POST   /topics/{topic}/partitions  add partitions            admin   200 + topic
//	GET    /topics/{topic}/partitions/{p}/records  read a page   member  200 (records.go)
//	GET    /agents                  agents and what they own     viewer  200 {"agents":[...]}
//	GET    /groups                  list consumer groups         viewer  200 {"groups":[...]}
//	GET    /groups/{group}          members, offsets and lag     viewer  200 + group
//	POST   /groups/{group}/reset    reset offsets (no members)   member  200 {"offsets":[...]}
//	DELETE /groups/{group}          delete (no members)          member  204
//	GET    /ws/produce, /ws/consume (not under /api/v1)          member  ws.go
//
// admin.go and admin_groups.go serve the last five.
// See produce.go for the produce request formats, partitioning and what a
// partial failure returns.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// Producer carries one partition's batch to the partition's owner and
// returns its answer. The router calls it once per partition per client
// request, concurrently for different partitions.
//
// req's records alias the client request's memory, which the router reuses
// once Produce returns: an implementation must be done with them (encoded
// them, copied them) by then. A failure the implementation can classify is
// returned as a *wire.Error (no responder: NotOwner; timeout: Unavailable)
// or as a response whose Code is not OK; any other error is reported to the
// client as internal. ctx carries the produce timeout (Config.ProduceTimeout)
// and is cancelled if the client goes away.
type Producer interface {
	Produce(ctx context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error)
}

// Defaults of Config.
const (
	DefaultMaxRecordBytes     = 1 << 20 // 1 MiB, Kafka's message.max.bytes
	DefaultMaxRequestBytes    = 8 << 20 // 8 MiB
	DefaultMaxRequestRecords  = 100_000
	DefaultProduceTimeout     = 30 * time.Second
	DefaultProduceConcurrency = 64
)

// Config is the router's configuration. Zero values take the defaults that
// EnsureDefaults documents; Authenticate is required.
type Config struct {
	// Authenticate returns who a request acts as (required). It runs first
	// in every API call and on every WebSocket upgrade request. Its error
	// goes through the error table: one wrapping auth.ErrUnauthenticated
	// is a 401 with WWW-Authenticate: Bearer, a registry that cannot be
	// reached (registry.IsUnavailable) a 503. A cell with authentication
	// off passes Anonymous(its tenant).
	Authenticate func(r *http.Request) (auth.Principal, error)
	// MaxRecordBytes bounds one record's key + value + header keys and
	// values. A produce request with any record over it is refused whole
	// with 413. The default is 1 MiB.
	MaxRecordBytes int
	// MaxRequestBytes bounds a request body (read through
	// http.MaxBytesReader); over it: 413 and nothing is produced. The default
	// is 8 MiB.
	MaxRequestBytes int64
	// MaxRequestRecords bounds the records of one produce request; over it:
	// 413. It bounds the memory a request of many tiny records can take
	// (an 8 MiB JSON body of {"value":1} records holds 700,000 of them,
	// each decoded into structs many times its size). The default is
	// 100,000.
	MaxRequestRecords int
	// ProduceTimeout bounds the wait for the partition owners' answers; a
	// partition that has not answered by then is reported unavailable (503).
	// The default is 30 s, Kafka's request.timeout.ms.
	ProduceTimeout time.Duration
	// ProduceConcurrency is the most partition batches of one client request
	// in flight at once. The default is 64.
	ProduceConcurrency int
	// WebSocket configures /ws/produce and /ws/consume (ws.go).
	WebSocket WSConfig
	// Schemas, if set, checks produced records against the schema
	// registry's per-topic rules (schemacheck.go); nil checks nothing.
	Schemas SchemaValidator
}

// EnsureDefaults fills zero fields with their defaults and returns c.
func (c Config) EnsureDefaults() Config {
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxRequestRecords == 0 {
		c.MaxRequestRecords = DefaultMaxRequestRecords
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.ProduceConcurrency == 0 {
		c.ProduceConcurrency = DefaultProduceConcurrency
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Authenticate == nil:
		return errors.New("router config: Authenticate is required")
	case c.MaxRecordBytes < 0 || c.MaxRequestBytes < 0 || c.MaxRequestRecords < 0 || c.ProduceTimeout < 0 || c.ProduceConcurrency < 0:
		return errors.New("router config: limits must not be negative")
	case int64(c.MaxRecordBytes) > c.MaxRequestBytes:
		return fmt.Errorf("router config: MaxRecordBytes %d is over MaxRequestBytes %d", c.MaxRecordBytes, c.MaxRequestBytes)
	}
	return nil
}

// Deps are the router's collaborators.
type Deps struct {
	// Topics is the catalogue (required).
	Topics registry.Topics
	// TopicCache, if set, resolves topic names on the data path (produce,
	// record reads, WebSocket) without a registry read per request, and
	// keeps them going while the registry restarts; admin requests always
	// read the registry. Share one with GRPCConfig.TopicCache.
	TopicCache *TopicCache
	// Producer carries batches to partition owners (required).
	Producer Producer
	// Logger gets internal errors (the client sees only "internal error").
	// Nil discards.
	Logger *slog.Logger
	// TopicCreated, if set, is called after a topic was created, before the
	// 201 is sent: the place to tell the agents to take its partitions now
	// rather than at their next periodic look at the registry. It must not
	// block.
	TopicCreated func(topic registry.Topic)
	// TopicDeleted, if set, is called after a topic was deleted from the
	// registry, with what the registry removed: the place to stop the
	// topic's partition actors and delete removed.UnreferencedObjects (only
	// those; see registry.Topics.DeleteTopic). Nil leaves the objects to the
	// garbage collector. It runs before the 204 is sent; its error is logged,
	// not returned (the topic is gone either way).
	TopicDeleted func(ctx context.Context, topic registry.Topic, removed registry.Removed) error
	// Fetch, if set, carries /ws/consume's fetches to partition owners; nil
	// disables /ws/consume (404).
	Fetch Fetcher
	// TopicChanged, if set, is called after partitions were added to a
	// topic, before the 200 is sent, like TopicCreated (which is called
	// instead when TopicChanged is nil). It must not block.
	TopicChanged func(topic registry.Topic)
	// Cluster, if set, tells partition owners and agents (admin.go); nil
	// leaves owners out of a topic's description and answers /agents 503.
	Cluster Cluster
	// Offsets, if set, serves /groups from the registry's committed
	// offsets; nil answers /groups 404.
	Offsets registry.Offsets
	// Groups, if set, reaches the groups' coordinators for members,
	// assignments, and resets and deletes refused while a group has
	// members; nil shows no members and resets and deletes in the registry
	// directly.
	Groups GroupAdmin
	// OffsetForTime, if set, serves offset resets to a timestamp: the first
	// offset of the partition whose record timestamp is at or after tsMs,
	// or the high watermark if none is. Nil refuses such resets (503).
	OffsetForTime func(ctx context.Context, id registry.PartitionID, tsMs int64) (int64, error)
	// Metrics, if set, counts records and bytes produced and fetched, times
	// requests and counts errors (metrics.go); pass the same one to
	// GRPCConfig. Nil records nothing.
	Metrics *Metrics
	// Quotas, if set, holds each organization to its plan (quota.go): every
	// produce request (HTTP, or WebSocket frame) once its records are
	// validated, every topic create and partition growth, every fetch
	// (HTTP record read, WebSocket consume poll) before it is made. Nil
	// admits everything (a dev cell).
	Quotas Quotas
	// Usage, if set, meters records and bytes (keys, values and headers)
	// per organization: produced, per partition batch its owner
	// acknowledged; consumed, per batch served. Nil meters nothing.
	Usage UsageMeter
	// Audit, if set, records topic.create, topic.delete, topic.partitions,
	// group.reset and group.delete with the principal as actor. Nil
	// records nothing.
	Audit Auditor
}

// Router serves the API. It is safe for concurrent use.
type Router struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	mux  chi.Router
}

// New returns the router with cfg's defaults applied; it fails if a required
// field is missing or a limit is out of range.
func New(cfg Config, deps Deps) (*Router, error) {
	cfg = cfg.EnsureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Topics == nil || deps.Producer == nil {
		return nil, errors.New("router: Deps.Topics and Deps.Producer are required")
	}
	rt := &Router{cfg: cfg, deps: deps, log: deps.Logger}
	if rt.log == nil {
		rt.log = slog.New(slog.DiscardHandler)
	}
	mux := chi.NewRouter()
	if deps.Metrics != nil {
		mux.Use(deps.Metrics.httpMiddleware)
	}
	mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		rt.writeError(w, r, wire.Errorf(wire.NotFound, "no such path %s", r.URL.Path))
	})
	mux.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		rt.writeError(w, r, &statusError{status: http.StatusMethodNotAllowed,
			err: wire.Errorf(wire.Invalid, "method %s is not allowed on %s", r.Method, r.URL.Path)})
	})
	mux.Route("/api/v1/topics", func(m chi.Router) {
		m.Post("/", rt.createTopic)
		m.Get("/", rt.listTopics)
		m.Get("/{topic}", rt.describeTopic)
		m.Delete("/{topic}", rt.deleteTopic)
		m.Post("/{topic}/records", rt.produce)
		m.Post("/{topic}/partitions", rt.addPartitions)
		m.Get("/{topic}/partitions/{partition}/records", rt.readRecords)
	})
	mux.Get("/api/v1/agents", rt.listAgents)
	mux.Route("/api/v1/groups", func(m chi.Router) {
		m.Get("/", rt.listGroups)
		m.Get("/{group}", rt.describeGroup)
		m.Post("/{group}/reset", rt.resetGroup)
		m.Delete("/{group}", rt.deleteGroup)
	})
	ws := newWSServer(rt)
	mux.Get("/ws/produce", ws.produce)
	mux.Get("/ws/consume", ws.consume)
	rt.mux = mux
	return rt, nil
}

// ServeHTTP serves the API.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// Routes lists the API's routes as "METHOD /pattern" (chi's patterns,
// "/api/v1/topics/{topic}"), sorted: for tests that must cover every
// route, such as the isolation test.
func (rt *Router) Routes() []string {
	return walkRoutes(rt.mux)
}

// walkRoutes lists a chi router's routes, sorted, without trailing
// slashes on sub-router roots.
func walkRoutes(r chi.Routes) []string {
	var out []string
	_ = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		out = append(out, method+" "+route)
		return nil
	})
	slices.Sort(out)
	return out
}
