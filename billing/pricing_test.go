package billing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustDefault(t *testing.T) *Pricing {
	t.Helper()
	p, err := DefaultPricing()
	if err != nil {
		t.Fatalf("DefaultPricing: %v", err)
	}
	return p
}

func mustPlan(t *testing.T, name string) *Plan {
	t.Helper()
	plan, err := mustDefault(t).Plan(name)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestDefaultPricing(t *testing.T) {
	p := mustDefault(t)
	var names []string
	for _, plan := range p.Plans {
		names = append(names, plan.Name)
	}
	if got, want := strings.Join(names, ","), "free,starter,pro,enterprise"; got != want {
		t.Fatalf("plans = %s, want %s", got, want)
	}
	if p.DefaultPlan != "free" || p.Currency != "usd" {
		t.Fatalf("default plan %q currency %q", p.DefaultPlan, p.Currency)
	}
	free := mustPlan(t, "free")
	if free.Limits.Topics != 10 || free.Limits.ProduceBytesPerSecond != 1048576 || free.Prices.BaseCents != 0 {
		t.Fatalf("free = %+v", free)
	}
	starter := mustPlan(t, "starter")
	if starter.Prices.PerGBMonthStored != 25_000 || starter.Prices.PerGBMonthStored.Cents() != "2.5" {
		t.Fatalf("starter storage price = %d (%s cents)", starter.Prices.PerGBMonthStored, starter.Prices.PerGBMonthStored.Cents())
	}
	ent := mustPlan(t, "enterprise")
	if !ent.Limits.Topics.IsUnlimited() || !ent.Limits.RecordsPerMonth.IsUnlimited() || ent.Limits.PartitionsPerTopic != 1024 {
		t.Fatalf("enterprise limits = %+v", ent.Limits)
	}
	if _, err := p.Plan("platinum"); err == nil || !strings.Contains(err.Error(), `plan "platinum": unknown plan`) {
		t.Fatalf("Plan(platinum) = %v", err)
	}
}

// A pricing marshalled back to JSON parses to the same pricing: every
// field is both read and written, and "unlimited" survives the trip.
func TestPricingRoundTrip(t *testing.T) {
	p := mustDefault(t)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParsePricing(b)
	if err != nil {
		t.Fatalf("parse marshalled pricing: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip differs:\n%+v\n%+v", p, q)
	}
	if !strings.Contains(string(b), `"topics":"unlimited"`) {
		t.Fatalf("unlimited not written as \"unlimited\": %s", b)
	}
}

func TestLoadPricing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pricing.json")
	if err := os.WriteFile(path, defaultPricing, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPricing(path)
	if err != nil {
		t.Fatalf("LoadPricing: %v", err)
	}
	if !reflect.DeepEqual(p, mustDefault(t)) {
		t.Fatal("loaded pricing differs from the embedded one")
	}
	if _, err := LoadPricing(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "load pricing") {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"currency":"usd"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPricing(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "plans: missing") {
		t.Fatalf("bad file: %v", err)
	}
}

// mutated returns the embedded pricing file with edit applied to its
// generic form, so each case changes one thing of a valid file.
func mutated(t *testing.T, edit func(top map[string]any, plans []any)) []byte {
	t.Helper()
	var top map[string]any
	if err := json.Unmarshal(defaultPricing, &top); err != nil {
		t.Fatal(err)
	}
	edit(top, top["plans"].([]any))
	b, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func field(plans []any, i int, section string) map[string]any {
	return plans[i].(map[string]any)[section].(map[string]any)
}

func TestParsePricingRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(top map[string]any, plans []any)
		want string
	}{
		{"unknown top-level field", func(top map[string]any, _ []any) { top["tax"] = 1 }, `unknown field "tax"`},
		{"unknown plan field", func(_ map[string]any, p []any) { p[0].(map[string]any)["color"] = "red" }, `plan "free": color: unknown field`},
		{"unknown limit", func(_ map[string]any, p []any) { field(p, 1, "limits")["queues"] = 3 }, `plan "starter": limits.queues: unknown field`},
		{"unknown price", func(_ map[string]any, p []any) { field(p, 2, "prices")["per_call_cents"] = 3 }, `plan "pro": prices.per_call_cents: unknown field`},
		{"missing limit", func(_ map[string]any, p []any) { delete(field(p, 0, "limits"), "topics") }, `plan "free": limits.topics: missing`},
		{"missing price", func(_ map[string]any, p []any) { delete(field(p, 3, "prices"), "per_gb_consumed_cents") }, `plan "enterprise": prices.per_gb_consumed_cents: missing`},
		{"missing limits", func(_ map[string]any, p []any) { delete(p[0].(map[string]any), "limits") }, `plan "free": limits: missing`},
		{"limits not an object", func(_ map[string]any, p []any) { p[0].(map[string]any)["limits"] = 5 }, `plan "free": limits: want an object, got 5`},
		{"negative limit", func(_ map[string]any, p []any) { field(p, 0, "limits")["members"] = -2 }, `plan "free": limits.members: want a non-negative integer or "unlimited", got -2`},
		{"fractional limit", func(_ map[string]any, p []any) { field(p, 0, "limits")["topics"] = 2.5 }, `plan "free": limits.topics: want a non-negative integer or "unlimited", got 2.5`},
		{"misspelt unlimited", func(_ map[string]any, p []any) { field(p, 0, "limits")["topics"] = "infinite" }, `plan "free": limits.topics: want a non-negative integer or "unlimited", got "infinite"`},
		{"null limit", func(_ map[string]any, p []any) { field(p, 0, "limits")["topics"] = nil }, `plan "free": limits.topics: want a non-negative integer or "unlimited", got null`},
		{"zero rate", func(_ map[string]any, p []any) { field(p, 1, "limits")["fetch_bytes_per_second"] = 0 }, `plan "starter": limits.fetch_bytes_per_second: must be positive or "unlimited", got 0`},
		{"zero partitions", func(_ map[string]any, p []any) { field(p, 1, "limits")["partitions_per_topic"] = 0 }, `plan "starter": limits.partitions_per_topic: must be positive`},
		{"negative base", func(_ map[string]any, p []any) { field(p, 1, "prices")["base_cents"] = -1 }, `plan "starter": prices.base_cents: want a non-negative integer, got -1`},
		{"fractional base", func(_ map[string]any, p []any) { field(p, 1, "prices")["base_cents"] = 29.5 }, `plan "starter": prices.base_cents: want a non-negative integer, got 29.5`},
		{"five decimals", func(_ map[string]any, p []any) { field(p, 1, "prices")["per_gb_consumed_cents"] = 0.00001 }, `plan "starter": prices.per_gb_consumed_cents: want a non-negative number of cents with at most 4 decimals, got 0.00001`},
		{"negative price", func(_ map[string]any, p []any) { field(p, 1, "prices")["per_gb_consumed_cents"] = -3 }, `prices.per_gb_consumed_cents: want a non-negative number of cents with at most 4 decimals, got -3`},
		{"price as string", func(_ map[string]any, p []any) { field(p, 1, "prices")["per_gb_consumed_cents"] = "3" }, `prices.per_gb_consumed_cents: want a non-negative number of cents with at most 4 decimals, got "3"`},
		{"included beyond limit", func(_ map[string]any, p []any) { field(p, 0, "prices")["included_records"] = 20000000 }, `plan "free": prices.included_records: 20000000 is more than limits.records_per_month 10000000`},
		{"duplicate plan", func(_ map[string]any, p []any) { p[1].(map[string]any)["name"] = "free" }, `plan "free": defined twice`},
		{"bad plan name", func(_ map[string]any, p []any) { p[1].(map[string]any)["name"] = "Starter Plus" }, `plans[1]: name: want a string matching`},
		{"missing plan name", func(_ map[string]any, p []any) { delete(p[2].(map[string]any), "name") }, `plans[2]: name: missing`},
		{"null plan", func(_ map[string]any, p []any) { p[2] = nil }, `plans[2]: null`},
		{"no plans", func(top map[string]any, _ []any) { top["plans"] = []any{} }, `plans: missing or empty`},
		{"default plan unknown", func(top map[string]any, _ []any) { top["default_plan"] = "gold" }, `default_plan: "gold" is not a plan of this file`},
		{"default plan missing", func(top map[string]any, _ []any) { delete(top, "default_plan") }, `default_plan: missing`},
		{"bad currency", func(top map[string]any, _ []any) { top["currency"] = "USD" }, `currency: want a lower-case ISO 4217 code`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePricing(mutated(t, c.edit))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, c.want)
			}
		})
	}
}

func TestParsePricingRefusesMalformed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"currency":"usd"} {}`, "data after the top-level object"},
		{`[1,2]`, "pricing: json: cannot unmarshal array"},
		{`{"currency":`, "unexpected EOF"},
		{`{"currency":"usd","default_plan":"a","plans":[{"name":"a","limits":{},"prices":{},"x":1}]}`, `plan "a": x: unknown field`},
		{`{"currency":"usd","default_plan":"a","plans":[{"name":"a","limits":{"topics":1e3},"prices":{"per_gb_consumed_cents":1.5e1}}]}`, `limits.topics: want a non-negative integer or "unlimited", got 1e3`},
	} {
		_, err := ParsePricing([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePricing(%s) = %v, want %s", c.in, err, c.want)
		}
	}
	// Every problem is reported at once, not only the first.
	_, err := ParsePricing([]byte(`{"currency":"usd","default_plan":"a","plans":[{"name":"a","limits":{},"prices":{}}]}`))
	if err == nil || strings.Count(err.Error(), "missing") != 16 {
		t.Fatalf("want 9 limits and 7 prices reported missing, got %v", err)
	}
}

func TestPriceParse(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  Price
		cents string
		err   bool
	}{
		{"0", 0, "0", false},
		{"10", 100_000, "10", false},
		{"2.5", 25_000, "2.5", false},
		{"2.50", 25_000, "2.5", false},
		{"0.0001", 1, "0.0001", false},
		{"1234.5678", 12_345_678, "1234.5678", false},
		{"0.00001", 0, "", true},
		{"1.", 0, "", true},
		{".5", 0, "", true},
		{"-1", 0, "", true},
		{"1e2", 0, "", true},
		{"922337203685477", 0, "", true},
	} {
		got, err := parsePrice(c.in)
		if (err != nil) != c.err || got != c.want || (!c.err && got.Cents() != c.cents) {
			t.Errorf("parsePrice(%q) = %d (%s), %v; want %d (%s), error %v", c.in, got, got.Cents(), err, c.want, c.cents, c.err)
		}
	}
}

func TestLimitJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Limit
		err  bool
	}{
		{`0`, 0, false}, {`42`, 42, false}, {`"unlimited"`, Unlimited, false},
		{`-1`, 0, true}, {`"42"`, 0, true}, {`true`, 0, true}, {`1.0`, 0, true}, {`"Unlimited"`, 0, true},
	} {
		var l Limit
		err := json.Unmarshal([]byte(c.in), &l)
		if (err != nil) != c.err || (!c.err && l != c.want) {
			t.Errorf("unmarshal %s = %d, %v; want %d, error %v", c.in, l, err, c.want, c.err)
		}
	}
	if s := Unlimited.String() + " " + Limit(7).String(); s != "unlimited 7" {
		t.Errorf("String = %q", s)
	}
}
