package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
)

// stripeAPI is a local stand-in for Stripe's API, as billing's tests fake
// it: it records every request, keeps customers by metadata[org_id] for
// customer search, and applies each Idempotency-Key once, answering a
// repeat with the first answer as Stripe does. Meter events it keeps by
// identifier and sums per customer and event name (what Stripe bills).
type stripeAPI struct {
	key string // the bearer key it accepts
	mu  sync.Mutex
	// calls are the requests received, in order.
	calls []stripeRequest
	// customers is the last form of each customer id.
	customers map[string]url.Values
	// events is the form of each applied meter event, by identifier.
	events map[string]url.Values
	// answers are the first answers by Idempotency-Key.
	answers map[string]string
	// failOrg, if set, answers 500 to every request about that org.
	failOrg string
}

// stripeRequest is one request as the fake received it.
type stripeRequest struct {
	Method, Path, Query, IdemKey string
	Form                         url.Values
}

func newStripeAPI(t *testing.T, key string) (*stripeAPI, *httptest.Server) {
	t.Helper()
	f := &stripeAPI{key: key, customers: map[string]url.Values{}, events: map[string]url.Values{}, answers: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve)) // 127.0.0.1:0
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *stripeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	idem := r.Header.Get("Idempotency-Key")
	f.calls = append(f.calls, stripeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, IdemKey: idem, Form: r.PostForm})
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`)
		return
	}
	if f.failOrg != "" && f.aboutOrg(r) == f.failOrg {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":{"type":"api_error","message":"injected failure"}}`)
		return
	}
	if r.Method == http.MethodPost {
		if idem == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"the exporter always sends an Idempotency-Key"}}`)
			return
		}
		if a, ok := f.answers[idem]; ok { // a retry: Stripe replays the first answer
			w.Header().Set("Idempotent-Replayed", "true")
			fmt.Fprint(w, a)
			return
		}
	}
	status, answer := f.apply(r)
	if r.Method == http.MethodPost && status == http.StatusOK {
		f.answers[idem] = answer
	}
	w.WriteHeader(status)
	fmt.Fprint(w, answer)
}

// apply performs a request not seen before; called with f.mu held.
func (f *stripeAPI) apply(r *http.Request) (int, string) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/customers/search":
		var data []string
		for _, id := range slices.Sorted(maps.Keys(f.customers)) {
			if r.URL.Query().Get("query") == fmt.Sprintf("metadata['org_id']:'%s'", f.customers[id].Get("metadata[org_id]")) {
				data = append(data, fmt.Sprintf(`{"id":%q}`, id))
			}
		}
		return http.StatusOK, fmt.Sprintf(`{"object":"search_result","data":[%s]}`, strings.Join(data, ","))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/customers":
		id := fmt.Sprintf("cus_%d", len(f.customers)+1)
		f.customers[id] = r.PostForm
		return http.StatusOK, fmt.Sprintf(`{"id":%q,"object":"customer"}`, id)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/customers/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/customers/")
		if _, ok := f.customers[id]; !ok {
			return http.StatusNotFound, `{"error":{"type":"invalid_request_error","message":"No such customer"}}`
		}
		f.customers[id] = r.PostForm
		return http.StatusOK, fmt.Sprintf(`{"id":%q,"object":"customer"}`, id)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/billing/meter_events":
		id := r.PostForm.Get("identifier")
		if _, dup := f.events[id]; !dup { // Stripe also dedupes by identifier
			f.events[id] = r.PostForm
		}
		return http.StatusOK, fmt.Sprintf(`{"object":"billing.meter_event","identifier":%q}`, id)
	}
	return http.StatusNotFound, `{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}`
}

// aboutOrg is the organization id a request concerns, "" if none is
// visible; called with f.mu held.
func (f *stripeAPI) aboutOrg(r *http.Request) string {
	if q := r.URL.Query().Get("query"); q != "" {
		return strings.TrimSuffix(strings.TrimPrefix(q, "metadata['org_id']:'"), "'")
	}
	if org := r.PostForm.Get("metadata[org_id]"); org != "" {
		return org
	}
	if id := r.PostForm.Get("identifier"); id != "" {
		org, _, _ := strings.Cut(id, "-")
		return org
	}
	return ""
}

// state returns copies of the applied meter events (identifier → value),
// the billed totals (customer/event name → sum) and the customers by
// org id.
func (f *stripeAPI) state() (events map[string]string, totals map[string]int64, customers map[string]url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	events, totals, customers = map[string]string{}, map[string]int64{}, map[string]url.Values{}
	for id, form := range f.events {
		events[id] = form.Get("payload[value]")
		v, _ := strconv.ParseInt(form.Get("payload[value]"), 10, 64)
		totals[form.Get("payload[stripe_customer_id]")+"/"+form.Get("event_name")] += v
	}
	for id, form := range f.customers {
		c := maps.Clone(form)
		c.Set("id", id)
		customers[form.Get("metadata[org_id]")] = c
	}
	return events, totals, customers
}

// meterEventKeys returns the Idempotency-Keys of the meter event requests
// from call number from on, in order.
func (f *stripeAPI) meterEventKeys(from int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for _, c := range f.calls[from:] {
		if c.Path == "/v1/billing/meter_events" {
			keys = append(keys, c.IdemKey)
		}
	}
	return keys
}

// recorded returns a copy of the requests received.
func (f *stripeAPI) recorded() []stripeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// setFailOrg makes every request about org fail with 500 ("" : none).
func (f *stripeAPI) setFailOrg(org string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOrg = org
}

func (f *stripeAPI) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// exportClock is a settable now for the job.
type exportClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *exportClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *exportClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// exportHour is the open hour of the export tests: 21:00 UTC, with hours
// 19:00 and 20:00 closed.
var exportHour = time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)

// exportFixture is an embedded registry with two organizations, acme and
// beta, each with an owner and usage in closed and open hours.
type exportFixture struct {
	reg        registry.Store
	acme, beta int64
}

func newExportFixture(t *testing.T) exportFixture {
	t.Helper()
	ctx := t.Context()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f := exportFixture{reg: reg, acme: usageTenant(t, reg, "acme"), beta: usageTenant(t, reg, "beta")}
	_, err = reg.SetTenantSettings(ctx, f.acme, registry.TenantSettings{DisplayName: "Acme Corp", Plan: "pro"})
	must(err)
	// beta keeps the default settings: its name and the free plan.
	viewer, err := reg.CreateUser(ctx, "viewer@beta.test", "$argon2id$test")
	must(err)
	ownerA, err := reg.CreateUser(ctx, "owner@acme.test", "$argon2id$test")
	must(err)
	ownerB, err := reg.CreateUser(ctx, "owner@beta.test", "$argon2id$test")
	must(err)
	for _, m := range []struct {
		tenant, user int64
		role         registry.Role
	}{{f.acme, ownerA.ID, registry.RoleOwner}, {f.beta, viewer.ID, registry.RoleViewer}, {f.beta, ownerB.ID, registry.RoleOwner}} {
		_, err := reg.AddMember(ctx, m.tenant, m.user, m.role)
		must(err)
	}
	add := func(tenant int64, hour time.Time, u registry.UsageCounts, key string) {
		t.Helper()
		must(reg.AddUsage(ctx, tenant, hour, u, key))
	}
	h19, h20 := exportHour.Add(-2*time.Hour), exportHour.Add(-time.Hour)
	add(f.acme, exportHour.Add(-50*time.Hour), registry.UsageCounts{RecordsProduced: 999}, "a-old") // before the lookback
	add(f.acme, h19, registry.UsageCounts{RecordsProduced: 100, BytesProduced: 1000, StorageByteHours: 5_000_000}, "a-19")
	add(f.acme, h20, registry.UsageCounts{RecordsConsumed: 7, BytesConsumed: 70}, "a-20")
	add(f.acme, exportHour, registry.UsageCounts{RecordsProduced: 1}, "a-21") // open
	add(f.beta, h19, registry.UsageCounts{RecordsProduced: 3, BytesProduced: 30}, "b-19")
	add(f.beta, h20, registry.UsageCounts{StorageByteHours: 42}, "b-20")
	add(f.beta, exportHour, registry.UsageCounts{BytesConsumed: 5}, "b-21") // open
	return f
}

// testStripeExporter is billing's Stripe exporter aimed at srv, with
// quick retries.
func testStripeExporter(t *testing.T, srv *httptest.Server, key string) billing.Exporter {
	t.Helper()
	s, err := billing.NewStripe(billing.StripeConfig{SecretKey: key, BaseURL: srv.URL, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestExportJob(t *testing.T, reg registry.Store, e billing.Exporter, clock *exportClock, every time.Duration) *exportJob {
	t.Helper()
	j, err := newExportJob(exportConfig{reg: reg, exporter: e, every: every, now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// eventID is the identifier (and Idempotency-Key) of org's meter event.
func eventID(org int64, hour time.Time, kind string) string {
	return fmt.Sprintf("%d-%d-%s", org, hour.Unix(), kind)
}

// TestExportPushesClosedHours: exactly the closed hours are pushed, per
// kind, with their quantities and idempotency keys; an hour waits out the
// grace period (its last meter flush may still be on the way); a second
// router pushing the same hours changes nothing at the provider.
func TestExportPushesClosedHours(t *testing.T) {
	fx := newExportFixture(t)
	api, srv := newStripeAPI(t, "sk_test_export")
	clock := &exportClock{t: exportHour.Add(10 * time.Minute)} // 21:10: hour 20 is within the grace
	job := newTestExportJob(t, fx.reg, testStripeExporter(t, srv, "sk_test_export"), clock, 0)

	h19, h20 := exportHour.Add(-2*time.Hour), exportHour.Add(-time.Hour)
	n, err := job.runOnce(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("run at 21:10: pushed %d hours, %v; want 2 (hour 19 of each)", n, err)
	}
	events, _, _ := api.state()
	want19 := map[string]string{
		eventID(fx.acme, h19, "records_produced"): "100", eventID(fx.acme, h19, "bytes_produced"): "1000",
		eventID(fx.acme, h19, "storage_byte_hours"): "5000000",
		eventID(fx.beta, h19, "records_produced"):   "3", eventID(fx.beta, h19, "bytes_produced"): "30",
	}
	if !maps.Equal(events, want19) {
		t.Fatalf("events at 21:10 = %v\nwant %v", events, want19)
	}

	// A late flush of hour 20 lands within the grace; it is pushed whole.
	if err := fx.reg.AddUsage(t.Context(), fx.acme, h20, registry.UsageCounts{RecordsConsumed: 3, BytesConsumed: 30}, "a-20-late"); err != nil {
		t.Fatal(err)
	}
	clock.Set(exportHour.Add(30 * time.Minute))
	before := api.callCount()
	if n, err := job.runOnce(t.Context()); err != nil || n != 2 {
		t.Fatalf("run at 21:30: pushed %d hours, %v; want 2 (hour 20 of each)", n, err)
	}
	want20 := map[string]string{
		eventID(fx.acme, h20, "records_consumed"): "10", eventID(fx.acme, h20, "bytes_consumed"): "100",
		eventID(fx.beta, h20, "storage_byte_hours"): "42",
	}
	keys := api.meterEventKeys(before)
	if !slices.Equal(slices.Sorted(slices.Values(keys)), slices.Sorted(maps.Keys(want20))) {
		t.Fatalf("meter event keys at 21:30 = %v, want only hour 20's %v (hour 19 was pushed, hour 21 is open)", keys, slices.Sorted(maps.Keys(want20)))
	}
	want := maps.Clone(want19)
	maps.Copy(want, want20)
	events, totals, customers := api.state()
	if !maps.Equal(events, want) {
		t.Fatalf("events = %v\nwant %v", events, want)
	}
	for _, c := range api.recorded() {
		if c.Path == "/v1/billing/meter_events" && (c.IdemKey != c.Form.Get("identifier") || c.Form.Get("event_name") != "streamhouse_"+c.IdemKey[strings.LastIndex(c.IdemKey, "-")+1:]) {
			t.Fatalf("meter event %+v: key, identifier and event name disagree", c)
		}
	}

	// Customers: display name (the tenant name by default), the first
	// owner's email (not beta's older viewer), the plan, the org id.
	if len(customers) != 2 {
		t.Fatalf("customers = %v, want acme's and beta's", customers)
	}
	for org, w := range map[int64][3]string{fx.acme: {"Acme Corp", "owner@acme.test", "pro"}, fx.beta: {"beta", "owner@beta.test", "free"}} {
		c := customers[strconv.FormatInt(org, 10)]
		if c.Get("name") != w[0] || c.Get("email") != w[1] || c.Get("metadata[plan]") != w[2] {
			t.Errorf("customer of org %d = %v, want %v", org, c, w)
		}
	}
	for _, c := range api.recorded() {
		if c.Path != "/v1/billing/meter_events" {
			continue
		}
		org, _, _ := strings.Cut(c.IdemKey, "-")
		if got := c.Form.Get("payload[stripe_customer_id]"); got != customers[org].Get("id") {
			t.Errorf("event %s billed to %s, want org %s's customer %s", c.IdemKey, got, org, customers[org].Get("id"))
		}
	}

	// The same job does not send pushed hours again.
	before = api.callCount()
	if n, err := job.runOnce(t.Context()); err != nil || n != 0 || len(api.meterEventKeys(before)) != 0 {
		t.Fatalf("rerun: pushed %d hours (%d events), %v; want none", n, len(api.meterEventKeys(before)), err)
	}

	// Another router (or this one restarted) pushes the lookback's closed
	// hours again, with the same keys: the provider keeps its totals.
	other := newTestExportJob(t, fx.reg, testStripeExporter(t, srv, "sk_test_export"), clock, 0)
	before = api.callCount()
	if n, err := other.runOnce(t.Context()); err != nil || n != 4 {
		t.Fatalf("second router: pushed %d hours, %v; want 4", n, err)
	}
	again := api.meterEventKeys(before)
	if !slices.Equal(slices.Sorted(slices.Values(again)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("second router's keys = %v, want %v", again, slices.Sorted(maps.Keys(want)))
	}
	events2, totals2, customers2 := api.state()
	if !maps.Equal(events2, want) || !maps.Equal(totals2, totals) || len(customers2) != 2 {
		t.Fatalf("after a repeat push: events %v totals %v (were %v), %d customers", events2, totals2, totals, len(customers2))
	}
	if totals[customers[strconv.FormatInt(fx.acme, 10)].Get("id")+"/streamhouse_records_consumed"] != 10 {
		t.Fatalf("totals = %v", totals)
	}
}

// TestExportTenantFailure: a provider failing for one organization lets
// the other's usage through, and the error names the failing one; the
// next run pushes what failed.
func TestExportTenantFailure(t *testing.T) {
	fx := newExportFixture(t)
	api, srv := newStripeAPI(t, "sk_test_export")
	api.setFailOrg(strconv.FormatInt(fx.beta, 10))
	clock := &exportClock{t: exportHour.Add(30 * time.Minute)}
	job := newTestExportJob(t, fx.reg, testStripeExporter(t, srv, "sk_test_export"), clock, 0)

	n, err := job.runOnce(t.Context())
	if err == nil || n != 2 {
		t.Fatalf("pushed %d hours, %v; want acme's 2 and an error", n, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf(`organization "beta" (%d)`, fx.beta)) || !strings.Contains(msg, "500") || strings.Contains(msg, `"acme"`) {
		t.Fatalf("error %q: want beta's failure (500) only", msg)
	}
	if strings.Contains(msg, "sk_test_export") {
		t.Fatalf("error %q shows the key", msg)
	}
	events, _, _ := api.state()
	for id := range events {
		if !strings.HasPrefix(id, strconv.FormatInt(fx.acme, 10)+"-") {
			t.Fatalf("event %s stored for the failing org", id)
		}
	}
	if len(events) != 5 {
		t.Fatalf("events = %v, want acme's 5", events)
	}

	// The provider recovers: beta's hours go, acme's are not sent again.
	api.setFailOrg("")
	before := api.callCount()
	if n, err := job.runOnce(t.Context()); err != nil || n != 2 {
		t.Fatalf("retry: pushed %d hours, %v; want beta's 2", n, err)
	}
	for _, k := range api.meterEventKeys(before) {
		if !strings.HasPrefix(k, strconv.FormatInt(fx.beta, 10)+"-") {
			t.Fatalf("retry sent %s, not beta's", k)
		}
	}
	if events, _, _ := api.state(); len(events) != 8 {
		t.Fatalf("events = %v, want 8", events)
	}

	// A wrong key fails every organization, each named.
	bad := newTestExportJob(t, fx.reg, testStripeExporter(t, srv, "sk_wrong"), clock, 0)
	_, err = bad.runOnce(t.Context())
	if err == nil || !strings.Contains(err.Error(), `"acme"`) || !strings.Contains(err.Error(), `"beta"`) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong key: %v", err)
	}
}

// TestExportRunStops: Run exports at once and on every tick, and returns
// nil soon after its context ends.
func TestExportRunStops(t *testing.T) {
	fx := newExportFixture(t)
	api, srv := newStripeAPI(t, "sk_test_export")
	clock := &exportClock{t: exportHour.Add(30 * time.Minute)}
	job := newTestExportJob(t, fx.reg, testStripeExporter(t, srv, "sk_test_export"), clock, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()

	searches := func() int {
		n := 0
		for _, c := range api.recorded() {
			if c.Path == "/v1/customers/search" {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for searches() < 6 { // three runs of two organizations
		if time.Now().After(deadline) {
			t.Fatalf("%d customer searches after 10s, want 6 (three runs)", searches())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if events, _, _ := api.state(); len(events) != 8 {
		t.Fatalf("events = %v, want 8", events)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after cancel")
	}
}

// TestNewExportJobRefuses: missing parts and intervals that could never
// push an hour are refused.
func TestNewExportJobRefuses(t *testing.T) {
	fx := newExportFixture(t)
	_, srv := newStripeAPI(t, "k")
	e := testStripeExporter(t, srv, "k")
	for _, c := range []struct {
		cfg  exportConfig
		want string
	}{
		{exportConfig{exporter: e}, "a registry and an exporter are required"},
		{exportConfig{reg: fx.reg}, "a registry and an exporter are required"},
		{exportConfig{reg: fx.reg, exporter: e, every: -time.Second}, "negative interval"},
		{exportConfig{reg: fx.reg, exporter: e, grace: -time.Second}, "negative interval"},
		{exportConfig{reg: fx.reg, exporter: e, lookback: 75 * time.Minute}, "lookback 1h15m0s must exceed grace 15m0s by more than an hour"},
	} {
		if _, err := newExportJob(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("newExportJob(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestExportFromConfig: the router's settings build the job (none
// without a URL), the key comes from the environment, and the job speaks
// to the configured server with it.
func TestExportFromConfig(t *testing.T) {
	fx := newExportFixture(t)
	c, err := loadConfig("router", roleRouter, []string{"--registry", "postgres://db/sh", "--auth", "off"}, envOf(nil), io.Discard, "")
	if err != nil {
		t.Fatal(err)
	}
	if j, err := newExporter(c, fx.reg, nil); j != nil || err != nil {
		t.Fatalf("no URL: %v, %v; want no job", j, err)
	}

	api, srv := newStripeAPI(t, "sk_from_env")
	c, err = loadConfig("router", roleRouter, []string{"--registry", "postgres://db/sh", "--auth", "off", "--billing-export-url", srv.URL},
		envOf(map[string]string{"STREAMHOUSE_BILLING_EXPORT_KEY": "sk_from_env"}), io.Discard, "")
	if err != nil || c.BillingExportKey != "sk_from_env" || c.BillingExportURL != srv.URL {
		t.Fatalf("config %+v, %v", c, err)
	}
	j, err := newExporter(c, fx.reg, nil)
	if err != nil || j == nil {
		t.Fatalf("newExporter = %v, %v", j, err)
	}
	if j.cfg.grace != 15*time.Minute || j.cfg.every != time.Hour || j.cfg.lookback != 48*time.Hour {
		t.Fatalf("defaults: every %s lookback %s grace %s", j.cfg.every, j.cfg.lookback, j.cfg.grace)
	}
	j.cfg.now = func() time.Time { return exportHour.Add(30 * time.Minute) }
	if n, err := j.runOnce(t.Context()); err != nil || n != 4 {
		t.Fatalf("pushed %d hours, %v; want 4", n, err)
	}
	if events, _, _ := api.state(); len(events) != 8 {
		t.Fatalf("events = %v, want 8", events)
	}

	// A long meter interval stretches the grace past it.
	c.MeterInterval = 10 * time.Minute
	if j, err := newExporter(c, fx.reg, nil); err != nil || j.cfg.grace != 30*time.Minute {
		t.Fatalf("grace with a 10m meter interval: %v, %v", j, err)
	}
}

// TestConfigBillingExportHidesKey: no refusal of the export settings shows
// the key, and a loopback http URL (a local stand-in) is accepted.
func TestConfigBillingExportHidesKey(t *testing.T) {
	base := []string{"--registry", "postgres://db/sh", "--auth", "off"}
	for _, c := range []struct{ url, key string }{
		{"https://api.stripe.com", "sk_live bad"},
		{"https://api.stripe.com", "sk_live_\x01"},
		{"https://api.stripe.com", "sk_live_" + strings.Repeat("x", 1020)},
		{"http://api.stripe.com", "sk_live_ok"},
		{"ftp://api.stripe.com", "sk_live_ok"},
	} {
		_, err := loadConfig("router", roleRouter, append(slices.Clone(base), "--billing-export-url", c.url),
			envOf(map[string]string{"STREAMHOUSE_BILLING_EXPORT_KEY": c.key}), io.Discard, "")
		if err == nil || strings.Contains(err.Error(), "sk_live") {
			t.Errorf("url %s: error %v: want a refusal without the key", c.url, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:12111", "http://localhost:12111", "http://[::1]:12111", "https://api.stripe.com"} {
		c, err := loadConfig("router", roleRouter, append(slices.Clone(base), "--billing-export-url", u),
			envOf(map[string]string{"STREAMHOUSE_BILLING_EXPORT_KEY": "sk_test_ok"}), io.Discard, "")
		if err != nil || c.BillingExportURL != u {
			t.Errorf("url %s: %v", u, err)
		}
	}
}
