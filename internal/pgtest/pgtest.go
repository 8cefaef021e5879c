// Package pgtest gives tests a real, throwaway PostgreSQL: one server per test
// process, started on first use from Debian's binaries (initdb and postgres
// under /usr/lib/postgresql/*/bin) on a free port of 127.0.0.1 in a temporary
// folder, and a fresh empty database per caller.
//
// Set STREAMHOUSE_TEST_POSTGRES_URL to use a server of your own instead; each
// caller still gets a database of its own on it. When no PostgreSQL can be
// found, tests are skipped, except when the CI variable is set: then they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "STREAMHOUSE_TEST_POSTGRES_URL"

var (
	mu      sync.Mutex // Restart against Run's stop
	once    sync.Once
	shared  *server // the process's server, nil when EnvURL is used
	baseURL string  // admin URL of the server in use
	errInit error
)

// Run runs the package's tests and then stops the server if one was started.
// Call it from TestMain: func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }.
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop postgres: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// URL returns a connection URL to a new, empty database that is dropped when
// the test ends.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			baseURL = u
			return
		}
		shared, errInit = startServer()
		if shared != nil {
			baseURL = shared.url("postgres")
		}
	})
	if errInit != nil {
		if missing, ok := errInit.(*missingError); ok {
			if os.Getenv("CI") != "" {
				t.Fatalf("pgtest: %v (CI is set, so this fails instead of skipping)", missing)
			}
			t.Skipf("pgtest: %v", missing)
		}
		t.Fatalf("pgtest: %v", errInit)
	}

	name := "sh_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execAdmin(ctx, baseURL, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execAdmin(ctx, baseURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(baseURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// Restart stops the process's server (a fast shutdown: every connection
// ends), keeps it down for down, and starts it again on the same port with
// the same data, for tests of what outlives a database restart. It fails
// the test when the server is not this package's (STREAMHOUSE_TEST_POSTGRES_URL)
// or not started yet (call URL first). Not for tests running in parallel
// with others that use the server.
func Restart(t testing.TB, down time.Duration) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		t.Fatalf("pgtest: Restart needs the server this package starts (URL first, and no %s)", EnvURL)
	}
	s := shared
	s.halt()
	time.Sleep(down)
	ns, err := launchOn(s.bin, s.dir, s.data, s.cred, s.port)
	if err != nil {
		t.Fatalf("pgtest: restart postgres on port %d: %v", s.port, err)
	}
	shared = ns
}

func execAdmin(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase swaps the database name in a postgres:// URL.
func withDatabase(raw, db string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", EnvURL, err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
