package jit

import (
	"errors"
	"fmt"
)

// Error codes. They are stable parts of the API (the "code" member of a
// problem document and the CLI's error line); add new ones, never rename.
const (
	// Input problems (400).
	ECodeInvalid       = "invalid_input"
	ECodeMalformedJSON = "malformed_json"
	ECodeUnknownField  = "unknown_field"
	ECodeInvalidDur    = "invalid_duration"
	ECodeReasonNeeded  = "reason_required"
	// ECodeQueryRefused: a query-scoped request whose query cannot be
	// scoped to exact privileges (the message says why).
	ECodeQueryRefused = "query_refused"
	// ECodeRefused: the resource's provider refused the request as asked
	// (a Kubernetes target that would grant nothing or escalate, an SSH
	// key of a refused type); the message says why.
	ECodeRefused = "request_refused"
	// ECodeInvalidKey: a public key that is not an age X25519 recipient.
	ECodeInvalidKey = "invalid_public_key"
	// ECodeKeyRequired: the resource issues credentials, and the
	// requester has no public key to encrypt them to (run `jit login`).
	ECodeKeyRequired = "public_key_required"
	// Policy problems at submit (400 for the shape of the request, 403 for who).
	ECodeUnknownResource   = "unknown_resource"
	ECodeUnknownAccess     = "unknown_access"
	ECodeDurationTooLong   = "duration_too_long"
	ECodeJustificationNeed = "justification_required"
	ECodeJustificationBad  = "justification_mismatch"
	ECodeNotAllowed        = "not_allowed"
	// Approval problems.
	ECodeAlreadyApproved = "already_approved"
	ECodeSelfApproval    = "self_approval"
	ECodeNotApprover     = "not_approver"
	// State problems (409).
	ECodeInvalidState = "invalid_state"
	ECodeConflict     = "conflict"
	// ECodeNotActive: the access is not active (any more).
	ECodeNotActive = "not_active"
	// Generic.
	ECodeNotFound        = "not_found"
	ECodeForbidden       = "forbidden"
	ECodeUnauthenticated = "unauthenticated"
	ECodeRateLimited     = "rate_limited"
	ECodeTooLarge        = "body_too_large"
	ECodeUnavailable     = "unavailable"
	ECodeInternal        = "internal"
)

// Error is an error meant for the person using jit: a stable code and a safe
// message. Anything that is not an *Error is internal; its text is logged,
// never shown.
type Error struct {
	Code    string
	Message string
	// Field names the input field the error concerns, when there is one.
	Field string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf is Errorf for an error about one input field.
func FieldErrorf(field, code, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, ECodeInternal for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return ECodeInternal
}

// ErrorMessage returns the safe message of err: the *Error's message, or a
// generic text for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
