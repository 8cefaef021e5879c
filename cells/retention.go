package cells

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// DefaultRetentionInterval is AgentConfig.RetentionInterval's default.
const DefaultRetentionInterval = time.Minute

// retentionCutoff applies a topic's retention to a partition's committed
// segments (oldest first, as ListSegments returns them) and returns the new
// log start offset, with ok false when nothing is to be dropped.
//
//   - By time (retentionMs > 0): the oldest segments are dropped while their
//     MaxTimestamp is below now − retentionMs; as in Kafka, the first one
//     not expired stops it (an expired segment behind it waits, since the
//     log start cannot skip over kept data). Every committed segment may go
//     this way, as in Kafka once its segment has rolled: the log start then
//     is the high watermark.
//   - By size (retentionBytes > 0): the oldest segments are dropped while
//     the total of the committed segments (their Length) exceeds
//     retentionBytes; the newest committed segment is always kept by this
//     rule, as Kafka keeps its active segment.
//
// Unlimited (or any value <= 0) disables a rule. Only committed segments are
// considered, so data not yet committed is never touched. The result is the
// offset after the last dropped segment, which is the first offset of the
// first kept one (offsets are dense across segments).
func retentionCutoff(retentionMs, retentionBytes int64, segs []registry.Segment, now time.Time) (newLogStart int64, ok bool) {
	drop := 0 // segs[:drop] are dropped
	if retentionMs > 0 {
		limit := now.UnixMilli() - retentionMs
		for drop < len(segs) && segs[drop].MaxTimestamp < limit {
			drop++
		}
	}
	if retentionBytes > 0 && len(segs) > 1 {
		var total int64
		for _, s := range segs[drop:] {
			total += s.Length
		}
		for drop < len(segs)-1 && total > retentionBytes {
			total -= segs[drop].Length
			drop++
		}
	}
	if drop == 0 {
		return 0, false
	}
	return segs[drop-1].LastOffset + 1, true
}

// errRetentionDone stops a partition's retention runner: the partition moved
// (a newer epoch) or its topic is gone.
var errRetentionDone = errors.New("retention done")

// retention applies its topic's retention to one owned partition, as the
// owner of the given epoch (DeleteSegmentsBefore is fenced by it), and
// deletes the objects that no segment refers to any more.
type retention struct {
	id       registry.PartitionID
	epoch    int64
	reg      registry.Store
	store    objectstore.Store
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// run applies retention every interval until ctx ends or the partition is
// no longer this epoch's (or its topic is gone).
func (r *retention) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.apply(ctx); err != nil {
			if errors.Is(err, errRetentionDone) {
				r.log.Debug("retention stopped", "err", err)
				return
			}
			if ctx.Err() == nil {
				r.log.Warn("apply retention", "err", err)
			}
		}
	}
}

// apply runs one pass: read the topic's retention, the partition and its
// committed segments, move the log start and delete the unreferenced
// objects. A stale epoch or a deleted topic wraps errRetentionDone.
func (r *retention) apply(ctx context.Context) error {
	tp, err := r.reg.TopicByID(ctx, r.id.Tenant, r.id.Topic)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("%w: topic: %w", errRetentionDone, err)
	}
	if err != nil {
		return fmt.Errorf("read topic: %w", err)
	}
	if tp.CleanupPolicy == registry.CleanupCompact {
		return nil // compaction, not deletion, keeps its size down
	}
	if tp.RetentionMs <= 0 && tp.RetentionBytes <= 0 {
		return nil
	}
	// The epoch is checked here too, so that a runner with nothing to
	// delete also ends once the partition has moved.
	p, err := r.reg.Partition(ctx, r.id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fmt.Errorf("%w: partition: %w", errRetentionDone, err)
	case err != nil:
		return fmt.Errorf("read partition: %w", err)
	case p.Epoch != r.epoch:
		return fmt.Errorf("%w: %w", errRetentionDone, &registry.EpochError{Partition: r.id, Expected: r.epoch, Actual: p.Epoch})
	}
	segs, err := r.reg.ListSegments(ctx, r.id, p.LogStartOffset, 0)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("%w: partition: %w", errRetentionDone, err)
	}
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	cut, ok := retentionCutoff(tp.RetentionMs, tp.RetentionBytes, segs, r.now())
	if !ok {
		return nil
	}
	removed, err := r.reg.DeleteSegmentsBefore(ctx, r.id, r.epoch, cut)
	switch {
	case errors.Is(err, registry.ErrEpochFenced), errors.Is(err, registry.ErrNotFound):
		return fmt.Errorf("%w: %w", errRetentionDone, err)
	case err != nil:
		return fmt.Errorf("move log start to %d: %w", cut, err)
	}
	if len(removed.Segments) > 0 {
		r.log.Info("retention", "log_start", cut, "segments", len(removed.Segments), "objects", len(removed.UnreferencedObjects))
	}
	// The index rows are gone: an object left behind by a failure below is
	// only garbage for the collector.
	var failed error
	for _, key := range removed.UnreferencedObjects {
		if err := r.store.Delete(ctx, key); err != nil && !errors.Is(err, objectstore.ErrNotFound) {
			r.log.Warn("delete segment object after retention; left as garbage", "key", key, "err", err)
			failed = errors.Join(failed, err)
		}
	}
	return failed
}

// retentionRunner is a running retention.run, owned by its slot.
type retentionRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startRetention starts the partition's retention runner as the owner of
// epoch, bounded by ctx (the lease). The slot stops it before it stops the
// actor.
func (sl *slot) startRetention(ctx context.Context, epoch int64) *retentionRunner {
	rctx, cancel := context.WithCancel(ctx)
	rr := &retentionRunner{cancel: cancel, done: make(chan struct{})}
	r := &retention{
		id:       registry.PartitionID{Tenant: sl.id.Tenant, Topic: sl.id.Topic, Partition: sl.id.Partition},
		epoch:    epoch,
		reg:      sl.a.cfg.Registry,
		store:    sl.a.cfg.Store,
		interval: sl.a.cfg.RetentionInterval,
		now:      sl.a.cfg.Now,
		log:      sl.log,
	}
	go func() { // owned by the slot: stop waits for it
		defer close(rr.done)
		r.run(rctx)
	}()
	return rr
}

func (rr *retentionRunner) stop() {
	rr.cancel()
	<-rr.done
}
