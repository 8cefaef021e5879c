package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// userJSON is a user as the API shows one.
type userJSON struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

// sessionJSON answers sign-up, login and refresh.
type sessionJSON struct {
	User         userJSON      `json:"user"`
	Organization orgJSON       `json:"organization"`
	Role         registry.Role `json:"role"`
	AccessToken  string        `json:"access_token"`
	TokenType    string        `json:"token_type"`
	ExpiresIn    int64         `json:"expires_in"`
	RefreshToken string        `json:"refresh_token"`
}

// errBadLogin is the one answer to a wrong email or a wrong password, so
// that login does not tell which emails have accounts.
var errBadLogin = unauthenticated("wrong email or password")

// newSession stores a new refresh session of the user in the tenant and
// issues its access token.
func (h *Handler) newSession(ctx context.Context, u registry.User, tenant registry.Tenant, role registry.Role) (sessionJSON, error) {
	rt, err := auth.NewRefreshToken()
	if err != nil {
		return sessionJSON{}, err
	}
	return h.startSession(ctx, u, tenant, role, rt)
}

// startSession stores rt's session and issues its access token. A session
// id already taken gives registry.ErrExists.
func (h *Handler) startSession(ctx context.Context, u registry.User, tenant registry.Tenant, role registry.Role, rt auth.RefreshToken) (sessionJSON, error) {
	s := registry.Session{ID: rt.Session, User: u.ID, Tenant: tenant.ID, ExpiresAt: h.now().Add(h.cfg.RefreshTTL)}
	copy(s.Hash[:], auth.HashSecret(h.cfg.Pepper, rt.Secret))
	if _, err := h.cfg.Store.CreateSession(ctx, s); err != nil {
		return sessionJSON{}, fmt.Errorf("start session: %w", err)
	}
	tok, _, err := h.cfg.Tokens.Issue(u.ID, tenant.ID, role, rt.Session)
	if err != nil {
		return sessionJSON{}, err
	}
	org, err := h.org(ctx, tenant)
	if err != nil {
		return sessionJSON{}, err
	}
	return sessionJSON{User: userJSON{u.ID, u.Email}, Organization: org, Role: role, AccessToken: tok, TokenType: "Bearer",
		ExpiresIn: int64(h.cfg.Tokens.TTL() / time.Second), RefreshToken: rt.Token}, nil
}

// checkActive refuses a suspended organization.
func (h *Handler) checkActive(ctx context.Context, t registry.Tenant) error {
	st, err := h.cfg.Store.TenantSettings(ctx, t.ID)
	if err != nil {
		return err
	}
	if st.Status != registry.TenantActive {
		return forbidden("organization %s is %s", t.Name, st.Status)
	}
	return nil
}

// POST /api/v1/auth/signup
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email        string `json:"email"`
		Password     string `json:"password"`
		Organization string `json:"organization"`
		DisplayName  string `json:"display_name"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := registry.ValidateEmail(req.Email); err != nil {
		return err
	}
	if err := auth.ValidatePassword(req.Password); err != nil {
		return invalid("invalid password: %v", err)
	}
	if err := registry.ValidateName(req.Organization); err != nil {
		return fmt.Errorf("organization: %w", err)
	}
	if len(req.DisplayName) > registry.MaxDisplayNameLen {
		return invalid("invalid display_name: %d bytes, at most %d", len(req.DisplayName), registry.MaxDisplayNameLen)
	}
	ctx := r.Context()
	// Checked before anything is written, so that a taken email does not
	// leave an organization behind (a race past these checks can).
	if _, err := h.cfg.Store.UserByEmail(ctx, req.Email); err == nil {
		return fmt.Errorf("email %s is taken: %w", req.Email, registry.ErrExists)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if _, err := h.cfg.Store.TenantByName(ctx, req.Organization); err == nil {
		return fmt.Errorf("organization %q is taken: %w", req.Organization, registry.ErrExists)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	tenant, err := h.cfg.Store.CreateTenant(ctx, req.Organization)
	if err != nil {
		return err
	}
	u, err := h.cfg.Store.CreateUser(ctx, req.Email, hash)
	if err != nil {
		return err
	}
	if _, err := h.cfg.Store.AddMember(ctx, tenant.ID, u.ID, registry.RoleOwner); err != nil {
		return err
	}
	display := req.DisplayName
	if display == "" {
		display = tenant.Name
	}
	if _, err := h.cfg.Store.SetTenantSettings(ctx, tenant.ID, registry.TenantSettings{DisplayName: display,
		Plan: h.cfg.Pricing.DefaultPlan, Status: registry.TenantActive}); err != nil {
		return err
	}
	out, err := h.newSession(ctx, u, tenant, registry.RoleOwner)
	if err != nil {
		return err
	}
	h.audit(ctx, auth.Principal{Tenant: tenant.ID, User: u.ID}, "auth.signup", "user:"+fmt.Sprint(u.ID), u.Email)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// POST /api/v1/auth/login
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email        string `json:"email"`
		Password     string `json:"password"`
		Organization string `json:"organization"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return invalid("email and password are required")
	}
	ctx := r.Context()
	u, err := h.cfg.Store.UserByEmail(ctx, req.Email)
	if errors.Is(err, registry.ErrNotFound) {
		_ = auth.VerifyPassword(h.dummyHash, req.Password) // as long as a real check
		return errBadLogin
	}
	if err != nil {
		return err
	}
	if err := auth.VerifyPassword(u.PasswordHash, req.Password); errors.Is(err, auth.ErrPasswordMismatch) {
		return errBadLogin
	} else if err != nil {
		return fmt.Errorf("login of user %d: %w", u.ID, err)
	}
	ms, err := h.cfg.Store.Memberships(ctx, u.ID)
	if err != nil {
		return err
	}
	// The organization asked for, or else the first membership.
	var m *registry.Member
	if req.Organization == "" && len(ms) > 0 {
		m = &ms[0]
	} else if req.Organization != "" {
		t, err := h.cfg.Store.TenantByName(ctx, req.Organization)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		for i := range ms {
			if err == nil && ms[i].Tenant == t.ID {
				m = &ms[i]
			}
		}
	}
	if m == nil {
		if req.Organization != "" {
			return forbidden("you are not a member of organization %q", req.Organization)
		}
		return forbidden("you are not a member of any organization")
	}
	tenant, err := h.cfg.Store.Tenant(ctx, m.Tenant)
	if err != nil {
		return err
	}
	if err := h.checkActive(ctx, tenant); err != nil {
		return err
	}
	out, err := h.newSession(ctx, u, tenant, m.Role)
	if err != nil {
		return err
	}
	h.audit(ctx, auth.Principal{Tenant: tenant.ID, User: u.ID}, "auth.login", "user:"+fmt.Sprint(u.ID), u.Email)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// POST /api/v1/auth/refresh
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return invalid("refresh_token is required")
	}
	sid, secret, err := auth.ParseRefreshToken(req.RefreshToken)
	if err != nil {
		return unauthenticated(err.Error())
	}
	ctx := r.Context()
	s, err := h.cfg.Store.Session(ctx, sid)
	if errors.Is(err, registry.ErrNotFound) {
		return unauthenticated("unknown refresh token")
	}
	if err != nil {
		return err
	}
	now := h.now()
	switch {
	case !auth.SecretMatches(h.cfg.Pepper, secret, s.Hash[:]):
		return unauthenticated("unknown refresh token")
	case !s.RevokedAt.IsZero():
		return unauthenticated("refresh token already used or logged out")
	case !now.Before(s.ExpiresAt):
		return unauthenticated("refresh token expired; log in again")
	}
	ms, err := h.cfg.Store.Memberships(ctx, s.User)
	if err != nil {
		return err
	}
	var role registry.Role
	for _, m := range ms {
		if m.Tenant == s.Tenant {
			role = m.Role
		}
	}
	if role == "" {
		return unauthenticated("no longer a member of the organization")
	}
	tenant, err := h.cfg.Store.Tenant(ctx, s.Tenant)
	if err != nil {
		return err
	}
	if err := h.checkActive(ctx, tenant); err != nil {
		return err
	}
	u, err := h.cfg.Store.User(ctx, s.User)
	if err != nil {
		return err
	}
	// Rotate. The new session's id is derived from the old one's, so of
	// two refreshes racing with one token only the first to create it goes
	// on; then the old session is revoked.
	next, err := auth.NextRefreshToken(h.cfg.Pepper, sid)
	if err != nil {
		return err
	}
	out, err := h.startSession(ctx, u, tenant, role, next)
	if errors.Is(err, registry.ErrExists) {
		return unauthenticated("refresh token already used")
	}
	if err != nil {
		return err
	}
	if err := h.cfg.Store.RevokeSession(ctx, sid, now); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// POST /api/v1/auth/logout
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Session == "" {
		return invalid("logout ends an access token's session; an API key is revoked with DELETE /api/v1/keys/{id}")
	}
	if err := h.cfg.Store.RevokeSession(r.Context(), p.Session, h.now()); err != nil {
		return err
	}
	h.audit(r.Context(), p, "auth.logout", "user:"+fmt.Sprint(p.User), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
