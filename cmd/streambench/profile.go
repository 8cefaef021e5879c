package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
)

// freeAddr returns a loopback address with a port free a moment ago, for a
// listener of the cell that its banner does not report (pprof).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// profile takes CPU and allocation profiles of the cell under repeated
// reads of the consume topic from the tail, then under a flat-out produce
// of 1 KiB records to a topic of its own, into cfg.pprofDir: produce.cpu.pprof,
// produce.allocs.pprof, fetch.cpu.pprof, fetch.allocs.pprof.
func (b *bench) profile(ctx context.Context, c *cell, a *api) error {
	if err := os.MkdirAll(b.cfg.pprofDir, 0o755); err != nil {
		return fmt.Errorf("pprof folder: %w", err)
	}
	// Fetch first: the topic still fits in the tails, so this is the tail's
	// path; the produce that follows pushes its start out to object storage.
	b.logf("profiling the fetch path (from the tail) for %s", b.cfg.pprofTime)
	err := b.underLoad(ctx, c, "fetch", func(ctx context.Context) error {
		deadline := time.Now().Add(b.cfg.pprofTime + 2*time.Second)
		for time.Now().Before(deadline) {
			if _, err := readAll(ctx, a, b.topic("consume"), consumeTopicParts, consumeConc, time.Until(deadline)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	topic := b.topic("profile")
	if err := b.createTopic(ctx, a, topic, consumeTopicParts, "wal"); err != nil {
		return err
	}
	if err := a.waitReady(ctx, topic, consumeTopicParts); err != nil {
		return err
	}
	body, recs := payload(1024, b.cfg.walBatch)
	b.logf("profiling the produce path for %s", b.cfg.pprofTime)
	return b.underLoad(ctx, c, "produce", func(ctx context.Context) error {
		r, err := runLoad(ctx, a, loadSpec{topic: topic, partitions: consumeTopicParts, body: body, records: recs,
			recordSize: 1024, conc: b.cfg.walConc, duration: b.cfg.pprofTime + 2*time.Second, maxBytes: maxStepBytes})
		b.ingested[topic] += r.bytes
		return err
	})
}

// underLoad runs load while the cell's CPU and allocation profiles are
// taken, a second after the load starts (the load runs a second longer on
// each side).
func (b *bench) underLoad(ctx context.Context, c *cell, name string, load func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return load(gctx) })
	for kind, path := range map[string]string{"cpu": "profile", "allocs": "allocs"} {
		g.Go(func() error {
			select {
			case <-time.After(time.Second):
			case <-gctx.Done():
				return nil
			}
			url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", c.opts.pprof, path, int(b.cfg.pprofTime.Seconds()))
			return fetchProfile(gctx, url, filepath.Join(b.cfg.pprofDir, name+"."+kind+".pprof"))
		})
	}
	return g.Wait()
}

func fetchProfile(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("profile %s: status %d: %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("profile file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
