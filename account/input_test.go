package account

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{maxBody: 1024})
	s := e.signup("ada@example.com", "acme")
	tok := s.AccessToken
	for _, c := range []struct {
		name, method, path, cred, body string
		status                         int
		says                           string
	}{
		{"malformed JSON", "POST", "/api/v1/auth/signup", "", `{"email":`, 400, "request body"},
		{"not an object", "POST", "/api/v1/auth/signup", "", `[1]`, 400, "request body"},
		{"two values", "POST", "/api/v1/auth/login", "", `{"email":"a@b.c","password":"x"} {}`, 400, "more than one"},
		{"empty body", "POST", "/api/v1/auth/login", "", ``, 400, "empty"},
		{"unknown field", "POST", "/api/v1/auth/signup", "", `{"email":"x@example.com","password":"long enough","organization":"x","admin":true}`, 400, `unknown field "admin"`},
		{"oversized body", "POST", "/api/v1/auth/signup", "", `{"email":"` + strings.Repeat("a", 2000) + `"}`, 413, "1024-byte limit"},
		{"bad email", "POST", "/api/v1/auth/signup", "", `{"email":"no-at-sign","password":"long enough","organization":"x"}`, 400, "email"},
		{"short password", "POST", "/api/v1/auth/signup", "", `{"email":"x@example.com","password":"short","organization":"x"}`, 400, "password of 5 bytes"},
		{"bad organization", "POST", "/api/v1/auth/signup", "", `{"email":"x@example.com","password":"long enough","organization":"a/b"}`, 400, "organization"},
		{"long display name", "POST", "/api/v1/auth/signup", "", `{"email":"x@example.com","password":"long enough","organization":"x","display_name":"` + strings.Repeat("d", 129) + `"}`, 400, "display_name"},
		{"email taken", "POST", "/api/v1/auth/signup", "", `{"email":"ADA@example.com","password":"long enough","organization":"other"}`, 409, "email"},
		{"organization taken", "POST", "/api/v1/auth/signup", "", `{"email":"x@example.com","password":"long enough","organization":"acme"}`, 409, "organization"},
		{"login without password", "POST", "/api/v1/auth/login", "", `{"email":"ada@example.com"}`, 400, "password"},
		{"refresh without token", "POST", "/api/v1/auth/refresh", "", `{}`, 400, "refresh_token"},
		{"bad month", "GET", "/api/v1/billing/usage?month=2026-13", tok, "", 400, "month"},
		{"month not a month", "GET", "/api/v1/billing/invoice?month=last", tok, "", 400, "month"},
		{"month before 1970", "GET", "/api/v1/billing/invoice?month=1969-12", tok, "", 400, "month"},
		{"bad role", "POST", "/api/v1/keys", tok, `{"name":"k","role":"root"}`, 400, "role"},
		{"key without name", "POST", "/api/v1/keys", tok, `{"role":"viewer"}`, 400, "name"},
		{"key expiry 0", "POST", "/api/v1/keys", tok, `{"name":"k","role":"viewer","expires_in_seconds":0}`, 400, "expires_in_seconds"},
		{"key expiry too long", "POST", "/api/v1/keys", tok, `{"name":"k","role":"viewer","expires_in_seconds":63072001}`, 400, "expires_in_seconds"},
		{"unknown key", "DELETE", "/api/v1/keys/nosuchkey", tok, "", 404, "nosuchkey"},
		{"bad user id", "PATCH", "/api/v1/members/abc", tok, `{"role":"viewer"}`, 400, "user id"},
		{"member without password", "POST", "/api/v1/members", tok, `{"email":"new@example.com","role":"viewer"}`, 404, "give a password"},
		{"member short password", "POST", "/api/v1/members", tok, `{"email":"new@example.com","role":"viewer","password":"short"}`, 400, "password"},
		{"member twice", "POST", "/api/v1/members", tok, `{"email":"ada@example.com","role":"viewer"}`, 409, "ada@example.com is already a member"},
		{"demote the last owner", "PATCH", fmt.Sprintf("/api/v1/members/%d", s.User.ID), tok, `{"role":"viewer"}`, 400, "owner"},
		{"remove the last owner", "DELETE", fmt.Sprintf("/api/v1/members/%d", s.User.ID), tok, "", 400, "owner"},
		{"unknown plan", "PUT", "/api/v1/org/plan", tok, `{"plan":"gold"}`, 400, "free, starter, pro, enterprise"},
		{"empty display name", "PATCH", "/api/v1/org", tok, `{"display_name":""}`, 400, "display_name"},
		{"audit before", "GET", "/api/v1/audit?before=-1", tok, "", 400, "before"},
		{"audit limit", "GET", "/api/v1/audit?limit=1001", tok, "", 400, "limit"},
		{"wrong method", "DELETE", "/api/v1/org", tok, "", 405, "GET, PATCH"},
		{"unknown path", "GET", "/api/v1/nothing", tok, "", 404, "no such path"},
	} {
		r := e.call(c.method, c.path, c.cred, c.body)
		var b struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil || r.status != c.status || !strings.Contains(b.Error.Message, c.says) ||
			r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %v, want %d saying %q", c.name, r, c.status, c.says)
		}
	}
	if r := e.call("DELETE", "/api/v1/org", tok, ""); r.header.Get("Allow") != "GET, PATCH" {
		t.Errorf("405 without Allow: %v", r.header)
	}
	// Nothing of the refused sign-ups was written.
	var m meOut
	e.want(e.call("GET", "/api/v1/auth/me", tok, ""), http.StatusOK, &m)
	if _, err := e.store.TenantByName(t.Context(), "x"); err == nil {
		t.Error("a refused sign-up left its organization")
	}
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.signup("ada@example.com", "acme") // plan free: 2 API keys, 3 members
	tok := s.AccessToken
	k1 := e.key(tok, "one", "viewer")
	e.key(tok, "two", "viewer")
	r := e.do("POST", "/api/v1/keys", tok, map[string]string{"name": "three", "role": "viewer"})
	if r.status != http.StatusForbidden || r.errCode() != "forbidden" || !strings.Contains(string(r.body), "quota api_keys exceeded: 2 of 2 used on plan free") {
		t.Fatalf("third key on free: %v", r)
	}
	// A revoked key frees its place.
	e.want(e.call("DELETE", "/api/v1/keys/"+k1.Key.ID, tok, ""), http.StatusNoContent, nil)
	e.key(tok, "three", "viewer")

	e.member(tok, "m1@example.com", "viewer", "acme")
	e.member(tok, "m2@example.com", "viewer", "acme")
	r = e.do("POST", "/api/v1/members", tok, map[string]string{"email": "m3@example.com", "role": "viewer", "password": "long enough"})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "quota members exceeded: 3 of 3 used on plan free") {
		t.Fatalf("fourth member on free: %v", r)
	}
	if _, err := e.store.UserByEmail(t.Context(), "m3@example.com"); err == nil {
		t.Fatal("the refused member's user was created")
	}
	// An upgrade lifts the quota at once.
	e.want(e.do("PUT", "/api/v1/org/plan", tok, map[string]string{"plan": "starter"}), http.StatusOK, nil)
	e.want(e.do("POST", "/api/v1/members", tok, map[string]string{"email": "m3@example.com", "role": "viewer", "password": "long enough"}), http.StatusCreated, nil)
	e.key(tok, "four", "viewer")
}

func TestAuditPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.signup("ada@example.com", "acme")
	tok := s.AccessToken
	e.want(e.do("PUT", "/api/v1/org/plan", tok, map[string]string{"plan": "pro"}), http.StatusOK, nil)
	e.want(e.do("PATCH", "/api/v1/org", tok, map[string]string{"display_name": "Acme"}), http.StatusOK, nil)
	k := e.key(tok, "k", "viewer")
	e.want(e.call("DELETE", "/api/v1/keys/"+k.Key.ID, tok, ""), http.StatusNoContent, nil)
	m, _ := e.member(tok, "m@example.com", "viewer", "acme")
	e.want(e.do("PATCH", fmt.Sprintf("/api/v1/members/%d", m.User), tok, map[string]string{"role": "admin"}), http.StatusOK, nil)
	e.want(e.call("DELETE", fmt.Sprintf("/api/v1/members/%d", m.User), tok, ""), http.StatusNoContent, nil)
	want := []string{"member.remove", "member.role", "auth.login", "member.add", "key.revoke", "key.create", "org.update", "org.plan", "auth.signup"}

	var got []string
	before, pages := int64(0), 0
	for {
		var a auditOut
		e.want(e.call("GET", fmt.Sprintf("/api/v1/audit?limit=4&before=%d", before), tok, ""), http.StatusOK, &a)
		pages++
		for i, ev := range a.Events {
			got = append(got, ev.Action)
			if i > 0 && ev.ID >= a.Events[i-1].ID {
				t.Fatalf("events not newest first: %+v", a.Events)
			}
			if ev.Actor == "" || ev.At.IsZero() {
				t.Fatalf("event without actor or time: %+v", ev)
			}
		}
		if a.NextBefore == 0 {
			break
		}
		before = a.NextBefore
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || pages != 3 {
		t.Fatalf("audit over %d pages: %v, want %v over 3", pages, got, want)
	}
	var a auditOut
	e.want(e.call("GET", "/api/v1/audit?limit=1", tok, ""), http.StatusOK, &a)
	if ev := a.Events[0]; ev.Actor != fmt.Sprintf("user:%d", s.User.ID) || ev.Target != fmt.Sprintf("user:%d", m.User) {
		t.Fatalf("newest event %+v", ev)
	}
}

func TestAuthOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{authOff: true})
	for _, p := range []string{"/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"} {
		r := e.call("POST", p, "", `{}`)
		if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "authentication is off in this cell") {
			t.Errorf("%s with auth off: %v", p, r)
		}
	}
	var me meOut
	e.want(e.call("GET", "/api/v1/auth/me", "", ""), http.StatusOK, &me)
	if me.Auth || me.Role != "owner" || me.User != nil || me.Organization.Name != "default" || me.Organization.Plan != "free" {
		t.Fatalf("me with auth off: %+v", me)
	}
	e.key("", "dev", "admin")
	e.want(e.call("GET", "/api/v1/members", "", ""), http.StatusOK, nil)
	if got := e.actions(""); len(got) != 1 || got[0] != "key.create" {
		t.Fatalf("audit with auth off: %v", got)
	}
	var a auditOut
	e.want(e.call("GET", "/api/v1/audit", "", ""), http.StatusOK, &a)
	if a.Events[0].Actor != "anonymous" {
		t.Fatalf("actor with auth off: %+v", a.Events[0])
	}
}
