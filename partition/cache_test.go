package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/streamhouse/streamhouse/objectstore"
)

// checkCacheInvariants fails unless the cache's books balance and its
// bytes are within its bound.
func checkCacheInvariants(t testing.TB, c *Cache) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for e := c.mu.lru.Front(); e != nil; e = e.Next() {
		ent := e.Value.(*cacheEntry)
		if c.mu.items[ent.key] != e {
			t.Fatalf("entry %v not indexed", ent.key)
		}
		sum += ent.size
	}
	switch {
	case sum != c.mu.bytes:
		t.Fatalf("entries hold %d bytes, counter says %d", sum, c.mu.bytes)
	case len(c.mu.items) != c.mu.lru.Len():
		t.Fatalf("%d indexed, %d listed", len(c.mu.items), c.mu.lru.Len())
	case c.mu.bytes > c.maxBytes:
		t.Fatalf("%d bytes held, bound %d", c.mu.bytes, c.maxBytes)
	case len(c.mu.inflight) != 0:
		t.Fatalf("%d loads in flight at rest", len(c.mu.inflight))
	}
}

// TestCacheEvictionBound inserts entries of random sizes, some larger than
// the whole cache, and checks the bound after each.
func TestCacheEvictionBound(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		maxBytes := 1000 + rng.Int64N(100_000)
		c := NewCache(CacheConfig{MaxBytes: maxBytes})
		var loads int
		for i := range 500 {
			k := cacheKey{obj: fmt.Sprint("k", rng.IntN(200)), block: int64(rng.IntN(3))}
			size := rng.Int64N(maxBytes * 3 / 2)
			v, err := c.get(t.Context(), k, func(context.Context) (cacheValue, int64, error) {
				loads++
				return cacheValue{block: make([]byte, size)}, size, nil
			})
			if err != nil || v.block == nil {
				t.Fatalf("get %d: %v", i, err)
			}
			checkCacheInvariants(t, c)
		}
		st := c.Stats()
		if st.Hits+st.Misses != 500 || st.Misses != int64(loads) || st.Bytes > maxBytes {
			t.Fatalf("seed %d: stats %+v after 500 gets and %d loads", seed, st, loads)
		}
		if st.Evictions == 0 {
			t.Fatalf("seed %d: no eviction: %+v", seed, st)
		}
	}
}

// TestCacheStoreRanges compares random ranged reads through the caching
// store, with small blocks and a small bound, with the store's own.
func TestCacheStoreRanges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 7))
		mem := objectstore.NewMem()
		objs := map[string][]byte{}
		for i := range 3 {
			key := fmt.Sprintf("o/%d", i)
			objs[key] = jsonish(rng, 1+rng.IntN(5000))
			if err := mem.Put(ctx, key, objs[key]); err != nil {
				t.Fatal(err)
			}
		}
		c := NewCache(CacheConfig{MaxBytes: 200 + rng.Int64N(8000), BlockBytes: 1 + rng.Int64N(700)})
		cs := c.Store(mem)
		for range 300 {
			key := fmt.Sprintf("o/%d", rng.IntN(4)) // o/3 does not exist
			off := rng.Int64N(5200) - 10
			n := rng.Int64N(3000) - 5
			want, werr := mem.GetRange(ctx, key, off, n)
			got, gerr := cs.GetRange(ctx, key, off, n)
			switch {
			case werr != nil:
				if gerr == nil || (errors.Is(werr, objectstore.ErrInvalidRange) != errors.Is(gerr, objectstore.ErrInvalidRange)) ||
					(errors.Is(werr, objectstore.ErrNotFound) != errors.Is(gerr, objectstore.ErrNotFound)) {
					t.Fatalf("seed %d: GetRange(%s, %d, %d) = %v, want error %v", seed, key, off, n, gerr, werr)
				}
			case gerr != nil || !bytes.Equal(got, want):
				t.Fatalf("seed %d: GetRange(%s, %d, %d) = %d bytes, %v; want %d bytes", seed, key, off, n, len(got), gerr, len(want))
			case cap(got) != len(got):
				t.Fatalf("seed %d: result not capped", seed)
			}
			checkCacheInvariants(t, c)
		}
	}
}

// gatedStore blocks every GetRange until gate closes (or ctx ends).
type gatedStore struct {
	objectstore.Store
	gate chan struct{}
	mu   sync.Mutex
	n    int // GetRange calls
}

func (g *gatedStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.GetRange(ctx, key, off, n)
}

func (g *gatedStore) gets() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// TestCacheSingleFlight: N concurrent fetches of one cold range make one
// footer open and one GET per block, and all get the same records.
func TestCacheSingleFlight(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	e := newFetchEnv(t, rng, []int{4}, 200)
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		g := &gatedStore{Store: e.store, gate: make(chan struct{})}
		f, err := NewFetcher(FetcherConfig{Registry: e.reg, Store: g, Cache: NewCache(CacheConfig{BlockBytes: 1 << 20})})
		if err != nil {
			t.Fatal(err)
		}
		const n = 16
		results := make([]FetchResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = f.Fetch(ctx, e.id, 0, 1<<20, nil) })
		}
		synctest.Wait() // all blocked: one in the store, the others waiting for it
		if got := g.gets(); got != 1 {
			t.Fatalf("%d GETs in flight for one key, want 1", got)
		}
		if st := f.Cache().Stats(); st.Misses != 1 || st.Waits != n-1 {
			t.Fatalf("stats %+v: want 1 miss (the footer) and %d waits", st, n-1)
		}
		close(g.gate)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			e.check(t, results[i], 0, 1<<20)
		}
		if got := g.gets(); got != 2 {
			t.Fatalf("%d GETs, want 2 (the footer, then one block: the object is smaller)", got)
		}
		checkCacheInvariants(t, f.Cache())
	})
}

// TestCacheLoaderCancelled: a waiter whose loader's context ends takes
// over the load instead of failing.
func TestCacheLoaderCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := objectstore.NewMem()
		if err := mem.Put(t.Context(), "o", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		g := &gatedStore{Store: mem, gate: make(chan struct{})}
		cs := NewCache(CacheConfig{}).Store(g)
		leaderCtx, cancel := context.WithCancel(t.Context())
		var leaderErr, waiterErr error
		var got []byte
		var wg sync.WaitGroup
		wg.Go(func() { _, leaderErr = cs.GetRange(leaderCtx, "o", 0, 5) })
		synctest.Wait()
		wg.Go(func() { got, waiterErr = cs.GetRange(t.Context(), "o", 1, 3) })
		synctest.Wait()
		cancel()
		synctest.Wait() // the waiter is now the loader, blocked in the store
		close(g.gate)
		wg.Wait()
		if !errors.Is(leaderErr, context.Canceled) {
			t.Fatalf("leader: %v, want context.Canceled", leaderErr)
		}
		if waiterErr != nil || string(got) != "ell" {
			t.Fatalf("waiter: %q, %v", got, waiterErr)
		}
		if n := g.gets(); n != 2 {
			t.Fatalf("%d GETs, want 2", n)
		}
	})
}

// TestFetchConcurrentChurn: many readers at random offsets through a cache
// far smaller than the data, under -race.
func TestFetchConcurrentChurn(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	e := newFetchEnv(t, rng, []int{10, 10, 10}, 200)
	f := e.fetcher(t, CacheConfig{MaxBytes: 24 << 10, BlockBytes: 2 << 10})
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var dec Decoder
			for range 150 {
				off := rng.Int64N(e.hw())
				maxBytes := rng.Int64N(20 << 10)
				res, err := f.Fetch(ctx, e.id, off, maxBytes, &dec)
				if err != nil {
					t.Error(err)
					return
				}
				e.check(t, res, off, maxBytes)
			}
		})
	}
	wg.Wait()
	checkCacheInvariants(t, f.Cache())
	if st := f.Cache().Stats(); st.Evictions == 0 {
		t.Fatalf("no evictions: %+v", st)
	}
}
