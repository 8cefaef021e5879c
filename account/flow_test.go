package account

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/registry"
)

func TestMainFlow(t *testing.T) {
	t.Parallel()
	mainFlow(t, newEnv(t, envOpts{}))
}

func TestMainFlowPostgres(t *testing.T) {
	t.Parallel()
	store, err := registry.OpenPostgres(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	mainFlow(t, newEnv(t, envOpts{store: store}))
}

// mainFlow: sign up, me, create a key, use it, list, revoke, refused;
// login, refresh rotation, logout.
func mainFlow(t *testing.T, e *env) {
	s := e.signup("Ada@Example.com", "acme")
	if s.Role != "owner" || s.TokenType != "Bearer" || s.ExpiresIn != 900 || s.User.Email != "Ada@Example.com" || s.User.ID <= 0 ||
		!strings.HasPrefix(s.RefreshToken, "shr_") || s.AccessToken == "" {
		t.Fatalf("signup: %+v", s)
	}
	if o := s.Organization; o.Name != "acme" || o.DisplayName != "acme" || o.Plan != "free" || o.Status != "active" || o.Limits.APIKeys != 2 {
		t.Fatalf("signup organization: %+v", o)
	}
	var me meOut
	e.want(e.call("GET", "/api/v1/auth/me", s.AccessToken, ""), http.StatusOK, &me)
	if me.Role != "owner" || me.User == nil || me.User.ID != s.User.ID || me.KeyID != "" || !me.Auth || me.Organization.ID != s.Organization.ID {
		t.Fatalf("me: %+v", me)
	}

	k := e.key(s.AccessToken, "ci", "admin")
	if !strings.HasPrefix(k.Secret, "shk_") || k.Key.Role != "admin" || k.Key.CreatedBy != s.User.ID || k.Key.LastUsedAt != nil || k.Key.ExpiresAt != nil {
		t.Fatalf("created key: %+v", k)
	}
	e.want(e.call("GET", "/api/v1/auth/me", k.Secret, ""), http.StatusOK, &me)
	if me.Role != "admin" || me.User != nil || me.KeyID != k.Key.ID {
		t.Fatalf("me with the key: %+v", me)
	}
	r := e.call("GET", "/api/v1/keys", k.Secret, "")
	var list struct {
		Keys []keyOut `json:"keys"`
	}
	e.want(r, http.StatusOK, &list)
	if strings.Contains(string(r.body), k.Secret[4+12:]) || len(list.Keys) != 1 || list.Keys[0].ID != k.Key.ID ||
		list.Keys[0].LastUsedAt == nil || list.Keys[0].RevokedAt != nil {
		t.Fatalf("key list: %s", r.body)
	}
	e.want(e.call("DELETE", "/api/v1/keys/"+k.Key.ID, s.AccessToken, ""), http.StatusNoContent, nil)
	e.clock.Advance(5 * time.Second) // the authenticator's cache TTL
	r = e.call("GET", "/api/v1/auth/me", k.Secret, "")
	if r.status != http.StatusUnauthorized || r.errCode() != "unauthenticated" || r.header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("revoked key: %v", r)
	}
	e.want(e.call("GET", "/api/v1/keys", s.AccessToken, ""), http.StatusOK, &list)
	if list.Keys[0].RevokedAt == nil {
		t.Fatalf("revoked key listed without revoked_at: %+v", list.Keys[0])
	}

	// Login (email in any case), then refresh rotates.
	var l sessionOut
	e.want(e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "correct horse"}), http.StatusOK, &l)
	if l.Role != "owner" || l.Organization.Name != "acme" || l.RefreshToken == s.RefreshToken {
		t.Fatalf("login: %+v", l)
	}
	var r1 sessionOut
	e.want(e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": l.RefreshToken}), http.StatusOK, &r1)
	if r1.RefreshToken == l.RefreshToken || r1.AccessToken == "" || r1.Role != "owner" {
		t.Fatalf("refresh: %+v", r1)
	}
	if r := e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": l.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Fatalf("old refresh token after rotation: %v", r)
	}
	e.want(e.call("GET", "/api/v1/auth/me", r1.AccessToken, ""), http.StatusOK, &me)

	// Logout: the access token stops within the cache TTL, the refresh
	// token at once.
	e.want(e.call("POST", "/api/v1/auth/logout", r1.AccessToken, ""), http.StatusNoContent, nil)
	if r := e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": r1.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Fatalf("refresh after logout: %v", r)
	}
	e.clock.Advance(5 * time.Second)
	if r := e.call("GET", "/api/v1/auth/me", r1.AccessToken, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("access token after logout: %v", r)
	}
	// Logging out with an API key is not a thing.
	k2 := e.key(s.AccessToken, "ci2", "viewer")
	if r := e.call("POST", "/api/v1/auth/logout", k2.Secret, ""); r.status != http.StatusBadRequest {
		t.Fatalf("logout with an API key: %v", r)
	}

	got := e.actions(s.AccessToken)
	want := []string{"key.create", "auth.logout", "auth.login", "key.revoke", "key.create", "auth.signup"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit actions %v, want %v", got, want)
	}
}

func TestExpiredAccessToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.signup("ada@example.com", "acme")
	e.clock.Advance(15*time.Minute + 6*time.Second) // past exp and the 5 s leeway
	r := e.call("GET", "/api/v1/auth/me", s.AccessToken, "")
	if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired access token: %v", r)
	}
	// The refresh token still works, and gives a token that does.
	var r1 sessionOut
	e.want(e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken}), http.StatusOK, &r1)
	e.want(e.call("GET", "/api/v1/auth/me", r1.AccessToken, ""), http.StatusOK, nil)
	// A refresh token past its 30 days is refused.
	e.clock.Advance(31 * 24 * time.Hour)
	if r := e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": r1.RefreshToken}); r.status != http.StatusUnauthorized {
		t.Fatalf("expired refresh token: %v", r)
	}
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.signup("ada@example.com", "acme")
	e.signup("bob@example.com", "globex")
	wrongPw := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "wrong password"})
	noUser := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "eve@example.com", "password": "wrong password"})
	if wrongPw.status != http.StatusUnauthorized || noUser.status != http.StatusUnauthorized || string(wrongPw.body) != string(noUser.body) {
		t.Fatalf("wrong password %v and unknown email %v must read the same", wrongPw, noUser)
	}
	if r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "correct horse", "organization": "globex"}); r.status != http.StatusForbidden {
		t.Fatalf("login to another's organization: %v", r)
	}
	// A suspended organization cannot log in.
	var s sessionOut
	e.want(e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "correct horse", "organization": "acme"}), http.StatusOK, &s)
	if _, err := e.store.SetTenantSettings(t.Context(), s.Organization.ID, registry.TenantSettings{Status: registry.TenantSuspended}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "correct horse"})
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "suspended") {
		t.Fatalf("login to a suspended organization: %v", r)
	}
	// The default body limit is 64 KiB.
	big := `{"email":"` + strings.Repeat("a", 64<<10) + `"}`
	if r := e.call("POST", "/api/v1/auth/login", "", big); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "65536-byte limit") {
		t.Fatalf("a 64 KiB body: %v", r)
	}
	// A garbage or look-alike refresh token is a 401, never a 500.
	for _, bad := range []string{"garbage", "shr_" + strings.Repeat("a", 61)} {
		if r := e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bad}); r.status != http.StatusUnauthorized {
			t.Fatalf("refresh %q: %v", bad, r)
		}
	}
}

// TestRefreshRace: of refreshes racing with one token, exactly one gets a
// new session.
func TestRefreshRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	s := e.signup("ada@example.com", "acme")
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken}).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusUnauthorized] != n-1 {
		t.Fatalf("statuses of %d racing refreshes: %v, want one 200 and the rest 401", n, count)
	}
}

// TestLoginTiming: an unknown email costs a password hash check too, so
// login's time does not tell which emails have accounts. Not parallel, and
// the two kinds of login alternate, so that other load hits both alike.
func TestLoginTiming(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.signup("ada@example.com", "acme")
	login := func(email string) time.Duration {
		start := time.Now()
		if r := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": "wrong password"}); r.status != http.StatusUnauthorized {
			t.Fatalf("login: %v", r)
		}
		return time.Since(start)
	}
	var known, unknown []time.Duration
	for range 7 {
		known = append(known, login("ada@example.com"))
		unknown = append(unknown, login("eve@example.com"))
	}
	slices.Sort(known)
	slices.Sort(unknown)
	// Without the dummy check an unknown email answers in well under a
	// tenth of the time (no argon2id at all).
	if k, u := known[3], unknown[3]; u < k/3 {
		t.Fatalf("login with an unknown email takes %s, with a known one %s: the difference tells them apart", u, k)
	}
}
