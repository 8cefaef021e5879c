package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/registry"
)

// TestConsoleSchemaProxy: the console's /schema-api/ reaches the schema
// registry's handler in-process for the default tenant (a POST registers,
// GETs read it back, a compatibility check answers), and nothing else:
// an unknown path is 404, a delete 405, an over-long body 413, another
// site's page 403.
func TestConsoleSchemaProxy(t *testing.T) {
	t.Parallel()
	reg, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	tenant, err := ensureTenant(context.Background(), reg, defaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	h, err := schemaRegistry(slog.New(slog.DiscardHandler), reg, func(*http.Request) (int64, error) { return tenant.ID, nil })
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mountSchemaConsole(mux, h)
	srv := httptest.NewServer(mux) // 127.0.0.1, port 0
	t.Cleanup(srv.Close)

	call := func(method, path, body string, header map[string]string, want int) string {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return string(b)
	}

	avro := `{"schema": "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"}`
	if got := call("POST", "/schema-api/subjects/orders-value/versions", avro, nil, http.StatusOK); !strings.Contains(got, `"id":`) {
		t.Fatalf("register answered %s", got)
	}
	// The same store through the registry's own API: the tenant is the same.
	if vs, err := reg.ListVersions(context.Background(), tenant.ID, "orders-value", false); err != nil || len(vs) != 1 {
		t.Fatalf("registry holds versions %v (%v), want [1]", vs, err)
	}
	if got := call("GET", "/schema-api/subjects", "", nil, http.StatusOK); strings.TrimSpace(got) != `["orders-value"]` {
		t.Fatalf("GET /subjects: %s", got)
	}
	var sv struct {
		Version int    `json:"version"`
		Schema  string `json:"schema"`
	}
	if err := json.Unmarshal([]byte(call("GET", "/schema-api/subjects/orders-value/versions/latest", "", nil, http.StatusOK)), &sv); err != nil || sv.Version != 1 || !strings.Contains(sv.Schema, "Order") {
		t.Fatalf("latest version: %+v %v", sv, err)
	}
	if got := call("GET", "/schema-api/config/orders-value?defaultToGlobal=true", "", nil, http.StatusOK); !strings.Contains(got, "BACKWARD") {
		t.Fatalf("config: %s", got)
	}
	incompatible := `{"schema": "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int\"}]}"}`
	if got := call("POST", "/schema-api/compatibility/subjects/orders-value/versions?verbose=true", incompatible, nil, http.StatusOK); !strings.Contains(got, `"is_compatible":false`) || !strings.Contains(got, "messages") {
		t.Fatalf("compatibility: %s", got)
	}
	// The registry's own errors come through unchanged.
	if got := call("GET", "/schema-api/subjects/nope/versions", "", nil, http.StatusNotFound); !strings.Contains(got, "40401") {
		t.Fatalf("missing subject: %s", got)
	}

	call("GET", "/schema-api/nope", "", nil, http.StatusNotFound)
	call("GET", "/schema-api/schemas/types", "", nil, http.StatusNotFound) // not a call the page makes
	call("DELETE", "/schema-api/subjects/orders-value/versions/1", "", nil, http.StatusMethodNotAllowed)
	call("DELETE", "/schema-api/subjects/orders-value", "", nil, http.StatusNotFound)
	call("PUT", "/schema-api/config", `{"compatibility":"NONE"}`, nil, http.StatusMethodNotAllowed)

	big := `{"schema": "` + strings.Repeat("x", consoleSchemaMaxBody) + `"}`
	if got := call("POST", "/schema-api/subjects/orders-value/versions", big, nil, http.StatusRequestEntityTooLarge); !strings.Contains(got, "console's limit of 262144 bytes") {
		t.Fatalf("over-long body: %s", got)
	}
	// Without a Content-Length the registry hits the same limit as it reads.
	req, _ := http.NewRequest("POST", srv.URL+"/schema-api/subjects/orders-value/versions", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "262144") {
		t.Fatalf("chunked over-long body: %d %s", resp.StatusCode, b)
	}

	call("POST", "/schema-api/subjects/orders-value/versions", avro, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden)
	call("POST", "/schema-api/subjects/orders-value/versions", avro, map[string]string{"Origin": srv.URL}, http.StatusOK)
}
