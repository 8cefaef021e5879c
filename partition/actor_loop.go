package partition

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/streamhouse/streamhouse/registry"
)

// actorState is the actor's own state, touched only by its goroutine (and
// by StartActor before that goroutine starts).
type actorState struct {
	next    int64  // next offset to assign
	lastSeq uint64 // last WAL sequence written or replayed: the next append's expected sequence
	flushed int64  // offsets below are committed in segments
	enc     Encoder
	prod    producers
	// committed is, in object mode, the producers' state at the end of the
	// last committed segment, which the next segment's footer extends; nil
	// in wal mode, whose WAL keeps that state.
	committed *producers
	reqBuf    []*produceReq

	appending  *actorGroup // the group whose WAL append is in flight; nil if none
	appendDone chan walAppendResult

	waiting []*actorGroup // object mode: groups awaiting their segment commit, in order
	// unflushedReqs counts, in object mode, the requests of waiting groups
	// not yet in a flush under way (FlushRequests).
	unflushedReqs int

	unflushedBytes int
	backlog        int       // unflushedBytes as last added to the WAL backlog gauge (setBacklog)
	unflushedSince time.Time // the oldest unflushed entry's time
	flushing       bool      // a flush (put, commit, snapshot, trim) is under way
	flushLast      int64     // the last offset of the segment being written
	flushDone      chan flushResult
	snapshotDue    bool   // wal mode: append a producer snapshot, then trim
	trimBelow      uint64 // what to trim once the snapshot is in
	trimDone       chan error
	stopping       bool
	timer          *time.Timer
}

// actorGroup is one group commit: the requests drained from the inbox
// together and written as one WAL entry (wal mode) or held until one segment
// commit (object mode).
type actorGroup struct {
	reqs       []groupReq // written, in offset order
	dups       []groupReq // retries of its idempotent batches, answered with it
	entry      []byte     // the WAL entry (wal mode) or the encoded batches (object mode)
	base, last int64
	minTS      int64 // its records' smallest timestamp
	snapshot   bool  // a producer snapshot entry, no requests
}

type groupReq struct {
	req  *produceReq
	base int64
}

func (g *actorGroup) answer(err error) {
	for i, list := range [][]groupReq{g.reqs, g.dups} {
		for _, r := range list {
			if err != nil {
				r.req.done <- produceResult{err: err}
			} else {
				r.req.done <- produceResult{base: r.base, dup: i == 1}
			}
		}
	}
}

// run is the actor's goroutine: one select over kill, stop, the inbox and
// the results of its jobs. Each exit path says what it flushes.
func (a *Actor) run() {
	s := &a.st
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()
	if s.unflushedBytes > 0 {
		a.maybeFlush(false) // replayed entries
	}
	stopCh := a.stopCh
	for {
		if s.stopping && s.appending == nil && !s.flushing && s.unflushedBytes == 0 && !s.snapshotDue {
			// Stopped: everything acknowledged is committed in segments.
			a.exit(ErrStopped)
			return
		}
		var err error
		select {
		case <-a.killCh:
			// Lost: nothing more is written or committed.
			err = a.notOwner(errKilled)
		case <-stopCh:
			// Revoked: refuse new requests, drain, flush, commit.
			stopCh = nil
			s.stopping = true
			for _, r := range a.in.close(ErrStopped) {
				r.done <- produceResult{err: ErrStopped}
			}
			a.maybeFlush(true)
		case <-a.in.signal:
			if s.appending == nil && s.unflushedBytes < a.cfg.MaxUnflushedBytes {
				a.startGroup()
			}
		case r := <-s.appendDone:
			err = a.appended(r)
		case <-s.timer.C:
			a.maybeFlush(s.stopping)
		case r := <-s.flushDone:
			err = a.flushed(r)
		case terr := <-s.trimDone:
			if terr != nil && a.ctx.Err() == nil {
				a.log.Warn("wal trim", "err", terr) // the next trim covers it
			}
			s.flushing = false
			a.maybeFlush(s.stopping)
		}
		if err != nil {
			// Fenced, killed or failed: nothing more is written.
			a.exit(err)
			return
		}
	}
}

// exit fails whatever is pending with err, stops the jobs and closes done.
func (a *Actor) exit(err error) {
	s := &a.st
	a.err = err
	if !errors.Is(err, ErrStopped) {
		a.log.Warn("partition actor stopped", "err", err)
	} else {
		a.log.Info("partition actor stopped")
	}
	for _, r := range a.in.close(err) {
		r.done <- produceResult{err: err}
	}
	// Let the jobs under way finish, so that a write in flight has an
	// outcome to answer with where it has one.
	a.cancel()
	a.jobs.Wait()
	unknown := fmt.Errorf("%w (%v)", ErrOutcomeUnknown, err) // not %w: no longer "not the owner"
	if s.appending != nil {
		var r walAppendResult
		got := false
		select {
		case r = <-s.appendDone:
			got = true
		default:
		}
		switch {
		case got && r.err == nil:
			// Landed before any other owner's marker: the next owner
			// replays it, so it is durable.
			s.appending.answer(nil)
		case got && errors.Is(r.err, ErrWALFenced), !got && errors.Is(err, ErrWALFenced):
			s.appending.answer(err) // refused: not written
		default:
			s.appending.answer(unknown)
		}
		s.appending = nil
	}
	var fr flushResult
	gotFlush := false
	select {
	case fr = <-s.flushDone:
		gotFlush = true
	default:
	}
	for _, g := range s.waiting {
		// Object mode: a group in the segment being written is durable if
		// its commit landed, not written if the registry refused it, and
		// of unknown outcome otherwise; later groups were never written.
		inFlush := s.flushing && g.base <= s.flushLast
		switch {
		case inFlush && gotFlush && fr.err == nil:
			g.answer(nil)
		case inFlush && (gotFlush && errors.Is(fr.err, registry.ErrEpochFenced) || !gotFlush && errors.Is(err, registry.ErrEpochFenced)):
			g.answer(err)
		case inFlush:
			g.answer(unknown)
		default:
			g.answer(err)
		}
	}
	s.waiting = nil
	a.setBacklog(0) // no longer this process's to flush
	close(a.done)
}

func (a *Actor) notOwner(cause error) error {
	return &NotOwnerError{ID: a.cfg.ID, Epoch: a.epoch, Err: cause}
}

// kick makes the loop look at the inbox again.
func (a *Actor) kick() {
	select {
	case a.in.signal <- struct{}{}:
	default:
	}
}

// startGroup drains the inbox into one group, assigns its offsets, encodes
// it as one entry and starts its WAL append (wal mode) or queues it for the
// next segment (object mode). A due producer snapshot goes first.
func (a *Actor) startGroup() {
	s := &a.st
	if s.snapshotDue {
		s.snapshotDue = false
		entry := appendWALHeader(nil, walEntryProducers, a.epoch)
		entry = appendProducerSnapshot(entry, &s.prod)
		a.appendAsync(&actorGroup{entry: entry, snapshot: true})
		return
	}
	s.reqBuf = a.in.pop(s.reqBuf[:0], a.cfg.MaxEntryBytes)
	if len(s.reqBuf) == 0 {
		return
	}
	defer clear(s.reqBuf)
	wal := a.cfg.Durability == registry.DurabilityWAL
	size := walEntryHeaderLen
	for _, r := range s.reqBuf {
		size += r.bytes + batchHeaderLen
	}
	entry := make([]byte, 0, size)
	if wal {
		entry = appendWALHeader(entry, walEntryData, a.epoch)
	}
	grp := &actorGroup{base: s.next, minTS: math.MaxInt64}
	now := a.cfg.Now().UnixMilli()
	for _, r := range s.reqBuf {
		idem := r.ProducerID >= 0
		if idem {
			pb, dup, err := s.prod.check(r.ProducerID, r.ProducerEpoch, r.BaseSequence, len(r.Records))
			switch {
			case err != nil:
				r.done <- produceResult{err: err}
				continue
			case dup && pb.grp != nil: // its first write is not durable yet
				pb.grp.dups = append(pb.grp.dups, groupReq{req: r, base: pb.base})
				continue
			case dup:
				r.done <- produceResult{base: pb.base, dup: true}
				continue
			}
		}
		for i := range r.Records {
			rec := &r.Records[i]
			if r.Timestamps == TimestampBroker || rec.Timestamp == 0 {
				rec.Timestamp = now
			}
			grp.minTS = min(grp.minTS, rec.Timestamp)
		}
		b := Batch{BaseOffset: s.next, ProducerID: NoProducer, ProducerEpoch: NoProducer, BaseSequence: NoProducer, Records: r.Records}
		if idem {
			b.ProducerID, b.ProducerEpoch, b.BaseSequence = r.ProducerID, r.ProducerEpoch, r.BaseSequence
		}
		var err error
		if entry, err = s.enc.AppendBatch(entry, &b); err != nil {
			r.done <- produceResult{err: err}
			continue
		}
		grp.reqs = append(grp.reqs, groupReq{req: r, base: s.next})
		if idem {
			s.prod.record(r.ProducerID, r.ProducerEpoch, producerBatch{baseSeq: r.BaseSequence, count: int32(len(r.Records)), base: s.next, grp: grp})
		}
		s.next += int64(len(r.Records))
	}
	if !a.in.empty() {
		a.kick()
	}
	if len(grp.reqs) == 0 {
		return
	}
	grp.last, grp.entry = s.next-1, entry
	a.cfg.Metrics.batch(s.next - grp.base)
	if wal {
		a.appendAsync(grp)
		return
	}
	a.addUnflushed(tailEntry{base: grp.base, last: grp.last, at: time.Now(), data: entry, minTS: grp.minTS})
	s.waiting = append(s.waiting, grp)
	s.unflushedReqs += len(grp.reqs)
	a.maybeFlush(s.stopping)
}

// addUnflushed adds an entry to the tail and to the flush accounting.
func (a *Actor) addUnflushed(e tailEntry) {
	s := &a.st
	a.addTail(e)
	if s.unflushedBytes == 0 {
		s.unflushedSince = e.at
	}
	s.unflushedBytes += len(e.data)
	a.setBacklog(s.unflushedBytes)
}

// appendAsync starts the WAL append of grp's entry; one is in flight at a
// time, and the next group accumulates in the inbox meanwhile.
func (a *Actor) appendAsync(grp *actorGroup) {
	s := &a.st
	s.appending = grp
	expected := s.lastSeq
	a.jobs.Add(1)
	go func() {
		defer a.jobs.Done()
		s.appendDone <- a.appendWAL(a.ctx, expected, grp.entry)
	}()
}

// appended handles the end of a WAL append: acknowledge the group and make
// it visible, or stop the actor.
func (a *Actor) appended(r walAppendResult) error {
	s := &a.st
	grp := s.appending
	if r.err != nil {
		if errors.Is(r.err, ErrWALFenced) {
			return a.notOwner(r.err)
		}
		if a.ctx.Err() != nil {
			return a.notOwner(errKilled)
		}
		return fmt.Errorf("%w: wal append of unknown outcome: %w", ErrActorFailed, r.err)
	}
	s.appending = nil
	s.lastSeq = r.seq
	if grp.snapshot {
		a.startTrim(s.trimBelow)
	} else {
		a.addUnflushed(tailEntry{seq: r.seq, base: grp.base, last: grp.last, at: time.Now(), data: grp.entry[walEntryHeaderLen:], minTS: grp.minTS})
		a.publish(grp.last + 1)
		grp.answer(nil)
		s.prod.settle(grp)
	}
	if r.fencedAfter {
		// Ours landed, then another owner's marker: what we acknowledged is
		// before it and will be replayed.
		return a.notOwner(&WALFencedError{Expected: r.seq, Actual: r.last})
	}
	a.maybeFlush(s.stopping)
	if s.appending == nil && (s.snapshotDue || (!a.in.empty() && s.unflushedBytes < a.cfg.MaxUnflushedBytes)) {
		a.startGroup()
	}
	return nil
}
