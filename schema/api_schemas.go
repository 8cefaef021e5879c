package schema

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/streamhouse/streamhouse/registry"
)

func (a *api) schemaTypes(*request) (any, error) {
	return []string{string(registry.SchemaAvro), string(registry.SchemaJSON), string(registry.SchemaProtobuf)}, nil
}

// schemaID reads the {id} path parameter: ids fit the 4 bytes of the wire
// format.
func schemaID(r *request) (int64, error) {
	s := chi.URLParam(r.Request, "id")
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 1 {
		return 0, errSchemaNotFound("id " + strconv.Quote(s))
	}
	return id, nil
}

func (a *api) schemaFor(r *request) (registry.Schema, error) {
	id, err := schemaID(r)
	if err != nil {
		return registry.Schema{}, err
	}
	s, err := a.cfg.Store.SchemaByID(r.Context(), r.tenant, id)
	if errors.Is(err, registry.ErrNotFound) {
		return s, errSchemaNotFound("id " + strconv.FormatInt(id, 10))
	}
	return s, err
}

func (a *api) schemaByID(r *request) (any, error) {
	s, err := a.schemaFor(r)
	if err != nil {
		return nil, err
	}
	return struct {
		Schema     string                     `json:"schema"`
		SchemaType string                     `json:"schemaType,omitempty"`
		References []registry.SchemaReference `json:"references,omitempty"`
	}{s.Text, typeName(s.Type), s.References}, nil
}

func (a *api) rawSchemaByID(r *request) (any, error) {
	s, err := a.schemaFor(r)
	if err != nil {
		return nil, err
	}
	return rawText(s.Text), nil
}

func (a *api) usages(r *request) ([]registry.SchemaUsage, error) {
	id, err := schemaID(r)
	if err != nil {
		return nil, err
	}
	u, err := a.cfg.Store.SchemaUsages(r.Context(), r.tenant, id, flag(r, "deleted"))
	if errors.Is(err, registry.ErrNotFound) {
		if _, serr := a.cfg.Store.SchemaByID(r.Context(), r.tenant, id); serr == nil {
			return []registry.SchemaUsage{}, nil // only soft-deleted versions hold it
		}
		return nil, newAPIError(http.StatusNotFound, codeSchemaNotFound, "Schema id %d not found.", id)
	}
	return u, err
}

func (a *api) schemaVersionsByID(r *request) (any, error) {
	u, err := a.usages(r)
	if err != nil {
		return nil, err
	}
	type subjectVersion struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := make([]subjectVersion, 0, len(u))
	for _, x := range u {
		out = append(out, subjectVersion{x.Subject, x.Version})
	}
	return out, nil
}

func (a *api) schemaSubjectsByID(r *request) (any, error) {
	u, err := a.usages(r)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, x := range u {
		if len(out) == 0 || out[len(out)-1] != x.Subject {
			out = append(out, x.Subject)
		}
	}
	return out, nil
}
