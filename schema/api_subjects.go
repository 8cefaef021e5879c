package schema

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/streamhouse/streamhouse/registry"
)

// schemaBody is a schema as clients send it (register, look up, check).
type schemaBody struct {
	Schema     string                     `json:"schema"`
	SchemaType string                     `json:"schemaType,omitempty"`
	References []registry.SchemaReference `json:"references,omitempty"`
	// Confluent's IMPORT mode registers with a given id and version; that
	// mode is not supported, so these are refused when set.
	ID      *int `json:"id,omitempty"`
	Version *int `json:"version,omitempty"`
}

// subjectSchema is a subject version as clients read it.
type subjectSchema struct {
	Subject    string                     `json:"subject"`
	Version    int                        `json:"version"`
	ID         int64                      `json:"id"`
	SchemaType string                     `json:"schemaType,omitempty"`
	References []registry.SchemaReference `json:"references,omitempty"`
	Schema     string                     `json:"schema"`
	Deleted    bool                       `json:"deleted,omitempty"`
}

func toSubjectSchema(sv registry.SubjectVersion) subjectSchema {
	return subjectSchema{Subject: sv.Subject, Version: sv.Version, ID: sv.Schema.ID, SchemaType: typeName(sv.Schema.Type),
		References: sv.Schema.References, Schema: sv.Schema.Text, Deleted: sv.Deleted}
}

// typeName is the schemaType clients see: omitted for AVRO, as Confluent
// does.
func typeName(t registry.SchemaType) string {
	if t == registry.SchemaAvro {
		return ""
	}
	return string(t)
}

// parseVersion reads a version path parameter: "latest", -1 or 1 to 2^31-1.
func parseVersion(s string) (int, error) {
	if s == "latest" {
		return registry.LatestVersion, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v == 0 || v < -1 || v > math.MaxInt32 {
		return 0, newAPIError(http.StatusUnprocessableEntity, codeInvalidVersion,
			"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return v, nil
}

// versionNotFound tells a missing subject (40401) from a missing version
// (40402) after the store said ErrNotFound.
func (a *api) versionNotFound(ctx context.Context, tenant int64, subject string, version int, includeDeleted bool) error {
	if _, err := a.cfg.Store.ListVersions(ctx, tenant, subject, includeDeleted); errors.Is(err, registry.ErrNotFound) {
		return errSubjectNotFound(subject)
	} else if err != nil {
		return err
	}
	return errVersionNotFound(subject, version)
}

// subjectVersion is one version of r.subject, with the API's errors.
func (a *api) subjectVersion(r *request, version int, includeDeleted bool) (registry.SubjectVersion, error) {
	sv, err := a.cfg.Store.SubjectVersion(r.Context(), r.tenant, r.subject, version, includeDeleted)
	if errors.Is(err, registry.ErrNotFound) {
		return sv, a.versionNotFound(r.Context(), r.tenant, r.subject, version, includeDeleted)
	}
	return sv, err
}

func (a *api) listSubjects(r *request) (any, error) {
	return a.cfg.Store.ListSubjects(r.Context(), r.tenant, flag(r, "deleted"))
}

func (a *api) listVersions(r *request) (any, error) {
	v, err := a.cfg.Store.ListVersions(r.Context(), r.tenant, r.subject, flag(r, "deleted"))
	if errors.Is(err, registry.ErrNotFound) {
		return nil, errSubjectNotFound(r.subject)
	}
	return v, err
}

func (a *api) getVersion(r *request) (any, error) {
	v, err := parseVersion(chi.URLParam(r.Request, "version"))
	if err != nil {
		return nil, err
	}
	sv, err := a.subjectVersion(r, v, flag(r, "deleted"))
	if err != nil {
		return nil, err
	}
	return toSubjectSchema(sv), nil
}

func (a *api) getRawVersion(r *request) (any, error) {
	v, err := parseVersion(chi.URLParam(r.Request, "version"))
	if err != nil {
		return nil, err
	}
	sv, err := a.subjectVersion(r, v, flag(r, "deleted"))
	if err != nil {
		return nil, err
	}
	return rawText(sv.Schema.Text), nil
}

// register files a schema under the subject: the same schema again gives
// its id back; a new one must pass the subject's compatibility level.
func (a *api) register(r *request) (any, error) {
	if err := a.writable(r); err != nil {
		return nil, err
	}
	var body schemaBody
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if body.ID != nil || body.Version != nil {
		return nil, newAPIError(http.StatusUnprocessableEntity, codeOperationNotAllowed,
			"registering with a given id or version needs IMPORT mode, which is not supported")
	}
	parsed, spec, err := a.parseBody(r, body)
	if err != nil {
		return nil, err
	}
	// The check holds only against the versions it saw: the store adds
	// the version only while the latest live one is the one checked
	// (IfLatest), else the check runs again. Routers in other processes
	// registering under the subject at once are serialised that way.
	for attempt := 1; ; attempt++ {
		if sv, err := a.cfg.Store.LookupSchema(r.Context(), r.tenant, r.subject, spec); err == nil {
			return map[string]int64{"id": sv.Schema.ID}, nil
		} else if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
		level, err := a.level(r.Context(), r.tenant, r.subject)
		if err != nil {
			return nil, err
		}
		earlier, latest, err := a.earlier(r, level)
		if err != nil {
			return nil, err
		}
		if reasons := Check(level, parsed, earlier); len(reasons) > 0 {
			return nil, newAPIError(http.StatusConflict, codeIncompatible,
				"Schema being registered is incompatible with an earlier schema for subject %q (%s): %s", r.subject, level, reasons[0])
		}
		spec.IfLatest = nil
		if level != None {
			spec.IfLatest = &latest
		}
		sv, err := a.cfg.Store.RegisterSchema(r.Context(), r.tenant, r.subject, spec)
		if errors.Is(err, registry.ErrLatestMoved) && attempt < registerAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		return map[string]int64{"id": sv.Schema.ID}, nil
	}
}

// registerAttempts bounds how often a registration checks again because
// another one added or deleted a version of the subject meanwhile; past it
// the store's ErrLatestMoved answers 500 (the client may retry).
const registerAttempts = 5

// lookup answers whether the subject holds the schema, and as which version.
func (a *api) lookup(r *request) (any, error) {
	var body schemaBody
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	_, spec, err := a.parseBody(r, body)
	if err != nil {
		return nil, err
	}
	sv, err := a.cfg.Store.LookupSchema(r.Context(), r.tenant, r.subject, spec)
	if errors.Is(err, registry.ErrNotFound) {
		if _, lerr := a.cfg.Store.ListVersions(r.Context(), r.tenant, r.subject, false); errors.Is(lerr, registry.ErrNotFound) {
			return nil, errSubjectNotFound(r.subject)
		}
		return nil, errSchemaNotFound("under subject '" + r.subject + "'")
	}
	if err != nil {
		return nil, err
	}
	return toSubjectSchema(sv), nil
}

func (a *api) deleteSubject(r *request) (any, error) {
	if err := a.writable(r); err != nil {
		return nil, err
	}
	permanent := flag(r, "permanent")
	deleted, err := a.cfg.Store.DeleteSubject(r.Context(), r.tenant, r.subject, permanent)
	switch {
	case err == nil:
		return deleted, nil
	case permanent && errors.Is(err, registry.ErrInvalid):
		return nil, newAPIError(http.StatusNotFound, codeSubjectNotSoftDeleted,
			"Subject '%s' was not deleted first before being permanently deleted", r.subject)
	case errors.Is(err, registry.ErrNotFound):
		if _, lerr := a.cfg.Store.ListVersions(r.Context(), r.tenant, r.subject, true); lerr == nil {
			return nil, newAPIError(http.StatusNotFound, codeSubjectSoftDeleted,
				"Subject '%s' was soft deleted. Set permanent=true to delete permanently", r.subject)
		}
		return nil, errSubjectNotFound(r.subject)
	}
	return nil, err
}

func (a *api) deleteVersion(r *request) (any, error) {
	if err := a.writable(r); err != nil {
		return nil, err
	}
	v, err := parseVersion(chi.URLParam(r.Request, "version"))
	if err != nil {
		return nil, err
	}
	permanent := flag(r, "permanent")
	if v == registry.LatestVersion {
		sv, err := a.subjectVersion(r, v, permanent)
		if err != nil {
			return nil, err
		}
		v = sv.Version
	}
	err = a.cfg.Store.DeleteSchemaVersion(r.Context(), r.tenant, r.subject, v, permanent)
	switch {
	case err == nil:
		return v, nil
	case permanent && errors.Is(err, registry.ErrInvalid):
		return nil, newAPIError(http.StatusNotFound, codeVersionNotSoftDeleted,
			"Subject '%s' Version %d was not deleted first before being permanently deleted", r.subject, v)
	case errors.Is(err, registry.ErrNotFound):
		if sv, gerr := a.cfg.Store.SubjectVersion(r.Context(), r.tenant, r.subject, v, true); gerr == nil && sv.Deleted {
			return nil, newAPIError(http.StatusNotFound, codeVersionSoftDeleted,
				"Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", r.subject, v)
		}
		return nil, a.versionNotFound(r.Context(), r.tenant, r.subject, v, true)
	}
	return nil, err
}

// parseBody checks a sent schema: its references resolved in the store, its
// text parsed by its type's library.
func (a *api) parseBody(r *request, body schemaBody) (*Parsed, registry.SchemaSpec, error) {
	typ := registry.SchemaType(body.SchemaType)
	if typ == "" {
		typ = registry.SchemaAvro
	}
	if body.Schema == "" {
		return nil, registry.SchemaSpec{}, errInvalidSchema(errors.New("empty schema"))
	}
	refs, err := resolveReferences(r.Context(), a.cfg.Store, r.tenant, body.References, 0, new(int))
	if err != nil {
		return nil, registry.SchemaSpec{}, err
	}
	parsed, err := Parse(Source{Type: typ, Text: body.Schema, References: refs})
	if err != nil {
		return nil, registry.SchemaSpec{}, errInvalidSchema(err)
	}
	return parsed, registry.SchemaSpec{Type: typ, Text: body.Schema, Canonical: parsed.Canonical, References: body.References}, nil
}

// resolveReferences fetches referenced schemas from store, depth-first,
// within the limits Parse enforces (checked here too, so a cycle costs no
// more than the limits).
func resolveReferences(ctx context.Context, store registry.Schemas, tenant int64, refs []registry.SchemaReference, depth int, count *int) ([]Reference, error) {
	if len(refs) > 0 && depth >= MaxReferenceDepth {
		return nil, errInvalidSchema(fmt.Errorf("references nest deeper than %d", MaxReferenceDepth))
	}
	out := make([]Reference, 0, len(refs))
	for _, ref := range refs {
		*count++
		if *count > MaxReferences {
			return nil, errInvalidSchema(fmt.Errorf("more than %d references in all", MaxReferences))
		}
		if ref.Version == registry.LatestVersion {
			return nil, errInvalidSchema(fmt.Errorf("reference %q: give a version, not latest", ref.Name))
		}
		sv, err := store.SubjectVersion(ctx, tenant, ref.Subject, ref.Version, false)
		if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrInvalid) {
			return nil, errInvalidSchema(fmt.Errorf("reference %q: version %d of subject %q not found", ref.Name, ref.Version, ref.Subject))
		}
		if err != nil {
			return nil, err
		}
		sub, err := resolveReferences(ctx, store, tenant, sv.Schema.References, depth+1, count)
		if err != nil {
			return nil, err
		}
		out = append(out, Reference{Name: ref.Name, Schema: Source{Type: sv.Schema.Type, Text: sv.Schema.Text, References: sub}})
	}
	return out, nil
}

// earlier returns the subject's live versions the level checks against,
// parsed (only the latest unless the level is transitive), and the latest
// live version's number (0: none).
func (a *api) earlier(r *request, level Level) ([]Version, int, error) {
	if level == None {
		return nil, 0, nil
	}
	versions, err := a.cfg.Store.ListVersions(r.Context(), r.tenant, r.subject, false)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	latest := versions[len(versions)-1]
	if !level.transitive() {
		versions = versions[len(versions)-1:]
	}
	out := make([]Version, 0, len(versions))
	for _, v := range versions {
		p, err := a.parseStored(r, v)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Version{Number: v, Schema: p})
	}
	return out, latest, nil
}

// parseStored parses a registered version of r.subject.
func (a *api) parseStored(r *request, version int) (*Parsed, error) {
	sv, err := a.subjectVersion(r, version, false)
	if err != nil {
		return nil, err
	}
	refs, err := resolveReferences(r.Context(), a.cfg.Store, r.tenant, sv.Schema.References, 0, new(int))
	if err != nil {
		return nil, fmt.Errorf("version %d of %q: %w", sv.Version, r.subject, err)
	}
	p, err := Parse(Source{Type: sv.Schema.Type, Text: sv.Schema.Text, References: refs})
	if err != nil {
		return nil, fmt.Errorf("registered version %d of %q no longer parses: %w", sv.Version, r.subject, err)
	}
	return p, nil
}
