package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	streamhousev1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

// chaosFault is one kind of fault the chaos run injects: inject starts it
// and returns when it is healed (the process resumed or restarted, the
// server back, the store passing requests again).
type chaosFault struct {
	name   string
	inject func(c *chaosRun, rng *rand.Rand)
}

// injected is one fault injected, and when: from its start until it was
// healed (the process resumed or restarted, the server back, the store
// passing requests again).
type injected struct {
	fault      string
	start, end time.Time
}

// chaosRun is the state the faults act on.
type chaosRun struct {
	t        *testing.T
	c        *cell
	consumer streamhousev1.ConsumerServiceClient
}

var chaosFaults = []chaosFault{
	{"sigkill", func(r *chaosRun, rng *rand.Rand) {
		victim := r.pickAgent(rng)
		r.c.agents[victim].kill()
		r.c.waitOwned(30*time.Second, "the killed agent's partitions taken over", 1, victim)
		r.c.restartAgent(victim)
	}},
	{"sigstop", func(r *chaosRun, rng *rand.Rand) {
		victim := r.pickAgent(rng)
		if err := r.c.agents[victim].signal(syscall.SIGSTOP); err != nil {
			r.t.Fatal(err)
		}
		time.Sleep(3 * leaseTTL) // past its leases: they move while it cannot see it
		if err := r.c.agents[victim].signal(syscall.SIGCONT); err != nil {
			r.t.Fatal(err)
		}
	}},
	{"clock-jump", func(r *chaosRun, rng *rand.Rand) {
		// The agent's wall clock (broker timestamps, retention) jumps an
		// hour ahead, then an hour behind, then back.
		victim := r.pickAgent(rng)
		r.c.setClock(victim, "1h")
		time.Sleep(300 * time.Millisecond) // the agent reads its clock file every 100 ms
		r.checkClockAhead(victim, 50*time.Minute)
		time.Sleep(1200 * time.Millisecond)
		r.c.setClock(victim, "-1h")
		time.Sleep(1500 * time.Millisecond)
		r.c.setClock(victim, "0s")
	}},
	{"nats-restart", func(r *chaosRun, _ *rand.Rand) { r.c.restartNATS(time.Second) }},
	{"postgres-restart", func(r *chaosRun, _ *rand.Rand) { pgtest.Restart(r.t, time.Second) }},
	{"s3-errors", func(r *chaosRun, rng *rand.Rand) { r.s3(s3Errors, rng) }},
	{"s3-timeouts", func(r *chaosRun, rng *rand.Rand) { r.s3(s3Hang, rng) }},
	{"s3-slow", func(r *chaosRun, rng *rand.Rand) { r.s3(s3Slow, rng) }},
	{"s3-lost-reply", func(r *chaosRun, rng *rand.Rand) { r.s3(s3LostPut, rng) }},
}

// checkClockAhead writes a record to a wal partition of the agent and
// checks that the agent stamped it at least ahead of now: the fault took.
func (r *chaosRun) checkClockAhead(agent string, ahead time.Duration) {
	o, _, err := r.c.owned()
	if err != nil {
		r.t.Fatal(err)
	}
	for run, parts := range o[agent] {
		if run.mode != "wal" || len(parts) == 0 {
			continue
		}
		p := parts[0]
		v := fmt.Sprintf("%s-clock-%d", run.name, time.Now().UnixNano())
		client := &http.Client{Timeout: 5 * time.Second}
		if st, err := produceHTTP(context.Background(), client, r.c.base, run.l, []jsonRec{{Key: "clock", Value: v, Partition: &p}}); err != nil || st != http.StatusOK {
			r.t.Logf("clock-jump: the probe record was not written (%d, %v); not checked", st, err)
			return
		}
		run.l.mu.Lock()
		a := run.l.acked[v]
		run.l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := r.consumer.Fetch(ctx, &streamhousev1.FetchRequest{Topic: run.name, Partition: p, Offset: a.offset, MaxBytes: 1024})
		if err != nil || len(resp.GetRecords()) == 0 || resp.GetRecords()[0].GetOffset() != a.offset {
			r.t.Errorf("clock-jump: read back %s/%d@%d: %v", run.name, p, a.offset, err)
			return
		}
		if ts := time.UnixMilli(resp.GetRecords()[0].GetTimestampMs()); time.Until(ts) < ahead {
			r.t.Errorf("clock-jump: %s stamped a record %s, not %s ahead: the fault did not take", agent, ts.Format(time.TimeOnly), ahead)
		}
		return
	}
	r.t.Logf("clock-jump: %s owns no wal partition; not checked", agent)
}

// s3 turns an object-store fault on for 3 s.
func (r *chaosRun) s3(f s3Fault, rng *rand.Rand) {
	r.c.s3proxy.set(f, rng.Uint64())
	time.Sleep(3 * time.Second)
	r.c.s3proxy.set(s3Pass, 0)
}

// pickAgent picks, with rng, an agent that owns partitions.
func (r *chaosRun) pickAgent(rng *rand.Rand) string {
	o, _, err := r.c.owned()
	if err != nil {
		r.t.Fatal(err)
	}
	var ids []string
	for id := range o {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		r.t.Fatal("no agent owns a partition")
	}
	return ids[rng.IntN(len(ids))]
}

// TestChaos is the Jepsen-style checker: while idempotent producers (one
// per partition, resending a batch until it is acknowledged) and plain
// producers write unique values to a wal and an object topic, it injects
// each fault of chaosFaults in a seeded random order, STREAMHOUSE_CHAOS_ROUNDS
// times (1 by default: the short run of `just test`; `just chaos` runs 20),
// each bounded in time. Then it reads everything back with Fetch and with a
// consumer group, and proves that no acknowledged record was lost, each
// partition reads in offset order, nothing was duplicated or read that was
// never written, and the group's committed offsets never went backwards.
// It prints a table of the faults with the longest time a partition took
// no acknowledged write around each. STREAMHOUSE_CHAOS_SEED repeats a run.
func TestChaos(t *testing.T) {
	rounds := envInt(t, "STREAMHOUSE_CHAOS_ROUNDS", 1)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STREAMHOUSE_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STREAMHOUSE_CHAOS_SEED=%q: want an unsigned integer", s)
		}
		seed = v
	}
	t.Logf("chaos: seed %d (STREAMHOUSE_CHAOS_SEED=%d repeats the order), %d rounds of %d faults", seed, seed, rounds, len(chaosFaults))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	c := startCell(t, 3, leaseTTL, math.MaxInt32, true)
	conn, err := grpc.NewClient(c.rt.addr["grpc:"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	consumer := streamhousev1.NewConsumerServiceClient(conn)
	run := &chaosRun{t: t, c: c, consumer: consumer}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	var errMu sync.Mutex
	var prodErrs []string
	report := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(prodErrs) < 20 {
			prodErrs = append(prodErrs, err.Error())
		}
	}
	var producers sync.WaitGroup
	avail := newAvailability(2 * partitions)
	for _, r := range c.runs {
		for i := range 2 {
			producers.Go(func() { httpProducer(ctx, c.base, r.l, fmt.Sprintf("h%d", i), 20, 50*time.Millisecond, stop, report) })
		}
		for p := range int32(partitions) {
			producers.Go(func() { idempotentProducer(ctx, c.base, r, p, seed, avail, stop, report) })
		}
	}
	stopProducers := sync.OnceFunc(func() { close(stop); producers.Wait() })
	t.Cleanup(stopProducers)
	time.Sleep(2 * time.Second) // warm up

	var done []injected
	for round := range rounds {
		order := rng.Perm(len(chaosFaults))
		for _, i := range order {
			f := chaosFaults[i]
			in := injected{fault: f.name, start: time.Now()}
			f.inject(run, rng)
			in.end = time.Now()
			c.waitOwned(60*time.Second, f.name+": every partition owned again", 1, "")
			waitFor(t, 60*time.Second, f.name+": every partition takes writes again", func() (bool, string) {
				return avail.ackedAfter(in.end)
			})
			done = append(done, in)
			t.Logf("round %d: %s at %s healed after %s, every partition written again after %s", round+1, f.name,
				in.start.Format("15:04:05.000"), in.end.Sub(in.start).Round(time.Millisecond), time.Since(in.end).Round(time.Millisecond))
		}
	}
	time.Sleep(2 * time.Second)
	stopProducers()

	// Read everything back, then through a consumer group while a poller
	// watches its committed offsets.
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer rcancel()
	type totals struct{ acked, lost, reordered, duplicated, unknown, misplaced int }
	var sum totals
	for _, r := range c.runs {
		read := map[int32][]readRecord{}
		hws := map[int32]int64{}
		for p := range int32(partitions) {
			recs, hw, err := readPartition(rctx, consumer, r.name, p)
			if err != nil {
				t.Errorf("read %s/%d: %v", r.name, p, err)
			}
			read[p], hws[p] = recs, hw
		}
		v := check(r.l, read)
		logVerdict(t, r.mode, v, r.l)
		r.l.mu.Lock()
		if n := r.l.errCodes["internal"]; n > 0 { // a fault is no internal error: 503 or 429
			t.Errorf("%s: %d records answered 500 internal", r.mode, n)
		}
		r.l.mu.Unlock()
		for _, p := range v.problems {
			t.Errorf("%s: %s", r.mode, p)
		}
		for _, d := range v.dups {
			t.Errorf("%s: duplicated %s", r.mode, d)
		}
		sum.acked += v.acked
		sum.lost += v.lost
		sum.reordered += v.reordered + v.gaps
		sum.duplicated += v.duplicated
		sum.unknown += v.unknown
		sum.misplaced += v.misplaced

		group := r.name + "-chaos"
		watch := watchCommits(rctx, consumer, r.name, group)
		g := consumeGroup(rctx, c.rt.addr["grpc:"], r.name, group, hws)
		backwards := watch()
		for _, b := range backwards {
			t.Errorf("%s: committed offset went backwards: %s", group, b)
		}
		for _, p := range g.problems {
			t.Errorf("%s group: %s", r.mode, p)
		}
		if len(g.read) > 0 {
			gv := check(r.l, g.read)
			for _, p := range gv.problems {
				t.Errorf("%s group: %s", r.mode, p)
			}
			for _, p := range sameRecords(r.name, g.read, read) {
				t.Errorf("%s group: %s", r.mode, p)
			}
		}
	}

	// The table: faults, and the longest a partition went without an
	// acknowledged write of its idempotent producer around each.
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "chaos (seed %d, %d rounds, lease TTL %s):\n", seed, rounds, leaseTTL)
	fmt.Fprintf(&tbl, "| fault | injected | longest unavailability | mean fault time |\n|---|---|---|---|\n")
	byFault := map[string][]injected{}
	for _, in := range done {
		byFault[in.fault] = append(byFault[in.fault], in)
	}
	for _, f := range chaosFaults {
		ins := byFault[f.name]
		var worst, heal time.Duration
		for _, in := range ins {
			gap, ok := avail.longestGap(in.start, in.end)
			if !ok {
				t.Errorf("%s at %s: a partition took no write after the fault", f.name, in.start.Format(time.TimeOnly))
			}
			worst = max(worst, gap)
			heal += in.end.Sub(in.start)
		}
		fmt.Fprintf(&tbl, "| %s | %d | %s | %s |\n", f.name, len(ins), worst.Round(time.Millisecond), (heal / time.Duration(max(1, len(ins)))).Round(time.Millisecond))
	}
	fmt.Fprintf(&tbl, "\n| records acknowledged | lost | reordered | duplicated | never written | misplaced |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&tbl, "| %d | %d | %d | %d | %d | %d |\n", sum.acked, sum.lost, sum.reordered, sum.duplicated, sum.unknown, sum.misplaced)
	if p := c.s3proxy; p != nil {
		fmt.Fprintf(&tbl, "\nS3 requests changed by the proxy: errors %d, held %d, slowed %d, lost replies %d\n",
			p.hitCount(s3Errors), p.hitCount(s3Hang), p.hitCount(s3Slow), p.hitCount(s3LostPut))
	}
	t.Log("\n" + tbl.String())
	if out := os.Getenv("STREAMHOUSE_CHAOS_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(tbl.String()), 0o644); err != nil {
			t.Errorf("write %s: %v", out, err)
		}
	}
	errMu.Lock()
	for _, e := range prodErrs {
		t.Errorf("producer: %s", e)
	}
	errMu.Unlock()
	if sum.acked == 0 {
		t.Error("nothing acknowledged")
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want an integer >= 1", name, s)
	}
	return n
}
