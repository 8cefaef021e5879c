package dashboard

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/router/auth"
)

// Snapshot is the event the console pushes at each client's refresh rate:
// the cell's state and its metrics at one moment.
type Snapshot struct {
	Type   string      `json:"type"` // "snapshot"
	TimeMs int64       `json:"time_ms"`
	Topics []TopicStat `json:"topics"`
	// TopicsTruncated is true when the cell has more than Config.MaxTopics
	// topics: only the first (by name) are shown. Likewise for groups and
	// metric series.
	TopicsTruncated bool              `json:"topics_truncated,omitempty"`
	Groups          []GroupStat       `json:"groups"`
	GroupsTruncated bool              `json:"groups_truncated,omitempty"`
	Agents          []Agent           `json:"agents"`
	Health          map[string]string `json:"health"`
	// Errors names the parts that could not be read this time ("topics",
	// "groups", "agents", "health", "metrics") with the error.
	Errors           map[string]string `json:"errors,omitempty"`
	Metrics          map[string]Family `json:"metrics"`
	MetricsTruncated bool              `json:"metrics_truncated,omitempty"`
}

// TopicStat is a topic with its totals and throughput.
type TopicStat struct {
	Topic
	// Records is the records retained (high watermark − log start, summed).
	Records int64 `json:"records"`
	// SizeBytes is the committed segments' bytes (the unflushed tail is not
	// counted).
	SizeBytes int64 `json:"size_bytes"`
	// RecordsPerSec is the growth of the summed high watermarks since the
	// previous snapshot; 0 in the first.
	RecordsPerSec float64 `json:"records_per_sec"`
}

// GroupStat is a group with its total lag.
type GroupStat struct {
	Group
	Lag int64 `json:"lag"`
}

// rater turns high-watermark sums into rates between snapshots of one
// organization. It belongs to the hub's poller, which lends it to one
// snapshot at a time.
type rater struct {
	prev map[string]hwPoint
}

type hwPoint struct {
	sum int64
	at  time.Time
}

// rate records topic's sum at now and returns the records per second since
// the last record of it (0 for the first, or after a topic was recreated
// with a smaller sum).
func (r *rater) rate(topic string, sum int64, now time.Time) float64 {
	if r.prev == nil {
		r.prev = map[string]hwPoint{}
	}
	p, ok := r.prev[topic]
	r.prev[topic] = hwPoint{sum, now}
	dt := now.Sub(p.at).Seconds()
	if !ok || dt <= 0 || sum < p.sum {
		return 0
	}
	return float64(sum-p.sum) / dt
}

// forget drops topics not in keep, so a deleted topic's history goes.
func (r *rater) forget(keep map[string]bool) {
	for name := range r.prev {
		if !keep[name] {
			delete(r.prev, name)
		}
	}
}

// snapshot reads the source as p and the gatherer concurrently, each part
// within Config.SourceTimeout; a failed part is left empty and named in
// Errors. The metrics are read only if p may see them (MetricsVisible).
func (c *Console) snapshot(ctx context.Context, r *rater, p auth.Principal, now time.Time) *Snapshot {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SourceTimeout)
	defer cancel()
	s := &Snapshot{Type: "snapshot", TimeMs: now.UnixMilli(), Topics: []TopicStat{}, Groups: []GroupStat{},
		Agents: []Agent{}, Health: map[string]string{}, Metrics: map[string]Family{}}
	var (
		mu     sync.Mutex
		errs   = map[string]string{}
		topics []Topic
		groups []Group
		wg     sync.WaitGroup
	)
	fail := func(part string, err error) {
		mu.Lock()
		errs[part] = err.Error()
		mu.Unlock()
	}
	wg.Go(func() {
		var err error
		if topics, err = c.cfg.Source.Topics(ctx, p); err != nil {
			fail("topics", err)
		}
	})
	wg.Go(func() {
		var err error
		if groups, err = c.cfg.Source.Groups(ctx, p); err != nil {
			fail("groups", err)
		}
	})
	wg.Go(func() {
		if agents, err := c.cfg.Source.Agents(ctx, p); err != nil {
			fail("agents", err)
		} else if agents != nil {
			s.Agents = agents
		}
	})
	wg.Go(func() {
		if h, err := c.cfg.Source.Health(ctx, p); err != nil {
			fail("health", err)
		} else if h != nil {
			s.Health = h
		}
	})
	gatherer := c.cfg.Gatherer
	if c.cfg.MetricsVisible != nil && !c.cfg.MetricsVisible(p) {
		gatherer = nil
	}
	wg.Go(func() {
		m, truncated, err := gatherMetrics(gatherer, c.cfg.MaxSeries)
		if err != nil {
			fail("metrics", err)
		}
		s.Metrics, s.MetricsTruncated = m, truncated
	})
	wg.Wait()
	if len(errs) > 0 {
		s.Errors = errs
	}

	sort.Slice(topics, func(i, j int) bool { return topics[i].Name < topics[j].Name })
	if len(topics) > c.cfg.MaxTopics {
		topics, s.TopicsTruncated = topics[:c.cfg.MaxTopics], true
	}
	keep := map[string]bool{}
	for _, t := range topics {
		ts := TopicStat{Topic: t}
		if ts.PartitionInfo == nil {
			ts.PartitionInfo = []Partition{}
		}
		var hw int64
		for _, p := range t.PartitionInfo {
			hw += p.HW()
			ts.Records += max(0, p.HW()-p.LogStartOffset)
			if p.SizeBytes != nil {
				ts.SizeBytes += *p.SizeBytes
			}
		}
		ts.RecordsPerSec = r.rate(t.Name, hw, now)
		keep[t.Name] = true
		s.Topics = append(s.Topics, ts)
	}
	if errs["topics"] == "" { // a failed read is not a deletion
		r.forget(keep)
	}

	sort.Slice(groups, func(i, j int) bool { return groups[i].Group < groups[j].Group })
	if len(groups) > c.cfg.MaxGroups {
		groups, s.GroupsTruncated = groups[:c.cfg.MaxGroups], true
	}
	for _, g := range groups {
		gs := GroupStat{Group: g}
		if gs.Members == nil {
			gs.Members = []GroupMember{}
		}
		if gs.Offsets == nil {
			gs.Offsets = []GroupOffset{}
		}
		for _, o := range g.Offsets {
			gs.Lag += o.Lag
		}
		s.Groups = append(s.Groups, gs)
	}
	return s
}
