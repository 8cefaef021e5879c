package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeCall is one request as the fake Stripe received it.
type stripeCall struct {
	Method, Path, Query, Auth, IdemKey, ContentType, Version string
	Form                                                     url.Values
}

// fakeStripe speaks enough of Stripe's API for the exporter and records
// every request exactly as received. It keeps customers by metadata
// org_id and meter events by identifier (Stripe's deduplication), and
// can answer the next requests with given failure statuses.
type fakeStripe struct {
	mu        sync.Mutex
	calls     []stripeCall
	customers map[string]url.Values // id → last form
	events    map[string]url.Values // identifier → form
	failWith  []int                 // statuses for the next requests
	hang      bool                  // block until the client gives up
}

func newFakeStripe(t *testing.T) (*fakeStripe, *httptest.Server) {
	f := &fakeStripe{customers: map[string]url.Values{}, events: map[string]url.Values{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve)) // binds 127.0.0.1:0
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, stripeCall{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		IdemKey: r.Header.Get("Idempotency-Key"), ContentType: r.Header.Get("Content-Type"),
		Version: r.Header.Get("Stripe-Version"), Form: r.PostForm,
	})
	hang := f.hang
	var fail int
	if len(f.failWith) > 0 {
		fail, f.failWith = f.failWith[0], f.failWith[1:]
	}
	f.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	if fail != 0 {
		w.WriteHeader(fail)
		fmt.Fprintf(w, `{"error":{"type":"api_error","message":"status %d"}}`, fail)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/customers/search":
		var data []string
		for id, form := range f.customers {
			if r.URL.Query().Get("query") == fmt.Sprintf("metadata['org_id']:'%s'", form.Get("metadata[org_id]")) {
				data = append(data, fmt.Sprintf(`{"id":%q}`, id))
			}
		}
		fmt.Fprintf(w, `{"object":"search_result","data":[%s]}`, strings.Join(data, ","))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/customers":
		id := fmt.Sprintf("cus_%d", len(f.customers)+1)
		f.customers[id] = r.PostForm
		fmt.Fprintf(w, `{"id":%q,"object":"customer"}`, id)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/customers/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/customers/")
		if _, ok := f.customers[id]; !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"No such customer"}}`)
			return
		}
		f.customers[id] = r.PostForm
		fmt.Fprintf(w, `{"id":%q,"object":"customer"}`, id)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/billing/meter_events":
		id := r.PostForm.Get("identifier")
		if _, dup := f.events[id]; !dup {
			f.events[id] = r.PostForm
		}
		fmt.Fprintf(w, `{"object":"billing.meter_event","identifier":%q}`, id)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"Unrecognized request URL"}}`)
	}
}

func (f *fakeStripe) recorded() []stripeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stripeCall(nil), f.calls...)
}

func newTestStripe(t *testing.T, srv *httptest.Server, edit func(*StripeConfig)) *Stripe {
	t.Helper()
	cfg := StripeConfig{SecretKey: "sk_test_123", BaseURL: srv.URL, APIVersion: "2025-04-30.basil", Backoff: time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewStripe(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStripeUpsertCustomer(t *testing.T) {
	f, srv := newFakeStripe(t)
	s := newTestStripe(t, srv, nil)
	c := Customer{Org: 42, Name: "Acme", Email: "ops@acme.test", Plan: "starter"}
	id, err := s.UpsertCustomer(t.Context(), c)
	if err != nil || id != "cus_1" {
		t.Fatalf("create: %q, %v", id, err)
	}
	c.Plan = "pro"
	id2, err := s.UpsertCustomer(t.Context(), c)
	if err != nil || id2 != "cus_1" {
		t.Fatalf("update: %q, %v", id2, err)
	}
	calls := f.recorded()
	if len(calls) != 4 {
		t.Fatalf("%d calls: %+v", len(calls), calls)
	}
	search, create, update := calls[0], calls[1], calls[3]
	if search.Method != "GET" || search.Path != "/v1/customers/search" || search.Query != "query=metadata%5B%27org_id%27%5D%3A%2742%27" || search.IdemKey != "" {
		t.Fatalf("search = %+v", search)
	}
	for _, w := range []stripeCall{search, create, update} {
		if w.Auth != "Bearer sk_test_123" || w.Version != "2025-04-30.basil" {
			t.Fatalf("headers = %+v", w)
		}
	}
	wantForm := "email=ops%40acme.test&metadata%5Borg_id%5D=42&metadata%5Bplan%5D=starter&name=Acme"
	if create.Method != "POST" || create.Path != "/v1/customers" || create.Form.Encode() != wantForm ||
		create.ContentType != "application/x-www-form-urlencoded" || !strings.HasPrefix(create.IdemKey, "streamhouse-customer-42-") {
		t.Fatalf("create = %+v", create)
	}
	if update.Path != "/v1/customers/cus_1" || update.Form.Get("metadata[plan]") != "pro" ||
		update.IdemKey == create.IdemKey || !strings.HasPrefix(update.IdemKey, "streamhouse-customer-42-") {
		t.Fatalf("update = %+v", update)
	}
	if len(f.customers) != 1 {
		t.Fatalf("%d customers, want 1", len(f.customers))
	}
}

func TestStripePushUsage(t *testing.T) {
	f, srv := newFakeStripe(t)
	s := newTestStripe(t, srv, func(c *StripeConfig) {
		c.EventNames = map[string]string{"records_produced": "sh_records", "storage_byte_hours": "sh_storage", "bytes_consumed": "sh_egress"}
	})
	hour := hourAt("2026-11-23T20:00:00Z")
	u := Usage{RecordsProduced: 1500, BytesProduced: 99, StorageByteHours: 7_000_000_000}
	for range 2 { // the second push is a retry: Stripe keeps one event per identifier
		if err := s.PushUsage(t.Context(), "cus_1", 42, hour.Add(17*time.Minute), u); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.recorded()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 2 events × 2 pushes (zero and unnamed kinds skipped): %+v", len(calls), calls)
	}
	want := []string{
		"event_name=sh_records&identifier=42-1795464000-records_produced&payload%5Bstripe_customer_id%5D=cus_1&payload%5Bvalue%5D=1500&timestamp=1795464000",
		"event_name=sh_storage&identifier=42-1795464000-storage_byte_hours&payload%5Bstripe_customer_id%5D=cus_1&payload%5Bvalue%5D=7000000000&timestamp=1795464000",
	}
	for i, c := range calls {
		if c.Method != "POST" || c.Path != "/v1/billing/meter_events" || c.Form.Encode() != want[i%2] || c.IdemKey != c.Form.Get("identifier") {
			t.Fatalf("call %d = %+v\nwant form %s", i, c, want[i%2])
		}
	}
	if len(f.events) != 2 {
		t.Fatalf("%d events kept, want 2", len(f.events))
	}
	if err := s.PushUsage(t.Context(), "", 42, hour, u); err == nil || !strings.Contains(err.Error(), "empty customer id") {
		t.Fatalf("empty customer: %v", err)
	}
	if err := s.PushUsage(t.Context(), "cus_1", 42, hour, Usage{RecordsProduced: -1}); err == nil || !strings.Contains(err.Error(), "negative records_produced -1") {
		t.Fatalf("negative usage: %v", err)
	}
}

func TestStripeRetries(t *testing.T) {
	f, srv := newFakeStripe(t)
	s := newTestStripe(t, srv, func(c *StripeConfig) { c.MaxAttempts = 3 })
	hour := hourAt("2026-11-23T20:00:00Z")

	// 503 then 429, then success: three tries with one idempotency key.
	f.failWith = []int{503, 429}
	if err := s.PushUsage(t.Context(), "cus_1", 1, hour, Usage{RecordsConsumed: 5}); err != nil {
		t.Fatalf("retried push: %v", err)
	}
	calls := f.recorded()
	if len(calls) != 3 || calls[0].IdemKey != calls[2].IdemKey || calls[1].Form.Encode() != calls[2].Form.Encode() {
		t.Fatalf("tries = %+v", calls)
	}

	// Three 500s: the last answer is returned, typed.
	f.failWith = []int{500, 500, 500}
	err := s.PushUsage(t.Context(), "cus_1", 1, hour, Usage{RecordsConsumed: 6})
	var se *StripeError
	if !errors.As(err, &se) || se.Status != 500 || se.Message != "status 500" || len(f.recorded()) != 6 {
		t.Fatalf("exhausted: %v after %d calls", err, len(f.recorded()))
	}

	// A 400 is not retried.
	f.failWith = []int{400}
	err = s.PushUsage(t.Context(), "cus_1", 1, hour, Usage{RecordsConsumed: 7})
	if !errors.As(err, &se) || se.Status != 400 || len(f.recorded()) != 7 {
		t.Fatalf("400: %v after %d calls", err, len(f.recorded()))
	}
	if !strings.Contains(err.Error(), "stripe POST /v1/billing/meter_events: 400 api_error: status 400") {
		t.Fatalf("message: %v", err)
	}
}

func TestStripeContextDeadline(t *testing.T) {
	f, srv := newFakeStripe(t)
	f.hang = true
	s := newTestStripe(t, srv, func(c *StripeConfig) { c.Backoff = time.Hour })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.UpsertCustomer(ctx, Customer{Org: 1})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("UpsertCustomer = %v after %s", err, time.Since(start))
	}
	if n := len(f.recorded()); n != 1 {
		t.Fatalf("%d tries after the deadline, want 1", n)
	}

	// A deadline during the backoff wait ends the wait.
	f.mu.Lock()
	f.hang, f.failWith = false, []int{503}
	f.mu.Unlock()
	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = s.PushUsage(ctx, "cus_1", 1, hourAt("2026-11-23T20:00:00Z"), Usage{RecordsProduced: 1})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "after 1 tries") {
		t.Fatalf("PushUsage = %v", err)
	}
}

func TestNewStripeRefuses(t *testing.T) {
	for _, c := range []struct {
		cfg  StripeConfig
		want string
	}{
		{StripeConfig{}, "SecretKey is required"},
		{StripeConfig{SecretKey: "k", BaseURL: "ftp://x"}, `BaseURL "ftp://x": want http(s)://host`},
		{StripeConfig{SecretKey: "k", EventNames: map[string]string{"calls": "x"}}, `unknown usage kind "calls"`},
		{StripeConfig{SecretKey: "k", EventNames: map[string]string{"bytes_consumed": ""}}, "event name must be 1 to 100 characters"},
		{StripeConfig{SecretKey: "k", MaxAttempts: 21}, "MaxAttempts 21: want 1 to 20"},
		{StripeConfig{SecretKey: "k", Backoff: -1}, "Backoff -1ns is negative"},
	} {
		if _, err := NewStripe(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewStripe(%+v) = %v, want %s", c.cfg, err, c.want)
		}
	}
	if _, err := NewStripe(StripeConfig{SecretKey: "k"}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

var _ Exporter = (*Stripe)(nil)

func TestPushClosedHours(t *testing.T) {
	f, srv := newFakeStripe(t)
	s := newTestStripe(t, srv, func(c *StripeConfig) { c.EventNames = map[string]string{"records_produced": "sh_records"} })
	h := hourAt("2026-11-23T18:00:00Z")
	hours := []HourUsage{
		{Hour: h.Add(2 * time.Hour), Usage: Usage{RecordsProduced: 3}}, // still open at 20:59
		{Hour: h.Add(time.Hour), Usage: Usage{RecordsProduced: 2}},
		{Hour: h.Add(-time.Hour)}, // nothing used
		{Hour: h, Usage: Usage{RecordsProduced: 1}},
	}
	n, err := PushClosedHours(t.Context(), s, "cus_1", 5, hours, hourAt("2026-11-23T20:59:00Z"))
	if err != nil || n != 2 {
		t.Fatalf("pushed %d, %v", n, err)
	}
	calls := f.recorded()
	if len(calls) != 2 || calls[0].Form.Get("payload[value]") != "1" || calls[1].Form.Get("payload[value]") != "2" {
		t.Fatalf("calls %+v", calls)
	}
	f.mu.Lock()
	f.failWith = []int{400}
	f.mu.Unlock()
	if n, err := PushClosedHours(t.Context(), s, "cus_1", 5, hours, hourAt("2026-11-23T21:00:00Z")); err == nil || n != 0 || !strings.Contains(err.Error(), "push closed hours of org 5") {
		t.Fatalf("failing push: %d, %v", n, err)
	}
}
