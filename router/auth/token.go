package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamhouse/streamhouse/registry"
)

// accessTokenType is the JWT "typ" header of access tokens (RFC 9068), so
// that no other JWT signed with the same key passes as one (RFC 8725 3.11).
const accessTokenType = "at+jwt"

// MinTokenKeyLen is the shortest signing key accepted: HS256 wants at least
// the hash's 32 bytes (RFC 7518 3.2).
const MinTokenKeyLen = 32

// ErrInvalidToken: the token is malformed, badly signed, of another type,
// issuer or audience, expired or not yet valid. The wrapped error says which.
var ErrInvalidToken = errors.New("invalid access token")

// Claims are what an access token says: who (User) acts in which
// organization (Tenant) with which role, in which refresh session, until
// when.
type Claims struct {
	User   int64
	Tenant int64
	Role   registry.Role
	// Session is the id of the refresh session the token was issued in
	// (claim "sid"): logging out revokes it, and the Authenticator refuses
	// the token once it sees the revocation.
	Session string
	// ID is the token's unique id (jti), for the audit log.
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewTokens returns an issuer of tokens signed with key (at least
// MinTokenKeyLen bytes), valid for ttl, naming issuer and audience.
func NewTokens(key []byte, issuer, audience string, ttl time.Duration) (*Tokens, error) {
	switch {
	case len(key) < MinTokenKeyLen:
		return nil, fmt.Errorf("token signing key of %d bytes: at least %d required", len(key), MinTokenKeyLen)
	case issuer == "" || audience == "":
		return nil, errors.New("token issuer and audience are required")
	case ttl <= 0 || ttl > 24*time.Hour:
		return nil, fmt.Errorf("token lifetime %s: want more than 0 and at most 24h", ttl)
	}
	return &Tokens{key: key, issuer: issuer, audience: audience, ttl: ttl, now: time.Now}, nil
}

// WithClock returns a copy of t that reads the time from now: tests and
// callers with a clock of their own (the account API's Now) issue and
// verify against it.
func (t *Tokens) WithClock(now func() time.Time) *Tokens {
	c := *t
	c.now = now
	return &c
}

// TTL is how long an issued token is valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

type jwtClaims struct {
	jwt.RegisteredClaims
	Tenant  int64         `json:"org"`
	Role    registry.Role `json:"role"`
	Session string        `json:"sid"`
}

// Issue signs a token for the user acting in tenant with role, in the
// refresh session with the id session (a valid registry token id).
func (t *Tokens) Issue(user, tenant int64, role registry.Role, session string) (string, Claims, error) {
	if err := registry.ValidateTokenID(session); err != nil {
		return "", Claims{}, fmt.Errorf("issue access token: session: %w", err)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", Claims{}, fmt.Errorf("random token id: %w", err)
	}
	now := t.now().Truncate(time.Second)
	c := Claims{User: user, Tenant: tenant, Role: role, Session: session, ID: base64.RawURLEncoding.EncodeToString(jti[:]),
		IssuedAt: now, ExpiresAt: now.Add(t.ttl)}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.issuer, Audience: jwt.ClaimStrings{t.audience}, Subject: fmt.Sprint(user),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt), ID: c.ID,
		},
		Tenant: tenant, Role: role, Session: session,
	})
	tok.Header["typ"] = accessTokenType
	s, err := tok.SignedString(t.key)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, c, nil
}

// Verify checks a token's signature (HS256 only), type, issuer, audience
// and times, and returns its claims.
func (t *Tokens) Verify(token string) (Claims, error) {
	var c jwtClaims
	_, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != accessTokenType {
			return nil, fmt.Errorf("token type %q, want %q", typ, accessTokenType)
		}
		return t.key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer), jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second), jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var user int64
	if _, err := fmt.Sscan(c.Subject, &user); err != nil || user <= 0 || c.Tenant <= 0 || c.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: missing subject or organization", ErrInvalidToken)
	}
	if registry.ValidateTokenID(c.Session) != nil {
		return Claims{}, fmt.Errorf("%w: missing or malformed session id", ErrInvalidToken)
	}
	if _, err := registry.ParseRole(string(c.Role)); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return Claims{User: user, Tenant: c.Tenant, Role: c.Role, Session: c.Session, ID: c.RegisteredClaims.ID,
		IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time}, nil
}
