package account

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// memberJSON is a membership as the API shows one.
type memberJSON struct {
	User      int64         `json:"user"`
	Email     string        `json:"email"`
	Role      registry.Role `json:"role"`
	CreatedAt time.Time     `json:"created_at"`
}

func toMemberJSON(m registry.Member) memberJSON {
	return memberJSON{User: m.User, Email: m.Email, Role: m.Role, CreatedAt: m.CreatedAt}
}

// GET /api/v1/members
func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ms, err := h.cfg.Store.Members(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = toMemberJSON(m)
	}
	writeJSON(w, http.StatusOK, struct {
		Members []memberJSON `json:"members"`
	}{out})
	return nil
}

// POST /api/v1/members {"email","role","password"?}
func (h *Handler) addMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Email    string  `json:"email"`
		Role     string  `json:"role"`
		Password *string `json:"password"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := registry.ValidateEmail(req.Email); err != nil {
		return err
	}
	role, err := registry.ParseRole(req.Role)
	if err != nil {
		return err
	}
	if req.Password != nil {
		if err := auth.ValidatePassword(*req.Password); err != nil {
			return invalid("invalid password: %v", err)
		}
	}
	ctx := r.Context()
	_, plan, err := h.plan(ctx, p.Tenant)
	if err != nil {
		return err
	}
	ms, err := h.cfg.Store.Members(ctx, p.Tenant)
	if err != nil {
		return err
	}
	if err := plan.Check(billing.QuotaMembers, int64(len(ms)), 1); err != nil {
		return err
	}
	u, err := h.cfg.Store.UserByEmail(ctx, req.Email)
	switch {
	case errors.Is(err, registry.ErrNotFound) && req.Password == nil:
		return notFound("no user has the email %s: give a password to create one", req.Email)
	case errors.Is(err, registry.ErrNotFound):
		hash, err := auth.HashPassword(*req.Password)
		if err != nil {
			return err
		}
		if u, err = h.cfg.Store.CreateUser(ctx, req.Email, hash); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	m, err := h.cfg.Store.AddMember(ctx, p.Tenant, u.ID, role)
	if errors.Is(err, registry.ErrExists) {
		return fmt.Errorf("%s is already a member: %w", u.Email, registry.ErrExists)
	}
	if err != nil {
		return err
	}
	m.Email = u.Email
	h.audit(ctx, p, "member.add", "user:"+strconv.FormatInt(u.ID, 10), fmt.Sprintf("%s as %s", u.Email, role))
	writeJSON(w, http.StatusCreated, toMemberJSON(m))
	return nil
}

// memberParam parses the {user} path segment.
func memberParam(r *http.Request) (int64, error) {
	s := r.PathValue("user")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("invalid user id %q: want a positive integer", s)
	}
	return id, nil
}

// PATCH /api/v1/members/{user} {"role"}
func (h *Handler) setMemberRole(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	user, err := memberParam(r)
	if err != nil {
		return err
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	role, err := registry.ParseRole(req.Role)
	if err != nil {
		return err
	}
	m, err := h.cfg.Store.SetMemberRole(r.Context(), p.Tenant, user, role)
	if err != nil {
		return err
	}
	h.audit(r.Context(), p, "member.role", "user:"+strconv.FormatInt(user, 10), string(role))
	writeJSON(w, http.StatusOK, toMemberJSON(m))
	return nil
}

// DELETE /api/v1/members/{user}
func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	user, err := memberParam(r)
	if err != nil {
		return err
	}
	if err := h.cfg.Store.RemoveMember(r.Context(), p.Tenant, user); err != nil {
		return err
	}
	h.audit(r.Context(), p, "member.remove", "user:"+strconv.FormatInt(user, 10), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
