package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/cells"
	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// healthTimeout bounds each dependency's check of one /ready or /health.
const healthTimeout = 2 * time.Second

// addHealth serves the orchestration endpoints:
//
//   - /live: 200 while the process answers (a liveness probe restarts a
//     process that does not);
//   - /ready and /health: a JSON report per component, "ok" or the error,
//     200 when all are ok, else 503: NATS connected, the registry and the
//     object store answering (a nil store is not checked), and extra's
//     components (the agent's "agent": an error once it drains;
//     "partitions": an error until its first assignment pass).
//
// The registry and the object store are checked concurrently, each within
// healthTimeout.
func addHealth(mux *http.ServeMux, reg registry.Store, store objectstore.Store, nc *nats.Conn, extra func() map[string]error) {
	check := func(r *http.Request) (map[string]string, bool) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		var regErr, storeErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, regErr = reg.ListTenants(ctx) })
		if store != nil {
			wg.Go(func() { _, storeErr = store.List(ctx, "health/") })
		}
		wg.Wait()

		report, ok := map[string]string{}, true
		set := func(name string, err error) {
			if err != nil {
				report[name], ok = err.Error(), false
				return
			}
			report[name] = "ok"
		}
		set("registry", regErr)
		if store != nil {
			set("objectstore", storeErr)
		}
		if extra != nil {
			for name, err := range extra() {
				set(name, err)
			}
		}
		if nc.IsConnected() {
			set("nats", nil)
		} else {
			set("nats", nats.ErrConnectionClosed)
		}
		return report, ok
	}
	reply := func(w http.ResponseWriter, r *http.Request) {
		report, ok := check(r)
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(report)
	}
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /ready", reply)
	mux.HandleFunc("GET /health", reply)
}

// errDraining and errNotAssigned are the agent's health components while
// it drains and before its first assignment pass.
var (
	errDraining    = errors.New("draining")
	errNotAssigned = errors.New("not yet assigned: waiting for the cell's leases and agents")
)

// agentHealth returns the agent's components of /ready: "agent" fails once
// running ends (a drain), "partitions" until the agent has taken its share.
func agentHealth(agent *cells.Agent, running context.Context) func() map[string]error {
	return func() map[string]error {
		h := map[string]error{"agent": nil, "partitions": nil}
		if running.Err() != nil {
			h["agent"] = errDraining
		}
		if !agent.Assigned() {
			h["partitions"] = errNotAssigned
		}
		return h
	}
}
