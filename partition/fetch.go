package partition

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// FetchRegistry is the part of the registry a Fetcher reads: the
// partition's watermarks and the segment index. registry.Store has it.
type FetchRegistry interface {
	Partition(ctx context.Context, id registry.PartitionID) (registry.Partition, error)
	SegmentAt(ctx context.Context, id registry.PartitionID, offset int64) (registry.Segment, error)
	SegmentAtTime(ctx context.Context, id registry.PartitionID, ts int64) (registry.Segment, error)
}

// FetcherConfig configures a Fetcher.
type FetcherConfig struct {
	// Registry finds partitions and segments. Required.
	Registry FetchRegistry
	// Store holds the segment objects. Required.
	Store objectstore.Store
	// Cache caches opened segments and blocks; it must front Store only.
	// The default is a new Cache with the default configuration (256 MiB);
	// share one Cache among the Fetchers of one store.
	Cache *Cache
}

// Fetcher reads committed segments of any partition straight from object
// storage through a Cache (DESIGN.md, Segments). Any agent may use one, not
// only the partition's owner: it reads only what the registry says is
// committed, and committed segments never change. It is safe for concurrent
// use.
type Fetcher struct {
	reg   FetchRegistry
	store objectstore.Store
	cache *Cache
}

// NewFetcher returns a Fetcher configured by cfg.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if cfg.Registry == nil || cfg.Store == nil {
		return nil, errors.New("new fetcher: Registry and Store are required")
	}
	if cfg.Cache == nil {
		cfg.Cache = NewCache(CacheConfig{})
	}
	return &Fetcher{reg: cfg.Registry, store: cfg.Store, cache: cfg.Cache}, nil
}

// Cache returns the fetcher's cache.
func (f *Fetcher) Cache() *Cache { return f.cache }

// FetchResult is what Fetch returns.
type FetchResult struct {
	// Batches are whole, in offset order: the first may start before the
	// offset asked for (skip records whose Offset is below it), as in
	// Kafka. Their records alias the Decoder's memory and the cache's (see
	// Cache): read-only, valid until the Decoder is reset or reused.
	Batches []Batch
	// Next is the offset after the last batch returned, the offset to fetch
	// next; the offset asked for when no batch is returned.
	Next int64
	// HighWatermark and LogStartOffset are the partition's committed ones
	// as the registry gave them at the start of the fetch.
	HighWatermark, LogStartOffset int64
}

// OffsetOutOfRangeError reports a fetch below the partition's log start
// offset: retention has removed it, and the consumer must reset. It unwraps
// to ErrOffsetOutOfRange. (An *OffsetRangeError is a different matter: an
// offset outside one segment's range, a caller's mistake.)
type OffsetOutOfRangeError struct {
	ID                            ID
	Offset                        int64 // the offset asked for
	LogStartOffset, HighWatermark int64 // the partition's, when refused
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("partition %s: offset %d below the log start offset %d (high watermark %d)", e.ID, e.Offset, e.LogStartOffset, e.HighWatermark)
}

// Unwrap returns ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }

// Fetch returns committed batches of partition id from the one holding
// offset onwards, reading on into the following segments until their stored
// (compressed) sizes would exceed maxBytes; the first batch is returned
// whole even when larger (so a consumer always progresses, as in Kafka).
// Batches are whole: records below offset are not trimmed (see
// FetchResult).
//
// An offset below the log start offset yields an *OffsetOutOfRangeError.
// An offset at or past the committed high watermark yields an empty result
// and no error: newer records are in the owner's tail, served by the owner,
// and the caller long-polls. A segment whose bytes fail a check yields a
// *CorruptError naming the object key; a failed read the store's error,
// wrapped (an object missing because retention removed it meanwhile is an
// *OffsetOutOfRangeError); a registry error, wrapped. An error met in a
// segment after the first returns the batches read so far instead: the
// next fetch meets it. Cancelling ctx abandons the fetch; another caller
// waiting on the same cache load then loads it itself.
//
// dec is reset first and holds the records; it may be nil for a fresh one.
// It costs two registry reads per segment touched (Partition, SegmentAt)
// and, warm, no object-store read.
func (f *Fetcher) Fetch(ctx context.Context, id ID, offset, maxBytes int64, dec *Decoder) (FetchResult, error) {
	rid := registry.PartitionID{Tenant: id.Tenant, Topic: id.Topic, Partition: id.Partition}
	p, err := f.reg.Partition(ctx, rid)
	if err != nil {
		return FetchResult{}, fmt.Errorf("fetch %s: %w", id, err)
	}
	res := FetchResult{Next: offset, HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset}
	if offset < p.LogStartOffset {
		return res, &OffsetOutOfRangeError{ID: id, Offset: offset, LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark}
	}
	if offset >= p.HighWatermark {
		return res, nil
	}
	if dec == nil {
		dec = new(Decoder)
	} else {
		dec.Reset()
	}
	budget := max(maxBytes, 0)
	for res.Next < p.HighWatermark {
		seg, err := f.reg.SegmentAt(ctx, rid, res.Next)
		if errors.Is(err, registry.ErrNotFound) {
			if len(dec.batches) > 0 {
				break // the rest went meanwhile; return what we have
			}
			// Retention removed the segment after we read the log start.
			return f.refetchBounds(ctx, id, rid, offset, res)
		}
		if err != nil {
			return FetchResult{}, fmt.Errorf("fetch %s at %d: %w", id, res.Next, err)
		}
		var used, next int64
		s, err := f.cache.OpenSegment(ctx, f.store, seg.ObjectKey, seg.ObjectSize)
		if err == nil {
			used, next, err = readInto(ctx, s, id, res.Next, budget, len(dec.batches) == 0, dec)
		}
		switch {
		case err == nil:
		case len(dec.batches) > 0:
			// Return what we have; the next fetch will meet the error
			// again or find that retention removed the object.
			res.Batches = dec.batches
			return res, nil
		case errors.Is(err, objectstore.ErrNotFound):
			// The object is gone: retention removed the segment after we
			// read the log start (or the registry and the store disagree).
			res, rerr := f.refetchBounds(ctx, id, rid, offset, res)
			if rerr != nil && errors.Is(rerr, registry.ErrNotFound) {
				rerr = fmt.Errorf("fetch %s at %d: %w", id, offset, err)
			}
			return res, rerr
		default:
			return FetchResult{}, fmt.Errorf("fetch %s at %d: %w", id, res.Next, err)
		}
		res.Next = next
		budget -= used
		if next <= seg.LastOffset || budget < batchHeaderLen {
			break // stopped inside the segment, or no batch fits the rest of maxBytes
		}
	}
	res.Batches = dec.batches
	return res, nil
}

// refetchBounds answers a fetch whose segment vanished: below the new log
// start it is out of range; otherwise there is nothing (yet) to return.
func (f *Fetcher) refetchBounds(ctx context.Context, id ID, rid registry.PartitionID, offset int64, res FetchResult) (FetchResult, error) {
	p, err := f.reg.Partition(ctx, rid)
	if err != nil {
		return FetchResult{}, fmt.Errorf("fetch %s: %w", id, err)
	}
	res.HighWatermark, res.LogStartOffset = p.HighWatermark, p.LogStartOffset
	if offset < p.LogStartOffset {
		return res, &OffsetOutOfRangeError{ID: id, Offset: offset, LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark}
	}
	if offset >= p.HighWatermark {
		return res, nil
	}
	return FetchResult{}, fmt.Errorf("fetch %s at %d: segment missing below the high watermark %d: %w", id, offset, p.HighWatermark, registry.ErrNotFound)
}

// readInto is Segment.ReadFrom that appends to dec.batches without
// resetting dec, so that one Fetch can gather batches of several segments
// into one Decoder, and that reports the stored bytes it used. The first
// batch is taken whatever its size only if first is set. An offset the
// footer does not hold, although the registry said the segment holds it,
// is a *CorruptError (never ErrOffsetOutOfRange, which would make the
// consumer reset).
//
// TODO: make ReadFrom a wrapper of this (reader.go), to keep one copy.
func readInto(ctx context.Context, s *Segment, id ID, offset, maxBytes int64, first bool, dec *Decoder) (used, next int64, err error) {
	p, err := s.Partition(id)
	if err != nil {
		return 0, 0, &CorruptError{Key: s.key, Offset: offset, Reason: fmt.Sprintf("registry indexes the object for partition %s, its footer does not: %v", id, err)}
	}
	if offset < p.FirstOffset || offset > p.LastOffset {
		return 0, 0, &CorruptError{Key: s.key, Offset: offset, Reason: fmt.Sprintf("registry says the object holds offset %d of partition %s, its footer says [%d, %d]", offset, id, p.FirstOffset, p.LastOffset)}
	}
	k := sort.Search(len(p.index), func(i int) bool { return p.index[i].offset > offset }) - 1
	end := p.End()
	if k+1 < len(p.index) {
		end = p.index[k+1].pos
	}
	end += min(maxBytes, p.End()-end)
	w, err := s.walk(ctx, p, k, end)
	if err != nil {
		return 0, 0, err
	}
	next = offset
	for {
		h, raw, ok, err := w.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			if next == offset && first {
				return 0, 0, s.locate(corruptf(w.pos, "batch holding offset %d runs past its index block", offset), 0, w.want)
			}
			break
		}
		if h.lastOffset() < offset {
			continue
		}
		if !(first && next == offset) && used+int64(h.size) > maxBytes {
			break
		}
		b, err := dec.decodeBody(raw, &h)
		if err != nil {
			return 0, 0, s.locate(err, w.pos-int64(h.size), h.baseOffset)
		}
		dec.batches = append(dec.batches, b)
		used += int64(h.size)
		next = h.lastOffset() + 1
	}
	return used, next, nil
}

// OffsetForTime returns the earliest committed offset of partition id whose
// record timestamp is at or after ts (ms), and true; or the committed high
// watermark and false when every committed record is older (the answer may
// then be in the owner's tail). An answer below the log start offset is
// raised to it. It reads the segment index by time and at most one index
// block of one segment. Errors as in Fetch.
func (f *Fetcher) OffsetForTime(ctx context.Context, id ID, ts int64) (int64, bool, error) {
	rid := registry.PartitionID{Tenant: id.Tenant, Topic: id.Topic, Partition: id.Partition}
	p, err := f.reg.Partition(ctx, rid)
	if err != nil {
		return 0, false, fmt.Errorf("offset for time %s: %w", id, err)
	}
	seg, err := f.reg.SegmentAtTime(ctx, rid, ts)
	if errors.Is(err, registry.ErrNotFound) {
		return p.HighWatermark, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("offset for time %s: %w", id, err)
	}
	s, err := f.cache.OpenSegment(ctx, f.store, seg.ObjectKey, seg.ObjectSize)
	if err != nil {
		return 0, false, fmt.Errorf("offset for time %s: %w", id, err)
	}
	off, ok, err := s.OffsetForTime(ctx, id, ts)
	if err != nil {
		return 0, false, fmt.Errorf("offset for time %s: %w", id, err)
	}
	if !ok {
		return 0, false, &CorruptError{Key: seg.ObjectKey, Offset: -1, Reason: fmt.Sprintf("registry says partition %s has a timestamp at or after %d here, its footer does not", id, ts)}
	}
	return max(off, p.LogStartOffset), true, nil
}
