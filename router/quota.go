package router

import (
	"context"
	"time"
)

// Quotas holds each organization to its plan (billing, wired in by cmd).
// Every call happens before anything of the request is written or read, so
// a refusal leaves nothing behind. A refusal is an error that implements
// QuotaRefusal (billing's *QuotaError does); any other error is a failure
// of the check itself (the registry is unreachable: 503).
type Quotas interface {
	// AdmitProduce admits one produce request (HTTP or one WebSocket
	// frame) of records and bytes (keys, values and headers, as metered),
	// against the produce rates, the month's records and the storage.
	AdmitProduce(ctx context.Context, tenant, records, bytes int64) error
	// AdmitFetch admits one fetch (gRPC Fetch, one Subscribe or WebSocket
	// poll, an HTTP record read) before it is served: it is refused while
	// the organization's fetch rate is spent. ChargeFetch books what was
	// served, afterwards (a fetch's size is known only then).
	AdmitFetch(ctx context.Context, tenant int64) error
	ChargeFetch(tenant, bytes int64)
	// AdmitTopic admits creating one more topic of partitions partitions.
	AdmitTopic(ctx context.Context, tenant int64, partitions int32) error
	// AdmitPartitions admits growing a topic to total partitions.
	AdmitPartitions(ctx context.Context, tenant int64, total int32) error
}

// QuotaRefusal is the error Quotas return to refuse: HTTPStatus is 403
// (a count or volume: topics, partitions per topic, records this month,
// storage), 429 (a rate; RetryAfter says when the same request would
// pass) or 413 (a batch larger than the rate could ever admit). Its
// message names the quota and the limit.
type QuotaRefusal interface {
	error
	HTTPStatus() int
	RetryAfterDuration() time.Duration
}

// UsageMeter counts, per organization, what was produced (after the
// owners acknowledged it) and what was consumed (after it was served), one
// call per batch; billing's *Meter satisfies it. It must not block.
type UsageMeter interface {
	Produced(tenant, records, bytes int64)
	Consumed(tenant, records, bytes int64)
}

// Auditor records what a principal changed (topic created or deleted,
// partitions added, group offsets reset or deleted) in the organization's
// audit log. It must not fail the request: an implementation logs its own
// errors.
type Auditor interface {
	Audit(ctx context.Context, tenant int64, actor, action, target, detail string)
}
