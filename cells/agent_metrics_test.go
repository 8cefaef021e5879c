package cells

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamhouse/streamhouse/partition"
	"github.com/streamhouse/streamhouse/registry"
)

// TestAgentMetrics checks the agent's instruments on a real cell: it owns
// both partitions after two acquisitions; a lease deleted under it counts
// a loss and a third acquisition; a second agent on the same registry is
// refused.
func TestAgentMetrics(t *testing.T) {
	t.Parallel()
	c := newAgentCell(t)
	tp := c.createTopic("orders", 2, registry.DurabilityWAL)
	reg := prometheus.NewRegistry()
	cfg := AgentConfig{
		Cell: c.cell, AgentID: "m", Conn: c.connect(), Registry: c.reg, Store: c.store,
		LeaseTTL: testLeaseTTL, RebalanceInterval: 2 * time.Second, StopTimeout: 5 * time.Second,
		Actor:   partition.ActorConfig{FlushAge: 50 * time.Millisecond, RetryBackoff: 10 * time.Millisecond},
		Metrics: reg,
	}
	a, err := NewAgent(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Assigned() {
		t.Fatal("assigned before running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	gauge := func() float64 {
		g, err := testutil.GatherAndCount(reg, "streamhouse_agent_partitions_owned")
		if err != nil || g != 1 {
			t.Fatalf("partitions owned: %d series, %v", g, err)
		}
		fams, _ := reg.Gather()
		for _, f := range fams {
			if f.GetName() == "streamhouse_agent_partitions_owned" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	want := func(owned, acquired, lost float64) func() error {
		return func() error {
			o, ac, l := gauge(), testutil.ToFloat64(a.metrics.acquisitions), testutil.ToFloat64(a.metrics.losses)
			if o != owned || ac != acquired || l != lost {
				return fmt.Errorf("owned %v, acquisitions %v, losses %v; want %v, %v, %v", o, ac, l, owned, acquired, lost)
			}
			return nil
		}
	}
	waitFor(t, 20*time.Second, want(2, 2, 0))
	if !a.Assigned() {
		t.Error("owns its partitions but is not Assigned")
	}

	js, err := jetstream.New(c.connect())
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(testCtx(t), leaseBucket(c.cell))
	if err != nil {
		t.Fatal(err)
	}
	key := LeaseKey{Tenant: tp.TenantID, Topic: tp.ID, Partition: 0}
	if err := kv.Delete(testCtx(t), key.String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*testLeaseTTL, want(2, 3, 1))

	cfg.AgentID = "m2"
	if _, err := NewAgent(testCtx(t), cfg); err == nil {
		t.Error("a second agent registered the same metrics in one registry")
	}
}
