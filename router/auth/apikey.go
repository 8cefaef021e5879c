package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// APIKeyPrefix starts every API key.
const APIKeyPrefix = "shk_"

// Lengths of an API key's parts, in base62 characters.
const (
	keyIDLen     = 12 // ~71 bits: unique ids without coordination
	keySecretLen = 43 // 43 × log2(62) ≈ 256.03 bits
	keySumLen    = 6  // CRC32 in base62
	// APIKeyLen is the length of a whole key.
	APIKeyLen = len(APIKeyPrefix) + keyIDLen + keySecretLen + keySumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformedKey: the string is not an API key (wrong prefix, length,
// alphabet or checksum). It says nothing about whether a key exists.
var ErrMalformedKey = errors.New("malformed API key")

// APIKey is a new key: Token is shown to its owner once; ID is its public
// id (stored, shown in lists); only HashSecret of Secret is stored.
type APIKey struct {
	Token  string
	ID     string
	Secret string
}

// NewAPIKey makes a key from the system's secure random source.
func NewAPIKey() (APIKey, error) {
	id, err := randomBase62(keyIDLen)
	if err != nil {
		return APIKey{}, err
	}
	secret, err := randomBase62(keySecretLen)
	if err != nil {
		return APIKey{}, err
	}
	body := APIKeyPrefix + id + secret
	return APIKey{Token: body + checksum(body), ID: id, Secret: secret}, nil
}

// ParseAPIKey splits a key into its public id and secret after checking its
// form and checksum.
func ParseAPIKey(token string) (id, secret string, err error) {
	if len(token) != APIKeyLen || !strings.HasPrefix(token, APIKeyPrefix) {
		return "", "", fmt.Errorf("%w: want %q and %d characters", ErrMalformedKey, APIKeyPrefix, APIKeyLen)
	}
	for i := len(APIKeyPrefix); i < len(token); i++ {
		if strings.IndexByte(base62, token[i]) < 0 {
			return "", "", fmt.Errorf("%w: character %d is not base62", ErrMalformedKey, i)
		}
	}
	body, sum := token[:len(token)-keySumLen], token[len(token)-keySumLen:]
	if checksum(body) != sum {
		return "", "", fmt.Errorf("%w: bad checksum", ErrMalformedKey)
	}
	rest := body[len(APIKeyPrefix):]
	return rest[:keyIDLen], rest[keyIDLen:], nil
}

// HashSecret is what the registry stores of a key's secret: HMAC-SHA-256
// keyed with pepper (the service's secret, so that a copy of the registry
// alone cannot check guesses).
func HashSecret(pepper []byte, secret string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// SecretMatches compares a presented secret with a stored hash in constant
// time.
func SecretMatches(pepper []byte, secret string, stored []byte) bool {
	return hmac.Equal(HashSecret(pepper, secret), stored)
}

// checksum is the CRC32 (IEEE) of s in keySumLen base62 characters.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var b [keySumLen]byte
	for i := keySumLen - 1; i >= 0; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return string(b[:])
}

// randomBase62 returns n uniform base62 characters (rejection sampling: a
// byte ≥ 248 would bias the first characters).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}
