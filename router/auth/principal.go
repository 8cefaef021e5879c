package auth

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/streamhouse/streamhouse/registry"
)

// Principal is who a request acts as, once authenticated: a user (through
// an access token) or a program (through an API key), always inside one
// organization (Tenant) with one role. Every lookup a request makes is
// scoped by Tenant; every action is checked against Role with Allows.
type Principal struct {
	Tenant int64
	Role   registry.Role
	// User is the user's id for an access token; 0 for an API key.
	User int64
	// KeyID is the API key's public id; "" for an access token.
	KeyID string
	// Session is the access token's session id (its refresh session); ""
	// for an API key.
	Session string
}

// Anonymous is the principal of a cell that runs with authentication off
// (`streamhouse dev --auth=false`): everything, in the one tenant.
func Anonymous(tenant int64) Principal {
	return Principal{Tenant: tenant, Role: registry.RoleOwner}
}

// Actor names the principal in the audit log: "user:12", "key:<id>", or
// "anonymous".
func (p Principal) Actor() string {
	switch {
	case p.User > 0:
		return fmt.Sprintf("user:%d", p.User)
	case p.KeyID != "":
		return "key:" + p.KeyID
	}
	return "anonymous"
}

// Can returns nil if the principal's role allows a, else an error that
// names the role and the action ("role viewer may not produce"); edges map
// it to 403.
func (p Principal) Can(a Action) error {
	if Allows(p.Role, a) {
		return nil
	}
	return &ForbiddenError{Role: p.Role, Action: a}
}

// ForbiddenError is a refusal by role, or, when Reason is set, of the
// whole organization (it is suspended): 403 either way.
type ForbiddenError struct {
	Role   registry.Role
	Action Action
	// Reason, when set, is the message instead of the role's ("organization
	// 3 is suspended").
	Reason string
}

func (e *ForbiddenError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("role %s may not %s", e.Role, e.Action)
}

// ErrUnauthenticated wraps every failure to authenticate (no credential, a
// malformed, unknown, expired or revoked one); edges map it to 401. The
// wrapping error says which, without echoing the credential.
var ErrUnauthenticated = errors.New("unauthenticated")

// HTTPStatus is 403, for edges that map errors by status (the schema
// registry).
func (e *ForbiddenError) HTTPStatus() int { return http.StatusForbidden }
