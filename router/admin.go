package router

import (
	"context"
	"net/http"
	"time"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// Cluster administration (HTTP):
//
//	POST   /topics/{topic}/partitions  add partitions {"partitions": N}   200 + topic
//	GET    /agents                      agents and the partitions they own 200 {"agents":[...]}
//
// and GET /topics/{topic} adds each partition's owner (and its live high
// watermark) when Deps.Cluster (and Deps.Fetch) are set.

// Cluster tells who owns what in the cell: the partition leases and the
// agents' heartbeats (cells.Cluster reads them from NATS KV).
type Cluster interface {
	// Owners returns the id of the agent holding the lease of each of the
	// topic's partitions, by partition; a partition nobody holds is absent.
	Owners(ctx context.Context, tenant, topic int64) (map[int32]string, error)
	// Agents returns every agent that heartbeats or holds a partition
	// lease, sorted by id, with the partitions whose leases it holds.
	Agents(ctx context.Context) ([]AgentInfo, error)
}

// AgentInfo is one agent as Cluster.Agents reports it.
type AgentInfo struct {
	ID string
	// Live is true while the agent's heartbeat is present; an agent that
	// holds leases without one has just died (its leases lapse soon).
	Live bool
	// Partitions are the partitions whose leases it holds, of every tenant,
	// sorted.
	Partitions []registry.PartitionID
}

// liveHWTimeout bounds the live high watermark look-ups of a describe;
// concurrency bounds how many run at once.
const (
	liveHWTimeout     = 2 * time.Second
	liveHWConcurrency = 8
)

type addPartitionsRequest struct {
	Partitions int32 `json:"partitions"`
}

// addPartitions grows a topic (adminCore.addPartitions).
func (rt *Router) addPartitions(w http.ResponseWriter, r *http.Request) {
	p, t, err := rt.topic(r, auth.ActManageTopics)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	var req addPartitionsRequest
	if err := decodeJSONBody(w, r, maxAdminBody, &req); err != nil {
		rt.writeError(w, r, err)
		return
	}
	grown, err := rt.admin().addPartitions(r.Context(), p, t, req.Partitions)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, topicOut(grown))
}

type agentJSON struct {
	ID         string          `json:"id"`
	Live       bool            `json:"live"`
	Partitions []agentPartJSON `json:"partitions"`
}

type agentPartJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// listAgents answers GET /api/v1/agents (adminCore.listAgents).
func (rt *Router) listAgents(w http.ResponseWriter, r *http.Request) {
	p, err := rt.authorize(r, auth.ActRead)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	out, err := rt.admin().listAgents(r.Context(), p.Tenant)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Agents []agentJSON `json:"agents"`
	}{out})
}
