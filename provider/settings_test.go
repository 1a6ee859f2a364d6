package provider

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// decode turns a YAML snippet into the map a Factory receives, the way the
// policy loader does.
func decode(t *testing.T, src string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return m
}

type decoded struct {
	URL     string
	Name    string
	Timeout time.Duration
	Retries int
	Debug   bool
	Command []string
	Headers map[string]string
	HasDir  bool
}

// read applies one fixed set of accessors, as a Factory would.
func read(s *Settings) decoded {
	return decoded{
		URL:     s.String("url", true),
		Name:    s.String("name", false),
		Timeout: s.Duration("timeout", 10*time.Second),
		Retries: s.Int("retries", 3),
		Debug:   s.Bool("debug", false),
		Command: s.StringList("command", false),
		Headers: s.StringMap("headers"),
		HasDir:  s.Has("dir"),
	}
}

func TestSettingsDecode(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want decoded
	}{
		{
			name: "defaults",
			yaml: "url: https://x.example/hook",
			want: decoded{URL: "https://x.example/hook", Timeout: 10 * time.Second, Retries: 3},
		},
		{
			name: "all set",
			yaml: `
url: https://x.example/hook
name: demo
timeout: 1m30s
retries: 7
debug: true
command: [/bin/echo, "hello world", ""]
headers: {X-Team: sre, X-Retries: 3, X-Flag: false, X-Ratio: 0.5}
dir: /tmp
`,
			want: decoded{
				URL: "https://x.example/hook", Name: "demo", Timeout: 90 * time.Second,
				Retries: 7, Debug: true, Command: []string{"/bin/echo", "hello world", ""},
				Headers: map[string]string{"X-Team": "sre", "X-Retries": "3", "X-Flag": "false", "X-Ratio": "0.5"},
				HasDir:  true,
			},
		},
		{
			name: "null values count as absent",
			yaml: "url: https://x.example/hook\ntimeout:\nname:\n",
			want: decoded{URL: "https://x.example/hook", Timeout: 10 * time.Second, Retries: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSettings(decode(t, tt.yaml))
			got := read(s)
			if err := s.Err(); err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// keys whose *SettingError must be reported, with a fragment of
		// its message each.
		want map[string]string
	}{
		{"missing required", "name: x", map[string]string{"url": "is required"}},
		{"empty required", "url: '  '", map[string]string{"url": "must not be empty"}},
		{"string wanted", "url: 123", map[string]string{"url": "must be a string, got an integer"}},
		{"duration without unit", "url: u\ntimeout: 10", map[string]string{"timeout": "with a unit"}},
		{"duration unparsable", "url: u\ntimeout: soon", map[string]string{"timeout": "must be a duration"}},
		{"duration negative", "url: u\ntimeout: -5s", map[string]string{"timeout": "must be positive"}},
		{"duration zero", "url: u\ntimeout: 0s", map[string]string{"timeout": "must be positive"}},
		{"int from string", "url: u\nretries: 'three'", map[string]string{"retries": "must be an integer"}},
		{"int from fraction", "url: u\nretries: 2.5", map[string]string{"retries": "must be an integer, got a number"}},
		{"bool from string", "url: u\ndebug: 'yes'", map[string]string{"debug": "must be true or false"}},
		{"list from string", "url: u\ncommand: /bin/echo hi", map[string]string{"command": "must be a list of strings"}},
		{"list with a map", "url: u\ncommand: [/bin/echo, {a: b}]", map[string]string{"command": "element 1 must be a string, got a map"}},
		{"map from list", "url: u\nheaders: [a, b]", map[string]string{"headers": "must be a map"}},
		{"map with nested value", "url: u\nheaders: {X-A: [1, 2]}", map[string]string{"headers": `value of "X-A"`}},
		{"map with non-string key", "url: u\nheaders: {1: a}", map[string]string{"headers": "keys must be strings"}},
		{"unknown key", "url: u\nurll: v", map[string]string{"urll": "unknown setting (known: command, debug, dir, headers, name, retries, timeout, url)"}},
		{
			"several problems at once",
			"timeout: 3\nretries: x\nbogus: 1\nother: 2",
			map[string]string{"url": "is required", "timeout": "with a unit", "retries": "integer", "bogus": "unknown setting", "other": "unknown setting"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSettings(decode(t, tt.yaml))
			read(s)
			err := s.Err()
			if err == nil {
				t.Fatal("Err() = nil, want an error")
			}
			got := map[string]string{}
			for _, e := range flatten(err) {
				var se *SettingError
				if !errors.As(e, &se) {
					t.Fatalf("error %v is not a *SettingError", e)
				}
				got[se.Key] = se.Error()
			}
			if len(got) != len(tt.want) {
				t.Errorf("errors for keys %v, want keys %v (err: %v)", keys(got), keys(tt.want), err)
			}
			for k, frag := range tt.want {
				msg, ok := got[k]
				if !ok {
					t.Errorf("no error for %q; got %v", k, err)
					continue
				}
				if !strings.Contains(msg, frag) || !strings.Contains(msg, `"`+k+`"`) {
					t.Errorf("error for %q = %q, want it to name the key and contain %q", k, msg, frag)
				}
			}
		})
	}
}

// TestSettingsErrorsDoNotEchoValues keeps values (which may be secrets put
// under the wrong key) out of error messages.
func TestSettingsErrorsDoNotEchoValues(t *testing.T) {
	const secret = "hunter2-very-secret"
	s := NewSettings(map[string]any{
		"url":     []any{secret},
		"timeout": map[string]any{"x": secret},
		"retries": secret,
		"debug":   secret,
		secret:    1,
	})
	read(s)
	err := s.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	// The unknown key itself is named (it is a key, not a value); values
	// are not.
	msg := strings.ReplaceAll(err.Error(), `setting "`+secret+`"`, "")
	if strings.Contains(msg, secret) {
		t.Errorf("error echoes a value: %v", err)
	}
}

func TestSettingsErrorfMarksKnown(t *testing.T) {
	s := NewSettings(map[string]any{"url": "ftp://x"})
	s.Errorf("url", "scheme must be http or https, got %q", "ftp")
	err := s.Err()
	var se *SettingError
	if !errors.As(err, &se) || se.Key != "url" || !strings.Contains(err.Error(), "scheme must be") {
		t.Fatalf("Err() = %v", err)
	}
	if strings.Contains(err.Error(), "unknown") {
		t.Errorf("Errorf did not mark the key known: %v", err)
	}
}

func TestSettingsGoValues(t *testing.T) {
	// Settings built in Go (tests, JSON) rather than YAML.
	s := NewSettings(map[string]any{
		"command": []string{"/bin/true"},
		"headers": map[string]string{"A": "b"},
		"retries": float64(4), // encoding/json's number type
		"n64":     int64(5),
		"u64":     uint64(6),
	})
	if got := s.StringList("command", true); !reflect.DeepEqual(got, []string{"/bin/true"}) {
		t.Errorf("StringList = %v", got)
	}
	if got := s.StringMap("headers"); !reflect.DeepEqual(got, map[string]string{"A": "b"}) {
		t.Errorf("StringMap = %v", got)
	}
	if got := s.Int("retries", 0); got != 4 {
		t.Errorf("Int(float64) = %d", got)
	}
	if got := s.Int("n64", 0); got != 5 {
		t.Errorf("Int(int64) = %d", got)
	}
	if got := s.Int("u64", 0); got != 6 {
		t.Errorf("Int(uint64) = %d", got)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	empty := NewSettings(map[string]any{"command": []string{}})
	empty.StringList("command", true)
	if err := empty.Err(); err == nil || !strings.Contains(err.Error(), "at least one element") {
		t.Errorf("empty required list: %v", err)
	}
	if err := NewSettings(nil).Err(); err != nil {
		t.Errorf("nil settings: %v", err)
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAsMapAndNested(t *testing.T) {
	if m, ok := AsMap(map[any]any{"a": 1}); !ok || m["a"] != 1 {
		t.Fatalf("AsMap(map[any]any) = %v, %v", m, ok)
	}
	if _, ok := AsMap(map[any]any{1: "x"}); ok {
		t.Fatal("AsMap accepted a non-string key")
	}
	if _, ok := AsMap([]any{"x"}); ok {
		t.Fatal("AsMap accepted a list")
	}
	s := NewSettings(map[string]any{"privileges": 3, "extra": true})
	s.StringList("privileges", true)
	errs := Nested("levels.read", errors.Join(s.Err(), errors.New("plain")))
	var keys []string
	for _, e := range errs {
		var se *SettingError
		if !errors.As(e, &se) {
			t.Fatalf("%v is not a *SettingError", e)
		}
		keys = append(keys, se.Key)
	}
	slices.Sort(keys)
	if want := []string{"levels.read", "levels.read.extra", "levels.read.privileges"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if Nested("x", nil) != nil {
		t.Fatal("Nested(nil) is not nil")
	}
}
