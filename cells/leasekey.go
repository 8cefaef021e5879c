package cells

import (
	"fmt"
	"strconv"
	"strings"
)

// LeaseKey names what a lease owns: one partition of one topic of one
// tenant, by ids, never by names, so that a dot in a name cannot split a key.
// Its string form, the key in the lease bucket, is
// "<tenant id>.<topic id>.<partition>" (DESIGN.md); it is a storage format:
// append-only, never reinterpreted.
type LeaseKey struct {
	Tenant    int64 // the tenant's id, > 0
	Topic     int64 // the topic's id, > 0
	Partition int32 // the partition's index, >= 0
}

// String is the key's canonical form in the lease bucket, such as "1.42.3".
func (k LeaseKey) String() string {
	var b []byte
	b = strconv.AppendInt(b, k.Tenant, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, k.Topic, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(k.Partition), 10)
	return string(b)
}

// Validate reports whether the ids are in range: tenant and topic ids are
// positive, the partition is not negative.
func (k LeaseKey) Validate() error {
	if k.Tenant <= 0 || k.Topic <= 0 || k.Partition < 0 {
		return fmt.Errorf("invalid lease key %s: want tenant id > 0, topic id > 0, partition >= 0", k)
	}
	return nil
}

// ParseLeaseKey parses the canonical form String writes. It refuses anything
// else, leading zeros and signs included, so that one partition never has
// two keys in the bucket.
func ParseLeaseKey(s string) (LeaseKey, error) {
	tenant, rest, ok1 := strings.Cut(s, ".")
	topic, part, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return LeaseKey{}, fmt.Errorf("parse lease key %q: want <tenant id>.<topic id>.<partition>", s)
	}
	var k LeaseKey
	var err error
	if k.Tenant, err = parseCanonicalInt(tenant, 63); err != nil {
		return LeaseKey{}, fmt.Errorf("parse lease key %q: tenant id: %w", s, err)
	}
	if k.Topic, err = parseCanonicalInt(topic, 63); err != nil {
		return LeaseKey{}, fmt.Errorf("parse lease key %q: topic id: %w", s, err)
	}
	p, err := parseCanonicalInt(part, 31)
	if err != nil {
		return LeaseKey{}, fmt.Errorf("parse lease key %q: partition: %w", s, err)
	}
	k.Partition = int32(p)
	if err := k.Validate(); err != nil {
		return LeaseKey{}, fmt.Errorf("parse lease key %q: %w", s, err)
	}
	return k, nil
}

// parseCanonicalInt parses a non-negative decimal that fits in bits bits plus
// a sign, written as strconv writes it: digits only, no leading zeros.
func parseCanonicalInt(s string, bits int) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a non-negative decimal", s)
	}
	n, err := strconv.ParseInt(s, 10, bits+1)
	if err != nil {
		return 0, err
	}
	if strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%q is not in canonical form", s)
	}
	return n, nil
}
