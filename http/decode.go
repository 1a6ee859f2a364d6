package jithttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
)

// decodeBody reads r's JSON object body into dst. An empty body is an
// empty object (whatever its content type), so that actions without
// fields can be posted bare. Errors are *jit.Error: body_too_large,
// malformed_json (syntax, wrong types, not an object, trailing data),
// unknown_field (naming the field) and invalid_input (content type).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jit.Errorf(jit.ECodeTooLarge, "the body is larger than %d bytes", tooBig.Limit)
		}
		return fmt.Errorf("read request body: %w", err)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return jit.Errorf(jit.ECodeInvalid, "Content-Type %q is not application/json", ct)
		}
	} else {
		return jit.Errorf(jit.ECodeInvalid, "a body needs Content-Type: application/json")
	}
	if body[0] != '{' {
		return jit.Errorf(jit.ECodeMalformedJSON, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := exactKeys(body, dst); err != nil {
		return err
	}
	// A second value after the object ({"a":1}{"b":2}) is refused rather
	// than silently ignored.
	if _, err := dec.Token(); err != io.EOF {
		return jit.Errorf(jit.ECodeMalformedJSON, "unexpected data after the JSON object")
	}
	return nil
}

// exactKeys refuses keys that match a field only case-insensitively
// ("Resource" for "resource"): encoding/json accepts them, and a client
// that sends them has most likely misspelt something else as well.
func exactKeys(body []byte, dst any) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return jsonError(err)
	}
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	known := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		known[name] = true
	}
	for k := range raw {
		if !known[k] {
			return jit.FieldErrorf(k, jit.ECodeUnknownField, "unknown field %q (field names are case-sensitive)", k)
		}
	}
	return nil
}

// jsonError turns an encoding/json error into the matching *jit.Error.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return jit.Errorf(jit.ECodeMalformedJSON, "invalid JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return jit.Errorf(jit.ECodeMalformedJSON, "the JSON body ends early")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return jit.Errorf(jit.ECodeMalformedJSON, "the body must be a JSON object")
		}
		return jit.FieldErrorf(typ.Field, jit.ECodeMalformedJSON, "field %q must be a %s, not a %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this; the message format
		// is stable ("json: unknown field \"name\"").
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			name = strings.TrimPrefix(err.Error(), "json: unknown field ")
		}
		return jit.FieldErrorf(name, jit.ECodeUnknownField, "unknown field %q", name)
	default:
		return jit.Errorf(jit.ECodeMalformedJSON, "invalid JSON body")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "object"
	default:
		return "number"
	}
}

// params are a request's query parameters, checked against what the
// endpoint knows.
type params struct{ v url.Values }

// parseParams parses r's query and refuses parameters not in allowed, and
// parameters given more than once (which would otherwise be half-ignored).
func parseParams(r *http.Request, allowed ...string) (params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params{}, jit.Errorf(jit.ECodeInvalid, "malformed query string")
	}
	for k, vals := range v {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return params{}, jit.FieldErrorf(k, jit.ECodeInvalid, "unknown query parameter %q (this endpoint takes none)", k)
			}
			return params{}, jit.FieldErrorf(k, jit.ECodeInvalid, "unknown query parameter %q (known: %s)", k, strings.Join(allowed, ", "))
		}
		if len(vals) > 1 {
			return params{}, jit.FieldErrorf(k, jit.ECodeInvalid, "query parameter %q is given %d times", k, len(vals))
		}
	}
	return params{v}, nil
}

func (p params) str(name string) string { return strings.TrimSpace(p.v.Get(name)) }

func (p params) has(name string) bool { return p.v.Has(name) }

// limit parses the limit parameter: 1..500, def when absent.
func (p params) limit(def int) (int, error) {
	if !p.has("limit") {
		return def, nil
	}
	n, err := strconv.Atoi(p.str("limit"))
	if err != nil || n < 1 || n > 500 {
		return 0, jit.FieldErrorf("limit", jit.ECodeInvalid, "limit must be a whole number from 1 to 500, not %q", p.v.Get("limit"))
	}
	return n, nil
}

// statuses parses a comma-separated list of request statuses.
func (p params) statuses(name string) ([]jit.Status, error) {
	if !p.has(name) {
		return nil, nil
	}
	var out []jit.Status
	for _, part := range strings.Split(p.v.Get(name), ",") {
		st := jit.Status(strings.TrimSpace(part))
		if !st.Valid() {
			return nil, jit.FieldErrorf(name, jit.ECodeInvalid, "unknown status %q in %s (one of %s)", st, name, statusNames())
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

func statusNames() string {
	names := make([]string, len(jit.AllStatuses))
	for i, s := range jit.AllStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// since parses an RFC 3339 time.
func (p params) time(name string) (time.Time, error) {
	if !p.has(name) {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, p.str(name))
	if err != nil {
		return time.Time{}, jit.FieldErrorf(name, jit.ECodeInvalid, "%s must be an RFC 3339 time like 2025-01-02T15:04:05Z, not %q", name, p.v.Get(name))
	}
	return t, nil
}

// seq parses a non-negative integer.
func (p params) seq(name string) (int64, error) {
	if !p.has(name) {
		return 0, nil
	}
	n, err := strconv.ParseInt(p.str(name), 10, 64)
	if err != nil || n < 0 {
		return 0, jit.FieldErrorf(name, jit.ECodeInvalid, "%s must be a non-negative whole number, not %q", name, p.v.Get(name))
	}
	return n, nil
}

// duration parses an optional duration with policy.ParseDuration; its
// errors are invalid_duration naming field.
func (p params) duration(name string) (time.Duration, error) {
	if !p.has(name) {
		return 0, nil
	}
	return parseDuration(name, p.v.Get(name))
}

// parseDuration parses s with policy.ParseDuration and names field in the
// error.
func parseDuration(field, s string) (time.Duration, error) {
	d, err := policy.ParseDuration(s)
	if err != nil {
		var je *jit.Error
		if errors.As(err, &je) {
			return 0, &jit.Error{Code: jit.ECodeInvalidDur, Field: field, Message: je.Message}
		}
		return 0, jit.FieldErrorf(field, jit.ECodeInvalidDur, "invalid %s %q", field, s)
	}
	return d, nil
}
