package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeProducer stands in for the partition owners: dense offsets per
// partition, and a deep copy of every request (the router's records alias
// its request body). mu.fail, if set, fails the partitions it returns an
// error for.
type fakeProducer struct {
	mu struct {
		sync.Mutex
		fail func(partition int32) error
		reqs []wire.ProduceRequest
		next map[int32]int64
	}
}

func (f *fakeProducer) Produce(_ context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
	c := *req
	c.Records = make([]wire.Record, len(req.Records))
	for i, r := range req.Records {
		c.Records[i] = wire.Record{Timestamp: r.Timestamp, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
		for _, h := range r.Headers {
			c.Records[i].Headers = append(c.Records[i].Headers, wire.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.reqs = append(f.mu.reqs, c)
	if f.mu.fail != nil {
		if err := f.mu.fail(req.Partition); err != nil {
			return nil, err
		}
	}
	if f.mu.next == nil {
		f.mu.next = map[int32]int64{}
	}
	base := f.mu.next[req.Partition]
	f.mu.next[req.Partition] += int64(len(req.Records))
	return &wire.ProduceResponse{BaseOffset: base}, nil
}

func (f *fakeProducer) requests() []wire.ProduceRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mu.reqs)
}

// records is every record the producer got, in order.
func (f *fakeProducer) records() []wire.Record {
	var out []wire.Record
	for _, r := range f.requests() {
		out = append(out, r.Records...)
	}
	return out
}

type testServer struct {
	url    string
	prod   *fakeProducer
	reg    *registry.Embedded
	tenant int64
	// health is the /health and /ready report, and ready its status.
	health map[string]string
	status int
}

// newTestServer serves the real router on the real embedded registry, with
// /health and /ready beside it as the dev cell serves them.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerWith(t, nil)
}

// newTestServerWith is newTestServer with the router's Deps as set leaves
// them (Topics, Producer and Offsets are set before).
func newTestServerWith(t *testing.T, set func(ts *testServer, d *router.Deps)) *testServer {
	t.Helper()
	reg, err := registry.OpenEmbedded(t.TempDir() + "/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	tenant, err := reg.CreateTenant(t.Context(), "default")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{reg: reg, tenant: tenant.ID, prod: &fakeProducer{}, health: map[string]string{"registry": "ok", "objectstore": "ok"}, status: http.StatusOK}
	deps := router.Deps{Topics: reg, Producer: ts.prod, Offsets: reg}
	if set != nil {
		set(ts, &deps)
	}
	rt, err := router.New(router.Config{Authenticate: router.Anonymous(tenant.ID)}, deps)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", rt)
	report := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ts.status)
		_ = json.NewEncoder(w).Encode(ts.health)
	}
	mux.HandleFunc("GET /health", report)
	mux.HandleFunc("GET /ready", report)
	srv := httptest.NewServer(mux) // 127.0.0.1, port 0
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

type result struct {
	code           int
	stdout, stderr string
}

// cli runs streamctl in-process against the server, with stdin as given
// and neither stdin nor stderr a terminal.
func (ts *testServer) cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runWith(t, env{stdin: strings.NewReader(stdin)}, append([]string{"--server", ts.url}, args...)...)
}

func runWith(t *testing.T, e env, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e.stdout, e.stderr = &out, &errOut
	if e.stdin == nil {
		e.stdin = strings.NewReader("")
	}
	if e.getenv == nil {
		e.getenv = func(string) string { return "" }
	}
	code := run(t.Context(), args, e)
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr has a stack trace:\n%s", r.stderr)
	}
	return r
}

func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// dates hides the times in table output.
var dates = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

func TestTopicRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	out := ts.cli(t, "", "topic", "create", "orders", "--partitions", "3", "--durability", "object", "--retention", "2d").must(t, exitOK).stdout
	if want := "topic \"orders\" created: 3 partitions, durability object, retention 2d\n"; out != want {
		t.Errorf("create printed %q, want %q", out, want)
	}
	ts.cli(t, "", "topic", "create", "clicks").must(t, exitOK)

	out = ts.cli(t, "", "topic", "list").must(t, exitOK).stdout
	want := "" +
		"NAME    PARTITIONS  DURABILITY  RETENTION  CLEANUP  CREATED\n" +
		"clicks  1           wal         7d         delete   DATE\n" +
		"orders  3           object      2d         delete   DATE\n"
	if got := dates.ReplaceAllString(out, "DATE"); got != want {
		t.Errorf("topic list:\n%s\nwant:\n%s", got, want)
	}

	out = ts.cli(t, "", "topic", "describe", "orders").must(t, exitOK).stdout
	want = "" +
		"Name:             orders\n" +
		"ID:               ID\n" +
		"Partitions:       3\n" +
		"Durability:       object\n" +
		"Retention:        2d\n" +
		"Retention bytes:  unlimited\n" +
		"Cleanup policy:   delete\n" +
		"Created:          DATE\n" +
		"Updated:          DATE\n" +
		"\n" +
		"PARTITION  EPOCH  LOG START  HIGH WATERMARK  RECORDS  SIZE  SEGMENTS\n" +
		"0          0      0          0               0        0 B   0\n" +
		"1          0      0          0               0        0 B   0\n" +
		"2          0      0          0               0        0 B   0\n"
	got := regexp.MustCompile(`(?m)^(ID: +)\d+$`).ReplaceAllString(dates.ReplaceAllString(out, "DATE"), "${1}ID")
	if got != want {
		t.Errorf("topic describe:\n%s\nwant:\n%s", got, want)
	}

	var desc topic
	out = ts.cli(t, "", "-o", "json", "topic", "describe", "orders").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &desc); err != nil {
		t.Fatalf("describe -o json: %v\n%s", err, out)
	}
	if desc.Name != "orders" || desc.Partitions != 3 || desc.Durability != "object" || desc.RetentionMs != 2*86_400_000 ||
		len(desc.PartitionInfo) != 3 || desc.PartitionInfo[2].Partition != 2 {
		t.Errorf("describe -o json = %+v", desc)
	}

	var list struct{ Topics []topic }
	out = ts.cli(t, "", "topic", "list", "--output", "json").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Topics) != 2 {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}

	out = ts.cli(t, "", "topic", "delete", "orders", "--yes").must(t, exitOK).stdout
	if out != "topic \"orders\" deleted\n" {
		t.Errorf("delete printed %q", out)
	}
	out = ts.cli(t, "", "-o", "json", "topic", "delete", "clicks", "-y").must(t, exitOK).stdout
	if out != "{\n  \"deleted\": \"clicks\"\n}\n" {
		t.Errorf("delete -o json printed %q", out)
	}
	if out = ts.cli(t, "", "topic", "list").must(t, exitOK).stdout; out != "No topics.\n" {
		t.Errorf("list after delete printed %q", out)
	}
	r := ts.cli(t, "", "topic", "describe", "orders").must(t, exitServer)
	if want := "streamctl: not_found: topic \"orders\" not found (HTTP 404)\n"; r.stderr != want {
		t.Errorf("describe after delete: stderr %q, want %q", r.stderr, want)
	}
}

func TestTopicCreateErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "orders").must(t, exitOK)

	r := ts.cli(t, "", "topic", "create", "orders").must(t, exitServer)
	if !strings.Contains(r.stderr, `exists: topic "orders" already exists (HTTP 409)`) {
		t.Errorf("stderr %q", r.stderr)
	}
	r = ts.cli(t, "", "topic", "create", "bad/name").must(t, exitServer)
	if !strings.HasPrefix(r.stderr, "streamctl: invalid: ") || !strings.Contains(r.stderr, "(HTTP 400)") {
		t.Errorf("stderr %q", r.stderr)
	}
	for _, args := range [][]string{
		{"topic", "create"},
		{"topic", "create", "x", "--partitions", "0"},
		{"topic", "create", "x", "--partitions", "many"},
		{"topic", "create", "x", "--durability", "disk"},
		{"topic", "create", "x", "--retention", "7x"},
		{"topic", "create", "x", "--retention", "0s"},
		{"--output", "yaml", "topic", "list"},
		{"topic", "frobnicate"},
		{"nosuchcommand"},
	} {
		r := ts.cli(t, "", args...)
		if r.code != exitUsage || !strings.HasPrefix(r.stderr, "streamctl: ") || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and one error on stderr", args, r.code, r.stdout, r.stderr, exitUsage)
		}
	}
	out := ts.cli(t, "", "topic", "list").must(t, exitOK).stdout
	if strings.Count(out, "\n") != 2 {
		t.Errorf("usage errors created topics:\n%s", out)
	}
}

func TestTopicDeleteConfirm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "orders").must(t, exitOK)
	args := []string{"--server", ts.url, "topic", "delete", "orders"}

	r := ts.cli(t, "y\n", "topic", "delete", "orders").must(t, exitUsage) // stdin is no terminal
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("stderr %q does not mention --yes", r.stderr)
	}
	r = runWith(t, env{stdin: strings.NewReader("n\n"), stdinTTY: true}, args...).must(t, exitServer)
	if !strings.Contains(r.stderr, "Delete topic \"orders\"") || !strings.Contains(r.stderr, `topic "orders" not deleted`) {
		t.Errorf("stderr %q", r.stderr)
	}
	ts.cli(t, "", "topic", "describe", "orders").must(t, exitOK)

	runWith(t, env{stdin: strings.NewReader("yes\n"), stdinTTY: true}, args...).must(t, exitOK)
	ts.cli(t, "", "topic", "describe", "orders").must(t, exitServer)
}

func TestProduceArgs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "orders", "-p", "4").must(t, exitOK)

	out := ts.cli(t, "", "produce", "orders", "a", "b", "c", "--key", "k1", "-H", "trace=1", "--header", "tags=x,y", "-H", "trace=").must(t, exitOK).stdout
	recs := ts.prod.records()
	if len(recs) != 3 {
		t.Fatalf("producer got %d records, want 3", len(recs))
	}
	wantHeaders := []wire.Header{{Key: "trace", Value: []byte("1")}, {Key: "tags", Value: []byte("x,y")}, {Key: "trace", Value: []byte{}}}
	for i, r := range recs {
		if string(r.Key) != "k1" || string(r.Value) != string("abc"[i]) ||
			!slices.EqualFunc(r.Headers, wantHeaders, func(a, b wire.Header) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
			t.Errorf("record %d = key %q value %q headers %q", i, r.Key, r.Value, r.Headers)
		}
	}
	p := ts.prod.requests()[0].Partition // one key: one partition
	want := "" +
		"RECORD  PARTITION  OFFSET\n" +
		"0       #          0\n" +
		"1       #          1\n" +
		"2       #          2\n"
	if want = strings.ReplaceAll(want, "#", string(rune('0'+p))); out != want {
		t.Errorf("produce printed:\n%s\nwant:\n%s", out, want)
	}

	out = ts.cli(t, "", "produce", "orders", "d", "--partition", "2", "-o", "json").must(t, exitOK).stdout
	if want := `{"record":0,"partition":2,"offset":0}` + "\n"; out != want {
		t.Errorf("produce -o json printed %q, want %q", out, want)
	}
	if recs := ts.prod.records(); recs[3].Key != nil || string(recs[3].Value) != "d" || recs[3].Headers != nil {
		t.Errorf("record without key or headers arrived as %+v", recs[3])
	}
}

func TestProduceStdin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "orders", "-p", "2").must(t, exitOK)

	stdin := "k1:v1\nk2:v2\n\nk3:v:3\r\n:no key\nk5:" // a blank line, CRLF, an empty key, an empty value, no final newline
	out := ts.cli(t, stdin, "produce", "orders", "--key-sep", ":", "-H", "src=stdin", "--output", "json", "--batch-records", "2").must(t, exitOK).stdout
	want := []struct{ key, value string }{{"k1", "v1"}, {"k2", "v2"}, {"k3", "v:3"}, {"", "no key"}, {"k5", ""}}
	// Partitions' batches of one request go concurrently: the producer sees
	// the records of different partitions in any order.
	recs := ts.prod.records()
	if len(recs) != len(want) {
		t.Fatalf("producer got %d records, want %d", len(recs), len(want))
	}
	got := map[string]wire.Record{}
	for _, r := range recs {
		got[string(r.Key)] = r
	}
	for _, w := range want {
		r, ok := got[w.key]
		if !ok || r.Key == nil || string(r.Value) != w.value || r.Value == nil ||
			len(r.Headers) != 1 || r.Headers[0].Key != "src" || string(r.Headers[0].Value) != "stdin" {
			t.Errorf("record with key %q: %v, value %q headers %q; want value %q, header src=stdin", w.key, ok, r.Value, r.Headers, w.value)
		}
	}
	// 5 records in batches of 2: 3 requests, so at least 3 produce calls.
	if n := len(ts.prod.requests()); n < 3 {
		t.Errorf("%d produce calls, want 3 or more (batches of 2)", n)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(lines), len(want), out)
	}
	next := map[int32]int64{}
	for i, l := range lines {
		var p produced
		if err := json.Unmarshal([]byte(l), &p); err != nil || p.Record != i || p.Offset == nil || p.Error != nil {
			t.Fatalf("line %d: %q (%v)", i, l, err)
		}
		if *p.Offset != next[p.Partition] {
			t.Errorf("record %d: offset %d in partition %d, want %d", i, *p.Offset, p.Partition, next[p.Partition])
		}
		next[p.Partition]++
	}

	r := ts.cli(t, "a:1\nno separator\n", "produce", "orders", "--key-sep", ":").must(t, exitUsage)
	if !strings.Contains(r.stderr, `line 2 has no key separator ":" (the records before it were produced)`) ||
		!regexp.MustCompile(`^RECORD  PARTITION  OFFSET\n0       \d          \d+\n$`).MatchString(r.stdout) {
		t.Errorf("a line without separator: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	ts.cli(t, "\n\n", "produce", "orders").must(t, exitUsage) // nothing to produce
}

func TestProduceFileWithProgress(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "events").must(t, exitOK)
	path := t.TempDir() + "/in.txt"
	var in strings.Builder
	for i := range 2500 {
		in.WriteString(strings.Repeat("x", i%50+1) + "\n")
	}
	if err := os.WriteFile(path, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--server", ts.url, "produce", "events", "--file", path, "-o", "json"},
		env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, stderrTTY: true})
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 2500 {
		t.Errorf("%d result lines, want 2500", n)
	}
	if reqs := ts.prod.requests(); len(reqs) != 3 || len(reqs[0].Records) != 1000 {
		t.Errorf("%d requests, want 3 of at most 1,000 records", len(reqs))
	}
	if !strings.Contains(stderr.String(), "producing") {
		t.Errorf("no progress bar on a terminal's stderr: %q", stderr.String())
	}
	if strings.Contains(stdout.String(), "producing") {
		t.Error("progress bar on stdout")
	}
}

func TestProduceErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.cli(t, "", "topic", "create", "orders", "-p", "2").must(t, exitOK)

	r := ts.cli(t, "", "produce", "nope", "v").must(t, exitServer)
	if !strings.Contains(r.stderr, `not_found: topic "nope" not found (HTTP 404)`) || r.stdout != "" {
		t.Errorf("unknown topic: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = ts.cli(t, "", "produce", "orders", "v", "--partition", "7").must(t, exitServer)
	if !strings.Contains(r.stderr, "invalid: ") || !strings.Contains(r.stderr, "partition 7 does not exist") {
		t.Errorf("bad partition: stderr %q", r.stderr)
	}
	for _, args := range [][]string{
		{"produce"},
		{"produce", "orders", "v", "--key", "k", "--key-sep", ":"},
		{"produce", "orders", "v", "--header", "novalue"},
		{"produce", "orders", "v", "--header", "=v"},
		{"produce", "orders", "v", "--partition", "-1"},
		{"produce", "orders", "v", "--file", "/no/such/file"},
		{"produce", "orders", "v", "--batch-records", "0"},
	} {
		if r := ts.cli(t, "", args...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", args, r.code, exitUsage, r.stderr)
		}
	}
	if n := len(ts.prod.requests()); n != 0 {
		t.Errorf("refused commands sent %d produce requests", n)
	}

	// Partition 1's owner is busy: partition 0's records are written and
	// shown, partition 1's carry the error, and the exit code is 1.
	ts.prod.mu.Lock()
	ts.prod.mu.fail = func(p int32) error {
		if p == 1 {
			return wire.Errorf(wire.Busy, "inbox full")
		}
		return nil
	}
	ts.prod.mu.Unlock()
	r = ts.cli(t, "", "-o", "json", "produce", "orders", "--key-sep", "=", "a=1", "b=2", "c=3", "d=4").must(t, exitServer)
	if !strings.Contains(r.stderr, "produce stopped at records 0 to 3 (the results above say which were written); nothing produced before: busy: ") ||
		!strings.Contains(r.stderr, "(HTTP 429)") {
		t.Errorf("partial failure: stderr %q", r.stderr)
	}
	var ok, failed int
	for l := range strings.Lines(r.stdout) {
		var p produced
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		switch {
		case p.Partition == 0 && p.Offset != nil:
			ok++
		case p.Partition == 1 && p.Error != nil && p.Error.Code == "busy":
			failed++
		default:
			t.Errorf("unexpected result %q", l)
		}
	}
	if ok+failed != 4 {
		t.Errorf("%d results, want one per record:\n%s", ok+failed, r.stdout)
	}
}

func TestClusterStatus(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	out := ts.cli(t, "", "cluster", "status").must(t, exitOK).stdout
	want := "" +
		"ENDPOINT  HTTP  COMPONENT    STATUS\n" +
		"/health   200   objectstore  ok\n" +
		"/health   200   registry     ok\n" +
		"/ready    200   objectstore  ok\n" +
		"/ready    200   registry     ok\n" +
		"\n" +
		"agents: not available (this router does not see the cell's agents)\n"
	if out != want {
		t.Errorf("cluster status:\n%s\nwant:\n%s", out, want)
	}
	var st struct {
		Server string
		Checks []checkResult
	}
	out = ts.cli(t, "", "cluster", "status", "-o", "json").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Server != ts.url || len(st.Checks) != 2 || !st.Checks[1].OK {
		t.Errorf("cluster status -o json: %v\n%s", err, out)
	}
}

func TestClusterStatusUnhealthy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.health = map[string]string{"registry": "ok", "objectstore": "dial tcp: connection refused"}
	ts.status = http.StatusServiceUnavailable
	r := ts.cli(t, "", "cluster", "status").must(t, exitServer)
	if !strings.Contains(r.stdout, "objectstore  dial tcp: connection refused") || !strings.Contains(r.stderr, "unhealthy: /health is not ok (HTTP 503)") ||
		!strings.Contains(r.stdout, "agents: not available") {
		t.Errorf("stdout:\n%s\nstderr: %q", r.stdout, r.stderr)
	}
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	for _, args := range [][]string{{"topic", "list"}, {"produce", "t", "v"}, {"cluster", "status"}} {
		r := runWith(t, env{getenv: func(k string) string {
			if k == serverEnv {
				return url
			}
			return ""
		}}, args...)
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "cannot reach the server at "+url) {
			t.Errorf("%q: exit %d, stderr %q; want %d and 'cannot reach'", args, r.code, r.stderr, exitUnreachable)
		}
	}
	// The flag wins over the environment.
	ts := newTestServer(t)
	r := runWith(t, env{getenv: func(string) string { return url }}, "--server", strings.TrimPrefix(ts.url, "http://"), "topic", "list")
	r.must(t, exitOK)
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := runWith(t, env{}, "--help").must(t, exitOK)
	for _, s := range []string{"topic create", "produce", "cluster status", "STREAMHOUSE_SERVER", "gRPC"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("--help does not mention %q:\n%s", s, r.stdout)
		}
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"7d": 604_800_000, "2w": 1_209_600_000, "12h": 43_200_000, "1h30m": 5_400_000, "500ms": 500, "forever": -1, "-1": -1,
	} {
		got, err := parseRetention(in)
		if err != nil || got != want {
			t.Errorf("parseRetention(%q) = %d, %v; want %d", in, got, err, want)
		}
		if want > 0 {
			if back, _ := parseRetention(formatRetention(want)); back != want {
				t.Errorf("formatRetention(%d) = %q does not read back", want, formatRetention(want))
			}
		}
	}
	for _, in := range []string{"", "7", "d", "7x", "0d", "-2d", "1.5d", "0s", "1us", "99999999999d"} {
		var ue *usageError
		if _, err := parseRetention(in); !errors.As(err, &ue) {
			t.Errorf("parseRetention(%q): error %v, want a usage error", in, err)
		}
	}
}
