package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RegisterSchema implements Schemas.
func (e *Embedded) RegisterSchema(ctx context.Context, tenant int64, subject string, spec SchemaSpec) (SubjectVersion, error) {
	spec, err := schemaSpecWithDefaults(subject, spec)
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("register schema: %w", err)
	}
	fp := schemaFingerprint(spec)
	var out SubjectVersion
	err = e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, tenant); err != nil {
			return err
		}
		if sv, ok, err := findLiveVersion(tx, tenant, subject, fp); err != nil || ok {
			out = sv
			return err
		}
		if spec.IfLatest != nil {
			live, err := listVersions(tx, tenant, subject, func(r versionRec) bool { return !r.Deleted })
			if err != nil {
				return err
			}
			if latest := lastOr0(live); latest != *spec.IfLatest {
				return fmt.Errorf("latest live version is %d, not %d: %w", latest, *spec.IfLatest, ErrLatestMoved)
			}
		}
		for _, r := range spec.References {
			if _, err := getSubjectVersion(tx, tenant, r.Subject, r.Version, false); err != nil {
				return fmt.Errorf("reference %q: %w", r.Name, err)
			}
		}
		fps := tx.Bucket(bktSchemaFPs)
		fpKey := cat(be64(tenant), []byte(fp))
		var id int64
		if raw := fps.Get(fpKey); raw != nil {
			id = readBE64(raw)
		} else {
			ids := tx.Bucket(bktSchemaIDs)
			if raw := ids.Get(be64(tenant)); raw != nil {
				id = readBE64(raw)
			}
			id++
			if err := ids.Put(be64(tenant), be64(id)); err != nil {
				return err
			}
			if err := fps.Put(fpKey, be64(id)); err != nil {
				return err
			}
			rec := schemaRec{Type: string(spec.Type), Text: spec.Text, Canonical: spec.Canonical, References: spec.References}
			if err := putJSON(tx.Bucket(bktSchemas), cat(be64(tenant), be64(id)), rec); err != nil {
				return err
			}
		}
		version := 1
		c := tx.Bucket(bktSubjects).Cursor()
		prefix := subjectPrefix(tenant, subject)
		if k, _ := seekLast(c, prefix); k != nil {
			version = int(beUint32(k[len(prefix):])) + 1
		}
		if err := putJSON(tx.Bucket(bktSubjects), versionKey(tenant, subject, version),
			versionRec{SchemaID: id, Created: micros(e.now())}); err != nil {
			return err
		}
		var err error
		out, err = getSubjectVersion(tx, tenant, subject, version, false)
		return err
	})
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("register schema under %q: %w", subject, err)
	}
	return out, nil
}

// LookupSchema implements Schemas.
func (e *Embedded) LookupSchema(ctx context.Context, tenant int64, subject string, spec SchemaSpec) (SubjectVersion, error) {
	spec, err := schemaSpecWithDefaults(subject, spec)
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("look up schema: %w", err)
	}
	var out SubjectVersion
	err = e.view(ctx, func(tx *bolt.Tx) error {
		sv, ok, err := findLiveVersion(tx, tenant, subject, schemaFingerprint(spec))
		if err == nil && !ok {
			err = notFound("schema under subject %q", subject)
		}
		out = sv
		return err
	})
	if err != nil {
		return SubjectVersion{}, fmt.Errorf("look up schema under %q: %w", subject, err)
	}
	return out, nil
}

// SchemaByID implements Schemas.
func (e *Embedded) SchemaByID(ctx context.Context, tenant, id int64) (Schema, error) {
	var s Schema
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		s, err = getSchema(tx, tenant, id)
		return err
	})
	return s, err
}

// SubjectVersion implements Schemas.
func (e *Embedded) SubjectVersion(ctx context.Context, tenant int64, subject string, version int, includeDeleted bool) (SubjectVersion, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return SubjectVersion{}, fmt.Errorf("get subject version: %w", err)
	}
	var out SubjectVersion
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getSubjectVersion(tx, tenant, subject, version, includeDeleted)
		return err
	})
	return out, err
}

// ListSubjects implements Schemas.
func (e *Embedded) ListSubjects(ctx context.Context, tenant int64, includeDeleted bool) ([]string, error) {
	out := []string{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktSubjects), be64(tenant), func(k, v []byte) (bool, error) {
			subject, _ := splitText(k)
			if len(out) > 0 && out[len(out)-1] == subject {
				return true, nil
			}
			var r versionRec
			if err := decodeValue(v, &r); err != nil {
				return false, err
			}
			if includeDeleted || !r.Deleted {
				out = append(out, subject)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list subjects of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// ListVersions implements Schemas.
func (e *Embedded) ListVersions(ctx context.Context, tenant int64, subject string, includeDeleted bool) ([]int, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	var out []int
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = listVersions(tx, tenant, subject, func(r versionRec) bool { return includeDeleted || !r.Deleted })
		if err == nil && len(out) == 0 {
			err = notFound("subject %q", subject)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list versions of %q: %w", subject, err)
	}
	return out, nil
}

// DeleteSchemaVersion implements Schemas.
func (e *Embedded) DeleteSchemaVersion(ctx context.Context, tenant int64, subject string, version int, permanent bool) error {
	if err := validateFreeName("subject", subject); err != nil {
		return fmt.Errorf("delete schema version: %w", err)
	}
	if err := validateVersion(version); err != nil {
		return fmt.Errorf("delete schema version: %w", err)
	}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		return deleteVersionTx(tx, tenant, subject, version, permanent)
	})
	if err != nil {
		return fmt.Errorf("delete version %d of %q: %w", version, subject, err)
	}
	return nil
}

// DeleteSubject implements Schemas.
func (e *Embedded) DeleteSubject(ctx context.Context, tenant int64, subject string, permanent bool) ([]int, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return nil, fmt.Errorf("delete subject: %w", err)
	}
	var deleted []int
	err := e.update(ctx, func(tx *bolt.Tx) error {
		var err error
		deleted, err = listVersions(tx, tenant, subject, func(r versionRec) bool { return permanent || !r.Deleted })
		if err != nil {
			return err
		}
		if len(deleted) == 0 {
			return notFound("subject %q", subject)
		}
		for _, v := range deleted {
			if err := deleteVersionTx(tx, tenant, subject, v, permanent); err != nil {
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

func deleteVersionTx(tx *bolt.Tx, tenant int64, subject string, version int, permanent bool) error {
	b := tx.Bucket(bktSubjects)
	k := versionKey(tenant, subject, version)
	var r versionRec
	ok, err := getJSON(b, k, &r)
	switch {
	case err != nil:
		return err
	case !ok:
		return notFound("version %d of subject %q", version, subject)
	case !permanent && r.Deleted:
		return notFound("live version %d of subject %q", version, subject)
	case !permanent:
		r.Deleted = true
		return putJSON(b, k, r)
	case !r.Deleted:
		return &ValidationError{Field: "version", Value: fmt.Sprint(version),
			Reason: "not soft-deleted; soft delete it before deleting it permanently"}
	}
	if err := b.Delete(k); err != nil {
		return err
	}
	// Drop the schema if no version anywhere in the tenant uses it now.
	used := false
	err = prefixScan(b, be64(tenant), func(_, v []byte) (bool, error) {
		var o versionRec
		if err := decodeValue(v, &o); err != nil {
			return false, err
		}
		used = o.SchemaID == r.SchemaID
		return !used, nil
	})
	if err != nil || used {
		return err
	}
	s, err := getSchema(tx, tenant, r.SchemaID)
	if err != nil {
		return err
	}
	fp := schemaFingerprint(SchemaSpec{Type: s.Type, Canonical: s.Canonical, References: s.References})
	if err := tx.Bucket(bktSchemaFPs).Delete(cat(be64(tenant), []byte(fp))); err != nil {
		return err
	}
	return tx.Bucket(bktSchemas).Delete(cat(be64(tenant), be64(r.SchemaID)))
}

// findLiveVersion returns the subject's live version whose schema has the
// fingerprint fp, if any.
func findLiveVersion(tx *bolt.Tx, tenant int64, subject, fp string) (SubjectVersion, bool, error) {
	raw := tx.Bucket(bktSchemaFPs).Get(cat(be64(tenant), []byte(fp)))
	if raw == nil {
		return SubjectVersion{}, false, nil
	}
	id := readBE64(raw)
	versions, err := listVersions(tx, tenant, subject, func(r versionRec) bool { return !r.Deleted && r.SchemaID == id })
	if err != nil || len(versions) == 0 {
		return SubjectVersion{}, false, err
	}
	sv, err := getSubjectVersion(tx, tenant, subject, versions[0], false)
	return sv, err == nil, err
}

// listVersions returns the subject's versions whose record passes keep,
// ascending.
func listVersions(tx *bolt.Tx, tenant int64, subject string, keep func(versionRec) bool) ([]int, error) {
	out := []int{}
	prefix := subjectPrefix(tenant, subject)
	err := prefixScan(tx.Bucket(bktSubjects), prefix, func(k, v []byte) (bool, error) {
		var r versionRec
		if err := decodeValue(v, &r); err != nil {
			return false, err
		}
		if keep(r) {
			out = append(out, int(beUint32(k[len(prefix):])))
		}
		return true, nil
	})
	return out, err
}

func getSubjectVersion(tx *bolt.Tx, tenant int64, subject string, version int, includeDeleted bool) (SubjectVersion, error) {
	if version == LatestVersion {
		versions, err := listVersions(tx, tenant, subject, func(r versionRec) bool { return includeDeleted || !r.Deleted })
		if err != nil {
			return SubjectVersion{}, err
		}
		if len(versions) == 0 {
			return SubjectVersion{}, notFound("subject %q", subject)
		}
		version = versions[len(versions)-1]
	}
	if validateVersion(version) != nil {
		return SubjectVersion{}, notFound("version %d of subject %q", version, subject)
	}
	var r versionRec
	ok, err := getJSON(tx.Bucket(bktSubjects), versionKey(tenant, subject, version), &r)
	if err != nil {
		return SubjectVersion{}, err
	}
	if !ok || (r.Deleted && !includeDeleted) {
		return SubjectVersion{}, notFound("version %d of subject %q", version, subject)
	}
	s, err := getSchema(tx, tenant, r.SchemaID)
	if err != nil {
		return SubjectVersion{}, err
	}
	return SubjectVersion{Subject: subject, Version: version, Deleted: r.Deleted, Schema: s}, nil
}

func getSchema(tx *bolt.Tx, tenant, id int64) (Schema, error) {
	var r schemaRec
	ok, err := getJSON(tx.Bucket(bktSchemas), cat(be64(tenant), be64(id)), &r)
	if err != nil {
		return Schema{}, err
	}
	if !ok {
		return Schema{}, notFound("schema %d in tenant %d", id, tenant)
	}
	refs := r.References
	if refs == nil {
		refs = []SchemaReference{}
	}
	return Schema{TenantID: tenant, ID: id, Type: SchemaType(r.Type), Text: r.Text, Canonical: r.Canonical, References: refs}, nil
}

// seekLast positions c on the last key under prefix, or returns nil.
func seekLast(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	end := binary.BigEndian.AppendUint32(bytes.Clone(prefix), 0xFFFFFFFF)
	k, v := c.Seek(end)
	if k != nil && bytes.Equal(k, end) {
		return k, v
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}
