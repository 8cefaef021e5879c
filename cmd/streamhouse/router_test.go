package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// TestAgentsAndRouter runs a cell as production does, in-process and on
// free ports: an external NATS (embedded here), PostgreSQL, a file object
// store, two `streamhouse agent`s and one `streamhouse router`. It creates
// a topic and produces over HTTP, reads every record back over gRPC, then
// stops one agent: the other takes all its partitions and produce still
// succeeds.
func TestAgentsAndRouter(t *testing.T) {
	pgURL := pgtest.URL(t)
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	env := envOf(map[string]string{
		"STREAMHOUSE_NATS_URL":     ns.ClientURL(),
		"STREAMHOUSE_REGISTRY":     pgURL,
		"STREAMHOUSE_OBJECT_STORE": "file:" + t.TempDir(),
		"STREAMHOUSE_CELL":         "itest",
		"STREAMHOUSE_LOG_LEVEL":    "warn",
		"STREAMHOUSE_AUTH":         "off", // a trusted test network
	})

	a1 := startPart(t, "agent", runAgent, env, "--agent-id", "a1", "--lease-ttl", "1s", "--health-addr", "127.0.0.1:0")
	a2 := startPart(t, "agent", runAgent, env, "--agent-id", "a2", "--lease-ttl", "1s", "--health-addr", "127.0.0.1:0")
	rt := startPart(t, "router", runRouter, env, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--schema-registry", "127.0.0.1:0")
	for _, p := range []*part{a1, a2, rt} {
		p.waitReady(t)
	}
	conn, err := grpc.NewClient(rt.addr["grpc:"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cell := &devCell{http: rt.addr["http:"], grpc: streamhousev1.NewConsumerServiceClient(conn)}

	const partitions = 4
	cell.post(t, "/api/v1/topics", fmt.Sprintf(`{"name":"orders","partitions":%d}`, partitions), http.StatusCreated)
	want := cell.produce(t, "orders", 0, 40)
	cell.readAll(t, "orders", partitions, want)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Both agents hold a share (the topic's 4 partitions split 2 and 2).
	waitFor(t, 20*time.Second, "both agents own partitions", func() (bool, string) {
		h := leaseHolders(t, nc, "itest")
		return len(h) == partitions && count(h, "a1") > 0 && count(h, "a2") > 0, fmt.Sprint(h)
	})

	// Stop a1: it drains and hands its partitions back; a2 takes them all.
	a1.stop(t)
	waitFor(t, 20*time.Second, "a2 owns every partition", func() (bool, string) {
		h := leaseHolders(t, nc, "itest")
		return len(h) == partitions && count(h, "a2") == partitions, fmt.Sprint(h)
	})
	for k, v := range cell.produce(t, "orders", 40, 40) {
		want[k] = v
	}
	cell.readAll(t, "orders", partitions, want)
}

// part is a `streamhouse agent` or `streamhouse router` running in-process.
type part struct {
	name   string
	addr   map[string]string // the banner's "http:", "grpc:", "health:" lines
	cancel context.CancelFunc
	done   chan error
}

type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// startPart runs a subcommand until the test ends and reads the addresses
// its banner prints.
func startPart(t *testing.T, name string, run runFunc, env func(string) string, args ...string) *part {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &part{name: name, addr: map[string]string{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		p.done <- run(ctx, args, env, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && (f[0] == "http:" || f[0] == "grpc:" || f[0] == "health:") {
			p.addr[f[0]] = f[1]
		}
		if len(f) >= 1 && f[0] == "nats:" { // the banner's last line
			break
		}
	}
	go io.Copy(io.Discard, pr) // drain the rest so the part never blocks on stdout
	if len(p.addr) == 0 {
		cancel()
		t.Fatalf("%s printed no addresses (exit: %v)", name, <-p.done)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitReady polls /ready until it answers 200.
func (p *part) waitReady(t *testing.T) {
	t.Helper()
	base := p.addr["http:"]
	if base == "" {
		base = p.addr["health:"]
	}
	waitFor(t, 20*time.Second, p.name+" ready", func() (bool, string) {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
}

func (p *part) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exit: %v", p.name, err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop within 60s", p.name)
	}
}

// leaseHolders reads the cell's lease bucket: partition key → agent id.
func leaseHolders(t *testing.T, nc *nats.Conn, cell string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "sh_"+cell+"_leases")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	holders := map[string]string{}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released between Keys and Get
		}
		if err != nil {
			t.Fatal(err)
		}
		holders[k] = string(e.Value())
	}
	return holders
}

func count(m map[string]string, v string) int {
	n := 0
	for _, x := range m {
		if x == v {
			n++
		}
	}
	return n
}

// waitFor polls cond every 20 ms until it holds or timeout passes, then
// fails with cond's last report.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, report := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, report)
		}
		<-tick.C
	}
}
