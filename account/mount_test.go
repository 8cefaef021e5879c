package account

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPrefixesCoverRoutes mounts the handler as cmd does, beside a
// catch-all for the rest of the API, and checks that every route reaches
// the account API and nothing else does.
func TestPrefixesCoverRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{authOff: true})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, p := range Prefixes {
		mux.Handle(p, e.srv.Config.Handler)
	}
	routes := Routes()
	if len(routes) != 19 {
		t.Fatalf("%d routes: %v", len(routes), routes)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{id}", "abc", "{user}", "7").Replace(path)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader("{}")))
		if rec.Code == http.StatusTeapot {
			t.Errorf("%s did not reach the account API", r)
		}
	}
	for _, other := range []string{"/api/v1/topics", "/api/v1/organizations", "/api/v1/keysx"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), "GET", other, nil))
		if rec.Code != http.StatusTeapot {
			t.Errorf("%s reached the account API", other)
		}
	}
}
