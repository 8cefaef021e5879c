package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// RefreshPrefix starts every refresh token. A refresh token has the API
// key's layout ("shr_", a 12-character session id, a 43-character secret
// of 256 random bits, a 6-character CRC32 checksum, all base62), so secret
// scanners spot it the same way and a look-alike is refused without a
// lookup. The session id is the registry Session's ID; only HashSecret of
// the secret is stored.
const RefreshPrefix = "shr_"

// ErrMalformedRefresh: the string is not a refresh token.
var ErrMalformedRefresh = errors.New("malformed refresh token")

// RefreshToken is a new refresh token: Token goes to the client once,
// Session is the registry session's id, Secret is hashed for storage.
type RefreshToken struct {
	Token   string
	Session string
	Secret  string
}

// NewRefreshToken makes a token from the system's secure random source.
func NewRefreshToken() (RefreshToken, error) {
	id, err := randomBase62(keyIDLen)
	if err != nil {
		return RefreshToken{}, err
	}
	return refreshToken(id)
}

// NextRefreshToken makes the token that replaces one of session prev when
// it is rotated. Its session id is derived from prev (an HMAC keyed with
// pepper), so that two refreshes racing with one token both try to create
// the same session and the registry lets only one succeed (ErrExists for
// the other); its secret is random as always.
func NextRefreshToken(pepper []byte, prev string) (RefreshToken, error) {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("refresh rotation\x00" + prev))
	sum := m.Sum(nil)
	id := make([]byte, keyIDLen)
	for i := range id {
		id[i] = base62[sum[i]%62] // a public id: the slight bias costs nothing
	}
	return refreshToken(string(id))
}

func refreshToken(id string) (RefreshToken, error) {
	secret, err := randomBase62(keySecretLen)
	if err != nil {
		return RefreshToken{}, err
	}
	body := RefreshPrefix + id + secret
	return RefreshToken{Token: body + checksum(body), Session: id, Secret: secret}, nil
}

// ParseRefreshToken splits a refresh token into its session id and secret
// after checking its form and checksum.
func ParseRefreshToken(token string) (session, secret string, err error) {
	if len(token) != APIKeyLen || !strings.HasPrefix(token, RefreshPrefix) {
		return "", "", fmt.Errorf("%w: want %q and %d characters", ErrMalformedRefresh, RefreshPrefix, APIKeyLen)
	}
	for i := len(RefreshPrefix); i < len(token); i++ {
		if strings.IndexByte(base62, token[i]) < 0 {
			return "", "", fmt.Errorf("%w: character %d is not base62", ErrMalformedRefresh, i)
		}
	}
	body, sum := token[:len(token)-keySumLen], token[len(token)-keySumLen:]
	if checksum(body) != sum {
		return "", "", fmt.Errorf("%w: bad checksum", ErrMalformedRefresh)
	}
	rest := body[len(RefreshPrefix):]
	return rest[:keyIDLen], rest[keyIDLen:], nil
}
