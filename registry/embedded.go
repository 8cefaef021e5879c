package registry

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Embedded is the Store in one bbolt file, for the dev cell: no external
// service, durable across restarts (each write transaction is fsynced before
// it returns). Only one process can hold the file open; see the package doc
// for why bbolt.
type Embedded struct {
	db  *bolt.DB
	now func() time.Time
}

var _ Store = (*Embedded)(nil)

// OpenEmbedded opens the catalogue file at path, creating it (not its
// directory) if needed. It waits at most 5 s for another process's lock on
// the file, then fails.
func OpenEmbedded(path string) (*Embedded, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open embedded registry %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		// A file from before bktObjectRefs existed gets it filled from the
		// segments it already holds.
		backfillRefs := tx.Bucket(bktObjectRefs) == nil && tx.Bucket(bktSegments) != nil
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if backfillRefs {
			refs := tx.Bucket(bktObjectRefs)
			err := tx.Bucket(bktSegments).ForEach(func(k, v []byte) error {
				var r segmentRec
				if err := decodeValue(v, &r); err != nil {
					return err
				}
				return refs.Put(objectRefKey(r.ObjectKey, k), []byte{})
			})
			if err != nil {
				return fmt.Errorf("index segments by object: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open embedded registry %s: %w", path, err)
	}
	return &Embedded{db: db, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}, nil
}

// Close closes the file; it waits for running transactions to end.
func (e *Embedded) Close() error { return e.db.Close() }

// view runs fn in a read-only transaction after checking ctx.
func (e *Embedded) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.db.View(fn)
}

// update runs fn in a read-write transaction after checking ctx; fn's error
// rolls everything back. A context cancelled while fn runs rolls back too.
func (e *Embedded) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return ctx.Err()
	})
}
