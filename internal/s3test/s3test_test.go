package s3test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartAndStop(t *testing.T) {
	t.Parallel()
	var endpoint string
	t.Run("server", func(t *testing.T) {
		s := Start(t)
		endpoint = s.Endpoint
		resp, err := http.Get(s.Endpoint + "/" + s.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Unsigned, so refused; but it is an S3 answer from the server.
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unsigned GET: status %d, want 403", resp.StatusCode)
		}
		if fi, err := os.Stat(filepath.Join(s.root, s.Bucket)); err != nil || !fi.IsDir() {
			t.Fatalf("bucket folder: %v", err)
		}
		s.CreateBucket(t, "second")
	})
	if endpoint == "" {
		return // the subtest started no server and said why (skipped, or failed under CI)
	}
	// The subtest's cleanup stopped the server.
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(endpoint + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("server at %s still answers after cleanup", endpoint)
	}
}

func TestTwoServers(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a.Endpoint == b.Endpoint {
		t.Fatalf("both servers on %s", a.Endpoint)
	}
}

func TestBinaryFromEnv(t *testing.T) {
	// t.Setenv: not parallel.
	t.Setenv("STREAMHOUSE_VERSITYGW", filepath.Join(t.TempDir(), "missing"))
	if _, err := Binary(); err == nil {
		t.Fatal("Binary accepted a missing file")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STREAMHOUSE_VERSITYGW", exe)
	if got, err := Binary(); err != nil || got != exe {
		t.Fatalf("Binary() = %q, %v, want %q", got, err, exe)
	}
}

func TestRunReportsOutputOfAFailedStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-versitygw")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho cannot bind >&2\nexit 7\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{root: dir}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = s.run(t, bin, addr, dir)
	if err == nil || !strings.Contains(err.Error(), "cannot bind") || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("run of a failing binary: %v", err)
	}
}
