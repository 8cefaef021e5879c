package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmokeMatrix runs the whole harness on a tiny matrix against real
// `streamhouse dev` cells (built from this repository) and checks that the
// table has every row with a sane, non-zero value. It never checks a time.
func TestSmokeMatrix(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseFlags([]string{
		"--dir", dir, "--out", "", "--sizes", "1024", "--partitions", "1,4", "--big-partitions", "4",
		"--step", "300ms", "--step-mib", "16", "--consume-mib", "4", "--e2e", "3",
		"--pprof-dir", filepath.Join(dir, "pprof"), "--pprof-time", "1s",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log bytes.Buffer
	rep, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}

	want := map[string]int{ // rows per section
		"Floors":                       3, // JetStream, JetStream end to end, PUT
		"Produce throughput, flat out": 4,
		"Acknowledgement latency flat out, ms: p50 / p99 / p99.9 per request":                         4,
		"Acknowledgement latency at 50% of flat out, ms: p50 / p99 / p99.9 per request":               4,
		"End-to-end latency, ms: p50 / p99 / p99.9 (produce sent → the consumer's long poll answers)": 2,
		"Consume throughput (gRPC Fetch, 1 MiB a call, 16 partitions at once)":                        2,
		"Memory of the cell process": 5, // cell-wal, its restart, cell-wal-4, cell-object, cell-object-4
		// bench-wal-1, consume, profile, bench-wal-4, bench-object-1, bench-object-4
		"Object store per GB of values acknowledged (counted under the cell's objects/ after its drain)": 6,
	}
	got := map[string]int{}
	for _, r := range rep.rows {
		got[r.section]++
		if !(r.num > 0) || math.IsInf(r.num, 0) {
			t.Errorf("%s / %s: value %q has no positive number (%v)", r.section, r.figure, r.value, r.num)
		}
		if r.floor != "—" && (r.ratio == "—" || strings.Contains(r.ratio, "NaN") || strings.Contains(r.ratio, "Inf")) {
			t.Errorf("%s / %s: floor %q but ratio %q", r.section, r.figure, r.floor, r.ratio)
		}
	}
	for sec, n := range want {
		if got[sec] != n {
			t.Errorf("section %q: %d rows, want %d", sec, got[sec], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("sections %v, want %v", got, want)
	}
	for _, mode := range []string{"wal", "object"} {
		for _, size := range []string{"1 KiB"} {
			for _, p := range []string{"1 partition", "4 partitions"} {
				if !hasRow(rep, "Produce throughput, flat out", fmt.Sprintf("%s · %s · %s", mode, size, p)) {
					t.Errorf("no produce row for %s · %s · %s", mode, size, p)
				}
			}
		}
	}

	var md bytes.Buffer
	if err := rep.write(&md); err != nil {
		t.Fatal(err)
	}
	for sec := range want {
		if !strings.Contains(md.String(), "## "+sec+"\n\n| figure | value | floor | ratio |") {
			t.Errorf("markdown has no table for %q", sec)
		}
	}
	for _, f := range []string{"produce.cpu.pprof", "produce.allocs.pprof", "fetch.cpu.pprof", "fetch.allocs.pprof"} {
		if fi, err := os.Stat(filepath.Join(dir, "pprof", f)); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", f, err)
		}
	}
}

// TestCellPprofLoopbackOnly: the cell's --pprof, which the harness uses
// for profiles, refuses an address that is not loopback, naming the flag.
func TestCellPprofLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	bin := buildStreamhouse(t, dir)
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:6060"} {
		logPath := filepath.Join(dir, "cell.log")
		_, err := startCell(context.Background(), cellOptions{bin: bin, dataDir: filepath.Join(dir, "cell"), pprof: addr, logPath: logPath})
		if err == nil {
			t.Fatalf("--pprof %s: the cell started", addr)
		}
		log, _ := os.ReadFile(logPath)
		if !strings.Contains(string(log), "--pprof") || !strings.Contains(string(log), "loopback") {
			t.Errorf("--pprof %s: the cell's error does not name the flag and the rule: %s", addr, log)
		}
		_ = os.Remove(logPath)
	}
}

func buildStreamhouse(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "streamhouse")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/streamhouse/streamhouse/cmd/streamhouse").CombinedOutput(); err != nil {
		t.Fatalf("build streamhouse: %v\n%s", err, out)
	}
	return bin
}

// TestSmokeRunningCell measures a cell the test starts, as a user's
// running cell: through --http, --grpc, --nats and --pid only.
func TestSmokeRunningCell(t *testing.T) {
	dir := t.TempDir()
	bin := buildStreamhouse(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := startCell(ctx, cellOptions{bin: bin, dataDir: filepath.Join(dir, "cell"), logPath: filepath.Join(dir, "cell.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Error(err)
		}
	})
	cfg, err := parseFlags([]string{
		"--dir", filepath.Join(dir, "work"), "--out", "", "--sizes", "1024", "--partitions", "2", "--modes", "wal",
		"--step", "300ms", "--step-mib", "16", "--consume-mib", "2", "--e2e", "3",
		"--http", c.httpURL, "--grpc", c.grpcAddr, "--nats", c.natsURL, "--pid", fmt.Sprint(c.cmd.Process.Pid),
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rep, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	got := map[string]int{}
	for _, r := range rep.rows {
		got[r.section]++
		if !(r.num > 0) || math.IsInf(r.num, 0) {
			t.Errorf("%s / %s: value %q has no positive number", r.section, r.figure, r.value)
		}
	}
	for sec, n := range map[string]int{
		"Floors": 2, "Produce throughput, flat out": 1, "Memory of the cell process": 1,
		"Consume throughput (gRPC Fetch, 1 MiB a call, 16 partitions at once)": 1,
	} {
		if got[sec] != n {
			t.Errorf("section %q: %d rows, want %d (all: %v)", sec, got[sec], n, got)
		}
	}
	if !hasRow(rep, "Produce throughput, flat out", "wal · 1 KiB · 2 partitions") {
		t.Error("no produce row for wal · 1 KiB · 2 partitions")
	}
}

func hasRow(rep *report, section, figure string) bool {
	for _, r := range rep.rows {
		if r.section == section && r.figure == figure {
			return true
		}
	}
	return false
}

// TestFlagLimits: every limit of the flags refuses what is past it and
// names the flag.
func TestFlagLimits(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "0"}, "--sizes"},
		{[]string{"--sizes", "1048577"}, "--sizes"},
		{[]string{"--sizes", "1k"}, "--sizes"},
		{[]string{"--partitions", "10001"}, "--partitions"},
		{[]string{"--modes", "wal,disk"}, "--modes"},
		{[]string{"--step", "0s"}, "--step"},
		{[]string{"--step", "6m"}, "--step"},
		{[]string{"--step-mib", "0"}, "--step-mib"},
		{[]string{"--fixed", "1"}, "--fixed"},
		{[]string{"--wal-inflight", "0"}, "--wal-inflight"},
		{[]string{"--object-inflight", "1025"}, "--object-inflight"},
		{[]string{"--wal-batch", "8388609"}, "--wal-batch"},
		{[]string{"--consume-mib", "0"}, "--consume-mib"},
		{[]string{"--e2e", "0"}, "--e2e"},
		{[]string{"--big-partitions", "0"}, "--big-partitions"},
		{[]string{"--big-lease-ttl", "-1s"}, "--big-lease-ttl"},
		{[]string{"--pprof-time", "1500ms"}, "--pprof-time"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--modes", "object", "--pprof-dir", "p"}, "--modes must include wal"},
		{[]string{"--http", "http://127.0.0.1:1"}, "needs all three"},
		{[]string{"--pid", "7"}, "--pid and --data-dir"},
		{[]string{"--http", "http://x:1", "--grpc", "x:2", "--nats", "nats://x:3", "--pprof-dir", "p"}, "--pprof-dir"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if len(c.sizes) != 3 || len(c.partitions) != 4 || len(c.modes) != 2 {
		t.Errorf("default matrix: sizes %v, partitions %v, modes %v", c.sizes, c.partitions, c.modes)
	}
}

func TestQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 1000; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	q := quantiles(ds)
	if q != [3]time.Duration{500 * time.Millisecond, 990 * time.Millisecond, 999 * time.Millisecond} {
		t.Errorf("quantiles of 1..1000 ms: %v", q)
	}
	if q := quantiles([]time.Duration{7}); q != [3]time.Duration{7, 7, 7} {
		t.Errorf("quantiles of one sample: %v", q)
	}
}

func TestReadMemory(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.rss <= 0 || m.peak < m.rss {
		t.Errorf("memory of this process: %+v", m)
	}
	if _, err := readMemory(-1); err == nil {
		t.Error("memory of process -1: no error")
	}
}

func TestObjectsUnder(t *testing.T) {
	root := t.TempDir()
	for name, size := range map[string]int{"1/7/0/a.seg": 10, "1/7/3/b.seg": 20, "1/7/3/.tmp\\x": 99, "1/8/0/c.seg": 40} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u, err := objectsUnder(root, "1/7")
	if err != nil || u != (objectUsage{objects: 2, bytes: 30}) {
		t.Errorf("objects under 1/7: %+v, %v; want 2 objects, 30 bytes (temporary files left out)", u, err)
	}
	if u, err := objectsUnder(root, "1/9"); err != nil || u != (objectUsage{}) {
		t.Errorf("objects under a missing folder: %+v, %v", u, err)
	}
}

func TestRatioAndCount(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ratio(50, 100), "0.50×"}, {ratio(250, 100), "2.5×"}, {ratio(1500, 100), "15×"}, {ratio(1, 0), "—"}, {ratio(2, 612), "0.0033×"},
		{count(1234567), "1,234,567"}, {count(999), "999"}, {sizeName(10240), "10 KiB"}, {sizeName(100), "100 B"},
		{partitionsName(1), "1 partition"}, {partitionsName(4096), "4,096 partitions"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
