package registry

import (
	"context"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// CreateTenant implements Tenants.
func (e *Embedded) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	if err := validateName("tenant name", name); err != nil {
		return Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	t := Tenant{Name: name, CreatedAt: e.now()}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		names := tx.Bucket(bktTenantNames)
		if names.Get([]byte(name)) != nil {
			return exists("tenant %q", name)
		}
		tenants := tx.Bucket(bktTenants)
		seq, err := tenants.NextSequence()
		if err != nil {
			return err
		}
		t.ID = int64(seq)
		if err := names.Put([]byte(name), be64(t.ID)); err != nil {
			return err
		}
		return putJSON(tenants, be64(t.ID), tenantRec{Name: name, Created: micros(t.CreatedAt)})
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %q: %w", name, err)
	}
	return t, nil
}

// Tenant implements Tenants.
func (e *Embedded) Tenant(ctx context.Context, id int64) (Tenant, error) {
	var t Tenant
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		t, err = getTenant(tx, id)
		return err
	})
	return t, err
}

// TenantByName implements Tenants.
func (e *Embedded) TenantByName(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	err := e.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bktTenantNames).Get([]byte(name))
		if id == nil {
			return notFound("tenant %q", name)
		}
		var err error
		t, err = getTenant(tx, readBE64(id))
		return err
	})
	return t, err
}

// ListTenants implements Tenants.
func (e *Embedded) ListTenants(ctx context.Context) ([]Tenant, error) {
	out := []Tenant{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktTenants).ForEach(func(k, v []byte) error {
			t, err := getTenant(tx, readBE64(k))
			out = append(out, t)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func getTenant(tx *bolt.Tx, id int64) (Tenant, error) {
	var r tenantRec
	ok, err := getJSON(tx.Bucket(bktTenants), be64(id), &r)
	if err != nil {
		return Tenant{}, err
	}
	if !ok {
		return Tenant{}, notFound("tenant %d", id)
	}
	return Tenant{ID: id, Name: r.Name, CreatedAt: fromMicros(r.Created)}, nil
}
