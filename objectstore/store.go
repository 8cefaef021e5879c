// Package objectstore is StreamHouse's seam to object storage: a small Store
// interface, the implementations behind it (local filesystem, S3, in-memory)
// and decorators (metrics, fault injection) that wrap any of them.
//
// Consistency assumed of every implementation: strong read-after-write and
// list-after-write for a single key, as S3 has given since December 2020 and
// as a POSIX filesystem gives after rename. A Put is atomic: a reader sees the
// whole old object, the whole new one, or nothing, never a torn write.
// Nothing is assumed about ordering across keys.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Store reads and writes whole objects by key. Keys are slash-separated
// paths ("prefix/tenant/topic/0/00000000000000000000-1.seg"); see ValidateKey.
// Implementations are safe for concurrent use.
type Store interface {
	// Put writes data under key, replacing any object there. It returns only
	// once the object is durable (fsynced, or acknowledged by S3).
	Put(ctx context.Context, key string, data []byte) error

	// PutIfAbsent writes data under key only if no object exists there. If one
	// does, it returns an error wrapping ErrPreconditionFailed and leaves the
	// existing object untouched. Two racing calls for one key: exactly one wins.
	PutIfAbsent(ctx context.Context, key string, data []byte) error

	// Get returns the whole object. A missing key wraps ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)

	// GetRange returns length bytes of the object starting at offset, fewer
	// if the object ends first. An offset at or past the end of the object, a
	// negative offset or a length below 1 wraps ErrInvalidRange; a missing
	// key wraps ErrNotFound. A negative offset or a length below 1 is refused
	// before the key is looked up, so it wraps ErrInvalidRange even for a
	// missing key.
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)

	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)

	// Delete removes the object under key. Deleting a missing key is not an
	// error, so a retried delete is safe.
	Delete(ctx context.Context, key string) error
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("object not found")
	// ErrPreconditionFailed: a conditional write found an object in the way.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrInvalidRange: a ranged read outside the object.
	ErrInvalidRange = errors.New("invalid range")
	// ErrInvalidKey: a key that ValidateKey refuses.
	ErrInvalidKey = errors.New("invalid key")
)

// Error is returned by every Store: the operation, the key and the cause.
type Error struct {
	Op  string // "put", "put-if-absent", "get", "get-range", "list", "delete"
	Key string // the key, or the prefix for list
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("objectstore %s %s: %v", e.Op, e.Key, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// MaxKeyLen is the longest key accepted, S3's own limit in bytes.
const MaxKeyLen = 1024

// ValidateKey refuses keys that are empty, longer than MaxKeyLen, start or end
// with a slash, are not UTF-8 (S3 keys must be), contain an empty, "." or
// ".." segment, a backslash or a control character. These rules keep a key
// meaning the same path on a filesystem and in a bucket.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalidKey, len(key), MaxKeyLen)
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/"):
		return fmt.Errorf("%w: %q starts or ends with a slash", ErrInvalidKey, key)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %q is not UTF-8", ErrInvalidKey, key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: %q contains %q", ErrInvalidKey, key, r)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrInvalidKey, key)
		}
	}
	return nil
}

// checkRangeArgs refuses the ranges no object satisfies, before any I/O.
func checkRangeArgs(offset, length int64) error {
	if offset < 0 || length < 1 {
		return fmt.Errorf("%w: offset %d length %d", ErrInvalidRange, offset, length)
	}
	return nil
}

// checkRange validates a GetRange request against an object of size bytes
// and returns the end of the range, clipped to the object.
func checkRange(size, offset, length int64) (end int64, err error) {
	if offset < 0 || length < 1 || offset >= size {
		return 0, fmt.Errorf("%w: offset %d length %d of an object of %d bytes", ErrInvalidRange, offset, length, size)
	}
	return offset + min(length, size-offset), nil // offset+length may overflow
}
