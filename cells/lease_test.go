package cells

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestOpenLeasesValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]LeaseConfig{
		"no cell":        {Agent: "a"},
		"dot in cell":    {Cell: "a.b", Agent: "a"},
		"space in cell":  {Cell: "a b", Agent: "a"},
		"wildcard cell":  {Cell: "a>", Agent: "a"},
		"no agent":       {Cell: "dev"},
		"long agent":     {Cell: "dev", Agent: strings.Repeat("a", maxAgentIDLen+1)},
		"short TTL":      {Cell: "dev", Agent: "a", TTL: 500 * time.Millisecond},
		"negative TTL":   {Cell: "dev", Agent: "a", TTL: -time.Second},
		"many replicas":  {Cell: "dev", Agent: "a", Replicas: 7},
		"negative repls": {Cell: "dev", Agent: "a", Replicas: -1},
	} {
		// Validation comes before any use of the connection.
		if _, err := OpenLeases(t.Context(), nil, cfg); err == nil {
			t.Errorf("%s: OpenLeases(%+v) succeeded", name, cfg)
		}
	}
}

func TestOpenLeasesRefusesAnotherTTL(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	cell := testCellName()
	openTestLeases(t, js, cell, "a", 5*time.Second)
	openTestLeases(t, js, cell, "b", 5*time.Second) // same settings: shared
	_, err := OpenLeases(testCtx(t), js, LeaseConfig{Cell: cell, Agent: "c", TTL: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Fatalf("OpenLeases with another TTL: %v, want an error about the TTL", err)
	}
}

func TestLeaseBucketConfig(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	l := openTestLeases(t, js, "eu-west_1", "a", 1500*time.Millisecond)
	if l.Bucket() != "sh_eu-west_1_leases" {
		t.Errorf("Bucket() = %q", l.Bucket())
	}
	st, err := l.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 1500*time.Millisecond || st.History() != 1 || st.LimitMarkerTTL() != 2*time.Second {
		t.Errorf("bucket TTL %s, history %d, limit marker TTL %s; want 1.5s, 1, 2s", st.TTL(), st.History(), st.LimitMarkerTTL())
	}
}

func TestLeaseAcquireRenewRelease(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	l := openTestLeases(t, js, testCellName(), "agent-a", 0)
	if l.TTL() != DefaultLeaseTTL {
		t.Errorf("TTL() = %s, want the default %s", l.TTL(), DefaultLeaseTTL)
	}
	key := LeaseKey{Tenant: 1, Topic: 2, Partition: 3}

	before := time.Now()
	lease, err := l.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if lease.Key() != key {
		t.Errorf("Key() = %v, want %v", lease.Key(), key)
	}
	if v := lease.ValidUntil(); v.Before(before.Add(DefaultLeaseTTL)) || v.After(time.Now().Add(DefaultLeaseTTL)) {
		t.Errorf("ValidUntil() = %v, want the TTL from the acquire", v)
	}
	holder, rev, err := l.Holder(ctx, key)
	if err != nil || holder != "agent-a" || rev != lease.Revision() {
		t.Fatalf("Holder = %q, %d, %v; want agent-a at %d", holder, rev, err, lease.Revision())
	}

	first := lease.Revision()
	if err := lease.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if lease.Revision() <= first {
		t.Errorf("revision %d after renew, want above %d", lease.Revision(), first)
	}
	if holder, rev, _ := l.Holder(ctx, key); holder != "agent-a" || rev != lease.Revision() {
		t.Errorf("after renew: Holder = %q at %d, want agent-a at %d", holder, rev, lease.Revision())
	}

	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if holder, _, err := l.Holder(ctx, key); holder != "" || err != nil {
		t.Errorf("after release: Holder = %q, %v; want free", holder, err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("second Release: %v, want nil", err)
	}
	if err := lease.Renew(ctx); !errors.Is(err, ErrLeaseReleased) {
		t.Errorf("Renew after Release: %v, want ErrLeaseReleased", err)
	}
	select {
	case <-lease.Lost():
		t.Error("Lost closed for a released lease")
	default:
	}
	if _, err := l.Acquire(ctx, LeaseKey{Tenant: 0, Topic: 2, Partition: 3}); err == nil {
		t.Error("Acquire with tenant id 0 succeeded")
	}
}

func TestLeaseHeldNamesHolder(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	a := openTestLeases(t, js, cell, "agent-a", 0)
	b := openTestLeases(t, js, cell, "agent-b", 0)
	key := LeaseKey{Tenant: 1, Topic: 2, Partition: 0}

	lease, err := a.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Acquire(ctx, key)
	var held *LeaseHeldError
	if !errors.Is(err, ErrLeaseHeld) || !errors.As(err, &held) {
		t.Fatalf("second agent's Acquire: %v, want a *LeaseHeldError", err)
	}
	if held.Holder != "agent-a" || held.Key != key || held.Revision != lease.Revision() {
		t.Errorf("LeaseHeldError = %+v, want agent-a holding %v at %d", held, key, lease.Revision())
	}
	if !strings.Contains(err.Error(), `"agent-a"`) {
		t.Errorf("error %q does not name the holder", err)
	}
	// The holder itself cannot acquire twice either.
	if _, err := a.Acquire(ctx, key); !isHeldBy(err, "agent-a") {
		t.Errorf("holder's second Acquire: %v, want held by agent-a", err)
	}
	// Another partition is free.
	if _, err := b.Acquire(ctx, LeaseKey{Tenant: 1, Topic: 2, Partition: 1}); err != nil {
		t.Errorf("Acquire of another partition: %v", err)
	}
}

func TestLeaseReleaseLetsAnotherAcquireAtOnce(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	// A TTL far beyond the test: only the release can free the lease.
	a := openTestLeases(t, js, cell, "agent-a", time.Hour)
	b := openTestLeases(t, js, cell, "agent-b", time.Hour)
	key := LeaseKey{Tenant: 3, Topic: 4, Partition: 5}

	lease, err := a.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	bl, err := b.Acquire(ctx, key)
	if err != nil {
		t.Fatalf("Acquire right after Release: %v", err)
	}
	if holder, _, _ := b.Holder(ctx, key); holder != "agent-b" {
		t.Errorf("holder %q, want agent-b", holder)
	}
	// And back again, through the same delete-marker path.
	if err := bl.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, key); err != nil {
		t.Fatalf("re-acquire by agent-a: %v", err)
	}
}

// TestConcurrentAcquireOneWins races agents for one lease, on a fresh key and
// then on a released one (a Create over a delete marker): exactly one wins
// each round, and every loser is told who holds it.
func TestConcurrentAcquireOneWins(t *testing.T) {
	t.Parallel()
	const agents = 16
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	ls := make([]*Leases, agents)
	for i := range ls {
		ls[i] = openTestLeases(t, js, cell, fmt.Sprintf("agent-%02d", i), time.Minute)
	}
	key := LeaseKey{Tenant: 1, Topic: 1, Partition: 7}

	for round := range 3 {
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			leases  = make([]*Lease, agents)
			errs    = make([]error, agents)
			winners []int
		)
		for i := range agents {
			wg.Go(func() {
				<-start
				leases[i], errs[i] = ls[i].Acquire(ctx, key)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err == nil {
				winners = append(winners, i)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d agents acquired the lease (%v), want exactly 1", round, len(winners), winners)
		}
		winner := ls[winners[0]].Agent()
		for i, err := range errs {
			if i == winners[0] {
				continue
			}
			var held *LeaseHeldError
			if !errors.As(err, &held) {
				t.Errorf("round %d: agent %d: %v, want a *LeaseHeldError", round, i, err)
			} else if held.Holder != winner && held.Holder != "" {
				t.Errorf("round %d: agent %d told %q holds it; %q won", round, i, held.Holder, winner)
			}
		}
		if err := leases[winners[0]].Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRenewedLeaseOutlivesTTL keeps a lease alive for more than three TTLs
// next to an unrenewed one that expires: the bucket's TTL counts from each
// renewal, as DESIGN.md requires.
func TestRenewedLeaseOutlivesTTL(t *testing.T) {
	t.Parallel()
	// 2 s rather than 1 s leaves slack for renewals on a loaded machine.
	const ttl = 2 * time.Second
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	a := openTestLeases(t, js, cell, "agent-a", ttl)
	b := openTestLeases(t, js, cell, "agent-b", ttl)
	kept, idle := LeaseKey{Tenant: 1, Topic: 1, Partition: 0}, LeaseKey{Tenant: 1, Topic: 1, Partition: 1}

	w, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	lease, err := a.Acquire(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, idle); err != nil {
		t.Fatal(err)
	}
	keepCtx, stopKeeping := context.WithCancel(ctx)
	keepErr := make(chan error, 1)
	go func() { keepErr <- lease.KeepAlive(keepCtx) }()
	defer func() {
		stopKeeping()
		if err := <-keepErr; err != nil {
			t.Errorf("KeepAlive: %v", err)
		}
	}()

	// The idle lease expires; the kept one is renewed past three TTLs.
	waitFor(t, 15*time.Second, func() error {
		if h, _, err := a.Holder(ctx, idle); h != "" || err != nil {
			return fmt.Errorf("idle lease still held by %q (%v)", h, err)
		}
		return nil
	})
	waitFor(t, 15*time.Second, func() error {
		select {
		case err := <-keepErr:
			keepErr <- err
			return fmt.Errorf("KeepAlive returned early: %w", err)
		default:
		}
		if v := lease.ValidUntil(); v.Before(start.Add(4 * ttl)) {
			return fmt.Errorf("lease valid until %s after start, want past %s", v.Sub(start), 4*ttl)
		}
		return nil
	})
	if _, err := b.Acquire(ctx, kept); !isHeldBy(err, "agent-a") {
		t.Errorf("Acquire of the kept lease: %v, want held by agent-a", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// The watcher saw both acquired, the idle one expire, and the kept one
	// released, never expired: any expiry would have come before the release.
	var got []string
	for range 4 {
		ev := nextEvent(t, w, 10*time.Second)
		got = append(got, fmt.Sprintf("%s %s %s", ev.Key, ev.Kind, ev.Holder))
	}
	want := []string{"1.1.0 acquired agent-a", "1.1.1 acquired agent-a", "1.1.1 expired agent-a", "1.1.0 released agent-a"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestUnrenewedLeaseExpires lets a lease lapse: a watcher sees it expire,
// another agent then acquires it, and the old holder learns it lost it.
func TestUnrenewedLeaseExpires(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	cell := testCellName()
	// 2 s rather than 1 s: agent-b keeps its lease alive through the rest
	// of the test even on a loaded machine.
	a := openTestLeases(t, js, cell, "agent-a", 2*time.Second)
	b := openTestLeases(t, js, cell, "agent-b", 2*time.Second)
	key := LeaseKey{Tenant: 9, Topic: 8, Partition: 7}

	w, err := b.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	old, err := a.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w, 10*time.Second); ev.Kind != LeaseAcquired || ev.Key != key || ev.Holder != "agent-a" {
		t.Fatalf("first event %v, want acquired by agent-a", ev)
	}
	ev := nextEvent(t, w, 10*time.Second)
	if ev.Kind != LeaseExpired || ev.Key != key || ev.Holder != "agent-a" || ev.Revision <= old.Revision() {
		t.Fatalf("second event %v, want %v expired for agent-a after revision %d", ev, key, old.Revision())
	}

	// The supervisor's move: take over the lapsed lease at once.
	lease, err := b.Acquire(ctx, key)
	if err != nil {
		t.Fatalf("Acquire after expiry: %v", err)
	}
	keepCtx, stopKeeping := context.WithCancel(ctx)
	keepErr := make(chan error, 1)
	go func() { keepErr <- lease.KeepAlive(keepCtx) }()
	defer func() {
		stopKeeping()
		if err := <-keepErr; err != nil {
			t.Errorf("new holder's KeepAlive: %v", err)
		}
	}()
	if ev := nextEvent(t, w, 10*time.Second); ev.Kind != LeaseAcquired || ev.Holder != "agent-b" {
		t.Errorf("third event %v, want acquired by agent-b", ev)
	}

	// The old holder's renewal and release fail and touch nothing.
	if err := old.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old holder's Renew: %v, want ErrLeaseLost", err)
	}
	select {
	case <-old.Lost():
	default:
		t.Error("Lost not closed after ErrLeaseLost")
	}
	if err := old.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old holder's Release: %v, want ErrLeaseLost", err)
	}
	if h, _, err := b.Holder(ctx, key); h != "agent-b" || err != nil {
		t.Errorf("holder %q (%v) after the old holder's attempts, want agent-b", h, err)
	}
	if err := lease.Renew(ctx); err != nil {
		t.Errorf("new holder's Renew: %v", err)
	}
}

// TestRenewAfterExpiryIsLost: an expired lease that nobody took is lost all
// the same; its holder must acquire again (and bump the epoch).
func TestRenewAfterExpiryIsLost(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	a := openTestLeases(t, js, testCellName(), "agent-a", time.Second)
	key := LeaseKey{Tenant: 1, Topic: 1, Partition: 0}
	lease, err := a.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() error {
		if h, _, err := a.Holder(ctx, key); h != "" || err != nil {
			return fmt.Errorf("still held by %q (%v)", h, err)
		}
		return nil
	})
	if err := lease.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Renew after expiry: %v, want ErrLeaseLost", err)
	}
	if err := lease.KeepAlive(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("KeepAlive of a lost lease: %v, want ErrLeaseLost", err)
	}
	if _, err := a.Acquire(ctx, key); err != nil {
		t.Errorf("Acquire again: %v", err)
	}
}

// TestKeepAliveStopsWhenLeaseTaken overwrites a kept lease behind its
// holder's back: KeepAlive returns ErrLeaseLost and Lost closes.
func TestKeepAliveStopsWhenLeaseTaken(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	a := openTestLeases(t, js, testCellName(), "agent-a", 3*time.Second)
	key := LeaseKey{Tenant: 1, Topic: 1, Partition: 0}
	lease, err := a.Acquire(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	keepErr := make(chan error, 1)
	go func() { keepErr <- lease.KeepAlive(ctx) }()

	if _, err := a.kv.Put(ctx, key.String(), []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-keepErr:
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("KeepAlive: %v, want ErrLeaseLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KeepAlive still running 10s after its lease was taken")
	}
	select {
	case <-lease.Lost():
	default:
		t.Error("Lost not closed")
	}
	if h, _, _ := a.Holder(ctx, key); h != "intruder" {
		t.Errorf("holder %q, want the intruder untouched", h)
	}
}

// TestKeepAliveEnds: KeepAlive returns nil at once on Release and on
// cancellation.
func TestKeepAliveEnds(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	a := openTestLeases(t, js, testCellName(), "agent-a", time.Minute)

	for _, how := range []string{"release", "cancel"} {
		lease, err := a.Acquire(ctx, LeaseKey{Tenant: 1, Topic: 1, Partition: int32(len(how))})
		if err != nil {
			t.Fatal(err)
		}
		keepCtx, cancel := context.WithCancel(ctx)
		keepErr := make(chan error, 1)
		go func() { keepErr <- lease.KeepAlive(keepCtx) }()
		if how == "release" {
			if err := lease.Release(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			cancel()
		}
		select {
		case err := <-keepErr:
			if err != nil {
				t.Errorf("%s: KeepAlive returned %v, want nil", how, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: KeepAlive did not return", how)
		}
		cancel()
	}
}

// TestKeepAliveLosesLeaseWithoutNATS stops the server under a kept lease:
// with no renewal possible, KeepAlive gives the lease up within about a TTL,
// before another agent could have taken it.
func TestKeepAliveLosesLeaseWithoutNATS(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	srv := startNATS(t)
	js := connectJS(t, srv.ClientURL())
	ctx := testCtx(t)
	a := openTestLeases(t, js, testCellName(), "agent-a", ttl)
	lease, err := a.Acquire(ctx, LeaseKey{Tenant: 1, Topic: 1, Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	keepErr := make(chan error, 1)
	go func() { keepErr <- lease.KeepAlive(ctx) }()
	waitFor(t, 10*time.Second, func() error { // at least one renewal went through
		if lease.Revision() == 1 {
			return errors.New("not renewed yet")
		}
		return nil
	})

	srv.Shutdown()
	stopped := time.Now()
	select {
	case err := <-keepErr:
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("KeepAlive: %v, want ErrLeaseLost", err)
		}
		if !strings.Contains(err.Error(), "not renewed within") {
			t.Errorf("KeepAlive: %v, want the reason to be the missed renewals", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KeepAlive still running 10s after NATS stopped")
	}
	if late := time.Since(stopped); late > ttl+2*time.Second {
		t.Logf("lease given up %s after NATS stopped (TTL %s)", late, ttl)
	}
	select {
	case <-lease.Lost():
	default:
		t.Error("Lost not closed")
	}
}

// TestKeyTTLDoesNotSuitLeases records the nats-server behaviour DESIGN.md
// warns about: a per-key TTL set by Create does not survive an Update, so a
// lease built on it would never expire once renewed.
func TestKeyTTLDoesNotSuitLeases(t *testing.T) {
	t.Parallel()
	js := connectJS(t, startNATS(t).ClientURL())
	ctx := testCtx(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "keyttl", History: 1, LimitMarkerTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gone := func(key string) func() error {
		return func() error {
			if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("key %s still there (%v)", key, err)
			}
			return nil
		}
	}
	rev, err := kv.Create(ctx, "renewed", []byte("a"), jetstream.KeyTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "control", []byte("a"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "renewed", []byte("a"), rev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, gone("control"))
	// A second control, created a full TTL after the update: once it is
	// gone, any TTL the update carried would have run out long before.
	if _, err := kv.Create(ctx, "control2", []byte("a"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, gone("control2"))
	if _, err := kv.Get(ctx, "renewed"); err != nil {
		t.Errorf("the updated key: %v; nats-server now expires it, so DESIGN.md's warning about KeyTTL is out of date", err)
	}
}
