package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// producerBatchesKept is how many of a producer's last batches the actor
// remembers, so that a retry of any of them gets its first offsets (Kafka
// keeps five too: a producer has at most five requests in flight).
const producerBatchesKept = 5

// ErrSequenceGap: an idempotent producer's batch does not start at the
// sequence after its last one (or at 0 after an epoch bump), and is not a
// retry of one of its last batches. Comes as a *SequenceError.
var ErrSequenceGap = errors.New("producer sequence gap")

// ErrProducerFenced: a batch carries an older producer epoch than one the
// partition has seen for the producer id: a newer instance of the producer
// has taken over.
var ErrProducerFenced = errors.New("producer fenced: older producer epoch")

// SequenceError reports a batch whose base sequence is not the expected one.
// It unwraps to ErrSequenceGap.
type SequenceError struct {
	ProducerID    int64
	ProducerEpoch int16
	Expected, Got int32
}

func (e *SequenceError) Error() string {
	return fmt.Sprintf("producer %d epoch %d: base sequence %d, expected %d: %v",
		e.ProducerID, e.ProducerEpoch, e.Got, e.Expected, ErrSequenceGap)
}

func (e *SequenceError) Unwrap() error { return ErrSequenceGap }

// producerState is what the actor remembers of one idempotent producer.
type producerState struct {
	epoch   int16
	lastSeq int32 // sequence of its last record written
	n       int   // batches used
	next    int   // ring position of the next batch
	batches [producerBatchesKept]producerBatch
}

// producerBatch is one remembered batch: its sequences and offsets, and the
// group that writes it while that group is not durable yet (nil once it is,
// or when rebuilt from the WAL).
type producerBatch struct {
	baseSeq int32
	count   int32
	base    int64
	grp     *actorGroup
}

// producers is the actor's table of idempotent producers, owned by the
// actor's goroutine.
type producers struct {
	m map[int64]*producerState
}

// check decides what to do with a request of an idempotent producer: write
// it (dup false, err nil), answer it as a retry of a remembered batch (dup
// true with that batch), or refuse it (*SequenceError, ErrProducerFenced).
func (p *producers) check(id int64, epoch int16, baseSeq int32, count int) (producerBatch, bool, error) {
	st := p.m[id]
	switch {
	case st == nil:
		// Unknown producer (new, or its state is older than what the WAL
		// and its snapshots keep): take any sequence.
		return producerBatch{}, false, nil
	case epoch < st.epoch:
		return producerBatch{}, false, fmt.Errorf("producer %d epoch %d, partition has seen epoch %d: %w", id, epoch, st.epoch, ErrProducerFenced)
	case epoch > st.epoch:
		if baseSeq != 0 {
			return producerBatch{}, false, &SequenceError{ProducerID: id, ProducerEpoch: epoch, Expected: 0, Got: baseSeq}
		}
		return producerBatch{}, false, nil
	}
	for i := range st.n {
		if b := st.batches[i]; b.baseSeq == baseSeq && int(b.count) == count {
			return b, true, nil
		}
	}
	if baseSeq != st.lastSeq+1 {
		return producerBatch{}, false, &SequenceError{ProducerID: id, ProducerEpoch: epoch, Expected: st.lastSeq + 1, Got: baseSeq}
	}
	return producerBatch{}, false, nil
}

// record remembers a batch written (or replayed) for the producer; a newer
// epoch forgets the older one's batches.
func (p *producers) record(id int64, epoch int16, b producerBatch) {
	if p.m == nil {
		p.m = make(map[int64]*producerState)
	}
	st := p.m[id]
	if st == nil || epoch > st.epoch {
		st = &producerState{epoch: epoch}
		p.m[id] = st
	}
	st.lastSeq = b.baseSeq + b.count - 1
	st.batches[st.next] = b
	st.next = (st.next + 1) % producerBatchesKept
	st.n = min(st.n+1, producerBatchesKept)
}

// clone returns a copy of p, without the groups of batches not yet durable
// (a clone is only taken of durable state).
func (p *producers) clone() *producers {
	c := &producers{m: make(map[int64]*producerState, len(p.m))}
	for id, st := range p.m {
		cp := *st
		for i := range cp.batches {
			cp.batches[i].grp = nil
		}
		c.m[id] = &cp
	}
	return c
}

// replay applies a batch read back from the WAL or written into a segment:
// batches the state knows
// already (from a snapshot written after them) are skipped.
func (p *producers) replay(b *Batch) {
	p.replayBatch(b.ProducerID, b.ProducerEpoch, b.BaseSequence, int32(len(b.Records)), b.BaseOffset)
}

// replayBatch is replay from a batch's header fields.
func (p *producers) replayBatch(id int64, epoch int16, baseSeq, count int32, base int64) {
	if id < 0 {
		return
	}
	last := baseSeq + count - 1
	if st := p.m[id]; st != nil && (epoch < st.epoch || epoch == st.epoch && last <= st.lastSeq) {
		return
	}
	p.record(id, epoch, producerBatch{baseSeq: baseSeq, count: count, base: base})
}

// settle marks every remembered batch of grp durable.
func (p *producers) settle(grp *actorGroup) {
	for i := range grp.reqs {
		r := grp.reqs[i].req
		if r.ProducerID < 0 {
			continue
		}
		if st := p.m[r.ProducerID]; st != nil {
			for j := range st.n {
				if st.batches[j].grp == grp {
					st.batches[j].grp = nil
				}
			}
		}
	}
}

// Producer snapshot body (walEntryProducers), a storage format: ONLY ADD TO
// THE END (a new field needs a new entry type).
//
//	uvarint  producer count
//	per producer: varint id, varint epoch, varint last sequence,
//	  uvarint batch count, per batch (oldest first): varint base sequence,
//	  varint count, varint base offset
func appendProducerSnapshot(dst []byte, p *producers) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(p.m)))
	for id, st := range p.m {
		dst = binary.AppendVarint(dst, id)
		dst = binary.AppendVarint(dst, int64(st.epoch))
		dst = binary.AppendVarint(dst, int64(st.lastSeq))
		dst = binary.AppendUvarint(dst, uint64(st.n))
		for i := range st.n {
			b := st.batches[(st.next-st.n+i+producerBatchesKept)%producerBatchesKept]
			dst = binary.AppendVarint(dst, int64(b.baseSeq))
			dst = binary.AppendVarint(dst, int64(b.count))
			dst = binary.AppendVarint(dst, b.base)
		}
	}
	return dst
}

// decodeProducerSnapshot replaces p's state with the snapshot in body.
func decodeProducerSnapshot(body []byte, p *producers) error {
	bad := func() error { return corruptf(0, "producer snapshot truncated or malformed") }
	pos := 0
	uv := func() (uint64, bool) {
		x, n := binary.Uvarint(body[pos:])
		if n <= 0 {
			return 0, false
		}
		pos += n
		return x, true
	}
	sv := func() (int64, bool) {
		x, n := binary.Varint(body[pos:])
		if n <= 0 {
			return 0, false
		}
		pos += n
		return x, true
	}
	count, ok := uv()
	if !ok || count > uint64(len(body)) {
		return bad()
	}
	m := make(map[int64]*producerState, count)
	for range count {
		id, ok1 := sv()
		epoch, ok2 := sv()
		last, ok3 := sv()
		nb, ok4 := uv()
		if !ok1 || !ok2 || !ok3 || !ok4 || nb > producerBatchesKept {
			return bad()
		}
		st := &producerState{epoch: int16(epoch), lastSeq: int32(last)}
		for range nb {
			seq, ok1 := sv()
			cnt, ok2 := sv()
			base, ok3 := sv()
			if !ok1 || !ok2 || !ok3 {
				return bad()
			}
			st.batches[st.next] = producerBatch{baseSeq: int32(seq), count: int32(cnt), base: base}
			st.next = (st.next + 1) % producerBatchesKept
			st.n++
		}
		m[id] = st
	}
	if pos != len(body) {
		return bad()
	}
	p.m = m
	return nil
}
