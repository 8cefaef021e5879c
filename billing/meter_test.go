package billing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memSink is a UsageSink that keeps the contract: each key is applied at
// most once. It can be told to fail the next calls, before or after
// applying them (an answer lost on the way back).
type memSink struct {
	mu          sync.Mutex
	usage       map[sinkKey]Usage
	keys        map[string]bool
	calls       int
	failBefore  int // fail this many calls without applying them
	failAfter   int // apply, then fail, this many calls
	duplicateOK int // calls whose key had been applied
}

type sinkKey struct {
	org  int64
	hour time.Time
}

func newMemSink() *memSink {
	return &memSink{usage: map[sinkKey]Usage{}, keys: map[string]bool{}}
}

func (s *memSink) AddUsage(_ context.Context, org int64, hour time.Time, u Usage, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if hour != hour.UTC().Truncate(time.Hour) {
		return fmt.Errorf("hour %s not on the hour in UTC", hour)
	}
	if s.failBefore > 0 {
		s.failBefore--
		return errors.New("sink down")
	}
	if s.keys[key] {
		s.duplicateOK++
	} else {
		s.keys[key] = true
		k := sinkKey{org, hour}
		s.usage[k] = s.usage[k].Add(u)
	}
	if s.failAfter > 0 {
		s.failAfter--
		return errors.New("answer lost")
	}
	return nil
}

func (s *memSink) get(org int64, hour time.Time) Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage[sinkKey{org, hour}]
}

func (s *memSink) total(org int64) Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u Usage
	for k, v := range s.usage {
		if k.org == org {
			u = u.Add(v)
		}
	}
	return u
}

func newTestMeter(t *testing.T, sink UsageSink, sampler StorageSampler, clock *fakeClock) *Meter {
	t.Helper()
	m, err := NewMeter(MeterConfig{Sink: sink, Sampler: sampler, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMeterFlushesPerOrgAndHour(t *testing.T) {
	sink, clock := newMemSink(), newFakeClock(t0.Add(59*time.Minute))
	m := newTestMeter(t, sink, nil, clock)
	m.Produced(1, 10, 1000)
	m.Produced(1, 5, 500)
	m.Consumed(1, 3, 300)
	m.Produced(2, 1, 1)
	clock.Advance(time.Minute) // the next hour
	m.Produced(1, 7, 70)
	m.Consumed(1, 0, 0)   // nothing
	m.Produced(1, -5, 10) // a negative count is dropped, the bytes kept
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	h0, h1 := t0, t0.Add(time.Hour)
	for _, c := range []struct {
		org  int64
		hour time.Time
		want Usage
	}{
		{1, h0, Usage{RecordsProduced: 15, BytesProduced: 1500, RecordsConsumed: 3, BytesConsumed: 300}},
		{2, h0, Usage{RecordsProduced: 1, BytesProduced: 1}},
		{1, h1, Usage{RecordsProduced: 7, BytesProduced: 80}},
	} {
		if got := sink.get(c.org, c.hour); got != c.want {
			t.Errorf("org %d hour %s: %+v, want %+v", c.org, c.hour, got, c.want)
		}
	}
	if m.Pending() != 0 || sink.calls != 3 {
		t.Fatalf("pending %d, sink calls %d", m.Pending(), sink.calls)
	}
	// Nothing new: a flush sends nothing.
	if err := m.Flush(t.Context()); err != nil || sink.calls != 3 {
		t.Fatalf("empty flush: %v, %d calls", err, sink.calls)
	}
}

// An answer lost after the sink applied the usage: the retry carries the
// same key and the sink ignores it, so nothing is counted twice; usage
// counted during the outage waits and is delivered after.
func TestMeterRetryNeverDoubleCounts(t *testing.T) {
	sink, clock := newMemSink(), newFakeClock(t0)
	m := newTestMeter(t, sink, nil, clock)
	m.Produced(1, 100, 10_000)
	sink.failAfter = 1
	if err := m.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "answer lost") {
		t.Fatalf("flush = %v, want the lost answer", err)
	}
	m.Produced(1, 1, 1) // during the outage
	sink.failBefore = 1
	if err := m.Flush(t.Context()); err == nil || m.Pending() != 1 {
		t.Fatalf("flush = %v, pending %d", err, m.Pending())
	}
	if got := sink.get(1, t0); got != (Usage{RecordsProduced: 100, BytesProduced: 10_000}) {
		t.Fatalf("during the outage: %+v", got)
	}
	// The retry goes through, then the usage counted meanwhile follows.
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sink.duplicateOK != 1 {
		t.Fatalf("the retry of the applied item was not deduplicated: %d", sink.duplicateOK)
	}
	if got := sink.get(1, t0); got != (Usage{RecordsProduced: 101, BytesProduced: 10_001}) {
		t.Fatalf("after the outage: %+v", got)
	}
	if m.Pending() != 0 {
		t.Fatalf("%d pending", m.Pending())
	}
}

// Counting from many goroutines while flushing: every record lands once.
func TestMeterConcurrent(t *testing.T) {
	sink := newMemSink()
	m, err := NewMeter(MeterConfig{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if err := m.Flush(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				m.Produced(int64(i%3), 2, 10)
				m.Consumed(int64(g%2), 1, 7)
			}
		})
	}
	wg.Wait()
	close(stop)
	flusher.Wait()
	if err := m.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var all Usage
	for org := range int64(3) {
		all = all.Add(sink.total(org))
	}
	want := Usage{RecordsProduced: 80_000, BytesProduced: 400_000, RecordsConsumed: 40_000, BytesConsumed: 280_000}
	if all != want {
		t.Fatalf("total %+v, want %+v", all, want)
	}
}

type fakeSampler struct {
	mu    sync.Mutex
	sizes map[int64]int64
	calls int
	fail  bool
}

func (s *fakeSampler) StorageBytes(context.Context) (map[int64]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail {
		return nil, errors.New("registry down")
	}
	return maps.Clone(s.sizes), nil
}

// One storage sample per hour, even across a restart or a second Meter:
// the deterministic key makes the sink keep the first.
func TestMeterStorageSampledOncePerHour(t *testing.T) {
	sink, clock := newMemSink(), newFakeClock(t0.Add(10*time.Minute))
	sampler := &fakeSampler{sizes: map[int64]int64{1: 5_000_000_000, 2: 0, 3: 7}}
	m := newTestMeter(t, sink, sampler, clock)
	for range 3 {
		if err := m.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Minute)
	}
	if sampler.calls != 1 {
		t.Fatalf("sampled %d times in one hour", sampler.calls)
	}
	// A restarted Meter samples again in the same hour; the sink ignores it.
	sampler.sizes[1] = 6_000_000_000
	m2 := newTestMeter(t, sink, sampler, clock)
	if err := m2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := sink.get(1, t0).StorageByteHours; got != 5_000_000_000 {
		t.Fatalf("hour 0 storage %d, want the first sample 5e9", got)
	}
	if got := sink.get(3, t0).StorageByteHours; got != 7 {
		t.Fatalf("org 3: %d", got)
	}
	// The next hour gets its own sample; a failed sample is retried.
	clock.Advance(time.Hour)
	sampler.fail = true
	if err := m2.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "sample storage") {
		t.Fatalf("flush with a failing sampler: %v", err)
	}
	sampler.fail = false
	if err := m2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := sink.total(1).StorageByteHours; got != 11_000_000_000 {
		t.Fatalf("two hours of storage = %d byte-hours, want 11e9", got)
	}
	if got := StorageKey(1, t0.Add(30*time.Minute)); got != "storage/1/2026-11-23T20:00:00Z" {
		t.Fatalf("StorageKey = %q", got)
	}
}

// Run flushes every interval and once more on stop, and a restarted
// Meter's usage adds to the first one's (its keys are its own).
func TestMeterRunAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newMemSink()
		run := func(records int64) {
			m, err := NewMeter(MeterConfig{Sink: sink, Interval: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- m.Run(ctx) }()
			m.Produced(1, records, records*10)
			time.Sleep(6 * time.Second)
			synctest.Wait()
			if m.Pending() != 0 {
				t.Fatalf("not flushed after an interval: %d pending", m.Pending())
			}
			m.Consumed(1, 1, 1) // only the flush on stop delivers this
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		run(100)
		run(50)
		if got := sink.total(1); got != (Usage{RecordsProduced: 150, BytesProduced: 1500, RecordsConsumed: 2, BytesConsumed: 2}) {
			t.Fatalf("across a restart: %+v", got)
		}
	})
}

// A sink still failing when Run stops: Run says what was lost.
func TestMeterRunReportsLostUsage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newMemSink()
		sink.failBefore = 1 << 30
		m, err := NewMeter(MeterConfig{Sink: sink, Interval: time.Second, FlushTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		m.Produced(9, 1, 1)
		time.Sleep(3500 * time.Millisecond)
		cancel()
		err = <-done
		if err == nil || !strings.Contains(err.Error(), "last flush on stop") || !strings.Contains(err.Error(), "org 9") {
			t.Fatalf("Run = %v", err)
		}
		if sink.calls != 4 {
			t.Fatalf("sink called %d times, want 3 intervals and the stop", sink.calls)
		}
	})
}

func TestNewMeterRefuses(t *testing.T) {
	for _, c := range []struct {
		cfg  MeterConfig
		want string
	}{
		{MeterConfig{}, "Sink is required"},
		{MeterConfig{Sink: newMemSink(), Interval: -time.Second}, "negative Interval"},
	} {
		if _, err := NewMeter(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMeter = %v, want %s", err, c.want)
		}
	}
}
