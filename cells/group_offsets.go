package cells

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// ResetTo says where ResetOffsets moves a group's offsets.
type ResetTo int

const (
	// ResetEarliest moves to each partition's log start offset.
	ResetEarliest ResetTo = iota
	// ResetLatest moves to each partition's high watermark.
	ResetLatest
	// ResetToOffset moves to OffsetReset.Offset, clamped into
	// [log start, high watermark] per partition (as Kafka's tool does).
	ResetToOffset
	// ResetToTime moves to the first offset at or after OffsetReset.Time,
	// through GroupConfig.OffsetForTime, clamped as ResetToOffset.
	ResetToTime
)

func (r ResetTo) String() string {
	switch r {
	case ResetEarliest:
		return "earliest"
	case ResetLatest:
		return "latest"
	case ResetToOffset:
		return "offset"
	case ResetToTime:
		return "time"
	}
	return fmt.Sprintf("ResetTo(%d)", int(r))
}

// OffsetReset is an offset reset of a group.
type OffsetReset struct {
	// Topics are reset, every partition of each (registry topic ids).
	Topics []int64
	To     ResetTo
	Offset int64     // for ResetToOffset
	Time   time.Time // for ResetToTime
}

// beginReset marks the group as resetting, which keeps members out until
// endReset; it refuses while the group has members.
func (g *Group) beginReset() error {
	if n := len(g.members); n > 0 {
		return &GroupNotEmptyError{Group: g.cfg.Name, Members: n}
	}
	if g.resetting {
		return fmt.Errorf("group %q reset: %w", g.cfg.Name, ErrResetInProgress)
	}
	g.resetting = true
	return nil
}

func (g *Group) endReset() { g.resetting = false }

// ResetOffsets sets the group's committed offsets of the topics' partitions
// as req says, in one registry transaction, and returns what it wrote. It
// is allowed only while the group has no members (else a
// *GroupNotEmptyError); while it runs, joins get ErrResetInProgress.
// Unknown topic: registry.ErrNotFound, wrapped; nothing is written then.
func (g *Group) ResetOffsets(ctx context.Context, req OffsetReset) ([]registry.GroupOffset, error) {
	if err := g.beginReset(); err != nil {
		return nil, err
	}
	defer g.endReset()
	offsets, err := g.resetTargets(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := g.writeOffsets(ctx, offsets); err != nil {
		return nil, err
	}
	return offsets, nil
}

// resetTargets reads the registry (and OffsetForTime) and returns the
// offsets a reset writes. It touches no mutable field of g, so
// GroupCoordinator calls it without its lock.
func (g *Group) resetTargets(ctx context.Context, req OffsetReset) ([]registry.GroupOffset, error) {
	if req.To == ResetToTime && g.cfg.OffsetForTime == nil {
		return nil, fmt.Errorf("group %q reset to time: no OffsetForTime configured", g.cfg.Name)
	}
	if req.To < ResetEarliest || req.To > ResetToTime {
		return nil, fmt.Errorf("group %q reset: %v: %w", g.cfg.Name, req.To, registry.ErrInvalid)
	}
	topics := slices.Clone(req.Topics)
	slices.Sort(topics)
	var out []registry.GroupOffset
	for _, t := range slices.Compact(topics) {
		parts, err := g.cfg.Store.ListPartitions(ctx, g.cfg.Tenant, t)
		if err != nil {
			return nil, fmt.Errorf("group %q reset topic %d: %w", g.cfg.Name, t, err)
		}
		for _, p := range parts {
			var off int64
			switch req.To {
			case ResetEarliest:
				off = p.LogStartOffset
			case ResetLatest:
				off = p.HighWatermark
			case ResetToOffset:
				off = req.Offset
			case ResetToTime:
				off, err = g.cfg.OffsetForTime(ctx, t, p.ID.Partition, req.Time)
				if err != nil {
					return nil, fmt.Errorf("group %q reset %d/%d to time %v: %w",
						g.cfg.Name, t, p.ID.Partition, req.Time, err)
				}
			}
			off = min(max(off, p.LogStartOffset), p.HighWatermark)
			out = append(out, registry.GroupOffset{Topic: t, Partition: p.ID.Partition, Offset: off,
				Metadata: "reset to " + req.To.String()})
		}
	}
	return out, nil
}

// PartitionLag is one partition's lag for a group.
type PartitionLag struct {
	Topic     int64
	Partition int32
	// Member owns the partition in the current generation ("" if none).
	Member string
	// Committed is the group's committed offset, -1 if it has none.
	Committed      int64
	HighWatermark  int64
	LogStartOffset int64
	// Lag is HighWatermark − Committed, or HighWatermark − LogStartOffset
	// without a committed offset; never negative.
	Lag int64
}

// Lag returns the lag of every partition of the topics the members
// subscribe to and of every partition the group has an offset on, sorted by
// topic and partition. Topics deleted meanwhile are left out. It reads the
// registry through GroupConfig.Store.
func (g *Group) Lag(ctx context.Context) ([]PartitionLag, error) {
	return groupLag(ctx, g.cfg.Store, g.Describe())
}

func groupLag(ctx context.Context, store GroupStore, d GroupDescription) ([]PartitionLag, error) {
	committed, err := store.FetchOffsets(ctx, d.Tenant, d.Name)
	if err != nil {
		return nil, fmt.Errorf("group %q lag: %w", d.Name, err)
	}
	offsets := map[TopicPartition]int64{}
	var topics []int64
	for _, o := range committed {
		offsets[TopicPartition{o.Topic, o.Partition}] = o.Offset
		topics = append(topics, o.Topic)
	}
	owner := map[TopicPartition]string{}
	for _, m := range d.Members {
		topics = append(topics, m.Topics...)
		for _, tp := range m.Assignment {
			owner[tp] = m.ID
		}
	}
	slices.Sort(topics)
	var out []PartitionLag
	for _, t := range slices.Compact(topics) {
		parts, err := store.ListPartitions(ctx, d.Tenant, t)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("group %q lag topic %d: %w", d.Name, t, err)
		}
		for _, p := range parts {
			tp := TopicPartition{t, p.ID.Partition}
			l := PartitionLag{Topic: t, Partition: tp.Partition, Member: owner[tp], Committed: -1,
				HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset}
			from := p.LogStartOffset
			if off, ok := offsets[tp]; ok {
				l.Committed, from = off, off
			}
			l.Lag = max(0, p.HighWatermark-from)
			out = append(out, l)
		}
	}
	return out, nil
}
