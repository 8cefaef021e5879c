package router

import (
	"context"

	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// accounting holds an edge's quotas, usage meter and audit log (Deps and
// GRPCConfig carry them); any of them nil is off. One call per request or
// batch, never per record.
type accounting struct {
	quotas Quotas
	usage  UsageMeter
	audit  Auditor
}

func (d *Deps) accounting() accounting {
	return accounting{quotas: d.Quotas, usage: d.Usage, audit: d.Audit}
}

// admitProduce admits p's records (all its batches) before any is sent.
func (a accounting) admitProduce(ctx context.Context, tenant int64, p *plan) error {
	if a.quotas == nil {
		return nil
	}
	var bytes int64
	for _, b := range p.bytes {
		bytes += b
	}
	return a.quotas.AdmitProduce(ctx, tenant, int64(len(p.group)), bytes)
}

// produced meters each batch of p that its owner acknowledged, except
// idempotent retries of batches written before (counted when first
// acknowledged), so that a resend never counts twice.
func (a accounting) produced(tenant int64, p *plan) {
	if a.usage == nil {
		return
	}
	for g := range p.reqs {
		if res := p.results[g]; res.err == nil && !res.dup {
			a.usage.Produced(tenant, int64(len(p.reqs[g].Records)), p.bytes[g])
		}
	}
}

// admitFetch admits one fetch before it is made.
func (a accounting) admitFetch(ctx context.Context, tenant int64) error {
	if a.quotas == nil {
		return nil
	}
	return a.quotas.AdmitFetch(ctx, tenant)
}

// served books records records of bytes bytes served to a consumer: the
// fetch rate's charge and the usage meter.
func (a accounting) served(tenant, records, bytes int64) {
	if records == 0 {
		return
	}
	if a.quotas != nil {
		a.quotas.ChargeFetch(tenant, bytes)
	}
	if a.usage != nil {
		a.usage.Consumed(tenant, records, bytes)
	}
}

// servedFetch books a fetch answer served whole: the metrics, the fetch
// rate's charge and the usage meter, sizing its records once.
func servedFetch(m *Metrics, a accounting, topic string, tenant int64, recs []wire.FetchedRecord) {
	if len(recs) == 0 {
		return
	}
	size := fetchedBytes(recs)
	m.fetched(topic, len(recs), size)
	a.served(tenant, int64(len(recs)), size)
}

// fetchedBytes is the metered size of fetched records: keys, values and
// headers, as produce counts them.
func fetchedBytes(recs []wire.FetchedRecord) int64 {
	var n int64
	for i := range recs {
		n += int64(recs[i].Size())
	}
	return n
}

// record writes an audit event for what p did.
func (a accounting) record(ctx context.Context, p auth.Principal, action, target, detail string) {
	if a.audit != nil {
		a.audit.Audit(ctx, p.Tenant, p.Actor(), action, target, detail)
	}
}

// The audit actions of the router.
const (
	auditTopicCreate     = "topic.create"
	auditTopicDelete     = "topic.delete"
	auditTopicPartitions = "topic.partitions"
	auditGroupReset      = "group.reset"
	auditGroupDelete     = "group.delete"
)
