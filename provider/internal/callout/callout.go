// Package callout holds the JSON document that the custom-integration
// providers (webhook and exec) send for each call, and the parsing of their
// answers, so that both speak exactly the same format (docs/providers.md).
package callout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jitaccess/jit/provider"
)

// Actions, also the value of the webhook's Idempotency-Key suffix and of
// exec's JIT_ACTION.
const (
	ActionGrant  = "grant"
	ActionRevoke = "revoke"
	ActionVerify = "verify"
)

// MaxHandle is the largest handle an integration may return. Handles are
// stored with the request; a bigger one is almost surely a mistake (a whole
// object dumped instead of its ID).
const MaxHandle = 8 << 10

// Document is the body of a webhook call and the standard input of an exec
// call. Every member is always present; members that do not apply to the
// action are null (expires_at, handle) or empty (reason).
type Document struct {
	Action    string          `json:"action"`
	RequestID string          `json:"request_id"`
	User      string          `json:"user"`
	Resource  string          `json:"resource"`
	Access    string          `json:"access"`
	Reason    string          `json:"reason"`
	ExpiresAt *time.Time      `json:"expires_at"`
	Handle    json.RawMessage `json:"handle"`
}

// Grant returns the document for a grant.
func Grant(r provider.GrantRequest) Document {
	d := Document{Action: ActionGrant, RequestID: r.RequestID, User: r.User,
		Resource: r.Resource, Access: r.Access, Reason: r.Reason}
	if !r.ExpiresAt.IsZero() {
		t := r.ExpiresAt.UTC()
		d.ExpiresAt = &t
	}
	return d
}

// Revoke returns the document for a revoke.
func Revoke(r provider.RevokeRequest) Document {
	return Document{Action: ActionRevoke, RequestID: r.RequestID, User: r.User,
		Resource: r.Resource, Access: r.Access, Handle: validHandle(r.Handle)}
}

// Verify returns the document for a verify.
func Verify(r provider.VerifyRequest) Document {
	return Document{Action: ActionVerify, RequestID: r.RequestID, User: r.User,
		Resource: r.Resource, Access: r.Access, Handle: validHandle(r.Handle)}
}

// validHandle keeps the document encodable: a stored handle that is not
// valid JSON (which this package never produces) is sent as null rather
// than making every revoke of that request fail.
func validHandle(h json.RawMessage) json.RawMessage {
	if len(h) == 0 || !json.Valid(h) {
		return nil
	}
	return h
}

// Encode returns the document as compact JSON.
func (d Document) Encode() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode %s document: %w", d.Action, err)
	}
	return b, nil
}

// ParseGrant reads a grant's answer: empty (no handle), or a JSON object
// whose optional "handle" member is stored and given back on revoke and
// verify. It returns the handle compacted, or nil when there is none.
func ParseGrant(body []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var v struct {
		Handle json.RawMessage `json:"handle"`
	}
	if err := unmarshalObject(body, &v); err != nil {
		return nil, fmt.Errorf("grant answer: %w", err)
	}
	if len(v.Handle) == 0 || bytes.Equal(v.Handle, []byte("null")) {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v.Handle); err != nil {
		return nil, fmt.Errorf("grant answer: handle: %w", err)
	}
	if buf.Len() > MaxHandle {
		return nil, fmt.Errorf("grant answer: handle is %d bytes, more than the %d allowed", buf.Len(), MaxHandle)
	}
	return buf.Bytes(), nil
}

// ParseVerify reads a verify's answer: a JSON object with a required
// boolean "present" and an optional RFC 3339 "expires_at".
func ParseVerify(body []byte) (provider.VerifyResponse, error) {
	var v struct {
		Present   *bool   `json:"present"`
		ExpiresAt *string `json:"expires_at"`
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return provider.VerifyResponse{}, errors.New(`verify answer is empty; want {"present": true|false}`)
	}
	if err := unmarshalObject(body, &v); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("verify answer: %w", err)
	}
	if v.Present == nil {
		return provider.VerifyResponse{}, errors.New(`verify answer has no "present" member`)
	}
	resp := provider.VerifyResponse{Present: *v.Present}
	if v.ExpiresAt != nil && *v.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, *v.ExpiresAt)
		if err != nil {
			return provider.VerifyResponse{}, fmt.Errorf("verify answer: expires_at is not RFC 3339: %w", err)
		}
		t = t.UTC()
		resp.ExpiresAt = &t
	}
	return resp, nil
}

// unmarshalObject decodes a single JSON object into v. Type errors (a
// string where a boolean belongs) are reported; unknown members are allowed
// so that integrations can add their own.
func unmarshalObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("not a JSON object: %s", Snippet(body, 64))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON: more than one value")
	}
	return nil
}

// Snippet quotes at most max bytes of the start of b for an error message;
// quoting keeps control characters from reaching logs as they are.
func Snippet(b []byte, max int) string {
	if len(b) > max {
		return fmt.Sprintf("%q (%d bytes, truncated)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// TailBuffer is an io.Writer that keeps only the last N bytes written (the
// end of a command's stderr is where the reason for a failure usually is).
type TailBuffer struct {
	N     int
	buf   []byte
	total int64
}

// Write keeps the last N bytes of everything written. It never fails.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.total += int64(len(p))
	if len(p) >= t.N {
		t.buf = append(t.buf[:0], p[len(p)-t.N:]...)
		return len(p), nil
	}
	if over := len(t.buf) + len(p) - t.N; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// Bytes returns the kept bytes.
func (t *TailBuffer) Bytes() []byte { return t.buf }

// Truncated reports whether more was written than is kept.
func (t *TailBuffer) Truncated() bool { return t.total > int64(len(t.buf)) }

// LimitBuffer is an io.Writer that keeps the first Max bytes and records
// whether more were written, so that an integration printing megabytes
// cannot exhaust jitd's memory.
type LimitBuffer struct {
	Max      int
	buf      bytes.Buffer
	Overflow bool
}

// Write keeps what fits. It never fails, so that the writer (a child
// process) is not killed by a broken pipe mid-way.
func (l *LimitBuffer) Write(p []byte) (int, error) {
	if room := l.Max - l.buf.Len(); room < len(p) {
		l.Overflow = true
		if room > 0 {
			l.buf.Write(p[:room])
		}
		return len(p), nil
	}
	l.buf.Write(p)
	return len(p), nil
}

// Bytes returns the kept bytes.
func (l *LimitBuffer) Bytes() []byte { return l.buf.Bytes() }
