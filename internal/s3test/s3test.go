// Package s3test runs a real S3-compatible server (versitygw, posix backend)
// for tests: on 127.0.0.1, a free port, in t.TempDir(), stopped at cleanup.
package s3test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Version is the versitygw release the tests are written against.
const Version = "v1.8.0"

const install = "go install github.com/versity/versitygw/cmd/versitygw@" + Version

// Server is a running versitygw. Its fields are what an S3 client needs.
type Server struct {
	Endpoint  string // "http://127.0.0.1:PORT"; use path-style addressing
	Region    string
	AccessKey string
	Secret    string
	Bucket    string // a bucket created empty for the caller

	root string // each folder in root is a bucket
}

// Start runs versitygw for the duration of the test and returns once it
// answers HTTP. Without the binary (see Binary) it skips the test, or fails
// it when the environment variable CI is set. The server's output is written
// to the test log if the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := fmt.Sprintf("s3test: versitygw not found (%v); install it with: %s", err, install)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &Server{
		Region:    "us-east-1",
		AccessKey: "streamhouse",
		Secret:    "streamhouse-secret",
		root:      filepath.Join(dir, "root"),
	}
	meta := filepath.Join(dir, "meta")
	for _, d := range []string{s.root, meta} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("s3test: %v", err)
		}
	}
	s.Bucket = s.CreateBucket(t, "streamhouse")

	// A free port is found by listening on port 0 and closing; another
	// process may take it before versitygw binds, so retry a few times.
	var lastErr error
	for range 5 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("s3test: find a free port: %v", err)
		}
		err = s.run(t, bin, addr, meta)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("s3test: start versitygw: %v", lastErr)
	return nil
}

// CreateBucket makes an empty bucket named name and returns the name.
func (s *Server) CreateBucket(t testing.TB, name string) string {
	t.Helper()
	if err := os.Mkdir(filepath.Join(s.root, name), 0o755); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return name
}

// run starts versitygw on addr and waits until it answers. On success the
// process is stopped at the test's cleanup; on failure it is already gone.
func (s *Server) run(t testing.TB, bin, addr, meta string) error {
	out := new(syncBuffer)
	cmd := exec.Command(bin,
		"--port", addr,
		"--access", s.AccessKey, "--secret", s.Secret,
		"--region", s.Region,
		"--quiet",
		"posix", "--sidecar", meta, s.root)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { // owned by run: joined on every path below or at cleanup
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	endpoint := "http://" + addr
	if err := waitReady(endpoint, exited); err != nil {
		stop()
		if waitErr != nil {
			err = fmt.Errorf("%w (exit: %v)", err, waitErr)
		}
		return fmt.Errorf("%w; output:\n%s", err, out.String())
	}
	s.Endpoint = endpoint
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("s3test: versitygw output:\n%s", out.String())
		}
	})
	return nil
}

// waitReady polls endpoint until it answers HTTP, the process exits, or 20 s
// pass.
func waitReady(endpoint string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			// A process that lost the port race exits at once; make sure
			// the answer came from ours.
			select {
			case <-exited:
				return errors.New("versitygw exited")
			default:
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer at %s within 20s: %w", endpoint, err)
		}
		select {
		case <-exited:
			return errors.New("versitygw exited before it answered")
		case <-tick.C:
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// Binary finds versitygw: $STREAMHOUSE_VERSITYGW, then PATH, then
// $GOBIN, $GOPATH/bin and ~/go/bin. It does not run the go command.
func Binary() (string, error) {
	if p := os.Getenv("STREAMHOUSE_VERSITYGW"); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("STREAMHOUSE_VERSITYGW=%s is not an executable file", p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(os.Getenv("GOPATH")) {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "versitygw"); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("not in STREAMHOUSE_VERSITYGW, PATH, GOBIN, GOPATH/bin or ~/go/bin")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// syncBuffer is a bytes.Buffer safe for the two copying goroutines of
// exec.Cmd and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
