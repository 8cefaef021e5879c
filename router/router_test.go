package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// fakeProducer stands in for the NATS path to the partition actors: it
// hands out dense offsets per partition and records every request (deep
// copies: the router's records alias its request body).
type fakeProducer struct {
	mu struct {
		sync.Mutex
		calls []wire.ProduceRequest
		next  map[int32]int64
	}
	// answer, if set, decides a request's fate instead of the happy path.
	answer func(ctx context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error)
}

func (f *fakeProducer) Produce(ctx context.Context, req *wire.ProduceRequest) (*wire.ProduceResponse, error) {
	c := *req
	c.Records = make([]wire.Record, len(req.Records))
	for i, r := range req.Records {
		c.Records[i] = wire.Record{Timestamp: r.Timestamp, Key: clone(r.Key), Value: clone(r.Value)}
		for _, h := range r.Headers {
			c.Records[i].Headers = append(c.Records[i].Headers, wire.Header{Key: h.Key, Value: clone(h.Value)})
		}
	}
	f.mu.Lock()
	f.mu.calls = append(f.mu.calls, c)
	f.mu.Unlock()
	if f.answer != nil {
		if resp, err := f.answer(ctx, req); resp != nil || err != nil {
			return resp, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.next == nil {
		f.mu.next = map[int32]int64{}
	}
	base := f.mu.next[req.Partition]
	f.mu.next[req.Partition] += int64(len(req.Records))
	return &wire.ProduceResponse{BaseOffset: base}, nil
}

// clone copies b, keeping nil apart from empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (f *fakeProducer) calls() []wire.ProduceRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mu.calls)
}

type harness struct {
	t      *testing.T
	reg    *registry.Embedded
	tenant registry.Tenant
	prod   *fakeProducer
	rt     *Router
}

// newHarness starts a router on a fresh embedded registry with the tenant
// "default", served as its owner (Anonymous) unless cfg says otherwise.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	tenant, err := reg.CreateTenant(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Authenticate == nil {
		cfg.Authenticate = Anonymous(tenant.ID)
	}
	h := &harness{t: t, reg: reg, tenant: tenant, prod: &fakeProducer{}}
	h.rt, err = New(cfg, Deps{Topics: reg, Producer: h.prod})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) do(method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.rt.ServeHTTP(w, req)
	return w
}

func (h *harness) createTopic(name string, partitions int) {
	h.t.Helper()
	w := h.do("POST", "/api/v1/topics", "application/json",
		[]byte(`{"name":"`+name+`","partitions":`+strconv.Itoa(partitions)+`}`))
	if w.Code != http.StatusCreated {
		h.t.Fatalf("create topic %s: %d %s", name, w.Code, w.Body)
	}
}

// errorBody is the error shape every failure must have.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError checks the status, the error code, that the message contains
// want, and that the body is the API's error shape.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code, want string) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q is not the error shape: %v", w.Body, err)
	}
	if w.Code != status || e.Error.Code != code || !strings.Contains(e.Error.Message, want) {
		t.Fatalf("got %d %s %q, want %d %s containing %q", w.Code, e.Error.Code, e.Error.Message, status, code, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	deps := Deps{Topics: registry.Topics(nil), Producer: &fakeProducer{}}
	if _, err := New(Config{}, deps); err == nil {
		t.Fatal("no Authenticate: want an error")
	}
	if _, err := New(Config{Authenticate: Anonymous(1), MaxRecordBytes: 10, MaxRequestBytes: 5}, deps); err == nil {
		t.Fatal("record limit over request limit: want an error")
	}
	if _, err := New(Config{Authenticate: Anonymous(1)}, Deps{Producer: &fakeProducer{}}); err == nil {
		t.Fatal("no registry: want an error")
	}
	c := Config{}.EnsureDefaults()
	if c.MaxRecordBytes != 1<<20 || c.MaxRequestBytes != 8<<20 || c.ProduceTimeout == 0 || c.ProduceConcurrency == 0 {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestErrorTable checks that every code has a status and that errors from
// each layer land on the right code.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	for c := wire.Code(1); c.Known(); c++ {
		if _, ok := httpStatus[c]; !ok {
			t.Errorf("code %s has no HTTP status", c)
		}
	}
	cases := []struct {
		err    error
		code   wire.Code
		status int
	}{
		{wire.Errorf(wire.Busy, "inbox full"), wire.Busy, 429},
		{wire.Errorf(wire.NotOwner, "moved"), wire.NotOwner, 503},
		{wire.Errorf(wire.Unauthenticated, "no token"), wire.Unauthenticated, 401},
		{wire.Errorf(wire.SequenceGap, "gap"), wire.SequenceGap, 409},
		{wire.Errorf(wire.ProducerFenced, "epoch 3 < 4"), wire.ProducerFenced, 409},
		{wire.Errorf(wire.Forbidden, "read-only key"), wire.Forbidden, 403},
		{&wire.Error{Code: 999}, 999, 500},
		{&http.MaxBytesError{Limit: 10}, wire.TooLarge, 413},
		{&registry.ValidationError{Field: "x", Reason: "bad"}, wire.Invalid, 400},
		{registry.ErrNotFound, wire.NotFound, 404},
		{registry.ErrExists, wire.Exists, 409},
		{&registry.EpochError{}, wire.Fenced, 503},
		{context.DeadlineExceeded, wire.Unavailable, 503},
		{fmt.Errorf("get topic: %w", &pgconn.PgError{Code: "57P01"}), wire.Unavailable, 503}, // PostgreSQL restarting
		{errors.New("disk on fire"), wire.Internal, 500},
	}
	for _, c := range cases {
		code, msg, internal := codeOf(c.err)
		if code != c.code || statusFor(code) != c.status {
			t.Errorf("%v: code %s status %d, want %s %d", c.err, code, statusFor(code), c.code, c.status)
		}
		if internal != (c.code == wire.Internal) || strings.Contains(msg, "registry:") || strings.Contains(msg, "disk") {
			t.Errorf("%v: message %q internal %v", c.err, msg, internal)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	wantError(t, h.do("GET", "/api/v1/nothing", "", nil), 404, "not_found", "/api/v1/nothing")
	wantError(t, h.do("PUT", "/api/v1/topics", "", nil), 405, "invalid", "PUT")
}

func TestTenantResolution(t *testing.T) {
	t.Parallel()
	// An authenticator that reads a header: tenants do not see each
	// other's topics, and an unknown one is refused before anything is read.
	var h *harness
	other := int64(0)
	h = newHarness(t, Config{Authenticate: func(r *http.Request) (auth.Principal, error) {
		switch r.Header.Get("X-Tenant") {
		case "":
			return auth.Anonymous(h.tenant.ID), nil
		case "other":
			return auth.Anonymous(other), nil
		}
		return auth.Principal{}, fmt.Errorf("%w: unknown tenant %q", auth.ErrUnauthenticated, r.Header.Get("X-Tenant"))
	}})
	o, err := h.reg.CreateTenant(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	other = o.ID
	h.createTopic("orders", 1)

	req := httptest.NewRequest("GET", "/api/v1/topics/orders", nil)
	req.Header.Set("X-Tenant", "other")
	w := httptest.NewRecorder()
	h.rt.ServeHTTP(w, req)
	wantError(t, w, 404, "not_found", `topic "orders" not found`)

	req = httptest.NewRequest("POST", "/api/v1/topics/orders/records", strings.NewReader(`{"records":[{"value":1}]}`))
	req.Header.Set("X-Tenant", "mallory")
	w = httptest.NewRecorder()
	h.rt.ServeHTTP(w, req)
	wantError(t, w, 401, "unauthenticated", "mallory")
	if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate %q, want Bearer", got)
	}
	if n := len(h.prod.calls()); n != 0 {
		t.Fatalf("%d produce calls for an unauthenticated request", n)
	}
}
