package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFaultClock(t *testing.T) {
	if newFaultClock(func(string) string { return "" }) != nil {
		t.Fatal("a fault clock without the variable")
	}
	path := filepath.Join(t.TempDir(), "clock")
	now := newFaultClock(func(k string) string {
		if k == envFaultClock {
			return path
		}
		return ""
	})
	if d := time.Until(now()); d > time.Second || d < -time.Second {
		t.Fatalf("no file: off by %s", d)
	}
	if err := os.WriteFile(path, []byte("1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(faultClockPoll + 10*time.Millisecond)
	if d := time.Until(now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("file says 1h: off by %s", d)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(faultClockPoll + 10*time.Millisecond)
	if d := time.Until(now()); d > time.Second || d < -time.Second {
		t.Fatalf("unreadable duration: off by %s, want none", d)
	}
}
