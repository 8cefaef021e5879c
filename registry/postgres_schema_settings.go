package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaUsages implements Schemas.
func (p *Postgres) SchemaUsages(ctx context.Context, tenant, id int64, includeDeleted bool) ([]SchemaUsage, error) {
	rows, err := p.pool.Query(ctx, `SELECT subject, version, deleted FROM subject_versions
		WHERE tenant_id = $1 AND schema_id = $2 AND ($3 OR NOT deleted)
		ORDER BY subject COLLATE "C", version`, tenant, id, includeDeleted)
	if err != nil {
		return nil, fmt.Errorf("usages of schema %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SchemaUsage, error) {
		var u SchemaUsage
		err := row.Scan(&u.Subject, &u.Version, &u.Deleted)
		return u, err
	})
	if err == nil && len(out) == 0 {
		err = notFound("schema %d in tenant %d", id, tenant)
	}
	if err != nil {
		return nil, fmt.Errorf("usages of schema %d: %w", id, err)
	}
	return out, nil
}

// SchemaSetting implements Schemas.
func (p *Postgres) SchemaSetting(ctx context.Context, tenant int64, subject string, kind SchemaSettingKind) (string, error) {
	if err := validateSchemaSetting(subject, kind, ""); err != nil {
		return "", fmt.Errorf("get schema setting: %w", err)
	}
	var value string
	err := p.pool.QueryRow(ctx, `SELECT value FROM schema_settings WHERE tenant_id = $1 AND kind = $2 AND subject = $3`,
		tenant, string(kind), subject).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("%s of subject %q", kind, subject)
	}
	if err != nil {
		return "", fmt.Errorf("get %s of subject %q: %w", kind, subject, err)
	}
	return value, nil
}

// SetSchemaSetting implements Schemas.
func (p *Postgres) SetSchemaSetting(ctx context.Context, tenant int64, subject string, kind SchemaSettingKind, value string) error {
	if err := validateSchemaSetting(subject, kind, value); err != nil {
		return fmt.Errorf("set schema setting: %w", err)
	}
	var err error
	if value == "" {
		var tag pgconn.CommandTag
		tag, err = p.pool.Exec(ctx, `DELETE FROM schema_settings WHERE tenant_id = $1 AND kind = $2 AND subject = $3`,
			tenant, string(kind), subject)
		if err == nil && tag.RowsAffected() == 0 {
			err = notFound("%s of subject %q", kind, subject)
		}
	} else {
		_, err = p.pool.Exec(ctx, `INSERT INTO schema_settings (tenant_id, subject, kind, value) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, kind, subject) DO UPDATE SET value = EXCLUDED.value`, tenant, subject, string(kind), value)
		err = mapPgError(err)
	}
	if err != nil {
		return fmt.Errorf("set %s of subject %q: %w", kind, subject, err)
	}
	return nil
}
