// Package registry is StreamHouse's catalogue of all that exists: tenants,
// topics, partitions (with their fencing epochs, high watermarks and log
// start offsets), the segment index, consumer-group offsets and schemas.
//
// One Store interface has two implementations that one contract suite
// (contract_test.go) holds to the same behaviour:
//
//   - Postgres (OpenPostgres): the production catalogue, on pgx/v5's pool.
//     Its schema lives in migrations/*.sql, embedded in the binary and applied
//     in order on open, each in its own transaction under a transaction-level
//     advisory lock, and recorded in schema_migrations with the sha256 of the
//     file, so two agents starting at once neither race nor apply a migration
//     twice, and a binary whose copy of an applied migration differs refuses
//     to open (ErrInvalid naming the file). A transaction aborted by a
//     deadlock (40P01) or serialization failure (40001) is run again, up to
//     three times in all, so callers do not see those errors.
//   - Embedded (OpenEmbedded): the dev cell's catalogue, one bbolt file under
//     the data directory, needing no external service and durable across
//     restarts.
//
// # Why bbolt for the embedded store
//
// The segment commit is the store's central operation, and it must check the
// partition's epoch and high watermark, write the index row and advance the
// watermark as one atomic step. JetStream KV is already in the dev process but
// has no multi-key transactions: a compare-and-set covers one key, so the epoch
// check and the index write could tear. An embedded SQL engine (the pure-Go
// modernc.org/sqlite) would share SQL with PostgreSQL, but it costs a very long
// compile on every build, and the two dialects drift anyway (identity columns,
// row locks, advisory locks, upserts), so the "shared SQL" would be two SQLs.
// bbolt gives fully serializable multi-key transactions (one writer at a time,
// readers on MVCC snapshots) in a small, well-kept, pure-Go library. Its
// single-writer model is no limit here: the catalogue takes one write per
// segment flush, epoch bump or offset commit, never one per record.
//
// Keys are big-endian fixed-width integers after a tenant prefix, so a cursor
// walks a partition's segments in offset order and a prefix scan is a tenant-
// or topic-scoped range. Values are JSON of private record structs (see
// embedded_codec.go): the values are small and off the per-record path, JSON
// is self-describing so a field added later reads back as its zero value from
// older files, and a dump of the file stays readable when debugging. The
// record structs are a storage format: only add fields to them.
//
// # Deleting objects
//
// One object may hold segments of several partitions and topics
// (CommitSegments), so DeleteTopic and DeleteSegmentsBefore return Removed:
// the removed segments and, decided in the same transaction, the object keys
// no remaining segment refers to. Only those objects may be deleted. The
// embedded store keeps an object → segment index (bucket object_refs) for
// this; PostgreSQL asks the segments_object_key index, under a per-object
// advisory lock so that concurrent removals of an object's last segments
// report it exactly once.
//
// # Scoping
//
// Every lookup carries the tenant id, and every key or row starts with it:
// one tenant can neither see nor change another's topics, offsets or schemas,
// even with a guessed id. Names never identify anything below the catalogue:
// tenant and topic ids are positive int64s that are never reused (a topic
// deleted and created again gets a new id), partitions are int32s 0..n-1.
//
// # Errors
//
// Every error a Store returns carries context and wraps one of the sentinels
// in errors.go where one applies (ErrNotFound, ErrExists, ErrInvalid,
// ErrEpochFenced, ErrOffsetConflict); fencing and offset conflicts come as
// *EpochError and *OffsetError with the numbers involved.
package registry
