package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/streamhouse/streamhouse/schema"
)

// schemaAPIPath is where the console reaches the schema registry: the
// registry listens on its own port, and the console's CSP and same-origin
// rules keep the browser from calling another origin, so the console's own
// listener carries the few calls its Schemas page makes, in-process.
const schemaAPIPath = "/schema-api"

// consoleSchemaMaxBody bounds a request body through the console: a schema
// typed into a text area, far under the registry's own 1 MiB limit.
const consoleSchemaMaxBody = 256 << 10

// mountSchemaConsole serves on mux, under schemaAPIPath, the calls of the
// console's Schemas page, handled by the registry's handler h (the same
// handler, so the same tenant, as its own listener): reading subjects,
// versions and compatibility levels, checking compatibility and
// registering. Any other path there is 404, another method 405: deleting
// and changing levels stay on the registry's own API.
func mountSchemaConsole(mux *http.ServeMux, h http.Handler) {
	fwd := http.StripPrefix(schemaAPIPath, sameOrigin(limitBody(h, consoleSchemaMaxBody)))
	inner := http.NewServeMux()
	for _, p := range [][2]string{
		{"GET", "/subjects"},
		{"GET", "/subjects/{s}/versions"},
		{"GET", "/subjects/{s}/versions/{v}"},
		{"GET", "/config"},
		{"GET", "/config/{s}"},
		{"POST", "/subjects/{s}/versions"},
		{"POST", "/compatibility/subjects/{s}/versions"},
		{"POST", "/compatibility/subjects/{s}/versions/{v}"},
	} {
		inner.Handle(p[0]+" "+schemaAPIPath+p[1], fwd)
	}
	mux.Handle(schemaAPIPath+"/", inner)
}

// sameOrigin refuses a request a browser sent from another site's page (its
// Origin names another host), so that page cannot register schemas through
// a visitor's console; clients that send no Origin (curl, tests) pass.
func sameOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			if u, err := url.Parse(o); err != nil || u.Host != r.Host {
				writeSchemaError(w, http.StatusForbidden, 40301, fmt.Sprintf("origin %q is not the console's own", o))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// limitBody refuses a body over limit bytes with 413: at once when
// Content-Length says so, else when the registry reads past it (it answers
// its own 413 to the MaxBytesError).
func limitBody(h http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeSchemaError(w, http.StatusRequestEntityTooLarge, 42209,
				fmt.Sprintf("request body of %d bytes is over the console's limit of %d bytes", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

// writeSchemaError answers in the registry's error shape, which the page
// reads for every failure.
func writeSchemaError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", schema.ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{code, msg})
}
