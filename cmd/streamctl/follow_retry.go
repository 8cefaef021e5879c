package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// A --follow consumer outlives agents failing over and routers restarting:
// what is surely passing it waits and retries, as kafka-console-consumer
// does, saying so once per outage on stderr.
const (
	followRetryFirst = 100 * time.Millisecond
	followRetryMax   = 2 * time.Second
)

// stderrMu keeps the partitions' notices whole lines.
var stderrMu sync.Mutex

// retryable reports whether a fetch failed for a reason that passes: the
// server unreachable, or its own UNAVAILABLE (ownership moving, no owner
// yet) or RESOURCE_EXHAUSTED (busy).
func retryable(err error) bool {
	var ce *connError
	return errors.As(err, &ce) || isCode(err, codes.Unavailable) || isCode(err, codes.ResourceExhausted)
}

// followRetry is one partition's back-off between retries.
type followRetry struct {
	part    int32
	stderr  io.Writer
	delay   time.Duration
	retries int
}

// wait reports the first failure of an outage (offset -1: not known yet) and sleeps the next back-off;
// it returns ctx's error when ctx ends first.
func (r *followRetry) wait(ctx context.Context, offset int64, err error) error {
	if r.retries == 0 {
		r.say("partition %d%s: %v; retrying", r.part, at(offset), err)
	}
	r.retries++
	r.delay = min(max(2*r.delay, followRetryFirst), followRetryMax)
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recovered ends an outage, if there was one.
func (r *followRetry) recovered(offset int64) {
	if r.retries > 0 {
		r.say("partition %d%s: fetching again after %d retries", r.part, at(offset), r.retries)
	}
	r.retries, r.delay = 0, 0
}

// at names an offset, if known (a start at earliest or latest is not).
func at(offset int64) string {
	if offset < 0 {
		return ""
	}
	return fmt.Sprintf(" at offset %d", offset)
}

func (r *followRetry) say(format string, args ...any) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	fmt.Fprintf(r.stderr, "streamctl: "+format+"\n", args...)
}
