// Command streambench measures a StreamHouse cell through its public APIs
// and prints a markdown table of each figure beside its floor.
//
//	streambench [--out bench-cell.md] [--step 2s] [--sizes 100,1024,10240]
//	            [--partitions 1,16,256,4096] [--modes wal,object] [--pprof-dir DIR]
//	            [--http URL --grpc ADDR --nats URL [--pid PID] [--data-dir DIR] [--token KEY]]
//
// It builds and starts `streamhouse dev` cells itself (in a temporary
// folder, on free loopback ports), or measures a running cell given with
// --http, --grpc and --nats (then without the figures that need a restart
// or a drain: consume from object storage, objects per GB). It produces over HTTP binary batches
// (application/vnd.streamhouse.batch), consumes with gRPC Fetch, and in the
// same run measures the floors: raw JetStream async publishes of the same
// bytes to the cell's own NATS server (the floor of wal mode) and raw
// segment-sized PUTs through objectstore.NewFS on the same filesystem (the
// floor of object mode). Benchmarks never assert times; they report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of the flags, so that a typo cannot ask for hours of load or a
// record the server refuses.
const (
	maxRecordSize  = 1 << 20 // the server's default record limit (router.Config.MaxRecordBytes)
	maxPartitions  = 10000   // registry.MaxPartitions
	maxStep        = 5 * time.Minute
	maxStepBytes   = 64 << 30
	maxConcurrency = 1024
	maxBatchBytes  = 8 << 20 // the server's default request limit
)

// config is what the flags set.
type config struct {
	bin           string        // streamhouse binary; "" builds one
	out           string        // markdown file; "" writes none
	workDir       string        // cells' data folders; "" is a new temporary folder
	keep          bool          // keep workDir afterwards
	step          time.Duration // each produce step (object mode's: twice, its acks wait for a flush)
	stepBytes     int64         // each produce step stops after this many value bytes
	sizes         []int
	partitions    []int
	modes         []string
	bigPartitions int           // topics with at least this many partitions get a cell of their own
	bigLeaseTTL   time.Duration // that cell's --lease-ttl
	fixedFraction float64       // the fixed rate, as a fraction of the flat-out rate just measured
	walConc       int           // produce requests in flight, wal mode
	objectConc    int           // produce requests in flight, object mode
	walBatch      int           // produce request size, wal mode
	objectBatch   int           // produce request size, object mode
	consumeBytes  int64         // written to the consume topic, then read back
	e2eSamples    int
	pprofDir      string        // CPU and allocation profiles of the produce and fetch paths; "" for none
	pprofTime     time.Duration // how long each profile samples
	ext           externalCell  // a running cell to measure instead of starting cells
	token         string        // API key or access token for the running cell; "" for none
}

// externalCell is a cell the harness connects to instead of starting its
// own (--http, --grpc, --nats; --pid and --data-dir optional).
type externalCell struct {
	http, grpc, nats string
	pid              int    // its process, for memory; 0 for none
	dataDir          string // its data folder (objects/), for the PUT floor's filesystem; "" for the work folder
}

func (e externalCell) set() bool { return e.http != "" || e.grpc != "" || e.nats != "" }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := config{}
	fs := flag.NewFlagSet("streambench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bin, "streamhouse", "", "streamhouse binary to run (default: go build ./cmd/streamhouse into the work folder)")
	fs.StringVar(&c.out, "out", "bench-cell.md", `write the table to this file too ("" for none)`)
	fs.StringVar(&c.workDir, "dir", "", "folder for the cells' data (default: a new temporary folder, removed afterwards)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work folder (cell logs, data) afterwards")
	fs.DurationVar(&c.step, "step", 2*time.Second, "duration of each produce step (object mode: twice this)")
	stepBytes := fs.Int64("step-mib", 512, "each produce step stops after this many MiB of values")
	sizes := fs.String("sizes", "100,1024,10240", "record value sizes in bytes, comma-separated")
	parts := fs.String("partitions", "1,16,256,4096", "partition counts, comma-separated")
	modes := fs.String("modes", "wal,object", "durability modes, comma-separated: wal, object")
	fs.IntVar(&c.bigPartitions, "big-partitions", 1024, "topics with at least this many partitions run in a cell of their own, with --big-lease-ttl")
	fs.DurationVar(&c.bigLeaseTTL, "big-lease-ttl", 30*time.Second, "lease TTL of the big topics' cell (the default 3 s churns leases at 4,096 partitions on 2 cores)")
	fs.Float64Var(&c.fixedFraction, "fixed", 0.5, "the fixed-rate step's rate, as a fraction of the flat-out rate")
	fs.IntVar(&c.walConc, "wal-inflight", 32, "produce requests in flight in wal mode")
	fs.IntVar(&c.objectConc, "object-inflight", 128, "produce requests in flight in object mode (each waits for a segment flush, about 1 s)")
	fs.IntVar(&c.walBatch, "wal-batch", 64<<10, "bytes of values per produce request in wal mode")
	fs.IntVar(&c.objectBatch, "object-batch", 256<<10, "bytes of values per produce request in object mode")
	consumeMiB := fs.Int64("consume-mib", 64, "MiB written to the consume topic and read back, from the tail and from object storage")
	fs.IntVar(&c.e2eSamples, "e2e", 200, "end-to-end latency samples per mode")
	fs.StringVar(&c.pprofDir, "pprof-dir", "", "write CPU and allocation profiles of the cell's produce and fetch paths here")
	fs.DurationVar(&c.pprofTime, "pprof-time", 8*time.Second, "how long each profile samples (whole seconds)")
	fs.StringVar(&c.ext.http, "http", "", "measure the running cell at this HTTP address (http://host:port) instead of starting cells; needs --grpc and --nats")
	fs.StringVar(&c.ext.grpc, "grpc", "", "the running cell's gRPC address (host:port)")
	fs.StringVar(&c.ext.nats, "nats", "", "the running cell's NATS URL, for the JetStream floor")
	fs.IntVar(&c.ext.pid, "pid", 0, "the running cell's process id, for its memory (same machine, Linux)")
	fs.StringVar(&c.ext.dataDir, "data-dir", "", "the running cell's data folder: the PUT floor writes there (default: the work folder)")
	fs.StringVar(&c.token, "token", os.Getenv(tokenEnv), "API key or access token sent with every request to the running cell of --http (default $"+tokenEnv+")")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	tokenSet := false
	fs.Visit(func(f *flag.Flag) { tokenSet = tokenSet || f.Name == "token" })
	if tokenSet && !c.ext.set() {
		// The harness's own cells run without authentication.
		return c, errors.New("--token is for a running cell: give --http, --grpc and --nats too")
	}
	if !c.ext.set() {
		c.token = "" // $STREAMHOUSE_TOKEN is for a running cell only
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.sizes, err = intList("sizes", *sizes, 1, maxRecordSize); err != nil {
		return c, err
	}
	if c.partitions, err = intList("partitions", *parts, 1, maxPartitions); err != nil {
		return c, err
	}
	for m := range strings.SplitSeq(*modes, ",") {
		if m != "wal" && m != "object" {
			return c, fmt.Errorf("--modes: %q is not a durability mode (wal, object)", m)
		}
		c.modes = append(c.modes, m)
	}
	c.stepBytes = *stepBytes << 20
	c.consumeBytes = *consumeMiB << 20
	return c, c.validate()
}

func (c *config) validate() error {
	switch {
	case c.step <= 0 || c.step > maxStep:
		return fmt.Errorf("--step %s: want more than 0 and at most %s", c.step, maxStep)
	case c.stepBytes <= 0 || c.stepBytes > maxStepBytes:
		return fmt.Errorf("--step-mib %d: want 1 to %d", c.stepBytes>>20, maxStepBytes>>20)
	case c.fixedFraction <= 0 || c.fixedFraction >= 1:
		return fmt.Errorf("--fixed %g: want a fraction between 0 and 1", c.fixedFraction)
	case c.walConc < 1 || c.walConc > maxConcurrency || c.objectConc < 1 || c.objectConc > maxConcurrency:
		return fmt.Errorf("--wal-inflight %d, --object-inflight %d: want 1 to %d", c.walConc, c.objectConc, maxConcurrency)
	case c.walBatch < 1 || c.walBatch > maxBatchBytes || c.objectBatch < 1 || c.objectBatch > maxBatchBytes:
		return fmt.Errorf("--wal-batch %d, --object-batch %d: want 1 to %d bytes (the server's request limit)", c.walBatch, c.objectBatch, maxBatchBytes)
	case c.consumeBytes <= 0 || c.consumeBytes > maxStepBytes:
		return fmt.Errorf("--consume-mib %d: want 1 to %d", c.consumeBytes>>20, maxStepBytes>>20)
	case c.e2eSamples < 1 || c.e2eSamples > 100000:
		return fmt.Errorf("--e2e %d: want 1 to 100000", c.e2eSamples)
	case c.bigPartitions < 1:
		return fmt.Errorf("--big-partitions %d: want 1 or more", c.bigPartitions)
	case c.pprofTime < time.Second || c.pprofTime > time.Minute || c.pprofTime%time.Second != 0:
		return fmt.Errorf("--pprof-time %s: want whole seconds from 1s to 1m", c.pprofTime)
	case c.ext.set() && (c.ext.http == "" || c.ext.grpc == "" || c.ext.nats == ""):
		return fmt.Errorf("--http %q, --grpc %q, --nats %q: a running cell needs all three", c.ext.http, c.ext.grpc, c.ext.nats)
	case !c.ext.set() && (c.ext.pid != 0 || c.ext.dataDir != ""):
		return errors.New("--pid and --data-dir describe a running cell: give --http, --grpc and --nats too")
	case c.ext.set() && c.pprofDir != "":
		return errors.New("--pprof-dir needs a cell the harness starts (with --pprof): not with --http")
	case c.pprofDir != "" && !slices.Contains(c.modes, "wal"):
		return errors.New("--pprof-dir profiles the wal cell: --modes must include wal")
	case c.ext.pid < 0:
		return fmt.Errorf("--pid %d: want a process id", c.ext.pid)
	case c.bigLeaseTTL < 0:
		return fmt.Errorf("--big-lease-ttl %s: want 0 (the cell's default) or more", c.bigLeaseTTL)
	}
	return nil
}

// intList parses a comma-separated list of integers in lo..hi.
func intList(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("--%s: %q is not a number from %d to %d", name, f, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(2)
	}
	rep, err := run(ctx, cfg, os.Stderr)
	if rep != nil {
		if werr := rep.write(os.Stdout); werr != nil && err == nil {
			err = werr
		}
		if cfg.out != "" {
			if werr := writeFile(cfg.out, rep); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

func writeFile(path string, rep *report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := rep.write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
