package jit

import (
	"net/http"
	"slices"
)

// statusByCode maps error codes to HTTP statuses, as docs/api.md lists
// them. The API and the web app both answer with it.
var statusByCode = map[string]int{
	ECodeInvalid:           http.StatusBadRequest,
	ECodeMalformedJSON:     http.StatusBadRequest,
	ECodeUnknownField:      http.StatusBadRequest,
	ECodeTooLarge:          http.StatusRequestEntityTooLarge,
	ECodeInvalidDur:        http.StatusBadRequest,
	ECodeReasonNeeded:      http.StatusBadRequest,
	ECodeQueryRefused:      http.StatusBadRequest,
	ECodeRefused:           http.StatusBadRequest,
	ECodeInvalidKey:        http.StatusBadRequest,
	ECodeKeyRequired:       http.StatusBadRequest,
	ECodeNotActive:         http.StatusConflict,
	ECodeUnknownResource:   http.StatusBadRequest,
	ECodeUnknownAccess:     http.StatusBadRequest,
	ECodeDurationTooLong:   http.StatusBadRequest,
	ECodeJustificationNeed: http.StatusBadRequest,
	ECodeJustificationBad:  http.StatusBadRequest,
	ECodeNotAllowed:        http.StatusForbidden,
	ECodeSelfApproval:      http.StatusForbidden,
	ECodeNotApprover:       http.StatusForbidden,
	ECodeAlreadyApproved:   http.StatusConflict,
	ECodeInvalidState:      http.StatusConflict,
	ECodeConflict:          http.StatusConflict,
	ECodeForbidden:         http.StatusForbidden,
	ECodeNotFound:          http.StatusNotFound,
	ECodeUnauthenticated:   http.StatusUnauthorized,
	ECodeRateLimited:       http.StatusTooManyRequests,
	ECodeUnavailable:       http.StatusServiceUnavailable,
	ECodeInternal:          http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status of an error code. A code the table
// does not know (one added later without a status) is a 400.
func HTTPStatus(code string) int {
	if st, ok := statusByCode[code]; ok {
		return st
	}
	return http.StatusBadRequest
}

// ErrorCodes lists every error code that has an HTTP status, sorted (the
// API's documents are checked against it).
func ErrorCodes() []string {
	out := make([]string, 0, len(statusByCode))
	for c := range statusByCode {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
