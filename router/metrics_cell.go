package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// DefaultCellMetricsTimeout bounds one scrape's look-ups of the cell's
// state (RegisterCellMetrics).
const DefaultCellMetricsTimeout = 5 * time.Second

var (
	groupLagDesc = prometheus.NewDesc("streamhouse_group_lag_records",
		"Records of a partition not yet committed by the consumer group: high watermark − committed offset "+
			"(live high watermark from the owner when it answers, else the registry's).",
		[]string{"group", "topic", "partition"}, nil)
	unownedDesc = prometheus.NewDesc("streamhouse_cluster_partitions_unowned",
		"Partitions of the topic whose lease no agent holds: they take no produce requests until one does.",
		[]string{"topic"}, nil)
)

// cellCollector computes, at scrape time, every group's lag from the
// registry's committed offsets and the partitions' high watermarks, and
// each topic's partitions without an owner (with Deps.Cluster). A scrape
// waits at most timeout; what is not known by then is left out, and the
// failure is logged.
type cellCollector struct {
	deps    *Deps
	tenants func(ctx context.Context) ([]int64, error)
	timeout time.Duration
	log     *slog.Logger
}

// RegisterCellMetrics registers in reg the collector of the cell's state,
// for the tenants that tenants returns (their group and topic names must
// not collide: the series carry no tenant):
//
//	streamhouse_group_lag_records{group,topic,partition}   partitions with a committed offset
//	streamhouse_cluster_partitions_unowned{topic}          with Deps.Cluster
//
// Each scrape reads the registry (offsets, topics, partitions), the lease
// bucket, and asks the owners of the groups' partitions for their live
// high watermarks, all within timeout (DefaultCellMetricsTimeout if 0). It
// needs Deps.Offsets; a nil reg does nothing.
func (rt *Router) RegisterCellMetrics(reg prometheus.Registerer, tenants func(ctx context.Context) ([]int64, error), timeout time.Duration) error {
	if reg == nil {
		return nil
	}
	if rt.deps.Offsets == nil || tenants == nil {
		return errors.New("register cell metrics: Deps.Offsets and tenants are required")
	}
	if timeout < 0 {
		return fmt.Errorf("register cell metrics: timeout %v is negative", timeout)
	}
	if timeout == 0 {
		timeout = DefaultCellMetricsTimeout
	}
	if err := reg.Register(&cellCollector{deps: &rt.deps, tenants: tenants, timeout: timeout, log: rt.log}); err != nil {
		return fmt.Errorf("register cell metrics: %w", err)
	}
	return nil
}

func (g *cellCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupLagDesc
	ch <- unownedDesc
}

func (g *cellCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	if err := g.collect(ctx, ch); err != nil {
		g.log.Warn("cell metrics: partial or none", "err", err)
	}
}

func (g *cellCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	tenants, err := g.tenants(ctx)
	if err != nil {
		return fmt.Errorf("tenants: %w", err)
	}
	var held map[registry.PartitionID]bool
	if g.deps.Cluster != nil {
		agents, err := g.deps.Cluster.Agents(ctx)
		if err != nil {
			return fmt.Errorf("agents: %w", err)
		}
		held = map[registry.PartitionID]bool{}
		for _, a := range agents {
			for _, p := range a.Partitions {
				held[p] = true
			}
		}
	}
	for _, tenant := range tenants {
		if held != nil {
			if err := g.collectUnowned(ctx, tenant, held, ch); err != nil {
				return fmt.Errorf("tenant %d: %w", tenant, err)
			}
		}
		if err := g.collectLag(ctx, tenant, ch); err != nil {
			return fmt.Errorf("tenant %d: %w", tenant, err)
		}
	}
	return nil
}

// collectUnowned reports, per topic of tenant, its partitions no lease
// holder in held serves.
func (g *cellCollector) collectUnowned(ctx context.Context, tenant int64, held map[registry.PartitionID]bool, ch chan<- prometheus.Metric) error {
	topics, err := g.deps.Topics.ListTopics(ctx, tenant)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		n := 0
		for p := range t.Partitions {
			if !held[registry.PartitionID{Tenant: tenant, Topic: t.ID, Partition: p}] {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(unownedDesc, prometheus.GaugeValue, float64(n), t.Name)
	}
	return nil
}

// collectLag reports the lag of every group of tenant. High watermarks are
// looked up once per topic and shared by the groups.
func (g *cellCollector) collectLag(ctx context.Context, tenant int64, ch chan<- prometheus.Metric) error {
	groups, err := g.deps.Offsets.ListGroups(ctx, tenant)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	type topicHW struct {
		name string
		hw   map[int32]int64 // nil: the topic is gone
	}
	topics := map[int64]*topicHW{}
	for _, group := range groups {
		committed, err := g.deps.Offsets.FetchOffsets(ctx, tenant, group)
		if err != nil {
			return fmt.Errorf("group %q offsets: %w", group, err)
		}
		for _, o := range committed {
			t := topics[o.Topic]
			if t == nil {
				t = &topicHW{}
				if t.name, t.hw, err = g.highWatermarks(ctx, tenant, o.Topic); err != nil {
					return fmt.Errorf("topic %d: %w", o.Topic, err)
				}
				topics[o.Topic] = t
			}
			hw, ok := t.hw[o.Partition]
			if !ok {
				continue // deleted topic or partition
			}
			ch <- prometheus.MustNewConstMetric(groupLagDesc, prometheus.GaugeValue, float64(max(0, hw-o.Offset)),
				group, t.name, strconv.FormatInt(int64(o.Partition), 10))
		}
	}
	return nil
}

// highWatermarks returns a topic's name and each partition's high
// watermark: the owner's live one where it answers (the registry's moves
// only when a segment is committed), else the registry's. A topic deleted
// meanwhile has none.
func (g *cellCollector) highWatermarks(ctx context.Context, tenant, topic int64) (string, map[int32]int64, error) {
	t, err := g.deps.Topics.TopicByID(ctx, tenant, topic)
	if errors.Is(err, registry.ErrNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	parts, err := g.deps.Topics.ListPartitions(ctx, tenant, topic)
	if errors.Is(err, registry.ErrNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	hw := make(map[int32]int64, len(parts))
	for _, p := range parts {
		hw[p.ID.Partition] = p.HighWatermark
	}
	if g.deps.Fetch == nil {
		return t.Name, hw, nil
	}
	var mu sync.Mutex
	sem := make(chan struct{}, liveHWConcurrency)
	var wg sync.WaitGroup
	for _, p := range parts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := g.deps.Fetch.Fetch(ctx, &wire.FetchRequest{TenantID: tenant, TopicID: topic,
				Partition: p.ID.Partition, Offset: p.HighWatermark, MaxBytes: 1})
			if err == nil && resp.Code == wire.OK {
				mu.Lock()
				hw[p.ID.Partition] = max(hw[p.ID.Partition], resp.HighWatermark)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return t.Name, hw, nil
}
