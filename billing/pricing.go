package billing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
)

//go:embed pricing.json
var defaultPricing []byte

// Pricing is the parsed pricing file: the plans and the one new
// organizations start on.
type Pricing struct {
	Currency    string  `json:"currency"`
	DefaultPlan string  `json:"default_plan"`
	Plans       []*Plan `json:"plans"`
}

// Plan is one plan of the pricing file.
type Plan struct {
	Name   string `json:"name"`
	Limits Limits `json:"limits"`
	Prices Prices `json:"prices"`
}

// Limits are a plan's quotas. Counts (topics, partitions per topic, API
// keys, members) and volumes (records per month, storage bytes) are refused
// with a 403 when exceeded; the per-second rates are enforced by Limiters
// and refused with a 429.
type Limits struct {
	Topics                  Limit `json:"topics"`
	PartitionsPerTopic      Limit `json:"partitions_per_topic"`
	RecordsPerMonth         Limit `json:"records_per_month"`
	StorageBytes            Limit `json:"storage_bytes"`
	ProduceBytesPerSecond   Limit `json:"produce_bytes_per_second"`
	ProduceRecordsPerSecond Limit `json:"produce_records_per_second"`
	FetchBytesPerSecond     Limit `json:"fetch_bytes_per_second"`
	APIKeys                 Limit `json:"api_keys"`
	Members                 Limit `json:"members"`
}

// Prices are what a plan costs: a base price per month that includes some
// usage, and overage prices for usage beyond what is included. A GB is
// 10^9 bytes.
type Prices struct {
	BaseCents               int64 `json:"base_cents"`
	IncludedRecords         int64 `json:"included_records"`
	IncludedStorageGBMonths int64 `json:"included_storage_gb_months"`
	IncludedConsumedGB      int64 `json:"included_consumed_gb"`
	PerMillionRecords       Price `json:"per_million_records_cents"`
	PerGBMonthStored        Price `json:"per_gb_month_stored_cents"`
	PerGBConsumed           Price `json:"per_gb_consumed_cents"`
}

// pricingFile is the file's top level. Plans, limits and prices are read
// as raw fields so that every error names the plan and the field, and a
// missing field is told apart from a zero.
type pricingFile struct {
	Currency    *string                      `json:"currency"`
	DefaultPlan *string                      `json:"default_plan"`
	Plans       []map[string]json.RawMessage `json:"plans"`
}

var (
	planNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	currencyRE = regexp.MustCompile(`^[a-z]{3}$`)
)

// maxPlans bounds the pricing file; a console lists every plan.
const maxPlans = 64

// DefaultPricing returns the pricing file embedded in the binary
// (billing/pricing.json). Each call returns a fresh copy.
func DefaultPricing() (*Pricing, error) {
	return ParsePricing(defaultPricing)
}

// LoadPricing reads and validates a pricing file from path.
func LoadPricing(path string) (*Pricing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load pricing: %w", err)
	}
	p, err := ParsePricing(b)
	if err != nil {
		return nil, fmt.Errorf("load pricing %s: %w", path, err)
	}
	return p, nil
}

// ParsePricing parses and validates a pricing file. Unknown fields are
// refused, every field is required, and the error names the plan and the
// field of every problem found.
func ParsePricing(b []byte) (*Pricing, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f pricingFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("pricing: data after the top-level object")
	}
	return f.validate()
}

func (f *pricingFile) validate() (*Pricing, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("pricing: "+format, args...)) }
	p := &Pricing{}
	switch {
	case f.Currency == nil:
		bad("currency: missing")
	case !currencyRE.MatchString(*f.Currency):
		bad("currency: want a lower-case ISO 4217 code such as \"usd\", got %q", *f.Currency)
	default:
		p.Currency = *f.Currency
	}
	if len(f.Plans) == 0 {
		bad("plans: missing or empty")
	}
	if len(f.Plans) > maxPlans {
		bad("plans: %d plans, at most %d allowed", len(f.Plans), maxPlans)
	}
	seen := map[string]bool{}
	for i, pf := range f.Plans {
		if pf == nil {
			bad("plans[%d]: null", i)
			continue
		}
		plan, planErrs := validatePlan(i, pf)
		errs = append(errs, planErrs...)
		if plan == nil {
			continue
		}
		if seen[plan.Name] {
			bad("plan %q: defined twice", plan.Name)
		}
		seen[plan.Name] = true
		p.Plans = append(p.Plans, plan)
	}
	switch {
	case f.DefaultPlan == nil:
		bad("default_plan: missing")
	case !seen[*f.DefaultPlan]:
		bad("default_plan: %q is not a plan of this file", *f.DefaultPlan)
	default:
		p.DefaultPlan = *f.DefaultPlan
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// planFields are the fields of one plan.
var planFields = []string{"name", "limits", "prices"}

// validatePlan checks one plan; it returns the plan (nil when its name is
// unusable) and every problem found, each naming the plan and the field.
func validatePlan(i int, pf map[string]json.RawMessage) (*Plan, []error) {
	var errs []error
	where := fmt.Sprintf("plans[%d]", i)
	plan := &Plan{}
	nameOK := false
	if raw, ok := pf["name"]; !ok {
		errs = append(errs, fmt.Errorf("pricing: %s: name: missing", where))
	} else if err := json.Unmarshal(raw, &plan.Name); err != nil || !planNameRE.MatchString(plan.Name) {
		errs = append(errs, fmt.Errorf("pricing: %s: name: want a string matching %s, got %s", where, planNameRE, raw))
	} else {
		where, nameOK = fmt.Sprintf("plan %q", plan.Name), true
	}
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("pricing: %s: "+format, append([]any{where}, args...)...))
	}
	unknownFields(pf, "", planFields, bad)

	limits := subObject(pf, "limits", bad)
	if limits != nil {
		l := &plan.Limits
		unknownFields(limits, "limits.", limitFields(l), bad)
		for _, c := range []struct {
			field    string
			dst      *Limit
			positive bool // a zero would refuse everything: write a real limit
		}{
			{"topics", &l.Topics, false},
			{"partitions_per_topic", &l.PartitionsPerTopic, true},
			{"records_per_month", &l.RecordsPerMonth, false},
			{"storage_bytes", &l.StorageBytes, false},
			{"produce_bytes_per_second", &l.ProduceBytesPerSecond, true},
			{"produce_records_per_second", &l.ProduceRecordsPerSecond, true},
			{"fetch_bytes_per_second", &l.FetchBytesPerSecond, true},
			{"api_keys", &l.APIKeys, false},
			{"members", &l.Members, true},
		} {
			raw, ok := limits[c.field]
			if !ok {
				bad("limits.%s: missing", c.field)
				continue
			}
			if err := c.dst.UnmarshalJSON(raw); err != nil {
				bad("limits.%s: %v", c.field, err)
				continue
			}
			if c.positive && *c.dst == 0 {
				bad("limits.%s: must be positive or \"unlimited\", got 0", c.field)
			}
		}
	}

	prices := subObject(pf, "prices", bad)
	if prices != nil {
		pr := &plan.Prices
		unknownFields(prices, "prices.", priceFields(pr), bad)
		for _, c := range []struct {
			field string
			dst   *int64
		}{
			{"base_cents", &pr.BaseCents},
			{"included_records", &pr.IncludedRecords},
			{"included_storage_gb_months", &pr.IncludedStorageGBMonths},
			{"included_consumed_gb", &pr.IncludedConsumedGB},
		} {
			raw, ok := prices[c.field]
			if !ok {
				bad("prices.%s: missing", c.field)
				continue
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
			if err != nil || n < 0 {
				bad("prices.%s: want a non-negative integer, got %s", c.field, raw)
				continue
			}
			*c.dst = n
		}
		for _, c := range []struct {
			field string
			dst   *Price
		}{
			{"per_million_records_cents", &pr.PerMillionRecords},
			{"per_gb_month_stored_cents", &pr.PerGBMonthStored},
			{"per_gb_consumed_cents", &pr.PerGBConsumed},
		} {
			raw, ok := prices[c.field]
			if !ok {
				bad("prices.%s: missing", c.field)
				continue
			}
			if err := c.dst.UnmarshalJSON(raw); err != nil {
				bad("prices.%s: %v", c.field, err)
			}
		}
		if rpm := plan.Limits.RecordsPerMonth; limits != nil && !rpm.IsUnlimited() && pr.IncludedRecords > int64(rpm) {
			bad("prices.included_records: %d is more than limits.records_per_month %d", pr.IncludedRecords, rpm)
		}
	}
	if !nameOK {
		return nil, errs
	}
	return plan, errs
}

// subObject decodes the JSON object pf[field], reporting a missing or
// malformed one through bad.
func subObject(pf map[string]json.RawMessage, field string, bad func(string, ...any)) map[string]json.RawMessage {
	raw, ok := pf[field]
	if !ok {
		bad("%s: missing", field)
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		bad("%s: want an object, got %s", field, raw)
		return nil
	}
	return m
}

// unknownFields reports every key of m that is not in known, sorted so the
// error is stable.
func unknownFields(m map[string]json.RawMessage, prefix string, known []string, bad func(string, ...any)) {
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		bad("%s%s: unknown field", prefix, k)
	}
}

// limitFields and priceFields list the JSON names of the fields, read off
// the struct tags so that the list cannot drift from the structs.
func limitFields(l *Limits) []string { return jsonNames(*l) }
func priceFields(p *Prices) []string { return jsonNames(*p) }

func jsonNames(v any) []string {
	t := reflect.TypeOf(v)
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		names = append(names, t.Field(i).Tag.Get("json"))
	}
	return names
}

// ErrUnknownPlan is returned by Pricing.Plan for a name the file does not
// define.
var ErrUnknownPlan = errors.New("unknown plan")

// Plan returns the plan called name.
func (p *Pricing) Plan(name string) (*Plan, error) {
	for _, plan := range p.Plans {
		if plan.Name == name {
			return plan, nil
		}
	}
	return nil, fmt.Errorf("plan %q: %w", name, ErrUnknownPlan)
}
