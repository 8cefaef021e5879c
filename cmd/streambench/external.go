package main

import (
	"context"
	"fmt"
	"strings"
)

// cellTopicsText lists the running cell's topics for the memory row.
func (b *bench) cellTopicsText() string {
	if len(b.cellTopics[b.cur]) == 0 {
		return "topics of its first run"
	}
	return strings.Join(b.cellTopics[b.cur], ", ")
}

// withExternal runs fn against the running cell of --http, --grpc and
// --nats, and reports its memory if --pid is given. It neither stops the
// cell nor counts its objects: without a drain, the unflushed tails would
// be missing from the count.
func (b *bench) withExternal(ctx context.Context, fn func(*cell, *api) error) error {
	e := b.cfg.ext
	dataDir := e.dataDir
	if dataDir == "" {
		dataDir = b.dir
	}
	c := &cell{opts: cellOptions{dataDir: dataDir}, httpURL: strings.TrimSuffix(e.http, "/"), grpcAddr: e.grpc, natsURL: e.nats}
	a, err := newAPI(c.httpURL, c.grpcAddr, b.cfg.token, maxConcurrency)
	if err != nil {
		return err
	}
	defer a.close()
	if err := fn(c, a); err != nil {
		return fmt.Errorf("the cell at %s: %w", e.http, err)
	}
	if e.pid == 0 {
		return nil
	}
	mem, err := readMemory(e.pid)
	if err != nil {
		return err
	}
	b.rep.add("Memory of the cell process", fmt.Sprintf("process %d (after %s): resident now / peak (VmRSS / VmHWM)", e.pid, b.cellTopicsText()),
		fmt.Sprintf("%s / %s", mib(mem.rss), mib(mem.peak)), float64(mem.peak), "—", "—")
	return nil
}
