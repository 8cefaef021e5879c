package registry

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Usage is the billing meter's sink: hourly usage counters per tenant (an
// organization), added to idempotently, and the stored bytes the meter
// samples. The registry does not know plans or prices; billing does.
type Usage interface {
	// AddUsage adds u to the tenant's row for the hour and records key, in
	// one transaction. A key already recorded changes nothing and returns
	// nil, so a meter may retry a flush whose reply it lost. Keys are per
	// tenant: another tenant's equal key is a different one. hour must be
	// UTC and on the hour, every count >= 0, key 1 to MaxUsageKeyLen bytes
	// (else ErrInvalid); a sum past the int64 range is ErrInvalid too.
	// Unknown tenant: ErrNotFound.
	AddUsage(ctx context.Context, tenant int64, hour time.Time, u UsageCounts, key string) error
	// Usage returns the tenant's hourly rows with from <= Hour < to, sorted
	// by hour; never another tenant's. Hours with nothing added have no row.
	Usage(ctx context.Context, tenant int64, from, to time.Time) ([]HourUsageRow, error)
	// StorageBytes returns, per tenant that has committed segments, the sum
	// of their Length (as PartitionSizes counts them), as of one consistent
	// read. Tenants without segments are absent.
	StorageBytes(ctx context.Context) (map[int64]int64, error)
	// PruneUsageKeys deletes the applied keys recorded before before and
	// returns how many went. A pruned key, given again, counts again: prune
	// only keys no meter may still retry.
	PruneUsageKeys(ctx context.Context, before time.Time) (int, error)
}

// MaxUsageKeyLen is the longest AddUsage key, in bytes.
const MaxUsageKeyLen = 200

// UsageCounts is one tenant's usage over some span; billing.Usage has the
// same fields (the registry imports nothing of the project).
type UsageCounts struct {
	RecordsProduced  int64
	BytesProduced    int64
	RecordsConsumed  int64
	BytesConsumed    int64
	StorageByteHours int64
}

// HourUsageRow is a tenant's usage in the hour starting at Hour (UTC).
type HourUsageRow struct {
	Hour  time.Time
	Usage UsageCounts
}

// fields lists the counts with their names, in a fixed order.
func (u UsageCounts) fields() [5]struct {
	name string
	v    int64
} {
	return [5]struct {
		name string
		v    int64
	}{{"records produced", u.RecordsProduced}, {"bytes produced", u.BytesProduced},
		{"records consumed", u.RecordsConsumed}, {"bytes consumed", u.BytesConsumed},
		{"storage byte-hours", u.StorageByteHours}}
}

// addUsageCounts returns a+b, or ErrInvalid naming the count that would
// overflow.
func addUsageCounts(a, b UsageCounts) (UsageCounts, error) {
	af, bf := a.fields(), b.fields()
	for i := range af {
		if af[i].v > math.MaxInt64-bf[i].v {
			return UsageCounts{}, &ValidationError{Field: "usage " + af[i].name,
				Value: fmt.Sprint(bf[i].v), Reason: "the hour's total would overflow int64"}
		}
	}
	return UsageCounts{
		RecordsProduced:  a.RecordsProduced + b.RecordsProduced,
		BytesProduced:    a.BytesProduced + b.BytesProduced,
		RecordsConsumed:  a.RecordsConsumed + b.RecordsConsumed,
		BytesConsumed:    a.BytesConsumed + b.BytesConsumed,
		StorageByteHours: a.StorageByteHours + b.StorageByteHours,
	}, nil
}

// validateUsage checks AddUsage's arguments.
func validateUsage(hour time.Time, u UsageCounts, key string) error {
	if hour.Location() != time.UTC || !hour.Equal(hour.Truncate(time.Hour)) || hour.Unix() < 0 {
		return &ValidationError{Field: "usage hour", Value: fmt.Sprintf("%q", hour.String()),
			Reason: "must be UTC, on the hour, not before 1970"}
	}
	for _, f := range u.fields() {
		if f.v < 0 {
			return &ValidationError{Field: "usage " + f.name, Value: fmt.Sprint(f.v), Reason: "is negative"}
		}
	}
	if len(key) == 0 || len(key) > MaxUsageKeyLen {
		return &ValidationError{Field: "usage key", Value: shorten(key),
			Reason: fmt.Sprintf("must be 1 to %d bytes, is %d", MaxUsageKeyLen, len(key))}
	}
	return nil
}
