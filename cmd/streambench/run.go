package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// segmentBytes is the size of a segment the partition actor flushes when
// it is full (partition.ActorConfig.FlushBytes' default): the floor's
// object size, and the fewest PUTs a GB can take.
const segmentBytes = 8 << 20

// Sizes of the fixed steps that are not produce steps.
const (
	floorLatencyCount = 2000            // sync publishes timed for the latency floor
	floorLatencyTime  = 1 * time.Second // and at most this long
	putFloorConc      = 4               // floor PUTs in flight
	consumeTopicParts = 16
	consumeConc       = 16 // partitions read at once
	consumeBudget     = 60 * time.Second
	e2eGap            = 10 * time.Millisecond
	e2eBudget         = 20 * time.Second
	// objectPerPartition bounds object mode's requests in flight per
	// partition of the topic.
	objectPerPartition = 16
)

// bench is one run: the config, the floors measured so far and the report.
type bench struct {
	cfg config
	log io.Writer
	dir string
	bin string
	rep *report

	jsTP       map[int]throughput       // raw JetStream async publish, per record size
	jsLat      map[int][3]time.Duration // raw JetStream sync publish latency, per record size
	jsE2E      [3]time.Duration         // publish → core subscriber sees it
	putTP      throughput               // raw segment-sized PUTs
	putLat     [3]time.Duration
	ingested   map[string]int64    // value bytes acknowledged per topic
	ids        map[string]int64    // topic ids
	cellTopics map[string][]string // the topics each cell holds, in creation order
	counted    map[string]bool     // topics whose objects are reported
	cur        string              // the cell running now
	suffix     string              // of topic names: unique per run on a running cell
}

// topic names a topic of this run.
func (b *bench) topic(base string) string { return base + b.suffix }

// createTopic creates a topic in the running cell and remembers its id
// and cell, for counting its objects when the cell stops.
func (b *bench) createTopic(ctx context.Context, a *api, topic string, partitions int, mode string) error {
	id, err := a.createTopic(ctx, topic, partitions, mode)
	if err != nil {
		return err
	}
	b.ids[topic] = id
	b.cellTopics[b.cur] = append(b.cellTopics[b.cur], topic)
	return nil
}

// run measures the matrix of cfg and returns the report, partial if err is
// not nil.
func run(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	b := &bench{
		cfg: cfg, log: log,
		rep:      &report{title: "StreamHouse cell benchmark"},
		jsTP:     map[int]throughput{},
		jsLat:    map[int][3]time.Duration{},
		ingested: map[string]int64{}, ids: map[string]int64{},
		cellTopics: map[string][]string{}, counted: map[string]bool{},
	}
	b.dir = cfg.workDir
	if b.dir == "" {
		d, err := os.MkdirTemp("", "streambench-")
		if err != nil {
			return nil, fmt.Errorf("work folder: %w", err)
		}
		b.dir = d
		if !cfg.keep {
			defer os.RemoveAll(d)
		}
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	b.bin = cfg.bin
	if cfg.ext.set() {
		b.suffix = "-" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	} else if b.bin == "" {
		b.bin = filepath.Join(b.dir, "streamhouse")
		b.logf("building streamhouse into %s", b.bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "github.com/streamhouse/streamhouse/cmd/streamhouse")
		cmd.Stderr = log
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/streamhouse (run from the repository, or give --streamhouse): %w", err)
		}
	}
	start := time.Now()
	for _, mode := range cfg.modes {
		if err := b.runMode(ctx, mode); err != nil {
			return b.rep, fmt.Errorf("%s mode: %w", mode, err)
		}
	}
	b.notes(time.Since(start))
	return b.rep, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s streambench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// runMode measures one durability mode: the small topics in one cell, with
// the consume and end-to-end figures; each big topic in a cell of its own.
func (b *bench) runMode(ctx context.Context, mode string) error {
	var small, big []int
	for _, p := range b.cfg.partitions {
		if p >= b.cfg.bigPartitions {
			big = append(big, p)
		} else {
			small = append(small, p)
		}
	}
	if b.cfg.ext.set() { // one cell, as it is: no restart, no cell of its own for big topics
		return b.withCell(ctx, "external", "the running cell", 0, false, func(c *cell, a *api) error {
			if err := b.floors(ctx, c, mode); err != nil {
				return err
			}
			for _, p := range b.cfg.partitions {
				if err := b.produceTopic(ctx, a, mode, p); err != nil {
					return err
				}
			}
			if err := b.endToEnd(ctx, a, mode); err != nil {
				return err
			}
			if mode == "wal" {
				return b.consumeTail(ctx, a)
			}
			return nil
		})
	}
	name := "cell-" + mode
	err := b.withCell(ctx, name, name, 0, mode == "wal" && b.cfg.pprofDir != "", func(c *cell, a *api) error {
		if err := b.floors(ctx, c, mode); err != nil {
			return err
		}
		for _, p := range small {
			if err := b.produceTopic(ctx, a, mode, p); err != nil {
				return err
			}
		}
		if err := b.endToEnd(ctx, a, mode); err != nil {
			return err
		}
		if mode == "wal" {
			if err := b.consumeTail(ctx, a); err != nil {
				return err
			}
			if b.cfg.pprofDir != "" {
				return b.profile(ctx, c, a)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if mode == "wal" { // the same cell again: its tail is gone, reads go to object storage
		if err := b.withCell(ctx, name, name+" after its restart", 0, false, func(c *cell, a *api) error { return b.consumeObjects(ctx, c, a) }); err != nil {
			return err
		}
	}
	for _, p := range big {
		big := fmt.Sprintf("cell-%s-%d", mode, p)
		err := b.withCell(ctx, big, big, b.cfg.bigLeaseTTL, false, func(c *cell, a *api) error {
			if err := b.floors(ctx, c, mode); err != nil {
				return err
			}
			return b.produceTopic(ctx, a, mode, p)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// withCell starts (or restarts) the cell called name, runs fn against it,
// reports its memory under label, stops it (a drain: every tail is
// flushed) and reports the object store's use by the topics it holds.
func (b *bench) withCell(ctx context.Context, name, label string, leaseTTL time.Duration, pprof bool, fn func(*cell, *api) error) error {
	opts := cellOptions{
		bin: b.bin, dataDir: filepath.Join(b.dir, name), leaseTTL: leaseTTL,
		logPath: filepath.Join(b.dir, name+".log"),
	}
	if pprof {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		opts.pprof = addr
	}
	b.cur = name
	if b.cfg.ext.set() {
		return b.withExternal(ctx, fn)
	}
	b.logf("starting %s", name)
	c, err := startCell(ctx, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	a, err := newAPI(c.httpURL, c.grpcAddr, "", maxConcurrency) // its cells run without authentication
	if err != nil {
		c.kill()
		return err
	}
	defer a.close()
	if err := fn(c, a); err != nil {
		c.kill()
		return fmt.Errorf("%s: %w (cell log: %s)", name, err, opts.logPath)
	}
	mem, err := readMemory(c.cmd.Process.Pid)
	if err != nil {
		c.kill()
		return err
	}
	b.rep.add("Memory of the cell process", fmt.Sprintf("%s (%s): resident now / peak (VmRSS / VmHWM)", label, b.cellTopicsText()),
		fmt.Sprintf("%s / %s", mib(mem.rss), mib(mem.peak)), float64(mem.peak), "—", "—")
	b.logf("stopping %s (drain)", name)
	if err := c.stop(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return b.countObjects(c)
}
