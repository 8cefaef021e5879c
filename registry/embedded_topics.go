package registry

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// CreateTopic implements Topics.
func (e *Embedded) CreateTopic(ctx context.Context, tenant int64, spec TopicSpec) (Topic, error) {
	spec, err := topicSpecWithDefaults(spec)
	if err != nil {
		return Topic{}, fmt.Errorf("create topic: %w", err)
	}
	now := e.now()
	t := Topic{TenantID: tenant, Name: spec.Name, Partitions: spec.Partitions, Durability: spec.Durability,
		RetentionMs: spec.RetentionMs, RetentionBytes: spec.RetentionBytes, CleanupPolicy: spec.CleanupPolicy,
		CreatedAt: now, UpdatedAt: now}
	err = e.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getTenant(tx, tenant); err != nil {
			return err
		}
		names := tx.Bucket(bktTopicNames)
		nameKey := cat(be64(tenant), []byte(spec.Name))
		if names.Get(nameKey) != nil {
			return exists("topic %q in tenant %d", spec.Name, tenant)
		}
		topics := tx.Bucket(bktTopics)
		seq, err := topics.NextSequence()
		if err != nil {
			return err
		}
		t.ID = int64(seq)
		if err := names.Put(nameKey, be64(t.ID)); err != nil {
			return err
		}
		if err := putJSON(topics, topicKey(tenant, t.ID), topicToRec(t)); err != nil {
			return err
		}
		parts := tx.Bucket(bktPartitions)
		for p := range spec.Partitions {
			if err := putJSON(parts, partitionKey(PartitionID{tenant, t.ID, p}), partitionRec{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Topic{}, fmt.Errorf("create topic %q: %w", spec.Name, err)
	}
	return t, nil
}

// Topic implements Topics.
func (e *Embedded) Topic(ctx context.Context, tenant int64, name string) (Topic, error) {
	var t Topic
	err := e.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bktTopicNames).Get(cat(be64(tenant), []byte(name)))
		if id == nil {
			return notFound("topic %q in tenant %d", name, tenant)
		}
		var err error
		t, err = getTopic(tx, tenant, readBE64(id))
		return err
	})
	return t, err
}

// TopicByID implements Topics.
func (e *Embedded) TopicByID(ctx context.Context, tenant, id int64) (Topic, error) {
	var t Topic
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		t, err = getTopic(tx, tenant, id)
		return err
	})
	return t, err
}

// ListTopics implements Topics.
func (e *Embedded) ListTopics(ctx context.Context, tenant int64) ([]Topic, error) {
	out := []Topic{}
	err := e.view(ctx, func(tx *bolt.Tx) error {
		return prefixScan(tx.Bucket(bktTopics), be64(tenant), func(k, v []byte) (bool, error) {
			t, err := getTopic(tx, tenant, readBE64(k[8:]))
			out = append(out, t)
			return true, err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list topics of tenant %d: %w", tenant, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateRetention implements Topics.
func (e *Embedded) UpdateRetention(ctx context.Context, tenant, id int64, retentionMs, retentionBytes int64) (Topic, error) {
	if err := validateRetention(retentionMs, retentionBytes); err != nil {
		return Topic{}, fmt.Errorf("update retention of topic %d: %w", id, err)
	}
	var t Topic
	err := e.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if t, err = getTopic(tx, tenant, id); err != nil {
			return err
		}
		t.RetentionMs, t.RetentionBytes, t.UpdatedAt = retentionMs, retentionBytes, e.now()
		return putJSON(tx.Bucket(bktTopics), topicKey(tenant, id), topicToRec(t))
	})
	if err != nil {
		return Topic{}, fmt.Errorf("update retention of topic %d: %w", id, err)
	}
	return t, nil
}

// AddPartitions implements Topics.
func (e *Embedded) AddPartitions(ctx context.Context, tenant, id int64, newCount int32) (Topic, error) {
	var t Topic
	err := e.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if t, err = getTopic(tx, tenant, id); err != nil {
			return err
		}
		if err := validateNewPartitionCount(t.Partitions, newCount); err != nil {
			return err
		}
		parts := tx.Bucket(bktPartitions)
		for p := t.Partitions; p < newCount; p++ {
			if err := putJSON(parts, partitionKey(PartitionID{tenant, id, p}), partitionRec{}); err != nil {
				return err
			}
		}
		t.Partitions, t.UpdatedAt = newCount, e.now()
		return putJSON(tx.Bucket(bktTopics), topicKey(tenant, id), topicToRec(t))
	})
	if err != nil {
		return Topic{}, fmt.Errorf("add partitions to topic %d: %w", id, err)
	}
	return t, nil
}

// DeleteTopic implements Topics.
func (e *Embedded) DeleteTopic(ctx context.Context, tenant, id int64) (Removed, error) {
	var out Removed
	err := e.update(ctx, func(tx *bolt.Tx) error {
		out = emptyRemoved()
		t, err := getTopic(tx, tenant, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bktTopicNames).Delete(cat(be64(tenant), []byte(t.Name))); err != nil {
			return err
		}
		if err := tx.Bucket(bktTopics).Delete(topicKey(tenant, id)); err != nil {
			return err
		}
		// Partitions and segments share the topic's key prefix.
		prefix := topicKey(tenant, id)
		if err := deletePrefix(tx.Bucket(bktPartitions), prefix, nil); err != nil {
			return err
		}
		err = deletePrefix(tx.Bucket(bktSegments), prefix, func(k, v []byte) error {
			s, err := decodeSegment(k, v)
			out.Segments = append(out.Segments, s)
			return err
		})
		if err != nil {
			return err
		}
		if out.UnreferencedObjects, err = dropObjectRefs(tx, out.Segments); err != nil {
			return err
		}
		// Offsets are keyed by group first: scan the tenant's.
		offsets := tx.Bucket(bktOffsets)
		var keys [][]byte
		err = prefixScan(offsets, be64(tenant), func(k, v []byte) (bool, error) {
			if _, rest := splitText(k); len(rest) == 12 && readBE64(rest) == id {
				keys = append(keys, bytes.Clone(k))
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return deleteKeys(offsets, keys)
	})
	if err != nil {
		return Removed{}, fmt.Errorf("delete topic %d of tenant %d: %w", id, tenant, err)
	}
	return out, nil
}

// Partition implements Topics.
func (e *Embedded) Partition(ctx context.Context, id PartitionID) (Partition, error) {
	var p Partition
	err := e.view(ctx, func(tx *bolt.Tx) error {
		var err error
		p, err = getPartition(tx, id)
		return err
	})
	return p, err
}

// ListPartitions implements Topics.
func (e *Embedded) ListPartitions(ctx context.Context, tenant, topic int64) ([]Partition, error) {
	var out []Partition
	err := e.view(ctx, func(tx *bolt.Tx) error {
		t, err := getTopic(tx, tenant, topic)
		if err != nil {
			return err
		}
		out = make([]Partition, 0, t.Partitions)
		for p := range t.Partitions {
			part, err := getPartition(tx, PartitionID{tenant, topic, p})
			if err != nil {
				return err
			}
			out = append(out, part)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list partitions of topic %d: %w", topic, err)
	}
	return out, nil
}

// BumpEpoch implements Topics.
func (e *Embedded) BumpEpoch(ctx context.Context, id PartitionID, expected int64) (int64, error) {
	var next int64
	err := e.update(ctx, func(tx *bolt.Tx) error {
		p, err := getPartition(tx, id)
		if err != nil {
			return err
		}
		if p.Epoch != expected {
			return &EpochError{Partition: id, Expected: expected, Actual: p.Epoch}
		}
		p.Epoch++
		next = p.Epoch
		return putPartition(tx, p)
	})
	if err != nil {
		return 0, fmt.Errorf("bump epoch of %s: %w", id, err)
	}
	return next, nil
}

func getTopic(tx *bolt.Tx, tenant, id int64) (Topic, error) {
	var r topicRec
	ok, err := getJSON(tx.Bucket(bktTopics), topicKey(tenant, id), &r)
	if err != nil {
		return Topic{}, err
	}
	if !ok {
		return Topic{}, notFound("topic %d in tenant %d", id, tenant)
	}
	return Topic{TenantID: tenant, ID: id, Name: r.Name, Partitions: r.Partitions,
		Durability: Durability(r.Durability), RetentionMs: r.RetentionMs, RetentionBytes: r.RetentionBytes,
		CleanupPolicy: CleanupPolicy(r.CleanupPolicy), CreatedAt: fromMicros(r.Created), UpdatedAt: fromMicros(r.Updated)}, nil
}

func topicToRec(t Topic) topicRec {
	return topicRec{Name: t.Name, Partitions: t.Partitions, Durability: string(t.Durability),
		RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes, CleanupPolicy: string(t.CleanupPolicy),
		Created: micros(t.CreatedAt), Updated: micros(t.UpdatedAt)}
}

func getPartition(tx *bolt.Tx, id PartitionID) (Partition, error) {
	var r partitionRec
	ok, err := getJSON(tx.Bucket(bktPartitions), partitionKey(id), &r)
	if err != nil {
		return Partition{}, err
	}
	if !ok || id.Partition < 0 {
		return Partition{}, notFound("partition %s", id)
	}
	return Partition{ID: id, Epoch: r.Epoch, HighWatermark: r.HighWatermark, LogStartOffset: r.LogStartOffset,
		LastWALSeq: r.LastWALSeq}, nil
}

func putPartition(tx *bolt.Tx, p Partition) error {
	return putJSON(tx.Bucket(bktPartitions), partitionKey(p.ID),
		partitionRec{Epoch: p.Epoch, HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset, LastWALSeq: p.LastWALSeq})
}
