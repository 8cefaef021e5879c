package cells

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// agentMetrics are the agent's Prometheus instruments:
//
//	streamhouse_agent_partitions_owned             gauge, read at scrape time
//	streamhouse_agent_lease_acquisitions_total     leases this agent acquired
//	streamhouse_agent_lease_losses_total           leases lost while serving (not handed back)
//
// A nil *agentMetrics records nothing.
type agentMetrics struct {
	acquisitions, losses prometheus.Counter
}

// newAgentMetrics registers a's instruments in reg; nil reg: no metrics.
func newAgentMetrics(reg prometheus.Registerer, a *Agent) (*agentMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &agentMetrics{
		acquisitions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_agent_lease_acquisitions_total",
			Help: "Partition leases this agent acquired.",
		}),
		losses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_agent_lease_losses_total",
			Help: "Partition leases this agent lost while serving (lapsed or taken), not handed back.",
		}),
	}
	owned := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "streamhouse_agent_partitions_owned",
		Help: "Partitions this agent serves now.",
	}, func() float64 { return float64(len(a.Owned())) })
	for _, c := range []prometheus.Collector{m.acquisitions, m.losses, owned} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register agent metrics: %w", err)
		}
	}
	return m, nil
}

func (m *agentMetrics) acquired() {
	if m != nil {
		m.acquisitions.Inc()
	}
}

func (m *agentMetrics) lost() {
	if m != nil {
		m.losses.Inc()
	}
}

// Assigned reports whether the agent has made its first assignment pass:
// it has heard the cell's leases and live agents and taken its fair share
// of the free partitions (their takeovers may still be under way). It stays
// true until the agent stops. /ready waits for it.
func (a *Agent) Assigned() bool { return a.assigned.Load() }
