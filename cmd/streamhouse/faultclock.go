package main

import (
	"os"
	"strings"
	"sync"
	"time"
)

// envFaultClock names a file whose content, a Go duration such as "1h" or
// "-30m", is added to the agent's wall clock (broker timestamps, retention):
// a fault-injection hook for internal/e2e's clock-jump fault, off unless the
// variable is set. Undocumented in --help on purpose; not for production.
const envFaultClock = "STREAMHOUSE_FAULT_CLOCK_FILE"

// faultClockPoll is how often the file is read again.
const faultClockPoll = 100 * time.Millisecond

// faultClock is a wall clock shifted by the duration in a file.
type faultClock struct {
	path string
	mu   struct {
		sync.Mutex
		offset time.Duration
		read   time.Time
	}
}

// newFaultClock returns the clock of envFaultClock, or nil when unset.
func newFaultClock(getenv func(string) string) func() time.Time {
	path := getenv(envFaultClock)
	if path == "" {
		return nil
	}
	return (&faultClock{path: path}).now
}

// now is the wall time shifted by the file's duration (0 when the file is
// missing or unreadable), without a monotonic reading: durations measured
// with it jump too, as the fault wants.
func (c *faultClock) now() time.Time {
	real := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if real.Sub(c.mu.read) >= faultClockPoll {
		c.mu.read = real
		c.mu.offset = 0
		if b, err := os.ReadFile(c.path); err == nil {
			if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
				c.mu.offset = d
			}
		}
	}
	return real.Round(0).Add(c.mu.offset)
}
