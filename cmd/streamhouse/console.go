package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/dashboard"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// consoleSource is the router's admin API as the console's Source: it asks
// the API's own handler in-process, so the console sees exactly what
// /api/v1 answers (one admin core, router/admin_core.go) with no network
// hop, as the principal of the organization whose snapshot it reads
// (withPrincipal). mux is the process's whole HTTP mux: its /health, and
// its /api/v1/auth/me, through which the console's WebSockets
// authenticate.
type consoleSource struct {
	api http.Handler
	mux http.Handler
}

// principalKey is the context key of withPrincipal; unexported, so only
// this process's in-process calls can set it, never a request off the
// network.
type principalKey struct{}

// withPrincipal returns ctx carrying p: an in-process request made with it
// acts as p. The process's Authenticate (router.Config.Authenticate and
// the account API's) must return principalFrom's principal, when there is
// one, before it looks at any credential: the console authenticated the
// browser when its WebSocket opened and again every few seconds since.
func withPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the principal withPrincipal put in ctx, if any.
func principalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}

// get serves a GET of path on h in-process and decodes the JSON answer into
// v; a status other than 200 is an error carrying the API's message. The
// request acts as p (withPrincipal), unless p is the zero Principal of a
// cell without accounts.
func get(ctx context.Context, h http.Handler, p auth.Principal, path string, v any) error {
	if p != (auth.Principal{}) {
		ctx = withPrincipal(ctx, p)
	}
	return getAllowing(ctx, h, path, v, http.StatusOK)
}

// getAllowing is get with a second status whose body is also the answer
// (/health reports its failures with 503).
func getAllowing(ctx context.Context, h http.Handler, path string, v any, alsoOK int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("console: GET %s: %w", path, err)
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rec, req)
	if rec.status != http.StatusOK && rec.status != alsoOK {
		return fmt.Errorf("GET %s: %d %s", path, rec.status, apiMessage(rec))
	}
	if err := json.Unmarshal(rec.body.Bytes(), v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

func (s *consoleSource) Topics(ctx context.Context, p auth.Principal) ([]dashboard.Topic, error) {
	var list struct {
		Topics []struct {
			Name string `json:"name"`
		} `json:"topics"`
	}
	if err := get(ctx, s.api, p, "/api/v1/topics", &list); err != nil {
		return nil, err
	}
	out := make([]dashboard.Topic, 0, len(list.Topics))
	for _, t := range list.Topics {
		var d dashboard.Topic
		if err := get(ctx, s.api, p, "/api/v1/topics/"+url.PathEscape(t.Name), &d); err != nil {
			continue // deleted since the list; others still show
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *consoleSource) Groups(ctx context.Context, p auth.Principal) ([]dashboard.Group, error) {
	var list struct {
		Groups []string `json:"groups"`
	}
	if err := get(ctx, s.api, p, "/api/v1/groups", &list); err != nil {
		return nil, err
	}
	out := make([]dashboard.Group, 0, len(list.Groups))
	for _, name := range list.Groups {
		var g dashboard.Group
		if err := get(ctx, s.api, p, "/api/v1/groups/"+url.PathEscape(name), &g); err != nil {
			continue // deleted since the list
		}
		out = append(out, g)
	}
	return out, nil
}

func (s *consoleSource) Agents(ctx context.Context, p auth.Principal) ([]dashboard.Agent, error) {
	var list struct {
		Agents []dashboard.Agent `json:"agents"`
	}
	err := get(ctx, s.api, p, "/api/v1/agents", &list)
	return list.Agents, err
}

// Health is the process's /health, the same for every organization.
func (s *consoleSource) Health(ctx context.Context, _ auth.Principal) (map[string]string, error) {
	var report map[string]string
	err := getAllowing(ctx, s.mux, "/health", &report, http.StatusServiceUnavailable)
	return report, err
}

// me is the part of GET /api/v1/auth/me the console needs.
type me struct {
	Organization struct {
		ID int64 `json:"id"`
	} `json:"organization"`
	Role string `json:"role"`
	User *struct {
		ID int64 `json:"id"`
	} `json:"user"`
	KeyID string `json:"key_id"`
	Auth  bool   `json:"auth"`
}

// authenticate is the console's dashboard.Config.Authenticate: it asks the
// process's own /api/v1/auth/me, in-process, who the WebSocket's credential
// (?access_token=, or an Authorization header from a program) is, so the
// console accepts exactly what the API accepts. With authentication off
// the answer is the default tenant's anonymous owner. A process without the
// account API (404) is a single-tenant cell: the zero Principal, whose
// in-process calls carry no principal and so get only what an
// unauthenticated request gets.
func (s *consoleSource) authenticate(r *http.Request) (auth.Principal, error) {
	cred := r.URL.Query().Get("access_token")
	if cred == "" {
		cred, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/api/v1/auth/me", nil)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("console: authenticate: %w", err)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	s.mux.ServeHTTP(rec, req)
	switch rec.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return auth.Principal{}, nil
	case http.StatusUnauthorized:
		return auth.Principal{}, fmt.Errorf("%s: %w", apiMessage(rec), auth.ErrUnauthenticated)
	default:
		return auth.Principal{}, fmt.Errorf("authenticate: GET /api/v1/auth/me: %d %s", rec.status, apiMessage(rec))
	}
	var m me
	if err := json.Unmarshal(rec.body.Bytes(), &m); err != nil {
		return auth.Principal{}, fmt.Errorf("authenticate: GET /api/v1/auth/me: decode: %w", err)
	}
	role, err := registry.ParseRole(m.Role)
	if err != nil || m.Organization.ID <= 0 {
		return auth.Principal{}, fmt.Errorf("authenticate: GET /api/v1/auth/me answered organization %d, role %q", m.Organization.ID, m.Role)
	}
	p := auth.Principal{Tenant: m.Organization.ID, Role: role, KeyID: m.KeyID}
	if m.User != nil {
		p.User = m.User.ID
	}
	return p, nil
}

// apiMessage is the message of an API error answer, or its status text.
func apiMessage(rec *recorder) string {
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return http.StatusText(rec.status)
}

// anonymous reports whether p is no one's in particular: a cell with
// authentication off (auth.Anonymous) or without accounts. Only such a
// cell, with one organization, shows the process's metrics in its console.
func anonymous(p auth.Principal) bool { return p.User == 0 && p.KeyID == "" }

// newConsole builds the console over the API handler and the process's
// metrics; mountConsole then gives it mux's /health and serves it on mux
// (the app at /, its WebSocket at /ws/console). Two steps so that a
// failure here comes before any listener is open. The caller runs the
// console's Run in the process's run group.
func newConsole(api http.Handler, metrics prometheus.Gatherer) (*dashboard.Console, *consoleSource, error) {
	src := &consoleSource{api: api}
	c, err := dashboard.New(dashboard.Config{Source: src, Gatherer: metrics,
		Authenticate: src.authenticate, MetricsVisible: anonymous})
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	return c, src, nil
}

// mountConsole serves c on mux; src reads mux's /health and
// /api/v1/auth/me from now on. Call it before mux serves and before c runs.
func mountConsole(mux *http.ServeMux, c *dashboard.Console, src *consoleSource) {
	src.mux = mux
	mux.Handle("/", c)
	mux.Handle(dashboard.WSPath, c)
}
