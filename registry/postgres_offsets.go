package registry

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// CommitOffsets implements Offsets.
func (p *Postgres) CommitOffsets(ctx context.Context, tenant int64, group string, offsets []GroupOffset) error {
	if err := validateGroupOffsets(tenant, group, offsets); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	if len(offsets) == 0 {
		return nil
	}
	// In key order, so that concurrent commits and topic deletions lock the
	// partitions in one order.
	sorted := slices.Clone(offsets)
	slices.SortFunc(sorted, func(a, b GroupOffset) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	topics := make([]int64, len(sorted))
	parts := make([]int32, len(sorted))
	offs := make([]int64, len(sorted))
	metas := make([]string, len(sorted))
	for i, o := range sorted {
		topics[i], parts[i], offs[i], metas[i] = o.Topic, o.Partition, o.Offset, o.Metadata
	}
	// One statement, so all or nothing; a partition not in the tenant breaks
	// the foreign key.
	_, err := p.pool.Exec(ctx, `INSERT INTO group_offsets
		(tenant_id, group_id, topic_id, partition, committed_offset, metadata)
		SELECT $1, $2, t, p, o, m FROM unnest($3::bigint[], $4::integer[], $5::bigint[], $6::text[]) AS u (t, p, o, m)
		ON CONFLICT (tenant_id, group_id, topic_id, partition) DO UPDATE SET
			committed_offset = excluded.committed_offset, metadata = excluded.metadata, committed_at = now()`,
		tenant, group, topics, parts, offs, metas)
	if err != nil {
		return fmt.Errorf("commit offsets of group %q in tenant %d: %w", group, tenant, mapPgError(err))
	}
	return nil
}

// FetchOffsets implements Offsets.
func (p *Postgres) FetchOffsets(ctx context.Context, tenant int64, group string) ([]GroupOffset, error) {
	if err := validateFreeName("group id", group); err != nil {
		return nil, fmt.Errorf("fetch offsets: %w", err)
	}
	rows, err := p.pool.Query(ctx, `SELECT topic_id, partition, committed_offset, metadata, committed_at
		FROM group_offsets WHERE tenant_id = $1 AND group_id = $2 ORDER BY topic_id, partition`, tenant, group)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GroupOffset, error) {
		var o GroupOffset
		err := r.Scan(&o.Topic, &o.Partition, &o.Offset, &o.Metadata, &o.CommittedAt)
		o.CommittedAt = o.CommittedAt.UTC()
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	return out, nil
}

// ListGroups implements Offsets.
func (p *Postgres) ListGroups(ctx context.Context, tenant int64) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT group_id FROM group_offsets WHERE tenant_id = $1
		GROUP BY group_id ORDER BY group_id COLLATE "C"`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list groups of tenant %d: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list groups of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// DeleteGroup implements Offsets.
func (p *Postgres) DeleteGroup(ctx context.Context, tenant int64, group string) error {
	if err := validateFreeName("group id", group); err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	tag, err := p.pool.Exec(ctx, `DELETE FROM group_offsets WHERE tenant_id = $1 AND group_id = $2`, tenant, group)
	if err == nil && tag.RowsAffected() == 0 {
		err = notFound("group %q in tenant %d", group, tenant)
	}
	if err != nil {
		return fmt.Errorf("delete group %q: %w", group, err)
	}
	return nil
}
