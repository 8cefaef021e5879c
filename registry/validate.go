package registry

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest tenant or topic name, Kafka's limit.
const MaxNameLen = 249

// MaxFreeNameLen is the longest consumer group id or schema subject, in bytes.
const MaxFreeNameLen = 255

// ValidateName reports whether name is a valid tenant or topic name: Kafka's
// rule, ^[a-zA-Z0-9._-]{1,249}$ and neither "." nor "..". The error wraps
// ErrInvalid and names the problem; names are never mangled into shape.
func ValidateName(name string) error { return validateName("name", name) }

func validateName(field, name string) error {
	switch {
	case name == "":
		return &ValidationError{Field: field, Reason: "empty; 1 to 249 characters of a-z A-Z 0-9 . _ - are allowed"}
	case len(name) > MaxNameLen:
		return &ValidationError{Field: field, Value: shorten(name),
			Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(name), MaxNameLen)}
	case name == "." || name == "..":
		return &ValidationError{Field: field, Value: shorten(name), Reason: `"." and ".." are reserved`}
	}
	for i, r := range name {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			continue
		}
		return &ValidationError{Field: field, Value: shorten(name),
			Reason: fmt.Sprintf("contains %q at byte %d; only a-z A-Z 0-9 . _ - are allowed", r, i)}
	}
	return nil
}

// validateFreeName checks a consumer group id or a schema subject: 1 to
// MaxFreeNameLen bytes of valid UTF-8 without control characters (so a NUL
// can separate it from what follows in an embedded key).
func validateFreeName(field, s string) error {
	switch {
	case s == "":
		return &ValidationError{Field: field, Reason: "empty"}
	case len(s) > MaxFreeNameLen:
		return &ValidationError{Field: field, Value: shorten(s),
			Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(s), MaxFreeNameLen)}
	case !utf8.ValidString(s):
		return &ValidationError{Field: field, Value: shorten(s), Reason: "not valid UTF-8"}
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return &ValidationError{Field: field, Value: shorten(s),
				Reason: fmt.Sprintf("contains control character %U at byte %d", r, i)}
		}
	}
	return nil
}

// shorten quotes s for an error message, cut to 64 bytes.
func shorten(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

func validateID(field string, id int64) error {
	if id <= 0 {
		return &ValidationError{Field: field, Value: fmt.Sprint(id), Reason: "must be positive"}
	}
	return nil
}

func validatePartitionID(p PartitionID) error {
	if err := validateID("tenant id", p.Tenant); err != nil {
		return err
	}
	if err := validateID("topic id", p.Topic); err != nil {
		return err
	}
	if p.Partition < 0 {
		return &ValidationError{Field: "partition", Value: fmt.Sprint(p.Partition), Reason: "must not be negative"}
	}
	return nil
}

func validateRetention(ms, bytes int64) error {
	if ms != Unlimited && ms <= 0 {
		return &ValidationError{Field: "retention ms", Value: fmt.Sprint(ms), Reason: "must be positive or -1 (unlimited)"}
	}
	if bytes != Unlimited && bytes <= 0 {
		return &ValidationError{Field: "retention bytes", Value: fmt.Sprint(bytes), Reason: "must be positive or -1 (unlimited)"}
	}
	return nil
}

// topicSpecWithDefaults applies TopicSpec's documented defaults and
// validates the result.
func topicSpecWithDefaults(spec TopicSpec) (TopicSpec, error) {
	if err := validateName("topic name", spec.Name); err != nil {
		return spec, err
	}
	if spec.Partitions < 1 || spec.Partitions > MaxPartitions {
		return spec, &ValidationError{Field: "partitions", Value: fmt.Sprint(spec.Partitions),
			Reason: fmt.Sprintf("must be 1 to %d", MaxPartitions)}
	}
	if spec.Durability == "" {
		spec.Durability = DurabilityWAL
	}
	if spec.Durability != DurabilityWAL && spec.Durability != DurabilityObject {
		return spec, &ValidationError{Field: "durability", Value: shorten(string(spec.Durability)), Reason: `must be "wal" or "object"`}
	}
	if spec.CleanupPolicy == "" {
		spec.CleanupPolicy = CleanupDelete
	}
	if spec.CleanupPolicy != CleanupDelete && spec.CleanupPolicy != CleanupCompact {
		return spec, &ValidationError{Field: "cleanup policy", Value: shorten(string(spec.CleanupPolicy)), Reason: `must be "delete" or "compact"`}
	}
	if spec.RetentionMs == 0 {
		spec.RetentionMs = DefaultRetentionMs
	}
	if spec.RetentionBytes == 0 {
		spec.RetentionBytes = Unlimited
	}
	return spec, validateRetention(spec.RetentionMs, spec.RetentionBytes)
}

// validateSegment checks a segment's own fields; the store then checks it
// against the partition (epoch, high watermark).
func validateSegment(s Segment) error {
	if err := validatePartitionID(s.Partition); err != nil {
		return err
	}
	bad := func(reason string) error {
		return &ValidationError{Field: "segment", Value: fmt.Sprintf("%s@%d", s.Partition, s.FirstOffset), Reason: reason}
	}
	switch {
	case s.Epoch < 0:
		return bad("negative epoch")
	case s.ObjectKey == "":
		return bad("empty object key")
	case len(s.ObjectKey) > 1024:
		return bad("object key longer than 1024 bytes")
	case !utf8.ValidString(s.ObjectKey):
		return bad("object key is not valid UTF-8")
	case s.Position < 0 || s.Length <= 0:
		return bad(fmt.Sprintf("byte range %d+%d: position must be >= 0 and length > 0", s.Position, s.Length))
	case s.ObjectSize < s.Position+s.Length || s.Position+s.Length < 0:
		return bad(fmt.Sprintf("byte range %d+%d ends past the object size %d", s.Position, s.Length, s.ObjectSize))
	case s.FirstOffset < 0 || s.LastOffset < s.FirstOffset || s.LastOffset == math.MaxInt64:
		return bad(fmt.Sprintf("offsets %d..%d: need 0 <= first <= last < max int64", s.FirstOffset, s.LastOffset))
	case s.RecordCount < 1 || s.RecordCount-1 > s.LastOffset-s.FirstOffset:
		return bad(fmt.Sprintf("record count %d: need 1..%d", s.RecordCount, s.LastOffset-s.FirstOffset+1))
	case s.MinTimestamp > s.MaxTimestamp:
		return bad(fmt.Sprintf("min timestamp %d after max timestamp %d", s.MinTimestamp, s.MaxTimestamp))
	case s.WALSeq > math.MaxInt64:
		return bad(fmt.Sprintf("WAL sequence %d beyond max int64", s.WALSeq))
	}
	return nil
}

func validateGroupOffsets(tenant int64, group string, offsets []GroupOffset) error {
	if err := validateID("tenant id", tenant); err != nil {
		return err
	}
	if err := validateFreeName("group id", group); err != nil {
		return err
	}
	type tp struct {
		topic     int64
		partition int32
	}
	seen := make(map[tp]bool, len(offsets))
	for _, o := range offsets {
		if err := validatePartitionID(PartitionID{Tenant: tenant, Topic: o.Topic, Partition: o.Partition}); err != nil {
			return err
		}
		at := fmt.Sprintf("%d/%d", o.Topic, o.Partition)
		if o.Offset < 0 {
			return &ValidationError{Field: "offset", Value: at, Reason: fmt.Sprintf("%d is negative", o.Offset)}
		}
		if len(o.Metadata) > MaxOffsetMetadata {
			return &ValidationError{Field: "offset metadata", Value: at,
				Reason: fmt.Sprintf("%d bytes long, the limit is %d", len(o.Metadata), MaxOffsetMetadata)}
		}
		if !utf8.ValidString(o.Metadata) {
			return &ValidationError{Field: "offset metadata", Value: at, Reason: "not valid UTF-8"}
		}
		k := tp{o.Topic, o.Partition}
		if seen[k] {
			return &ValidationError{Field: "offsets", Value: at, Reason: "partition given twice"}
		}
		seen[k] = true
	}
	return nil
}

// schemaSpecWithDefaults validates spec and fills Canonical from Text.
func schemaSpecWithDefaults(subject string, spec SchemaSpec) (SchemaSpec, error) {
	if err := validateFreeName("subject", subject); err != nil {
		return spec, err
	}
	switch spec.Type {
	case SchemaAvro, SchemaJSON, SchemaProtobuf:
	default:
		return spec, &ValidationError{Field: "schema type", Value: shorten(string(spec.Type)), Reason: "must be AVRO, JSON or PROTOBUF"}
	}
	if spec.Text == "" {
		return spec, &ValidationError{Field: "schema", Reason: "empty text"}
	}
	if !utf8.ValidString(spec.Text) || !utf8.ValidString(spec.Canonical) {
		return spec, &ValidationError{Field: "schema", Reason: "not valid UTF-8"}
	}
	if spec.Canonical == "" {
		spec.Canonical = spec.Text
	}
	for _, r := range spec.References {
		if r.Name == "" {
			return spec, &ValidationError{Field: "schema reference", Value: shorten(r.Subject), Reason: "empty name"}
		}
		if err := validateFreeName("referenced subject", r.Subject); err != nil {
			return spec, err
		}
		if err := validateVersion(r.Version); err != nil {
			return spec, fmt.Errorf("schema reference %s: %w", shorten(r.Name), err)
		}
	}
	if spec.References == nil {
		spec.References = []SchemaReference{}
	}
	return spec, nil
}

// validateVersion checks a subject version number (not LatestVersion).
func validateVersion(v int) error {
	if v < 1 || v > math.MaxInt32 {
		return &ValidationError{Field: "version", Value: fmt.Sprint(v), Reason: "must be 1 to 2147483647"}
	}
	return nil
}

// schemaFingerprint is the identity of a schema within a tenant: equal type,
// canonical form and references give one schema id.
func schemaFingerprint(spec SchemaSpec) string {
	b, _ := json.Marshal(struct { // cannot fail: strings and ints only
		T SchemaType        `json:"t"`
		C string            `json:"c"`
		R []SchemaReference `json:"r"`
	}{spec.Type, spec.Canonical, spec.References})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// prepareSegments validates segs and returns them sorted by partition, then
// first offset: the order both stores apply them in, so that concurrent
// multi-partition commits lock rows in one order and cannot deadlock.
func prepareSegments(segs []Segment) ([]Segment, error) {
	for i, s := range segs {
		if err := validateSegment(s); err != nil {
			return nil, fmt.Errorf("segment %d of %d: %w", i+1, len(segs), err)
		}
	}
	out := slices.Clone(segs)
	sortSegments(out)
	return out, nil
}

// sortSegments sorts by partition, then first offset.
func sortSegments(segs []Segment) {
	slices.SortStableFunc(segs, func(a, b Segment) int {
		return cmp.Or(
			cmp.Compare(a.Partition.Tenant, b.Partition.Tenant),
			cmp.Compare(a.Partition.Topic, b.Partition.Topic),
			cmp.Compare(a.Partition.Partition, b.Partition.Partition),
			cmp.Compare(a.FirstOffset, b.FirstOffset))
	})
}

// validateNewPartitionCount checks AddPartitions' newCount against the
// topic's current count.
func validateNewPartitionCount(current, newCount int32) error {
	switch {
	case newCount > MaxPartitions:
		return &ValidationError{Field: "partitions", Value: fmt.Sprint(newCount),
			Reason: fmt.Sprintf("must be at most %d", MaxPartitions)}
	case newCount <= current:
		return &ValidationError{Field: "partitions", Value: fmt.Sprint(newCount),
			Reason: fmt.Sprintf("must be more than the topic's %d (partitions are never removed)", current)}
	}
	return nil
}
