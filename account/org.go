package account

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// orgJSON is an organization as the API shows one.
type orgJSON struct {
	ID          int64                 `json:"id"`
	Name        string                `json:"name"`
	DisplayName string                `json:"display_name"`
	Plan        string                `json:"plan"`
	Status      registry.TenantStatus `json:"status"`
	Limits      billing.Limits        `json:"limits"`
}

// plan returns the tenant's settings and its plan.
func (h *Handler) plan(ctx context.Context, tenant int64) (registry.TenantSettings, *billing.Plan, error) {
	st, err := h.cfg.Store.TenantSettings(ctx, tenant)
	if err != nil {
		return registry.TenantSettings{}, nil, err
	}
	plan, err := h.cfg.Pricing.Plan(st.Plan)
	if err != nil {
		return registry.TenantSettings{}, nil, fmt.Errorf("organization %d: %w", tenant, err)
	}
	return st, plan, nil
}

func (h *Handler) org(ctx context.Context, t registry.Tenant) (orgJSON, error) {
	st, plan, err := h.plan(ctx, t.ID)
	if err != nil {
		return orgJSON{}, err
	}
	return orgJSON{ID: t.ID, Name: t.Name, DisplayName: st.DisplayName, Plan: st.Plan, Status: st.Status, Limits: plan.Limits}, nil
}

// orgOf returns the principal's organization.
func (h *Handler) orgOf(ctx context.Context, p auth.Principal) (orgJSON, error) {
	t, err := h.cfg.Store.Tenant(ctx, p.Tenant)
	if err != nil {
		return orgJSON{}, err
	}
	return h.org(ctx, t)
}

// GET /api/v1/auth/me
func (h *Handler) me(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	org, err := h.orgOf(r.Context(), p)
	if err != nil {
		return err
	}
	var user *userJSON
	if p.User > 0 {
		u, err := h.cfg.Store.User(r.Context(), p.User)
		if err != nil {
			return err
		}
		user = &userJSON{u.ID, u.Email}
	}
	writeJSON(w, http.StatusOK, struct {
		Organization orgJSON       `json:"organization"`
		Role         registry.Role `json:"role"`
		User         *userJSON     `json:"user"`
		KeyID        string        `json:"key_id"`
		Auth         bool          `json:"auth"`
	}{org, p.Role, user, p.KeyID, h.cfg.AuthEnabled})
	return nil
}

// GET /api/v1/org
func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	org, err := h.orgOf(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, org)
	return nil
}

// PATCH /api/v1/org {"display_name"}
func (h *Handler) patchOrg(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		DisplayName string `json:"display_name"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.DisplayName) == "" {
		return invalid("display_name is required")
	}
	ctx := r.Context()
	st, err := h.cfg.Store.TenantSettings(ctx, p.Tenant)
	if err != nil {
		return err
	}
	old := st.DisplayName
	st.DisplayName = req.DisplayName
	if _, err := h.cfg.Store.SetTenantSettings(ctx, p.Tenant, st); err != nil {
		return err
	}
	h.audit(ctx, p, "org.update", "display_name", fmt.Sprintf("%q -> %q", old, req.DisplayName))
	return h.getOrg(w, r, p)
}

// PUT /api/v1/org/plan {"plan"}
func (h *Handler) putPlan(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Plan string `json:"plan"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if _, err := h.cfg.Pricing.Plan(req.Plan); err != nil {
		names := make([]string, len(h.cfg.Pricing.Plans))
		for i, pl := range h.cfg.Pricing.Plans {
			names[i] = pl.Name
		}
		return invalid("unknown plan %q: want one of %s", req.Plan, strings.Join(names, ", "))
	}
	ctx := r.Context()
	st, err := h.cfg.Store.TenantSettings(ctx, p.Tenant)
	if err != nil {
		return err
	}
	old := st.Plan
	st.Plan = req.Plan
	if _, err := h.cfg.Store.SetTenantSettings(ctx, p.Tenant, st); err != nil {
		return err
	}
	h.audit(ctx, p, "org.plan", req.Plan, old+" -> "+req.Plan)
	return h.getOrg(w, r, p)
}
