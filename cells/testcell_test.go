package cells

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startNATS starts an embedded server for one test, in its own temporary
// folder on a free port, stopped when the test ends.
func startNATS(t *testing.T) *EmbeddedNATS {
	t.Helper()
	srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// connectJS connects to url over TCP, closed when the test ends.
func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

var cellSeq atomic.Int64

// testCellName is a cell name unique within the test binary.
func testCellName() string { return fmt.Sprintf("test%d", cellSeq.Add(1)) }

// openTestLeases opens the leases of cell for agent with ttl.
func openTestLeases(t *testing.T, js jetstream.JetStream, cell, agent string, ttl time.Duration) *Leases {
	t.Helper()
	l, err := OpenLeases(testCtx(t), js, LeaseConfig{Cell: cell, Agent: agent, TTL: ttl})
	if err != nil {
		t.Fatalf("open leases of cell %s for %s: %v", cell, agent, err)
	}
	return l
}

// testCtx is a context bounded well below the package's test budget.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 10 ms until it returns nil, and fails the test
// with cond's last error if that takes longer than timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextEvent returns w's next event, failing the test if none comes within
// timeout.
func nextEvent(t *testing.T, w *LeaseWatcher, timeout time.Duration) LeaseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	ev, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("next lease event: %v", err)
	}
	return ev
}
