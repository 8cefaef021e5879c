package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDevServesHealthAndKeepsData starts the dev cell twice on one data
// folder: it answers /ready with every component ok, and the tenant it
// created the first time is the one it finds the second time.
func TestDevServesHealthAndKeepsData(t *testing.T) {
	dir := t.TempDir()
	first := startDev(t, dir)
	second := startDev(t, dir)
	if first.tenantLine != second.tenantLine {
		t.Errorf("tenant changed across a restart: %q then %q", first.tenantLine, second.tenantLine)
	}
}

type devRun struct{ tenantLine string }

func startDev(t *testing.T, dir string) devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, []string{"--data-dir", dir, "--http", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	var run devRun
	var healthURL string
	sc := bufio.NewScanner(pr)
	for sc.Scan() && healthURL == "" {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "tenant:"); ok {
			run.tenantLine = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "health:"); ok {
			healthURL = strings.TrimSpace(v)
		}
	}
	go io.Copy(io.Discard, pr) // drain the rest so runDev never blocks on stdout
	if healthURL == "" {
		cancel()
		t.Fatalf("dev cell printed no health address (exit: %v)", <-done)
	}
	readyURL := strings.TrimSuffix(healthURL, "/health") + "/ready"
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(readyURL)
	if err != nil {
		t.Fatalf("GET %s: %v", readyURL, err)
	}
	var report map[string]string
	err = json.NewDecoder(resp.Body).Decode(&report)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || report["registry"] != "ok" || report["objectstore"] != "ok" {
		t.Fatalf("GET /ready: status %d, report %v, decode error %v", resp.StatusCode, report, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev cell exit: %v", err)
	}
	if !strings.Contains(run.tenantLine, "default") {
		t.Fatalf("tenant line %q does not name the default tenant", run.tenantLine)
	}
	return run
}
