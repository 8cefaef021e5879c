package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamhouse/streamhouse/registry"
)

func TestAPIKeyFormat(t *testing.T) {
	seen := map[string]bool{}
	scanner := regexp.MustCompile(`^shk_[0-9A-Za-z]{61}$`) // what a secret scanner would match
	for range 200 {
		k, err := NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		if !scanner.MatchString(k.Token) || len(k.Token) != APIKeyLen {
			t.Fatalf("key %q does not match the documented form", k.Token)
		}
		if seen[k.ID] {
			t.Fatalf("id %s twice in 200 keys", k.ID)
		}
		seen[k.ID] = true
		id, secret, err := ParseAPIKey(k.Token)
		if err != nil || id != k.ID || secret != k.Secret {
			t.Fatalf("parse %q: %q %q %v", k.Token, id, secret, err)
		}
	}
	k, _ := NewAPIKey()
	// Every single-character change is caught by the form or the checksum.
	for i := len(APIKeyPrefix); i < len(k.Token); i++ {
		b := []byte(k.Token)
		b[i] = base62[(strings.IndexByte(base62, b[i])+1)%62]
		if _, _, err := ParseAPIKey(string(b)); !errors.Is(err, ErrMalformedKey) {
			t.Fatalf("changed character %d: %v, want ErrMalformedKey", i, err)
		}
	}
	for _, bad := range []string{"", "shk_", "ghp_" + k.Token[4:], k.Token + "x", k.Token[:APIKeyLen-1] + "!"} {
		if _, _, err := ParseAPIKey(bad); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("ParseAPIKey(%q): %v, want ErrMalformedKey", bad, err)
		}
	}
}

func TestSecretHash(t *testing.T) {
	k, _ := NewAPIKey()
	pepper := []byte("pepper-of-the-service")
	stored := HashSecret(pepper, k.Secret)
	if len(stored) != 32 || !SecretMatches(pepper, k.Secret, stored) {
		t.Fatal("the secret does not match its own hash")
	}
	if SecretMatches(pepper, k.Secret[:len(k.Secret)-1]+"0", stored) || SecretMatches([]byte("other pepper"), k.Secret, stored) {
		t.Fatal("a wrong secret or pepper matches")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not the documented PHC form", h)
	}
	if h2, _ := HashPassword("correct horse battery staple"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if err := VerifyPassword(h, "correct horse battery staple"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := VerifyPassword(h, "correct horse battery stapler"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	for _, pw := range []string{"short", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := HashPassword(pw); err == nil {
			t.Errorf("HashPassword of %d bytes: no error", len(pw))
		}
	}
	// A crafted hash asking for 4 GiB is refused, not computed.
	greedy := strings.Replace(h, "m=19456", "m=4194304", 1)
	if err := VerifyPassword(greedy, "correct horse battery staple"); err == nil || errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("hash with 4 GiB memory: %v, want a refusal", err)
	}
	if err := VerifyPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Fatal("non-argon2id hash accepted")
	}
}

func TestTokens(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tk, err := NewTokens(key, "streamhouse", "api", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tk.now = func() time.Time { return now }
	s, c, err := tk.Issue(12, 3, "admin", "sess1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tk.Issue(12, 3, "admin", ""); err == nil {
		t.Fatal("a token without a session issued")
	}
	got, err := tk.Verify(s)
	if err != nil || got.User != 12 || got.Tenant != 3 || got.Role != "admin" || got.Session != "sess1" || got.ID != c.ID || !got.ExpiresAt.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("verify: %+v, %v", got, err)
	}

	now = now.Add(16 * time.Minute)
	if _, err := tk.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
	now = now.Add(-16 * time.Minute)

	other, _ := NewTokens([]byte("another key, also 32 bytes long!!"), "streamhouse", "api", time.Minute)
	if _, err := other.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of another key: %v", err)
	}
	otherAud, _ := NewTokens(key, "streamhouse", "console", time.Minute)
	otherAud.now = tk.now
	if _, err := otherAud.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token for another audience: %v", err)
	}

	// RFC 8725: "none", another algorithm, or another type never pass.
	claims := jwt.MapClaims{"iss": "streamhouse", "aud": "api", "sub": "12", "org": 3, "role": "owner", "sid": "s1",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs512 := jwt.NewWithClaims(jwt.SigningMethodHS512, claims)
	hs512.Header["typ"] = accessTokenType
	s512, _ := hs512.SignedString(key)
	untyped, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key) // typ "JWT"
	noExp := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "streamhouse", "aud": "api", "sub": "12", "org": 3, "role": "owner", "iat": now.Unix()})
	noExp.Header["typ"] = accessTokenType
	sNoExp, _ := noExp.SignedString(key)
	root := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "streamhouse", "aud": "api", "sub": "12", "org": 3, "role": "root",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	root.Header["typ"] = accessTokenType
	sRoot, _ := root.SignedString(key)
	noSid := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "streamhouse", "aud": "api", "sub": "12", "org": 3, "role": "owner",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	noSid.Header["typ"] = accessTokenType
	sNoSid, _ := noSid.SignedString(key)
	for name, bad := range map[string]string{"none": none, "HS512": s512, "typ JWT": untyped, "no exp": sNoExp, "role root": sRoot,
		"no sid": sNoSid, "garbage": "a.b.c"} {
		if _, err := tk.Verify(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := NewTokens([]byte("short"), "i", "a", time.Minute); err == nil {
		t.Error("a 5-byte key accepted")
	}
}

func TestRefreshTokenFormat(t *testing.T) {
	scanner := regexp.MustCompile(`^shr_[0-9A-Za-z]{61}$`)
	rt, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if !scanner.MatchString(rt.Token) {
		t.Fatalf("refresh token %q does not match the documented form", rt.Token)
	}
	if err := registry.ValidateTokenID(rt.Session); err != nil {
		t.Fatalf("session id %q: %v", rt.Session, err)
	}
	sid, secret, err := ParseRefreshToken(rt.Token)
	if err != nil || sid != rt.Session || secret != rt.Secret {
		t.Fatalf("parse: %q %q %v", sid, secret, err)
	}
	// An API key is not a refresh token, nor a changed one.
	k, _ := NewAPIKey()
	b := []byte(rt.Token)
	b[20] = base62[(strings.IndexByte(base62, b[20])+1)%62]
	for _, bad := range []string{k.Token, string(b), "", rt.Token + "x"} {
		if _, _, err := ParseRefreshToken(bad); !errors.Is(err, ErrMalformedRefresh) {
			t.Errorf("ParseRefreshToken(%q): %v", bad, err)
		}
	}
	// A rotation's session id is fixed by the previous one and the pepper;
	// its secret is fresh.
	n1, _ := NextRefreshToken([]byte("pepper"), rt.Session)
	n2, _ := NextRefreshToken([]byte("pepper"), rt.Session)
	n3, _ := NextRefreshToken([]byte("other pepper"), rt.Session)
	if n1.Session != n2.Session || n1.Secret == n2.Secret || n1.Session == n3.Session || n1.Session == rt.Session {
		t.Fatalf("rotation ids %q %q %q from %q", n1.Session, n2.Session, n3.Session, rt.Session)
	}
	if _, _, err := ParseRefreshToken(n1.Token); err != nil || !scanner.MatchString(n1.Token) {
		t.Fatalf("rotated token %q: %v", n1.Token, err)
	}
}
