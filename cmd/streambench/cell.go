package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cellOptions says how to start a `streamhouse dev` cell.
type cellOptions struct {
	bin      string        // the streamhouse binary
	dataDir  string        // its --data-dir; kept across a restart
	leaseTTL time.Duration // its --lease-ttl; 0 keeps the cell's default
	pprof    string        // its --pprof address; "" for none
	logPath  string        // where its stderr goes (appended)
}

// cell is a running `streamhouse dev` subprocess and the addresses its
// banner printed. The goroutine that reads its stdout and waits for it is
// owned by the cell: stop ends the process and waits for that goroutine.
type cell struct {
	opts     cellOptions
	cmd      *exec.Cmd
	httpURL  string // http://127.0.0.1:port
	grpcAddr string
	natsURL  string
	tenant   string        // the default tenant's id, the first part of segment keys
	done     chan struct{} // closed once the process has exited
	waitErr  error         // the process's exit, set before done closes
}

// cellStartTimeout bounds the wait for the banner: the cell recovers its
// NATS store and registry before printing it.
const cellStartTimeout = 60 * time.Second

// cellStopTimeout bounds a graceful stop (drain: flush, commit, release);
// past it the process is killed.
const cellStopTimeout = 90 * time.Second

// startCell runs `bin dev` on free loopback ports and returns once its
// banner has told the addresses.
func startCell(ctx context.Context, o cellOptions) (*cell, error) {
	args := []string{"dev", "--data-dir", o.dataDir, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--schema-registry", "", "--log-level", "warn"}
	if o.leaseTTL > 0 {
		args = append(args, "--lease-ttl", o.leaseTTL.String())
	}
	if o.pprof != "" {
		args = append(args, "--pprof", o.pprof)
	}
	logf, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cell log: %w", err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(o.bin, args...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("cell stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.bin, err)
	}
	c := &cell{opts: o, cmd: cmd, done: make(chan struct{})}
	banner := make(chan map[string]string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		fields := map[string]string{}
		sent := false
		for sc.Scan() {
			if sent {
				continue // drain: the child must never block on a full pipe
			}
			name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
			if f := strings.Fields(value); ok && len(f) > 0 && (name == "http" || name == "grpc" || name == "nats") {
				fields[name] = f[0]
			}
			if _, id, found := strings.Cut(value, "(id "); ok && name == "tenant" && found {
				fields[name] = strings.TrimSuffix(id, ")")
			}
			if len(fields) == 4 {
				banner <- fields
				sent = true
			}
		}
		c.waitErr = cmd.Wait()
	}()
	timer := time.NewTimer(cellStartTimeout)
	defer timer.Stop()
	select {
	case f := <-banner:
		c.httpURL, c.grpcAddr, c.natsURL, c.tenant = f["http"], f["grpc"], f["nats"], f["tenant"]
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("cell exited before its banner (%v); its log: %s", c.waitErr, o.logPath)
	case <-timer.C:
		c.kill()
		return nil, fmt.Errorf("cell printed no banner within %s; its log: %s", cellStartTimeout, o.logPath)
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

// kill ends the process at once and waits for it.
func (c *cell) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// stop asks the cell to shut down (SIGINT: it drains, flushing every
// partition's tail into segments) and waits, killing it after
// cellStopTimeout. A cell that exits non-zero after SIGINT is an error.
func (c *cell) stop() error {
	select {
	case <-c.done:
		return fmt.Errorf("cell had already exited: %v", c.waitErr)
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("signal cell: %w", err)
	}
	timer := time.NewTimer(cellStopTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
		if c.waitErr != nil {
			return fmt.Errorf("cell stop: %w (log: %s)", c.waitErr, c.opts.logPath)
		}
		return nil
	case <-timer.C:
		c.kill()
		return fmt.Errorf("cell did not stop within %s; killed", cellStopTimeout)
	}
}

// memory is a process's resident set, now and at its peak.
type memory struct{ rss, peak int64 } // bytes

// readMemory reads VmRSS and VmHWM from /proc/PID/status (Linux only).
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	var m memory
	for line := range strings.SplitSeq(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(value) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return memory{}, fmt.Errorf("process %d: unexpected %s line %q", pid, name, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("process %d: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.peak = kb << 10
		}
	}
	if m.rss == 0 || m.peak == 0 {
		return memory{}, fmt.Errorf("process %d: no VmRSS or VmHWM in its status", pid)
	}
	return m, nil
}

// objectUsage is what an object store folder holds under one prefix.
type objectUsage struct {
	objects int64
	bytes   int64
}

// objectsUnder counts the files under root/prefix (a segment key's
// "<tenant>/<topic>" start), leaving out the store's temporary files. A
// missing folder is zero objects.
func objectsUnder(root, prefix string) (objectUsage, error) {
	var u objectUsage
	dir := filepath.Join(root, filepath.FromSlash(prefix))
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		u.objects++
		u.bytes += info.Size()
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return objectUsage{}, nil
	}
	if err != nil {
		return objectUsage{}, fmt.Errorf("count objects under %s: %w", dir, err)
	}
	return u, nil
}
