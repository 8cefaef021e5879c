package router

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/streamhouse/streamhouse/registry"
)

// TopicCache keeps topics by tenant and name so that produce and fetch do
// not read the registry on every request. An entry is fresh for TTL; after
// that the next request reloads it (one load per topic at a time), and when
// the registry is unreachable (registry.IsUnavailable) an entry up to
// StaleMax old is served instead: a PostgreSQL restart must not stop the
// data path for topics it knows. Names not found are not cached, so a topic
// created through another router is seen at once; a topic deleted or grown
// through another router is seen within TTL (its partitions' owners answer
// for the rest). Safe for concurrent use.
type TopicCache struct {
	load     func(ctx context.Context, tenant int64, name string) (registry.Topic, error)
	ttl      time.Duration
	staleMax time.Duration
	max      int
	now      func() time.Time

	mu      sync.RWMutex
	entries map[topicKey]topicEntry
	group   singleflight.Group
}

type topicKey struct {
	tenant int64
	name   string
}

type topicEntry struct {
	topic  registry.Topic
	loaded time.Time
}

// Defaults of NewTopicCache.
const (
	DefaultTopicCacheTTL      = 2 * time.Second
	DefaultTopicCacheStaleMax = 5 * time.Minute
	// DefaultTopicCacheEntries bounds the cache; when full, the oldest half
	// is dropped.
	DefaultTopicCacheEntries = 100_000
)

// NewTopicCache returns a cache over topics (a registry.Topics, or anything
// with its Topic method). ttl and staleMax of 0 take the defaults.
func NewTopicCache(topics interface {
	Topic(ctx context.Context, tenant int64, name string) (registry.Topic, error)
}, ttl, staleMax time.Duration) *TopicCache {
	if ttl <= 0 {
		ttl = DefaultTopicCacheTTL
	}
	if staleMax <= 0 {
		staleMax = DefaultTopicCacheStaleMax
	}
	return &TopicCache{
		load: topics.Topic, ttl: ttl, staleMax: max(staleMax, ttl), max: DefaultTopicCacheEntries,
		now: time.Now, entries: make(map[topicKey]topicEntry),
	}
}

// Topic returns the tenant's topic with the name, from the cache when fresh.
func (c *TopicCache) Topic(ctx context.Context, tenant int64, name string) (registry.Topic, error) {
	k := topicKey{tenant, name}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if ok && now.Sub(e.loaded) < c.ttl {
		return e.topic, nil
	}
	v, err, _ := c.group.Do(k.String(), func() (any, error) {
		// A load that finished between our miss and this call has put it.
		c.mu.RLock()
		e, ok := c.entries[k]
		c.mu.RUnlock()
		if ok && c.now().Sub(e.loaded) < c.ttl {
			return e.topic, nil
		}
		t, err := c.load(ctx, tenant, name)
		if err != nil {
			return nil, err
		}
		c.put(k, t)
		return t, nil
	})
	switch {
	case err == nil:
		return v.(registry.Topic), nil
	case ok && registry.IsUnavailable(err) && now.Sub(e.loaded) < c.staleMax:
		return e.topic, nil
	}
	if !registry.IsUnavailable(err) {
		c.Invalidate(tenant, name) // not found (deleted): forget it
	}
	return registry.Topic{}, err
}

// String is the key of a load in flight: names never hold a NUL.
func (k topicKey) String() string { return strconv.FormatInt(k.tenant, 10) + "\x00" + k.name }

func (c *TopicCache) put(k topicKey, t registry.Topic) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.dropOldestHalf()
	}
	c.entries[k] = topicEntry{topic: t, loaded: c.now()}
}

// dropOldestHalf evicts the entries loaded before the median load time.
// Called with mu held, once per max/2 insertions at most.
func (c *TopicCache) dropOldestHalf() {
	times := make([]time.Time, 0, len(c.entries))
	for _, e := range c.entries {
		times = append(times, e.loaded)
	}
	slices.SortFunc(times, time.Time.Compare)
	median := times[len(times)/2]
	for k, e := range c.entries {
		if e.loaded.Before(median) {
			delete(c.entries, k)
		}
	}
}

// topicVia resolves a topic through c when set, else straight from topics:
// the one place the data path chooses.
func topicVia(ctx context.Context, c *TopicCache, topics interface {
	Topic(ctx context.Context, tenant int64, name string) (registry.Topic, error)
}, tenant int64, name string) (registry.Topic, error) {
	if c != nil {
		return c.Topic(ctx, tenant, name)
	}
	return topics.Topic(ctx, tenant, name)
}

// Invalidate forgets the tenant's topic: call it after creating, deleting or
// growing a topic through this router.
func (c *TopicCache) Invalidate(tenant int64, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, topicKey{tenant, name})
}
