package registry

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The embedded store's Usage. bbolt runs one write transaction at a time, so
// checking a key and adding the counts need no lock of their own.

func usageKey(tenant int64, hour time.Time) []byte { return cat(be64(tenant), be64(hour.Unix())) }

func usageKeyKey(tenant int64, key string) []byte { return cat(be64(tenant), []byte(key)) }

// AddUsage implements Usage.
func (e *Embedded) AddUsage(ctx context.Context, tenant int64, hour time.Time, u UsageCounts, key string) error {
	if err := validateUsage(hour, u, key); err != nil {
		return fmt.Errorf("add usage of tenant %d: %w", tenant, err)
	}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, tenant); err != nil {
			return err
		}
		keys := tx.Bucket(bktUsageKeys)
		kk := usageKeyKey(tenant, key)
		if keys.Get(kk) != nil {
			return nil // applied before
		}
		rows := tx.Bucket(bktUsage)
		var r usageRec
		if _, err := getJSON(rows, usageKey(tenant, hour), &r); err != nil {
			return err
		}
		sum, err := addUsageCounts(UsageCounts(r), u)
		if err != nil {
			return err
		}
		recorded := be64(micros(e.now()))
		if err := keys.Put(kk, recorded); err != nil {
			return err
		}
		if err := tx.Bucket(bktUsageKeyTimes).Put(cat(recorded, kk), []byte{}); err != nil {
			return err
		}
		return putJSON(rows, usageKey(tenant, hour), usageRec(sum))
	})
	if err != nil {
		return fmt.Errorf("add usage of tenant %d at %s: %w", tenant, hour.Format(time.RFC3339), err)
	}
	return nil
}

// Usage implements Usage.
func (e *Embedded) Usage(ctx context.Context, tenant int64, from, to time.Time) ([]HourUsageRow, error) {
	out := []HourUsageRow{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktUsage).Cursor()
		prefix := be64(tenant)
		// Rows are keyed by the hour's unix second; hours are never before
		// 1970, so an earlier from starts at the tenant's first row.
		start := max(from.Unix(), 0)
		if from.After(time.Unix(start, 0)) {
			start++ // from inside a second: that second's hour is before it
		}
		for k, v := c.Seek(cat(prefix, be64(start))); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			hour := time.Unix(readBE64(k[8:]), 0).UTC()
			if !hour.Before(to) {
				break
			}
			var r usageRec
			if err := decodeValue(v, &r); err != nil {
				return err
			}
			out = append(out, HourUsageRow{Hour: hour, Usage: UsageCounts(r)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// StorageBytes implements Usage: one scan of the segment index.
func (e *Embedded) StorageBytes(ctx context.Context) (map[int64]int64, error) {
	out := map[int64]int64{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktSegments).ForEach(func(k, v []byte) error {
			var r segmentRec
			if err := decodeValue(v, &r); err != nil {
				return err
			}
			out[readBE64(k[:8])] += r.Length
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage bytes: %w", err)
	}
	return out, nil
}

// PruneUsageKeys implements Usage, walking the time index up to before.
func (e *Embedded) PruneUsageKeys(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := e.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		times, keys := tx.Bucket(bktUsageKeyTimes), tx.Bucket(bktUsageKeys)
		limit := micros(before)
		var gone [][]byte
		c := times.Cursor()
		for k, _ := c.First(); k != nil && readBE64(k[:8]) < limit; k, _ = c.Next() {
			gone = append(gone, bytes.Clone(k))
		}
		for _, k := range gone {
			if err := keys.Delete(k[8:]); err != nil {
				return err
			}
		}
		n = len(gone)
		return deleteKeys(times, gone)
	})
	if err != nil {
		return 0, fmt.Errorf("prune usage keys: %w", err)
	}
	return n, nil
}
