package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/streamhouse/streamhouse/registry"
)

// MaxCredentialLen is the longest credential looked at, in bytes: an API
// key is 65, an access token a few hundred.
const MaxCredentialLen = 4096

// AuthenticatorConfig configures an Authenticator.
type AuthenticatorConfig struct {
	// Accounts finds API keys, sessions, memberships and the tenant's
	// status. Required.
	Accounts registry.Accounts
	// Tokens verifies access tokens. Required.
	Tokens *Tokens
	// Pepper keys the hash of API key secrets (HashSecret); at least
	// MinTokenKeyLen bytes. Required.
	Pepper []byte
	// CacheTTL is how long a successful authentication is reused without
	// reading the registry. It is also how long a revoked key, a logged-out
	// session, a role change or a suspension may take to apply. Default 5 s.
	CacheTTL time.Duration
	// CacheEntries bounds the cache (and the table of recent key touches).
	// Default 10,000.
	CacheEntries int
	// TouchEvery is how often, at most, a key's last-used time is written.
	// Default one minute.
	TouchEvery time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger logs failed last-used writes (they do not fail the request).
	// Default: discard.
	Logger *slog.Logger
}

// Authenticator turns a request's credential (an API key or an access
// token) into a Principal. It is safe for concurrent use and starts no
// goroutine.
//
// An API key is checked by form and checksum first (a look-alike costs no
// lookup), then found by its public id, its secret compared with the
// stored HMAC, and its revocation and expiry checked. An access token is
// verified (signature, type, issuer, audience, times), then its session must
// exist, match it and be live, and the user must still be a member: the
// role is the membership's current one. Either way the organization must
// be active. Success is cached for CacheTTL under a SHA-256 of the
// credential, so the produce path does not read the registry per request.
type Authenticator struct {
	cfg AuthenticatorConfig
	mu  struct {
		sync.Mutex // never held across I/O
		entries    map[[sha256.Size]byte]cacheEntry
		touched    map[string]time.Time // API key id → last touch written by this process
	}
}

type cacheEntry struct {
	p     Principal
	until time.Time // the cache's expiry, never past the credential's
}

// NewAuthenticator checks cfg and applies its defaults.
func NewAuthenticator(cfg AuthenticatorConfig) (*Authenticator, error) {
	switch {
	case cfg.Accounts == nil:
		return nil, errors.New("authenticator: Accounts is required")
	case cfg.Tokens == nil:
		return nil, errors.New("authenticator: Tokens is required")
	case len(cfg.Pepper) < MinTokenKeyLen:
		return nil, fmt.Errorf("authenticator: key pepper of %d bytes: at least %d required", len(cfg.Pepper), MinTokenKeyLen)
	case cfg.CacheTTL < 0 || cfg.CacheEntries < 0 || cfg.TouchEvery < 0:
		return nil, errors.New("authenticator: negative CacheTTL, CacheEntries or TouchEvery")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	if cfg.CacheEntries == 0 {
		cfg.CacheEntries = 10_000
	}
	if cfg.TouchEvery == 0 {
		cfg.TouchEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Authenticator{cfg: cfg}
	a.mu.entries = make(map[[sha256.Size]byte]cacheEntry)
	a.mu.touched = make(map[string]time.Time)
	return a, nil
}

// unauthenticated wraps ErrUnauthenticated with a reason that never holds
// the credential.
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// Authenticate returns the principal of credential (an API key "shk_..."
// or an access token). A bad credential gives an error wrapping
// ErrUnauthenticated; a suspended organization a *ForbiddenError; a
// registry failure other than ErrNotFound is returned wrapped as it is
// (registry.IsUnavailable still sees it: the edge answers 503).
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (Principal, error) {
	switch {
	case credential == "":
		return Principal{}, unauthenticated("no credential: send Authorization: Bearer <API key or access token>")
	case len(credential) > MaxCredentialLen:
		return Principal{}, unauthenticated("credential of %d bytes: at most %d", len(credential), MaxCredentialLen)
	}
	now := a.cfg.Now()
	sum := sha256.Sum256([]byte(credential))
	if p, ok := a.cached(sum, now); ok {
		if p.KeyID != "" {
			a.touch(ctx, p.KeyID, time.Time{}, now)
		}
		return p, nil
	}
	var (
		p     Principal
		until time.Time
		err   error
	)
	if strings.HasPrefix(credential, APIKeyPrefix) {
		p, until, err = a.apiKey(ctx, credential, now)
	} else {
		p, until, err = a.accessToken(ctx, credential, now)
	}
	if err != nil {
		return Principal{}, err
	}
	if err := a.checkTenant(ctx, p.Tenant); err != nil {
		return Principal{}, err
	}
	if c := now.Add(a.cfg.CacheTTL); c.Before(until) {
		until = c
	}
	a.store(sum, cacheEntry{p: p, until: until}, now)
	return p, nil
}

func (a *Authenticator) apiKey(ctx context.Context, credential string, now time.Time) (Principal, time.Time, error) {
	id, secret, err := ParseAPIKey(credential)
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	k, err := a.cfg.Accounts.APIKey(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return Principal{}, time.Time{}, unauthenticated("unknown API key")
	}
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("authenticate: read API key: %w", err)
	}
	// An unknown id and a wrong secret read the same, so ids cannot be
	// probed.
	if !SecretMatches(a.cfg.Pepper, secret, k.Hash[:]) {
		return Principal{}, time.Time{}, unauthenticated("unknown API key")
	}
	if !k.RevokedAt.IsZero() {
		return Principal{}, time.Time{}, unauthenticated("API key %s is revoked", id)
	}
	until := now.Add(a.cfg.CacheTTL)
	if !k.ExpiresAt.IsZero() {
		if !now.Before(k.ExpiresAt) {
			return Principal{}, time.Time{}, unauthenticated("API key %s expired at %s", id, k.ExpiresAt.UTC().Format(time.RFC3339))
		}
		until = k.ExpiresAt
	}
	a.touch(ctx, id, k.LastUsedAt, now)
	return Principal{Tenant: k.Tenant, Role: k.Role, KeyID: id}, until, nil
}

func (a *Authenticator) accessToken(ctx context.Context, credential string, now time.Time) (Principal, time.Time, error) {
	c, err := a.cfg.Tokens.Verify(credential)
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	s, err := a.cfg.Accounts.Session(ctx, c.Session)
	if errors.Is(err, registry.ErrNotFound) {
		return Principal{}, time.Time{}, unauthenticated("the token's session does not exist")
	}
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("authenticate: read session: %w", err)
	}
	switch {
	case s.User != c.User || s.Tenant != c.Tenant:
		return Principal{}, time.Time{}, unauthenticated("the token does not match its session")
	case !s.RevokedAt.IsZero():
		return Principal{}, time.Time{}, unauthenticated("the token's session is revoked (logged out)")
	case !now.Before(s.ExpiresAt):
		return Principal{}, time.Time{}, unauthenticated("the token's session expired")
	}
	ms, err := a.cfg.Accounts.Memberships(ctx, c.User)
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("authenticate: read memberships: %w", err)
	}
	for _, m := range ms {
		if m.Tenant == c.Tenant {
			until := c.ExpiresAt
			if s.ExpiresAt.Before(until) {
				until = s.ExpiresAt
			}
			return Principal{Tenant: c.Tenant, Role: m.Role, User: c.User, Session: c.Session}, until, nil
		}
	}
	return Principal{}, time.Time{}, unauthenticated("user %d is no longer a member of organization %d", c.User, c.Tenant)
}

// checkTenant refuses a tenant that is gone or suspended.
func (a *Authenticator) checkTenant(ctx context.Context, tenant int64) error {
	st, err := a.cfg.Accounts.TenantSettings(ctx, tenant)
	if errors.Is(err, registry.ErrNotFound) {
		return unauthenticated("organization %d does not exist", tenant)
	}
	if err != nil {
		return fmt.Errorf("authenticate: read organization %d: %w", tenant, err)
	}
	if st.Status != registry.TenantActive {
		return &ForbiddenError{Reason: fmt.Sprintf("organization %d is %s", tenant, st.Status)}
	}
	return nil
}

// cached returns a live cache entry's principal.
func (a *Authenticator) cached(sum [sha256.Size]byte, now time.Time) (Principal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.mu.entries[sum]
	if !ok {
		return Principal{}, false
	}
	if !now.Before(e.until) {
		delete(a.mu.entries, sum)
		return Principal{}, false
	}
	return e.p, true
}

// store caches e. A full cache first drops its expired entries, then, if
// none was, one arbitrary entry: the bound holds under any load, and an
// evicted credential only costs one more lookup.
func (a *Authenticator) store(sum [sha256.Size]byte, e cacheEntry, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.mu.entries[sum]; !ok && len(a.mu.entries) >= a.cfg.CacheEntries {
		for k, old := range a.mu.entries {
			if !now.Before(old.until) {
				delete(a.mu.entries, k)
			}
		}
		for k := range a.mu.entries {
			if len(a.mu.entries) < a.cfg.CacheEntries {
				break
			}
			delete(a.mu.entries, k)
		}
	}
	a.mu.entries[sum] = e
}

// touch writes the key's last-used time when neither the stored one
// (stored; zero if unknown) nor this process's last write is within
// TouchEvery. It runs on the request, synchronously: at most one write a
// minute per key, and no goroutine to own. A failed write is logged, not
// returned: the key is valid whether or not its last use is recorded.
func (a *Authenticator) touch(ctx context.Context, id string, stored, now time.Time) {
	a.mu.Lock()
	last := a.mu.touched[id]
	if stored.After(last) {
		last = stored
	}
	due := last.IsZero() || now.Sub(last) >= a.cfg.TouchEvery
	if due {
		if len(a.mu.touched) >= a.cfg.CacheEntries {
			for k, t := range a.mu.touched {
				if now.Sub(t) >= a.cfg.TouchEvery {
					delete(a.mu.touched, k)
				}
			}
			if len(a.mu.touched) >= a.cfg.CacheEntries {
				clear(a.mu.touched) // only costs early writes
			}
		}
		a.mu.touched[id] = now
	} else if stored.After(a.mu.touched[id]) {
		a.mu.touched[id] = stored
	}
	a.mu.Unlock()
	if !due {
		return
	}
	if err := a.cfg.Accounts.TouchAPIKey(ctx, id, now); err != nil {
		a.cfg.Logger.WarnContext(ctx, "record API key use", "key", id, "err", err)
	}
}

// HTTP authenticates a request by its `Authorization: Bearer <credential>`
// header or, for a WebSocket upgrade without that header (browsers cannot
// set it), by its `access_token` query parameter.
func (a *Authenticator) HTTP(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" && isWebSocketUpgrade(r) {
		if c := r.URL.Query().Get("access_token"); c != "" {
			return a.Authenticate(r.Context(), c)
		}
	}
	c, err := bearer(h)
	if err != nil {
		return Principal{}, err
	}
	return a.Authenticate(r.Context(), c)
}

// GRPC authenticates a call by its `authorization: Bearer <credential>`
// metadata.
func (a *Authenticator) GRPC(ctx context.Context) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) > 1 {
		return Principal{}, unauthenticated("%d authorization values: send one", len(vals))
	}
	h := ""
	if len(vals) == 1 {
		h = vals[0]
	}
	c, err := bearer(h)
	if err != nil {
		return Principal{}, err
	}
	return a.Authenticate(ctx, c)
}

// bearer returns the credential of an "Bearer <credential>" value.
func bearer(h string) (string, error) {
	if h == "" {
		return "", unauthenticated("no credential: send Authorization: Bearer <API key or access token>")
	}
	scheme, c, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// The scheme is not echoed: a bare key sent without "Bearer " would
		// be its first word.
		return "", unauthenticated("the Authorization header is not \"Bearer <credential>\"")
	}
	return strings.TrimSpace(c), nil
}

// isWebSocketUpgrade reports whether r asks to become a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
