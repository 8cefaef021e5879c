package registry

import "context"

// Store is the whole catalogue. It is one interface made of one part per
// area, so that a component can depend on only the part it uses (the
// partition actor on SegmentIndex, the group coordinator on Offsets).
//
// Implementations are safe for concurrent use by many goroutines and many
// processes (Postgres) or one process (Embedded). Every call takes a context:
// cancelling it abandons the call and rolls back whatever it had begun, so a
// cancelled call has either happened whole or not at all. Every method that
// writes more than one row does so in one transaction.
type Store interface {
	Tenants
	Topics
	SegmentIndex
	Offsets
	Schemas
	Accounts // in accounts.go
	Usage    // in usage.go
	// Close releases the store's connections or file. Calls after Close fail.
	Close() error
}

// Tenants creates and finds tenants.
type Tenants interface {
	// CreateTenant creates a tenant. The name follows ValidateName (else
	// ErrInvalid); a taken name gives ErrExists.
	CreateTenant(ctx context.Context, name string) (Tenant, error)
	// Tenant returns the tenant with the id, or ErrNotFound.
	Tenant(ctx context.Context, id int64) (Tenant, error)
	// TenantByName returns the tenant with the name, or ErrNotFound.
	TenantByName(ctx context.Context, name string) (Tenant, error)
	// ListTenants returns all tenants sorted by name (bytewise).
	ListTenants(ctx context.Context) ([]Tenant, error)
}

// Topics creates, finds and deletes topics and reads and fences their
// partitions.
type Topics interface {
	// CreateTopic creates a topic and its partitions 0..Partitions-1 (epoch
	// 0, offsets 0) in one transaction, applying TopicSpec's defaults. An
	// invalid spec gives ErrInvalid naming the problem, an unknown tenant
	// ErrNotFound, a name taken in the tenant ErrExists.
	CreateTopic(ctx context.Context, tenant int64, spec TopicSpec) (Topic, error)
	// Topic returns the tenant's topic with the name, or ErrNotFound.
	Topic(ctx context.Context, tenant int64, name string) (Topic, error)
	// TopicByID returns the tenant's topic with the id, or ErrNotFound (also
	// when the id is another tenant's).
	TopicByID(ctx context.Context, tenant, id int64) (Topic, error)
	// ListTopics returns the tenant's topics sorted by name (bytewise).
	ListTopics(ctx context.Context, tenant int64) ([]Topic, error)
	// UpdateRetention sets a topic's retention (each > 0 or Unlimited) and
	// its UpdatedAt, and returns the topic as it now is.
	UpdateRetention(ctx context.Context, tenant, id int64, retentionMs, retentionBytes int64) (Topic, error)
	// AddPartitions grows the topic to newCount partitions, in one
	// transaction: partitions Partitions..newCount-1 are created (epoch 0,
	// offsets 0), the topic's Partitions and UpdatedAt set, and the topic
	// returned as it now is. Partitions are never removed: newCount at or
	// below the current count, or over MaxPartitions, gives ErrInvalid
	// naming "partitions". Unknown topic: ErrNotFound.
	AddPartitions(ctx context.Context, tenant, id int64, newCount int32) (Topic, error)
	// DeleteTopic removes the topic for good, in one transaction: its row,
	// its partitions, its segment index and every group's offsets on it.
	// It returns the removed segments and, decided in the same transaction,
	// the object keys no remaining segment refers to (Removed). The caller
	// should delete exactly the objects in UnreferencedObjects, and no
	// other: an object may also hold other topics' segments, and deleting it
	// while they are indexed loses committed data. (An unreferenced object
	// left behind is only garbage for the collector, as after a failed
	// commit.) The name is free at once; a topic created with it gets a new
	// id. Unknown topic: ErrNotFound.
	DeleteTopic(ctx context.Context, tenant, id int64) (Removed, error)

	// Partition returns one partition, or ErrNotFound.
	Partition(ctx context.Context, id PartitionID) (Partition, error)
	// ListPartitions returns the topic's partitions in order, or ErrNotFound
	// for an unknown topic.
	ListPartitions(ctx context.Context, tenant, topic int64) ([]Partition, error)
	// BumpEpoch raises the partition's epoch from expected to expected+1 in
	// one compare-and-set and returns the new epoch. If the epoch is not
	// expected it changes nothing and returns an *EpochError (ErrEpochFenced)
	// carrying the current epoch. Unknown partition: ErrNotFound.
	BumpEpoch(ctx context.Context, id PartitionID, expected int64) (int64, error)
}

// SegmentIndex commits and finds segments.
type SegmentIndex interface {
	// CommitSegment adds a segment to its partition's index, in one
	// transaction: it refuses with an *EpochError (ErrEpochFenced) unless
	// s.Epoch is the partition's epoch, with an *OffsetError
	// (ErrOffsetConflict) unless s.FirstOffset is the partition's high
	// watermark, then writes the row and sets the high watermark to
	// s.LastOffset+1. A refused commit writes nothing. Invalid fields:
	// ErrInvalid; unknown partition: ErrNotFound. s.CommittedAt is ignored.
	//
	// A commit is not idempotent. If its reply is lost (a network error, a
	// timeout after the server committed), a retry of the same segment gets
	// ErrOffsetConflict although the first attempt landed. The caller tells
	// "mine landed" from a real conflict (another owner's segment) by
	// reading SegmentAt(s.Partition, s.FirstOffset) (or LatestSegment) and
	// comparing its ObjectKey with its own: as long as every upload gets a
	// fresh object key, an equal key means the earlier attempt committed,
	// and any other outcome is a real conflict.
	CommitSegment(ctx context.Context, s Segment) error
	// CommitSegments commits several segments, all or nothing: typically the
	// ranges of several partitions packed into one object, and possibly
	// consecutive segments of one partition (in offset order). Each is
	// checked as by CommitSegment against the state left by those before it;
	// the first refusal rolls back all and is returned, naming the segment.
	// An empty slice is a no-op. After a lost reply, a retry gets
	// ErrOffsetConflict as described at CommitSegment; since all or none
	// landed, checking any one segment's ObjectKey (via SegmentAt at its
	// first offset) tells which.
	CommitSegments(ctx context.Context, segs []Segment) error
	// ListSegments returns up to limit segments (limit <= 0: all) of the
	// partition whose LastOffset >= from, sorted by offset: the first one
	// returned contains from if any segment does. Unknown partition:
	// ErrNotFound; none left: an empty slice.
	ListSegments(ctx context.Context, id PartitionID, from int64, limit int) ([]Segment, error)
	// SegmentAt returns the segment whose offsets include offset, or
	// ErrNotFound (offset at or past the high watermark, or its segment
	// removed by retention). The segment may start below the partition's log
	// start offset; offsets below it are no longer to be served.
	SegmentAt(ctx context.Context, id PartitionID, offset int64) (Segment, error)
	// SegmentAtTime returns the first segment, in offset order, whose
	// MaxTimestamp >= ts (ms), where a search by time starts; ErrNotFound if
	// none.
	SegmentAtTime(ctx context.Context, id PartitionID, ts int64) (Segment, error)
	// LatestSegment returns the partition's last committed segment, or
	// ErrNotFound if it has none (none committed, or all removed by
	// retention; Partition.LastWALSeq still says where WAL replay starts).
	LatestSegment(ctx context.Context, id PartitionID) (Segment, error)
	// DeleteSegmentsBefore applies retention, in one transaction: it moves
	// the partition's log start offset up to newLogStart and removes the
	// index rows wholly below it (LastOffset < newLogStart). It returns them
	// and, decided in the same transaction, the object keys that no
	// remaining segment (of any partition or topic) refers to (Removed): the
	// caller may delete only those objects. An object that still holds
	// another partition's indexed segment is not listed, and is listed by
	// whichever later call removes its last segment. The log start never
	// moves backward: a newLogStart at or below it is a no-op returning
	// nothing. Past the high watermark is ErrInvalid. Unless epoch is
	// AnyEpoch, it is checked as in CommitSegment (*EpochError).
	DeleteSegmentsBefore(ctx context.Context, id PartitionID, epoch, newLogStart int64) (Removed, error)
	// PartitionSizes returns, for every partition of the topic (empty ones
	// included, with zeros), the size of its committed segments: the sum of
	// their Length (the partition's bytes in their objects, not the objects'
	// sizes) and their count, as of one consistent read. Only committed
	// segments count: the unflushed tail (records in the WAL or an owner's
	// buffer, not yet in a committed segment) is not in it, and segments
	// removed by retention are not either. Unknown topic: ErrNotFound.
	PartitionSizes(ctx context.Context, tenant, topic int64) (map[int32]PartitionSize, error)
}

// PartitionSize is the size of a partition's committed segments
// (SegmentIndex.PartitionSizes).
type PartitionSize struct {
	// Bytes is the sum of the segments' Length.
	Bytes int64
	// Segments is how many segments the index holds for the partition.
	Segments int
}

// Offsets stores consumer groups' committed offsets. Generations and
// membership are the group coordinator's business; the store only keeps the
// offsets.
type Offsets interface {
	// CommitOffsets stores the group's offsets for the given partitions in
	// one transaction, replacing earlier ones and creating the group on first
	// commit. A partition that does not exist in the tenant gives ErrNotFound
	// and stores nothing; a partition given twice, a negative offset or
	// metadata over MaxOffsetMetadata gives ErrInvalid.
	CommitOffsets(ctx context.Context, tenant int64, group string, offsets []GroupOffset) error
	// FetchOffsets returns the group's offsets sorted by topic id and
	// partition; an unknown group has none (an empty slice, no error).
	FetchOffsets(ctx context.Context, tenant int64, group string) ([]GroupOffset, error)
	// ListGroups returns the tenant's groups that have offsets, sorted
	// (bytewise).
	ListGroups(ctx context.Context, tenant int64) ([]string, error)
	// DeleteGroup removes all the group's offsets; a group without any gives
	// ErrNotFound. Offsets also go when their topic is deleted.
	DeleteGroup(ctx context.Context, tenant int64, group string) error
}

// Schemas is the tenant-scoped store under the schema registry API. Whether
// two texts are the same schema is decided by the caller, through
// SchemaSpec.Canonical; compatibility rules live in the top-level schema/
// package, which serves the Confluent API on this interface.
type Schemas interface {
	// RegisterSchema files spec under subject and returns its version. If the
	// subject already has a live version of the same schema (equal type,
	// canonical form and references), that one is returned and nothing
	// changes. Otherwise the schema gets the tenant's id for it (reused
	// across subjects, new if never seen) and the subject a new version, one
	// above its highest (soft-deleted versions count, so numbers are not
	// reused). Each reference must name a live subject version (else
	// ErrNotFound). Unknown tenant: ErrNotFound.
	RegisterSchema(ctx context.Context, tenant int64, subject string, spec SchemaSpec) (SubjectVersion, error)
	// LookupSchema returns the subject's live version holding the same schema
	// as spec, or ErrNotFound.
	LookupSchema(ctx context.Context, tenant int64, subject string, spec SchemaSpec) (SubjectVersion, error)
	// SchemaByID returns the schema with the id, or ErrNotFound (also after
	// its last subject version is permanently deleted; ids are not reused).
	SchemaByID(ctx context.Context, tenant, id int64) (Schema, error)
	// SubjectVersion returns one version of a subject (LatestVersion: the
	// highest). Soft-deleted versions are ErrNotFound unless includeDeleted
	// is set.
	SubjectVersion(ctx context.Context, tenant int64, subject string, version int, includeDeleted bool) (SubjectVersion, error)
	// ListSubjects returns the tenant's subjects with a live version (or any
	// version, if includeDeleted), sorted (bytewise).
	ListSubjects(ctx context.Context, tenant int64, includeDeleted bool) ([]string, error)
	// ListVersions returns the subject's live version numbers (or all, if
	// includeDeleted), ascending; none gives ErrNotFound.
	ListVersions(ctx context.Context, tenant int64, subject string, includeDeleted bool) ([]int, error)
	// DeleteSchemaVersion soft-deletes a live version (permanent false), or
	// permanently deletes a soft-deleted one (permanent true; a live one
	// gives ErrInvalid: soft delete first). A version not in the state the
	// call acts on gives ErrNotFound. A schema left without any version is
	// removed.
	DeleteSchemaVersion(ctx context.Context, tenant int64, subject string, version int, permanent bool) error
	// DeleteSubject soft-deletes all the subject's live versions (permanent
	// false), or permanently deletes all its versions once none is live
	// (permanent true; else ErrInvalid), returning the versions it deleted.
	// Nothing to delete gives ErrNotFound.
	DeleteSubject(ctx context.Context, tenant int64, subject string, permanent bool) ([]int, error)
	// SchemaUsages returns the subject versions holding the schema id (live
	// ones, or all if includeDeleted), sorted by subject, then version. An id
	// with none gives ErrNotFound.
	SchemaUsages(ctx context.Context, tenant, id int64, includeDeleted bool) ([]SchemaUsage, error)
	// SchemaSetting returns the setting of the subject (subject "": the
	// tenant-wide one); a setting never set gives ErrNotFound.
	SchemaSetting(ctx context.Context, tenant int64, subject string, kind SchemaSettingKind) (string, error)
	// SetSchemaSetting sets the setting of the subject (subject "": the
	// tenant-wide one), or removes it when value is "" (ErrNotFound if it was
	// not set). Values are 1 to MaxSchemaSettingLen printable ASCII bytes.
	// Unknown tenant: ErrNotFound.
	SetSchemaSetting(ctx context.Context, tenant int64, subject string, kind SchemaSettingKind, value string) error
}
