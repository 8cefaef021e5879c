package account

import (
	"context"
	"net/http"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// usageJSON is a month's usage so far: the metered counters, plus what
// exists now (stored bytes, topics, partitions).
type usageJSON struct {
	billing.Usage
	StorageBytes int64 `json:"storage_bytes"`
	Topics       int   `json:"topics"`
	Partitions   int64 `json:"partitions"`
}

// GET /api/v1/billing/plans
func (h *Handler) plans(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, h.cfg.Pricing)
	return nil
}

// month parses ?month=YYYY-MM; absent, the current UTC month.
func (h *Handler) month(r *http.Request) (time.Time, error) {
	s := r.URL.Query().Get("month")
	if s == "" {
		return billing.MonthStart(h.now()), nil
	}
	m, err := time.Parse("2006-01", s)
	if err != nil || m.Year() < 1970 {
		return time.Time{}, invalid("invalid month %q: want YYYY-MM from 1970", s)
	}
	return m, nil
}

// hours returns the tenant's hourly usage in the month.
func (h *Handler) hours(ctx context.Context, tenant int64, month time.Time) ([]billing.HourUsage, error) {
	rows, err := h.cfg.Store.Usage(ctx, tenant, month, month.AddDate(0, 1, 0))
	if err != nil {
		return nil, err
	}
	return BillingHours(rows), nil
}

// BillingHours converts the registry's usage rows to the hours billing
// prices and exports, field by field.
func BillingHours(rows []registry.HourUsageRow) []billing.HourUsage {
	out := make([]billing.HourUsage, len(rows))
	for i, r := range rows {
		u := r.Usage
		out[i] = billing.HourUsage{Hour: r.Hour, Usage: billing.Usage{RecordsProduced: u.RecordsProduced, BytesProduced: u.BytesProduced,
			RecordsConsumed: u.RecordsConsumed, BytesConsumed: u.BytesConsumed, StorageByteHours: u.StorageByteHours}}
	}
	return out
}

// GET /api/v1/billing/usage?month=YYYY-MM
func (h *Handler) usage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	month, err := h.month(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	st, plan, err := h.plan(ctx, p.Tenant)
	if err != nil {
		return err
	}
	hours, err := h.hours(ctx, p.Tenant, month)
	if err != nil {
		return err
	}
	var u usageJSON
	for _, hr := range hours {
		u.Usage = u.Usage.Add(hr.Usage)
	}
	storage, err := h.cfg.Store.StorageBytes(ctx)
	if err != nil {
		return err
	}
	u.StorageBytes = storage[p.Tenant]
	topics, err := h.cfg.Store.ListTopics(ctx, p.Tenant)
	if err != nil {
		return err
	}
	u.Topics = len(topics)
	for _, t := range topics {
		u.Partitions += int64(t.Partitions)
	}
	writeJSON(w, http.StatusOK, struct {
		Month  string              `json:"month"`
		Plan   string              `json:"plan"`
		Usage  usageJSON           `json:"usage"`
		Limits billing.Limits      `json:"limits"`
		Hours  []billing.HourUsage `json:"hours"`
	}{month.Format("2006-01"), st.Plan, u, plan.Limits, hours})
	return nil
}

// GET /api/v1/billing/invoice?month=YYYY-MM: the month priced by the
// organization's current plan (plan changes within a month are not
// prorated).
func (h *Handler) invoice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	month, err := h.month(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	_, plan, err := h.plan(ctx, p.Tenant)
	if err != nil {
		return err
	}
	hours, err := h.hours(ctx, p.Tenant, month)
	if err != nil {
		return err
	}
	inv, err := plan.Invoice(month, hours)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}
