package router

import (
	"context"
	"log/slog"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
	"github.com/streamhouse/streamhouse/router/auth"
)

// adminService is the gRPC AdminService: each call authenticates, checks
// the principal's role for the method (as the HTTP route's), converts its
// request, runs the HTTP admin API's logic (adminCore, admin_core.go) over
// the same Deps (their Quotas and Audit too), and converts the result;
// errors go through the error table (toGRPC) with their ErrorInfo reasons.
type adminService struct {
	shv1.UnimplementedAdminServiceServer
	authenticate func(ctx context.Context) (auth.Principal, error)
	core         adminCore
	log          *slog.Logger
}

func newAdminService(cfg GRPCConfig) *adminService {
	deps := *cfg.Admin // a copy: later changes to the caller's Deps do not reach the server
	return &adminService{authenticate: cfg.Authenticate, core: adminCore{deps: &deps, log: cfg.Logger}, log: cfg.Logger}
}

// adminCall authorizes the call for act, runs fn for its principal and
// turns its error into a status.
func adminCall[T any](ctx context.Context, s *adminService, method string, act auth.Action, fn func(p auth.Principal) (T, error)) (T, error) {
	var zero T
	p, err := s.authenticate(ctx)
	if err == nil {
		err = p.Can(act)
	}
	if err == nil {
		var out T
		if out, err = fn(p); err == nil {
			return out, nil
		}
	}
	return zero, toGRPC(ctx, s.log, method, err)
}

func (s *adminService) CreateTopic(ctx context.Context, in *shv1.CreateTopicRequest) (*shv1.CreateTopicResponse, error) {
	return adminCall(ctx, s, "CreateTopic", auth.ActManageTopics, func(p auth.Principal) (*shv1.CreateTopicResponse, error) {
		t, err := s.core.createTopic(ctx, p, createTopicRequest{
			Name: in.GetName(), Partitions: in.Partitions, Durability: in.GetDurability(),
			RetentionMs: in.RetentionMs, RetentionBytes: in.RetentionBytes, CleanupPolicy: in.GetCleanupPolicy(),
		})
		if err != nil {
			return nil, err
		}
		return &shv1.CreateTopicResponse{Topic: topicProto(topicOut(t))}, nil
	})
}

func (s *adminService) ListTopics(ctx context.Context, _ *shv1.ListTopicsRequest) (*shv1.ListTopicsResponse, error) {
	return adminCall(ctx, s, "ListTopics", auth.ActRead, func(p auth.Principal) (*shv1.ListTopicsResponse, error) {
		topics, err := s.core.listTopics(ctx, p.Tenant)
		if err != nil {
			return nil, err
		}
		out := &shv1.ListTopicsResponse{Topics: make([]*shv1.Topic, len(topics))}
		for i, t := range topics {
			out.Topics[i] = topicProto(topicOut(t))
		}
		return out, nil
	})
}

func (s *adminService) DescribeTopic(ctx context.Context, in *shv1.DescribeTopicRequest) (*shv1.DescribeTopicResponse, error) {
	return adminCall(ctx, s, "DescribeTopic", auth.ActRead, func(p auth.Principal) (*shv1.DescribeTopicResponse, error) {
		t, err := s.core.lookupTopic(ctx, p.Tenant, in.GetTopic(), false)
		if err != nil {
			return nil, err
		}
		d, err := s.core.describeTopic(ctx, p.Tenant, t)
		if err != nil {
			return nil, err
		}
		return &shv1.DescribeTopicResponse{Topic: topicProto(d)}, nil
	})
}

func (s *adminService) AddPartitions(ctx context.Context, in *shv1.AddPartitionsRequest) (*shv1.AddPartitionsResponse, error) {
	return adminCall(ctx, s, "AddPartitions", auth.ActManageTopics, func(p auth.Principal) (*shv1.AddPartitionsResponse, error) {
		t, err := s.core.lookupTopic(ctx, p.Tenant, in.GetTopic(), false)
		if err != nil {
			return nil, err
		}
		grown, err := s.core.addPartitions(ctx, p, t, in.GetPartitions())
		if err != nil {
			return nil, err
		}
		return &shv1.AddPartitionsResponse{Topic: topicProto(topicOut(grown))}, nil
	})
}

func (s *adminService) DeleteTopic(ctx context.Context, in *shv1.DeleteTopicRequest) (*shv1.DeleteTopicResponse, error) {
	return adminCall(ctx, s, "DeleteTopic", auth.ActManageTopics, func(p auth.Principal) (*shv1.DeleteTopicResponse, error) {
		t, err := s.core.lookupTopic(ctx, p.Tenant, in.GetTopic(), false)
		if err != nil {
			return nil, err
		}
		if err := s.core.deleteTopic(ctx, p, t); err != nil {
			return nil, err
		}
		return &shv1.DeleteTopicResponse{}, nil
	})
}

func (s *adminService) ListAgents(ctx context.Context, _ *shv1.ListAgentsRequest) (*shv1.ListAgentsResponse, error) {
	return adminCall(ctx, s, "ListAgents", auth.ActRead, func(p auth.Principal) (*shv1.ListAgentsResponse, error) {
		agents, err := s.core.listAgents(ctx, p.Tenant)
		if err != nil {
			return nil, err
		}
		out := &shv1.ListAgentsResponse{Agents: make([]*shv1.Agent, len(agents))}
		for i, a := range agents {
			out.Agents[i] = &shv1.Agent{Id: a.ID, Live: a.Live, Partitions: topicPartitionsProto(a.Partitions)}
		}
		return out, nil
	})
}

func (s *adminService) ListGroups(ctx context.Context, _ *shv1.ListGroupsRequest) (*shv1.ListGroupsResponse, error) {
	return adminCall(ctx, s, "ListGroups", auth.ActRead, func(p auth.Principal) (*shv1.ListGroupsResponse, error) {
		groups, err := s.core.listGroups(ctx, p.Tenant)
		if err != nil {
			return nil, err
		}
		return &shv1.ListGroupsResponse{Groups: groups}, nil
	})
}

func (s *adminService) DescribeGroup(ctx context.Context, in *shv1.DescribeGroupRequest) (*shv1.DescribeGroupResponse, error) {
	return adminCall(ctx, s, "DescribeGroup", auth.ActRead, func(p auth.Principal) (*shv1.DescribeGroupResponse, error) {
		if err := s.core.checkGroup(in.GetGroup()); err != nil {
			return nil, err
		}
		g, err := s.core.describeGroup(ctx, p.Tenant, in.GetGroup())
		if err != nil {
			return nil, err
		}
		out := &shv1.DescribeGroupResponse{Group: g.Group, State: g.State, Generation: g.Generation, Strategy: g.Strategy,
			Members: make([]*shv1.GroupMember, len(g.Members)), Offsets: make([]*shv1.GroupPartitionLag, len(g.Offsets))}
		for i, m := range g.Members {
			out.Members[i] = &shv1.GroupMember{Id: m.ID, ClientId: m.ClientID, SessionTimeoutMs: m.SessionTimeoutMs,
				Assignment: topicPartitionsProto(m.Assignment)}
		}
		for i, o := range g.Offsets {
			out.Offsets[i] = &shv1.GroupPartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: o.Committed,
				HighWatermark: o.HighWatermark, LogStartOffset: o.LogStartOffset, Lag: o.Lag, Member: o.Member}
		}
		return out, nil
	})
}

func (s *adminService) ResetGroupOffsets(ctx context.Context, in *shv1.ResetGroupOffsetsRequest) (*shv1.ResetGroupOffsetsResponse, error) {
	return adminCall(ctx, s, "ResetGroupOffsets", auth.ActManageGroups, func(p auth.Principal) (*shv1.ResetGroupOffsetsResponse, error) {
		if err := s.core.checkGroup(in.GetGroup()); err != nil {
			return nil, err
		}
		shown, err := s.core.resetGroup(ctx, p, in.GetGroup(), resetGroupRequest{
			Topic: in.GetTopic(), To: in.GetTo(), Offset: in.Offset, TimestampMs: in.TimestampMs,
		})
		if err != nil {
			return nil, err
		}
		out := &shv1.ResetGroupOffsetsResponse{Offsets: make([]*shv1.ResetOffset, len(shown))}
		for i, o := range shown {
			out.Offsets[i] = &shv1.ResetOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset}
		}
		return out, nil
	})
}

func (s *adminService) DeleteGroup(ctx context.Context, in *shv1.DeleteGroupRequest) (*shv1.DeleteGroupResponse, error) {
	return adminCall(ctx, s, "DeleteGroup", auth.ActManageGroups, func(p auth.Principal) (*shv1.DeleteGroupResponse, error) {
		if err := s.core.checkGroup(in.GetGroup()); err != nil {
			return nil, err
		}
		if err := s.core.deleteGroup(ctx, p, in.GetGroup()); err != nil {
			return nil, err
		}
		return &shv1.DeleteGroupResponse{}, nil
	})
}

// topicProto converts a topic as the HTTP API shows it (with its
// partitions, if described).
func topicProto(t topicJSON) *shv1.Topic {
	out := &shv1.Topic{
		Name: t.Name, Id: t.ID, Partitions: t.Partitions, Durability: t.Durability,
		RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes, CleanupPolicy: t.CleanupPolicy,
		CreatedAtMs: t.CreatedAt.UnixMilli(), UpdatedAtMs: t.UpdatedAt.UnixMilli(),
	}
	if len(t.PartitionInfo) > 0 {
		out.PartitionInfo = make([]*shv1.TopicPartitionInfo, len(t.PartitionInfo))
		for i, p := range t.PartitionInfo {
			pi := &shv1.TopicPartitionInfo{Partition: p.Partition, Epoch: p.Epoch,
				HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset, Owner: p.Owner,
				LiveHighWatermark: p.LiveHighWatermark, SizeBytes: p.SizeBytes}
			if p.Segments != nil {
				n := int64(*p.Segments)
				pi.Segments = &n
			}
			out.PartitionInfo[i] = pi
		}
	}
	return out
}

func topicPartitionsProto(ps []agentPartJSON) []*shv1.TopicPartition {
	out := make([]*shv1.TopicPartition, len(ps))
	for i, p := range ps {
		out[i] = &shv1.TopicPartition{Topic: p.Topic, Partition: p.Partition}
	}
	return out
}
