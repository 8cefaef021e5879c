package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const topicCols = `tenant_id, id, name, partitions, durability, retention_ms, retention_bytes, cleanup_policy, created_at, updated_at`

// CreateTopic implements Topics.
func (p *Postgres) CreateTopic(ctx context.Context, tenant int64, spec TopicSpec) (Topic, error) {
	spec, err := topicSpecWithDefaults(spec)
	if err != nil {
		return Topic{}, fmt.Errorf("create topic: %w", err)
	}
	var t Topic
	err = p.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanTopic(tx.QueryRow(ctx, `INSERT INTO topics
			(tenant_id, name, partitions, durability, retention_ms, retention_bytes, cleanup_policy)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+topicCols,
			tenant, spec.Name, spec.Partitions, string(spec.Durability), spec.RetentionMs, spec.RetentionBytes,
			string(spec.CleanupPolicy)))
		switch pgCode(err) {
		case pgUniqueViolation:
			return exists("topic %q in tenant %d", spec.Name, tenant)
		case pgForeignKeyViolation:
			return notFound("tenant %d", tenant)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO partitions (tenant_id, topic_id, partition)
			SELECT $1, $2, g FROM generate_series(0, $3::integer - 1) AS g`, tenant, t.ID, spec.Partitions)
		return err
	})
	if err != nil {
		return Topic{}, fmt.Errorf("create topic %q: %w", spec.Name, mapPgError(err))
	}
	return t, nil
}

// Topic implements Topics.
func (p *Postgres) Topic(ctx context.Context, tenant int64, name string) (Topic, error) {
	t, err := scanTopic(p.pool.QueryRow(ctx, `SELECT `+topicCols+` FROM topics WHERE tenant_id = $1 AND name = $2`, tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Topic{}, notFound("topic %q in tenant %d", name, tenant)
	}
	if err != nil {
		return Topic{}, fmt.Errorf("get topic %q: %w", name, err)
	}
	return t, nil
}

// TopicByID implements Topics.
func (p *Postgres) TopicByID(ctx context.Context, tenant, id int64) (Topic, error) {
	t, err := scanTopic(p.pool.QueryRow(ctx, `SELECT `+topicCols+` FROM topics WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Topic{}, notFound("topic %d in tenant %d", id, tenant)
	}
	if err != nil {
		return Topic{}, fmt.Errorf("get topic %d: %w", id, err)
	}
	return t, nil
}

// ListTopics implements Topics.
func (p *Postgres) ListTopics(ctx context.Context, tenant int64) ([]Topic, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+topicCols+` FROM topics WHERE tenant_id = $1 ORDER BY name COLLATE "C"`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list topics of tenant %d: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Topic, error) { return scanTopic(r) })
	if err != nil {
		return nil, fmt.Errorf("list topics of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// UpdateRetention implements Topics.
func (p *Postgres) UpdateRetention(ctx context.Context, tenant, id int64, retentionMs, retentionBytes int64) (Topic, error) {
	if err := validateRetention(retentionMs, retentionBytes); err != nil {
		return Topic{}, fmt.Errorf("update retention of topic %d: %w", id, err)
	}
	t, err := scanTopic(p.pool.QueryRow(ctx, `UPDATE topics SET retention_ms = $3, retention_bytes = $4,
		updated_at = greatest(now(), created_at) WHERE tenant_id = $1 AND id = $2 RETURNING `+topicCols,
		tenant, id, retentionMs, retentionBytes))
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("topic %d in tenant %d", id, tenant)
	}
	if err != nil {
		return Topic{}, fmt.Errorf("update retention of topic %d: %w", id, mapPgError(err))
	}
	return t, nil
}

// AddPartitions implements Topics.
func (p *Postgres) AddPartitions(ctx context.Context, tenant, id int64, newCount int32) (Topic, error) {
	var t Topic
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var current int32
		err := tx.QueryRow(ctx, `SELECT partitions FROM topics WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			tenant, id).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("topic %d in tenant %d", id, tenant)
		}
		if err != nil {
			return err
		}
		if err := validateNewPartitionCount(current, newCount); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO partitions (tenant_id, topic_id, partition)
			SELECT $1, $2, g FROM generate_series($3::integer, $4::integer - 1) AS g`, tenant, id, current, newCount); err != nil {
			return err
		}
		t, err = scanTopic(tx.QueryRow(ctx, `UPDATE topics SET partitions = $3, updated_at = greatest(now(), created_at)
			WHERE tenant_id = $1 AND id = $2 RETURNING `+topicCols, tenant, id, newCount))
		return err
	})
	if err != nil {
		return Topic{}, fmt.Errorf("add partitions to topic %d: %w", id, mapPgError(err))
	}
	return t, nil
}

// DeleteTopic implements Topics.
func (p *Postgres) DeleteTopic(ctx context.Context, tenant, id int64) (Removed, error) {
	var out Removed
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		out = emptyRemoved() // the transaction may be retried
		// Lock the partitions first, so no segment commit slips in between
		// collecting the segments and the cascade.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM partitions WHERE tenant_id = $1 AND topic_id = $2
			ORDER BY partition FOR UPDATE`, tenant, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM segments WHERE tenant_id = $1 AND topic_id = $2 RETURNING `+segmentCols, tenant, id)
		if err != nil {
			return err
		}
		if out.Segments, err = pgx.CollectRows(rows, scanSegmentRow); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM topics WHERE tenant_id = $1 AND id = $2`, tenant, id)
		if err == nil && tag.RowsAffected() == 0 {
			err = notFound("topic %d in tenant %d", id, tenant)
		}
		if err != nil {
			return err
		}
		out.UnreferencedObjects, err = unreferencedObjects(ctx, tx, out.Segments)
		return err
	})
	if err != nil {
		return Removed{}, fmt.Errorf("delete topic %d of tenant %d: %w", id, tenant, err)
	}
	sortSegments(out.Segments)
	return out, nil
}

// Partition implements Topics.
func (p *Postgres) Partition(ctx context.Context, id PartitionID) (Partition, error) {
	part, err := getPgPartition(ctx, p.pool, id, false)
	if err != nil {
		return Partition{}, fmt.Errorf("get partition %s: %w", id, err)
	}
	return part, nil
}

// ListPartitions implements Topics.
func (p *Postgres) ListPartitions(ctx context.Context, tenant, topic int64) ([]Partition, error) {
	rows, err := p.pool.Query(ctx, `SELECT partition, epoch, high_watermark, log_start_offset, last_wal_seq FROM partitions
		WHERE tenant_id = $1 AND topic_id = $2 ORDER BY partition`, tenant, topic)
	if err != nil {
		return nil, fmt.Errorf("list partitions of topic %d: %w", topic, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partition, error) {
		part := Partition{ID: PartitionID{Tenant: tenant, Topic: topic}}
		var wal int64
		err := r.Scan(&part.ID.Partition, &part.Epoch, &part.HighWatermark, &part.LogStartOffset, &wal)
		part.LastWALSeq = uint64(wal)
		return part, err
	})
	if err == nil && len(out) == 0 { // every topic has a partition
		err = notFound("topic %d in tenant %d", topic, tenant)
	}
	if err != nil {
		return nil, fmt.Errorf("list partitions of topic %d: %w", topic, err)
	}
	return out, nil
}

// BumpEpoch implements Topics.
func (p *Postgres) BumpEpoch(ctx context.Context, id PartitionID, expected int64) (int64, error) {
	var next int64
	err := p.pool.QueryRow(ctx, `UPDATE partitions SET epoch = epoch + 1
		WHERE tenant_id = $1 AND topic_id = $2 AND partition = $3 AND epoch = $4 RETURNING epoch`,
		id.Tenant, id.Topic, id.Partition, expected).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		// Not bumped: say why. The epoch only grows, so what is read now
		// differs from expected as it did at the update.
		var part Partition
		if part, err = getPgPartition(ctx, p.pool, id, false); err == nil {
			err = &EpochError{Partition: id, Expected: expected, Actual: part.Epoch}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("bump epoch of %s: %w", id, err)
	}
	return next, nil
}

// getPgPartition reads a partition row and, if lock (in a transaction),
// locks it against other commits, bumps and retention until the transaction
// ends. FOR NO KEY UPDATE leaves offset commits, which only share-lock the
// key through their foreign key, unblocked.
func getPgPartition(ctx context.Context, q querier, id PartitionID, lock bool) (Partition, error) {
	sql := `SELECT epoch, high_watermark, log_start_offset, last_wal_seq FROM partitions
		WHERE tenant_id = $1 AND topic_id = $2 AND partition = $3`
	if lock {
		sql += ` FOR NO KEY UPDATE`
	}
	part := Partition{ID: id}
	var wal int64
	err := q.QueryRow(ctx, sql, id.Tenant, id.Topic, id.Partition).Scan(&part.Epoch, &part.HighWatermark, &part.LogStartOffset, &wal)
	if errors.Is(err, pgx.ErrNoRows) {
		return Partition{}, notFound("partition %s", id)
	}
	part.LastWALSeq = uint64(wal)
	return part, err
}

func scanTopic(row pgx.Row) (Topic, error) {
	var t Topic
	var durability, cleanup string
	err := row.Scan(&t.TenantID, &t.ID, &t.Name, &t.Partitions, &durability, &t.RetentionMs, &t.RetentionBytes,
		&cleanup, &t.CreatedAt, &t.UpdatedAt)
	t.Durability, t.CleanupPolicy = Durability(durability), CleanupPolicy(cleanup)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, err
}
