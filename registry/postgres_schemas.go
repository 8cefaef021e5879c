package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const schemaCols = `s.tenant_id, s.id, s.schema_type, s.schema_text, s.canonical, s.refs`

// RegisterSchema implements Schemas.
func (p *Postgres) RegisterSchema(ctx context.Context, tenant int64, subject string, spec SchemaSpec) (SubjectVersion, error) {
	spec, err := schemaSpecWithDefaults(subject, spec)
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("register schema: %w", err)
	}
	fp := schemaFingerprint(spec)
	var out SubjectVersion
	err = p.inTx(ctx, func(tx pgx.Tx) error {
		lastID, err := lockTenantSchemas(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if out, err = findPgLiveVersion(ctx, tx, tenant, subject, fp); !errors.Is(err, pgx.ErrNoRows) {
			return err // found (nil) or failed
		}
		if spec.IfLatest != nil {
			// The tenant's row lock above keeps other schema writes out
			// until this transaction ends.
			var latest int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM subject_versions
				WHERE tenant_id = $1 AND subject = $2 AND NOT deleted`, tenant, subject).Scan(&latest); err != nil {
				return err
			}
			if latest != *spec.IfLatest {
				return fmt.Errorf("latest live version is %d, not %d: %w", latest, *spec.IfLatest, ErrLatestMoved)
			}
		}
		for _, r := range spec.References {
			if _, err := getPgSubjectVersion(ctx, tx, tenant, r.Subject, r.Version, false); err != nil {
				return fmt.Errorf("reference %q: %w", r.Name, err)
			}
		}
		var id int64
		err = tx.QueryRow(ctx, `SELECT id FROM schemas WHERE tenant_id = $1 AND fingerprint = $2`, tenant, fp).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			id = lastID + 1
			if _, err = tx.Exec(ctx, `UPDATE tenants SET last_schema_id = $2 WHERE id = $1`, tenant, id); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO schemas (tenant_id, id, schema_type, schema_text, canonical, fingerprint, refs)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenant, id, string(spec.Type), spec.Text, spec.Canonical, fp, spec.References)
		}
		if err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `INSERT INTO subject_versions (tenant_id, subject, version, schema_id)
			SELECT $1, $2, coalesce(max(version), 0) + 1, $3 FROM subject_versions WHERE tenant_id = $1 AND subject = $2
			RETURNING version`, tenant, subject, id).Scan(&version); err != nil {
			return err
		}
		out, err = getPgSubjectVersion(ctx, tx, tenant, subject, version, false)
		return err
	})
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("register schema under %q: %w", subject, mapPgError(err))
	}
	return out, nil
}

// LookupSchema implements Schemas.
func (p *Postgres) LookupSchema(ctx context.Context, tenant int64, subject string, spec SchemaSpec) (SubjectVersion, error) {
	spec, err := schemaSpecWithDefaults(subject, spec)
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("look up schema: %w", err)
	}
	out, err := findPgLiveVersion(ctx, p.pool, tenant, subject, schemaFingerprint(spec))
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("schema under subject %q", subject)
	}
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("look up schema under %q: %w", subject, err)
	}
	return out, nil
}

// SchemaByID implements Schemas.
func (p *Postgres) SchemaByID(ctx context.Context, tenant, id int64) (Schema, error) {
	s, err := scanSchema(p.pool.QueryRow(ctx, `SELECT `+schemaCols+` FROM schemas s WHERE s.tenant_id = $1 AND s.id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Schema{}, notFound("schema %d in tenant %d", id, tenant)
	}
	if err != nil {
		return Schema{}, fmt.Errorf("get schema %d: %w", id, err)
	}
	return s, nil
}

// SubjectVersion implements Schemas.
func (p *Postgres) SubjectVersion(ctx context.Context, tenant int64, subject string, version int, includeDeleted bool) (SubjectVersion, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return SubjectVersion{}, fmt.Errorf("get subject version: %w", err)
	}
	sv, err := getPgSubjectVersion(ctx, p.pool, tenant, subject, version, includeDeleted)
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("get version %d of %q: %w", version, subject, err)
	}
	return sv, nil
}

// ListSubjects implements Schemas.
func (p *Postgres) ListSubjects(ctx context.Context, tenant int64, includeDeleted bool) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT subject FROM subject_versions WHERE tenant_id = $1 AND ($2 OR NOT deleted)
		GROUP BY subject ORDER BY subject COLLATE "C"`, tenant, includeDeleted)
	if err != nil {
		return nil, fmt.Errorf("list subjects of tenant %d: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list subjects of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// ListVersions implements Schemas.
func (p *Postgres) ListVersions(ctx context.Context, tenant int64, subject string, includeDeleted bool) ([]int, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	out, err := listPgVersions(ctx, p.pool, tenant, subject, includeDeleted)
	if err == nil && len(out) == 0 {
		err = notFound("subject %q", subject)
	}
	if err != nil {
		return nil, fmt.Errorf("list versions of %q: %w", subject, err)
	}
	return out, nil
}

// DeleteSchemaVersion implements Schemas.
func (p *Postgres) DeleteSchemaVersion(ctx context.Context, tenant int64, subject string, version int, permanent bool) error {
	if err := validateFreeName("subject", subject); err != nil {
		return fmt.Errorf("delete schema version: %w", err)
	}
	if err := validateVersion(version); err != nil {
		return fmt.Errorf("delete schema version: %w", err)
	}
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockTenantSchemas(ctx, tx, tenant); err != nil {
			return err
		}
		return deletePgVersion(ctx, tx, tenant, subject, version, permanent)
	})
	if err != nil {
		return fmt.Errorf("delete version %d of %q: %w", version, subject, err)
	}
	return nil
}

// DeleteSubject implements Schemas.
func (p *Postgres) DeleteSubject(ctx context.Context, tenant int64, subject string, permanent bool) ([]int, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return nil, fmt.Errorf("delete subject: %w", err)
	}
	var deleted []int
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockTenantSchemas(ctx, tx, tenant); err != nil {
			return err
		}
		var err error
		if deleted, err = listPgVersions(ctx, tx, tenant, subject, permanent); err != nil {
			return err
		}
		if len(deleted) == 0 {
			return notFound("subject %q", subject)
		}
		for _, v := range deleted {
			if err := deletePgVersion(ctx, tx, tenant, subject, v, permanent); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete subject %q: %w", subject, err)
	}
	return deleted, nil
}

// lockTenantSchemas locks the tenant's row against other schema writes (FOR
// NO KEY UPDATE leaves topic inserts, which only share-lock the key, free) and
// returns the last schema id given.
func lockTenantSchemas(ctx context.Context, tx pgx.Tx, tenant int64) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, `SELECT last_schema_id FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, tenant).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("tenant %d", tenant)
	}
	return last, err
}

func deletePgVersion(ctx context.Context, tx pgx.Tx, tenant int64, subject string, version int, permanent bool) error {
	var schemaID int64
	var deleted bool
	err := tx.QueryRow(ctx, `SELECT schema_id, deleted FROM subject_versions
		WHERE tenant_id = $1 AND subject = $2 AND version = $3`, tenant, subject, version).Scan(&schemaID, &deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return notFound("version %d of subject %q", version, subject)
	case err != nil:
		return err
	case !permanent && deleted:
		return notFound("live version %d of subject %q", version, subject)
	case !permanent:
		_, err = tx.Exec(ctx, `UPDATE subject_versions SET deleted = true
			WHERE tenant_id = $1 AND subject = $2 AND version = $3`, tenant, subject, version)
		return err
	case !deleted:
		return &ValidationError{Field: "version", Value: fmt.Sprint(version),
			Reason: "not soft-deleted; soft delete it before deleting it permanently"}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM subject_versions WHERE tenant_id = $1 AND subject = $2 AND version = $3`,
		tenant, subject, version); err != nil {
		return err
	}
	// Drop the schema if no version anywhere in the tenant uses it now.
	_, err = tx.Exec(ctx, `DELETE FROM schemas s WHERE s.tenant_id = $1 AND s.id = $2
		AND NOT EXISTS (SELECT 1 FROM subject_versions v WHERE v.tenant_id = $1 AND v.schema_id = $2)`, tenant, schemaID)
	return err
}

// findPgLiveVersion returns the subject's live version of the schema with
// the fingerprint; none is pgx.ErrNoRows.
func findPgLiveVersion(ctx context.Context, q querier, tenant int64, subject, fp string) (SubjectVersion, error) {
	return scanSubjectVersion(q.QueryRow(ctx, `SELECT v.subject, v.version, v.deleted, `+schemaCols+`
		FROM subject_versions v JOIN schemas s ON s.tenant_id = v.tenant_id AND s.id = v.schema_id
		WHERE v.tenant_id = $1 AND v.subject = $2 AND NOT v.deleted AND s.fingerprint = $3
		ORDER BY v.version LIMIT 1`, tenant, subject, fp))
}

func getPgSubjectVersion(ctx context.Context, q querier, tenant int64, subject string, version int, includeDeleted bool) (SubjectVersion, error) {
	if version != LatestVersion && validateVersion(version) != nil {
		return SubjectVersion{}, notFound("version %d of subject %q", version, subject)
	}
	sv, err := scanSubjectVersion(q.QueryRow(ctx, `SELECT v.subject, v.version, v.deleted, `+schemaCols+`
		FROM subject_versions v JOIN schemas s ON s.tenant_id = v.tenant_id AND s.id = v.schema_id
		WHERE v.tenant_id = $1 AND v.subject = $2 AND ($3 = -1 OR v.version = $3) AND ($4 OR NOT v.deleted)
		ORDER BY v.version DESC LIMIT 1`, tenant, subject, version, includeDeleted))
	if errors.Is(err, pgx.ErrNoRows) {
		if version == LatestVersion {
			return SubjectVersion{}, notFound("subject %q", subject)
		}
		return SubjectVersion{}, notFound("version %d of subject %q", version, subject)
	}
	return sv, err
}

func listPgVersions(ctx context.Context, q querier, tenant int64, subject string, includeDeleted bool) ([]int, error) {
	rows, err := q.Query(ctx, `SELECT version FROM subject_versions WHERE tenant_id = $1 AND subject = $2
		AND ($3 OR NOT deleted) ORDER BY version`, tenant, subject, includeDeleted)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func scanSubjectVersion(row pgx.Row) (SubjectVersion, error) {
	var sv SubjectVersion
	var typ string
	err := row.Scan(&sv.Subject, &sv.Version, &sv.Deleted, &sv.Schema.TenantID, &sv.Schema.ID, &typ,
		&sv.Schema.Text, &sv.Schema.Canonical, &sv.Schema.References)
	sv.Schema.Type = SchemaType(typ)
	if sv.Schema.References == nil {
		sv.Schema.References = []SchemaReference{}
	}
	return sv, err
}

func scanSchema(row pgx.Row) (Schema, error) {
	var s Schema
	var typ string
	err := row.Scan(&s.TenantID, &s.ID, &typ, &s.Text, &s.Canonical, &s.References)
	s.Type = SchemaType(typ)
	if s.References == nil {
		s.References = []SchemaReference{}
	}
	return s, err
}
