package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

const segmentCols = `tenant_id, topic_id, partition, epoch, object_key, position, length, object_size,
	first_offset, last_offset, min_timestamp, max_timestamp, record_count, wal_seq, committed_at`

const wherePartition = `tenant_id = $1 AND topic_id = $2 AND partition = $3`

// CommitSegment implements SegmentIndex.
func (p *Postgres) CommitSegment(ctx context.Context, s Segment) error {
	if err := validateSegment(s); err != nil {
		return fmt.Errorf("commit segment: %w", err)
	}
	err := p.inTx(ctx, func(tx pgx.Tx) error { return commitSegmentTx(ctx, tx, s) })
	if err != nil {
		return fmt.Errorf("commit segment %s@%d: %w", s.Partition, s.FirstOffset, err)
	}
	return nil
}

// CommitSegments implements SegmentIndex.
func (p *Postgres) CommitSegments(ctx context.Context, segs []Segment) error {
	sorted, err := prepareSegments(segs)
	if err != nil {
		return fmt.Errorf("commit segments: %w", err)
	}
	if len(sorted) == 0 {
		return nil
	}
	return p.inTx(ctx, func(tx pgx.Tx) error {
		for _, s := range sorted { // sorted: rows are locked in one order, no deadlock
			if err := commitSegmentTx(ctx, tx, s); err != nil {
				return fmt.Errorf("commit segments: segment %s@%d: %w", s.Partition, s.FirstOffset, err)
			}
		}
		return nil
	})
}

// commitSegmentTx locks the partition row, checks epoch and watermark, then
// inserts the row and advances the watermark.
func commitSegmentTx(ctx context.Context, tx pgx.Tx, s Segment) error {
	part, err := getPgPartition(ctx, tx, s.Partition, true)
	if err != nil {
		return err
	}
	if part.Epoch != s.Epoch {
		return &EpochError{Partition: s.Partition, Expected: s.Epoch, Actual: part.Epoch}
	}
	if part.HighWatermark != s.FirstOffset {
		return &OffsetError{Partition: s.Partition, Want: part.HighWatermark, Got: s.FirstOffset}
	}
	_, err = tx.Exec(ctx, `INSERT INTO segments (tenant_id, topic_id, partition, epoch, object_key, position, length,
		object_size, first_offset, last_offset, min_timestamp, max_timestamp, record_count, wal_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		s.Partition.Tenant, s.Partition.Topic, s.Partition.Partition, s.Epoch, s.ObjectKey, s.Position, s.Length,
		s.ObjectSize, s.FirstOffset, s.LastOffset, s.MinTimestamp, s.MaxTimestamp, s.RecordCount, int64(s.WALSeq))
	if err != nil {
		return mapPgError(err)
	}
	_, err = tx.Exec(ctx, `UPDATE partitions SET high_watermark = $4, last_wal_seq = greatest(last_wal_seq, $5)
		WHERE `+wherePartition, s.Partition.Tenant, s.Partition.Topic, s.Partition.Partition, s.LastOffset+1, int64(s.WALSeq))
	return err
}

// ListSegments implements SegmentIndex.
func (p *Postgres) ListSegments(ctx context.Context, id PartitionID, from int64, limit int) ([]Segment, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	// Two index range scans: the segment holding from, then on.
	rows, err := p.pool.Query(ctx, `SELECT `+segmentCols+` FROM segments WHERE `+wherePartition+`
		AND first_offset >= coalesce((SELECT max(first_offset) FROM segments WHERE `+wherePartition+`
			AND first_offset <= $4), 0)
		AND last_offset >= $4 ORDER BY first_offset LIMIT $5`,
		id.Tenant, id.Topic, id.Partition, from, lim)
	if err != nil {
		return nil, fmt.Errorf("list segments of %s from %d: %w", id, from, err)
	}
	out, err := pgx.CollectRows(rows, scanSegmentRow)
	if err == nil && len(out) == 0 {
		out = []Segment{}
		_, err = getPgPartition(ctx, p.pool, id, false)
	}
	if err != nil {
		return nil, fmt.Errorf("list segments of %s from %d: %w", id, from, err)
	}
	return out, nil
}

// SegmentAt implements SegmentIndex.
func (p *Postgres) SegmentAt(ctx context.Context, id PartitionID, offset int64) (Segment, error) {
	s, err := p.oneSegment(ctx, id, `first_offset <= $4 ORDER BY first_offset DESC`, offset)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && s.LastOffset < offset {
		err = notFound("segment holding offset %d", offset)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("find segment of %s at %d: %w", id, offset, err)
	}
	return s, nil
}

// SegmentAtTime implements SegmentIndex.
func (p *Postgres) SegmentAtTime(ctx context.Context, id PartitionID, ts int64) (Segment, error) {
	s, err := p.oneSegment(ctx, id, `max_timestamp >= $4 ORDER BY first_offset`, ts)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("segment with timestamps at or after %d", ts)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("find segment of %s at time %d: %w", id, ts, err)
	}
	return s, nil
}

// LatestSegment implements SegmentIndex.
func (p *Postgres) LatestSegment(ctx context.Context, id PartitionID) (Segment, error) {
	s, err := p.oneSegment(ctx, id, `true ORDER BY first_offset DESC`)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("committed segment")
	}
	if err != nil {
		return Segment{}, fmt.Errorf("find latest segment of %s: %w", id, err)
	}
	return s, nil
}

// oneSegment returns the first segment of the partition matching cond (which
// may use $4 = arg and ends with an ORDER BY). No such segment is
// pgx.ErrNoRows; no such partition is ErrNotFound.
func (p *Postgres) oneSegment(ctx context.Context, id PartitionID, cond string, arg ...any) (Segment, error) {
	args := append([]any{id.Tenant, id.Topic, id.Partition}, arg...)
	s, err := scanSegment(p.pool.QueryRow(ctx, `SELECT `+segmentCols+` FROM segments WHERE `+wherePartition+
		` AND `+cond+` LIMIT 1`, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, perr := getPgPartition(ctx, p.pool, id, false); perr != nil {
			return Segment{}, perr
		}
	}
	return s, err
}

// DeleteSegmentsBefore implements SegmentIndex.
func (p *Postgres) DeleteSegmentsBefore(ctx context.Context, id PartitionID, epoch, newLogStart int64) (Removed, error) {
	var out Removed
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		out = emptyRemoved() // the transaction may be retried
		part, err := getPgPartition(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if epoch != AnyEpoch && part.Epoch != epoch {
			return &EpochError{Partition: id, Expected: epoch, Actual: part.Epoch}
		}
		if newLogStart > part.HighWatermark {
			return logStartPastHighWatermark(newLogStart, part.HighWatermark)
		}
		if newLogStart <= part.LogStartOffset {
			return nil
		}
		rows, err := tx.Query(ctx, `DELETE FROM segments WHERE `+wherePartition+` AND last_offset < $4 RETURNING `+segmentCols,
			id.Tenant, id.Topic, id.Partition, newLogStart)
		if err != nil {
			return err
		}
		if out.Segments, err = pgx.CollectRows(rows, scanSegmentRow); err != nil {
			return err
		}
		if out.UnreferencedObjects, err = unreferencedObjects(ctx, tx, out.Segments); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE partitions SET log_start_offset = $4 WHERE `+wherePartition,
			id.Tenant, id.Topic, id.Partition, newLogStart)
		return err
	})
	if err != nil {
		return Removed{}, fmt.Errorf("delete segments of %s before %d: %w", id, newLogStart, err)
	}
	sortSegments(out.Segments)
	return out, nil
}

// PartitionSizes implements SegmentIndex: one GROUP BY over the topic's
// partitions, left-joined to their segments (so empty partitions count, and
// no row means no topic).
func (p *Postgres) PartitionSizes(ctx context.Context, tenant, topic int64) (map[int32]PartitionSize, error) {
	rows, err := p.pool.Query(ctx, `SELECT p.partition, coalesce(sum(s.length), 0)::bigint, count(s.partition)
		FROM partitions p LEFT JOIN segments s
			ON s.tenant_id = p.tenant_id AND s.topic_id = p.topic_id AND s.partition = p.partition
		WHERE p.tenant_id = $1 AND p.topic_id = $2 GROUP BY p.partition`, tenant, topic)
	if err != nil {
		return nil, fmt.Errorf("partition sizes of topic %d: %w", topic, err)
	}
	out := map[int32]PartitionSize{}
	var part int32
	var size PartitionSize
	_, err = pgx.ForEachRow(rows, []any{&part, &size.Bytes, &size.Segments}, func() error {
		out[part] = size
		return nil
	})
	if err == nil && len(out) == 0 { // every topic has a partition
		err = notFound("topic %d in tenant %d", topic, tenant)
	}
	if err != nil {
		return nil, fmt.Errorf("partition sizes of topic %d: %w", topic, err)
	}
	return out, nil
}

// objectLockClass is the first key of the pg_advisory_xact_lock(int, int)
// locks that unreferencedObjects takes per object key.
const objectLockClass int32 = 0x53484f42 // "SHOB"

// unreferencedObjects returns the distinct object keys of removed, sorted,
// that no segment row refers to any more. tx has already deleted removed's
// rows. Two transactions each removing the last-but-one reference to an
// object would, under READ COMMITTED, each still see the other's row and
// neither report the object; so the check first takes a transaction-level
// advisory lock per object key (in sorted order: no deadlock among them),
// and a statement run after the other transaction commits sees its delete.
// The lookups use the segments_object_key index.
func unreferencedObjects(ctx context.Context, tx pgx.Tx, removed []Segment) ([]string, error) {
	keys := make([]string, 0, len(removed))
	for _, s := range removed {
		keys = append(keys, s.ObjectKey)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return []string{}, nil
	}
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, objectLockClass, k); err != nil {
			return nil, err
		}
	}
	rows, err := tx.Query(ctx, `SELECT k FROM unnest($1::text[]) AS k
		WHERE NOT EXISTS (SELECT 1 FROM segments WHERE object_key = k)`, keys)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	slices.Sort(out) // bytewise, whatever the database's collation
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func scanSegmentRow(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) }

func scanSegment(row pgx.Row) (Segment, error) {
	var s Segment
	var wal int64
	err := row.Scan(&s.Partition.Tenant, &s.Partition.Topic, &s.Partition.Partition, &s.Epoch, &s.ObjectKey,
		&s.Position, &s.Length, &s.ObjectSize, &s.FirstOffset, &s.LastOffset, &s.MinTimestamp, &s.MaxTimestamp,
		&s.RecordCount, &wal, &s.CommittedAt)
	s.WALSeq, s.CommittedAt = uint64(wal), s.CommittedAt.UTC()
	return s, err
}
