package cells

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhouse/streamhouse/registry"
)

// Cluster reads who owns what in a cell for the router's admin API
// (cmd/streamhouse adapts it to router.Cluster): the partition leases (sh_<cell>_leases, key
// <tenant id>.<topic id>.<partition>, value the holder's agent id) and the
// agents' heartbeats (sh_<cell>_agents). It only reads. A bucket that does
// not exist yet (no agent has started) reads as empty, and is looked for
// again on the next call. Safe for concurrent use.
type Cluster struct {
	js   jetstream.JetStream
	cell string

	mu struct {
		sync.Mutex
		leases, agents jetstream.KeyValue
	}
}

// ClusterAgent is one agent as Cluster.Agents reports it.
type ClusterAgent struct {
	ID string
	// Live is true while the agent's heartbeat is present; an agent that
	// holds leases without one has just died (its leases lapse soon).
	Live bool
	// Partitions are the partitions whose leases it holds, of every
	// tenant, sorted.
	Partitions []registry.PartitionID
}

// NewCluster returns a Cluster of the cell reading through js.
func NewCluster(js jetstream.JetStream, cell string) (*Cluster, error) {
	if js == nil {
		return nil, errors.New("new cluster: JetStream is required")
	}
	if err := ValidateCellName(cell); err != nil {
		return nil, fmt.Errorf("new cluster: %w", err)
	}
	return &Cluster{js: js, cell: cell}, nil
}

// bucket opens (once) the named bucket; nil without error if it does not
// exist.
func (c *Cluster) bucket(ctx context.Context, leases bool) (jetstream.KeyValue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot, name := &c.mu.agents, AgentsBucket(c.cell)
	if leases {
		slot, name = &c.mu.leases, leaseBucket(c.cell)
	}
	if *slot != nil {
		return *slot, nil
	}
	kv, err := c.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	*slot = kv
	return kv, nil
}

// read returns the bucket's present keys (matching filter) and values:
// the initial values of a watch, without deletes and expiry markers.
func read(ctx context.Context, kv jetstream.KeyValue, filter string) (map[string]string, error) {
	out := map[string]string{}
	if kv == nil {
		return out, nil
	}
	w, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), ErrLeaseWatchStopped)
			}
			if e == nil { // the initial values are all in
				return out, nil
			}
			if e.Operation() == jetstream.KeyValuePut {
				out[e.Key()] = string(e.Value())
			}
		}
	}
}

// Owners returns the id of the agent holding the lease of each of the
// topic's partitions, by partition; a partition nobody holds is absent.
func (c *Cluster) Owners(ctx context.Context, tenant, topic int64) (map[int32]string, error) {
	kv, err := c.bucket(ctx, true)
	if err != nil {
		return nil, err
	}
	held, err := read(ctx, kv, strconv.FormatInt(tenant, 10)+"."+strconv.FormatInt(topic, 10)+".*")
	if err != nil {
		return nil, err
	}
	out := make(map[int32]string, len(held))
	for k, agent := range held {
		lk, err := ParseLeaseKey(k)
		if err != nil || lk.Tenant != tenant || lk.Topic != topic {
			continue // not a partition lease
		}
		out[lk.Partition] = agent
	}
	return out, nil
}

// Agents returns every agent that heartbeats or holds a partition lease,
// sorted by id, with the partitions whose leases it holds.
func (c *Cluster) Agents(ctx context.Context) ([]ClusterAgent, error) {
	akv, err := c.bucket(ctx, false)
	if err != nil {
		return nil, err
	}
	lkv, err := c.bucket(ctx, true)
	if err != nil {
		return nil, err
	}
	live, err := read(ctx, akv, ">")
	if err != nil {
		return nil, err
	}
	held, err := read(ctx, lkv, ">")
	if err != nil {
		return nil, err
	}
	byID := map[string]*ClusterAgent{}
	get := func(id string) *ClusterAgent {
		a := byID[id]
		if a == nil {
			a = &ClusterAgent{ID: id, Partitions: []registry.PartitionID{}}
			byID[id] = a
		}
		return a
	}
	for id := range live {
		get(id).Live = true
	}
	for k, agent := range held {
		lk, err := ParseLeaseKey(k)
		if err != nil {
			continue
		}
		a := get(agent)
		a.Partitions = append(a.Partitions, registry.PartitionID{Tenant: lk.Tenant, Topic: lk.Topic, Partition: lk.Partition})
	}
	out := make([]ClusterAgent, 0, len(byID))
	for _, a := range byID {
		slices.SortFunc(a.Partitions, func(x, y registry.PartitionID) int {
			switch {
			case x.Tenant != y.Tenant:
				return cmp.Compare(x.Tenant, y.Tenant)
			case x.Topic != y.Topic:
				return cmp.Compare(x.Topic, y.Topic)
			}
			return cmp.Compare(int64(x.Partition), int64(y.Partition))
		})
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
