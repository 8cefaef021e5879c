// Package auth holds the credentials of the managed service, with no
// storage of its own (the registry keeps users, keys and sessions): API keys
// in a format that secret scanners can spot, argon2id password hashes, and
// short-lived access tokens (JWTs, RFC 8725's practices).
//
// API keys are for programs: "shk_", a 12-character public id, a
// 43-character secret (256 random bits) and a 6-character CRC32 checksum,
// all base62 — like GitHub's tokens, a leaked key is recognisable by its
// prefix and its checksum tells a real one from a look-alike without a
// lookup. Only a keyed hash of the secret is stored (HMAC-SHA-256 with the
// service's pepper): the secret is random and long, so a slow hash on every
// request would buy nothing.
//
// Passwords are for people, hashed with argon2id (OWASP's parameters).
// Access tokens are HS256 JWTs of a few minutes, explicitly typed
// ("at+jwt"), with issuer, audience, expiry and issued-at required, and only
// HS256 accepted.
package auth
