package registry

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bktSchemaSettings holds schema registry settings:
// tenant kind NUL subject → value. It is created on first write, so files
// from before it existed open unchanged.
var bktSchemaSettings = []byte("schema_settings")

func schemaSettingKey(tenant int64, subject string, kind SchemaSettingKind) []byte {
	return cat(be64(tenant), []byte(kind), []byte{0}, []byte(subject))
}

// SchemaUsages implements Schemas.
func (e *Embedded) SchemaUsages(ctx context.Context, tenant, id int64, includeDeleted bool) ([]SchemaUsage, error) {
	out := []SchemaUsage{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktSubjects), be64(tenant), func(k, v []byte) (bool, error) {
			var r versionRec
			if err := decodeValue(v, &r); err != nil {
				return false, err
			}
			if r.SchemaID != id || (r.Deleted && !includeDeleted) {
				return true, nil
			}
			subject, rest := splitText(k)
			out = append(out, SchemaUsage{Subject: subject, Version: int(beUint32(rest)), Deleted: r.Deleted})
			return true, nil
		})
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
func (e *Embedded) SchemaSetting(ctx context.Context, tenant int64, subject string, kind SchemaSettingKind) (string, error) {
	if err := validateSchemaSetting(subject, kind, ""); err != nil {
		return "", fmt.Errorf("get schema setting: %w", err)
	}
	var value string
	err := e.view(ctx, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktSchemaSettings); b != nil {
			value = string(b.Get(schemaSettingKey(tenant, subject, kind)))
		}
		if value == "" {
			return notFound("%s of subject %q", kind, subject)
		}
		return nil
	})
	return value, err
}

// SetSchemaSetting implements Schemas.
func (e *Embedded) SetSchemaSetting(ctx context.Context, tenant int64, subject string, kind SchemaSettingKind, value string) error {
	if err := validateSchemaSetting(subject, kind, value); err != nil {
		return fmt.Errorf("set schema setting: %w", err)
	}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, tenant); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bktSchemaSettings)
		if err != nil {
			return err
		}
		k := schemaSettingKey(tenant, subject, kind)
		if value != "" {
			return b.Put(k, []byte(value))
		}
		if b.Get(k) == nil {
			return notFound("%s of subject %q", kind, subject)
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("set %s of subject %q: %w", kind, subject, err)
	}
	return nil
}
