package schema

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/streamhouse/streamhouse/registry"
)

// Confluent's error codes, as its clients decode them (franz-go's
// sr.ErrorForCode, Confluent's RestClientException). The one table of this
// API; the HTTP status is the code's first three digits.
const (
	codeUnauthorized            = 40101
	codeForbidden               = 40301
	codeSubjectNotFound         = 40401
	codeVersionNotFound         = 40402
	codeSchemaNotFound          = 40403
	codeSubjectSoftDeleted      = 40404
	codeSubjectNotSoftDeleted   = 40405
	codeVersionSoftDeleted      = 40406
	codeVersionNotSoftDeleted   = 40407
	codeSubjectLevelCompatUnset = 40408
	codeSubjectLevelModeUnset   = 40409
	// codeIncompatible is 409 in the body too, not Confluent's newer 40901:
	// franz-go's sr maps 409 to ErrIncompatibleSchema and 40901 to nothing,
	// and Confluent's own Java client tests the HTTP status, so 409 serves
	// both (api_test.go checks it through sr).
	codeIncompatible        = 409
	codeInvalidSchema       = 42201
	codeInvalidVersion      = 42202
	codeInvalidCompatLevel  = 42203
	codeInvalidMode         = 42204
	codeOperationNotAllowed = 42205
	codeInvalidSubject      = 42208
	codeSchemaTooLarge      = 42209
	codeStoreError          = 50001
	codeUnavailable         = 50003
	// Plain HTTP errors, as Confluent's server (Jersey) answers them.
	codeBadRequest           = 400
	codeUnsupportedMediaType = 415
)

// apiError is an error with the status and Confluent code it answers with.
type apiError struct {
	status  int
	code    int
	message string
}

func (e *apiError) Error() string { return e.message }

func newAPIError(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(subject string) *apiError {
	return newAPIError(http.StatusNotFound, codeSubjectNotFound, "Subject '%s' not found.", subject)
}

func errVersionNotFound(subject string, version int) *apiError {
	return newAPIError(http.StatusNotFound, codeVersionNotFound, "Version %d not found for subject '%s'.", version, subject)
}

func errSchemaNotFound(what string) *apiError {
	return newAPIError(http.StatusNotFound, codeSchemaNotFound, "Schema %s not found.", what)
}

func errInvalidSchema(err error) *apiError {
	return newAPIError(http.StatusUnprocessableEntity, codeInvalidSchema, "%v", err)
}

func errReadOnly(subject string) *apiError {
	return newAPIError(http.StatusUnprocessableEntity, codeOperationNotAllowed, "Subject '%s' is in read-only mode.", subject)
}

// storeError maps what the store refused onto the API: an invalid subject
// name is 42208, anything else the caller did not expect is a store error.
func storeError(err error) *apiError {
	var ve *registry.ValidationError
	if errors.As(err, &ve) && (ve.Field == "subject" || ve.Field == "referenced subject") {
		return newAPIError(http.StatusUnprocessableEntity, codeInvalidSubject, "%v", err)
	}
	if errors.Is(err, registry.ErrInvalid) {
		return newAPIError(http.StatusUnprocessableEntity, codeInvalidSchema, "%v", err)
	}
	return newAPIError(http.StatusInternalServerError, codeStoreError, "store: %v", err)
}

// tenantError maps a failure of Config.Tenant: a refusal that says it is
// 403 (its HTTPStatus; the caller's role may not do this) is 40301, an
// unreachable store 50003, anything else 40101 (not authenticated).
func (a *api) tenantError(r *http.Request, err error) *apiError {
	var st interface{ HTTPStatus() int }
	switch {
	case errors.As(err, &st) && st.HTTPStatus() == http.StatusForbidden:
		return newAPIError(http.StatusForbidden, codeForbidden, "%v", err)
	case registry.IsUnavailable(err):
		a.cfg.Logger.Warn("schema registry: authenticate", "path", r.URL.Path, "err", err)
		return newAPIError(http.StatusServiceUnavailable, codeUnavailable, "registry unavailable, retry")
	}
	return newAPIError(http.StatusUnauthorized, codeUnauthorized, "%v", err)
}
