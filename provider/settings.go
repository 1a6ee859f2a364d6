package provider

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SettingError is a problem with one provider setting. Key names the
// setting so that the person editing jit.yaml knows where to look.
type SettingError struct {
	Key string
	Err error
}

func (e *SettingError) Error() string { return fmt.Sprintf("setting %q: %v", e.Key, e.Err) }
func (e *SettingError) Unwrap() error { return e.Err }

// Settings decodes a resource's provider settings (Resource.Settings, a map
// decoded from YAML or JSON) into typed values. Each accessor records the
// key as known and collects a *SettingError instead of failing at once, so
// that Err can report every problem of a resource in one go, including keys
// that no accessor asked for (a misspelt setting is refused, never ignored).
//
// Typical use in a Factory:
//
//	s := provider.NewSettings(r.Settings)
//	url := s.String("url", true)
//	timeout := s.Duration("timeout", 10*time.Second)
//	if err := s.Err(); err != nil {
//		return nil, err
//	}
//
// A Settings is not safe for concurrent use; it is meant to live for one
// Factory call.
type Settings struct {
	m     map[string]any
	known map[string]bool
	errs  []error
}

// NewSettings returns a decoder for m. A nil map is an empty one.
func NewSettings(m map[string]any) *Settings {
	return &Settings{m: m, known: map[string]bool{}}
}

// lookup marks key as known and returns its value. A key whose value is nil
// (YAML "key:" with nothing after it) counts as absent.
func (s *Settings) lookup(key string) (any, bool) {
	s.known[key] = true
	v, ok := s.m[key]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

// Errorf records a problem with key, for checks the accessors cannot make
// (a URL scheme, a file that must exist). It marks key as known.
func (s *Settings) Errorf(key, format string, args ...any) {
	s.known[key] = true
	s.errs = append(s.errs, &SettingError{Key: key, Err: fmt.Errorf(format, args...)})
}

func (s *Settings) fail(key string, err error) {
	s.errs = append(s.errs, &SettingError{Key: key, Err: err})
}

// Has reports whether key is set (to a non-nil value). It marks key as
// known.
func (s *Settings) Has(key string) bool {
	_, ok := s.lookup(key)
	return ok
}

// String returns the string value of key. A missing or empty value is an
// error when required. Non-string values (a YAML number or list) are
// errors: a host of 123 is a mistake, not a host.
func (s *Settings) String(key string, required bool) string {
	v, ok := s.lookup(key)
	if !ok {
		if required {
			s.fail(key, errors.New("is required"))
		}
		return ""
	}
	str, isStr := v.(string)
	if !isStr {
		s.fail(key, fmt.Errorf("must be a string, got %s", describe(v)))
		return ""
	}
	if required && strings.TrimSpace(str) == "" {
		s.fail(key, errors.New("must not be empty"))
		return ""
	}
	return str
}

// Duration returns the duration value of key, written in Go notation
// ("10s", "1m30s"), or def when key is absent. It must be positive. Bare
// numbers are refused because their unit would be a guess.
func (s *Settings) Duration(key string, def time.Duration) time.Duration {
	v, ok := s.lookup(key)
	if !ok {
		return def
	}
	str, isStr := v.(string)
	if !isStr {
		s.fail(key, fmt.Errorf("must be a duration with a unit such as \"10s\" or \"2m\", got %s", describe(v)))
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(str))
	if err != nil {
		s.fail(key, fmt.Errorf("must be a duration such as \"10s\" or \"2m\": %w", err))
		return def
	}
	if d <= 0 {
		s.fail(key, fmt.Errorf("must be positive, got %s", str))
		return def
	}
	return d
}

// Int returns the integer value of key, or def when key is absent. Floats
// with a fractional part and strings are errors.
func (s *Settings) Int(key string, def int) int {
	v, ok := s.lookup(key)
	if !ok {
		return def
	}
	n, ok := toInt(v)
	if !ok {
		s.fail(key, fmt.Errorf("must be an integer, got %s", describe(v)))
		return def
	}
	return n
}

// Bool returns the boolean value of key, or def when key is absent. Only
// true and false are accepted.
func (s *Settings) Bool(key string, def bool) bool {
	v, ok := s.lookup(key)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		s.fail(key, fmt.Errorf("must be true or false, got %s", describe(v)))
		return def
	}
	return b
}

// StringList returns the list of strings under key. A required list must
// have at least one element. Every element must be a string; a single
// string instead of a list is refused, because splitting it (on spaces, as
// a shell would) is exactly the ambiguity a list avoids.
func (s *Settings) StringList(key string, required bool) []string {
	v, ok := s.lookup(key)
	if !ok {
		if required {
			s.fail(key, errors.New("is required"))
		}
		return nil
	}
	var items []any
	switch l := v.(type) {
	case []any:
		items = l
	case []string:
		out := append([]string(nil), l...)
		if required && len(out) == 0 {
			s.fail(key, errors.New("must have at least one element"))
		}
		return out
	default:
		s.fail(key, fmt.Errorf("must be a list of strings, got %s", describe(v)))
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		str, isStr := it.(string)
		if !isStr {
			s.fail(key, fmt.Errorf("element %d must be a string, got %s", i, describe(it)))
			return nil
		}
		out = append(out, str)
	}
	if required && len(out) == 0 {
		s.fail(key, errors.New("must have at least one element"))
	}
	return out
}

// StringMap returns the map under key with its values as strings. Scalar
// values (numbers, booleans) are formatted, because YAML turns `X-Retries: 3`
// into a number where the author meant the text "3". Nested lists or maps
// are errors. An absent key gives a nil map.
func (s *Settings) StringMap(key string) map[string]string {
	v, ok := s.lookup(key)
	if !ok {
		return nil
	}
	out := map[string]string{}
	put := func(k any, val any) bool {
		ks, isStr := k.(string)
		if !isStr {
			s.fail(key, fmt.Errorf("keys must be strings, got %s", describe(k)))
			return false
		}
		vs, ok := scalarString(val)
		if !ok {
			s.fail(key, fmt.Errorf("value of %q must be a string, number or boolean, got %s", ks, describe(val)))
			return false
		}
		out[ks] = vs
		return true
	}
	switch m := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(m) {
			if !put(k, m[k]) {
				return nil
			}
		}
	case map[string]string:
		for k, val := range m {
			out[k] = val
		}
	case map[any]any:
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			if !put(k, m[k]) {
				return nil
			}
		}
	default:
		s.fail(key, fmt.Errorf("must be a map, got %s", describe(v)))
		return nil
	}
	return out
}

// Err returns every problem found so far, plus one for each key in the
// settings that no accessor asked for, or nil when there is none. Call it
// after the last accessor. Each problem is a *SettingError; several are
// joined with errors.Join.
func (s *Settings) Err() error {
	errs := append([]error(nil), s.errs...)
	var unknown []string
	for k := range s.m {
		if !s.known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		known := make([]string, 0, len(s.known))
		for k := range s.known {
			known = append(known, k)
		}
		sort.Strings(known)
		for _, k := range unknown {
			errs = append(errs, &SettingError{Key: k, Err: fmt.Errorf("unknown setting (known: %s)", strings.Join(known, ", "))})
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// toInt converts the numeric types YAML and JSON decoders produce.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		if n < math.MinInt || n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	case uint:
		if n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	case uint64:
		if n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	case float64:
		if n != math.Trunc(n) || n < math.MinInt || n > math.MaxInt {
			return 0, false
		}
		return int(n), true
	case float32:
		return toInt(float64(n))
	}
	return 0, false
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	}
	if n, ok := toInt(v); ok {
		return strconv.Itoa(n), true
	}
	return "", false
}

// describe names the kind of a decoded value for error messages, without
// echoing the value itself (it could be a secret put in the wrong place).
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float32, float64:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any, map[any]any, map[string]string:
		return "a map"
	}
	if _, ok := toInt(v); ok {
		return "an integer"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// AsMap returns v as a map with string keys, accepting the shapes YAML
// and JSON decoders produce (map[string]any, and map[any]any whose keys
// are all strings). Providers with nested settings (a map of access
// levels) decode each level with NewSettings(m).
func AsMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = val
		}
		return out, true
	}
	return nil, false
}

// Nested returns the problems in err (the Err of a Settings that decoded
// a nested map, possibly joined) re-keyed under key, so that a problem in
// levels.read reads "setting \"levels.read.privileges\": ...". A problem
// that is not a *SettingError is keyed by key itself.
func Nested(key string, err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Nested(key, e)...)
		}
		return out
	}
	var se *SettingError
	if errors.As(err, &se) {
		return []error{&SettingError{Key: key + "." + se.Key, Err: se.Err}}
	}
	return []error{&SettingError{Key: key, Err: err}}
}
