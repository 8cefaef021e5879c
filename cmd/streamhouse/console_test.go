package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamhouse/streamhouse/dashboard"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// TestConsoleOnDevCell reads the console's WebSocket of a dev cell without
// a browser: the snapshot shows what the API and the metrics say.
func TestConsoleOnDevCell(t *testing.T) {
	cell := startDev(t, t.TempDir())
	cell.post(t, "/api/v1/topics", `{"name":"metered","partitions":2}`, http.StatusCreated)
	cell.produce(t, "metered", 0, 10)

	resp, err := http.Get(cell.http + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "StreamHouse console") {
		t.Fatalf("GET /: %d %q", resp.StatusCode, page)
	}

	wsURL := "ws" + strings.TrimPrefix(cell.http, "http") + dashboard.WSPath
	// Another site's page cannot read the cell through a visitor's browser.
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"http://evil.example"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial: %v %v", err, resp)
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {cell.http}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]int{"refresh_ms": 500}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s dashboard.Snapshot
		_ = conn.SetReadDeadline(deadline)
		if err := conn.ReadJSON(&s); err != nil {
			t.Fatalf("no snapshot showed the topic and its metrics: %v", err)
		}
		if s.Type != "snapshot" || len(s.Topics) != 1 || s.Topics[0].Records != 10 || len(s.Agents) != 1 || len(s.Agents[0].Partitions) != 2 {
			continue
		}
		if s.Health["registry"] != "ok" || s.Health["nats"] != "ok" {
			t.Fatalf("health %v", s.Health)
		}
		produced := 0.0
		for _, m := range s.Metrics["streamhouse_produce_records_total"].Samples {
			if m.Labels["topic"] == "metered" {
				produced = m.Value
			}
		}
		if produced == 10 {
			return
		}
	}
}

// TestConsoleAuthOnDevCell: with --auth, the console's WebSocket needs an
// access token (?access_token=) or an API key, each organization's browser
// sees its own topics only, without the process's metrics, and a logout
// ends the feed.
func TestConsoleAuthOnDevCell(t *testing.T) {
	cell := startDevWith(t, t.TempDir(), "--auth")
	acme := signUp(t, cell.http, "owner@acme.example", "acme")
	globex := signUp(t, cell.http, "ops@globex.example", "globex")
	must(t, http.StatusCreated, "POST", cell.http+"/api/v1/topics", acme.token, `{"name":"acme-orders","partitions":1}`)
	must(t, http.StatusCreated, "POST", cell.http+"/api/v1/topics", globex.token, `{"name":"globex-events","partitions":1}`)
	must(t, http.StatusOK, "POST", cell.http+"/api/v1/topics/acme-orders/records", acme.token, records("a", 4))
	_, globexKey := globex.newKey(t, cell.http, "console", "viewer")

	wsURL := "ws" + strings.TrimPrefix(cell.http, "http") + dashboard.WSPath
	for _, cred := range []string{"", "not-a-token", "shk_forged"} {
		_, resp, err := websocket.DefaultDialer.Dial(wsURL+"?access_token="+cred, http.Header{"Origin": {cell.http}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("credential %q: %v %v, want 401", cred, err, resp)
		}
	}
	dial := func(cred string) *websocket.Conn {
		t.Helper()
		conn, _, err := websocket.DefaultDialer.Dial(wsURL+"?access_token="+cred, http.Header{"Origin": {cell.http}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := conn.WriteJSON(map[string]int{"refresh_ms": 500}); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	// snapshots reads n snapshots and returns the topic names each showed.
	snapshots := func(conn *websocket.Conn, n int) [][]string {
		t.Helper()
		var out [][]string
		for len(out) < n {
			var s dashboard.Snapshot
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err := conn.ReadJSON(&s); err != nil {
				t.Fatalf("after %d snapshots: %v", len(out), err)
			}
			if s.Type != "snapshot" {
				continue
			}
			if len(s.Metrics) != 0 {
				t.Fatalf("an organization's console got the process's metrics: %v", s.Metrics)
			}
			if len(s.Errors) != 0 {
				t.Fatalf("snapshot errors: %v", s.Errors)
			}
			var names []string
			for _, tp := range s.Topics {
				names = append(names, fmt.Sprintf("%s:%d", tp.Name, tp.Records))
			}
			out = append(out, names)
		}
		return out
	}
	a, g := dial(acme.token), dial(globexKey)
	for range 3 {
		if got := snapshots(a, 1)[0]; len(got) != 1 || got[0] != "acme-orders:4" {
			t.Fatalf("acme's console shows %v", got)
		}
		if got := snapshots(g, 1)[0]; len(got) != 1 || got[0] != "globex-events:0" {
			t.Fatalf("globex's console (an API key) shows %v", got)
		}
	}

	// A logout ends acme's feed (within the console's reauthentication
	// period and the authenticator's cache) with 1008.
	must(t, http.StatusNoContent, "POST", cell.http+"/api/v1/auth/logout", acme.token, "")
	_ = a.SetReadDeadline(time.Now().Add(dashboard.DefaultReauthenticate + 15*time.Second))
	for {
		if _, _, err := a.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("acme's feed after the logout ended with %v, want 1008", err)
			}
			break
		}
	}
	if got := snapshots(g, 1)[0]; len(got) != 1 || got[0] != "globex-events:0" {
		t.Fatalf("globex's console after acme's logout shows %v", got)
	}
}

// TestConsoleAuthenticateAnswers maps each answer of /api/v1/auth/me to
// the console's principal or refusal, and checks which credential it
// forwards.
func TestConsoleAuthenticateAnswers(t *testing.T) {
	var status int
	var body, gotAuth string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/auth/me", func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if _, ok := principalFrom(r.Context()); ok {
			t.Error("the credential check carried a principal")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	src := &consoleSource{mux: mux}
	ws := func(rawURL, header string) (auth.Principal, error) {
		r := httptest.NewRequest("GET", rawURL, nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		return src.authenticate(r)
	}

	status, body = 200, `{"organization":{"id":7},"role":"admin","user":null,"key_id":"k1","auth":true}`
	p, err := ws("/ws/console?access_token=shk_x", "")
	if err != nil || p != (auth.Principal{Tenant: 7, Role: registry.RoleAdmin, KeyID: "k1"}) || gotAuth != "Bearer shk_x" {
		t.Fatalf("key: %+v %v (sent %q)", p, err, gotAuth)
	}
	status, body = 200, `{"organization":{"id":3},"role":"viewer","user":{"id":9,"email":"v@x"},"key_id":"","auth":true}`
	if p, err = ws("/ws/console", "Bearer jwt"); err != nil || p != (auth.Principal{Tenant: 3, Role: registry.RoleViewer, User: 9}) || gotAuth != "Bearer jwt" {
		t.Fatalf("header token: %+v %v (sent %q)", p, err, gotAuth)
	}
	status, body = 401, `{"error":{"code":"unauthenticated","message":"access token expired"}}`
	if _, err = ws("/ws/console?access_token=old", ""); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "access token expired") {
		t.Fatalf("401: %v", err)
	}
	status, body = 503, `{"error":{"code":"unavailable","message":"registry unreachable"}}`
	if _, err = ws("/ws/console?access_token=t", ""); err == nil || errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "503 registry unreachable") {
		t.Fatalf("503: %v", err)
	}
	status, body = 200, `{"organization":{"id":3},"role":"root"}`
	if _, err = ws("/ws/console?access_token=t", ""); err == nil || !strings.Contains(err.Error(), `role "root"`) {
		t.Fatalf("bad role: %v", err)
	}
	// A process without the account API: the zero principal, which puts
	// nothing in the context of its in-process calls.
	src.mux = http.NewServeMux()
	if p, err = ws("/ws/console", ""); err != nil || p != (auth.Principal{}) {
		t.Fatalf("no accounts: %+v %v", p, err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := principalFrom(r.Context())
		fmt.Fprintf(w, `{"tenant":%d,"set":%t}`, p.Tenant, ok)
	})
	var got struct {
		Tenant int64
		Set    bool
	}
	if err := get(context.Background(), api, auth.Principal{}, "/x", &got); err != nil || got.Set {
		t.Fatalf("zero principal: %+v %v", got, err)
	}
	if err := get(context.Background(), api, auth.Principal{Tenant: 5, Role: registry.RoleViewer}, "/x", &got); err != nil || !got.Set || got.Tenant != 5 {
		t.Fatalf("principal 5: %+v %v", got, err)
	}
}
