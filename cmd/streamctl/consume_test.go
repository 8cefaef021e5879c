package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/router"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeFetcher stands in for the partition owners on the read side: each
// partition a slice of records from offset 0. A fetch at the high
// watermark waits up to max_wait for an append.
type fakeFetcher struct {
	mu    sync.Mutex
	parts map[int32][]wire.FetchedRecord
	grew  chan struct{} // closed and replaced on every append
	fail  map[int32]int // answer this many fetches of a partition with not_owner
	waits atomic.Int32  // fetches that have waited at the high watermark
}

func newFakeFetcher() *fakeFetcher {
	return &fakeFetcher{parts: map[int32][]wire.FetchedRecord{}, grew: make(chan struct{}), fail: map[int32]int{}}
}

// add appends records (key, value pairs; a nil key is none) to a partition.
func (f *fakeFetcher) add(part int32, recs ...wire.FetchedRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		r.Offset = int64(len(f.parts[part]))
		r.Timestamp = 1_700_000_000_000 + r.Offset
		f.parts[part] = append(f.parts[part], r)
	}
	close(f.grew)
	f.grew = make(chan struct{})
}

func (f *fakeFetcher) Fetch(ctx context.Context, req *wire.FetchRequest) (*wire.FetchResponse, error) {
	deadline := time.After(time.Duration(req.MaxWaitMs) * time.Millisecond)
	for {
		f.mu.Lock()
		recs, grew := f.parts[req.Partition], f.grew
		failing := f.fail[req.Partition] > 0
		if failing {
			f.fail[req.Partition]--
		}
		f.mu.Unlock()
		if failing {
			return &wire.FetchResponse{Code: wire.NotOwner, Message: "partition moving"}, nil
		}
		hwm := int64(len(recs))
		resp := &wire.FetchResponse{HighWatermark: hwm, NextOffset: req.Offset}
		if req.Offset > hwm {
			resp.Code, resp.Message = wire.OutOfRange, "offset past the high watermark"
			return resp, nil
		}
		if req.Offset < hwm {
			size := 0
			for _, r := range recs[req.Offset:] {
				if size += r.Size(); len(resp.Records) > 0 && size > int(req.MaxBytes) {
					break
				}
				resp.Records = append(resp.Records, r)
			}
			resp.NextOffset = req.Offset + int64(len(resp.Records))
			return resp, nil
		}
		f.waits.Add(1)
		select {
		case <-grew:
		case <-deadline:
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type grpcTestServer struct {
	*testServer
	addr  string
	fetch *fakeFetcher
}

// newGRPCTestServer serves the HTTP API and, on its registry, the real gRPC
// server with a fake fetch backend.
func newGRPCTestServer(t *testing.T) *grpcTestServer {
	t.Helper()
	ts := newTestServer(t)
	ff := newFakeFetcher()
	srv, err := router.NewGRPCServer(router.GRPCConfig{Authenticate: router.AnonymousGRPC(ts.tenant), Topics: ts.reg, Fetch: ff})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return &grpcTestServer{testServer: ts, addr: lis.Addr().String(), fetch: ff}
}

func (g *grpcTestServer) cli(t *testing.T, args ...string) result {
	t.Helper()
	return g.testServer.cli(t, "", append([]string{"--grpc", g.addr}, args...)...)
}

func rec(key, value string) wire.FetchedRecord {
	r := wire.FetchedRecord{Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// seed creates "orders" with 3 partitions: 4 records in 0, 2 in 1, none
// in 2.
func seed(t *testing.T, g *grpcTestServer) {
	t.Helper()
	g.testServer.cli(t, "", "topic", "create", "orders", "-p", "3").must(t, exitOK)
	bin := wire.FetchedRecord{Key: []byte("bin"), Value: []byte{0xff, 0x00, 0x01}, Headers: []wire.Header{{Key: "trace", Value: []byte("t1")}, {Key: "raw", Value: []byte{0xfe}}}}
	g.fetch.add(0, rec("alice", "hello"), rec("", "no key"), bin, wire.FetchedRecord{Key: []byte("longer-key")}) // a tombstone
	g.fetch.add(1, rec("p1", "a"), rec("p1", "b\nc"))
}

func TestConsume(t *testing.T) {
	t.Parallel()
	g := newGRPCTestServer(t)
	seed(t, g)

	out := g.cli(t, "consume", "orders").must(t, exitOK).stdout
	want := "" +
		"PARTITION  OFFSET  KEY         VALUE\n" +
		"0          0       alice       hello\n" +
		"0          1       <null>      no key\n" +
		"0          2       bin         (base64)/wAB\n" +
		"0          3       longer-key  <null>\n"
	if out != want {
		t.Errorf("consume earliest:\n%s\nwant:\n%s", out, want)
	}

	out = g.cli(t, "consume", "orders", "--offset", "2", "--max", "1").must(t, exitOK).stdout
	if want := "PARTITION  OFFSET  KEY  VALUE\n0          2       bin  (base64)/wAB\n"; out != want {
		t.Errorf("consume --offset 2 --max 1:\n%q\nwant:\n%q", out, want)
	}
	if out = g.cli(t, "consume", "orders", "--offset", "latest").must(t, exitOK).stdout; out != "" {
		t.Errorf("consume --offset latest printed %q", out)
	}
	if out = g.cli(t, "consume", "orders", "-p", "2").must(t, exitOK).stdout; out != "" {
		t.Errorf("empty partition printed %q", out)
	}

	out = g.cli(t, "consume", "orders", "--all").must(t, exitOK).stdout
	want = "" +
		"PARTITION  OFFSET  KEY         VALUE\n" +
		"0          0       alice       hello\n" +
		"0          1       <null>      no key\n" +
		"0          2       bin         (base64)/wAB\n" +
		"0          3       longer-key  <null>\n" +
		"1          0       p1          a\n" +
		"1          1       p1          \"b\\nc\"\n"
	if out != want {
		t.Errorf("consume --all:\n%s\nwant:\n%s", out, want)
	}
	out = g.cli(t, "consume", "orders", "--all", "-n", "5").must(t, exitOK).stdout
	if strings.Count(out, "\n") != 6 {
		t.Errorf("consume --all --max 5 printed:\n%s", out)
	}

	out = g.cli(t, "-o", "json", "consume", "orders", "-p", "0").must(t, exitOK).stdout
	want = "" +
		`{"partition":0,"offset":0,"timestamp_ms":1700000000000,"key":"alice","value":"hello","headers":[]}` + "\n" +
		`{"partition":0,"offset":1,"timestamp_ms":1700000000001,"key":null,"value":"no key","headers":[]}` + "\n" +
		`{"partition":0,"offset":2,"timestamp_ms":1700000000002,"key":"bin","value_b64":"/wAB","headers":[{"key":"trace","value":"t1"},{"key":"raw","value_b64":"/g=="}]}` + "\n" +
		`{"partition":0,"offset":3,"timestamp_ms":1700000000003,"key":"longer-key","value":null,"headers":[]}` + "\n"
	if out != want {
		t.Errorf("consume -o json:\n%s\nwant:\n%s", out, want)
	}
	for l := range strings.Lines(out) {
		if !json.Valid([]byte(l)) {
			t.Errorf("not JSON: %q", l)
		}
	}
}

func TestConsumeErrors(t *testing.T) {
	t.Parallel()
	g := newGRPCTestServer(t)
	seed(t, g)

	r := g.cli(t, "consume", "nope").must(t, exitServer)
	if r.stderr != "streamctl: not_found: topic \"nope\" not found\n" || r.stdout != "" {
		t.Errorf("unknown topic: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = g.cli(t, "consume", "orders", "-p", "9").must(t, exitServer)
	if !strings.HasPrefix(r.stderr, "streamctl: invalid: partition 9 does not exist") {
		t.Errorf("bad partition: stderr %q", r.stderr)
	}
	r = g.cli(t, "consume", "orders", "--offset", "99").must(t, exitServer)
	if !strings.Contains(r.stderr, "out_of_range: ") {
		t.Errorf("offset past the end: stderr %q", r.stderr)
	}
	for _, args := range [][]string{
		{"consume"},
		{"consume", "orders", "--offset", "first"},
		{"consume", "orders", "--offset", "-1"},
		{"consume", "orders", "--all", "-p", "1"},
		{"consume", "orders", "--max", "-1"},
	} {
		if r := g.cli(t, args...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", args, r.code, exitUsage, r.stderr)
		}
	}

	// Nothing listens on the gRPC address: exit 3.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	for _, args := range [][]string{{"consume", "orders"}, {"group", "offsets", "g"}, {"group", "commit", "g", "orders", "0", "1"}} {
		r := runWith(t, env{getenv: func(k string) string {
			if k == grpcEnv {
				return addr
			}
			return ""
		}}, args...)
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "cannot reach the gRPC API at "+addr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and 'cannot reach'", args, r.code, r.stderr, exitUnreachable)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a reader beside the writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConsumeFollow(t *testing.T) {
	t.Parallel()
	g := newGRPCTestServer(t)
	seed(t, g)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--server", g.url, "--grpc", g.addr, "-o", "json", "consume", "orders", "--all", "--follow"},
			env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	}()
	waitFor := func(lines int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); strings.Count(stdout.String(), "\n") < lines; {
			if time.Now().After(deadline) {
				t.Fatalf("waited for %d lines; stdout:\n%s\nstderr: %s", lines, stdout.String(), stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(6)
	g.fetch.add(2, rec("new", "arrived")) // wakes partition 2's long poll
	waitFor(7)
	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted || stderr.String() != "streamctl: interrupted\n" {
			t.Errorf("exit %d, stderr %q; want %d, interrupted", code, stderr.String(), exitInterrupted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consume --follow did not stop on cancel")
	}
	if !strings.HasSuffix(stdout.String(), `{"partition":2,"offset":0,"timestamp_ms":1700000000000,"key":"new","value":"arrived","headers":[]}`+"\n") {
		t.Errorf("stdout:\n%s", stdout.String())
	}

	// --max ends a follow with exit 0.
	g.fetch.add(1, rec("p1", "d"))
	r := g.cli(t, "consume", "orders", "--offset", "2", "-p", "1", "-f", "-n", "1").must(t, exitOK)
	if !strings.HasSuffix(r.stdout, "1          2       p1   d\n") {
		t.Errorf("follow --max 1: %q", r.stdout)
	}
}

// A follow rides out owner changes, at its start and while it long-polls:
// not_owner is retried, said once per outage on stderr, and the records
// after it arrive.
func TestConsumeFollowRetriesWhileOwnershipMoves(t *testing.T) {
	t.Parallel()
	g := newGRPCTestServer(t)
	seed(t, g) // partition 1 holds offsets 0 and 1
	g.fetch.mu.Lock()
	g.fetch.fail[1] = 3 // the start's fetches
	g.fetch.mu.Unlock()
	go func() {
		for g.fetch.waits.Load() == 0 { // the follow's long poll is waiting
			time.Sleep(5 * time.Millisecond)
		}
		g.fetch.mu.Lock()
		g.fetch.fail[1] = 2
		g.fetch.mu.Unlock()
		g.fetch.add(1, rec("k", "after")) // wakes the long poll into the failures
	}()
	r := g.cli(t, "consume", "orders", "-p", "1", "--offset", "2", "-f", "-n", "1").must(t, exitOK)
	if !strings.HasSuffix(r.stdout, "1          2       k    after\n") {
		t.Errorf("stdout %q, want the record after the outage", r.stdout)
	}
	want := "streamctl: partition 1 at offset 2: not_owner: partition moving; retrying\n" +
		"streamctl: partition 1 at offset 2: fetching again after 3 retries\n" +
		"streamctl: partition 1 at offset 2: not_owner: partition moving; retrying\n" +
		"streamctl: partition 1 at offset 2: fetching again after 2 retries\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
}

func TestGroupOffsets(t *testing.T) {
	t.Parallel()
	g := newGRPCTestServer(t)
	seed(t, g)

	if out := g.cli(t, "group", "offsets", "billing").must(t, exitOK).stdout; out != "No committed offsets for group \"billing\".\n" {
		t.Errorf("no offsets: %q", out)
	}
	out := g.cli(t, "group", "commit", "billing", "orders", "1", "42", "--metadata", "m1").must(t, exitOK).stdout
	if out != "group \"billing\" committed offset 42 in orders partition 1\n" {
		t.Errorf("commit printed %q", out)
	}
	g.cli(t, "-o", "json", "group", "commit", "billing", "orders", "0", "7").must(t, exitOK)
	out = g.cli(t, "group", "offsets", "billing", "--topic", "orders").must(t, exitOK).stdout
	want := "" +
		"TOPIC   PARTITION  OFFSET  COMMITTED             METADATA\n" +
		"orders  0          7       2006-01-02T15:04:05Z\n" +
		"orders  1          42      2006-01-02T15:04:05Z  m1\n"
	if got := dates.ReplaceAllString(out, "2006-01-02T15:04:05Z"); got != want {
		t.Errorf("group offsets:\n%s\nwant:\n%s", got, want)
	}
	var js struct {
		Group   string
		Offsets []groupOffset
	}
	out = g.cli(t, "-o", "json", "group", "offsets", "billing").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &js); err != nil || js.Group != "billing" || len(js.Offsets) != 2 ||
		js.Offsets[1].Offset != 42 || js.Offsets[1].Metadata != "m1" || time.Since(js.Offsets[1].CommittedAt) > time.Minute {
		t.Errorf("group offsets -o json: %v\n%s", err, out)
	}

	r := g.cli(t, "group", "commit", "billing", "nope", "0", "1").must(t, exitServer)
	if !strings.HasPrefix(r.stderr, "streamctl: not_found: ") {
		t.Errorf("commit to an unknown topic: stderr %q", r.stderr)
	}
	r = g.cli(t, "group", "offsets", "billing", "-t", "nope").must(t, exitServer)
	if !strings.HasPrefix(r.stderr, "streamctl: not_found: ") {
		t.Errorf("offsets of an unknown topic: stderr %q", r.stderr)
	}
}
