package billing

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// bytesPerGB is the GB of the prices: 10^9 bytes, as cloud providers bill.
const bytesPerGB = 1_000_000_000

// HourUsage is one organization's usage in the hour starting at Hour, as
// a UsageSink stores it.
type HourUsage struct {
	Hour  time.Time `json:"hour"`
	Usage Usage     `json:"usage"`
}

// Invoice is a month's bill: the base price plus overage, line by line, in
// integer cents. Each line's amount is its exact quantity times its unit
// price, rounded once to the nearest cent with halves rounded up; the
// total is the sum of the lines' amounts (so the lines add up to it).
type Invoice struct {
	Plan string `json:"plan"`
	// Month is the billed calendar month in UTC, "2026-11".
	Month       string        `json:"month"`
	PeriodStart time.Time     `json:"period_start"` // inclusive, UTC
	PeriodEnd   time.Time     `json:"period_end"`   // exclusive, UTC
	Usage       Usage         `json:"usage"`        // the month's totals
	Lines       []InvoiceLine `json:"lines"`
	TotalCents  int64         `json:"total_cents"`
}

// InvoiceLine is one line of an invoice. Quantity and UnitPriceCents are
// decimal strings so that JSON carries them exactly; Quantity is shown
// rounded to six decimals, while AmountCents is computed from the exact
// quantity.
type InvoiceLine struct {
	Description    string `json:"description"`
	Quantity       string `json:"quantity"`
	Unit           string `json:"unit"`
	UnitPriceCents string `json:"unit_price_cents"`
	AmountCents    int64  `json:"amount_cents"`
}

// MonthStart returns the start of t's calendar month in UTC. An hour of
// usage belongs to the month its start falls in, in UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Invoice prices the usage of the calendar month (UTC) that month falls
// in. hours may hold any hours: those whose start is outside the month
// are left out, so a caller may pass a wider range. Negative usage or
// totals beyond int64 are refused.
//
// Storage is billed in GB-months: the month's byte-hours divided by
// 10^9 and by the month's hours (672 to 744), so a GB kept the whole
// month is one GB-month whatever the month's length.
func (p *Plan) Invoice(month time.Time, hours []HourUsage) (*Invoice, error) {
	start := MonthStart(month)
	end := start.AddDate(0, 1, 0)
	monthHours := int64(end.Sub(start) / time.Hour)
	inv := &Invoice{Plan: p.Name, Month: start.Format("2006-01"), PeriodStart: start, PeriodEnd: end}

	for _, h := range hours {
		if h.Hour.Before(start) || !h.Hour.Before(end) {
			continue
		}
		u := h.Usage
		if u.RecordsProduced < 0 || u.BytesProduced < 0 || u.RecordsConsumed < 0 || u.BytesConsumed < 0 || u.StorageByteHours < 0 {
			return nil, fmt.Errorf("invoice %s: negative usage in hour %s: %+v", inv.Month, h.Hour.UTC().Format(time.RFC3339), u)
		}
		sum := inv.Usage.Add(u)
		if sum.RecordsProduced < inv.Usage.RecordsProduced || sum.BytesProduced < inv.Usage.BytesProduced ||
			sum.RecordsConsumed < inv.Usage.RecordsConsumed || sum.BytesConsumed < inv.Usage.BytesConsumed ||
			sum.StorageByteHours < inv.Usage.StorageByteHours {
			return nil, fmt.Errorf("invoice %s: usage overflows int64", inv.Month)
		}
		inv.Usage = sum
	}

	pr := p.Prices
	inv.Lines = append(inv.Lines, InvoiceLine{
		Description:    fmt.Sprintf("Plan %s, %s", p.Name, inv.Month),
		Quantity:       "1",
		Unit:           "month",
		UnitPriceCents: strconv.FormatInt(pr.BaseCents, 10),
		AmountCents:    pr.BaseCents,
	})
	mul := func(a, b int64) *big.Int { return new(big.Int).Mul(big.NewInt(a), big.NewInt(b)) }
	for _, o := range []struct {
		desc     string
		unit     string
		used     int64    // in base units: records, byte-hours, bytes
		included *big.Int // in base units
		perUnit  int64    // base units per billing unit
		price    Price
	}{
		{"Records produced beyond %s million included", "million records",
			inv.Usage.RecordsProduced, big.NewInt(pr.IncludedRecords), 1_000_000, pr.PerMillionRecords},
		{"Storage beyond %s GB-months included", "GB-month",
			inv.Usage.StorageByteHours, mul(pr.IncludedStorageGBMonths, bytesPerGB*monthHours), bytesPerGB * monthHours, pr.PerGBMonthStored},
		{"Data consumed beyond %s GB included", "GB",
			inv.Usage.BytesConsumed, mul(pr.IncludedConsumedGB, bytesPerGB), bytesPerGB, pr.PerGBConsumed},
	} {
		over := new(big.Int).Sub(big.NewInt(o.used), o.included)
		if over.Sign() < 0 {
			over.SetInt64(0)
		}
		den := big.NewInt(o.perUnit)
		amount, err := roundedCents(over, den, o.price)
		if err != nil {
			return nil, fmt.Errorf("invoice %s: %s: %w", inv.Month, o.unit, err)
		}
		inv.Lines = append(inv.Lines, InvoiceLine{
			Description:    fmt.Sprintf(o.desc, decimal(new(big.Rat).SetFrac(o.included, den))),
			Quantity:       decimal(new(big.Rat).SetFrac(over, den)),
			Unit:           o.unit,
			UnitPriceCents: o.price.Cents(),
			AmountCents:    amount,
		})
	}
	for _, l := range inv.Lines {
		if inv.TotalCents+l.AmountCents < inv.TotalCents {
			return nil, fmt.Errorf("invoice %s: total overflows int64", inv.Month)
		}
		inv.TotalCents += l.AmountCents
	}
	return inv, nil
}

// roundedCents returns (qty/den) units × price, in cents, rounded to the
// nearest cent with halves up: floor((2·qty·price + D) / 2D) with
// D = den·priceScale.
func roundedCents(qty, den *big.Int, price Price) (int64, error) {
	num := new(big.Int).Mul(qty, big.NewInt(int64(price)))
	num.Lsh(num, 1)
	d := new(big.Int).Mul(den, big.NewInt(priceScale))
	num.Add(num, d)
	num.Quo(num, d.Lsh(d, 1))
	if !num.IsInt64() {
		return 0, errors.New("amount overflows int64 cents")
	}
	return num.Int64(), nil
}

// decimal formats r with at most six decimals, trailing zeros trimmed.
func decimal(r *big.Rat) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
