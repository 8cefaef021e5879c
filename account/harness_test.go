package account

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var testPepper = []byte("pepper-of-the-service-32-bytes!!")

// testClock is the handler's, the authenticator's and the tokens' clock.
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

// env is an Account API on a real HTTP server over a real registry,
// authenticating through the real Authenticator.
type env struct {
	t      *testing.T
	store  registry.Store
	clock  *testClock
	srv    *httptest.Server
	authOn bool
}

type envOpts struct {
	store   registry.Store // default: a fresh embedded registry
	authOff bool
	maxBody int64
}

func openEmbedded(t *testing.T) registry.Store {
	t.Helper()
	s, err := registry.OpenEmbedded(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.store == nil {
		o.store = openEmbedded(t)
	}
	e := &env{t: t, store: o.store, clock: &testClock{t: time.Now().UTC()}, authOn: !o.authOff}
	tk, err := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), "streamhouse", "api", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tk = tk.WithClock(e.clock.Now)
	pricing, err := billing.DefaultPricing()
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.AuthenticatorConfig{Accounts: o.store, Tokens: tk, Pepper: testPepper, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	authenticate := authn.HTTP
	if o.authOff {
		def, err := o.store.CreateTenant(t.Context(), "default")
		if err != nil {
			t.Fatal(err)
		}
		authenticate = func(*http.Request) (auth.Principal, error) { return auth.Anonymous(def.ID), nil }
	}
	h, err := New(Config{Store: o.store, Tokens: tk, Pepper: testPepper, Pricing: pricing, Authenticate: authenticate,
		AuthEnabled: !o.authOff, Now: e.clock.Now, MaxBodyBytes: o.maxBody})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h) // 127.0.0.1:0
	t.Cleanup(e.srv.Close)
	return e
}

// resp is an answer: its status, headers and body.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// errCode returns the error body's code.
func (r resp) errCode() string {
	var b struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Code
}

func (r resp) String() string { return http.StatusText(r.status) + " " + string(r.body) }

// call sends a request with the credential (if any) and a raw body.
func (e *env) call(method, path, cred, body string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	hr, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer hr.Body.Close()
	b, err := io.ReadAll(hr.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{hr.StatusCode, hr.Header, b}
}

// do sends v as JSON.
func (e *env) do(method, path, cred string, v any) resp {
	e.t.Helper()
	body := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			e.t.Fatal(err)
		}
		body = string(b)
	}
	return e.call(method, path, cred, body)
}

// want checks the status and decodes the body into out (if not nil).
func (e *env) want(r resp, status int, out any) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields() // the documented shape, no more
		if err := dec.Decode(out); err != nil {
			e.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// The documented shapes, decoded strictly.
type orgOut struct {
	ID          int64          `json:"id"`
	Name        string         `json:"name"`
	DisplayName string         `json:"display_name"`
	Plan        string         `json:"plan"`
	Status      string         `json:"status"`
	Limits      billing.Limits `json:"limits"`
}

type userOut struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

type sessionOut struct {
	User         userOut `json:"user"`
	Organization orgOut  `json:"organization"`
	Role         string  `json:"role"`
	AccessToken  string  `json:"access_token"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    int64   `json:"expires_in"`
	RefreshToken string  `json:"refresh_token"`
}

type meOut struct {
	Organization orgOut   `json:"organization"`
	Role         string   `json:"role"`
	User         *userOut `json:"user"`
	KeyID        string   `json:"key_id"`
	Auth         bool     `json:"auth"`
}

type keyOut struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  int64      `json:"created_by"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

type newKeyOut struct {
	Key    keyOut `json:"key"`
	Secret string `json:"secret"`
}

type memberOut struct {
	User      int64     `json:"user"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

type auditOut struct {
	Events []struct {
		ID     int64     `json:"id"`
		At     time.Time `json:"at"`
		Actor  string    `json:"actor"`
		Action string    `json:"action"`
		Target string    `json:"target"`
		Detail string    `json:"detail"`
	} `json:"events"`
	NextBefore int64 `json:"next_before"`
}

// signup creates an organization and returns the owner's session.
func (e *env) signup(email, org string) sessionOut {
	e.t.Helper()
	var s sessionOut
	e.want(e.do("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": "correct horse", "organization": org}), http.StatusCreated, &s)
	return s
}

// key creates an API key and returns it.
func (e *env) key(cred, name, role string) newKeyOut {
	e.t.Helper()
	var k newKeyOut
	e.want(e.do("POST", "/api/v1/keys", cred, map[string]any{"name": name, "role": role}), http.StatusCreated, &k)
	return k
}

// member adds a member with a new user and logs them in.
func (e *env) member(owner, email, role, org string) (memberOut, sessionOut) {
	e.t.Helper()
	var m memberOut
	e.want(e.do("POST", "/api/v1/members", owner, map[string]string{"email": email, "role": role, "password": "member password"}), http.StatusCreated, &m)
	var s sessionOut
	e.want(e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": "member password", "organization": org}), http.StatusOK, &s)
	return m, s
}

// actions returns the audit log's actions, newest first.
func (e *env) actions(cred string) []string {
	e.t.Helper()
	var a auditOut
	e.want(e.call("GET", "/api/v1/audit?limit=1000", cred, ""), http.StatusOK, &a)
	out := make([]string, len(a.Events))
	for i, ev := range a.Events {
		out[i] = ev.Action
	}
	return out
}
