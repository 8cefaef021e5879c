// Package account serves the managed service's Account API over HTTP:
// sign-up, login, token refresh and logout; the caller's identity (me);
// the organization's settings and plan; API keys; members; the audit log;
// and billing (plans, usage, invoices). cmd mounts the one Handler at
// /api/v1/auth/, /api/v1/org, /api/v1/keys, /api/v1/members, /api/v1/audit
// and /api/v1/billing/ on the router's listener.
//
// Every authenticated endpoint authenticates through Config.Authenticate
// (the router's own: an API key or an access token) and checks the
// principal's role with auth.Principal.Can before it reads anything; every
// lookup is scoped by the principal's tenant, so another organization's
// key, member or event is not found (404), exactly like a missing one.
//
// Sessions: login and sign-up issue a short-lived access token (auth.Tokens)
// and a refresh token ("shr_", a session id and a 256-bit secret; only an
// HMAC of the secret is stored, in a registry Session). A refresh rotates:
// the old session is revoked and a new one made, and the role is re-read
// from the membership. Logout revokes the access token's session; the
// Authenticator then refuses the access token within its cache TTL.
//
// Quotas on API keys and members come from the organization's plan
// (billing.Plan.Check). The check and the create are two registry calls,
// so two creates racing at the limit may both pass; the registry has no
// conditional create to close that gap.
//
// With authentication off (the dev cell), sign-up, login, refresh and
// logout answer 404 and everything else acts as the anonymous owner of the
// default tenant.
package account
