package partition

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/streamhouse/streamhouse/objectstore"
)

// Cache defaults.
const (
	// DefaultCacheBytes is CacheConfig.MaxBytes's default: 256 MiB.
	DefaultCacheBytes = 256 << 20
	// DefaultCacheBlockBytes is CacheConfig.BlockBytes's default: 256 KiB.
	// An object-store GET costs a request and tens of milliseconds of
	// first-byte latency whether it returns 4 KiB or 256 KiB (about 3 ms of
	// transfer at 100 MB/s), so a cold point read loses little, while
	// consumers at nearby offsets and fetches with different maxBytes share
	// blocks. A Kafka-sized 1 MiB fetch spans four or five blocks, fetched
	// in parallel.
	DefaultCacheBlockBytes = 256 << 10
)

// cacheEntryOverhead is charged per entry on top of its payload: the list
// element, the map slot, the key's string header and the entry itself.
const cacheEntryOverhead = 160

// CacheConfig configures a Cache. The zero value is the default.
type CacheConfig struct {
	// MaxBytes bounds the bytes the cache holds: block payloads, opened
	// segment footers (estimated) and a per-entry overhead. An entry larger
	// than MaxBytes is returned to its caller but not kept. The default is
	// DefaultCacheBytes (256 MiB).
	MaxBytes int64
	// BlockBytes is the size and alignment of the ranged reads the cache
	// makes: a read of [off, off+n) fetches and keeps the blocks of
	// BlockBytes covering it. The default is DefaultCacheBlockBytes
	// (256 KiB).
	BlockBytes int64
}

// EnsureDefaults fills unset fields with their defaults.
func (c *CacheConfig) EnsureDefaults() {
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultCacheBytes
	}
	if c.BlockBytes <= 0 {
		c.BlockBytes = DefaultCacheBlockBytes
	}
}

// CacheStats are a Cache's counters since it was made.
type CacheStats struct {
	Hits      int64 // lookups served from memory
	Misses    int64 // lookups that loaded from the store (one load each)
	Waits     int64 // lookups that joined another caller's load of the same key
	Evictions int64 // entries dropped to stay within MaxBytes
	Bytes     int64 // bytes held now (payloads and overhead)
	Entries   int64 // entries held now
	MaxBytes  int64 // the bound on Bytes
}

// Cache is a byte-bounded LRU of what the read path fetches from object
// storage: opened segment footers (*Segment, keyed by object key) and
// aligned blocks of segment objects (keyed by object key and block
// number). It is safe for concurrent use. Concurrent misses of one key make
// one load: the first caller fetches, the others wait for its result
// (single flight). Errors are not cached.
//
// What it caches is immutable: a segment object is never rewritten, since
// its key carries its base offset and the epoch of its writer and every
// upload takes a fresh key (registry.SegmentIndex.CommitSegment), and only
// committed segments are read. So a Cache needs no invalidation; an object
// deleted by retention simply ages out. A Cache must front one object store
// only: keys are not qualified by store.
//
// Cached bytes are shared by every reader and must never be written. The
// read path keeps that: the caching store hands out slices capped at their
// length (append copies), Segment only reads them, and the Decoder never
// writes into its input. A decoded record's Key, Value and header values
// alias the cached block when the batch is stored uncompressed and the
// Decoder's own buffer when it is LZ4-compressed (LZ4 decompresses into the
// Decoder's memory); either way they are capped slices, read-only to
// callers. Eviction only drops the cache's reference, so records stay valid
// until the Decoder is reset whatever the cache does.
//
// Why its own LRU: the bound is in bytes with per-entry weights, and the
// single-flight table must be checked under the same lock as the LRU (a
// load that finishes must not race a second load of its key). A
// container/list LRU gives both in a hundred lines; count-bounded LRU
// libraries such as hashicorp/golang-lru would need both bolted on.
type Cache struct {
	maxBytes, blockBytes int64

	mu struct {
		sync.Mutex
		lru      *list.List // of *cacheEntry, most recent first
		items    map[cacheKey]*list.Element
		inflight map[cacheKey]*cacheCall
		bytes    int64
	}
	hits, misses, waits, evictions atomic.Int64
}

// cacheKey names a cached value: block number block of object obj, or its
// opened footer when block is footerBlock.
type cacheKey struct {
	obj   string
	block int64
}

const footerBlock = -1

// cacheValue is a block's bytes or an opened segment.
type cacheValue struct {
	block []byte
	seg   *Segment
}

type cacheEntry struct {
	key  cacheKey
	val  cacheValue
	size int64
}

// cacheCall is one load in flight; val and err are set before done closes.
type cacheCall struct {
	done chan struct{}
	val  cacheValue
	size int64
	err  error
}

// NewCache returns an empty cache configured by cfg.
func NewCache(cfg CacheConfig) *Cache {
	cfg.EnsureDefaults()
	c := &Cache{maxBytes: cfg.MaxBytes, blockBytes: cfg.BlockBytes}
	c.mu.lru = list.New()
	c.mu.items = make(map[cacheKey]*list.Element)
	c.mu.inflight = make(map[cacheKey]*cacheCall)
	return c
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	bytes, entries := c.mu.bytes, int64(c.mu.lru.Len())
	c.mu.Unlock()
	return CacheStats{
		Hits:      c.hits.Load(),
		Misses:    c.misses.Load(),
		Waits:     c.waits.Load(),
		Evictions: c.evictions.Load(),
		Bytes:     bytes,
		Entries:   entries,
		MaxBytes:  c.maxBytes,
	}
}

// Store returns store wrapped so that its GetRange goes through the cache
// in aligned blocks (see CacheConfig.BlockBytes); its other methods pass
// through. Pass it to OpenSegment. It must only read immutable objects:
// segment objects, committed or not.
func (c *Cache) Store(store objectstore.Store) objectstore.Store {
	return &cachingStore{Store: store, c: c}
}

// OpenSegment returns the opened segment at key, an object of size bytes,
// from the cache or by OpenSegment. Concurrent callers for one key share
// one open. The footer is read straight from store, in OpenSegment's exact
// ranges (one GET of at most TailRead bytes): the parsed *Segment is what
// is cached, so its raw bytes are not kept. The segment's batch reads go
// through the cache in blocks.
func (c *Cache) OpenSegment(ctx context.Context, store objectstore.Store, key string, size int64) (*Segment, error) {
	v, err := c.get(ctx, cacheKey{obj: key, block: footerBlock}, func(ctx context.Context) (cacheValue, int64, error) {
		// direct is only set while no other goroutine sees cs: the segment
		// is published through the cache after OpenSegment returns.
		cs := &cachingStore{Store: store, c: c, direct: true}
		s, err := OpenSegment(ctx, cs, key, size)
		cs.direct = false
		if err != nil {
			return cacheValue{}, 0, err
		}
		return cacheValue{seg: s}, segmentFootprint(s), nil
	})
	return v.seg, err
}

// segmentFootprint estimates the memory an opened segment holds.
func segmentFootprint(s *Segment) int64 {
	const partSize, entrySize, mapSlot = 128, 24, 48
	n := int64(len(s.key)) + 96
	for i := range s.parts {
		n += partSize + mapSlot + int64(cap(s.parts[i].index))*entrySize
	}
	return n
}

// lookup returns the value under k if cached, counting a hit.
func (c *Cache) lookup(k cacheKey) (cacheValue, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.items[k]
	if !ok {
		return cacheValue{}, false
	}
	c.mu.lru.MoveToFront(e)
	c.hits.Add(1)
	return e.Value.(*cacheEntry).val, true
}

// get returns the value under k, loading it with load (which returns the
// value and its size in bytes) on a miss. If another caller is loading k,
// get waits for its result instead; if that load was abandoned because its
// caller's context ended while ctx is still live, get tries again. get
// returns when ctx is done, with ctx's error.
func (c *Cache) get(ctx context.Context, k cacheKey, load func(context.Context) (cacheValue, int64, error)) (cacheValue, error) {
	for {
		c.mu.Lock()
		if e, ok := c.mu.items[k]; ok {
			c.mu.lru.MoveToFront(e)
			c.mu.Unlock()
			c.hits.Add(1)
			return e.Value.(*cacheEntry).val, nil
		}
		if call, ok := c.mu.inflight[k]; ok {
			c.mu.Unlock()
			c.waits.Add(1)
			select {
			case <-call.done:
			case <-ctx.Done():
				return cacheValue{}, ctx.Err()
			}
			if call.err != nil && isContextErr(call.err) && ctx.Err() == nil {
				continue // the loader gave up, not the store
			}
			return call.val, call.err
		}
		call := &cacheCall{done: make(chan struct{})}
		c.mu.inflight[k] = call
		c.mu.Unlock()
		c.misses.Add(1)
		c.runLoad(ctx, k, call, load)
		return call.val, call.err
	}
}

// runLoad runs load for call and publishes its result, also if load panics.
func (c *Cache) runLoad(ctx context.Context, k cacheKey, call *cacheCall, load func(context.Context) (cacheValue, int64, error)) {
	call.err = errors.New("cache load panicked")
	defer func() {
		c.mu.Lock()
		delete(c.mu.inflight, k)
		if call.err == nil {
			c.insertLocked(k, call.val, call.size)
		}
		c.mu.Unlock()
		close(call.done)
	}()
	call.val, call.size, call.err = load(ctx)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// insertLocked adds k, evicting least recently used entries to make room.
// An entry larger than the whole cache is not kept.
func (c *Cache) insertLocked(k cacheKey, v cacheValue, size int64) {
	size += cacheEntryOverhead + int64(len(k.obj))
	if size > c.maxBytes {
		return
	}
	if old, ok := c.mu.items[k]; ok { // cannot happen while loads are single-flight
		c.removeLocked(old)
	}
	for c.mu.bytes+size > c.maxBytes {
		c.removeLocked(c.mu.lru.Back())
		c.evictions.Add(1)
	}
	c.mu.items[k] = c.mu.lru.PushFront(&cacheEntry{key: k, val: v, size: size})
	c.mu.bytes += size
}

func (c *Cache) removeLocked(e *list.Element) {
	ent := c.mu.lru.Remove(e).(*cacheEntry)
	delete(c.mu.items, ent.key)
	c.mu.bytes -= ent.size
}

// cachingStore is an objectstore.Store whose GetRange reads through a
// Cache in aligned blocks.
type cachingStore struct {
	objectstore.Store
	c      *Cache
	direct bool // bypass the cache (while opening a segment)
}

// GetRange returns [offset, offset+length) of key, fewer bytes if the
// object ends first, as objectstore.Store does, from the blocks covering
// it. A range inside one block is a capped subslice of the cached block
// (no copy); a range over several blocks is copied into a new slice, its
// missing blocks fetched in parallel. The result must not be written.
func (s *cachingStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if offset < 0 || length < 1 || s.direct {
		return s.Store.GetRange(ctx, key, offset, length) // the store's own error, or no caching
	}
	bs := s.c.blockBytes
	end := offset + min(length, math.MaxInt64-offset)
	first, last := offset/bs, (end-1)/bs
	if first == last {
		b, err := s.block(ctx, key, first)
		if err != nil {
			return nil, err
		}
		lo, hi := offset-first*bs, min(end-first*bs, int64(len(b)))
		if lo >= int64(len(b)) {
			return nil, &objectstore.Error{Op: "get-range", Key: key, Err: fmt.Errorf("%w: offset %d past the object's end", objectstore.ErrInvalidRange, offset)}
		}
		return b[lo:hi:hi], nil
	}
	blocks, err := s.blocks(ctx, key, first, last)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, end-offset)
	for i, b := range blocks {
		pos := (first + int64(i)) * bs
		lo, hi := max(offset-pos, 0), min(end-pos, int64(len(b)))
		if lo >= hi {
			break
		}
		out = append(out, b[lo:hi]...)
		if int64(len(b)) < bs {
			break // the object ends in this block
		}
	}
	if len(out) == 0 {
		return nil, &objectstore.Error{Op: "get-range", Key: key, Err: fmt.Errorf("%w: offset %d past the object's end", objectstore.ErrInvalidRange, offset)}
	}
	return out[:len(out):len(out)], nil
}

// block returns block n of key, whole (shorter only where the object ends).
func (s *cachingStore) block(ctx context.Context, key string, n int64) ([]byte, error) {
	v, err := s.c.get(ctx, cacheKey{obj: key, block: n}, func(ctx context.Context) (cacheValue, int64, error) {
		b, err := s.Store.GetRange(ctx, key, n*s.c.blockBytes, s.c.blockBytes)
		return cacheValue{block: b}, int64(cap(b)), err
	})
	return v.block, err
}

// blocks returns blocks first..last of key, fetching the missing ones in
// parallel. A block past the object's end is nil (the object ended before
// it); the first block must exist.
func (s *cachingStore) blocks(ctx context.Context, key string, first, last int64) ([][]byte, error) {
	out := make([][]byte, last-first+1)
	var missing []int
	for i := range out {
		if v, ok := s.c.lookup(cacheKey{obj: key, block: first + int64(i)}); ok {
			out[i] = v.block
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	for _, i := range missing[1:] {
		wg.Go(func() { out[i], errs[i] = s.block(ctx, key, first+int64(i)) })
	}
	i := missing[0]
	out[i], errs[i] = s.block(ctx, key, first+int64(i))
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		if i > 0 && errors.Is(err, objectstore.ErrInvalidRange) {
			out[i] = nil // past the end: the object is shorter than asked
			continue
		}
		return nil, err
	}
	return out, nil
}
