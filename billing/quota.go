package billing

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Quota names one limit of a plan; the names are the pricing file's
// field names and appear in refusals, so they are part of the API.
type Quota string

// The quotas of a plan.
const (
	QuotaTopics                  Quota = "topics"
	QuotaPartitionsPerTopic      Quota = "partitions_per_topic"
	QuotaRecordsPerMonth         Quota = "records_per_month"
	QuotaStorageBytes            Quota = "storage_bytes"
	QuotaProduceBytesPerSecond   Quota = "produce_bytes_per_second"
	QuotaProduceRecordsPerSecond Quota = "produce_records_per_second"
	QuotaFetchBytesPerSecond     Quota = "fetch_bytes_per_second"
	QuotaAPIKeys                 Quota = "api_keys"
	QuotaMembers                 Quota = "members"
)

// IsRate reports whether q is a per-second rate, enforced by Limiters.
func (q Quota) IsRate() bool {
	switch q {
	case QuotaProduceBytesPerSecond, QuotaProduceRecordsPerSecond, QuotaFetchBytesPerSecond:
		return true
	}
	return false
}

// Limit returns the plan's limit for q.
func (p *Plan) Limit(q Quota) (Limit, error) {
	l := &p.Limits
	switch q {
	case QuotaTopics:
		return l.Topics, nil
	case QuotaPartitionsPerTopic:
		return l.PartitionsPerTopic, nil
	case QuotaRecordsPerMonth:
		return l.RecordsPerMonth, nil
	case QuotaStorageBytes:
		return l.StorageBytes, nil
	case QuotaProduceBytesPerSecond:
		return l.ProduceBytesPerSecond, nil
	case QuotaProduceRecordsPerSecond:
		return l.ProduceRecordsPerSecond, nil
	case QuotaFetchBytesPerSecond:
		return l.FetchBytesPerSecond, nil
	case QuotaAPIKeys:
		return l.APIKeys, nil
	case QuotaMembers:
		return l.Members, nil
	}
	return 0, fmt.Errorf("unknown quota %q", q)
}

// ErrQuotaExceeded matches every *QuotaError with errors.Is.
var ErrQuotaExceeded = errors.New("quota exceeded")

// QuotaKind says how a refusal maps to HTTP (the router's error table).
type QuotaKind int

const (
	// KindCount is a count or volume over its limit (topics, records this
	// month, storage): 403, and retrying does not help until usage drops
	// or the plan is upgraded.
	KindCount QuotaKind = iota
	// KindRate is a per-second rate over its limit: 429 with RetryAfter.
	KindRate
	// KindBatch is a single batch larger than one second of the rate (the
	// limiter's burst): it can never pass, so it is a 413; split the batch.
	KindBatch
)

// QuotaError is a refusal that names the quota and the limit.
type QuotaError struct {
	Quota Quota
	Plan  string
	Limit int64
	// Used is what was in use before the request; for a rate, zero.
	Used int64
	// Adding is what the refused request asked for.
	Adding int64
	// RetryAfter is, for KindRate, when the same request would pass.
	RetryAfter time.Duration
	kind       QuotaKind
}

// Kind says whether the refusal is a count, a rate or an oversized batch.
func (e *QuotaError) Kind() QuotaKind { return e.kind }

// HTTPStatus is the status the router answers with: 403 for counts and
// volumes, 429 for rates, 413 for a batch larger than a second of the rate.
func (e *QuotaError) HTTPStatus() int {
	switch e.kind {
	case KindRate:
		return http.StatusTooManyRequests
	case KindBatch:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusForbidden
}

// RetryAfterDuration is RetryAfter, for the router's QuotaRefusal.
func (e *QuotaError) RetryAfterDuration() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

func (e *QuotaError) Error() string {
	switch e.kind {
	case KindRate:
		return fmt.Sprintf("quota %s exceeded: limit %d on plan %s, retry after %s",
			e.Quota, e.Limit, e.Plan, e.RetryAfter.Round(time.Millisecond))
	case KindBatch:
		return fmt.Sprintf("quota %s exceeded: a batch of %d is more than the limit %d on plan %s, the most one request may carry; split it",
			e.Quota, e.Adding, e.Limit, e.Plan)
	}
	if e.Quota == QuotaPartitionsPerTopic && e.Used+e.Adding >= e.Used {
		// A per-topic size, not a running count: "used" would mislead.
		return fmt.Sprintf("quota %s exceeded: a topic of %d partitions is more than the limit %d on plan %s",
			e.Quota, e.Used+e.Adding, e.Limit, e.Plan)
	}
	if e.Adding == 1 {
		return fmt.Sprintf("quota %s exceeded: %d of %d used on plan %s", e.Quota, e.Used, e.Limit, e.Plan)
	}
	return fmt.Sprintf("quota %s exceeded: %d of %d used, %d more requested on plan %s",
		e.Quota, e.Used, e.Limit, e.Adding, e.Plan)
}

// Check reports whether adding more to used stays within the plan's count
// or volume quota q: nil if used+adding <= limit or the limit is
// unlimited or nothing is added, a *QuotaError (KindCount) otherwise. Rates are checked by
// Limiters, not here; negative used or adding is refused as bad input.
func (p *Plan) Check(q Quota, used, adding int64) error {
	if q.IsRate() {
		return fmt.Errorf("check quota %s: a rate is enforced by Limiters", q)
	}
	if used < 0 || adding < 0 {
		return fmt.Errorf("check quota %s: negative usage (used %d, adding %d)", q, used, adding)
	}
	limit, err := p.Limit(q)
	if err != nil {
		return fmt.Errorf("check quota: %w", err)
	}
	if adding == 0 || limit.IsUnlimited() || adding <= int64(limit)-used {
		return nil
	}
	return &QuotaError{Quota: q, Plan: p.Name, Limit: int64(limit), Used: used, Adding: adding, kind: KindCount}
}
