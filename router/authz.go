package router

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/streamhouse/streamhouse/router/auth"
	"github.com/streamhouse/streamhouse/wire"
)

// Every entry point (HTTP handler, WebSocket upgrade, gRPC method) first
// authenticates (Config.Authenticate, GRPCConfig.Authenticate), then
// checks the principal's role for the call's action (auth.Principal.Can),
// and only then reads anything; every look-up after that is scoped by the
// principal's Tenant, so another organization's resource is not found,
// exactly as a missing one.

// Anonymous is Config.Authenticate for a cell with authentication off
// (`streamhouse dev`) and for tests: every request is auth.Anonymous(tenant),
// the owner of the one tenant.
func Anonymous(tenant int64) func(*http.Request) (auth.Principal, error) {
	p := auth.Anonymous(tenant)
	return func(*http.Request) (auth.Principal, error) { return p, nil }
}

// AnonymousGRPC is Anonymous for GRPCConfig.Authenticate.
func AnonymousGRPC(tenant int64) func(context.Context) (auth.Principal, error) {
	p := auth.Anonymous(tenant)
	return func(context.Context) (auth.Principal, error) { return p, nil }
}

// authorize authenticates r and checks that its principal may do act.
func (rt *Router) authorize(r *http.Request, act auth.Action) (auth.Principal, error) {
	p, err := rt.cfg.Authenticate(r)
	if err != nil {
		return auth.Principal{}, err
	}
	return p, p.Can(act)
}

// authCode classifies the errors of authentication, permission and quota
// (ok false for any other): the code, per the error table, and the message,
// which is the error's own (it names the quota and the limit, the role and
// the action, or what was wrong with the credential, never the credential).
func authCode(err error) (wire.Code, string, bool) {
	var forbidden *auth.ForbiddenError
	var refusal QuotaRefusal
	switch {
	case errors.As(err, &refusal):
		switch refusal.HTTPStatus() {
		case http.StatusTooManyRequests:
			return wire.Busy, refusal.Error(), true
		case http.StatusRequestEntityTooLarge:
			return wire.TooLarge, refusal.Error(), true
		}
		return wire.Forbidden, refusal.Error(), true
	case errors.As(err, &forbidden):
		return wire.Forbidden, forbidden.Error(), true
	case errors.Is(err, auth.ErrUnauthenticated):
		// The code says "unauthenticated" already; the message says why.
		return wire.Unauthenticated, strings.TrimPrefix(err.Error(), auth.ErrUnauthenticated.Error()+": "), true
	}
	return 0, "", false
}

// retryAfter is a 429 quota refusal's wait (ok false for anything else):
// what Retry-After says, in whole seconds rounded up, at least 1.
func retryAfter(err error) (time.Duration, bool) {
	var refusal QuotaRefusal
	if !errors.As(err, &refusal) || refusal.HTTPStatus() != http.StatusTooManyRequests {
		return 0, false
	}
	return refusal.RetryAfterDuration(), true
}

// retryAfterSeconds is the Retry-After value of a wait.
func retryAfterSeconds(d time.Duration) string {
	s := math.Ceil(d.Seconds())
	return strconv.FormatInt(max(int64(s), 1), 10)
}

// authHeaders sets the headers a refusal carries: WWW-Authenticate on a
// 401 (RFC 6750 §3), Retry-After on a rate quota's 429.
func authHeaders(h http.Header, status int, err error) {
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", "Bearer")
	}
	if d, ok := retryAfter(err); ok {
		h.Set("Retry-After", retryAfterSeconds(d))
	}
}
