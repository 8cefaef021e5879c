package billing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func hourAt(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err) // test data
	}
	return t
}

// nov is November 2026: 30 days, 720 hours.
var nov = hourAt("2026-11-01T00:00:00Z")

// wholeMonth spreads GB stored for every hour of the month starting at m.
func storedAllMonth(m time.Time, gb int64) []HourUsage {
	var hs []HourUsage
	for h := m; h.Before(m.AddDate(0, 1, 0)); h = h.Add(time.Hour) {
		hs = append(hs, HourUsage{Hour: h, Usage: Usage{StorageByteHours: gb * bytesPerGB}})
	}
	return hs
}

func amounts(inv *Invoice) []int64 {
	var a []int64
	for _, l := range inv.Lines {
		a = append(a, l.AmountCents)
	}
	return a
}

func TestInvoiceStarter(t *testing.T) {
	starter := mustPlan(t, "starter") // 2900 base; 100M records, 50 GB-months, 100 GB incl.; 10c/M, 2.5c/GB-month, 5c/GB
	for _, c := range []struct {
		name    string
		hours   []HourUsage
		amounts []int64
		total   int64
		qty     []string
	}{
		{"zero usage", nil, []int64{2900, 0, 0, 0}, 2900, []string{"1", "0", "0", "0"}},
		{"exactly at the included amounts", append(storedAllMonth(nov, 50), HourUsage{Hour: nov, Usage: Usage{
			RecordsProduced: 100_000_000, BytesConsumed: 100 * bytesPerGB,
		}}), []int64{2900, 0, 0, 0}, 2900, []string{"1", "0", "0", "0"}},
		{"over every included amount", append(storedAllMonth(nov, 60), HourUsage{Hour: nov.Add(5 * time.Hour), Usage: Usage{
			RecordsProduced: 150_000_000, BytesConsumed: 123_456_789_000,
		}}),
			// 50M records × 10c = 500; 10 GB-months × 2.5c = 25; 23.456789 GB × 5c = 117.283945 → 117
			[]int64{2900, 500, 25, 117}, 3542, []string{"1", "50", "10", "23.456789"}},
		{"halves round up", []HourUsage{{Hour: nov, Usage: Usage{
			RecordsProduced:  100_050_000,                        // 0.05M × 10c = 0.5c → 1
			BytesConsumed:    100_100_000_000,                    // 0.1 GB × 5c = 0.5c → 1
			StorageByteHours: 50*720*bytesPerGB + 71_999_999_999, // just under 0.1 GB-month × 2.5c = 0.2499…c → 0
		}}}, []int64{2900, 1, 0, 1}, 2902, []string{"1", "0.05", "0.1", "0.1"}},
		{"just under a half rounds down", []HourUsage{{Hour: nov, Usage: Usage{
			RecordsProduced: 100_049_999, // 0.049999M × 10c = 0.49999c → 0
		}}}, []int64{2900, 0, 0, 0}, 2900, []string{"1", "0.049999", "0", "0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv, err := starter.Invoice(nov.Add(17*24*time.Hour), c.hours)
			if err != nil {
				t.Fatal(err)
			}
			got := amounts(inv)
			if len(got) != len(c.amounts) {
				t.Fatalf("lines %+v", inv.Lines)
			}
			for i := range got {
				if got[i] != c.amounts[i] || inv.Lines[i].Quantity != c.qty[i] {
					t.Fatalf("line %d = %+v, want %d cents, quantity %s", i, inv.Lines[i], c.amounts[i], c.qty[i])
				}
			}
			if inv.TotalCents != c.total {
				t.Fatalf("total %d, want %d", inv.TotalCents, c.total)
			}
		})
	}
}

// Hours belong to the month their start falls in, in UTC, whatever the
// zone of the time given.
func TestInvoiceMonthBoundaries(t *testing.T) {
	plan := &Plan{Name: "test", Prices: Prices{PerMillionRecords: 1 * priceScale}}
	cet := time.FixedZone("CET", 3600)
	hours := []HourUsage{
		{Hour: hourAt("2026-10-31T23:00:00Z"), Usage: Usage{RecordsProduced: 1_000_000}},            // October
		{Hour: hourAt("2026-11-01T00:00:00Z"), Usage: Usage{RecordsProduced: 2_000_000}},            // November
		{Hour: hourAt("2026-11-30T23:00:00Z"), Usage: Usage{RecordsProduced: 4_000_000}},            // November, ends in December
		{Hour: time.Date(2026, 12, 1, 0, 0, 0, 0, cet), Usage: Usage{RecordsProduced: 8_000_000}},   // 23:00Z on Nov 30
		{Hour: hourAt("2026-12-01T00:00:00Z"), Usage: Usage{RecordsProduced: 16_000_000}},           // December
		{Hour: time.Date(2026, 11, 1, 0, 30, 0, 0, cet), Usage: Usage{RecordsProduced: 32_000_000}}, // 23:30Z on Oct 31
	}
	for _, c := range []struct {
		month   time.Time
		want    int64
		label   string
		records int64
	}{
		{hourAt("2026-10-15T00:00:00Z"), 33, "2026-10", 33_000_000},
		{time.Date(2026, 12, 1, 0, 30, 0, 0, cet), 14, "2026-11", 14_000_000}, // a CET December time is November in UTC
		{hourAt("2026-12-31T23:59:59Z"), 16, "2026-12", 16_000_000},
	} {
		inv, err := plan.Invoice(c.month, hours)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Month != c.label || inv.TotalCents != c.want || inv.Usage.RecordsProduced != c.records {
			t.Errorf("month %s: %s total %d records %d, want %s %d %d", c.month, inv.Month, inv.TotalCents, inv.Usage.RecordsProduced, c.label, c.want, c.records)
		}
	}
}

// A GB kept all month is one GB-month, whatever the month's length.
func TestInvoiceStorageMonthLength(t *testing.T) {
	plan := &Plan{Name: "test", Prices: Prices{PerGBMonthStored: 100 * priceScale}}
	feb := hourAt("2027-02-01T00:00:00Z") // 672 hours
	for _, m := range []time.Time{feb, nov, hourAt("2026-12-01T00:00:00Z")} {
		inv, err := plan.Invoice(m, storedAllMonth(m, 1))
		if err != nil {
			t.Fatal(err)
		}
		if inv.TotalCents != 100 || inv.Lines[2].Quantity != "1" {
			t.Errorf("%s: one GB all month = %d cents, quantity %s", inv.Month, inv.TotalCents, inv.Lines[2].Quantity)
		}
	}
	// February's byte-hours in November: 672/720 of a GB-month = 93.33c.
	inv, err := plan.Invoice(nov, storedAllMonth(nov, 1)[:672])
	if err != nil {
		t.Fatal(err)
	}
	if inv.TotalCents != 93 || inv.Lines[2].Quantity != "0.933333" {
		t.Fatalf("672 GB-hours in November = %d cents, quantity %s", inv.TotalCents, inv.Lines[2].Quantity)
	}
}

func TestInvoiceLimitsAndErrors(t *testing.T) {
	ent := mustPlan(t, "enterprise")
	// Large but real: a PB stored all month and 10^15 bytes consumed.
	inv, err := ent.Invoice(nov, []HourUsage{{Hour: nov, Usage: Usage{
		StorageByteHours: 1_000_000 * bytesPerGB * 720, BytesConsumed: 1_000_000 * bytesPerGB,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// 980,000 GB-months × 2.1c = 2,058,000c; 960,000 GB × 2.25c = 2,160,000c.
	if got := amounts(inv); got[2] != 2_058_000 || got[3] != 2_160_000 || inv.TotalCents != 199_900+2_058_000+2_160_000 {
		t.Fatalf("amounts %v total %d", got, inv.TotalCents)
	}
	if _, err := ent.Invoice(nov, []HourUsage{{Hour: nov, Usage: Usage{BytesConsumed: -1}}}); err == nil || !strings.Contains(err.Error(), "negative usage in hour 2026-11-01T00:00:00Z") {
		t.Fatalf("negative usage: %v", err)
	}
	big := Usage{RecordsProduced: 1 << 62}
	if _, err := ent.Invoice(nov, []HourUsage{{Hour: nov, Usage: big}, {Hour: nov, Usage: big}}); err == nil || !strings.Contains(err.Error(), "overflows") {
		t.Fatalf("overflow: %v", err)
	}
	// Usage outside the month is left out, not refused.
	inv, err = ent.Invoice(nov, []HourUsage{{Hour: nov.AddDate(0, 1, 0), Usage: Usage{BytesConsumed: -1}}})
	if err != nil || inv.TotalCents != 199_900 {
		t.Fatalf("out-of-month hour: %v, %d", err, inv.TotalCents)
	}
}

func TestInvoiceJSON(t *testing.T) {
	inv, err := mustPlan(t, "starter").Invoice(nov, []HourUsage{{Hour: nov, Usage: Usage{RecordsProduced: 101_000_000}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"plan":"starter"`, `"month":"2026-11"`, `"period_start":"2026-11-01T00:00:00Z"`, `"period_end":"2026-12-01T00:00:00Z"`,
		`{"description":"Plan starter, 2026-11","quantity":"1","unit":"month","unit_price_cents":"2900","amount_cents":2900}`,
		`{"description":"Records produced beyond 100 million included","quantity":"1","unit":"million records","unit_price_cents":"10","amount_cents":10}`,
		`{"description":"Storage beyond 50 GB-months included","quantity":"0","unit":"GB-month","unit_price_cents":"2.5","amount_cents":0}`,
		`"total_cents":2910`, `"records_produced":101000000`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s\n%s", want, b)
		}
	}
	var back Invoice
	if err := json.Unmarshal(b, &back); err != nil || back.TotalCents != 2910 || len(back.Lines) != 4 {
		t.Fatalf("decode: %v %+v", err, back)
	}
}
