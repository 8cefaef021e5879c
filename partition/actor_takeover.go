package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// takeoverAttempts bounds the retries of the epoch CAS and of the marker
// append when another agent races the takeover.
const takeoverAttempts = 5

// takeover runs DESIGN.md's order: epoch bumped (CAS) → the WAL's last
// sequence read → epoch marker appended with it (re-read and retried on a
// mismatch) → replay from the last committed segment's WAL position up to
// the marker, keeping the offsets the entries carry. It leaves the state
// ready for run and publishes the high watermark.
func (a *Actor) takeover(ctx context.Context) error {
	reg, s := a.cfg.Registry, &a.st
	s.appendDone = make(chan walAppendResult, 1)
	s.flushDone = make(chan flushResult, 1)
	s.trimDone = make(chan error, 1)

	for attempt := 1; ; attempt++ {
		p, err := reg.Partition(ctx, a.pid)
		if err != nil {
			return fmt.Errorf("take over partition %s: %w", a.cfg.ID, err)
		}
		epoch, err := reg.BumpEpoch(ctx, a.pid, p.Epoch)
		if err == nil {
			a.epoch = epoch
			break
		}
		if !errors.Is(err, registry.ErrEpochFenced) || attempt == takeoverAttempts {
			return fmt.Errorf("take over partition %s: bump epoch: %w", a.cfg.ID, err)
		}
	}
	// Read after the bump: no commit of an older owner can land any more.
	p, err := reg.Partition(ctx, a.pid)
	if err != nil {
		return fmt.Errorf("take over partition %s: %w", a.cfg.ID, err)
	}
	s.next, s.flushed = p.HighWatermark, p.HighWatermark
	seg, err := reg.LatestSegment(ctx, a.pid)
	hasSeg := err == nil
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("take over partition %s: latest segment: %w", a.cfg.ID, err)
	}
	if a.cfg.Durability == registry.DurabilityObject {
		s.committed = &producers{}
		if hasSeg {
			if err := a.loadProducers(ctx, seg); err != nil {
				return fmt.Errorf("take over partition %s: %w", a.cfg.ID, err)
			}
		}
		a.hwm.Store(p.HighWatermark)
		return nil
	}
	start := p.LastWALSeq
	if hasSeg {
		start = max(start, seg.WALSeq)
	}

	marker := appendWALHeader(nil, walEntryMarker, a.epoch)
	var markerSeq uint64
	for attempt := 1; ; attempt++ {
		last, err := a.cfg.WAL.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("take over partition %s: wal last sequence: %w", a.cfg.ID, err)
		}
		r := a.appendWAL(ctx, last, marker)
		if r.err == nil && !r.fencedAfter {
			markerSeq = r.seq
			break
		}
		if r.fencedAfter || !errors.Is(r.err, ErrWALFenced) || attempt == takeoverAttempts {
			if r.err == nil {
				r.err = &WALFencedError{Expected: r.seq, Actual: r.last}
			}
			return fmt.Errorf("take over partition %s: append epoch marker: %w", a.cfg.ID, r.err)
		}
		// Someone appended meanwhile: the old owner (fine, we replay it) or a
		// newer owner (then our epoch is stale: give up).
		if cur, err := reg.Partition(ctx, a.pid); err == nil && cur.Epoch != a.epoch {
			return a.notOwner(&registry.EpochError{Partition: a.pid, Expected: a.epoch, Actual: cur.Epoch})
		}
	}
	s.lastSeq = markerSeq

	// Replay everything the WAL still holds: entries up to start only
	// rebuild the producers' state (their records are in segments), later
	// ones are the unflushed tail, with the offsets they were given.
	var dec Decoder
	now := time.Now() // the entries' flush age: monotonic
	err = a.cfg.WAL.Replay(ctx, 0, markerSeq, func(seq uint64, entry []byte) error {
		typ, _, body, err := parseWALEntry(entry)
		if err != nil {
			return fmt.Errorf("wal entry %d: %w", seq, err)
		}
		switch typ {
		case walEntryMarker:
			return nil
		case walEntryProducers:
			if err := decodeProducerSnapshot(body, &s.prod); err != nil {
				return fmt.Errorf("wal entry %d: %w", seq, err)
			}
			return nil
		}
		dec.Reset()
		first, last, minTS := int64(-1), int64(-1), int64(math.MaxInt64)
		err = decodeWALBatches(&dec, body, func(b *Batch) error {
			s.prod.replay(b)
			for i := range b.Records {
				minTS = min(minTS, b.Records[i].Timestamp)
			}
			if first < 0 {
				first = b.BaseOffset
			} else if b.BaseOffset != last+1 {
				return corruptf(0, "batch at offset %d after %d", b.BaseOffset, last)
			}
			last = b.LastOffset()
			return nil
		})
		if err != nil {
			return fmt.Errorf("wal entry %d: %w", seq, err)
		}
		if seq <= start || last < s.next {
			return nil // in a committed segment
		}
		if first != s.next {
			return fmt.Errorf("wal entry %d: %w", seq, corruptf(0, "starts at offset %d, want %d", first, s.next))
		}
		a.addUnflushed(tailEntry{seq: seq, base: first, last: last, at: now, data: bytes.Clone(body), minTS: minTS})
		s.next = last + 1
		return nil
	})
	if err != nil {
		return fmt.Errorf("take over partition %s: %w: replay wal: %w", a.cfg.ID, ErrActorFailed, err)
	}
	// Replayed producer batches are durable.
	a.hwm.Store(s.next)
	a.log.Debug("wal replayed", "from_seq", start, "marker_seq", markerSeq, "replayed_bytes", s.unflushedBytes)
	return nil
}

// loadProducers rebuilds the idempotent producers' state of an object-mode
// partition from the footer of its latest segment, which holds the state as
// of the high watermark. A segment that retention has already deleted
// leaves the state empty, as it would be after that long without writes.
func (a *Actor) loadProducers(ctx context.Context, seg registry.Segment) error {
	sg, err := OpenSegment(ctx, a.cfg.Store, seg.ObjectKey, seg.ObjectSize)
	if errors.Is(err, objectstore.ErrNotFound) {
		a.log.Warn("latest segment gone: idempotent producers start afresh", "key", seg.ObjectKey)
		return nil
	}
	if err != nil {
		return fmt.Errorf("producer state: %w", err)
	}
	pi, err := sg.Partition(a.cfg.ID)
	if err != nil {
		return fmt.Errorf("producer state: %w", err)
	}
	if pi.producers == nil {
		return nil
	}
	if err := decodeProducerSnapshot(pi.producers, &a.st.prod); err != nil {
		return fmt.Errorf("producer state of segment %s: %w", seg.ObjectKey, err)
	}
	a.st.committed = a.st.prod.clone()
	return nil
}
