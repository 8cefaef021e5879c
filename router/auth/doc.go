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
// HS256 accepted; each names its refresh session ("sid"). Refresh tokens
// have the API key's layout with the prefix "shr_" and the session id in
// place of the key id; a rotation derives the next session id from the
// previous one, so a refresh token is used at most once even under races.
//
// The Authenticator (authenticator.go) turns a credential into a Principal
// for the HTTP, WebSocket and gRPC edges. It caches each success for
// CacheTTL (5 s by default), so a revoked key, a logout, a role change or a
// suspension applies within that time, not at once.
package auth
