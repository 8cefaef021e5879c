package auth

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/registry"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var testPepper = []byte("pepper-of-the-service-32-bytes!!")

// testClock is a settable clock shared by the authenticator and the tokens.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingAccounts counts the registry reads the authenticator makes.
type countingAccounts struct {
	registry.Accounts
	keyReads, sessionReads, touches atomic.Int64
}

func (c *countingAccounts) APIKey(ctx context.Context, id string) (registry.APIKey, error) {
	c.keyReads.Add(1)
	return c.Accounts.APIKey(ctx, id)
}

func (c *countingAccounts) Session(ctx context.Context, id string) (registry.Session, error) {
	c.sessionReads.Add(1)
	return c.Accounts.Session(ctx, id)
}

func (c *countingAccounts) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	c.touches.Add(1)
	return c.Accounts.TouchAPIKey(ctx, id, at)
}

// fixture is one organization with an owner and the means to make
// credentials for it.
type fixture struct {
	store  registry.Store
	acc    *countingAccounts
	clock  *testClock
	tokens *Tokens
	auth   *Authenticator
	tenant registry.Tenant
	user   registry.User
}

func openEmbedded(t testing.TB) registry.Store {
	t.Helper()
	s, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newFixture(t testing.TB, store registry.Store, cfg AuthenticatorConfig) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{store: store, acc: &countingAccounts{Accounts: store}, clock: &testClock{t: time.Now().UTC()}}
	tk, err := NewTokens([]byte("0123456789abcdef0123456789abcdef"), "streamhouse", "api", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens = tk.WithClock(f.clock.Now)
	cfg.Accounts, cfg.Tokens, cfg.Pepper, cfg.Now = f.acc, f.tokens, testPepper, f.clock.Now
	if f.auth, err = NewAuthenticator(cfg); err != nil {
		t.Fatal(err)
	}
	if f.tenant, err = store.CreateTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if f.user, err = store.CreateUser(ctx, "ada@example.com", "$argon2id$placeholder"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddMember(ctx, f.tenant.ID, f.user.ID, registry.RoleOwner); err != nil {
		t.Fatal(err)
	}
	return f
}

// key creates an API key of the tenant and returns its token.
func (f *fixture) key(t testing.TB, role registry.Role, expires time.Time) (string, string) {
	t.Helper()
	k, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	rk := registry.APIKey{ID: k.ID, Tenant: f.tenant.ID, Name: "ci", Role: role, ExpiresAt: expires, CreatedBy: f.user.ID}
	copy(rk.Hash[:], HashSecret(testPepper, k.Secret))
	if _, err := f.store.CreateAPIKey(t.Context(), rk); err != nil {
		t.Fatal(err)
	}
	return k.Token, k.ID
}

// login creates a session and an access token in it.
func (f *fixture) login(t testing.TB, role registry.Role) (string, string) {
	t.Helper()
	rt, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	s := registry.Session{ID: rt.Session, User: f.user.ID, Tenant: f.tenant.ID, ExpiresAt: f.clock.Now().Add(30 * 24 * time.Hour)}
	copy(s.Hash[:], HashSecret(testPepper, rt.Secret))
	if _, err := f.store.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.tokens.Issue(f.user.ID, f.tenant.ID, role, rt.Session)
	if err != nil {
		t.Fatal(err)
	}
	return tok, rt.Session
}

func wantUnauthenticated(t *testing.T, what string, err error, secret string) {
	t.Helper()
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("%s: %v, want ErrUnauthenticated", what, err)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Fatalf("%s: the error %q echoes the secret", what, err)
	}
}

func TestAuthenticatorAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{})
	ctx := t.Context()
	tok, id := f.key(t, registry.RoleMember, time.Time{})
	p, err := f.auth.Authenticate(ctx, tok)
	if err != nil || p != (Principal{Tenant: f.tenant.ID, Role: registry.RoleMember, KeyID: id}) {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	k, _ := f.store.APIKey(ctx, id)
	if !k.LastUsedAt.Equal(f.clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("last used %v, want %v", k.LastUsedAt, f.clock.Now())
	}

	// Cached: no registry read for 5 s.
	for range 100 {
		if _, err := f.auth.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.acc.keyReads.Load(); n != 1 {
		t.Fatalf("%d key reads for 101 requests within the cache TTL, want 1", n)
	}
	// After the TTL it reads again, but touches only once a minute.
	f.clock.Advance(6 * time.Second)
	if _, err := f.auth.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if r, n := f.acc.keyReads.Load(), f.acc.touches.Load(); r != 2 || n != 1 {
		t.Fatalf("after 6 s: %d reads, %d touches; want 2 and 1", r, n)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.auth.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n := f.acc.touches.Load(); n != 2 {
		t.Fatalf("after a minute: %d touches, want 2", n)
	}
	if k, _ := f.store.APIKey(ctx, id); !k.LastUsedAt.Equal(f.clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("last used %v, want %v", k.LastUsedAt, f.clock.Now())
	}

	// A look-alike with a bad checksum costs no lookup.
	reads := f.acc.keyReads.Load()
	bad := tok[:len(tok)-1] + string(base62[(strings.IndexByte(base62, tok[len(tok)-1])+1)%62])
	_, err = f.auth.Authenticate(ctx, bad)
	wantUnauthenticated(t, "bad checksum", err, tok[len(APIKeyPrefix)+keyIDLen:])
	if f.acc.keyReads.Load() != reads {
		t.Fatal("a key with a bad checksum was looked up")
	}
	// The right id with another secret (a valid checksum): refused, and the
	// message does not echo it.
	other, _ := NewAPIKey()
	body := APIKeyPrefix + id + other.Secret
	_, err = f.auth.Authenticate(ctx, body+checksum(body))
	wantUnauthenticated(t, "wrong secret", err, other.Secret)
	// An unknown id.
	_, err = f.auth.Authenticate(ctx, other.Token)
	wantUnauthenticated(t, "unknown key", err, other.Secret)

	// Revoked: refused once the cache entry lapses.
	if err := f.store.RevokeAPIKey(ctx, f.tenant.ID, id, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Authenticate(ctx, tok); err != nil {
		t.Fatalf("within the cache TTL of the revocation: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	_, err = f.auth.Authenticate(ctx, tok)
	wantUnauthenticated(t, "revoked key", err, tok)
	if !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked key: %v does not say so", err)
	}
}

func TestAuthenticatorKeyExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{CacheTTL: time.Hour})
	ctx := t.Context()
	tok, _ := f.key(t, registry.RoleViewer, f.clock.Now().Add(90*time.Second))
	if _, err := f.auth.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// The cache entry never outlives the key, even with a long TTL.
	f.clock.Advance(90 * time.Second)
	_, err := f.auth.Authenticate(ctx, tok)
	wantUnauthenticated(t, "expired key", err, tok)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired key: %v does not say so", err)
	}
}

func TestAuthenticatorAccessToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{})
	ctx := t.Context()
	tok, sid := f.login(t, registry.RoleOwner)
	p, err := f.auth.Authenticate(ctx, tok)
	if err != nil || p != (Principal{Tenant: f.tenant.ID, Role: registry.RoleOwner, User: f.user.ID, Session: sid}) {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	if p.Actor() != "user:"+strconv.FormatInt(f.user.ID, 10) {
		t.Fatalf("actor %q", p.Actor())
	}

	// A role change applies within the cache TTL: the role is the
	// membership's, not the token's.
	if _, err := f.store.AddMember(ctx, f.tenant.ID, mustUser(t, f.store, "bob@example.com").ID, registry.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetMemberRole(ctx, f.tenant.ID, f.user.ID, registry.RoleViewer); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	if p, err := f.auth.Authenticate(ctx, tok); err != nil || p.Role != registry.RoleViewer {
		t.Fatalf("after demotion: %+v, %v; want viewer", p, err)
	}

	// Logout: refused after the cache TTL.
	if err := f.store.RevokeSession(ctx, sid, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	_, err = f.auth.Authenticate(ctx, tok)
	wantUnauthenticated(t, "logged out", err, tok)

	// Expiry: the cache never serves a token past its exp.
	tok2, _ := f.login(t, registry.RoleViewer)
	if _, err := f.auth.Authenticate(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(15*time.Minute + 6*time.Second) // past exp and Verify's 5 s leeway
	_, err = f.auth.Authenticate(ctx, tok2)
	wantUnauthenticated(t, "expired token", err, tok2)

	// A removed member's token is refused.
	tok3, _ := f.login(t, registry.RoleViewer)
	if err := f.store.RemoveMember(ctx, f.tenant.ID, f.user.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.auth.Authenticate(ctx, tok3)
	wantUnauthenticated(t, "removed member", err, tok3)

	// Garbage and tokens of another key.
	_, err = f.auth.Authenticate(ctx, "not-a-token")
	wantUnauthenticated(t, "garbage", err, "")
	_, err = f.auth.Authenticate(ctx, strings.Repeat("x", MaxCredentialLen+1))
	wantUnauthenticated(t, "oversized", err, "")
	_, err = f.auth.Authenticate(ctx, "")
	wantUnauthenticated(t, "empty", err, "")
}

func mustUser(t *testing.T, s registry.Store, email string) registry.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), email, "$argon2id$placeholder")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAuthenticatorSuspended(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{})
	ctx := t.Context()
	tok, _ := f.key(t, registry.RoleAdmin, time.Time{})
	if _, err := f.store.SetTenantSettings(ctx, f.tenant.ID, registry.TenantSettings{Status: registry.TenantSuspended}); err != nil {
		t.Fatal(err)
	}
	_, err := f.auth.Authenticate(ctx, tok)
	var fe *ForbiddenError
	if !errors.As(err, &fe) || fe.HTTPStatus() != http.StatusForbidden || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("suspended organization: %v, want a 403 ForbiddenError saying suspended", err)
	}
	at, _ := f.login(t, registry.RoleOwner)
	if _, err := f.auth.Authenticate(ctx, at); !errors.As(err, &fe) {
		t.Fatalf("token of a suspended organization: %v", err)
	}
	if _, err := f.store.SetTenantSettings(ctx, f.tenant.ID, registry.TenantSettings{Status: registry.TenantActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Authenticate(ctx, tok); err != nil {
		t.Fatalf("reactivated: %v", err)
	}
}

func TestAuthenticatorHTTPAndGRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{})
	tok, id := f.key(t, registry.RoleMember, time.Time{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := f.auth.HTTP(r)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "err: "+err.Error())
			return
		}
		_, _ = io.WriteString(w, p.Actor())
	}))
	defer srv.Close()
	do := func(path string, h map[string]string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
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
		return string(b)
	}
	for name, c := range map[string]struct {
		path string
		h    map[string]string
		want string
	}{
		"bearer":                {"/", map[string]string{"Authorization": "Bearer " + tok}, "key:" + id},
		"lowercase scheme":      {"/", map[string]string{"Authorization": "bearer " + tok}, "key:" + id},
		"websocket query":       {"/ws?access_token=" + tok, map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"}, "key:" + id},
		"query without upgrade": {"/ws?access_token=" + tok, nil, "err: unauthenticated: no credential"},
		"none":                  {"/", nil, "err: unauthenticated: no credential"},
		"bare key":              {"/", map[string]string{"Authorization": tok}, "err: unauthenticated: the Authorization header"},
		"basic":                 {"/", map[string]string{"Authorization": "Basic " + tok}, "err: unauthenticated: the Authorization header"},
	} {
		if g := do(c.path, c.h); !strings.HasPrefix(g, c.want) || strings.Contains(g, tok[len(APIKeyPrefix)+keyIDLen:]) {
			t.Errorf("%s: %q, want %q (and never the secret)", name, g, c.want)
		}
	}

	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+tok))
	if p, err := f.auth.GRPC(ctx); err != nil || p.KeyID != id {
		t.Fatalf("gRPC: %+v, %v", p, err)
	}
	_, err := f.auth.GRPC(t.Context())
	wantUnauthenticated(t, "gRPC without metadata", err, "")
	two := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+tok, "authorization", "Bearer x"))
	_, err = f.auth.GRPC(two)
	wantUnauthenticated(t, "gRPC with two values", err, "")
}

func TestAuthenticatorCacheBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{CacheEntries: 3})
	for range 5 {
		tok, _ := f.key(t, registry.RoleViewer, time.Time{})
		if _, err := f.auth.Authenticate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		f.auth.mu.Lock()
		n, m := len(f.auth.mu.entries), len(f.auth.mu.touched)
		f.auth.mu.Unlock()
		if n > 3 || m > 3 {
			t.Fatalf("cache holds %d entries and %d touches, bound 3", n, m)
		}
	}
}

// TestAuthenticatorRegistryDown: a registry failure is not a bad
// credential (the edge answers 503, not 401).
func TestAuthenticatorRegistryDown(t *testing.T) {
	t.Parallel()
	store := openEmbedded(t)
	f := newFixture(t, store, AuthenticatorConfig{})
	tok, _ := f.key(t, registry.RoleViewer, time.Time{})
	at, _ := f.login(t, registry.RoleOwner)
	_ = store.Close()
	for _, c := range []string{tok, at} {
		_, err := f.auth.Authenticate(t.Context(), c)
		if err == nil || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("registry closed: %v, want the registry's error", err)
		}
	}
}

func TestAuthenticatorPostgres(t *testing.T) {
	t.Parallel()
	store, err := registry.OpenPostgres(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f := newFixture(t, store, AuthenticatorConfig{})
	ctx := t.Context()
	tok, id := f.key(t, registry.RoleAdmin, time.Time{})
	if p, err := f.auth.Authenticate(ctx, tok); err != nil || p.KeyID != id || p.Role != registry.RoleAdmin {
		t.Fatalf("API key: %+v, %v", p, err)
	}
	at, sid := f.login(t, registry.RoleOwner)
	if p, err := f.auth.Authenticate(ctx, at); err != nil || p.Session != sid || p.Role != registry.RoleOwner {
		t.Fatalf("access token: %+v, %v", p, err)
	}
	if err := store.RevokeSession(ctx, sid, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeAPIKey(ctx, f.tenant.ID, id, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	for _, c := range []string{tok, at} {
		_, err := f.auth.Authenticate(ctx, c)
		wantUnauthenticated(t, "revoked on PostgreSQL", err, c)
	}
}

// downAccounts answers every key and session read as an unreachable
// PostgreSQL would.
type downAccounts struct{ registry.Accounts }

var errDown = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

func (downAccounts) APIKey(context.Context, string) (registry.APIKey, error) {
	return registry.APIKey{}, errDown
}

func (downAccounts) Session(context.Context, string) (registry.Session, error) {
	return registry.Session{}, errDown
}

// TestAuthenticatorUnavailable: an unreachable registry stays recognisable
// through the authenticator's wrapping, so the edges answer 503.
func TestAuthenticatorUnavailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openEmbedded(t), AuthenticatorConfig{})
	tok, _ := f.key(t, registry.RoleViewer, time.Time{})
	at, _ := f.login(t, registry.RoleOwner)
	down, err := NewAuthenticator(AuthenticatorConfig{Accounts: downAccounts{f.store}, Tokens: f.tokens, Pepper: testPepper})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{tok, at} {
		_, err := down.Authenticate(t.Context(), c)
		if !registry.IsUnavailable(err) || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("registry down: %v, want an unavailable error", err)
		}
	}
}

// BenchmarkAuthenticateCached is the per-request cost of authentication on
// the produce path once a credential is cached (a SHA-256 of it and a map
// lookup): an API key and an access token.
func BenchmarkAuthenticateCached(b *testing.B) {
	f := newFixture(b, openEmbedded(b), AuthenticatorConfig{CacheTTL: time.Hour})
	key, _ := f.key(b, registry.RoleMember, time.Time{})
	tok, _ := f.login(b, registry.RoleMember)
	for _, c := range []struct{ name, cred string }{{"key", key}, {"token", tok}} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := f.auth.Authenticate(b.Context(), c.cred); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.auth.Authenticate(b.Context(), c.cred); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
