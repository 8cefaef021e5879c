package account

import (
	"fmt"
	"net/http"
	"time"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// keyJSON is an API key as the API shows one: never its secret or hash.
type keyJSON struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Role       registry.Role `json:"role"`
	CreatedAt  time.Time     `json:"created_at"`
	CreatedBy  int64         `json:"created_by"`
	ExpiresAt  *time.Time    `json:"expires_at"`
	RevokedAt  *time.Time    `json:"revoked_at"`
	LastUsedAt *time.Time    `json:"last_used_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toKeyJSON(k registry.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Role: k.Role, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy,
		ExpiresAt: optTime(k.ExpiresAt), RevokedAt: optTime(k.RevokedAt), LastUsedAt: optTime(k.LastUsedAt)}
}

// GET /api/v1/keys
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	keys, err := h.cfg.Store.ListAPIKeys(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = toKeyJSON(k)
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []keyJSON `json:"keys"`
	}{out})
	return nil
}

// POST /api/v1/keys {"name","role","expires_in_seconds"?}
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Name             string `json:"name"`
		Role             string `json:"role"`
		ExpiresInSeconds *int64 `json:"expires_in_seconds"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	role, err := registry.ParseRole(req.Role)
	if err != nil {
		return err
	}
	// Nobody hands out more than they hold (so only an owner grants owner).
	if !p.Role.AtLeast(role) {
		return forbidden("role %s may not create a key of role %s", p.Role, role)
	}
	now := h.now()
	var expires time.Time
	if req.ExpiresInSeconds != nil {
		s := *req.ExpiresInSeconds
		if s < 1 || s > int64(MaxKeyLifetime/time.Second) {
			return invalid("invalid expires_in_seconds %d: want 1 to %d (two years)", s, int64(MaxKeyLifetime/time.Second))
		}
		expires = now.Add(time.Duration(s) * time.Second)
	}
	ctx := r.Context()
	_, plan, err := h.plan(ctx, p.Tenant)
	if err != nil {
		return err
	}
	keys, err := h.cfg.Store.ListAPIKeys(ctx, p.Tenant)
	if err != nil {
		return err
	}
	live := int64(0) // revoked and expired keys do not count
	for _, k := range keys {
		if k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)) {
			live++
		}
	}
	if err := plan.Check(billing.QuotaAPIKeys, live, 1); err != nil {
		return err
	}
	nk, err := auth.NewAPIKey()
	if err != nil {
		return err
	}
	rk := registry.APIKey{ID: nk.ID, Tenant: p.Tenant, Name: req.Name, Role: role, ExpiresAt: expires, CreatedBy: p.User}
	copy(rk.Hash[:], auth.HashSecret(h.cfg.Pepper, nk.Secret))
	created, err := h.cfg.Store.CreateAPIKey(ctx, rk)
	if err != nil {
		return err
	}
	h.audit(ctx, p, "key.create", "key:"+created.ID, fmt.Sprintf("name %q, role %s", created.Name, created.Role))
	writeJSON(w, http.StatusCreated, struct {
		Key    keyJSON `json:"key"`
		Secret string  `json:"secret"`
	}{toKeyJSON(created), nk.Token})
	return nil
}

// DELETE /api/v1/keys/{id}
func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	if err := registry.ValidateTokenID(id); err != nil {
		return notFound("API key %q does not exist", id)
	}
	if err := h.cfg.Store.RevokeAPIKey(r.Context(), p.Tenant, id, h.now()); err != nil {
		return err
	}
	h.audit(r.Context(), p, "key.revoke", "key:"+id, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
