package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router"
)

var (
	_ billing.UsageSink      = usageSink{}
	_ billing.StorageSampler = storageSampler{}
	_ router.UsageMeter      = (*billing.Meter)(nil)
)

// usageSink is billing's UsageSink over the registry's usage table: the
// registry applies each key once per tenant in the same transaction as
// the add, which is the sink contract the Meter's exactness rests on.
type usageSink struct{ reg registry.Usage }

// AddUsage implements billing.UsageSink. The Meter wraps the error with
// the organization, hour and key.
func (s usageSink) AddUsage(ctx context.Context, org int64, hour time.Time, u billing.Usage, key string) error {
	return s.reg.AddUsage(ctx, org, hour, usageCounts(u), key)
}

// storageSampler is billing's StorageSampler over the registry: the sum
// of each tenant's committed segment lengths.
type storageSampler struct{ reg registry.Usage }

// StorageBytes implements billing.StorageSampler.
func (s storageSampler) StorageBytes(ctx context.Context) (map[int64]int64, error) {
	return s.reg.StorageBytes(ctx)
}

// meterConfig is the Meter configuration of a process: traffic and
// storage usage to the registry, flushed every interval.
func meterConfig(reg registry.Usage, interval time.Duration, log *slog.Logger, metrics *billing.Metrics) billing.MeterConfig {
	return billing.MeterConfig{
		Sink:     usageSink{reg},
		Sampler:  storageSampler{reg},
		Interval: interval,
		Logger:   log,
		Metrics:  metrics,
	}
}

// newMeter returns the process's usage Meter over the registry; the
// caller puts its Run in the run group (it flushes once more on stop).
// interval 0 means billing's default (10 s); log and metrics may be nil.
// Every process (router, agent) may run one: traffic keys are unique per
// run, and storage is booked once per tenant and hour whoever samples it.
func newMeter(reg registry.Usage, interval time.Duration, log *slog.Logger, metrics *billing.Metrics) (*billing.Meter, error) {
	return billing.NewMeter(meterConfig(reg, interval, log, metrics))
}

// usageCounts converts billing's Usage to the registry's, field by field.
func usageCounts(u billing.Usage) registry.UsageCounts {
	return registry.UsageCounts{
		RecordsProduced:  u.RecordsProduced,
		BytesProduced:    u.BytesProduced,
		RecordsConsumed:  u.RecordsConsumed,
		BytesConsumed:    u.BytesConsumed,
		StorageByteHours: u.StorageByteHours,
	}
}
