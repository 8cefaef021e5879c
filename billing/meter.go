package billing

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Usage is what an organization used in one hour. It is the unit a
// UsageSink stores and Invoice prices.
type Usage struct {
	RecordsProduced int64 `json:"records_produced"`
	BytesProduced   int64 `json:"bytes_produced"`
	RecordsConsumed int64 `json:"records_consumed"`
	BytesConsumed   int64 `json:"bytes_consumed"`
	// StorageByteHours is stored bytes times hours: one sample of the
	// organization's stored bytes per hour, counted as the whole hour.
	StorageByteHours int64 `json:"storage_byte_hours"`
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		RecordsProduced:  u.RecordsProduced + v.RecordsProduced,
		BytesProduced:    u.BytesProduced + v.BytesProduced,
		RecordsConsumed:  u.RecordsConsumed + v.RecordsConsumed,
		BytesConsumed:    u.BytesConsumed + v.BytesConsumed,
		StorageByteHours: u.StorageByteHours + v.StorageByteHours,
	}
}

// UsageSink stores usage per organization and hour (the registry, in
// production). The contract, which makes metering exact across retries
// and restarts:
//
//   - AddUsage adds u to the organization's usage of the hour that starts
//     at hour (UTC, on the hour), durably, before it returns nil.
//   - key is an idempotency key. The sink applies each key at most once:
//     a call with a key it has already applied changes nothing and returns
//     nil. A Meter retries a failed call with the same key and the same
//     usage, so a call that committed but whose answer was lost is not
//     counted twice. Keep keys for at least as long as a Meter may retry
//     (until it stops); traffic keys are unique per Meter run, storage keys
//     are deterministic per organization and hour (see StorageSampler).
//   - AddUsage is safe for concurrent use by several Meters (one per
//     agent and router).
type UsageSink interface {
	AddUsage(ctx context.Context, org int64, hour time.Time, u Usage, key string) error
}

// StorageSampler reports how many bytes each organization stores now (in
// production, the sum of its segment sizes in the registry). A Meter
// samples once per hour and books the sample as that hour's byte-hours
// under the key "storage/<org>/<hour>", so samples taken again in the same
// hour, after a restart or by another Meter, are ignored by the sink.
type StorageSampler interface {
	StorageBytes(ctx context.Context) (map[int64]int64, error)
}

// MeterConfig configures a Meter.
type MeterConfig struct {
	// Sink receives the usage. Required.
	Sink UsageSink
	// Sampler, if set, is sampled once per hour for storage byte-hours.
	Sampler StorageSampler
	// Interval is how often Run flushes. The default is 10 seconds.
	Interval time.Duration
	// FlushTimeout bounds one flush, including the last one when Run
	// stops. The default is 10 seconds.
	FlushTimeout time.Duration
	// Instance prefixes the idempotency keys of this Meter's traffic
	// usage; it must differ between runs of the process, or a new run's
	// usage would be taken for an old one's and dropped. The default is
	// 128 random bits, which is what production should use.
	Instance string
	// Logger receives flush failures. The default discards.
	Logger *slog.Logger
	// Now returns the current time; tests set it. The default is time.Now.
	Now func() time.Time
	// Metrics, if set, counts delivered and pending items.
	Metrics *Metrics
}

// Meter counts records and bytes produced and consumed per organization
// and hour in memory, and flushes them to a UsageSink. Counting is one map
// read lock and four atomic adds per batch, never per record. Run owns the
// flushing.
//
// Exactness: a flush that fails is retried with the same keys and the
// same amounts until the sink accepts them; until then new usage keeps
// accumulating in memory, merged per organization and hour, so memory is
// bounded by the active organizations and hours, not by the outage's
// length. What a crash loses is what had not been flushed (at most one
// interval): metering may undercount by that, and never counts twice.
type Meter struct {
	sink         UsageSink
	sampler      StorageSampler
	interval     time.Duration
	flushTimeout time.Duration
	instance     string
	log          *slog.Logger
	now          func() time.Time
	metrics      *Metrics

	// live holds the counters since the last snapshot. Counting takes the
	// read lock; the flush takes the write lock to swap the map, so no add
	// lands in a map after it was taken.
	live struct {
		sync.RWMutex
		m map[meterKey]*meterCounters
	}

	// flush serialises flushes; it is taken before live, never after.
	flush struct {
		sync.Mutex
		seq         uint64
		pending     []meterItem // attempted, not yet acknowledged; immutable
		sampledHour time.Time   // the hour whose storage sample was booked
	}
}

type meterKey struct {
	org  int64
	hour int64 // unix seconds of the hour's start
}

type meterCounters struct {
	recordsProduced, bytesProduced, recordsConsumed, bytesConsumed atomic.Int64
}

type meterItem struct {
	org  int64
	hour time.Time
	u    Usage
	key  string
}

// NewMeter returns a Meter; Run starts its flushing.
func NewMeter(cfg MeterConfig) (*Meter, error) {
	if cfg.Sink == nil {
		return nil, errors.New("meter: Sink is required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.FlushTimeout == 0 {
		cfg.FlushTimeout = 10 * time.Second
	}
	if cfg.Interval < 0 || cfg.FlushTimeout < 0 {
		return nil, fmt.Errorf("meter: negative Interval %s or FlushTimeout %s", cfg.Interval, cfg.FlushTimeout)
	}
	if cfg.Instance == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		cfg.Instance = hex.EncodeToString(b[:])
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Meter{
		sink: cfg.Sink, sampler: cfg.Sampler, interval: cfg.Interval, flushTimeout: cfg.FlushTimeout,
		instance: cfg.Instance, log: cfg.Logger, now: cfg.Now, metrics: cfg.Metrics,
	}
	m.live.m = make(map[meterKey]*meterCounters)
	return m, nil
}

// Produced counts one produced batch of records and bytes for org.
// Negative amounts are ignored.
func (m *Meter) Produced(org, records, bytes int64) { m.count(org, records, bytes, true) }

// Consumed counts one fetched batch of records and bytes for org.
// Negative amounts are ignored.
func (m *Meter) Consumed(org, records, bytes int64) { m.count(org, records, bytes, false) }

func (m *Meter) count(org, records, bytes int64, produced bool) {
	if records <= 0 && bytes <= 0 {
		return
	}
	records, bytes = max(records, 0), max(bytes, 0)
	key := meterKey{org: org, hour: m.now().UTC().Truncate(time.Hour).Unix()}
	m.live.RLock()
	c, ok := m.live.m[key]
	if ok {
		c.add(records, bytes, produced)
		m.live.RUnlock()
		return
	}
	m.live.RUnlock()
	m.live.Lock()
	if c, ok = m.live.m[key]; !ok {
		c = &meterCounters{}
		m.live.m[key] = c
	}
	c.add(records, bytes, produced)
	m.live.Unlock()
}

func (c *meterCounters) add(records, bytes int64, produced bool) {
	if produced {
		c.recordsProduced.Add(records)
		c.bytesProduced.Add(bytes)
		return
	}
	c.recordsConsumed.Add(records)
	c.bytesConsumed.Add(bytes)
}

// Run flushes every Interval until ctx is done, then flushes once more
// with a fresh FlushTimeout and returns that flush's error (usage that
// could not be delivered and is lost), or nil.
func (m *Meter) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.flushTimeout)
			defer cancel()
			if err := m.Flush(fctx); err != nil {
				return fmt.Errorf("meter: last flush on stop: %w", err)
			}
			return nil
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, m.flushTimeout)
			if err := m.Flush(fctx); err != nil {
				m.log.Warn("meter flush failed; retrying next interval", "err", err, "pending", m.Pending())
			}
			cancel()
		}
	}
}

// Flush delivers what is pending: first the items of a failed flush, with
// their keys, then, once none is left, a snapshot of the counters since.
// It also books this hour's storage sample if not done yet. It returns the
// errors of the items not delivered, which the next Flush retries.
func (m *Meter) Flush(ctx context.Context) error {
	m.flush.Lock()
	defer m.flush.Unlock()
	var errs []error
	retrying := len(m.flush.pending) > 0
	if !retrying {
		m.snapshotLocked()
	}
	if err := m.sampleLocked(ctx); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, m.deliverLocked(ctx)...)
	if retrying && len(m.flush.pending) == 0 {
		// The retries went through: deliver what was counted meanwhile,
		// so that a last flush on stop leaves nothing behind.
		m.snapshotLocked()
		errs = append(errs, m.deliverLocked(ctx)...)
	}
	return errors.Join(errs...)
}

// deliverLocked sends every pending item, keeping those that failed.
// Called with flush held.
func (m *Meter) deliverLocked(ctx context.Context) []error {
	var errs []error
	kept := m.flush.pending[:0]
	for _, it := range m.flush.pending {
		if err := m.sink.AddUsage(ctx, it.org, it.hour, it.u, it.key); err != nil {
			errs = append(errs, fmt.Errorf("add usage org %d hour %s key %s: %w", it.org, it.hour.Format(time.RFC3339), it.key, err))
			kept = append(kept, it)
		}
	}
	m.metrics.delivered(len(m.flush.pending)-len(kept), len(kept), len(kept))
	clear(m.flush.pending[len(kept):])
	m.flush.pending = kept
	return errs
}

// snapshotLocked swaps out the live counters and turns them into pending
// items, each with a fresh key. Called with flush held.
func (m *Meter) snapshotLocked() {
	m.live.Lock()
	taken := m.live.m
	m.live.m = make(map[meterKey]*meterCounters, len(taken))
	m.live.Unlock()
	for k, c := range taken {
		m.flush.seq++
		m.flush.pending = append(m.flush.pending, meterItem{
			org:  k.org,
			hour: time.Unix(k.hour, 0).UTC(),
			u: Usage{
				RecordsProduced: c.recordsProduced.Load(),
				BytesProduced:   c.bytesProduced.Load(),
				RecordsConsumed: c.recordsConsumed.Load(),
				BytesConsumed:   c.bytesConsumed.Load(),
			},
			key: m.instance + "/" + strconv.FormatUint(m.flush.seq, 10),
		})
	}
	slices.SortFunc(m.flush.pending, func(a, b meterItem) int {
		return cmp.Or(a.hour.Compare(b.hour), cmp.Compare(a.org, b.org), cmp.Compare(a.key, b.key))
	})
}

// sampleLocked books the current hour's storage sample once. Called with
// flush held.
func (m *Meter) sampleLocked(ctx context.Context) error {
	hour := m.now().UTC().Truncate(time.Hour)
	if m.sampler == nil || m.flush.sampledHour.Equal(hour) {
		return nil
	}
	sizes, err := m.sampler.StorageBytes(ctx)
	if err != nil {
		return fmt.Errorf("sample storage for %s: %w", hour.Format(time.RFC3339), err)
	}
	for org, bytes := range sizes {
		if bytes <= 0 {
			continue
		}
		m.flush.pending = append(m.flush.pending, meterItem{
			org: org, hour: hour, u: Usage{StorageByteHours: bytes},
			key: StorageKey(org, hour),
		})
	}
	m.flush.sampledHour = hour
	return nil
}

// StorageKey is the idempotency key of org's storage sample for hour; the
// same for every Meter, so the sink books one sample per hour.
func StorageKey(org int64, hour time.Time) string {
	return "storage/" + strconv.FormatInt(org, 10) + "/" + hour.UTC().Truncate(time.Hour).Format(time.RFC3339)
}

// Pending returns how many items wait for a retry.
func (m *Meter) Pending() int {
	m.flush.Lock()
	defer m.flush.Unlock()
	return len(m.flush.pending)
}
