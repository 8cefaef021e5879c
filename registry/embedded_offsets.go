package registry

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// CommitOffsets implements Offsets.
func (e *Embedded) CommitOffsets(ctx context.Context, tenant int64, group string, offsets []GroupOffset) error {
	if err := validateGroupOffsets(tenant, group, offsets); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	if len(offsets) == 0 {
		return nil
	}
	now := e.now()
	err := e.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktOffsets)
		for _, o := range offsets {
			if _, err := getPartition(tx, PartitionID{tenant, o.Topic, o.Partition}); err != nil {
				return err
			}
			err := putJSON(b, offsetKey(tenant, group, o.Topic, o.Partition),
				offsetRec{Offset: o.Offset, Metadata: o.Metadata, Committed: micros(now)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", group, err)
	}
	return nil
}

// FetchOffsets implements Offsets.
func (e *Embedded) FetchOffsets(ctx context.Context, tenant int64, group string) ([]GroupOffset, error) {
	if err := validateFreeName("group id", group); err != nil {
		return nil, fmt.Errorf("fetch offsets: %w", err)
	}
	out := []GroupOffset{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktOffsets), groupPrefix(tenant, group), func(k, v []byte) (bool, error) {
			var r offsetRec
			if err := decodeValue(v, &r); err != nil {
				return false, err
			}
			_, rest := splitText(k)
			out = append(out, GroupOffset{Topic: readBE64(rest[:8]), Partition: int32(beUint32(rest[8:12])),
				Offset: r.Offset, Metadata: r.Metadata, CommittedAt: fromMicros(r.Committed)})
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %q: %w", group, err)
	}
	return out, nil
}

// ListGroups implements Offsets.
func (e *Embedded) ListGroups(ctx context.Context, tenant int64) ([]string, error) {
	out := []string{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktOffsets), be64(tenant), func(k, v []byte) (bool, error) {
			// Keys sort by group, so equal groups are adjacent.
			if g, _ := splitText(k); len(out) == 0 || out[len(out)-1] != g {
				out = append(out, g)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list groups of tenant %d: %w", tenant, err)
	}
	return out, nil
}

// DeleteGroup implements Offsets.
func (e *Embedded) DeleteGroup(ctx context.Context, tenant int64, group string) error {
	if err := validateFreeName("group id", group); err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	err := e.update(ctx, func(tx *bolt.Tx) error {
		n := 0
		err := deletePrefix(tx.Bucket(bktOffsets), groupPrefix(tenant, group), func(k, v []byte) error { n++; return nil })
		if err == nil && n == 0 {
			err = notFound("group %q in tenant %d", group, tenant)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", group, err)
	}
	return nil
}
