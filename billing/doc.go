// Package billing holds the managed service's commercial rules as plain
// logic, free of project imports: plans and their quotas, per-organization
// rate limits, usage metering, invoices, and export to a payment provider.
// The router, the registry and the console wire it in; nothing here opens
// a connection except the Stripe exporter.
//
// # Files
//
//	pricing.json  the plans (free, starter, pro, enterprise), embedded; LoadPricing reads another
//	pricing.go    Pricing, Plan, Limits, Prices; strict parsing that names the plan and field
//	limit.go      Limit: an integer or "unlimited"
//	price.go      Price: cents with at most four decimals, exact
//	quota.go      Quota names, Plan.Check, QuotaError (403 count, 429 rate, 413 oversized batch)
//	ratelimit.go  Limiters: a token bucket per (organization, kind), golang.org/x/time/rate; fetch on credit
//	meter.go      Meter, Usage, UsageSink, StorageSampler: hourly usage, exactly once
//	invoice.go    Plan.Invoice: base price plus overage, line by line, integer cents
//	export.go     Exporter: customers and usage to a payment provider
//	stripe.go     Stripe: the Exporter over Stripe's form-encoded HTTP API
//
// # Pricing file
//
// Every field is required and unknown fields are refused; all problems
// are reported at once, each as `pricing: plan "free": limits.topics:
// missing`. A limit is a non-negative integer or the string "unlimited"
// (never checked). Rates, partitions per topic and members must be
// positive. Unit prices are JSON numbers of cents with at most four
// decimals (2.5 is 2.5 cents); a GB is 10^9 bytes.
//
// # Quotas and rates
//
// Counts and volumes (topics, partitions per topic, records per month,
// storage bytes, API keys, members) are checked with Plan.Check(q, used,
// adding) before anything is written; the refusal is a *QuotaError whose
// message names the quota, the usage, the limit and the plan ("quota
// topics exceeded: 10 of 10 used on plan free") and whose HTTPStatus is
// 403. The per-topic size quota reads "quota partitions_per_topic
// exceeded: a topic of 5 partitions is more than the limit 4 on plan
// free".
//
// Rates (produce bytes and records, fetch bytes, per second) are token
// buckets per organization and kind, golang.org/x/time/rate, with a burst
// of one second of the rate. Nothing blocks; a refusal is a 429 with
// RetryAfter (when the same request would pass) and takes nothing.
//
//   - Produce: Limiters.AllowAll(org, plan, Take{ProduceBytes, b},
//     Take{ProduceRecords, r}) once per request takes both or neither.
//     A request larger than one second of a rate is a 413 (KindBatch)
//     whose message names the limit and says to split it: it could never
//     pass, and letting it through on credit would let a single request
//     of a small plan (a 100,000-record request on free's 1,000
//     records/s) land a hundred seconds of load at once. The router caps
//     requests at 100,000 records and 8 MiB anyway; clients of small
//     plans batch below their rate.
//   - Fetch: its size is known only once served, so Limiters.Admit(org,
//     plan, FetchBytes) before serving refuses while the bucket is empty
//     or in debt, and Limiters.Charge(org, plan, FetchBytes, n) afterwards
//     takes what was served, letting the bucket go negative down to
//     MaxDebt (10 s) of the rate; a larger fetch's excess is forgiven, so
//     one huge fetch costs at most ten seconds of waiting.
//
// Buckets idle for IdleAfter and full again are swept by Limiters.Run (a
// bucket in debt is kept, or sweeping would forgive it); MaxEntries
// bounds memory (full buckets go first, then the least recently used).
// The plan is passed on each call, so an upgrade applies at once.
//
// # Metering
//
// Meter.Produced and Meter.Consumed count a batch with a map read lock and
// atomic adds, per organization and UTC hour. Meter.Run flushes every
// Interval and once more on stop. Every item sent to the UsageSink carries
// an idempotency key; the sink must apply a key at most once and answer
// nil for a repeat. A failed item is retried with its key and amounts
// unchanged, and new usage waits in memory (merged per organization and
// hour) until the retries pass, so an answer lost after the sink committed
// never counts twice and memory stays bounded during an outage. Traffic
// keys are "<instance>/<seq>" with a random instance per run; a crash
// loses at most the unflushed interval (an undercount, never a double
// count). Storage is sampled through StorageSampler once per hour and
// booked as byte-hours under the deterministic key StorageKey(org, hour),
// so any number of Meters and restarts book one sample per hour.
//
// # Invoices
//
// Plan.Invoice(month, hours) sums the hours whose start lies in the UTC
// calendar month and prices them: a base line, then overage lines for
// records produced (per million), storage (per GB-month: byte-hours over
// 10^9 × the month's hours) and data consumed (per GB), each beyond what
// the plan includes. Every line's amount is computed exactly and rounded
// once to the nearest cent, halves up; the total is the sum of the lines.
// Quantities and unit prices are decimal strings in the JSON.
//
// # Export
//
// Exporter upserts customers and pushes closed hours of usage. Stripe
// implements it over Stripe's API: customers are found by
// metadata[org_id] through customer search and created or updated; usage
// is one billing meter event per kind and hour whose identifier (also the
// Idempotency-Key) is "<org>-<hour unix>-<kind>", so a repeated push is
// ignored by Stripe. 429, 5xx and transport errors are retried with
// doubling backoff within the context's deadline.
//
// # Wiring (for the lead)
//
//   - registry: implement UsageSink (a usage table keyed by organization
//     and hour, and an applied-keys table checked in the same
//     transaction) and StorageSampler (sum of segment sizes per
//     organization); the month's hours feed Plan.Invoice.
//   - router: one Limiters (its Run in the run group) and one Meter (its
//     Run in the run group) per process; call Limiters.AllowAll before a
//     produce, Admit and Charge around a fetch, Plan.Check on creates,
//     Meter.Produced/Consumed after
//     a batch is acknowledged or served; map *QuotaError with HTTPStatus.
//   - console/API: Plan.Invoice as JSON; Limits for the usage meters.
//   - a job that pushes closed hours through an Exporter.
package billing
