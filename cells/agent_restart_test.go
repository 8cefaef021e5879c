package cells

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/registry"
)

// A NATS server restart leaves nats.go's KV watchers quiet (neither closed
// nor delivering): agents must watch afresh after a reconnect, or they go on
// counting a crashed agent as live and never take its partitions (found by
// internal/e2e's TestChaos). The resync interval is set far beyond the test
// so that only the reconnect can bring the views back.
func TestAgentsSeeACrashAfterNATSRestart(t *testing.T) {
	t.Parallel()
	c := newAgentCell(t)
	dir := t.TempDir()
	c.srv.Shutdown() // this test's own server, restartable on its port
	srv, err := StartEmbeddedNATS(EmbeddedNATSConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.srv = srv
	t.Cleanup(func() { c.srv.Shutdown() })
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	connect := func() *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	slow := func(cfg *AgentConfig) { cfg.RebalanceInterval = time.Hour }
	tp := c.createTopic("orders", 4, registry.DurabilityWAL)
	a := c.startAgentWith("a", connect(), slow)
	b := c.startAgentWith("b", connect(), slow)
	waitOwned(t, 20*time.Second, 4, []int{2, 2}, a, b)

	c.srv.Shutdown()
	if c.srv, err = StartEmbeddedNATS(EmbeddedNATSConfig{Dir: dir, Port: port}); err != nil {
		t.Fatalf("restart nats on port %d: %v", port, err)
	}
	waitOwned(t, 20*time.Second, 4, []int{2, 2}, a, b)

	// Crash b: its heartbeat and leases lapse; a must notice.
	b.nc.Close()
	b.cancel()
	<-b.done
	waitFor(t, 15*testLeaseTTL, func() error {
		if owned := a.Owned(); len(owned) != 4 {
			return fmt.Errorf("a serves %v, want all 4 partitions", owned)
		}
		return nil
	})
	p := c.producer(connect())
	for part := range int32(4) {
		if _, err := produce(testCtx(t), p, tp, part, "after"); err != nil {
			t.Errorf("produce to partition %d after the crash: %v", part, err)
		}
	}
}
