package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// call sends one request and returns the status and body; it checks every
// answer carries Confluent's content type.
func call(t *testing.T, base, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", ContentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// wantCall checks status and, for errors, Confluent's error body with code.
func wantCall(t *testing.T, base, method, path, body string, status int, want string) string {
	t.Helper()
	got, b := call(t, base, method, path, body)
	if got != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, got, b, status)
	}
	if status >= 300 {
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(b), &e); err != nil || e.Message == "" {
			t.Fatalf("%s %s: error body %s is not Confluent's (%v)", method, path, b, err)
		}
	}
	if !strings.Contains(b, want) {
		t.Errorf("%s %s = %s, want it to contain %s", method, path, b, want)
	}
	return b
}

func avroBody(text string) string {
	b, _ := json.Marshal(map[string]string{"schema": text})
	return string(b)
}

func typedBody(typ, text string) string {
	b, _ := json.Marshal(map[string]string{"schema": text, "schemaType": typ})
	return string(b)
}

func TestAPIErrorsAndDeletes(t *testing.T) {
	t.Parallel()
	u := serve(t, openEmbedded(t), "default", Config{})
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(avroV1), 200, `{"id":1}`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(avroV2Default), 200, `{"id":2}`)
	wantCall(t, u, "GET", "/subjects/s/versions/latest/schema", "", 200, avroV2Default)
	wantCall(t, u, "GET", "/schemas/ids/1/schema", "", 200, avroV1)
	wantCall(t, u, "GET", "/schemas/types", "", 200, `["AVRO","JSON","PROTOBUF"]`)
	wantCall(t, u, "GET", "/subjects/s/versions/0", "", 422, `"error_code":42202`)
	wantCall(t, u, "GET", "/subjects/s/versions/abc", "", 422, `"error_code":42202`)
	wantCall(t, u, "GET", "/subjects/s/versions/2147483648", "", 422, `"error_code":42202`)
	wantCall(t, u, "GET", "/schemas/ids/abc", "", 404, `"error_code":40403`)
	wantCall(t, u, "POST", "/subjects/s", avroBody(`"string"`), 404, `"error_code":40403`)
	wantCall(t, u, "POST", "/subjects/nobody", avroBody(`"string"`), 404, `"error_code":40401`)
	wantCall(t, u, "POST", "/subjects/s/versions", `{"schema":`, 400, `"error_code":400`)
	wantCall(t, u, "POST", "/subjects/s/versions", `{"schema":"\"string\"","id":5}`, 422, `"error_code":42205`)
	wantCall(t, u, "POST", "/subjects/s/versions", typedBody("XML", "<a/>"), 422, `"error_code":42201`)
	wantCall(t, u, "POST", "/subjects/t/versions", `{"schema":"\"string\"","references":[{"name":"x","subject":"nope","version":1}]}`,
		422, "not found")
	wantCall(t, u, "GET", "/nowhere", "", 404, `"error_code":404`)

	// Deletes: soft, then permanent, with the codes Confluent gives.
	wantCall(t, u, "DELETE", "/subjects/s/versions/1?permanent=true", "", 404, `"error_code":40407`)
	wantCall(t, u, "DELETE", "/subjects/s/versions/1", "", 200, `1`)
	wantCall(t, u, "DELETE", "/subjects/s/versions/1", "", 404, `"error_code":40406`)
	wantCall(t, u, "GET", "/subjects/s/versions/1", "", 404, `"error_code":40402`)
	wantCall(t, u, "GET", "/subjects/s/versions/1?deleted=true", "", 200, `"deleted":true`)
	wantCall(t, u, "GET", "/subjects/s/versions?deleted=true", "", 200, `[1,2]`)
	wantCall(t, u, "GET", "/schemas/ids/1/versions", "", 200, `[]`)
	wantCall(t, u, "GET", "/schemas/ids/1/versions?deleted=true", "", 200, `[{"subject":"s","version":1}]`)
	wantCall(t, u, "DELETE", "/subjects/s/versions/1?permanent=true", "", 200, `1`)
	wantCall(t, u, "DELETE", "/subjects/s/versions/1?permanent=true", "", 404, `"error_code":40402`)
	wantCall(t, u, "DELETE", "/subjects/s?permanent=true", "", 404, `"error_code":40405`)
	wantCall(t, u, "DELETE", "/subjects/s", "", 200, `[2]`)
	wantCall(t, u, "DELETE", "/subjects/s", "", 404, `"error_code":40404`)
	wantCall(t, u, "GET", "/subjects?deleted=true", "", 200, `["s"]`)
	wantCall(t, u, "GET", "/subjects", "", 200, `[]`)
	wantCall(t, u, "DELETE", "/subjects/s?permanent=true", "", 200, `[2]`)
	wantCall(t, u, "DELETE", "/subjects/s", "", 404, `"error_code":40401`)
	wantCall(t, u, "GET", "/schemas/ids/2", "", 404, `"error_code":40403`)

	// A subject name holding '/' travels escaped.
	wantCall(t, u, "POST", "/subjects/a%2Fb/versions", avroBody(`"string"`), 200, `"id"`)
	wantCall(t, u, "GET", "/subjects", "", 200, `["a/b"]`)
	wantCall(t, u, "GET", "/subjects/a%2Fb/versions/1", "", 200, `"subject":"a/b"`)
	wantCall(t, u, "POST", "/subjects/a%00b/versions", avroBody(`"string"`), 422, `"error_code":42208`)
}

func TestAPIConfigModeAndLevels(t *testing.T) {
	t.Parallel()
	u := serve(t, openPostgres(t), "default", Config{})
	wantCall(t, u, "GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	wantCall(t, u, "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, `"error_code":42203`)
	wantCall(t, u, "PUT", "/config", `{"compatibility":"FULL_TRANSITIVE"}`, 200, `{"compatibility":"FULL_TRANSITIVE"}`)
	wantCall(t, u, "GET", "/config/s", "", 404, `"error_code":40408`)
	wantCall(t, u, "GET", "/config/s?defaultToGlobal=true", "", 200, `FULL_TRANSITIVE`)
	wantCall(t, u, "DELETE", "/config/s", "", 404, `"error_code":40408`)

	// FULL_TRANSITIVE: v3 is compatible with v2 both ways but not with v1.
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(avroV1), 200, `"id":1`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(avroV2Default), 200, `"id":2`)
	v3 := `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}`
	wantCall(t, u, "POST", "/compatibility/subjects/s/versions/latest", avroBody(v3), 200, `{"is_compatible":true}`)
	wantCall(t, u, "POST", "/compatibility/subjects/s/versions?verbose=true", avroBody(v3), 200, `version 1`)
	wantCall(t, u, "POST", "/compatibility/subjects/s/versions/1?verbose=true", avroBody(v3), 200, `"is_compatible":false`)
	wantCall(t, u, "POST", "/compatibility/subjects/s/versions/9", avroBody(v3), 404, `"error_code":40402`)
	wantCall(t, u, "POST", "/compatibility/subjects/nobody/versions/latest", avroBody(v3), 404, `"error_code":40401`)
	wantCall(t, u, "POST", "/compatibility/subjects/nobody/versions", avroBody(v3), 200, `{"is_compatible":true}`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(v3), 409, `"error_code":409`)
	// The subject's own level wins over the tenant's, and going back to the
	// tenant's refuses again.
	wantCall(t, u, "PUT", "/config/s", `{"compatibility":"BACKWARD"}`, 200, `BACKWARD`)
	wantCall(t, u, "GET", "/config/s", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	wantCall(t, u, "DELETE", "/config/s", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(v3), 409, `"error_code":409`)
	wantCall(t, u, "PUT", "/config/s", `{"compatibility":"BACKWARD"}`, 200, `BACKWARD`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(v3), 200, `"id":3`)

	// READONLY refuses changes, reads go on.
	wantCall(t, u, "GET", "/mode", "", 200, `{"mode":"READWRITE"}`)
	wantCall(t, u, "PUT", "/mode", `{"mode":"IMPORT"}`, 422, `"error_code":42204`)
	wantCall(t, u, "PUT", "/mode/s", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(`"string"`), 422, `"error_code":42205`)
	wantCall(t, u, "DELETE", "/subjects/s/versions/1", "", 422, `"error_code":42205`)
	wantCall(t, u, "POST", "/subjects/other/versions", avroBody(`"string"`), 200, `"id"`)
	wantCall(t, u, "GET", "/subjects/s/versions/1", "", 200, `"version":1`)
	wantCall(t, u, "DELETE", "/mode/s", "", 200, `{"mode":"READONLY"}`)
	wantCall(t, u, "GET", "/mode/s", "", 404, `"error_code":40409`)
	wantCall(t, u, "PUT", "/mode", `{"mode":"READONLY"}`, 200, `READONLY`)
	wantCall(t, u, "DELETE", "/subjects/other", "", 422, `"error_code":42205`)
	wantCall(t, u, "PUT", "/mode", `{"mode":"READWRITE"}`, 200, `READWRITE`)
	wantCall(t, u, "DELETE", "/subjects/other", "", 200, `[1]`)
}

func TestAPIRequestLimitsAndContentTypes(t *testing.T) {
	t.Parallel()
	u := serve(t, openEmbedded(t), "default", Config{MaxBodyBytes: 512})
	big := avroBody(`{"type":"record","name":"R","doc":"` + strings.Repeat("x", 600) + `","fields":[]}`)
	wantCall(t, u, "POST", "/subjects/s/versions", big, 413, `"error_code":42209`)
	wantCall(t, u, "POST", "/subjects/s/versions", avroBody(`{"type":"record","name":"R","fields":[]}`), 200, `"id":1`)
	for _, ct := range []string{"application/json", "application/vnd.schemaregistry+json", "application/vnd.schemaregistry.v1+json; charset=utf-8"} {
		status, b := call(t, u, "POST", "/subjects/s/versions", avroBody(`{"type":"record","name":"R","fields":[]}`), "Content-Type", ct)
		if status != 200 || !strings.Contains(b, `"id":1`) {
			t.Errorf("Content-Type %s: %d %s", ct, status, b)
		}
	}
	status, b := call(t, u, "POST", "/subjects/s/versions", avroBody(`"string"`), "Content-Type", "text/plain")
	if status != 415 || !strings.Contains(b, `"error_code":415`) {
		t.Errorf("text/plain: %d %s, want 415", status, b)
	}
}

func TestAPITenants(t *testing.T) {
	t.Parallel()
	s := openEmbedded(t)
	a := serve(t, s, "a", Config{})
	b := serve(t, s, "b", Config{})
	wantCall(t, a, "POST", "/subjects/x/versions", avroBody(avroV1), 200, `{"id":1}`)
	wantCall(t, a, "POST", "/subjects/y/versions", avroBody(`"string"`), 200, `{"id":2}`)
	// Tenant b has its own ids and subjects.
	wantCall(t, b, "POST", "/subjects/y/versions", avroBody(`"string"`), 200, `{"id":1}`)
	wantCall(t, b, "GET", "/subjects", "", 200, `["y"]`)
	wantCall(t, b, "GET", "/schemas/ids/2", "", 404, `"error_code":40403`)
	wantCall(t, b, "PUT", "/config", `{"compatibility":"NONE"}`, 200, `NONE`)
	wantCall(t, a, "GET", "/config", "", 200, `BACKWARD`)

	h, err := NewHandler(Config{Store: s, Tenant: func(*http.Request) (int64, error) { return 0, errors.New("no credentials") }})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, h)
	wantCall(t, srv, "GET", "/subjects", "", 401, `"error_code":40101`)
	// A refusal by role says 403; an unreachable registry 503.
	for _, c := range []struct {
		err    error
		status int
		want   string
	}{
		{forbidden{}, 403, `"error_code":40301,"message":"role viewer may not manage-schemas"`},
		{fmt.Errorf("look up key: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), 503, `"error_code":50003`},
	} {
		h, err := NewHandler(Config{Store: s, Tenant: func(*http.Request) (int64, error) { return 0, c.err }})
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, newTestServer(t, h), "POST", "/subjects/x/versions", avroBody(avroV1), c.status, c.want)
	}
	if _, err := NewHandler(Config{Store: s}); err == nil {
		t.Error("NewHandler without Tenant accepted")
	}
}

func TestAPIReferencesAndTypes(t *testing.T) {
	t.Parallel()
	u := serve(t, openEmbedded(t), "default", Config{})
	wantCall(t, u, "POST", "/subjects/money/versions",
		typedBody("JSON", `{"type":"object","properties":{"cents":{"type":"integer"}},"additionalProperties":false}`), 200, `"id":1`)
	withRef := func(text string) string {
		b, _ := json.Marshal(map[string]any{"schema": text, "schemaType": "JSON",
			"references": []map[string]any{{"name": "money.json", "subject": "money", "version": 1}}})
		return string(b)
	}
	order := `{"type":"object","properties":{"total":{"$ref":"money.json"}},"additionalProperties":false}`
	wantCall(t, u, "POST", "/subjects/order/versions", withRef(order), 200, `"id":2`)
	wantCall(t, u, "GET", "/subjects/order/versions/1", "", 200, `"references":[{"name":"money.json","subject":"money","version":1}]`)
	wantCall(t, u, "GET", "/schemas/ids/2", "", 200, `"schemaType":"JSON"`)
	// The same text without its reference is a different schema; its $ref
	// resolves to nothing, so it is invalid.
	wantCall(t, u, "POST", "/subjects/order/versions", typedBody("JSON", order), 422, `"error_code":42201`)
	// A new money version that narrows cents, then an order on it: BACKWARD
	// follows the reference and refuses.
	wantCall(t, u, "PUT", "/config/money", `{"compatibility":"NONE"}`, 200, `NONE`)
	wantCall(t, u, "POST", "/subjects/money/versions",
		typedBody("JSON", `{"type":"object","properties":{"cents":{"type":"integer","maximum":100}},"additionalProperties":false}`), 200, `"id":3`)
	b, _ := json.Marshal(map[string]any{"schema": order, "schemaType": "JSON",
		"references": []map[string]any{{"name": "money.json", "subject": "money", "version": 2}}})
	wantCall(t, u, "POST", "/compatibility/subjects/order/versions/latest?verbose=true", string(b), 200, `maximum`)
	wantCall(t, u, "POST", "/subjects/order/versions", string(b), 409, `"error_code":409`)
	// A referenced version cannot be "latest".
	b, _ = json.Marshal(map[string]any{"schema": order, "schemaType": "JSON",
		"references": []map[string]any{{"name": "money.json", "subject": "money", "version": -1}}})
	wantCall(t, u, "POST", "/subjects/order/versions", string(b), 422, `latest`)
	// Type changes are refused under BACKWARD.
	wantCall(t, u, "POST", "/subjects/order/versions", avroBody(`"string"`), 409, `schema type changed`)
}

// forbidden is a refusal by role, as the router's auth package makes one.
type forbidden struct{}

func (forbidden) Error() string   { return "role viewer may not manage-schemas" }
func (forbidden) HTTPStatus() int { return http.StatusForbidden }
