package account

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRoles: every endpoint refuses the role just below the one it needs,
// and serves that one.
func TestRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	owner := e.signup("owner@example.com", "acme")
	e.want(e.do("PUT", "/api/v1/org/plan", owner.AccessToken, map[string]string{"plan": "pro"}), http.StatusOK, nil)
	cred := map[string]string{"owner": owner.AccessToken}
	for _, role := range []string{"viewer", "member", "admin"} {
		_, s := e.member(owner.AccessToken, role+"@example.com", role, "acme")
		cred[role] = s.AccessToken
	}
	target := e.key(owner.AccessToken, "target", "viewer")
	victim, _ := e.member(owner.AccessToken, "victim@example.com", "viewer", "acme")

	below := map[string]string{"member": "viewer", "admin": "member", "owner": "admin"}
	for _, c := range []struct {
		method, path, body string
		least              string
		ok                 int
	}{
		{"GET", "/api/v1/auth/me", "", "viewer", 200},
		{"GET", "/api/v1/org", "", "viewer", 200},
		{"GET", "/api/v1/members", "", "viewer", 200},
		{"GET", "/api/v1/billing/plans", "", "viewer", 200},
		{"GET", "/api/v1/billing/usage", "", "viewer", 200},
		{"GET", "/api/v1/keys", "", "admin", 200},
		{"POST", "/api/v1/keys", `{"name":"k","role":"viewer"}`, "admin", 201},
		{"DELETE", "/api/v1/keys/" + target.Key.ID, "", "admin", 204},
		{"GET", "/api/v1/audit", "", "admin", 200},
		{"PATCH", "/api/v1/org", `{"display_name":"Acme Inc."}`, "owner", 200},
		{"PUT", "/api/v1/org/plan", `{"plan":"pro"}`, "owner", 200},
		{"GET", "/api/v1/billing/invoice", "", "owner", 200},
		{"POST", "/api/v1/members", `{"email":"new@example.com","role":"viewer","password":"new password"}`, "owner", 201},
		{"PATCH", fmt.Sprintf("/api/v1/members/%d", victim.User), `{"role":"member"}`, "owner", 200},
		{"DELETE", fmt.Sprintf("/api/v1/members/%d", victim.User), "", "owner", 204},
	} {
		if low, ok := below[c.least]; ok {
			r := e.call(c.method, c.path, cred[low], c.body)
			if r.status != http.StatusForbidden || r.errCode() != "forbidden" || !strings.Contains(string(r.body), "role "+low+" may not") {
				t.Errorf("%s %s as %s: %v, want 403 naming the role", c.method, c.path, low, r)
			}
		}
		if r := e.call(c.method, c.path, cred[c.least], c.body); r.status != c.ok {
			t.Errorf("%s %s as %s: %v, want %d", c.method, c.path, c.least, r, c.ok)
		}
	}

	// Keys: nobody grants more than they hold.
	if r := e.do("POST", "/api/v1/keys", cred["admin"], map[string]string{"name": "k", "role": "owner"}); r.status != http.StatusForbidden {
		t.Errorf("admin creating an owner key: %v", r)
	}
	e.key(cred["admin"], "k", "admin")
	e.key(cred["owner"], "k", "owner")
	// An admin key acts as admin: may manage keys, not members.
	ak := e.key(cred["admin"], "k", "admin")
	if r := e.call("GET", "/api/v1/keys", ak.Secret, ""); r.status != http.StatusOK {
		t.Errorf("admin key listing keys: %v", r)
	}
	if r := e.call("GET", "/api/v1/billing/invoice", ak.Secret, ""); r.status != http.StatusForbidden {
		t.Errorf("admin key reading the invoice: %v", r)
	}
	// No credential at all.
	if r := e.call("GET", "/api/v1/org", "", ""); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("no credential: %v", r)
	}
}

// TestIsolation: another organization's owner cannot see or touch this
// organization's keys, members or audit log: 404 or 403, never its data.
func TestIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	a := e.signup("ada@example.com", "acme")
	ak := e.key(a.AccessToken, "acme-ci", "admin")
	am, _ := e.member(a.AccessToken, "alan@example.com", "viewer", "acme")
	b := e.signup("bob@example.com", "globex")
	bk := e.key(b.AccessToken, "globex-ci", "admin")

	secrets := []string{ak.Key.ID, "acme-ci", "alan@example.com", "ada@example.com", "acme"}
	for _, cred := range []string{b.AccessToken, bk.Secret} {
		for _, c := range []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/api/v1/keys", "", 200},
			{"GET", "/api/v1/members", "", 200},
			{"GET", "/api/v1/audit", "", 200},
			{"GET", "/api/v1/org", "", 200},
			{"GET", "/api/v1/auth/me", "", 200},
			{"GET", "/api/v1/billing/usage", "", 200},
			{"DELETE", "/api/v1/keys/" + ak.Key.ID, "", 404},
			{"PATCH", fmt.Sprintf("/api/v1/members/%d", am.User), `{"role":"owner"}`, 404},
			{"DELETE", fmt.Sprintf("/api/v1/members/%d", am.User), "", 404},
			{"DELETE", fmt.Sprintf("/api/v1/members/%d", a.User.ID), "", 404},
		} {
			if c.method != "GET" && cred == bk.Secret {
				c.want = map[bool]int{true: 403, false: c.want}[strings.Contains(c.path, "members")] // an admin key may not manage members
			}
			r := e.call(c.method, c.path, cred, c.body)
			if r.status != c.want {
				t.Errorf("%s %s with globex's credential: %v, want %d", c.method, c.path, r, c.want)
			}
			for _, s := range secrets {
				if strings.Contains(string(r.body), s) && !strings.Contains(c.path, s) { // the request's own words may come back
					t.Errorf("%s %s with globex's credential shows acme's %q: %s", c.method, c.path, s, r.body)
				}
			}
		}
	}
	// Acme is untouched: its key works, its member is a viewer.
	var me meOut
	e.want(e.call("GET", "/api/v1/auth/me", ak.Secret, ""), http.StatusOK, &me)
	var ms struct {
		Members []memberOut `json:"members"`
	}
	e.want(e.call("GET", "/api/v1/members", a.AccessToken, ""), http.StatusOK, &ms)
	if len(ms.Members) != 2 || ms.Members[1].Role != "viewer" {
		t.Fatalf("acme's members changed: %+v", ms.Members)
	}
}
