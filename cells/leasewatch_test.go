package cells

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"
)

func TestLeaseWatchSnapshotAndEvents(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	a := openTestLeases(t, js, cell, "agent-a", time.Minute)
	b := openTestLeases(t, js, cell, "agent-b", time.Minute)
	k1, k2, k3 := LeaseKey{1, 1, 0}, LeaseKey{1, 1, 1}, LeaseKey{2, 5, 0}

	held, err := a.Acquire(ctx, k1)
	if err != nil {
		t.Fatal(err)
	}
	released, err := b.Acquire(ctx, k2)
	if err != nil {
		t.Fatal(err)
	}
	if err := released.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// A key that is not a lease key is skipped, not an event.
	if _, err := a.kv.Put(ctx, "not-a-lease", []byte("x")); err != nil {
		t.Fatal(err)
	}

	w, err := b.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got, want := w.Snapshot(), map[LeaseKey]string{k1: "agent-a"}; !maps.Equal(got, want) {
		t.Errorf("Snapshot() = %v, want %v", got, want)
	}

	if _, err := b.Acquire(ctx, k3); err != nil {
		t.Fatal(err)
	}
	if err := held.Renew(ctx); err != nil { // a renewal is no event
		t.Fatal(err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []LeaseEvent{
		{Kind: LeaseAcquired, Key: k3, Holder: "agent-b"},
		{Kind: LeaseReleased, Key: k1, Holder: "agent-a"},
	} {
		got := nextEvent(t, w, 10*time.Second)
		if got.Revision == 0 {
			t.Errorf("event %v without a revision", got)
		}
		got.Revision = 0
		if got != want {
			t.Errorf("event %v, want %v", got, want)
		}
	}
}

func TestLeaseWatchNextAndStop(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	a := openTestLeases(t, js, testCellName(), "agent-a", time.Minute)
	w, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Snapshot()) != 0 {
		t.Errorf("Snapshot() of an empty bucket = %v", w.Snapshot())
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := w.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with nothing to report: %v, want the context's error", err)
	}
	// Still usable after a cancelled Next.
	if _, err := a.Acquire(ctx, LeaseKey{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w, 10*time.Second); ev.Kind != LeaseAcquired || ev.Key != (LeaseKey{1, 2, 3}) {
		t.Errorf("event %v, want 1.2.3 acquired", ev)
	}

	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(ctx); !errors.Is(err, ErrLeaseWatchStopped) {
		t.Errorf("Next after Stop: %v, want ErrLeaseWatchStopped", err)
	}
}

func TestLeaseEventKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[LeaseEventKind]string{LeaseAcquired: "acquired", LeaseReleased: "released", LeaseExpired: "expired", 0: "LeaseEventKind(0)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}
