package registry

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is. Each is wrapped with what it is
// about, e.g. `topic "orders" in tenant 3: registry: not found`.
var (
	// ErrNotFound: the tenant, topic, partition, segment, group, subject,
	// version or schema does not exist (or belongs to another tenant).
	ErrNotFound = errors.New("registry: not found")
	// ErrExists: a tenant or topic of that name, or an index row at that
	// offset, already exists.
	ErrExists = errors.New("registry: already exists")
	// ErrInvalid: the input breaks a rule; the message names the rule.
	ErrInvalid = errors.New("registry: invalid")
	// ErrEpochFenced: the caller's epoch is not the partition's current one,
	// so another owner has taken (or is taking) the partition. An owner that
	// sees it must stop at once. Comes as an *EpochError.
	ErrEpochFenced = errors.New("registry: epoch fenced")
	// ErrOffsetConflict: a segment's first offset is not the partition's
	// high watermark (a gap or an overlap). Comes as an *OffsetError.
	ErrOffsetConflict = errors.New("registry: offset conflict")
)

// EpochError reports a compare-and-set on a partition's epoch that failed:
// the caller expected Expected, the store holds Actual. It unwraps to
// ErrEpochFenced.
type EpochError struct {
	Partition PartitionID
	Expected  int64
	Actual    int64
}

func (e *EpochError) Error() string {
	return fmt.Sprintf("partition %s: epoch %d is not current (current %d): %v",
		e.Partition, e.Expected, e.Actual, ErrEpochFenced)
}

func (e *EpochError) Unwrap() error { return ErrEpochFenced }

// OffsetError reports a segment whose first offset (Got) is not the
// partition's high watermark (Want). It unwraps to ErrOffsetConflict.
type OffsetError struct {
	Partition PartitionID
	Want      int64
	Got       int64
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("partition %s: segment starts at offset %d, high watermark is %d: %v",
		e.Partition, e.Got, e.Want, ErrOffsetConflict)
}

func (e *OffsetError) Unwrap() error { return ErrOffsetConflict }

// ValidationError reports input that breaks a rule. It unwraps to
// ErrInvalid.
type ValidationError struct {
	Field  string // "topic name", "partitions", "segment", ...
	Value  string // the offending value, quoted, possibly shortened
	Reason string // what is wrong, e.g. "contains '/'"
}

func (e *ValidationError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("invalid %s: %s: %v", e.Field, e.Reason, ErrInvalid)
	}
	return fmt.Sprintf("invalid %s %s: %s: %v", e.Field, e.Value, e.Reason, ErrInvalid)
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// notFound wraps ErrNotFound with what was looked for.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotFound)
}

// exists wraps ErrExists with what was in the way.
func exists(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrExists)
}
