package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// Config configures the Account API.
type Config struct {
	// Store holds tenants, accounts and usage. Required.
	Store registry.Store
	// Tokens issues access tokens. Required when AuthEnabled.
	Tokens *auth.Tokens
	// Pepper keys the HMAC of API key and refresh token secrets; the
	// Authenticator's. Required (at least auth.MinTokenKeyLen bytes) when
	// AuthEnabled.
	Pepper []byte
	// Pricing holds the plans. Required.
	Pricing *billing.Pricing
	// Authenticate is the router's: it returns the request's principal, or
	// auth.Anonymous of the default tenant when authentication is off.
	// Required.
	Authenticate func(*http.Request) (auth.Principal, error)
	// AuthEnabled: off, sign-up, login, refresh and logout answer 404.
	AuthEnabled bool
	// RefreshTTL is a refresh token's lifetime. Default 30 days.
	RefreshTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger logs internal errors and failed audit writes. Default: discard.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; a larger one is a 413. Default
	// 64 KiB.
	MaxBodyBytes int64
}

// MaxKeyLifetime is the longest expires_in_seconds of a new API key.
const MaxKeyLifetime = 2 * 365 * 24 * time.Hour

// Handler serves the Account API (see the package doc).
type Handler struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	dummyHash string // verified against when the email is unknown, so login takes as long
}

// New checks cfg, applies its defaults and builds the routes.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Store == nil || cfg.Pricing == nil || cfg.Authenticate == nil:
		return nil, errors.New("account: Store, Pricing and Authenticate are required")
	case cfg.AuthEnabled && cfg.Tokens == nil:
		return nil, errors.New("account: Tokens is required with authentication on")
	case cfg.AuthEnabled && len(cfg.Pepper) < auth.MinTokenKeyLen:
		return nil, fmt.Errorf("account: key pepper of %d bytes: at least %d required", len(cfg.Pepper), auth.MinTokenKeyLen)
	case cfg.RefreshTTL < 0 || cfg.MaxBodyBytes < 0:
		return nil, errors.New("account: negative RefreshTTL or MaxBodyBytes")
	}
	if _, err := cfg.Pricing.Plan(cfg.Pricing.DefaultPlan); err != nil {
		return nil, fmt.Errorf("account: default plan: %w", err)
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if cfg.AuthEnabled {
		dummy, err := auth.HashPassword("dummy password for unknown emails")
		if err != nil {
			return nil, fmt.Errorf("account: %w", err)
		}
		h.dummyHash = dummy
	}
	h.routes()
	return h, nil
}

// endpoint is a handler that returns its error for writeError.
type endpoint func(w http.ResponseWriter, r *http.Request) error

// principalEndpoint is an endpoint for an authenticated principal.
type principalEndpoint func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// Prefixes are the patterns of an http.ServeMux under which cmd mounts
// the Handler: together they cover every path of Routes. Read only.
var Prefixes = []string{
	"/api/v1/auth/", "/api/v1/org", "/api/v1/org/", "/api/v1/keys", "/api/v1/keys/",
	"/api/v1/members", "/api/v1/members/", "/api/v1/audit", "/api/v1/billing/",
}

// Routes lists the API's routes as "METHOD /path/{param}", for tests that
// must cover every one (the isolation test).
func Routes() []string {
	var out []string
	for _, r := range (&Handler{}).table() {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// routeDef is one route of the API.
type routeDef struct {
	method, path string
	ep           endpoint
}

// table is the API: every route with the least action it needs.
func (h *Handler) table() []routeDef {
	public := func(fn endpoint) endpoint {
		return func(w http.ResponseWriter, r *http.Request) error {
			if !h.cfg.AuthEnabled {
				return notFound("authentication is off in this cell")
			}
			return fn(w, r)
		}
	}
	return []routeDef{
		{http.MethodPost, "/api/v1/auth/signup", public(h.signup)},
		{http.MethodPost, "/api/v1/auth/login", public(h.login)},
		{http.MethodPost, "/api/v1/auth/refresh", public(h.refresh)},
		{http.MethodPost, "/api/v1/auth/logout", public(h.authed(auth.ActRead, h.logout))},
		{http.MethodGet, "/api/v1/auth/me", h.authed(auth.ActRead, h.me)},
		{http.MethodGet, "/api/v1/org", h.authed(auth.ActRead, h.getOrg)},
		{http.MethodPatch, "/api/v1/org", h.authed(auth.ActManageMembers, h.patchOrg)},
		{http.MethodPut, "/api/v1/org/plan", h.authed(auth.ActManageBilling, h.putPlan)},
		{http.MethodGet, "/api/v1/keys", h.authed(auth.ActManageKeys, h.listKeys)},
		{http.MethodPost, "/api/v1/keys", h.authed(auth.ActManageKeys, h.createKey)},
		{http.MethodDelete, "/api/v1/keys/{id}", h.authed(auth.ActManageKeys, h.revokeKey)},
		{http.MethodGet, "/api/v1/members", h.authed(auth.ActRead, h.listMembers)},
		{http.MethodPost, "/api/v1/members", h.authed(auth.ActManageMembers, h.addMember)},
		{http.MethodPatch, "/api/v1/members/{user}", h.authed(auth.ActManageMembers, h.setMemberRole)},
		{http.MethodDelete, "/api/v1/members/{user}", h.authed(auth.ActManageMembers, h.removeMember)},
		{http.MethodGet, "/api/v1/audit", h.authed(auth.ActReadAudit, h.listAudit)},
		{http.MethodGet, "/api/v1/billing/plans", h.authed(auth.ActRead, h.plans)},
		{http.MethodGet, "/api/v1/billing/usage", h.authed(auth.ActRead, h.usage)},
		{http.MethodGet, "/api/v1/billing/invoice", h.authed(auth.ActManageBilling, h.invoice)},
	}
}

func (h *Handler) routes() {
	byPath := map[string]map[string]endpoint{}
	var paths []string
	for _, r := range h.table() {
		if byPath[r.path] == nil {
			byPath[r.path] = map[string]endpoint{}
			paths = append(paths, r.path)
		}
		byPath[r.path][r.method] = r.ep
	}
	for _, p := range paths {
		h.route(p, byPath[p])
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, notFound("no such path %s", r.URL.Path))
	})
}

// route serves path with one endpoint per method; another method is a 405
// naming the allowed ones.
func (h *Handler) route(path string, methods map[string]endpoint) {
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		fn, ok := methods[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			h.writeError(w, r, &apiError{http.StatusMethodNotAllowed, codeInvalid,
				fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
			return
		}
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// authed authenticates the request and checks that its role allows a
// before fn runs.
func (h *Handler) authed(a auth.Action, fn principalEndpoint) endpoint {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.cfg.Authenticate(r)
		if err != nil {
			return err
		}
		if err := p.Can(a); err != nil {
			return err
		}
		return fn(w, r, p)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// decode reads r's JSON body into v: at most MaxBodyBytes (else 413), one
// object, no unknown fields.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return invalid("request body: empty, want a JSON object")
		}
		return invalid("request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return invalid("request body: more than one JSON value")
	}
	return nil
}

// audit appends an event to the tenant's log. A failed write is logged,
// not returned: the change it records is already made.
func (h *Handler) audit(ctx context.Context, p auth.Principal, action, target, detail string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := h.cfg.Store.AppendAudit(ctx, registry.AuditEvent{Tenant: p.Tenant, Actor: p.Actor(), Action: action, Target: target, Detail: detail})
	if err != nil {
		h.log.ErrorContext(ctx, "audit log: write failed", "tenant", p.Tenant, "action", action, "target", target, "err", err)
	}
}

// now is the clock in UTC.
func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }
