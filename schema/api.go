package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/streamhouse/streamhouse/registry"
)

// ContentType is Confluent's media type; requests may also send
// application/json (or the unversioned vnd.schemaregistry+json, or
// octet-stream, as Confluent's server accepts), responses always carry this.
const ContentType = "application/vnd.schemaregistry.v1+json"

// DefaultMaxBodyBytes is Config.MaxBodyBytes's default: 1 MiB, the record
// limit, far above any real schema.
const DefaultMaxBodyBytes = 1 << 20

// Config configures the registry's HTTP API.
type Config struct {
	// Store keeps the schemas and settings. Required.
	Store registry.Schemas
	// Tenant names the tenant a request acts for and checks it may do
	// what the request asks; an error answers 401, or 403 if it has an
	// HTTPStatus method saying so, or 503 if the registry is unreachable.
	// Required (the dev cell gives the "default" tenant to every request).
	Tenant func(*http.Request) (int64, error)
	// Logger gets store failures. Default: slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; a larger one is refused with 413
	// (error code 42209). Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// EnsureDefaults fills the zero fields and checks the required ones.
func (c *Config) EnsureDefaults() error {
	if c.Store == nil || c.Tenant == nil {
		return errors.New("schema registry: Store and Tenant are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return nil
}

// api serves Confluent's Schema Registry REST API.
type api struct {
	cfg Config
}

// NewHandler returns the registry's HTTP API.
func NewHandler(cfg Config) (http.Handler, error) {
	if err := cfg.EnsureDefaults(); err != nil {
		return nil, err
	}
	a := &api{cfg: cfg}
	r := chi.NewRouter()
	r.Use(a.checkRequest)
	r.Get("/schemas/types", a.handle(a.schemaTypes))
	r.Get("/schemas/ids/{id}", a.handle(a.schemaByID))
	r.Get("/schemas/ids/{id}/schema", a.handle(a.rawSchemaByID))
	r.Get("/schemas/ids/{id}/versions", a.handle(a.schemaVersionsByID))
	r.Get("/schemas/ids/{id}/subjects", a.handle(a.schemaSubjectsByID))
	r.Get("/subjects", a.handle(a.listSubjects))
	r.Post("/subjects/{subject}", a.handle(a.lookup))
	r.Delete("/subjects/{subject}", a.handle(a.deleteSubject))
	r.Get("/subjects/{subject}/versions", a.handle(a.listVersions))
	r.Post("/subjects/{subject}/versions", a.handle(a.register))
	r.Get("/subjects/{subject}/versions/{version}", a.handle(a.getVersion))
	r.Get("/subjects/{subject}/versions/{version}/schema", a.handle(a.getRawVersion))
	r.Delete("/subjects/{subject}/versions/{version}", a.handle(a.deleteVersion))
	r.Post("/compatibility/subjects/{subject}/versions/{version}", a.handle(a.checkCompatibility))
	r.Post("/compatibility/subjects/{subject}/versions", a.handle(a.checkCompatibility))
	r.Get("/config", a.handle(a.getConfig))
	r.Put("/config", a.handle(a.putConfig))
	r.Get("/config/{subject}", a.handle(a.getConfig))
	r.Put("/config/{subject}", a.handle(a.putConfig))
	r.Delete("/config/{subject}", a.handle(a.deleteConfig))
	r.Get("/mode", a.handle(a.getMode))
	r.Put("/mode", a.handle(a.putMode))
	r.Get("/mode/{subject}", a.handle(a.getMode))
	r.Put("/mode/{subject}", a.handle(a.putMode))
	r.Delete("/mode/{subject}", a.handle(a.deleteMode))
	// StreamHouse's own: produce-time validation of a topic's keys or
	// values (validate.go), set on its <topic>-key or <topic>-value subject.
	r.Get("/validation/{subject}", a.handle(a.getValidation))
	r.Put("/validation/{subject}", a.handle(a.putValidation))
	r.Delete("/validation/{subject}", a.handle(a.deleteValidation))
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, newAPIError(http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, newAPIError(http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed"))
	})
	return r, nil
}

// checkRequest bounds the body and refuses media types Confluent's server
// refuses.
func (a *api) checkRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" && r.ContentLength != 0 {
			mt, _, err := mime.ParseMediaType(ct)
			switch {
			case err != nil:
				writeError(w, newAPIError(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Type %q: %v", ct, err))
				return
			case mt == ContentType, mt == "application/vnd.schemaregistry+json", mt == "application/json", mt == "application/octet-stream":
			default:
				writeError(w, newAPIError(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
					"Content-Type %q: send %s or application/json", ct, ContentType))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// request is what every handler gets: the tenant and the path's subject.
type request struct {
	*http.Request
	tenant  int64
	subject string
}

// handle adapts a handler that returns its answer or an error.
func (a *api) handle(fn func(r *request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		tenant, err := a.cfg.Tenant(hr)
		if err != nil {
			writeError(w, a.tenantError(hr, err))
			return
		}
		r := &request{Request: hr, tenant: tenant}
		if r.subject, err = pathParam(hr, "subject"); err != nil {
			writeError(w, newAPIError(http.StatusUnprocessableEntity, codeInvalidSubject, "%v", err))
			return
		}
		out, err := fn(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = storeError(err)
			}
			if ae.status >= 500 {
				a.cfg.Logger.Error("schema registry request failed", "method", hr.Method, "path", hr.URL.Path, "err", err)
			}
			writeError(w, ae)
			return
		}
		if raw, ok := out.(rawText); ok {
			w.Header().Set("Content-Type", ContentType)
			_, _ = io.WriteString(w, string(raw))
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// rawText is an answer sent as is (a schema's own text).
type rawText string

// pathParam returns a path parameter unescaped: chi matches on the escaped
// path when the request had escapes (a subject may hold '/').
func pathParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", fmt.Errorf("path parameter %s: %w", name, err)
	}
	return u, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{e.code, e.message})
}

// decodeBody reads one JSON object; a body over the limit is 413.
func decodeBody(r *request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newAPIError(http.StatusRequestEntityTooLarge, codeSchemaTooLarge,
				"request body over the limit of %d bytes", mbe.Limit)
		}
		return newAPIError(http.StatusBadRequest, codeBadRequest, "request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newAPIError(http.StatusRequestEntityTooLarge, codeSchemaTooLarge,
				"request body over the limit of %d bytes", mbe.Limit)
		}
		return newAPIError(http.StatusBadRequest, codeBadRequest, "request body: more than one JSON value")
	}
	return nil
}

// flag reports a boolean query parameter (?deleted=true).
func flag(r *request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}
