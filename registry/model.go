package registry

import (
	"fmt"
	"time"
)

// Tenant is an isolated owner of topics, consumer groups and schemas.
type Tenant struct {
	ID        int64 // positive, assigned by the store, never reused
	Name      string
	CreatedAt time.Time
}

// Durability says when a produce request is acknowledged (DESIGN.md, the
// partition actor).
type Durability string

const (
	// DurabilityWAL acknowledges once the batch is in the JetStream WAL.
	DurabilityWAL Durability = "wal"
	// DurabilityObject acknowledges once the segment is in object storage and
	// committed here.
	DurabilityObject Durability = "object"
)

// CleanupPolicy says how old data leaves a topic.
type CleanupPolicy string

const (
	// CleanupDelete drops whole segments past retention.
	CleanupDelete CleanupPolicy = "delete"
	// CleanupCompact keeps the latest record per key.
	CleanupCompact CleanupPolicy = "compact"
)

// Unlimited, as RetentionMs or RetentionBytes, keeps data forever.
const Unlimited int64 = -1

// Defaults and limits applied by CreateTopic.
const (
	// MaxPartitions is the most partitions a topic may have. Each owned
	// partition is an actor, a lease and a WAL subject; beyond this a topic
	// is better split.
	MaxPartitions = 10000
	// DefaultRetentionMs is used when TopicSpec.RetentionMs is 0: 7 days,
	// Kafka's default.
	DefaultRetentionMs int64 = 7 * 24 * 60 * 60 * 1000
)

// TopicSpec is what CreateTopic needs. Zero values take defaults: Durability
// "" is DurabilityWAL, CleanupPolicy "" is CleanupDelete, RetentionMs 0 is
// DefaultRetentionMs and RetentionBytes 0 is Unlimited.
type TopicSpec struct {
	Name           string // Kafka's rule, see ValidateName
	Partitions     int32  // 1..MaxPartitions
	Durability     Durability
	RetentionMs    int64 // > 0, or Unlimited
	RetentionBytes int64 // > 0, or Unlimited; per partition, as in Kafka
	CleanupPolicy  CleanupPolicy
}

// Topic is a named log of Partitions partitions inside a tenant.
type Topic struct {
	TenantID       int64
	ID             int64 // positive, unique across tenants, never reused
	Name           string
	Partitions     int32
	Durability     Durability
	RetentionMs    int64
	RetentionBytes int64
	CleanupPolicy  CleanupPolicy
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// PartitionID names one partition; every partition-level call carries the
// tenant, so a topic id of another tenant is simply not found.
type PartitionID struct {
	Tenant    int64
	Topic     int64
	Partition int32
}

// String formats the id as "tenant/topic/partition".
func (p PartitionID) String() string {
	return fmt.Sprintf("%d/%d/%d", p.Tenant, p.Topic, p.Partition)
}

// Partition is the registry's view of one partition's log.
type Partition struct {
	ID PartitionID
	// Epoch is the fencing token: 0 at creation, raised by BumpEpoch each
	// time ownership moves. Commits carry it and a stale one is refused.
	Epoch int64
	// HighWatermark is the next offset to commit: the last committed
	// segment's LastOffset+1, or 0 before any commit.
	HighWatermark int64
	// LogStartOffset is the first offset still readable; it moves forward
	// with retention (DeleteSegmentsBefore) and never past HighWatermark.
	LogStartOffset int64
	// LastWALSeq is the highest Segment.WALSeq committed (0 if none): where
	// WAL replay starts after a takeover, even once retention has removed
	// every segment.
	LastWALSeq uint64
}

// Segment is one entry of the segment index: the byte range of one
// partition's records inside one object. An object may hold ranges of several
// partitions (see CommitSegments).
type Segment struct {
	Partition PartitionID
	// Epoch is the epoch of the owner that wrote the segment; a commit is
	// refused unless it equals the partition's current epoch.
	Epoch     int64
	ObjectKey string
	// Position and Length locate this partition's bytes inside the object.
	Position int64
	Length   int64
	// ObjectSize is the size of the whole object in bytes (the segment
	// trailer sits at its end); at least Position+Length.
	ObjectSize int64
	// FirstOffset and LastOffset are inclusive; FirstOffset must equal the
	// partition's high watermark at commit.
	FirstOffset int64
	LastOffset  int64
	// MinTimestamp and MaxTimestamp bound the records' timestamps, in ms.
	MinTimestamp int64
	MaxTimestamp int64
	// RecordCount is the number of records, at most LastOffset-FirstOffset+1
	// (fewer once compaction leaves gaps).
	RecordCount int64
	// WALSeq is the JetStream sequence of the WAL message holding the
	// segment's last record, 0 when the segment did not come from a WAL
	// (durability "object"). Replay after a takeover starts past it. At most
	// 2^63-1 (PostgreSQL has no unsigned bigint).
	WALSeq uint64
	// CommittedAt is set by the store.
	CommittedAt time.Time
}

// GroupOffset is a consumer group's committed position in one partition.
type GroupOffset struct {
	Topic     int64
	Partition int32
	// Offset is the next offset the group will read.
	Offset int64
	// Metadata is free text from the client, at most MaxOffsetMetadata bytes.
	Metadata string
	// CommittedAt is set by the store.
	CommittedAt time.Time
}

// MaxOffsetMetadata is the longest GroupOffset.Metadata accepted, in bytes
// (Kafka's offset.metadata.max.bytes default).
const MaxOffsetMetadata = 4096

// SchemaType is the schema language.
type SchemaType string

const (
	SchemaAvro     SchemaType = "AVRO"
	SchemaJSON     SchemaType = "JSON"
	SchemaProtobuf SchemaType = "PROTOBUF"
)

// SchemaReference points from a schema to another subject version it
// imports, as in the Confluent API.
type SchemaReference struct {
	Name    string `json:"name"` // the import name inside the schema text
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SchemaSpec is what RegisterSchema needs.
type SchemaSpec struct {
	Type SchemaType
	// Text is the schema as the client sent it; it is stored and returned
	// unchanged.
	Text string
	// Canonical is the caller's normalised form of Text (or a hash of it):
	// two specs with equal Type, Canonical and References are the same schema
	// and share an id. Empty means Text itself.
	Canonical  string
	References []SchemaReference
	// IfLatest, when set, lets RegisterSchema add a version only while the
	// subject's highest live version is *IfLatest (0: none is live), so that
	// a compatibility check made against it still holds; else
	// ErrLatestMoved. A schema the subject already holds is returned as
	// always. Not part of the schema's identity.
	IfLatest *int
}

// Schema is a registered schema; its ID is unique within the tenant, fits
// the 4 bytes of the Confluent wire format, and is never reused.
type Schema struct {
	TenantID   int64
	ID         int64
	Type       SchemaType
	Text       string
	Canonical  string
	References []SchemaReference
}

// SubjectVersion is one version of a subject: a schema under a name.
type SubjectVersion struct {
	Subject string
	Version int  // 1, 2, ... within the subject
	Deleted bool // soft-deleted
	Schema  Schema
}

// SchemaUsage is one subject version that holds a schema.
type SchemaUsage struct {
	Subject string
	Version int
	Deleted bool // soft-deleted
}

// SchemaSettingKind names a schema registry setting, kept per subject or
// tenant-wide (subject ""). The store keeps values as given; what a valid
// value is belongs to the schema registry.
type SchemaSettingKind string

const (
	SchemaCompatibilitySetting SchemaSettingKind = "compatibility" // BACKWARD, FULL_TRANSITIVE, ...
	SchemaModeSetting          SchemaSettingKind = "mode"          // READWRITE, READONLY
	SchemaValidationSetting    SchemaSettingKind = "validation"    // produce-time checks of a <topic>-key or -value subject
)

// MaxSchemaSettingLen is the longest schema setting value accepted, in bytes.
const MaxSchemaSettingLen = 64

// LatestVersion asks SubjectVersion for the highest version.
const LatestVersion = -1

// AnyEpoch, as DeleteSegmentsBefore's epoch, skips the epoch check (for a
// janitor that does not own the partition).
const AnyEpoch int64 = -1

// Removed is what DeleteTopic and DeleteSegmentsBefore took out of the
// segment index.
//
// One object may hold the segments of several partitions, even of different
// topics (see CommitSegments), so an object is not garbage just because one
// of its segments was removed. UnreferencedObjects lists the object keys of
// the removed segments that no segment left in the index refers to any more,
// decided in the same transaction as the removal: only those objects may be
// deleted. The key of a removed segment that is not listed is still in use
// and its object MUST NOT be deleted; it is reported again by the call that
// removes its last segment.
type Removed struct {
	// Segments are the removed index rows, sorted by partition and offset
	// (never nil).
	Segments []Segment
	// UnreferencedObjects are the distinct object keys, sorted bytewise,
	// that no remaining segment uses (never nil).
	UnreferencedObjects []string
}

func emptyRemoved() Removed { return Removed{Segments: []Segment{}, UnreferencedObjects: []string{}} }
