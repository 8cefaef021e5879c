package account

import (
	"net/http"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
)

// TestUsageAndInvoice seeds hourly usage and checks the usage and the
// invoice to the record, the byte and the cent.
func TestUsageAndInvoice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.signup("ada@example.com", "acme")
	other := e.signup("bob@example.com", "globex")
	tok := s.AccessToken
	e.want(e.do("PUT", "/api/v1/org/plan", tok, map[string]string{"plan": "starter"}), http.StatusOK, nil)
	ctx := t.Context()
	const monthHours = 744 // October
	add := func(tenant int64, hour string, u registry.UsageCounts, key string) {
		h, err := time.Parse(time.RFC3339, hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.AddUsage(ctx, tenant, h, u, key); err != nil {
			t.Fatal(err)
		}
	}
	org := s.Organization.ID
	add(org, "2026-10-01T00:00:00Z", registry.UsageCounts{RecordsProduced: 100_000_000, BytesProduced: 5_000_000_000,
		RecordsConsumed: 10, BytesConsumed: 100_000_000_000, StorageByteHours: 50 * 1_000_000_000 * monthHours}, "a")
	add(org, "2026-10-31T23:00:00Z", registry.UsageCounts{RecordsProduced: 3_250_000, BytesProduced: 1000,
		RecordsConsumed: 5, BytesConsumed: 7_000_000_000, StorageByteHours: 3 * 1_000_000_000 * monthHours}, "b")
	// Outside the month, and another organization's: not counted.
	add(org, "2026-09-30T23:00:00Z", registry.UsageCounts{RecordsProduced: 1 << 40}, "c")
	add(org, "2026-11-01T00:00:00Z", registry.UsageCounts{RecordsProduced: 1 << 40}, "d")
	add(other.Organization.ID, "2026-10-15T00:00:00Z", registry.UsageCounts{RecordsProduced: 1 << 40}, "a")
	for _, spec := range []registry.TopicSpec{{Name: "orders", Partitions: 3}, {Name: "events", Partitions: 1}} {
		if _, err := e.store.CreateTopic(ctx, org, spec); err != nil {
			t.Fatal(err)
		}
	}

	var u struct {
		Month string `json:"month"`
		Plan  string `json:"plan"`
		Usage struct {
			RecordsProduced  int64 `json:"records_produced"`
			BytesProduced    int64 `json:"bytes_produced"`
			RecordsConsumed  int64 `json:"records_consumed"`
			BytesConsumed    int64 `json:"bytes_consumed"`
			StorageByteHours int64 `json:"storage_byte_hours"`
			StorageBytes     int64 `json:"storage_bytes"`
			Topics           int   `json:"topics"`
			Partitions       int64 `json:"partitions"`
		} `json:"usage"`
		Limits billing.Limits      `json:"limits"`
		Hours  []billing.HourUsage `json:"hours"`
	}
	e.want(e.call("GET", "/api/v1/billing/usage?month=2026-10", tok, ""), http.StatusOK, &u)
	if u.Month != "2026-10" || u.Plan != "starter" || len(u.Hours) != 2 || u.Limits.APIKeys != 10 {
		t.Fatalf("usage: %+v", u)
	}
	g := u.Usage
	if g.RecordsProduced != 103_250_000 || g.BytesProduced != 5_000_001_000 || g.RecordsConsumed != 15 ||
		g.BytesConsumed != 107_000_000_000 || g.StorageByteHours != 53*1_000_000_000*monthHours ||
		g.StorageBytes != 0 || g.Topics != 2 || g.Partitions != 4 {
		t.Fatalf("usage totals: %+v", g)
	}

	var inv billing.Invoice
	e.want(e.call("GET", "/api/v1/billing/invoice?month=2026-10", tok, ""), http.StatusOK, &inv)
	// Starter: 2900 base; 3.25 M records over at 10 ¢ = 32.5 → 33; 3
	// GB-months over at 2.5 ¢ = 7.5 → 8; 7 GB consumed over at 5 ¢ = 35.
	wantLines := []int64{2900, 33, 8, 35}
	if inv.Plan != "starter" || inv.Month != "2026-10" || len(inv.Lines) != len(wantLines) || inv.TotalCents != 2976 {
		t.Fatalf("invoice: %+v", inv)
	}
	for i, l := range inv.Lines {
		if l.AmountCents != wantLines[i] {
			t.Errorf("line %d %q: %d cents, want %d", i, l.Description, l.AmountCents, wantLines[i])
		}
	}
	if inv.Lines[1].Quantity != "3.25" || inv.Lines[2].Quantity != "3" || inv.Lines[3].Quantity != "7" {
		t.Errorf("quantities: %+v", inv.Lines)
	}
	// The current month (of the handler's clock) by default.
	e.want(e.call("GET", "/api/v1/billing/invoice", tok, ""), http.StatusOK, &inv)
	if inv.Month != billing.MonthStart(e.clock.Now()).Format("2006-01") {
		t.Fatalf("default month %s", inv.Month)
	}
	var plans billing.Pricing
	e.want(e.call("GET", "/api/v1/billing/plans", tok, ""), http.StatusOK, &plans)
	if plans.DefaultPlan != "free" || len(plans.Plans) != 4 {
		t.Fatalf("plans: %+v", plans)
	}
}
