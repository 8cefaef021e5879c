package registry

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// CommitSegment implements SegmentIndex.
func (e *Embedded) CommitSegment(ctx context.Context, s Segment) error {
	if err := validateSegment(s); err != nil {
		return fmt.Errorf("commit segment: %w", err)
	}
	err := e.update(ctx, func(tx *bolt.Tx) error { return e.commitSegmentTx(tx, s) })
	if err != nil {
		return fmt.Errorf("commit segment %s@%d: %w", s.Partition, s.FirstOffset, err)
	}
	return nil
}

// CommitSegments implements SegmentIndex.
func (e *Embedded) CommitSegments(ctx context.Context, segs []Segment) error {
	sorted, err := prepareSegments(segs)
	if err != nil {
		return fmt.Errorf("commit segments: %w", err)
	}
	if len(sorted) == 0 {
		return nil
	}
	return e.update(ctx, func(tx *bolt.Tx) error {
		for _, s := range sorted {
			if err := e.commitSegmentTx(tx, s); err != nil {
				return fmt.Errorf("commit segments: segment %s@%d: %w", s.Partition, s.FirstOffset, err)
			}
		}
		return nil
	})
}

func (e *Embedded) commitSegmentTx(tx *bolt.Tx, s Segment) error {
	p, err := getPartition(tx, s.Partition)
	if err != nil {
		return err
	}
	if p.Epoch != s.Epoch {
		return &EpochError{Partition: s.Partition, Expected: s.Epoch, Actual: p.Epoch}
	}
	if p.HighWatermark != s.FirstOffset {
		return &OffsetError{Partition: s.Partition, Want: p.HighWatermark, Got: s.FirstOffset}
	}
	segs := tx.Bucket(bktSegments)
	k := segmentKey(s.Partition, s.FirstOffset)
	if segs.Get(k) != nil { // unreachable while the watermark is kept
		return exists("segment %s@%d", s.Partition, s.FirstOffset)
	}
	s.CommittedAt = e.now()
	if err := putJSON(segs, k, segmentToRec(s)); err != nil {
		return err
	}
	if err := tx.Bucket(bktObjectRefs).Put(objectRefKey(s.ObjectKey, k), []byte{}); err != nil {
		return err
	}
	p.HighWatermark = s.LastOffset + 1
	p.LastWALSeq = max(p.LastWALSeq, s.WALSeq)
	return putPartition(tx, p)
}

// ListSegments implements SegmentIndex.
func (e *Embedded) ListSegments(ctx context.Context, id PartitionID, from int64, limit int) ([]Segment, error) {
	out := []Segment{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getPartition(tx, id); err != nil {
			return err
		}
		c := tx.Bucket(bktSegments).Cursor()
		k, v := seekContaining(c, id, from)
		prefix := partitionKey(id)
		for ; k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			s, err := decodeSegment(k, v)
			if err != nil {
				return err
			}
			if s.LastOffset < from {
				continue
			}
			out = append(out, s)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segments of %s from %d: %w", id, from, err)
	}
	return out, nil
}

// SegmentAt implements SegmentIndex.
func (e *Embedded) SegmentAt(ctx context.Context, id PartitionID, offset int64) (Segment, error) {
	var s Segment
	err := e.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getPartition(tx, id); err != nil {
			return err
		}
		k, v := seekContaining(tx.Bucket(bktSegments).Cursor(), id, offset)
		if k != nil && hasPrefix(k, partitionKey(id)) {
			var err error
			if s, err = decodeSegment(k, v); err != nil {
				return err
			}
			if s.FirstOffset <= offset && offset <= s.LastOffset {
				return nil
			}
		}
		return notFound("segment holding offset %d", offset)
	})
	if err != nil {
		return Segment{}, fmt.Errorf("find segment of %s at %d: %w", id, offset, err)
	}
	return s, nil
}

// SegmentAtTime implements SegmentIndex.
func (e *Embedded) SegmentAtTime(ctx context.Context, id PartitionID, ts int64) (Segment, error) {
	var s Segment
	err := e.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getPartition(tx, id); err != nil {
			return err
		}
		found := false
		err := prefixScan(tx.Bucket(bktSegments), partitionKey(id), func(k, v []byte) (bool, error) {
			var r segmentRec
			if err := decodeValue(v, &r); err != nil {
				return false, err
			}
			if r.MaxTimestamp < ts {
				return true, nil
			}
			found = true
			s = segmentFromRec(id, readBE64(k[len(k)-8:]), r)
			return false, nil
		})
		if err != nil || found {
			return err
		}
		return notFound("segment with timestamps at or after %d", ts)
	})
	if err != nil {
		return Segment{}, fmt.Errorf("find segment of %s at time %d: %w", id, ts, err)
	}
	return s, nil
}

// LatestSegment implements SegmentIndex.
func (e *Embedded) LatestSegment(ctx context.Context, id PartitionID) (Segment, error) {
	var s Segment
	err := e.view(ctx, func(tx *bolt.Tx) error {
		p, err := getPartition(tx, id)
		if err != nil {
			return err
		}
		if p.HighWatermark == 0 {
			return notFound("committed segment")
		}
		k, v := seekContaining(tx.Bucket(bktSegments).Cursor(), id, p.HighWatermark-1)
		if k == nil || !hasPrefix(k, partitionKey(id)) {
			return notFound("committed segment") // removed by retention
		}
		s, err = decodeSegment(k, v)
		return err
	})
	if err != nil {
		return Segment{}, fmt.Errorf("find latest segment of %s: %w", id, err)
	}
	return s, nil
}

// DeleteSegmentsBefore implements SegmentIndex.
func (e *Embedded) DeleteSegmentsBefore(ctx context.Context, id PartitionID, epoch, newLogStart int64) (Removed, error) {
	var out Removed
	err := e.update(ctx, func(tx *bolt.Tx) error {
		out = emptyRemoved()
		p, err := getPartition(tx, id)
		if err != nil {
			return err
		}
		if epoch != AnyEpoch && p.Epoch != epoch {
			return &EpochError{Partition: id, Expected: epoch, Actual: p.Epoch}
		}
		if newLogStart > p.HighWatermark {
			return logStartPastHighWatermark(newLogStart, p.HighWatermark)
		}
		if newLogStart <= p.LogStartOffset {
			return nil
		}
		segs := tx.Bucket(bktSegments)
		var keys [][]byte
		err = prefixScan(segs, partitionKey(id), func(k, v []byte) (bool, error) {
			s, err := decodeSegment(k, v)
			if err != nil || s.LastOffset >= newLogStart {
				return false, err
			}
			out.Segments = append(out.Segments, s)
			keys = append(keys, segmentKey(id, s.FirstOffset))
			return true, nil
		})
		if err != nil {
			return err
		}
		if err := deleteKeys(segs, keys); err != nil {
			return err
		}
		if out.UnreferencedObjects, err = dropObjectRefs(tx, out.Segments); err != nil {
			return err
		}
		p.LogStartOffset = newLogStart
		return putPartition(tx, p)
	})
	if err != nil {
		return Removed{}, fmt.Errorf("delete segments of %s before %d: %w", id, newLogStart, err)
	}
	return out, nil
}

// PartitionSizes implements SegmentIndex: one scan of the topic's segment
// keys (they share the topic's key prefix), in one read transaction.
func (e *Embedded) PartitionSizes(ctx context.Context, tenant, topic int64) (map[int32]PartitionSize, error) {
	var out map[int32]PartitionSize
	err := e.view(ctx, func(tx *bolt.Tx) error {
		t, err := getTopic(tx, tenant, topic)
		if err != nil {
			return err
		}
		out = make(map[int32]PartitionSize, t.Partitions)
		for p := range t.Partitions {
			out[p] = PartitionSize{}
		}
		return prefixScan(tx.Bucket(bktSegments), topicKey(tenant, topic), func(k, v []byte) (bool, error) {
			var r segmentRec
			if err := decodeValue(v, &r); err != nil {
				return false, err
			}
			p := int32(beUint32(k[16:20]))
			ps := out[p]
			ps.Bytes += r.Length
			ps.Segments++
			out[p] = ps
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("partition sizes of topic %d: %w", topic, err)
	}
	return out, nil
}

// dropObjectRefs removes the removed segments' entries from bktObjectRefs
// and returns their distinct object keys, sorted, that have no entry left.
func dropObjectRefs(tx *bolt.Tx, removed []Segment) ([]string, error) {
	refs := tx.Bucket(bktObjectRefs)
	objects := map[string]bool{}
	for _, s := range removed {
		if err := refs.Delete(objectRefKey(s.ObjectKey, segmentKey(s.Partition, s.FirstOffset))); err != nil {
			return nil, err
		}
		objects[s.ObjectKey] = true
	}
	out := []string{}
	for key := range objects {
		prefix := objectRefPrefix(key)
		if k, _ := refs.Cursor().Seek(prefix); k == nil || !hasPrefix(k, prefix) {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out, nil
}

// seekContaining positions c on the partition's segment with the greatest
// first offset <= offset, if any, else on the partition's first segment (or
// past it). The caller checks the prefix and the range.
func seekContaining(c *bolt.Cursor, id PartitionID, offset int64) ([]byte, []byte) {
	prefix := partitionKey(id)
	k, v := c.Seek(segmentKey(id, offset))
	if k != nil && hasPrefix(k, prefix) && readBE64(k[len(k)-8:]) == offset {
		return k, v
	}
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil && hasPrefix(pk, prefix) {
		return pk, pv
	}
	// No segment starts at or below offset: back to where Seek landed.
	return c.Seek(segmentKey(id, offset))
}

func logStartPastHighWatermark(logStart, hw int64) error {
	return &ValidationError{Field: "log start offset", Value: fmt.Sprint(logStart),
		Reason: fmt.Sprintf("past the high watermark %d", hw)}
}

func decodeSegment(k, v []byte) (Segment, error) {
	var r segmentRec
	if err := decodeValue(v, &r); err != nil {
		return Segment{}, err
	}
	id := PartitionID{Tenant: readBE64(k[0:8]), Topic: readBE64(k[8:16]), Partition: int32(beUint32(k[16:20]))}
	return segmentFromRec(id, readBE64(k[20:28]), r), nil
}

func segmentFromRec(id PartitionID, first int64, r segmentRec) Segment {
	return Segment{Partition: id, Epoch: r.Epoch, ObjectKey: r.ObjectKey, Position: r.Position, Length: r.Length,
		ObjectSize: r.ObjectSize, FirstOffset: first, LastOffset: r.LastOffset, MinTimestamp: r.MinTimestamp,
		MaxTimestamp: r.MaxTimestamp, RecordCount: r.RecordCount, WALSeq: r.WALSeq, CommittedAt: fromMicros(r.Committed)}
}

func segmentToRec(s Segment) segmentRec {
	return segmentRec{Epoch: s.Epoch, ObjectKey: s.ObjectKey, Position: s.Position, Length: s.Length,
		ObjectSize: s.ObjectSize, LastOffset: s.LastOffset, MinTimestamp: s.MinTimestamp,
		MaxTimestamp: s.MaxTimestamp, RecordCount: s.RecordCount, WALSeq: s.WALSeq, Committed: micros(s.CommittedAt)}
}
