package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// TestHealth drives the health endpoints of an agent through its life on
// real parts (embedded registry, filesystem store, embedded NATS): not
// ready before its first assignment, ready after, not ready while the
// object store fails, while it drains, and once NATS is gone; /live
// answers throughout.
func TestHealth(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := registry.OpenEmbedded(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	fs, err := objectstore.NewFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	store := objectstore.NewFaulty(fs, 1)
	ns, err := cells.StartEmbeddedNATS(cells.EmbeddedNATSConfig{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	agent, err := cells.NewAgent(ctx, cells.AgentConfig{Cell: "health", Conn: nc, Registry: reg, Store: store, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, drain := context.WithCancel(ctx)
	defer drain()

	mux := http.NewServeMux()
	addHealth(mux, reg, store, nc, agentHealth(agent, runCtx))
	srv := httptest.NewServer(mux) // 127.0.0.1, a free port
	defer srv.Close()

	live := func() {
		t.Helper()
		resp, err := http.Get(srv.URL + "/live")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
			t.Fatalf("/live: %d %q", resp.StatusCode, body)
		}
	}
	live()
	status, report := getHealth(t, srv.URL+"/ready")
	if status != http.StatusServiceUnavailable || report["partitions"] != errNotAssigned.Error() ||
		report["registry"] != "ok" || report["objectstore"] != "ok" || report["nats"] != "ok" || report["agent"] != "ok" {
		t.Fatalf("/ready before the agent runs: %d %v; want 503 with only partitions failing", status, report)
	}

	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, report = getHealth(t, srv.URL+"/ready")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready never answered 200: %d %v", status, report)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []string{"registry", "objectstore", "nats", "agent", "partitions"} {
		if report[c] != "ok" {
			t.Errorf("/ready report %v: %s is not ok", report, c)
		}
	}

	remove := store.Inject(objectstore.Fault{Op: "list", Err: errors.New("disk on fire")})
	status, report = getHealth(t, srv.URL+"/health")
	if status != http.StatusServiceUnavailable || !strings.Contains(report["objectstore"], "disk on fire") {
		t.Errorf("/health with a failing store: %d %v; want 503 naming the store's error", status, report)
	}
	remove()

	drain()
	if err := <-done; err != nil {
		t.Fatalf("agent run: %v", err)
	}
	status, report = getHealth(t, srv.URL+"/ready")
	if status != http.StatusServiceUnavailable || report["agent"] != errDraining.Error() {
		t.Errorf("/ready after the drain: %d %v; want 503, agent draining", status, report)
	}

	nc.Close()
	status, report = getHealth(t, srv.URL+"/ready")
	if status != http.StatusServiceUnavailable || report["nats"] == "ok" {
		t.Errorf("/ready without NATS: %d %v; want 503 naming nats", status, report)
	}
	live()
}

func getHealth(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var report map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		t.Fatalf("%s: decode: %v", url, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", url, ct)
	}
	return resp.StatusCode, report
}
