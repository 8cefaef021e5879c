package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/wire"
)

// httpStatus is the one table from error codes to HTTP statuses. Every
// error a handler meets becomes a code first (codeOf); the WebSocket and
// gRPC edges will add their columns here. A code missing from the table (a
// newer agent's) is served as 500.
var httpStatus = map[wire.Code]int{
	wire.Invalid:         http.StatusBadRequest,            // 400
	wire.Unauthenticated: http.StatusUnauthorized,          // 401
	wire.Forbidden:       http.StatusForbidden,             // 403
	wire.NotFound:        http.StatusNotFound,              // 404
	wire.Exists:          http.StatusConflict,              // 409
	wire.SequenceGap:     http.StatusConflict,              // 409: the producer's state, not the request, is off
	wire.ProducerFenced:  http.StatusConflict,              // 409: a newer instance of the producer took over
	wire.TooLarge:        http.StatusRequestEntityTooLarge, // 413
	wire.Busy:            http.StatusTooManyRequests,       // 429: back-pressure, retry after a pause
	wire.NotOwner:        http.StatusServiceUnavailable,    // 503: ownership is moving, retry
	wire.Fenced:          http.StatusServiceUnavailable,    // 503
	wire.Unavailable:     http.StatusServiceUnavailable,    // 503
	wire.Internal:        http.StatusInternalServerError,   // 500

	// 416: a fetch's offset is outside the log; the consumer resets.
	wire.OutOfRange: http.StatusRequestedRangeNotSatisfiable,

	// 409: the consumer group's state moved on; rejoin (or fetch the new
	// assignment) and retry.
	wire.RebalanceInProgress: http.StatusConflict,
	wire.IllegalGeneration:   http.StatusConflict,
	wire.UnknownMember:       http.StatusConflict,
	wire.GroupNotEmpty:       http.StatusConflict,
}

// statusFor returns the HTTP status of a code.
func statusFor(c wire.Code) int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// statusError pins an HTTP status that no code carries: 405 and 415 are
// about the HTTP exchange itself, not the API's domain, and have no place
// on the other edges. The body's code is err's.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// codeOf classifies err: the code, the message for the client, and whether
// it is internal (then the message is generic and err is logged instead).
// Refusals of authentication, role and quota come first (authCode,
// authz.go). Registry sentinels lose their "registry: ..." suffix, which
// says nothing to an API client.
func codeOf(err error) (wire.Code, string, bool) {
	if code, msg, ok := authCode(err); ok {
		return code, msg, false
	}
	var we *wire.Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &we):
		return we.Code, we.Message, false
	case errors.As(err, &tooBig):
		return wire.TooLarge, fmt.Sprintf("request body is over the %d-byte limit", tooBig.Limit), false
	case errors.Is(err, registry.ErrInvalid):
		return wire.Invalid, trimSentinel(err, registry.ErrInvalid), false
	case errors.Is(err, registry.ErrNotFound):
		return wire.NotFound, trimSentinel(err, registry.ErrNotFound), false
	case errors.Is(err, registry.ErrExists):
		return wire.Exists, trimSentinel(err, registry.ErrExists), false
	case errors.Is(err, registry.ErrEpochFenced):
		return wire.Fenced, trimSentinel(err, registry.ErrEpochFenced), false
	case registry.IsUnavailable(err):
		return wire.Unavailable, "the registry is unreachable, retry shortly", false
	case errors.Is(err, context.DeadlineExceeded):
		return wire.Unavailable, "timed out waiting for an answer", false
	case errors.Is(err, context.Canceled):
		return wire.Unavailable, "request cancelled", false
	}
	return wire.Internal, "internal error", true
}

func trimSentinel(err, sentinel error) string {
	if err == sentinel { // bare: "registry: not found" says "not found"
		return strings.TrimPrefix(err.Error(), "registry: ")
	}
	return strings.TrimSuffix(err.Error(), ": "+sentinel.Error())
}

// apiError is the body of every error response (DESIGN.md, Interfaces).
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorOf returns err's status and body, logging it if it is internal.
func (rt *Router) errorOf(r *http.Request, err error) (int, apiError) {
	code, msg, internal := codeOf(err)
	if internal {
		rt.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	rt.deps.Metrics.failed(apiOf(r), code)
	status := statusFor(code)
	if se := (*statusError)(nil); errors.As(err, &se) {
		status = se.status
	}
	return status, apiError{Code: code.String(), Message: msg}
}

// writeError answers with err's status and {"error":{"code","message"}},
// with WWW-Authenticate on a 401 and Retry-After on a quota's 429.
func (rt *Router) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := rt.errorOf(r, err)
	authHeaders(w.Header(), status, err)
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types reach here; none can fail
		panic(fmt.Sprintf("router: encode response: %v", err))
	}
	writeBody(w, status, append(b, '\n'))
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client may have gone; nothing to do about it
}
