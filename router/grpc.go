package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// Fetcher carries a fetch to the partition's owner and returns its answer
// (in a cell: NATS request/reply on sh.<cell>.fetch..., cells.NATSFetcher).
// A failure it can classify is a *wire.Error (no owner: NotOwner; no
// answer: Unavailable) or an answer whose Code is not OK; any other error
// reaches the client as internal. ctx is the gRPC call's: cancelled when
// the client goes away.
type Fetcher interface {
	Fetch(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error)
}

// GRPCRegistry is the part of the catalogue the gRPC API reads and writes;
// registry.Store has it.
type GRPCRegistry interface {
	Topic(ctx context.Context, tenant int64, name string) (registry.Topic, error)
	TopicByID(ctx context.Context, tenant, id int64) (registry.Topic, error)
	CommitOffsets(ctx context.Context, tenant int64, group string, offsets []registry.GroupOffset) error
	FetchOffsets(ctx context.Context, tenant int64, group string) ([]registry.GroupOffset, error)
}

// Defaults and limits of GRPCConfig.
const (
	// DefaultFetchMaxBytes is the budget of a fetch that asks for none.
	DefaultFetchMaxBytes = 1 << 20
	// DefaultMaxFetchBytes is GRPCConfig.MaxFetchBytes's default: 8 MiB,
	// the request limit.
	DefaultMaxFetchBytes = 8 << 20
	// DefaultMaxFetchWait is GRPCConfig.MaxFetchWait's default.
	DefaultMaxFetchWait = 30 * time.Second
)

// GRPCConfig configures the gRPC server. Authenticate, Topics and Fetch
// are required.
type GRPCConfig struct {
	// Authenticate returns who a call acts as, from its context (the
	// metadata "authorization: Bearer ..."); every call of every service
	// runs it first (a stream, at its start), then checks the principal's
	// role for the method (authz.go), and scopes everything by its tenant.
	// Its error goes through the error table: one wrapping
	// auth.ErrUnauthenticated is UNAUTHENTICATED, a role refusal
	// PERMISSION_DENIED. A cell with authentication off passes
	// AnonymousGRPC(its tenant).
	Authenticate func(ctx context.Context) (auth.Principal, error)
	// Quotas and Usage, if set, admit, charge and meter the fetches of
	// Fetch and Subscribe as Deps.Quotas and Deps.Usage do those of the
	// HTTP API (pass the same ones); nil is off. The AdminService uses
	// Admin's Quotas and Audit.
	Quotas Quotas
	Usage  UsageMeter
	// Topics resolves topic names and keeps consumer offsets.
	Topics GRPCRegistry
	// TopicCache, if set, resolves topic names for Fetch and Subscribe
	// (the HTTP API's Deps.TopicCache; see there).
	TopicCache *TopicCache
	// Fetch carries fetches to partition owners.
	Fetch Fetcher
	// Groups carries consumer group requests to the groups' coordinators
	// (cells.NATSGroups). Optional: without it Subscribe answers
	// UNIMPLEMENTED and commits with a member_id are refused.
	Groups Groups
	// Admin, if set, serves the AdminService (grpc_admin.go) with the HTTP
	// admin API's logic over these dependencies: pass the Deps given to
	// New, so that both edges see and tell the same collaborators (only
	// the admin's fields are used; Topics is required). Nil leaves the
	// AdminService out.
	Admin *Deps
	// Logger gets internal errors (the client sees only "internal error");
	// nil discards.
	Logger *slog.Logger
	// MaxFetchBytes caps a fetch's max_bytes (a larger one is lowered to
	// it, as Kafka does). The default is 8 MiB.
	MaxFetchBytes int32
	// MaxFetchWait caps a fetch's max_wait_ms. The default is 30 s.
	MaxFetchWait time.Duration
	// ServerOptions are passed to grpc.NewServer (credentials,
	// interceptors, keepalive).
	ServerOptions []grpc.ServerOption
	// Metrics, if set, times every call, counts errors and the records
	// Fetch and Subscribe serve (the Router's, metrics.go). Nil records
	// nothing.
	Metrics *Metrics
}

// NewGRPCServer returns a gRPC server with the ConsumerService, the
// AdminService (if cfg.Admin is set) and server reflection registered
// (DESIGN.md, Interfaces); the caller serves it on its listener
// (127.0.0.1:50051 in the dev cell) and stops it with GracefulStop. It fails if a required field is missing.
//
// Subscribe (grpc_subscribe.go) needs Groups; without it, it answers
// UNIMPLEMENTED.
func NewGRPCServer(cfg GRPCConfig) (*grpc.Server, error) {
	if cfg.Authenticate == nil || cfg.Topics == nil || cfg.Fetch == nil {
		return nil, errors.New("new grpc server: Authenticate, Topics and Fetch are required")
	}
	if cfg.Admin != nil && cfg.Admin.Topics == nil {
		return nil, errors.New("new grpc server: Admin.Topics is required")
	}
	if cfg.MaxFetchBytes <= 0 {
		cfg.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if cfg.MaxFetchWait <= 0 {
		cfg.MaxFetchWait = DefaultMaxFetchWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := cfg.ServerOptions
	if cfg.Metrics != nil {
		opts = append(cfg.Metrics.grpcOptions(), opts...)
	}
	srv := grpc.NewServer(opts...)
	shv1.RegisterConsumerServiceServer(srv, &consumerService{cfg: cfg, log: cfg.Logger})
	if cfg.Admin != nil {
		shv1.RegisterAdminServiceServer(srv, newAdminService(cfg))
	}
	reflection.Register(srv)
	return srv, nil
}

// grpcCodes is the gRPC column of the error table (errors.go): every code
// a handler meets maps to a gRPC status code here. A code missing from the
// table (a newer agent's) is served as INTERNAL.
var grpcCodes = map[wire.Code]codes.Code{
	wire.Invalid:         codes.InvalidArgument,
	wire.Unauthenticated: codes.Unauthenticated,
	wire.Forbidden:       codes.PermissionDenied,
	wire.NotFound:        codes.NotFound,
	wire.Exists:          codes.AlreadyExists,
	wire.SequenceGap:     codes.FailedPrecondition, // the producer's state, not the request, is off
	wire.ProducerFenced:  codes.FailedPrecondition, // a newer instance of the producer took over
	wire.TooLarge:        codes.InvalidArgument,    // not ResourceExhausted: a retry cannot help
	wire.Busy:            codes.ResourceExhausted,  // back-pressure, retry after a pause
	wire.NotOwner:        codes.Unavailable,        // ownership is moving, retry
	wire.Fenced:          codes.Unavailable,
	wire.Unavailable:     codes.Unavailable,
	wire.Internal:        codes.Internal,
	wire.OutOfRange:      codes.OutOfRange, // reset the position
	// The consumer group moved on: rejoin (a new Subscribe) and retry.
	wire.RebalanceInProgress: codes.Aborted,
	wire.IllegalGeneration:   codes.Aborted,
	wire.UnknownMember:       codes.Aborted,
	wire.GroupNotEmpty:       codes.FailedPrecondition,
}

// grpcErrorDomain is the ErrorInfo domain of StreamHouse's statuses.
const grpcErrorDomain = "streamhouse.io"

// grpcStatus returns the status of a code and message, with an ErrorInfo
// detail whose reason is the code's API name.
func grpcStatus(c wire.Code, msg string) error {
	gc, ok := grpcCodes[c]
	if !ok {
		gc = codes.Internal
	}
	return grpcStatusOf(gc, c, msg, 0)
}

func grpcStatusOf(gc codes.Code, c wire.Code, msg string, retry time.Duration) error {
	st := status.New(gc, msg)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: c.String(), Domain: grpcErrorDomain}}
	if retry > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(retry)})
	}
	if withInfo, err := st.WithDetails(details...); err == nil {
		st = withInfo
	}
	return st.Err()
}

// toGRPC classifies err through the error table into a status, logging it
// if it is internal (as method). A quota refusal is RESOURCE_EXHAUSTED
// (with RetryInfo for a rate) even when it is a 413: the same call passes
// on a plan with more room, unlike an oversized request.
func toGRPC(ctx context.Context, log *slog.Logger, method string, err error) error {
	code, msg, internal := codeOf(err)
	if internal {
		log.ErrorContext(ctx, "internal error", "method", method, "err", err)
	}
	var refusal QuotaRefusal
	if errors.As(err, &refusal) && code != wire.Forbidden {
		wait, _ := retryAfter(err)
		return grpcStatusOf(codes.ResourceExhausted, code, msg, wait)
	}
	return grpcStatus(code, msg)
}

type consumerService struct {
	shv1.UnimplementedConsumerServiceServer
	cfg GRPCConfig
	log *slog.Logger
}

// toStatus classifies err through the error table (toGRPC).
func (s *consumerService) toStatus(ctx context.Context, method string, err error) error {
	return toGRPC(ctx, s.log, method, err)
}

// authorize authenticates the call and checks that its principal may do
// act.
func (s *consumerService) authorize(ctx context.Context, act auth.Action) (auth.Principal, error) {
	p, err := s.cfg.Authenticate(ctx)
	if err != nil {
		return auth.Principal{}, err
	}
	return p, p.Can(act)
}

func (s *consumerService) accounting() accounting {
	return accounting{quotas: s.cfg.Quotas, usage: s.cfg.Usage}
}

// topic resolves a topic name and checks a partition of it.
func (s *consumerService) topic(ctx context.Context, tenant int64, name string, part int32) (registry.Topic, error) {
	if err := registry.ValidateName(name); err != nil {
		return registry.Topic{}, wire.Errorf(wire.Invalid, "topic: %s", trimSentinel(err, registry.ErrInvalid))
	}
	t, err := topicVia(ctx, s.cfg.TopicCache, s.cfg.Topics, tenant, name)
	if errors.Is(err, registry.ErrNotFound) {
		return registry.Topic{}, wire.Errorf(wire.NotFound, "topic %q not found", name)
	}
	if err != nil {
		return registry.Topic{}, err
	}
	if part < 0 || part >= t.Partitions {
		return registry.Topic{}, wire.Errorf(wire.Invalid, "partition %d does not exist (topic %q has %d: 0 to %d)", part, name, t.Partitions, t.Partitions-1)
	}
	return t, nil
}

// Fetch resolves the topic, checks the request and hands it to the owner.
func (s *consumerService) Fetch(ctx context.Context, in *shv1.FetchRequest) (*shv1.FetchResponse, error) {
	out, err := s.fetch(ctx, in)
	if err != nil {
		return nil, s.toStatus(ctx, "Fetch", err)
	}
	return out, nil
}

func (s *consumerService) fetch(ctx context.Context, in *shv1.FetchRequest) (*shv1.FetchResponse, error) {
	p, err := s.authorize(ctx, auth.ActConsume)
	if err != nil {
		return nil, err
	}
	tenant := p.Tenant
	switch {
	case in.GetOffset() < 0:
		return nil, wire.Errorf(wire.Invalid, "offset %d is negative", in.GetOffset())
	case in.GetMaxBytes() < 0:
		return nil, wire.Errorf(wire.Invalid, "max_bytes %d is negative", in.GetMaxBytes())
	case in.GetMaxWaitMs() < 0:
		return nil, wire.Errorf(wire.Invalid, "max_wait_ms %d is negative", in.GetMaxWaitMs())
	}
	t, err := s.topic(ctx, tenant, in.GetTopic(), in.GetPartition())
	if err != nil {
		return nil, err
	}
	req := &wire.FetchRequest{
		TenantID: tenant, TopicID: t.ID, Partition: in.GetPartition(), Offset: in.GetOffset(),
		MaxBytes:  min(in.GetMaxBytes(), s.cfg.MaxFetchBytes),
		MaxWaitMs: min(in.GetMaxWaitMs(), int32(s.cfg.MaxFetchWait.Milliseconds())),
	}
	if req.MaxBytes == 0 {
		req.MaxBytes = min(DefaultFetchMaxBytes, s.cfg.MaxFetchBytes)
	}
	acct := s.accounting()
	if err := acct.admitFetch(ctx, tenant); err != nil {
		return nil, err
	}
	resp, err := s.cfg.Fetch.Fetch(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != wire.OK {
		return nil, resp.Err()
	}
	servedFetch(s.cfg.Metrics, acct, t.Name, tenant, resp.Records)
	return fetchResponse(resp), nil
}

// fetchResponse converts an owner's answer: two allocations for the
// records and their headers, not one per record. Keys, values and header
// values alias the answer.
func fetchResponse(r *wire.FetchResponse) *shv1.FetchResponse {
	out := &shv1.FetchResponse{HighWatermark: r.HighWatermark, NextOffset: r.NextOffset, LogStartOffset: r.LogStartOffset}
	if len(r.Records) == 0 {
		return out
	}
	nh := 0
	for i := range r.Records {
		nh += len(r.Records[i].Headers)
	}
	recs := make([]shv1.Record, len(r.Records))
	ptrs := make([]*shv1.Record, len(r.Records))
	hdrs := make([]shv1.Header, nh)
	hptrs := make([]*shv1.Header, nh)
	h := 0
	for i := range r.Records {
		src, dst := &r.Records[i], &recs[i]
		dst.Offset, dst.TimestampMs, dst.Key, dst.Value = src.Offset, src.Timestamp, src.Key, src.Value
		if len(src.Headers) > 0 {
			start := h
			for _, sh := range src.Headers {
				hdrs[h].Key, hdrs[h].Value = sh.Key, sh.Value
				hptrs[h] = &hdrs[h]
				h++
			}
			dst.Headers = hptrs[start:h:h]
		}
		ptrs[i] = dst
	}
	out.Records = ptrs
	return out
}

// CommitOffsets stores the group's offsets in the registry, all or none.
func (s *consumerService) CommitOffsets(ctx context.Context, in *shv1.CommitOffsetsRequest) (*shv1.CommitOffsetsResponse, error) {
	if err := s.commitOffsets(ctx, in); err != nil {
		return nil, s.toStatus(ctx, "CommitOffsets", err)
	}
	return &shv1.CommitOffsetsResponse{}, nil
}

func (s *consumerService) commitOffsets(ctx context.Context, in *shv1.CommitOffsetsRequest) error {
	p, err := s.authorize(ctx, auth.ActConsume)
	if err != nil {
		return err
	}
	tenant := p.Tenant
	if len(in.GetOffsets()) == 0 {
		return wire.Errorf(wire.Invalid, "no offsets to commit")
	}
	topics := make(map[string]registry.Topic)
	offs := make([]registry.GroupOffset, len(in.GetOffsets()))
	for i, o := range in.GetOffsets() {
		t, ok := topics[o.GetTopic()]
		if !ok {
			if t, err = s.topic(ctx, tenant, o.GetTopic(), o.GetPartition()); err != nil {
				return fmt.Errorf("offset %d: %w", i, err)
			}
			topics[o.GetTopic()] = t
		} else if p := o.GetPartition(); p < 0 || p >= t.Partitions {
			return wire.Errorf(wire.Invalid, "offset %d: partition %d does not exist (topic %q has %d: 0 to %d)", i, p, t.Name, t.Partitions, t.Partitions-1)
		}
		offs[i] = registry.GroupOffset{Topic: t.ID, Partition: o.GetPartition(), Offset: o.GetOffset(), Metadata: o.GetMetadata()}
	}
	if in.GetMemberId() != "" { // a Subscribe member: the coordinator checks it (grpc_subscribe.go)
		return s.commitAsMember(ctx, tenant, in, offs)
	}
	return s.cfg.Topics.CommitOffsets(ctx, tenant, in.GetGroup(), offs)
}

// FetchOffsets returns the group's committed offsets, of one topic if the
// request names one.
func (s *consumerService) FetchOffsets(ctx context.Context, in *shv1.FetchOffsetsRequest) (*shv1.FetchOffsetsResponse, error) {
	out, err := s.fetchOffsets(ctx, in)
	if err != nil {
		return nil, s.toStatus(ctx, "FetchOffsets", err)
	}
	return out, nil
}

func (s *consumerService) fetchOffsets(ctx context.Context, in *shv1.FetchOffsetsRequest) (*shv1.FetchOffsetsResponse, error) {
	p, err := s.authorize(ctx, auth.ActConsume)
	if err != nil {
		return nil, err
	}
	tenant := p.Tenant
	only := int64(0)
	if in.GetTopic() != "" {
		t, err := s.topic(ctx, tenant, in.GetTopic(), 0)
		if err != nil {
			return nil, err
		}
		only = t.ID
	}
	offs, err := s.cfg.Topics.FetchOffsets(ctx, tenant, in.GetGroup())
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string)
	out := &shv1.FetchOffsetsResponse{}
	for _, o := range offs {
		if only != 0 && o.Topic != only {
			continue
		}
		name, ok := names[o.Topic]
		if !ok {
			t, err := s.cfg.Topics.TopicByID(ctx, tenant, o.Topic)
			switch {
			case errors.Is(err, registry.ErrNotFound):
				// Deleted meanwhile; its offsets go with it.
			case err != nil:
				return nil, err
			default:
				name = t.Name
			}
			names[o.Topic] = name
		}
		if name == "" {
			continue
		}
		out.Offsets = append(out.Offsets, &shv1.PartitionOffset{
			Topic: name, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata,
			CommittedAtMs: o.CommittedAt.UnixMilli(),
		})
	}
	slices.SortStableFunc(out.Offsets, func(a, b *shv1.PartitionOffset) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}
