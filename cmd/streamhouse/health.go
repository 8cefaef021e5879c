package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhouse/streamhouse/objectstore"
	"github.com/streamhouse/streamhouse/registry"
)

// addHealth serves /live (the process answers), /ready and /health (NATS,
// the registry and the object store answer; a JSON report per component,
// 503 when any fails). A nil store is not checked; extra, if set, adds its
// own components (the agent's "agent": an error once it drains).
func addHealth(mux *http.ServeMux, reg registry.Store, store objectstore.Store, nc *nats.Conn, extra func() map[string]error) {
	check := func(r *http.Request) (map[string]string, bool) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		report, ok := map[string]string{}, true
		set := func(name string, err error) {
			if err != nil {
				report[name], ok = err.Error(), false
				return
			}
			report[name] = "ok"
		}
		_, err := reg.ListTenants(ctx)
		set("registry", err)
		if store != nil {
			_, err = store.List(ctx, "health/")
			set("objectstore", err)
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
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /ready", reply)
	mux.HandleFunc("GET /health", reply)
}
