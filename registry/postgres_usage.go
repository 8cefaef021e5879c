package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL's Usage. AddUsage inserts the key first: a concurrent insert of
// the same key waits for the first transaction and then finds it, so the
// counts are added once; distinct keys add with one upsert each, which row
// locking serialises on the hour's row.

// pgNumericOutOfRange is the SQLSTATE of a bigint overflow.
const pgNumericOutOfRange = "22003"

// AddUsage implements Usage.
func (p *Postgres) AddUsage(ctx context.Context, tenant int64, hour time.Time, u UsageCounts, key string) error {
	if err := validateUsage(hour, u, key); err != nil {
		return fmt.Errorf("add usage of tenant %d: %w", tenant, err)
	}
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM tenants WHERE id = $1", tenant).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("tenant %d", tenant)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO usage_keys (tenant_id, key) VALUES ($1, $2)
			ON CONFLICT (tenant_id, key) DO NOTHING`, tenant, key)
		if err != nil {
			return mapPgError(err)
		}
		if tag.RowsAffected() == 0 {
			return nil // applied before
		}
		_, err = tx.Exec(ctx, `INSERT INTO usage_hours (tenant_id, hour, records_produced, bytes_produced,
				records_consumed, bytes_consumed, storage_byte_hours) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, hour) DO UPDATE SET
				records_produced = usage_hours.records_produced + EXCLUDED.records_produced,
				bytes_produced = usage_hours.bytes_produced + EXCLUDED.bytes_produced,
				records_consumed = usage_hours.records_consumed + EXCLUDED.records_consumed,
				bytes_consumed = usage_hours.bytes_consumed + EXCLUDED.bytes_consumed,
				storage_byte_hours = usage_hours.storage_byte_hours + EXCLUDED.storage_byte_hours`,
			tenant, hour, u.RecordsProduced, u.BytesProduced, u.RecordsConsumed, u.BytesConsumed, u.StorageByteHours)
		if pgCode(err) == pgNumericOutOfRange {
			return &ValidationError{Field: "usage", Reason: "the hour's total would overflow int64"}
		}
		return mapPgError(err)
	})
	if err != nil {
		return fmt.Errorf("add usage of tenant %d at %s: %w", tenant, hour.Format(time.RFC3339), err)
	}
	return nil
}

// Usage implements Usage.
func (p *Postgres) Usage(ctx context.Context, tenant int64, from, to time.Time) ([]HourUsageRow, error) {
	rows, err := p.pool.Query(ctx, `SELECT hour, records_produced, bytes_produced, records_consumed,
			bytes_consumed, storage_byte_hours
		FROM usage_hours WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour`, tenant, from, to)
	if err != nil {
		return nil, fmt.Errorf("usage of tenant %d: %w", tenant, err)
	}
	out := []HourUsageRow{}
	var r HourUsageRow
	_, err = pgx.ForEachRow(rows, []any{&r.Hour, &r.Usage.RecordsProduced, &r.Usage.BytesProduced,
		&r.Usage.RecordsConsumed, &r.Usage.BytesConsumed, &r.Usage.StorageByteHours}, func() error {
		r.Hour = r.Hour.UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// StorageBytes implements Usage: one GROUP BY over the segment index.
func (p *Postgres) StorageBytes(ctx context.Context) (map[int64]int64, error) {
	rows, err := p.pool.Query(ctx, `SELECT tenant_id, sum(length)::bigint FROM segments GROUP BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("storage bytes: %w", err)
	}
	out := map[int64]int64{}
	var tenant, size int64
	_, err = pgx.ForEachRow(rows, []any{&tenant, &size}, func() error {
		out[tenant] = size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage bytes: %w", err)
	}
	return out, nil
}

// PruneUsageKeys implements Usage.
func (p *Postgres) PruneUsageKeys(ctx context.Context, before time.Time) (int, error) {
	tag, err := p.pool.Exec(ctx, "DELETE FROM usage_keys WHERE recorded_at < $1", before)
	if err != nil {
		return 0, fmt.Errorf("prune usage keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
