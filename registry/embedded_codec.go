package registry

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The embedded store's layout: one top-level bucket per kind of row. Every key
// starts with the tenant id except in tenants and tenantNames; integers are
// fixed-width big-endian, so byte order is numeric order; free-text parts of a
// key (group ids, subjects) are followed by a NUL, which they cannot contain.
// This layout and the record structs below are a storage format: ONLY ADD.
var (
	bktTenants     = []byte("tenants")      // tenant                              → tenantRec
	bktTenantNames = []byte("tenant_names") // name                                → tenant
	bktTopics      = []byte("topics")       // tenant topic                        → topicRec; its sequence numbers topics
	bktTopicNames  = []byte("topic_names")  // tenant name                         → topic
	bktPartitions  = []byte("partitions")   // tenant topic partition(4)           → partitionRec
	bktSegments    = []byte("segments")     // tenant topic partition(4) first     → segmentRec
	bktOffsets     = []byte("offsets")      // tenant group 0 topic partition(4)   → offsetRec
	bktSchemas     = []byte("schemas")      // tenant id                           → schemaRec
	bktSchemaFPs   = []byte("schema_fps")   // tenant fingerprint                  → id
	bktSchemaIDs   = []byte("schema_ids")   // tenant                              → last schema id given
	bktSubjects    = []byte("subjects")     // tenant subject 0 version(4)         → versionRec
	// bktObjectRefs indexes segments by object, so a delete can tell whether
	// an object is still referenced: one empty-valued key per segment row.
	bktObjectRefs = []byte("object_refs") // len(key)(4) object-key segment-key → empty

	// Accounts (accounts.go). Users, and API keys and sessions by their
	// public id, are not under a tenant: a user may belong to several, and
	// an authenticator looks a key up before it knows the tenant.
	bktTenantSettings = []byte("tenant_settings") // tenant                    → tenantSettingsRec
	bktUsers          = []byte("users")           // user                      → userRec; its sequence numbers users
	bktUserEmails     = []byte("user_emails")     // lowercased email          → user
	bktMembers        = []byte("members")         // tenant user               → memberRec
	bktUserTenants    = []byte("user_tenants")    // user tenant               → empty
	bktAPIKeys        = []byte("api_keys")        // key id                    → apiKeyRec
	bktTenantAPIKeys  = []byte("tenant_api_keys") // tenant key-id             → empty
	bktSessions       = []byte("sessions")        // session id                → sessionRec
	bktUserSessions   = []byte("user_sessions")   // user session-id           → empty
	bktAudit          = []byte("audit")           // tenant id                 → auditRec
	bktAuditIDs       = []byte("audit_ids")       // tenant                    → last audit id given

	// Usage (usage.go): hourly counters, and the meters' applied keys with
	// an index by when they were recorded, for pruning.
	bktUsage         = []byte("usage")           // tenant hour(unix s)             → usageRec
	bktUsageKeys     = []byte("usage_keys")      // tenant key                      → recorded (unix µs)
	bktUsageKeyTimes = []byte("usage_key_times") // recorded(unix µs) tenant key   → empty

	allBuckets = [][]byte{bktTenants, bktTenantNames, bktTopics, bktTopicNames, bktPartitions,
		bktSegments, bktOffsets, bktSchemas, bktSchemaFPs, bktSchemaIDs, bktSubjects, bktObjectRefs,
		bktTenantSettings, bktUsers, bktUserEmails, bktMembers, bktUserTenants, bktAPIKeys,
		bktTenantAPIKeys, bktSessions, bktUserSessions, bktAudit, bktAuditIDs,
		bktUsage, bktUsageKeys, bktUsageKeyTimes}
)

type tenantRec struct {
	Name    string `json:"name"`
	Created int64  `json:"created"` // unix µs
}

type topicRec struct {
	Name           string `json:"name"`
	Partitions     int32  `json:"partitions"`
	Durability     string `json:"durability"`
	RetentionMs    int64  `json:"retention_ms"`
	RetentionBytes int64  `json:"retention_bytes"`
	CleanupPolicy  string `json:"cleanup_policy"`
	Created        int64  `json:"created"` // unix µs
	Updated        int64  `json:"updated"` // unix µs
}

type partitionRec struct {
	Epoch          int64  `json:"epoch"`
	HighWatermark  int64  `json:"hw"`
	LogStartOffset int64  `json:"log_start"`
	LastWALSeq     uint64 `json:"last_wal_seq,omitempty"`
}

type segmentRec struct {
	Epoch        int64  `json:"epoch"`
	ObjectKey    string `json:"key"`
	Position     int64  `json:"pos"`
	Length       int64  `json:"len"`
	ObjectSize   int64  `json:"object_size"`
	LastOffset   int64  `json:"last"` // the first offset is in the key
	MinTimestamp int64  `json:"min_ts"`
	MaxTimestamp int64  `json:"max_ts"`
	RecordCount  int64  `json:"records"`
	WALSeq       uint64 `json:"wal_seq"`
	Committed    int64  `json:"committed"` // unix µs
}

type offsetRec struct {
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata,omitempty"`
	Committed int64  `json:"committed"` // unix µs
}

type schemaRec struct {
	Type       string            `json:"type"`
	Text       string            `json:"text"`
	Canonical  string            `json:"canonical"`
	References []SchemaReference `json:"refs,omitempty"`
}

type versionRec struct {
	SchemaID int64 `json:"schema_id"`
	Deleted  bool  `json:"deleted,omitempty"`
	Created  int64 `json:"created"` // unix µs
}

type tenantSettingsRec struct {
	DisplayName string `json:"display_name"`
	Plan        string `json:"plan"`
	Status      string `json:"status"`
	Updated     int64  `json:"updated"` // unix µs
}

type userRec struct {
	Email        string `json:"email"`
	PasswordHash string `json:"password_hash"`
	Created      int64  `json:"created"` // unix µs
}

type memberRec struct {
	Role    string `json:"role"`
	Created int64  `json:"created"` // unix µs
}

// Times of 0 in apiKeyRec and sessionRec mean unset.
type apiKeyRec struct {
	Tenant    int64  `json:"tenant"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Hash      []byte `json:"hash"`
	Expires   int64  `json:"expires,omitempty"` // unix µs
	CreatedBy int64  `json:"created_by,omitempty"`
	Created   int64  `json:"created"`             // unix µs
	Revoked   int64  `json:"revoked,omitempty"`   // unix µs
	LastUsed  int64  `json:"last_used,omitempty"` // unix µs
}

type sessionRec struct {
	User    int64  `json:"user"`
	Tenant  int64  `json:"tenant"`
	Hash    []byte `json:"hash"`
	Expires int64  `json:"expires"`           // unix µs
	Created int64  `json:"created"`           // unix µs
	Revoked int64  `json:"revoked,omitempty"` // unix µs
}

type auditRec struct {
	At     int64  `json:"at"` // unix µs
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
}

type usageRec struct {
	RecordsProduced  int64 `json:"records_produced"`
	BytesProduced    int64 `json:"bytes_produced"`
	RecordsConsumed  int64 `json:"records_consumed"`
	BytesConsumed    int64 `json:"bytes_consumed"`
	StorageByteHours int64 `json:"storage_byte_hours"`
}

// Key building. Ids and offsets are non-negative, so their big-endian bytes
// sort numerically.

func be64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func cat(parts ...[]byte) []byte {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func topicKey(tenant, topic int64) []byte { return cat(be64(tenant), be64(topic)) }

func partitionKey(p PartitionID) []byte {
	return binary.BigEndian.AppendUint32(topicKey(p.Tenant, p.Topic), uint32(p.Partition))
}

func segmentKey(p PartitionID, first int64) []byte { return cat(partitionKey(p), be64(first)) }

// objectRefPrefix is the prefix of an object's keys in bktObjectRefs. The
// length comes first so that no object key is a prefix of another's entries
// (object keys may contain any byte, NUL included).
func objectRefPrefix(objectKey string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(objectKey))), objectKey...)
}

func objectRefKey(objectKey string, segKey []byte) []byte {
	return cat(objectRefPrefix(objectKey), segKey)
}

func groupPrefix(tenant int64, group string) []byte {
	return cat(be64(tenant), []byte(group), []byte{0})
}

func offsetKey(tenant int64, group string, topic int64, partition int32) []byte {
	return binary.BigEndian.AppendUint32(cat(groupPrefix(tenant, group), be64(topic)), uint32(partition))
}

// subjectPrefix is the prefix of a subject's version keys: tenant, subject,
// NUL (the same shape as a group's).
func subjectPrefix(tenant int64, subject string) []byte { return groupPrefix(tenant, subject) }

func versionKey(tenant int64, subject string, version int) []byte {
	return binary.BigEndian.AppendUint32(subjectPrefix(tenant, subject), uint32(version))
}

func readBE64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// splitText splits a "tenant text NUL rest" key into text and rest.
func splitText(k []byte) (string, []byte) {
	i := bytes.IndexByte(k[8:], 0)
	if i < 0 {
		return string(k[8:]), nil
	}
	return string(k[8 : 8+i]), k[8+i+1:]
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// getJSON decodes the value under k into v; it reports false if k is absent.
func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode value of key %x: %w", k, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return b.Put(k, raw)
}

// prefixScan calls fn for each key under prefix in order, until fn returns
// false or an error. fn must not modify the bucket.
func prefixScan(b *bolt.Bucket, prefix []byte, fn func(k, v []byte) (bool, error)) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// deleteKeys removes keys collected during a scan (deleting while a cursor
// walks can skip keys).
func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deletePrefix removes every key under prefix, calling each (if not nil) on
// each pair first.
func deletePrefix(b *bolt.Bucket, prefix []byte, each func(k, v []byte) error) error {
	var keys [][]byte
	err := prefixScan(b, prefix, func(k, v []byte) (bool, error) {
		keys = append(keys, bytes.Clone(k))
		if each != nil {
			return true, each(k, v)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return deleteKeys(b, keys)
}

func hasPrefix(k, prefix []byte) bool { return bytes.HasPrefix(k, prefix) }

func beUint32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// decodeValue decodes a raw JSON value.
func decodeValue(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	return nil
}
