package partition

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// landingWAL writes every data append, then withholds the reply until ctx
// ends: the write landed, and the actor never heard.
type landingWAL struct {
	WAL
	landed chan struct{}
}

func (w *landingWAL) Append(ctx context.Context, expected uint64, entry []byte) (uint64, error) {
	seq, err := w.WAL.Append(ctx, expected, entry)
	if typ, _, _, _ := parseWALEntry(entry); typ != walEntryData || err != nil {
		return seq, err
	}
	close(w.landed)
	<-ctx.Done()
	return 0, ctx.Err()
}

// A request whose append landed before the actor was killed must not be
// answered "not the owner", which tells the router that nothing was written
// and that it may resend: the next owner replays it, and a resend would
// write it twice.
func TestActorKilledDuringLandedAppendSaysOutcomeUnknown(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityWAL)
	lw := &landingWAL{WAL: env.wal, landed: make(chan struct{})}
	cfg := env.config(registry.DurabilityWAL)
	cfg.WAL = lw
	a := env.start(cfg)
	errs := make(chan error, 1)
	go func() {
		_, err := a.Produce(context.Background(), plainReq("landed"))
		errs <- err
	}()
	<-lw.landed
	a.Kill()
	err := <-errs
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotOwner) {
		t.Fatalf("produce whose append landed, after Kill: %v; want ErrOutcomeUnknown, not ErrNotOwner", err)
	}
	cfg.WAL = env.wal
	b := env.start(cfg)
	if b.HighWatermark() != 1 {
		t.Fatalf("the next owner's high watermark %d, want 1: the landed record replayed", b.HighWatermark())
	}
}

// hangingPutStore blocks every Put until ctx ends, after telling it began.
type hangingPutStore struct {
	objectstore.Store
	began chan struct{}
}

func (s *hangingPutStore) Put(ctx context.Context, key string, data []byte) error {
	select {
	case s.began <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// Object mode: a killed actor cannot know whether the segment it was writing
// got committed, so that segment's requests are of unknown outcome; requests
// that came after it were never written and are "not the owner".
func TestActorObjectModeKillDuringFlush(t *testing.T) {
	t.Parallel()
	env := newActorEnv(t, registry.DurabilityObject)
	gs := &hangingPutStore{Store: env.store, began: make(chan struct{}, 1)}
	cfg := env.config(registry.DurabilityObject)
	cfg.Store = gs
	cfg.FlushAge = time.Millisecond
	a := env.start(cfg)
	first := make(chan error, 1)
	go func() {
		_, err := a.Produce(context.Background(), plainReq("in the segment"))
		first <- err
	}()
	<-gs.began // the segment with the first record is being written
	second := make(chan error, 1)
	go func() {
		_, err := a.Produce(context.Background(), plainReq("after it"))
		second <- err
	}()
	actorCheckFor(t, 5*time.Second, func() bool { return a.in.empty() })
	a.Kill()
	if err := <-first; !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotOwner) {
		t.Errorf("request in the segment being written: %v; want ErrOutcomeUnknown", err)
	}
	if err := <-second; !errors.Is(err, ErrNotOwner) {
		t.Errorf("request after the segment: %v; want ErrNotOwner", err)
	}
}
