package router

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
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

// addPartitions grows a topic, then tells the agents (Deps.TopicChanged,
// else Deps.TopicCreated) so they take the new partitions at once.
func (rt *Router) addPartitions(w http.ResponseWriter, r *http.Request) {
	tenant, t, err := rt.topic(r)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	var req addPartitionsRequest
	if err := decodeJSONBody(w, r, maxAdminBody, &req); err != nil {
		rt.writeError(w, r, err)
		return
	}
	grown, err := rt.deps.Topics.AddPartitions(r.Context(), tenant, t.ID, req.Partitions)
	if errors.Is(err, registry.ErrNotFound) {
		err = topicNotFound(t.Name)
	}
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	switch {
	case rt.deps.TopicChanged != nil:
		rt.deps.TopicChanged(grown)
	case rt.deps.TopicCreated != nil:
		rt.deps.TopicCreated(grown)
	}
	writeJSON(w, http.StatusOK, topicOut(grown))
}

// addOwners fills the partitions' owners from Deps.Cluster and, for owned
// partitions, their live high watermarks from Deps.Fetch. Both are best
// effort: a failure is logged and leaves the fields out, the registry's
// view still answers.
func (rt *Router) addOwners(r *http.Request, tenant int64, t registry.Topic, parts []partitionJSON) {
	if rt.deps.Cluster == nil {
		return
	}
	owners, err := rt.deps.Cluster.Owners(r.Context(), tenant, t.ID)
	if err != nil {
		rt.log.WarnContext(r.Context(), "describe topic: read partition owners", "topic", t.Name, "err", err)
		return
	}
	for i := range parts {
		parts[i].Owner = owners[parts[i].Partition]
	}
	if rt.deps.Fetch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), liveHWTimeout)
	defer cancel()
	sem := make(chan struct{}, liveHWConcurrency)
	var wg sync.WaitGroup
	for i := range parts {
		if parts[i].Owner == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := &parts[i]
			resp, err := rt.deps.Fetch.Fetch(ctx, &wire.FetchRequest{TenantID: tenant, TopicID: t.ID,
				Partition: p.Partition, Offset: p.HighWatermark, MaxBytes: 1})
			if err == nil && resp.Code == wire.OK {
				hw := resp.HighWatermark
				p.LiveHighWatermark = &hw
			}
		})
	}
	wg.Wait()
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

// listAgents answers GET /api/v1/agents: the cell's agents, each with the
// partitions it owns of the request's tenant (topic names resolved in the
// registry; a partition of a topic deleted meanwhile is left out).
func (rt *Router) listAgents(w http.ResponseWriter, r *http.Request) {
	tenant, err := rt.cfg.Tenant(r)
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	if rt.deps.Cluster == nil {
		rt.writeError(w, r, wire.Errorf(wire.Unavailable, "this router does not see the cell's agents"))
		return
	}
	agents, err := rt.deps.Cluster.Agents(r.Context())
	if err != nil {
		rt.writeError(w, r, err)
		return
	}
	names := map[int64]string{}
	out := make([]agentJSON, 0, len(agents))
	for _, a := range agents {
		aj := agentJSON{ID: a.ID, Live: a.Live, Partitions: []agentPartJSON{}}
		for _, p := range a.Partitions {
			if p.Tenant != tenant {
				continue
			}
			name, ok := names[p.Topic]
			if !ok {
				t, err := rt.deps.Topics.TopicByID(r.Context(), tenant, p.Topic)
				if err != nil && !errors.Is(err, registry.ErrNotFound) {
					rt.writeError(w, r, err)
					return
				}
				name = t.Name // "" when deleted
				names[p.Topic] = name
			}
			if name != "" {
				aj.Partitions = append(aj.Partitions, agentPartJSON{Topic: name, Partition: p.Partition})
			}
		}
		sort.Slice(aj.Partitions, func(i, j int) bool {
			a, b := aj.Partitions[i], aj.Partitions[j]
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
		})
		out = append(out, aj)
	}
	writeJSON(w, http.StatusOK, struct {
		Agents []agentJSON `json:"agents"`
	}{out})
}
