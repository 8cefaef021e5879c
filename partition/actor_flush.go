package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// flushResult is the outcome of writeSegment.
type flushResult struct {
	seg  registry.Segment
	prod *producers // object mode: the producers' state as of the segment's end
	err  error
}

// maybeFlush starts a flush of the unflushed entries when they reach
// FlushBytes or FlushAge (or when force), unless one is under way; otherwise
// it arms the timer for their age. One flush runs at a time, in the
// background: appends go on meanwhile.
func (a *Actor) maybeFlush(force bool) {
	s := &a.st
	if s.flushing || s.unflushedBytes == 0 {
		return
	}
	if a.cfg.FlushRequests > 0 && s.unflushedReqs >= a.cfg.FlushRequests {
		force = true
	}
	if !force && s.unflushedBytes < a.cfg.FlushBytes {
		if age := time.Since(s.unflushedSince); age < a.cfg.FlushAge { // monotonic: a wall-clock jump moves no flush
			s.timer.Reset(a.cfg.FlushAge - age)
			return
		}
	}
	a.mu.Lock()
	i := len(a.mu.tail)
	for i > 0 && a.mu.tail[i-1].last >= s.flushed {
		i--
	}
	entries := append([]tailEntry(nil), a.mu.tail[i:]...)
	a.mu.Unlock()
	s.flushing = true
	s.flushLast = entries[len(entries)-1].last
	s.unflushedReqs = 0      // every waiting group is in this flush
	committed := s.committed // read-only until this flush's result replaces it
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		start := time.Now()
		seg, prod, err := a.writeSegment(a.ctx, entries, committed)
		if err == nil {
			a.cfg.Metrics.flush(seg.ObjectSize, time.Since(start))
		}
		s.flushDone <- flushResult{seg: seg, prod: prod, err: err}
	}()
}

// flushed handles a finished segment commit: in object mode the commit is
// the acknowledgement; in wal mode a producer snapshot is appended (if there
// are producers) and then the WAL trimmed below the segment's last entry.
func (a *Actor) flushed(r flushResult) error {
	s := &a.st
	if r.err != nil {
		if errors.Is(r.err, registry.ErrEpochFenced) || errors.Is(r.err, registry.ErrOffsetConflict) {
			return a.notOwner(r.err)
		}
		if a.ctx.Err() != nil {
			return a.notOwner(errKilled)
		}
		return fmt.Errorf("%w: %w", ErrActorFailed, r.err)
	}
	s.flushed = r.seg.LastOffset + 1
	a.mu.Lock()
	s.unflushedBytes = 0
	for _, e := range a.mu.tail {
		if e.last >= s.flushed {
			if s.unflushedBytes == 0 {
				s.unflushedSince = e.at
			}
			s.unflushedBytes += len(e.data)
		}
	}
	a.mu.Unlock()
	a.setBacklog(s.unflushedBytes)
	a.shrinkTail(s.flushed)
	if !a.in.empty() {
		a.kick() // the backlog may have held the inbox back
	}
	a.log.Debug("segment committed", "key", r.seg.ObjectKey, "first", r.seg.FirstOffset, "last", r.seg.LastOffset, "wal_seq", r.seg.WALSeq)

	if a.cfg.Durability == registry.DurabilityObject {
		s.committed = r.prod
		a.publish(s.flushed)
		n := 0
		for n < len(s.waiting) && s.waiting[n].last < s.flushed {
			s.waiting[n].answer(nil)
			s.prod.settle(s.waiting[n])
			n++
		}
		s.waiting = append(s.waiting[:0], s.waiting[n:]...)
		s.flushing = false
		a.maybeFlush(s.stopping)
		return nil
	}
	if len(s.prod.m) == 0 {
		a.startTrim(r.seg.WALSeq)
		return nil
	}
	s.snapshotDue, s.trimBelow = true, r.seg.WALSeq
	if s.appending == nil {
		a.startGroup()
	}
	return nil
}

// startTrim trims the WAL below seq in the background; the flush ends with
// it.
func (a *Actor) startTrim(below uint64) {
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		a.st.trimDone <- a.cfg.WAL.Trim(a.ctx, below)
	}()
}

// writeSegment builds a segment of entries, PUTs it and commits it in the
// registry with the actor's epoch, retrying each step with backoff until it
// succeeds, ctx ends or the registry fences the actor. A PUT that failed may
// have landed and is simply overwritten by the retry (same key, same bytes);
// an object whose commit never succeeds stays behind as garbage for the
// collector (DESIGN.md, Segments).
//
// With committed (object mode: the producers' state at the end of the last
// segment), the segment's footer carries the state at its own end, which it
// returns: an object-mode partition has no WAL to keep that state for the
// next owner.
func (a *Actor) writeSegment(ctx context.Context, entries []tailEntry, committed *producers) (registry.Segment, *producers, error) {
	w := NewSegmentWriter()
	var prod *producers
	if committed != nil {
		prod = committed.clone()
	}
	total := 0
	for _, e := range entries {
		total += len(e.data)
	}
	w.reserve(total)
	le := binary.LittleEndian
	for _, e := range entries {
		// The entry holds batches as the actor encoded them: copied, not
		// decoded and encoded again (a quarter of produce CPU once).
		for p := 0; p < len(e.data); {
			if len(e.data)-p < batchHeaderLen {
				return registry.Segment{}, nil, fmt.Errorf("build segment: %w", corruptf(int64(p), "tail entry ends inside a batch header"))
			}
			n := int(le.Uint32(e.data[p+offLength:])) + 4
			if n < batchHeaderLen || n > len(e.data)-p {
				return registry.Segment{}, nil, fmt.Errorf("build segment: %w", corruptf(int64(p), "tail entry batch of %d bytes", n))
			}
			raw := e.data[p : p+n]
			if prod != nil {
				prod.replayBatch(int64(le.Uint64(raw[offProducerID:])), int16(le.Uint16(raw[offEpoch:])),
					int32(le.Uint32(raw[offBaseSeq:])), int32(le.Uint32(raw[offCount:])), int64(le.Uint64(raw[offBaseOffset:])))
			}
			if err := w.appendEncoded(a.cfg.ID, raw, e.minTS); err != nil {
				return registry.Segment{}, nil, fmt.Errorf("build segment: %w", err)
			}
			p += n
		}
	}
	if prod != nil && len(prod.m) > 0 {
		if err := w.setProducers(a.cfg.ID, appendProducerSnapshot(nil, prod)); err != nil {
			return registry.Segment{}, nil, fmt.Errorf("build segment: %w", err)
		}
	}
	obj, parts, err := w.Seal()
	if err != nil {
		return registry.Segment{}, nil, fmt.Errorf("build segment: %w", err)
	}
	p := parts[0]
	key := SegmentKey(a.cfg.KeyPrefix, a.cfg.ID, p.FirstOffset, a.epoch)
	for attempt := 0; ; attempt++ {
		err := a.cfg.Store.Put(ctx, key, obj)
		if err == nil {
			break
		}
		a.log.Warn("segment upload, retrying", "key", key, "attempt", attempt+1, "err", err)
		if perr := a.pause(ctx, attempt); perr != nil {
			return registry.Segment{}, nil, fmt.Errorf("upload segment %s: %w", key, err)
		}
	}
	seg := registry.Segment{
		Partition:    a.pid,
		Epoch:        a.epoch,
		ObjectKey:    key,
		Position:     p.Pos,
		Length:       p.Size,
		ObjectSize:   int64(len(obj)),
		FirstOffset:  p.FirstOffset,
		LastOffset:   p.LastOffset,
		MinTimestamp: p.MinTimestamp,
		MaxTimestamp: p.MaxTimestamp,
		RecordCount:  p.Records,
		WALSeq:       entries[len(entries)-1].seq,
	}
	for attempt := 0; ; attempt++ {
		err := a.cfg.Registry.CommitSegment(ctx, seg)
		switch {
		case err == nil:
			return seg, prod, nil
		case errors.Is(err, registry.ErrEpochFenced):
			return seg, nil, fmt.Errorf("commit segment %s: %w", key, err)
		case errors.Is(err, registry.ErrOffsetConflict):
			// Our earlier attempt may have landed with its reply lost.
			latest, lerr := a.cfg.Registry.LatestSegment(ctx, a.pid)
			if lerr == nil {
				if latest.ObjectKey == key {
					return seg, prod, nil
				}
				return seg, nil, fmt.Errorf("commit segment %s: %w", key, err)
			}
			err = errors.Join(err, lerr)
		}
		a.log.Warn("segment commit, retrying", "key", key, "attempt", attempt+1, "err", err)
		if perr := a.pause(ctx, attempt); perr != nil {
			return seg, nil, fmt.Errorf("commit segment %s: %w", key, err)
		}
	}
}
