package cells

import (
	"context"
	"fmt"
	"maps"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseEventKind says what happened to a lease.
type LeaseEventKind uint8

const (
	// LeaseAcquired: an agent took a lease that was free, or that another
	// agent held as far as the watcher saw.
	LeaseAcquired LeaseEventKind = iota + 1
	// LeaseReleased: the holder handed the lease back.
	LeaseReleased
	// LeaseExpired: the lease lapsed, unrenewed, and JetStream removed it.
	// An operator's purge of the key reads the same.
	LeaseExpired
)

func (k LeaseEventKind) String() string {
	switch k {
	case LeaseAcquired:
		return "acquired"
	case LeaseReleased:
		return "released"
	case LeaseExpired:
		return "expired"
	}
	return fmt.Sprintf("LeaseEventKind(%d)", uint8(k))
}

// LeaseEvent is a change of a lease's holder.
type LeaseEvent struct {
	Kind LeaseEventKind
	Key  LeaseKey
	// Holder is the agent that acquired the lease, or the one that released
	// it or let it expire.
	Holder string
	// Revision is the KV revision of the write or marker that made the change.
	Revision uint64
}

func (e LeaseEvent) String() string {
	return fmt.Sprintf("lease %s %s by %q at revision %d", e.Key, e.Kind, e.Holder, e.Revision)
}

// LeaseWatcher follows the holders of a cell's leases. Renewals are not
// events; a holder change is. It is not safe for concurrent Next calls; Stop
// may be called from any goroutine.
type LeaseWatcher struct {
	w       jetstream.KeyWatcher
	leases  *Leases
	holders map[LeaseKey]string // the holder of every held lease, as last seen
	initial map[LeaseKey]string
}

// Watch starts following the lease bucket. It blocks until it has read the
// current holders (see Snapshot), bounded by ctx; ctx bounds only this
// start. Events then report every change after the snapshot, in order. Call
// Stop when done.
//
// A watcher that loses its connection resumes where it stopped, but a lease
// that expired and was removed meanwhile (its marker lives about a TTL) can
// be missed; after a long disconnect, watch again and compare snapshots.
func (l *Leases) Watch(ctx context.Context) (*LeaseWatcher, error) {
	w, err := l.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch leases %s: %w", l.bucket, err)
	}
	lw := &LeaseWatcher{w: w, leases: l, holders: make(map[LeaseKey]string)}
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("watch leases %s: read holders: %w", l.bucket, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch leases %s: read holders: %w", l.bucket, ErrLeaseWatchStopped)
			}
			if e == nil { // the end of the initial values
				lw.initial = maps.Clone(lw.holders)
				return lw, nil
			}
			lw.apply(e)
		}
	}
}

// Snapshot is the holder of each lease held when Watch started. The map is
// the caller's.
func (lw *LeaseWatcher) Snapshot() map[LeaseKey]string { return maps.Clone(lw.initial) }

// Next blocks until the next change of a lease's holder and returns it. It
// returns ctx's error when ctx ends (the watcher stays usable), and
// ErrLeaseWatchStopped after Stop or when the connection is closed.
func (lw *LeaseWatcher) Next(ctx context.Context) (LeaseEvent, error) {
	for {
		select {
		case <-ctx.Done():
			return LeaseEvent{}, ctx.Err()
		case e, ok := <-lw.w.Updates():
			if !ok {
				return LeaseEvent{}, ErrLeaseWatchStopped
			}
			if e == nil {
				continue
			}
			if ev, changed := lw.apply(e); changed {
				return ev, nil
			}
		}
	}
}

// Stop ends the watch; a blocked Next returns ErrLeaseWatchStopped.
func (lw *LeaseWatcher) Stop() error {
	if err := lw.w.Stop(); err != nil {
		return fmt.Errorf("stop watching leases %s: %w", lw.leases.bucket, err)
	}
	return nil
}

// apply folds a KV entry into the holders and reports the change it makes,
// if any. A put by the current holder is a renewal; a delete or marker on a
// free key (a released lease's delete marker ageing out leaves an expiry
// marker) changes nothing.
func (lw *LeaseWatcher) apply(e jetstream.KeyValueEntry) (LeaseEvent, bool) {
	key, err := ParseLeaseKey(e.Key())
	if err != nil {
		lw.leases.log.Warn("foreign key in lease bucket; ignored", "key", e.Key(), "err", err)
		return LeaseEvent{}, false
	}
	prev, held := lw.holders[key]
	ev := LeaseEvent{Key: key, Revision: e.Revision()}
	switch e.Operation() {
	case jetstream.KeyValuePut:
		holder := string(e.Value())
		if held && prev == holder {
			return LeaseEvent{}, false
		}
		lw.holders[key] = holder
		ev.Kind, ev.Holder = LeaseAcquired, holder
	case jetstream.KeyValueDelete:
		if !held {
			return LeaseEvent{}, false
		}
		delete(lw.holders, key)
		ev.Kind, ev.Holder = LeaseReleased, prev
	case jetstream.KeyValuePurge:
		// JetStream's expiry marker (Nats-Marker-Reason: MaxAge) reads as a
		// purge.
		if !held {
			return LeaseEvent{}, false
		}
		delete(lw.holders, key)
		ev.Kind, ev.Holder = LeaseExpired, prev
	default:
		return LeaseEvent{}, false
	}
	return ev, true
}
