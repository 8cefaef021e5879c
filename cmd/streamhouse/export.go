package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/streamhouse/streamhouse/account"
	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
)

// Defaults of exportConfig.
const (
	defaultExportEvery    = time.Hour
	defaultExportLookback = 48 * time.Hour
	// defaultExportGrace is how long after an hour ends the job waits
	// before pushing it: the provider keeps the first report of an hour,
	// so an hour pushed before every Meter has flushed it would stay short
	// for ever. It must exceed the meters' flush interval (newExporter
	// takes three intervals if that is longer).
	defaultExportGrace = 15 * time.Minute
	// maxExportKeyLen bounds the billing-export-key setting (a Stripe
	// secret key is about 110 bytes).
	maxExportKeyLen = 1024
)

// exportConfig configures an exportJob. Zero fields take the defaults.
type exportConfig struct {
	reg      registry.Store   // required
	exporter billing.Exporter // required
	// every is the time between runs; the default is 1h.
	every time.Duration
	// lookback is how far back each run reads usage; the default is 48h.
	// A process that starts again pushes the hours of this window again
	// (harmless, see exportJob), so an outage shorter than it loses
	// nothing. It must exceed grace by more than an hour.
	lookback time.Duration
	// grace is how long after its end an hour is pushed; the default is
	// 15m (see defaultExportGrace).
	grace time.Duration
	now   func() time.Time // default time.Now
	log   *slog.Logger     // default: discard
}

// exportJob pushes each organization's closed hours of usage, and its
// customer record, to a payment provider through a billing.Exporter.
//
// Every router may run one: the exporter's writes are idempotent at the
// provider (Stripe keeps one meter event per identifier
// "<org>-<hour>-<kind>", and customer writes carry idempotency keys), so
// two routers pushing the same hour, or a restarted one pushing it again,
// count it once. Within one process, hours already pushed are not sent
// again, which keeps the provider's request rate to about one hour's
// events per organization and run.
type exportJob struct {
	cfg exportConfig
	mu  struct {
		sync.Mutex // held for a whole run: runs are serial
		// pushedTo is, per organization, the end of the last closed hour
		// this process has pushed; earlier hours are not read again.
		pushedTo map[int64]time.Time
	}
}

// newExportJob checks cfg and fills in its defaults.
func newExportJob(cfg exportConfig) (*exportJob, error) {
	if cfg.reg == nil || cfg.exporter == nil {
		return nil, errors.New("billing export: a registry and an exporter are required")
	}
	if cfg.every == 0 {
		cfg.every = defaultExportEvery
	}
	if cfg.lookback == 0 {
		cfg.lookback = defaultExportLookback
	}
	if cfg.grace == 0 {
		cfg.grace = defaultExportGrace
	}
	if cfg.every < 0 || cfg.grace < 0 {
		return nil, fmt.Errorf("billing export: negative interval (every %s, grace %s)", cfg.every, cfg.grace)
	}
	if cfg.lookback <= cfg.grace+time.Hour {
		return nil, fmt.Errorf("billing export: lookback %s must exceed grace %s by more than an hour, or no hour is ever pushed", cfg.lookback, cfg.grace)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	j := &exportJob{cfg: cfg}
	j.mu.pushedTo = map[int64]time.Time{}
	return j, nil
}

// newExporter returns the router's export job for c: Stripe's API at
// c.BillingExportURL with c.BillingExportKey, or nil when
// c.BillingExportURL is empty (no export). The caller runs its Run in the
// router's run group.
func newExporter(c Config, reg registry.Store, log *slog.Logger) (*exportJob, error) {
	if c.BillingExportURL == "" {
		return nil, nil
	}
	s, err := billing.NewStripe(billing.StripeConfig{SecretKey: c.BillingExportKey, BaseURL: c.BillingExportURL})
	if err != nil {
		return nil, fmt.Errorf("billing export: %w", err)
	}
	return newExportJob(exportConfig{reg: reg, exporter: s, grace: max(defaultExportGrace, 3*c.MeterInterval), log: log})
}

// Run runs the export once at once, then every cfg.every, until ctx ends;
// it returns nil then. A failed run is logged and the next one retries.
func (j *exportJob) Run(ctx context.Context) error {
	tick := time.NewTicker(j.cfg.every)
	defer tick.Stop()
	for {
		n, err := j.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			j.cfg.log.Info("billing export done", "pushed_hours", n)
		} else {
			// runOnce logged each failure where it happened.
			j.cfg.log.Warn("billing export incomplete; the next run retries", "pushed_hours", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// runOnce upserts every organization's customer and pushes its closed,
// not yet pushed hours of the lookback window. One organization's failure
// is logged and the others go on; the error joins every failure, each
// naming its organization. pushed counts hours (each hour is one event per
// non-zero kind of usage).
func (j *exportJob) runOnce(ctx context.Context) (pushed int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.cfg.now().UTC()
	closedBy := now.Add(-j.cfg.grace).Truncate(time.Hour)
	from := now.Add(-j.cfg.lookback).Truncate(time.Hour)
	tenants, err := j.cfg.reg.ListTenants(ctx)
	if err != nil {
		j.cfg.log.Warn("billing export: list organizations", "err", err)
		return 0, fmt.Errorf("billing export: list organizations: %w", err)
	}
	// Rebuilt from the listed organizations, so a deleted one is forgotten;
	// an organization that fails keeps its mark.
	pushedTo := make(map[int64]time.Time, len(tenants))
	for _, t := range tenants {
		if p, ok := j.mu.pushedTo[t.ID]; ok {
			pushedTo[t.ID] = p
		}
	}
	var errs []error
	for _, t := range tenants {
		start := from
		if p := j.mu.pushedTo[t.ID]; p.After(start) {
			start = p
		}
		n, err := j.exportTenant(ctx, t, start, now, closedBy)
		pushed += n
		if err != nil {
			j.cfg.log.Warn("billing export: organization failed", "org", t.ID, "name", t.Name, "pushed_hours", n, "err", err)
			errs = append(errs, fmt.Errorf("billing export: organization %q (%d): %w", t.Name, t.ID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		pushedTo[t.ID] = start
		if closedBy.After(start) {
			pushedTo[t.ID] = closedBy
		}
	}
	j.mu.pushedTo = pushedTo
	return pushed, errors.Join(errs...)
}

// exportTenant upserts t's customer (name = display name, email = its
// first owner's, plan) and pushes its hours in [from, now) that ended by
// closedBy.
func (j *exportJob) exportTenant(ctx context.Context, t registry.Tenant, from, now, closedBy time.Time) (int, error) {
	settings, err := j.cfg.reg.TenantSettings(ctx, t.ID)
	if err != nil {
		return 0, fmt.Errorf("read settings: %w", err)
	}
	members, err := j.cfg.reg.Members(ctx, t.ID)
	if err != nil {
		return 0, fmt.Errorf("read members: %w", err)
	}
	email := ""
	for _, m := range members { // sorted by user id: the first owner is the oldest account
		if m.Role == registry.RoleOwner {
			email = m.Email
			break
		}
	}
	customer, err := j.cfg.exporter.UpsertCustomer(ctx, billing.Customer{Org: t.ID, Name: settings.DisplayName, Email: email, Plan: settings.Plan})
	if err != nil {
		return 0, err
	}
	if !from.Before(closedBy) {
		return 0, nil // nothing newly closed
	}
	rows, err := j.cfg.reg.Usage(ctx, t.ID, from, now)
	if err != nil {
		return 0, fmt.Errorf("read usage from %s: %w", from.Format(time.RFC3339), err)
	}
	return billing.PushClosedHours(ctx, j.cfg.exporter, customer, t.ID, account.BillingHours(rows), closedBy)
}

// validateBillingExport checks the router's export settings: none, or a
// provider URL with its key. Errors never show the key.
func (c *Config) validateBillingExport() error {
	if c.BillingExportURL == "" {
		if c.BillingExportKey != "" {
			return &ConfigError{"billing-export-url", "", "required with billing-export-key (empty: no export, then unset the key)"}
		}
		return nil
	}
	u, err := url.Parse(c.BillingExportURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return &ConfigError{"billing-export-url", redactURL(c.BillingExportURL), "want https://HOST, the payment provider's API (https://api.stripe.com), without credentials"}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return &ConfigError{"billing-export-url", c.BillingExportURL, "http sends the key in clear: use https (http only for a loopback host)"}
	}
	if c.BillingExportKey == "" {
		return &ConfigError{"billing-export-key", "", "required with billing-export-url: the provider's secret API key; prefer the environment " + envName("billing-export-key")}
	}
	if len(c.BillingExportKey) > maxExportKeyLen {
		return &ConfigError{"billing-export-key", "(hidden)", fmt.Sprintf("%d bytes; at most %d", len(c.BillingExportKey), maxExportKeyLen)}
	}
	for _, b := range []byte(c.BillingExportKey) {
		if b <= ' ' || b > '~' {
			return &ConfigError{"billing-export-key", "(hidden)", "must be printable ASCII without spaces"}
		}
	}
	return nil
}

// isLoopback says whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
