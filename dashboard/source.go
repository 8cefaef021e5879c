package dashboard

import (
	"context"

	"github.com/streamhouse/streamhouse/router/auth"
)

// Source is what the console shows: the cell as its admin API sees it. The
// process adapts the router's admin core to it (cmd/streamhouse/console.go);
// the field names and JSON tags are the admin API's, so an adapter can
// decode the API's answers straight into them. Each call is bounded by the
// ctx the hub passes (Config.SourceTimeout) and acts as p, a principal of
// the organization whose snapshot is being built: the source must answer
// only what p may see (its organization's topics, groups and agents).
type Source interface {
	// Topics returns every topic of p's organization with its partitions
	// (DescribeTopic).
	Topics(ctx context.Context, p auth.Principal) ([]Topic, error)
	// Groups returns every consumer group of p's organization with its
	// members and lag.
	Groups(ctx context.Context, p auth.Principal) ([]Group, error)
	// Agents returns the cell's agents and the partitions of p's
	// organization each owns.
	Agents(ctx context.Context, p auth.Principal) ([]Agent, error)
	// Health returns each component's state: "ok" or its error.
	Health(ctx context.Context, p auth.Principal) (map[string]string, error)
}

// Topic is a topic as GET /api/v1/topics/{topic} describes it.
type Topic struct {
	Name           string      `json:"name"`
	Partitions     int32       `json:"partitions"`
	Durability     string      `json:"durability"`
	RetentionMs    int64       `json:"retention_ms"`
	RetentionBytes int64       `json:"retention_bytes"`
	CleanupPolicy  string      `json:"cleanup_policy"`
	PartitionInfo  []Partition `json:"partition_info"`
}

// Partition is one partition of a Topic.
type Partition struct {
	Partition         int32  `json:"partition"`
	Epoch             int64  `json:"epoch"`
	HighWatermark     int64  `json:"high_watermark"`
	LogStartOffset    int64  `json:"log_start_offset"`
	Owner             string `json:"owner,omitempty"`
	LiveHighWatermark *int64 `json:"live_high_watermark,omitempty"`
	SizeBytes         *int64 `json:"size_bytes,omitempty"`
	Segments          *int   `json:"segments,omitempty"`
}

// HW is the partition's newest known high watermark: the owner's live one
// when known, else the registry's.
func (p Partition) HW() int64 {
	if p.LiveHighWatermark != nil && *p.LiveHighWatermark > p.HighWatermark {
		return *p.LiveHighWatermark
	}
	return p.HighWatermark
}

// Group is a consumer group as GET /api/v1/groups/{group} describes it.
type Group struct {
	Group      string        `json:"group"`
	State      string        `json:"state"`
	Generation int32         `json:"generation"`
	Strategy   string        `json:"strategy,omitempty"`
	Members    []GroupMember `json:"members"`
	Offsets    []GroupOffset `json:"offsets"`
}

// GroupMember is a member of a Group.
type GroupMember struct {
	ID               string           `json:"id"`
	ClientID         string           `json:"client_id"`
	SessionTimeoutMs int64            `json:"session_timeout_ms"`
	Assignment       []TopicPartition `json:"assignment"`
}

// GroupOffset is a group's position on one partition.
type GroupOffset struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	Committed      int64  `json:"committed"` // -1: none
	HighWatermark  int64  `json:"high_watermark"`
	LogStartOffset int64  `json:"log_start_offset"`
	Lag            int64  `json:"lag"`
	Member         string `json:"member,omitempty"`
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// Agent is an agent of the cell as GET /api/v1/agents lists it.
type Agent struct {
	ID         string           `json:"id"`
	Live       bool             `json:"live"`
	Partitions []TopicPartition `json:"partitions"`
}
