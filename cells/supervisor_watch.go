package cells

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// watchRetry is the pause before watching again after a watch failed while
// the connection is still open (reconnecting).
const watchRetry = 250 * time.Millisecond

// leaseUpdate is what the lease watcher tells the supervisor: a fresh
// snapshot of every holder (at start and at every resync), or one event.
type leaseUpdate struct {
	snapshot map[LeaseKey]string // non-nil: replaces the supervisor's view
	event    LeaseEvent
}

// watchLeases follows the lease bucket and sends the supervisor a snapshot,
// then every change, until ctx ends. Every RebalanceInterval it watches
// again and sends a fresh snapshot: a watcher disconnected for about a TTL
// can miss an expiry (DESIGN.md). It returns an error only when the
// connection is closed.
func (a *Agent) watchLeases(ctx context.Context, out chan<- leaseUpdate) error {
	for {
		gen := a.nc.Stats().Reconnects
		lw, err := a.leases.Watch(ctx)
		if err != nil {
			if done, err := a.watchFailed(ctx, err); done {
				return err
			}
			continue
		}
		rctx, cancel := a.resyncCtx(ctx, gen)
		err = a.followLeases(ctx, rctx, lw, out)
		cancel()
		_ = lw.Stop()
		if done, err := a.watchFailed(ctx, err); done {
			return err
		}
	}
}

// followLeases sends lw's snapshot and events until rctx ends (nil: time to
// resync), ctx's end or a watch error.
func (a *Agent) followLeases(ctx, rctx context.Context, lw *LeaseWatcher, out chan<- leaseUpdate) error {
	if !send(ctx, out, leaseUpdate{snapshot: lw.Snapshot()}) {
		return ctx.Err()
	}
	for {
		ev, err := lw.Next(rctx)
		if err != nil {
			if ctx.Err() == nil && rctx.Err() != nil {
				return nil // time to resync
			}
			return err
		}
		if !send(ctx, out, leaseUpdate{event: ev}) {
			return ctx.Err()
		}
	}
}

// watchAgents follows the heartbeat bucket and sends the supervisor the set
// of live agents at start and whenever it changes (a heartbeat's renewal is
// no change), until ctx ends, watching afresh as watchLeases does. It
// returns an error only when the connection is closed.
func (a *Agent) watchAgents(ctx context.Context, out chan<- map[string]bool) error {
	for {
		gen := a.nc.Stats().Reconnects
		w, err := a.agents.WatchAll(ctx)
		if err != nil {
			if done, err := a.watchFailed(ctx, err); done {
				return err
			}
			continue
		}
		rctx, cancel := a.resyncCtx(ctx, gen)
		err = followAgents(ctx, rctx, w, out)
		cancel()
		_ = w.Stop()
		if done, err := a.watchFailed(ctx, err); done {
			return err
		}
	}
}

// followAgents sends the live set after w's initial values and on every
// change, until rctx ends (nil: time to resync), ctx's end or the watch's.
func followAgents(ctx, rctx context.Context, w jetstream.KeyWatcher, out chan<- map[string]bool) error {
	live := make(map[string]bool)
	started := false
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-rctx.Done():
			if ctx.Err() == nil {
				return nil
			}
			return ctx.Err()
		case u, ok := <-w.Updates():
			if !ok {
				return ErrLeaseWatchStopped
			}
			e = u
		}
		changed := false
		switch {
		case e == nil: // the end of the initial values
			started, changed = true, true
		case e.Operation() == jetstream.KeyValuePut:
			changed = !live[e.Key()]
			live[e.Key()] = true
		default: // deleted by a draining agent, or its heartbeat lapsed (a marker)
			changed = live[e.Key()]
			delete(live, e.Key())
		}
		if started && changed && !send(ctx, out, maps.Clone(live)) {
			return ctx.Err()
		}
	}
}

// reconnectPoll is how often a watch checks whether the connection has
// reconnected.
const reconnectPoll = 250 * time.Millisecond

// resyncCtx returns a context that ends with ctx, after RebalanceInterval,
// or once the connection has reconnected since gen (its Reconnects count
// when the watch began): a KV watcher does not survive a server restart —
// nats.go's ordered consumer goes quiet, neither closed nor delivering (the
// chaos test's NATS restart left agents counting a killed agent as live) —
// so every watch starts afresh after a reconnect. Call cancel when done.
func (a *Agent) resyncCtx(ctx context.Context, gen uint64) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithTimeout(ctx, a.cfg.RebalanceInterval)
	go func() { // ends with rctx
		t := time.NewTicker(reconnectPoll)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				if a.nc.Stats().Reconnects != gen {
					cancel()
					return
				}
			}
		}
	}()
	return rctx, cancel
}

// watchFailed decides what follows a watch's end: done with nil when ctx
// ended, done with the error when the connection is closed, else (a
// disconnect, or a resync) not done, after a pause if err is not nil.
func (a *Agent) watchFailed(ctx context.Context, err error) (bool, error) {
	if ctx.Err() != nil {
		return true, nil
	}
	if a.nc.IsClosed() {
		if err == nil {
			err = ErrLeaseWatchStopped
		}
		return true, errors.Join(errors.New("nats connection closed"), err)
	}
	if err == nil {
		return false, nil
	}
	a.log.Warn("watch failed; watching again", "err", err)
	t := time.NewTimer(watchRetry)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true, nil
	case <-t.C:
		return false, nil
	}
}

// send delivers v on out unless ctx ends first.
func send[T any](ctx context.Context, out chan<- T, v T) bool {
	select {
	case out <- v:
		return true
	case <-ctx.Done():
		return false
	}
}
