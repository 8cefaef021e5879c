package schema

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/streamhouse/streamhouse/registry"
)

// level is the subject's compatibility level, else the tenant's, else
// DefaultLevel.
func (a *api) level(ctx context.Context, tenant int64, subject string) (Level, error) {
	v, err := a.setting(ctx, tenant, subject, registry.SchemaCompatibilitySetting, true)
	if err != nil || v == "" {
		return DefaultLevel, err
	}
	return ParseLevel(v)
}

// mode is the subject's mode, else the tenant's, else DefaultMode.
func (a *api) mode(ctx context.Context, tenant int64, subject string) (Mode, error) {
	v, err := a.setting(ctx, tenant, subject, registry.SchemaModeSetting, true)
	if err != nil || v == "" {
		return DefaultMode, err
	}
	return ParseMode(v)
}

// setting reads a setting of the subject ("" the tenant's), falling back to
// the tenant's if asked; "" means none is set.
func (a *api) setting(ctx context.Context, tenant int64, subject string, kind registry.SchemaSettingKind, fallBack bool) (string, error) {
	v, err := a.cfg.Store.SchemaSetting(ctx, tenant, subject, kind)
	if errors.Is(err, registry.ErrNotFound) {
		if subject != "" && fallBack {
			return a.setting(ctx, tenant, "", kind, false)
		}
		return "", nil
	}
	return v, err
}

// writable refuses changes to a subject in READONLY mode.
func (a *api) writable(r *request) error {
	m, err := a.mode(r.Context(), r.tenant, r.subject)
	if err != nil {
		return err
	}
	if m == ReadOnly {
		return errReadOnly(r.subject)
	}
	return nil
}

// getConfig answers GET /config and /config/{subject}. A subject without a
// level of its own is 40408, unless ?defaultToGlobal=true (as Confluent).
func (a *api) getConfig(r *request) (any, error) {
	if r.subject == "" {
		l, err := a.level(r.Context(), r.tenant, "")
		return map[string]Level{"compatibilityLevel": l}, err
	}
	v, err := a.setting(r.Context(), r.tenant, r.subject, registry.SchemaCompatibilitySetting, flag(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	if v == "" {
		if flag(r, "defaultToGlobal") {
			return map[string]Level{"compatibilityLevel": DefaultLevel}, nil
		}
		return nil, newAPIError(http.StatusNotFound, codeSubjectLevelCompatUnset,
			"Subject '%s' does not have subject-level compatibility configured", r.subject)
	}
	return map[string]string{"compatibilityLevel": v}, nil
}

func (a *api) putConfig(r *request) (any, error) {
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	l, err := ParseLevel(body.Compatibility)
	if err != nil {
		return nil, newAPIError(http.StatusUnprocessableEntity, codeInvalidCompatLevel, "Invalid compatibility level: %v", err)
	}
	if err := a.cfg.Store.SetSchemaSetting(r.Context(), r.tenant, r.subject, registry.SchemaCompatibilitySetting, string(l)); err != nil {
		return nil, err
	}
	return map[string]Level{"compatibility": l}, nil
}

// deleteConfig removes the subject's own level and answers with the one it
// had.
func (a *api) deleteConfig(r *request) (any, error) {
	prev, err := a.setting(r.Context(), r.tenant, r.subject, registry.SchemaCompatibilitySetting, false)
	if err != nil {
		return nil, err
	}
	if prev == "" {
		return nil, newAPIError(http.StatusNotFound, codeSubjectLevelCompatUnset,
			"Subject '%s' does not have subject-level compatibility configured", r.subject)
	}
	err = a.cfg.Store.SetSchemaSetting(r.Context(), r.tenant, r.subject, registry.SchemaCompatibilitySetting, "")
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	return map[string]string{"compatibilityLevel": prev}, nil
}

func (a *api) getMode(r *request) (any, error) {
	if r.subject == "" {
		m, err := a.mode(r.Context(), r.tenant, "")
		return map[string]Mode{"mode": m}, err
	}
	v, err := a.setting(r.Context(), r.tenant, r.subject, registry.SchemaModeSetting, flag(r, "defaultToGlobal"))
	if err != nil {
		return nil, err
	}
	if v == "" {
		if flag(r, "defaultToGlobal") {
			return map[string]Mode{"mode": DefaultMode}, nil
		}
		return nil, newAPIError(http.StatusNotFound, codeSubjectLevelModeUnset,
			"Subject '%s' does not have subject-level mode configured", r.subject)
	}
	return map[string]string{"mode": v}, nil
}

func (a *api) putMode(r *request) (any, error) {
	var body struct {
		Mode string `json:"mode"`
	}
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	m, err := ParseMode(body.Mode)
	if err != nil {
		return nil, newAPIError(http.StatusUnprocessableEntity, codeInvalidMode, "Invalid mode: %v", err)
	}
	if err := a.cfg.Store.SetSchemaSetting(r.Context(), r.tenant, r.subject, registry.SchemaModeSetting, string(m)); err != nil {
		return nil, err
	}
	return map[string]Mode{"mode": m}, nil
}

func (a *api) deleteMode(r *request) (any, error) {
	prev, err := a.setting(r.Context(), r.tenant, r.subject, registry.SchemaModeSetting, false)
	if err != nil {
		return nil, err
	}
	if prev == "" {
		return nil, newAPIError(http.StatusNotFound, codeSubjectLevelModeUnset,
			"Subject '%s' does not have subject-level mode configured", r.subject)
	}
	err = a.cfg.Store.SetSchemaSetting(r.Context(), r.tenant, r.subject, registry.SchemaModeSetting, "")
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	return map[string]string{"mode": prev}, nil
}

// checkCompatibility answers POST /compatibility/subjects/{s}/versions/{v}
// (against that version, in the directions of the subject's level) and
// .../versions (against the versions the level checks at registration).
// ?verbose=true adds the reasons.
func (a *api) checkCompatibility(r *request) (any, error) {
	var body schemaBody
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	parsed, _, err := a.parseBody(r, body)
	if err != nil {
		return nil, err
	}
	level, err := a.level(r.Context(), r.tenant, r.subject)
	if err != nil {
		return nil, err
	}
	var earlier []Version
	if vs := chi.URLParam(r.Request, "version"); vs != "" {
		v, err := parseVersion(vs)
		if err != nil {
			return nil, err
		}
		sv, err := a.subjectVersion(r, v, false)
		if err != nil {
			return nil, err
		}
		p, err := a.parseStored(r, sv.Version)
		if err != nil {
			return nil, err
		}
		earlier = []Version{{Number: sv.Version, Schema: p}}
		if level.transitive() {
			level = map[Level]Level{BackwardTransitive: Backward, ForwardTransitive: Forward, FullTransitive: Full}[level]
		}
	} else if earlier, _, err = a.earlier(r, level); err != nil {
		return nil, err
	}
	reasons := Check(level, parsed, earlier)
	out := struct {
		Is       bool     `json:"is_compatible"`
		Messages []string `json:"messages,omitempty"`
	}{Is: len(reasons) == 0}
	if flag(r, "verbose") {
		out.Messages = append([]string{}, reasons...)
	}
	return out, nil
}

func (a *api) getValidation(r *request) (any, error) {
	v, err := a.setting(r.Context(), r.tenant, r.subject, registry.SchemaValidationSetting, false)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return map[string]string{"validation": "NONE"}, nil
	}
	return map[string]string{"validation": v}, nil
}

func (a *api) putValidation(r *request) (any, error) {
	var body struct {
		Validation string `json:"validation"`
	}
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if body.Validation == "NONE" {
		return a.deleteValidation(r)
	}
	v, err := ParseValidation(body.Validation)
	if err != nil {
		return nil, newAPIError(http.StatusUnprocessableEntity, codeInvalidMode, "Invalid validation: %v (or NONE)", err)
	}
	if err := a.cfg.Store.SetSchemaSetting(r.Context(), r.tenant, r.subject, registry.SchemaValidationSetting, string(v)); err != nil {
		return nil, err
	}
	return map[string]Validation{"validation": v}, nil
}

func (a *api) deleteValidation(r *request) (any, error) {
	err := a.cfg.Store.SetSchemaSetting(r.Context(), r.tenant, r.subject, registry.SchemaValidationSetting, "")
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	return map[string]string{"validation": "NONE"}, nil
}
