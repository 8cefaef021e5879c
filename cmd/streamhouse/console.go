package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhouse/streamhouse/dashboard"
)

// consoleSource is the router's admin API as the console's Source: it asks
// the API's own handler in-process, so the console sees exactly what
// /api/v1 answers (one admin core, router/admin_core.go) with no network
// hop. health is the process's /health handler.
type consoleSource struct {
	api    http.Handler
	health http.Handler
}

// get serves a GET of path on h in-process and decodes the JSON answer into
// v; a status other than 200 is an error carrying the API's message.
func get(ctx context.Context, h http.Handler, path string, v any) error {
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
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		return fmt.Errorf("GET %s: %d %s", path, rec.status, e.Error.Message)
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

func (s *consoleSource) Topics(ctx context.Context) ([]dashboard.Topic, error) {
	var list struct {
		Topics []struct {
			Name string `json:"name"`
		} `json:"topics"`
	}
	if err := get(ctx, s.api, "/api/v1/topics", &list); err != nil {
		return nil, err
	}
	out := make([]dashboard.Topic, 0, len(list.Topics))
	for _, t := range list.Topics {
		var d dashboard.Topic
		if err := get(ctx, s.api, "/api/v1/topics/"+url.PathEscape(t.Name), &d); err != nil {
			continue // deleted since the list; others still show
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *consoleSource) Groups(ctx context.Context) ([]dashboard.Group, error) {
	var list struct {
		Groups []string `json:"groups"`
	}
	if err := get(ctx, s.api, "/api/v1/groups", &list); err != nil {
		return nil, err
	}
	out := make([]dashboard.Group, 0, len(list.Groups))
	for _, name := range list.Groups {
		var g dashboard.Group
		if err := get(ctx, s.api, "/api/v1/groups/"+url.PathEscape(name), &g); err != nil {
			continue // deleted since the list
		}
		out = append(out, g)
	}
	return out, nil
}

func (s *consoleSource) Agents(ctx context.Context) ([]dashboard.Agent, error) {
	var list struct {
		Agents []dashboard.Agent `json:"agents"`
	}
	err := get(ctx, s.api, "/api/v1/agents", &list)
	return list.Agents, err
}

func (s *consoleSource) Health(ctx context.Context) (map[string]string, error) {
	var report map[string]string
	err := getAllowing(ctx, s.health, "/health", &report, http.StatusServiceUnavailable)
	return report, err
}

// newConsole builds the console over the API handler and the process's
// metrics; mountConsole then gives it mux's /health and serves it on mux
// (the app at /, its WebSocket at /ws/console). Two steps so that a
// failure here comes before any listener is open. The caller runs the
// console's Run in the process's run group.
func newConsole(api http.Handler, metrics prometheus.Gatherer) (*dashboard.Console, *consoleSource, error) {
	src := &consoleSource{api: api}
	c, err := dashboard.New(dashboard.Config{Source: src, Gatherer: metrics})
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	return c, src, nil
}

// mountConsole serves c on mux; src reads mux's /health from now on. Call
// it before mux serves and before c runs.
func mountConsole(mux *http.ServeMux, c *dashboard.Console, src *consoleSource) {
	src.health = mux
	mux.Handle("/", c)
	mux.Handle(dashboard.WSPath, c)
}
