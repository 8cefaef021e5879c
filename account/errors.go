package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/streamhouse/streamhouse/billing"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/router/auth"
)

// The error codes of the body {"error":{"code","message"}}: the router's
// (wire's) names, so that clients see one vocabulary on every endpoint.
const (
	codeInvalid         = "invalid"
	codeUnauthenticated = "unauthenticated"
	codeForbidden       = "forbidden"
	codeNotFound        = "not_found"
	codeExists          = "exists"
	codeTooLarge        = "too_large"
	codeBusy            = "busy"
	codeUnavailable     = "unavailable"
	codeInternal        = "internal"
)

// apiError is an error with its status and code decided where it arose
// (bad input, a path that does not exist, a wrong method).
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, codeInvalid, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, codeNotFound, fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &auth.ForbiddenError{Reason: fmt.Sprintf(format, args...)}
}

// unauthenticated is a 401 whose message is the reason.
func unauthenticated(reason string) error {
	return fmt.Errorf("%w: %s", auth.ErrUnauthenticated, reason)
}

// classify returns err's status, code and client message, and whether it
// is internal (then the message is generic and err is logged).
func classify(err error) (int, string, string, bool) {
	var ae *apiError
	var tooBig *http.MaxBytesError
	var fe *auth.ForbiddenError
	var qe *billing.QuotaError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code, ae.msg, false
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("request body is over the %d-byte limit", tooBig.Limit), false
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized, codeUnauthenticated, err.Error(), false
	case errors.As(err, &fe):
		return http.StatusForbidden, codeForbidden, fe.Error(), false
	case errors.As(err, &qe):
		code := codeForbidden
		switch qe.HTTPStatus() {
		case http.StatusTooManyRequests:
			code = codeBusy
		case http.StatusRequestEntityTooLarge:
			code = codeTooLarge
		}
		return qe.HTTPStatus(), code, qe.Error(), false
	case errors.Is(err, registry.ErrInvalid):
		return http.StatusBadRequest, codeInvalid, trimSentinel(err, registry.ErrInvalid), false
	case errors.Is(err, registry.ErrNotFound):
		return http.StatusNotFound, codeNotFound, trimSentinel(err, registry.ErrNotFound), false
	case errors.Is(err, registry.ErrExists):
		return http.StatusConflict, codeExists, trimSentinel(err, registry.ErrExists), false
	case registry.IsUnavailable(err):
		return http.StatusServiceUnavailable, codeUnavailable, "the registry is unreachable, retry shortly", false
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, codeUnavailable, "timed out waiting for an answer", false
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, codeUnavailable, "request cancelled", false
	}
	return http.StatusInternalServerError, codeInternal, "internal error", true
}

// trimSentinel drops the registry's "registry: ..." suffix, which says
// nothing to an API client.
func trimSentinel(err, sentinel error) string {
	if err == sentinel {
		return strings.TrimPrefix(err.Error(), "registry: ")
	}
	return strings.TrimSuffix(err.Error(), ": "+sentinel.Error())
}

// writeError answers with err's status and {"error":{"code","message"}}.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg, internal := classify(err)
	if internal {
		h.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error body `json:"error"`
	}{body{code, msg}})
}

// writeJSON answers with v as JSON. Account answers may hold credentials,
// so none is cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only this package's own types reach here
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the client may have gone
}
