package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/internal/s3test"
)

// cell is a running cell of agent processes and a router process against
// an embedded NATS server of the test's (over TCP), PostgreSQL and
// versitygw S3, optionally through a fault-injecting S3 proxy, with a wal
// and an object topic of `partitions` partitions.
type cell struct {
	t        *testing.T
	ns       *cells.EmbeddedNATS
	natsDir  string
	natsPort int
	clockDir string   // per agent a file of its clock's offset (STREAMHOUSE_FAULT_CLOCK_FILE)
	s3proxy  *s3Proxy // nil without one
	env      []string
	agentArg []string // an agent's arguments but --agent-id
	agents   map[string]*proc
	agentIDs []string
	rt       *proc
	base     string // the router's HTTP address
	runs     []*topicRun
	topicOf  map[int64]*topicRun
	leases   *leases
}

// startCell starts the cell and waits until every partition is owned and
// every agent holds some. Each topic's ledger gets budget records.
func startCell(t *testing.T, agents int, ttl time.Duration, budget int, withProxy bool) *cell {
	t.Helper()
	c := &cell{t: t, agents: map[string]*proc{}, topicOf: map[int64]*topicRun{}, clockDir: t.TempDir()}
	pgURL := pgtest.URL(t)
	s3 := s3test.Start(t)
	endpoint := s3.Endpoint
	if withProxy {
		c.s3proxy = startS3Proxy(t, s3.Endpoint)
		endpoint = c.s3proxy.url
	}
	c.natsDir = t.TempDir()
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: c.natsDir})
	if err != nil {
		t.Fatal(err)
	}
	c.ns = ns
	t.Cleanup(func() { c.ns.Shutdown() })
	u, err := url.Parse(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if c.natsPort, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}

	c.env = []string{
		"STREAMHOUSE_CONFIG=", // never a developer's config file
		"STREAMHOUSE_LOG_LEVEL=info",
		"STREAMHOUSE_AUTH=off", // the faults, not authentication, are under test
	}
	common := []string{
		"--cell", cellName,
		"--nats-url", ns.ClientURL(),
		"--registry", pgURL,
		"--object-store", "s3://" + s3.Bucket + "/e2e",
		"--s3-endpoint", endpoint,
		"--s3-region", s3.Region,
		"--s3-path-style",
		"--s3-access-key-id", s3.AccessKey,
		"--s3-secret-access-key", s3.Secret,
	}
	c.agentArg = append(append([]string{"agent"}, common...), "--lease-ttl", ttl.String(), "--health-addr", "127.0.0.1:0")
	for i := 1; i <= agents; i++ {
		id := fmt.Sprintf("a%d", i)
		c.agents[id] = startProc(t, "agent-"+id, c.agentEnv(id), append(c.agentArg, "--agent-id", id)...)
		c.agentIDs = append(c.agentIDs, id)
	}
	rtArgs := append(append([]string{"router"}, common...), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--schema-registry", "127.0.0.1:0")
	c.rt = startProc(t, "router", c.env, rtArgs...)
	for _, id := range c.agentIDs {
		c.agents[id].waitReady(t, 60*time.Second)
	}
	c.rt.waitReady(t, 60*time.Second)
	c.base = c.rt.addr["http:"]

	c.runs = []*topicRun{{mode: "wal"}, {mode: "object"}}
	for _, r := range c.runs {
		r.name = "e2e-" + r.mode
		r.id = createTopic(t, c.base, r.name, r.mode)
		r.l = newLedger(r.name, budget)
		c.topicOf[r.id] = r
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c.leases = openLeases(t, nc, cellName)
	c.waitOwned(30*time.Second, "every partition owned, every agent holding some", agents, "")
	return c
}

// owned maps the leases to agent → topic → partitions, and counts them.
func (c *cell) owned() (map[string]map[*topicRun][]int32, int, error) {
	h, err := c.leases.holders()
	if err != nil {
		return nil, 0, err
	}
	out := map[string]map[*topicRun][]int32{}
	n := 0
	for k, agent := range h {
		key, err := cells.ParseLeaseKey(k)
		if err != nil {
			return nil, 0, err
		}
		r := c.topicOf[key.Topic]
		if r == nil {
			continue
		}
		if out[agent] == nil {
			out[agent] = map[*topicRun][]int32{}
		}
		out[agent][r] = append(out[agent][r], key.Partition)
		n++
	}
	return out, n, nil
}

// waitOwned waits until every partition is owned, by at least minAgents
// agents and none by without (if set).
func (c *cell) waitOwned(timeout time.Duration, what string, minAgents int, without string) {
	c.t.Helper()
	waitFor(c.t, timeout, what, func() (bool, string) {
		o, n, err := c.owned()
		if err != nil {
			return false, err.Error()
		}
		return n == 2*partitions && len(o) >= minAgents && o[without] == nil, describeOwners(o)
	})
}

// agentEnv is an agent's environment: the cell's, and its clock file.
func (c *cell) agentEnv(id string) []string {
	return append(slices.Clip(c.env), "STREAMHOUSE_FAULT_CLOCK_FILE="+filepath.Join(c.clockDir, id))
}

// setClock shifts an agent's wall clock by d (a Go duration).
func (c *cell) setClock(id, d string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.clockDir, id), []byte(d), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// restartAgent starts a killed agent again under its id.
func (c *cell) restartAgent(id string) {
	c.t.Helper()
	c.agents[id] = startProc(c.t, "agent-"+id+"-"+strconv.FormatInt(time.Now().UnixMilli(), 36), c.agentEnv(id), append(c.agentArg, "--agent-id", id)...)
	c.agents[id].waitReady(c.t, 60*time.Second)
}

// restartNATS shuts the NATS server down, keeps it down for down, and
// starts it again on its port with its store.
func (c *cell) restartNATS(down time.Duration) {
	c.t.Helper()
	c.ns.Shutdown()
	time.Sleep(down)
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger a moment
		c.ns, err = cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: c.natsDir, Port: c.natsPort})
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("restart nats on port %d: %v", c.natsPort, err)
}
