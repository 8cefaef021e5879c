package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamhouse/streamhouse/registry"
)

// fakeTopics answers Topic from a map, counting loads; err, when set, is
// returned instead.
type fakeTopics struct {
	mu     sync.Mutex
	topics map[string]registry.Topic
	err    error
	loads  atomic.Int64
	block  chan struct{} // if set, loads wait on it
}

func (f *fakeTopics) Topic(ctx context.Context, tenant int64, name string) (registry.Topic, error) {
	f.loads.Add(1)
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return registry.Topic{}, f.err
	}
	t, ok := f.topics[name]
	if !ok {
		return registry.Topic{}, fmt.Errorf("topic %q: %w", name, registry.ErrNotFound)
	}
	return t, nil
}

func (f *fakeTopics) set(name string, t registry.Topic, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != "" {
		f.topics[name] = t
	}
	f.err = err
}

func TestTopicCache(t *testing.T) {
	ctx := context.Background()
	f := &fakeTopics{topics: map[string]registry.Topic{"orders": {ID: 1, Name: "orders", Partitions: 4}}}
	c := NewTopicCache(f, time.Second, time.Minute)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	get := func(name string) (registry.Topic, error) { return c.Topic(ctx, 7, name) }

	if tp, err := get("orders"); err != nil || tp.Partitions != 4 {
		t.Fatalf("first read: %+v, %v", tp, err)
	}
	get("orders")
	if n := f.loads.Load(); n != 1 {
		t.Fatalf("%d loads for two reads within the TTL, want 1", n)
	}

	// Stale after the TTL: reloaded, and a change is seen.
	f.set("orders", registry.Topic{ID: 1, Name: "orders", Partitions: 8}, nil)
	now = now.Add(time.Second)
	if tp, _ := get("orders"); tp.Partitions != 8 || f.loads.Load() != 2 {
		t.Fatalf("after the TTL: %+v after %d loads, want 8 partitions after 2", tp, f.loads.Load())
	}

	// The registry unreachable: the last known topic is served up to
	// StaleMax, then the error.
	f.set("", registry.Topic{}, fmt.Errorf("get topic: %w", &pgconn.PgError{Code: "57P01"}))
	now = now.Add(30 * time.Second)
	if tp, err := get("orders"); err != nil || tp.Partitions != 8 {
		t.Fatalf("registry down, entry 30s old: %+v, %v; want the cached topic", tp, err)
	}
	now = now.Add(31 * time.Second)
	if _, err := get("orders"); !registry.IsUnavailable(err) {
		t.Fatalf("registry down, entry 61s old: %v, want the registry's error", err)
	}

	// Not found is not cached, and forgets a cached topic (deleted
	// elsewhere).
	f.set("", registry.Topic{}, nil)
	if _, err := get("nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	f.set("nope", registry.Topic{ID: 2, Name: "nope", Partitions: 1}, nil)
	if tp, err := get("nope"); err != nil || tp.ID != 2 {
		t.Fatalf("topic created after a miss: %+v, %v; want it at once", tp, err)
	}

	// Invalidate drops an entry before its TTL.
	f.set("orders", registry.Topic{ID: 1, Name: "orders", Partitions: 16}, nil)
	c.Invalidate(7, "orders")
	if tp, _ := get("orders"); tp.Partitions != 16 {
		t.Fatalf("after Invalidate: %+v, want 16 partitions", tp)
	}
	// Tenants are apart.
	if _, err := c.Topic(ctx, 8, "nothere"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("other tenant: %v", err)
	}
}

func TestTopicCacheOneLoadAtATimeAndBounded(t *testing.T) {
	f := &fakeTopics{topics: map[string]registry.Topic{"orders": {ID: 1, Name: "orders"}}, block: make(chan struct{})}
	c := NewTopicCache(f, time.Minute, time.Minute)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Topic(context.Background(), 1, "orders"); err != nil {
				t.Error(err)
			}
		})
	}
	for f.loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(f.block)
	wg.Wait()
	if n := f.loads.Load(); n != 1 {
		t.Errorf("%d loads for 20 concurrent first reads, want 1", n)
	}

	// Bounded: past max entries the older half goes.
	f.block = nil
	c.max = 10
	now := time.Unix(0, 0)
	c.now = func() time.Time { now = now.Add(time.Millisecond); return now }
	for i := range 25 {
		name := fmt.Sprintf("t%d", i)
		f.set(name, registry.Topic{ID: int64(i), Name: name}, nil)
		if _, err := c.Topic(context.Background(), 1, name); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.RLock()
	n := len(c.entries)
	_, newest := c.entries[topicKey{1, "t24"}]
	c.mu.RUnlock()
	if n > 10 || !newest {
		t.Errorf("%d entries (max 10), newest kept %v", n, newest)
	}
}
