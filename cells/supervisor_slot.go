package cells

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
)

// slot is one owned partition, from its lease's acquisition to its release:
// one goroutine (run) that owns the lease's KeepAlive, the actor, the produce
// subscription and its lanes, and the retention runner. Assigned, revoked,
// lost (STYLE.md 6):
//
//   - acquired → KeepAlive → StartActor (epoch bump, WAL marker, replay) →
//     subscribe the produce subject → start retention (stopped first on
//     every way out, before the actor);
//   - handed back (rebalance, drain) → unsubscribe, answering what was
//     taken → Stop the actor (flush, commit) → release the lease;
//   - lease lost → Kill the actor at once (nothing more committed) →
//     unsubscribe;
//   - actor ended by itself (fenced, failed) → unsubscribe → release the
//     lease if still ours.
type slot struct {
	a          *Agent
	key        LeaseKey
	id         partition.ID
	durability registry.Durability
	lease      *Lease
	log        *slog.Logger

	handBackCh  chan struct{} // closed: hand the partition back gracefully
	killCh      chan struct{} // closed: stop at once, keep the lease to lapse
	handingBack bool          // supervisor-owned: handBack or kill was called

	// lctx ends when the lease is lost (KeepAlive failed) or the slot is
	// killed: it bounds every step that must not outlive ownership.
	lctx    context.Context
	lcancel context.CancelFunc

	startErr error // set by run before it returns, read by the supervisor after

	// The produce path, set before the subscription and read by its
	// handler and lanes.
	actor    *partition.Actor
	sub      *nats.Subscription // produce
	fetchSub *nats.Subscription
	lanes    []chan produceJob
	lanesW   sync.WaitGroup
	queued   atomic.Int64  // bytes of requests taken and not yet answered
	rr       atomic.Uint32 // round robin of plain producers over the lanes
	mu       struct {
		sync.Mutex
		closed bool // lanes closed: answer not_owner
	}
}

func newSlot(ctx context.Context, a *Agent, key LeaseKey, d registry.Durability, lease *Lease) *slot {
	lctx, lcancel := context.WithCancel(ctx)
	return &slot{
		lctx:       lctx,
		lcancel:    lcancel,
		a:          a,
		key:        key,
		id:         partitionID(key),
		durability: d,
		lease:      lease,
		log:        a.log.With("partition", key.String()),
		handBackCh: make(chan struct{}),
		killCh:     make(chan struct{}),
	}
}

// handBack asks the slot to hand its partition back gracefully. Called by
// the supervisor's goroutine only.
func (sl *slot) handBack() {
	if !sl.handingBack {
		sl.handingBack = true
		close(sl.handBackCh)
	}
}

// kill asks the slot to stop at once without releasing (the connection is
// gone). Called by the supervisor's goroutine only, instead of handBack.
func (sl *slot) kill() {
	if !sl.handingBack {
		sl.handingBack = true
		close(sl.killCh)
		sl.lcancel()
	}
}

// keepAlive is a running Lease.KeepAlive.
type keepAlive struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // KeepAlive's result, once done is closed
}

func (sl *slot) startKeepAlive(ctx context.Context) *keepAlive {
	kctx, cancel := context.WithCancel(ctx)
	ka := &keepAlive{cancel: cancel, done: make(chan struct{})}
	go func() { // owned by the slot: stop waits for it
		defer close(ka.done)
		ka.err = sl.lease.KeepAlive(kctx)
		if ka.err != nil { // lost (Lost is closed too), or not renewed in time
			sl.lcancel()
		}
	}()
	return ka
}

func (ka *keepAlive) stop() {
	ka.cancel()
	<-ka.done
}

// run carries the slot through its life; see slot.
func (sl *slot) run() {
	a := sl.a
	defer sl.lcancel()
	ka := sl.startKeepAlive(sl.lctx)
	defer ka.stop()
	lctx := sl.lctx

	cfg := a.cfg.Actor
	cfg.ID = sl.id
	cfg.Durability = sl.durability
	cfg.WAL = nil
	if sl.durability != registry.DurabilityObject {
		cfg.WAL = a.wal.Partition(sl.id)
	} else if cfg.FlushRequests == 0 {
		cfg.FlushRequests = a.cfg.ProduceLanes // every lane waiting: flush now
	}
	cfg.Store = a.cfg.Store
	cfg.Registry = a.cfg.Registry
	cfg.KeyPrefix = a.cfg.KeyPrefix
	cfg.Logger = a.cfg.Logger
	if cfg.Now == nil {
		cfg.Now = a.cfg.Now
	}
	start := time.Now()
	sctx, scancel := context.WithTimeout(lctx, a.cfg.StartTimeout)
	actor, err := partition.StartActor(sctx, cfg)
	scancel()
	if err != nil {
		sl.startErr = err
		sl.log.Warn("take over partition", "err", err)
		ka.stop()
		sl.release()
		return
	}
	sl.actor = actor
	if err := sl.serve(); err != nil {
		sl.startErr = err
		sl.log.Warn("subscribe produce subject", "err", err)
		sl.stopActor(lctx)
		ka.stop()
		sl.release()
		return
	}
	a.setOwned(sl.key, actor)
	sl.log.Info("serving partition", "epoch", actor.Epoch(), "high_watermark", actor.HighWatermark(), "takeover", time.Since(start))
	ret := sl.startRetention(lctx, actor.Epoch())

	select {
	case <-sl.handBackCh:
		ret.stop()
		a.setOwned(sl.key, nil)
		sl.unserve()
		sl.stopActor(lctx)
		ka.stop()
		sl.release()
		sl.log.Info("partition handed back")
	case <-lctx.Done(): // lease lost (or not renewed in time), or killed
		ret.stop()
		actor.Kill()
		a.setOwned(sl.key, nil)
		sl.unserve()
		ka.stop()
		select {
		case <-sl.killCh: // no connection: the lease lapses
		default:
			sl.release() // a lease that lapsed locally may still be ours
		}
		if ka.err != nil {
			a.metrics.lost()
		}
		sl.log.Warn("partition lost", "err", ka.err)
	case <-actor.Done(): // fenced or failed
		ret.stop()
		a.setOwned(sl.key, nil)
		sl.unserve()
		ka.stop()
		sl.release()
		sl.log.Warn("partition actor ended", "err", actor.Err())
	}
}

// stopActor stops the actor gracefully, bounded by StopTimeout and by the
// lease (ctx): past either it is killed.
func (sl *slot) stopActor(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, sl.a.cfg.StopTimeout)
	defer cancel()
	if err := sl.actor.Stop(sctx); err != nil {
		sl.log.Warn("stop partition actor", "err", err)
	}
}

// release hands the lease back so that another agent need not wait for it
// to lapse. A lease lost meanwhile is not released (ErrLeaseLost).
func (sl *slot) release() {
	if sl.a.nc.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sl.a.cfg.LeaseTTL)
	defer cancel()
	if err := sl.lease.Release(ctx); err != nil && !errors.Is(err, ErrLeaseLost) {
		sl.log.Warn("release lease", "err", err)
	}
}
