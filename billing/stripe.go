package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StripeConfig configures a Stripe exporter.
type StripeConfig struct {
	// SecretKey is sent as a bearer token. Required.
	SecretKey string
	// BaseURL is the API's address. The default is https://api.stripe.com;
	// tests point it at a local server.
	BaseURL string
	// APIVersion, if set, is sent as the Stripe-Version header.
	APIVersion string
	// EventNames maps each kind of usage to the event_name of the Stripe
	// meter that counts it; a kind without a name is not exported. The
	// default exports all five kinds as "streamhouse_<json field name>",
	// for example "streamhouse_records_produced".
	EventNames map[string]string
	// MaxAttempts bounds the tries of one request (429, 5xx and transport
	// errors are retried). The default is 4.
	MaxAttempts int
	// Backoff is the wait before the second try; it doubles on each retry.
	// The default is 500 ms.
	Backoff time.Duration
	// HTTPClient sends the requests. The default has a 30 s timeout.
	HTTPClient *http.Client
}

// Stripe exports to Stripe's API (or anything speaking its dialect):
// form-encoded POSTs, a bearer secret key, an Idempotency-Key header on
// every write. Usage goes as billing meter events, one per kind of usage
// and hour, whose identifier makes a repeated push a no-op on Stripe's
// side. Stripe refuses meter events older than 35 days, so push hours
// soon after they end.
type Stripe struct {
	base        *url.URL
	key         string
	version     string
	events      map[string]string
	maxAttempts int
	backoff     time.Duration
	client      *http.Client
}

// usageKinds are the kinds of usage, named by Usage's JSON fields.
var usageKinds = []string{"records_produced", "bytes_produced", "records_consumed", "bytes_consumed", "storage_byte_hours"}

func (u Usage) kind(name string) int64 {
	switch name {
	case "records_produced":
		return u.RecordsProduced
	case "bytes_produced":
		return u.BytesProduced
	case "records_consumed":
		return u.RecordsConsumed
	case "bytes_consumed":
		return u.BytesConsumed
	case "storage_byte_hours":
		return u.StorageByteHours
	}
	return 0
}

// NewStripe returns a Stripe exporter; it refuses a missing key, a bad
// base URL or an unknown usage kind in EventNames.
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: SecretKey is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://api.stripe.com"
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("stripe: BaseURL %q: want http(s)://host", cfg.BaseURL)
	}
	if cfg.EventNames == nil {
		cfg.EventNames = make(map[string]string, len(usageKinds))
		for _, k := range usageKinds {
			cfg.EventNames[k] = "streamhouse_" + k
		}
	}
	for k, name := range cfg.EventNames {
		if !slices.Contains(usageKinds, k) {
			return nil, fmt.Errorf("stripe: EventNames: unknown usage kind %q (want one of %s)", k, strings.Join(usageKinds, ", "))
		}
		if name == "" || len(name) > 100 {
			return nil, fmt.Errorf("stripe: EventNames[%s]: event name must be 1 to 100 characters, got %q", k, name)
		}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.MaxAttempts < 1 || cfg.MaxAttempts > 20 {
		return nil, fmt.Errorf("stripe: MaxAttempts %d: want 1 to 20", cfg.MaxAttempts)
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.Backoff < 0 {
		return nil, fmt.Errorf("stripe: Backoff %s is negative", cfg.Backoff)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Stripe{
		base: base, key: cfg.SecretKey, version: cfg.APIVersion, events: cfg.EventNames,
		maxAttempts: cfg.MaxAttempts, backoff: cfg.Backoff, client: cfg.HTTPClient,
	}, nil
}

// StripeError is an answer Stripe refused, with its status and message.
type StripeError struct {
	Method, Path string
	Status       int
	Type         string // Stripe's error type, such as "invalid_request_error"
	Message      string
}

func (e *StripeError) Error() string {
	return fmt.Sprintf("stripe %s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Type, e.Message)
}

// UpsertCustomer finds the customer whose metadata[org_id] is the
// organization (customer search) and updates it, or creates it. Writes
// carry the idempotency key "streamhouse-customer-<org>-<hash of the
// fields>", so two racing creates of the same customer make one, and a
// later change is not mistaken for a retry (Stripe refuses a key reused
// with other parameters). Stripe's search lags writes by up to a minute:
// within that window the idempotency key is what prevents a duplicate.
func (s *Stripe) UpsertCustomer(ctx context.Context, c Customer) (string, error) {
	org := strconv.FormatInt(c.Org, 10)
	form := url.Values{}
	form.Set("name", c.Name)
	form.Set("email", c.Email)
	form.Set("metadata[org_id]", org)
	form.Set("metadata[plan]", c.Plan)

	q := url.Values{"query": {fmt.Sprintf("metadata['org_id']:'%s'", org)}}
	var found struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := s.do(ctx, http.MethodGet, "/v1/customers/search", q, "", &found); err != nil {
		return "", fmt.Errorf("upsert customer org %d: %w", c.Org, err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if len(found.Data) > 0 {
		id := found.Data[0].ID
		key := "streamhouse-customer-" + org + "-" + hashForm(form)
		if err := s.do(ctx, http.MethodPost, "/v1/customers/"+url.PathEscape(id), form, key, &out); err != nil {
			return "", fmt.Errorf("update customer %s of org %d: %w", id, c.Org, err)
		}
		return id, nil
	}
	if err := s.do(ctx, http.MethodPost, "/v1/customers", form, "streamhouse-customer-"+org+"-"+hashForm(form), &out); err != nil {
		return "", fmt.Errorf("create customer for org %d: %w", c.Org, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("create customer for org %d: answer without an id", c.Org)
	}
	return out.ID, nil
}

// PushUsage sends one meter event per non-zero kind of usage, with the
// identifier (and Idempotency-Key) "<org>-<hour unix>-<kind>" and the
// hour's start as the timestamp.
func (s *Stripe) PushUsage(ctx context.Context, customerID string, org int64, hour time.Time, u Usage) error {
	if customerID == "" {
		return fmt.Errorf("push usage org %d: empty customer id", org)
	}
	hour = hour.UTC().Truncate(time.Hour)
	for _, kind := range usageKinds {
		name, ok := s.events[kind]
		v := u.kind(kind)
		if !ok || v == 0 {
			continue
		}
		if v < 0 {
			return fmt.Errorf("push usage org %d hour %s: negative %s %d", org, hour.Format(time.RFC3339), kind, v)
		}
		id := fmt.Sprintf("%d-%d-%s", org, hour.Unix(), kind)
		form := url.Values{}
		form.Set("event_name", name)
		form.Set("identifier", id)
		form.Set("timestamp", strconv.FormatInt(hour.Unix(), 10))
		form.Set("payload[stripe_customer_id]", customerID)
		form.Set("payload[value]", strconv.FormatInt(v, 10))
		if err := s.do(ctx, http.MethodPost, "/v1/billing/meter_events", form, id, nil); err != nil {
			return fmt.Errorf("push usage org %d hour %s %s: %w", org, hour.Format(time.RFC3339), kind, err)
		}
	}
	return nil
}

// hashForm makes an update's idempotency key depend on its content, so a
// later change is not taken for a retry of an earlier one.
func hashForm(v url.Values) string {
	var h uint64 = 14695981039346656037 // FNV-1a
	for _, b := range []byte(v.Encode()) {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 36)
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 1 << 20

// do sends one request, retrying 429, 5xx and transport errors with
// doubling backoff up to MaxAttempts, and decodes a 2xx answer into out.
// Writes carry the Idempotency-Key, the same on every try.
func (s *Stripe) do(ctx context.Context, method, path string, form url.Values, idemKey string, out any) error {
	u := s.base.JoinPath(path)
	var body []byte
	if method == http.MethodGet {
		u.RawQuery = form.Encode()
	} else {
		body = []byte(form.Encode())
	}
	wait := s.backoff
	var last error
	for attempt := 1; ; attempt++ {
		retry, err := s.try(ctx, method, u.String(), path, body, idemKey, out)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt >= s.maxAttempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d tries; last: %v)", ctx.Err(), attempt, last)
		case <-t.C:
		}
		wait *= 2
	}
	return last
}

// try sends one request and says whether a failure is worth retrying.
func (s *Stripe) try(ctx context.Context, method, target, path string, body []byte, idemKey string, out any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("stripe %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if s.version != "" {
		req.Header.Set("Stripe-Version", s.version)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("stripe %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("stripe %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		se := &StripeError{Method: method, Path: path, Status: resp.StatusCode}
		var e struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(answer, &e) == nil {
			se.Type, se.Message = e.Error.Type, e.Error.Message
		}
		return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, se
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			return false, fmt.Errorf("stripe %s %s: decode answer: %w", method, path, err)
		}
	}
	return false, nil
}
