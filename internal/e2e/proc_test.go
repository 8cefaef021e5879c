package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// proc is a `streamhouse agent` or `streamhouse router` child process in a
// process group of its own.
type proc struct {
	name    string
	cmd     *exec.Cmd
	addr    map[string]string // the banner's "http:", "grpc:", "health:" values
	logPath string
	exited  chan struct{}
	waitErr error
}

// startProc runs `streamhouse <args...>` with env added to the environment,
// reads the addresses its banner prints and kills its process group when the
// test ends. Its stderr (the log) goes to a file, shown if the test fails.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	dir := os.Getenv("STREAMHOUSE_E2E_LOGDIR") // keep the logs there
	if dir == "" {
		dir = t.TempDir()
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close() // the child holds its own descriptor
	p := &proc{name: name, cmd: cmd, addr: map[string]string{}, logPath: logPath, exited: make(chan struct{})}

	banner := make(chan struct{})
	go func() { // owned by p: ends when the child's stdout closes
		sc := bufio.NewScanner(stdout)
		done := false
		for sc.Scan() {
			if done {
				continue
			}
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && (f[0] == "http:" || f[0] == "grpc:" || f[0] == "health:") {
				p.addr[f[0]] = strings.TrimPrefix(f[1], "http://")
			}
			if len(f) >= 1 && f[0] == "nats:" {
				done = true
				close(banner)
			}
		}
		if !done {
			close(banner)
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, tail(logPath, 6000))
		}
	})
	select {
	case <-banner:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed no banner within 60s; log:\n%s", name, tail(logPath, 4000))
	}
	if len(p.addr) == 0 {
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("%s printed no addresses (exit %v); log:\n%s", name, p.waitErr, tail(logPath, 4000))
	}
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// signal sends sig to the child's process group.
func (p *proc) signal(sig syscall.Signal) error {
	return syscall.Kill(-p.pid(), sig)
}

// kill SIGKILLs the process group (a stopped process dies of SIGKILL too).
func (p *proc) kill() {
	_ = p.signal(syscall.SIGKILL)
}

// waitReady polls GET /ready of the process's HTTP or health address.
func (p *proc) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	base := p.addr["http:"]
	if base == "" {
		base = p.addr["health:"]
	}
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, timeout, p.name+" ready", func() (bool, string) {
		resp, err := client.Get("http://" + base + "/ready")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// grepLog returns the lines of a process's log that contain any of words.
func grepLog(path string, words ...string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// leases reads the cell's lease bucket: lease key → agent id.
type leases struct {
	mu sync.Mutex
	kv jetstream.KeyValue
}

func openLeases(t *testing.T, nc *nats.Conn, cell string) *leases {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l := &leases{}
	waitFor(t, 30*time.Second, "lease bucket", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		kv, err := js.KeyValue(ctx, "sh_"+cell+"_leases")
		if err != nil {
			return false, err.Error()
		}
		l.kv = kv
		return true, ""
	})
	return l
}

func (l *leases) holders() (map[string]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := l.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	h := map[string]string{}
	for _, k := range keys {
		e, err := l.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h[k] = string(e.Value())
	}
	return h, nil
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
