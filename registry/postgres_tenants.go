package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CreateTenant implements Tenants.
func (p *Postgres) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	if err := validateName("tenant name", name); err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	t := Tenant{Name: name}
	err := p.pool.QueryRow(ctx, "INSERT INTO tenants (name) VALUES ($1) RETURNING id, created_at", name).Scan(&t.ID, &t.CreatedAt)
	if pgCode(err) == pgUniqueViolation {
		err = exists("tenant %q", name)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %q: %w", name, mapPgError(err))
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Tenant implements Tenants.
func (p *Postgres) Tenant(ctx context.Context, id int64) (Tenant, error) {
	t, err := scanTenant(p.pool.QueryRow(ctx, "SELECT id, name, created_at FROM tenants WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, notFound("tenant %d", id)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %d: %w", id, err)
	}
	return t, nil
}

// TenantByName implements Tenants.
func (p *Postgres) TenantByName(ctx context.Context, name string) (Tenant, error) {
	t, err := scanTenant(p.pool.QueryRow(ctx, "SELECT id, name, created_at FROM tenants WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, notFound("tenant %q", name)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %q: %w", name, err)
	}
	return t, nil
}

// ListTenants implements Tenants.
func (p *Postgres) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, err := p.pool.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scanTenant(r) })
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

func scanTenant(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}
