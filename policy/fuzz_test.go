package policy

import (
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit"
	"gopkg.in/yaml.v3"
)

// summary is what a parsed policy decides, for comparing two parses.
func summary(p *Policy) map[string]any {
	var rules []string
	for _, r := range p.rules {
		rules = append(rules, r.name)
	}
	decisions := map[string]Decision{}
	for _, email := range append([]string{"alice@example.com", "nobody@example.com"}, p.known...) {
		id := p.Identity(email)
		for _, res := range p.resources {
			for _, level := range append([]string{""}, res.access...) {
				d := p.Decide(Input{Requester: id, Resource: res.name, Access: level, Duration: time.Hour, Reason: "INC-1", Time: workHours})
				decisions[email+" "+res.name+" "+level] = d
			}
		}
		_ = p.Offers(id, workHours)
	}
	return map[string]any{
		"server": p.Server(), "resources": p.Resources(), "rules": rules, "digest": p.Digest(),
		"decisions": decisions,
	}
}

// FuzzParse checks that Parse never panics, that a refusal is a *LoadError
// with at least one problem, and that parsing is deterministic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(testConfig))
	f.Add([]byte(onCallPolicy))
	f.Fuzz(func(t *testing.T, data []byte) {
		p1, err1 := Parse("fuzz.yaml", data)
		p2, err2 := Parse("fuzz.yaml", data)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("two parses disagree: %v / %v", err1, err2)
		}
		if err1 != nil {
			var le *LoadError
			if !errors.As(err1, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a *LoadError with problems", err1, err1)
			}
			if err1.Error() != err2.Error() {
				t.Fatalf("problems differ between parses:\n%v\n---\n%v", err1, err2)
			}
			return
		}
		defer p1.Close()
		defer p2.Close()
		if s1, s2 := summary(p1), summary(p2); !reflect.DeepEqual(s1, s2) {
			t.Fatalf("two parses decide differently:\n%v\n---\n%v", s1, s2)
		}
	})
}

// FuzzParseDuration checks ParseDuration's contract on any text.
func FuzzParseDuration(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if jit.ErrorCode(err) != jit.ECodeInvalidDur || jit.ErrorMessage(err) == "" {
				t.Fatalf("ParseDuration(%q) error %v has code %q", s, err, jit.ErrorCode(err))
			}
			return
		}
		if d <= 0 || d > MaxDuration {
			t.Fatalf("ParseDuration(%q) = %v, outside (0, 366d]", s, d)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	})
}

// FuzzCondition compiles arbitrary text as a rule's condition. Loading
// never panics; the config loads exactly when the condition compiles; and
// a loaded policy can decide.
func FuzzCondition(f *testing.F) {
	f.Fuzz(func(t *testing.T, cond string) {
		_, compileErr := compileCondition(cond)
		cfg := map[string]any{
			"identities": []any{map[string]any{"email": "alice@example.com", "groups": []string{"eng"}}},
			"resources": []any{map[string]any{
				"name": "db", "provider": "policytest", "access": []string{"read", "write"}, "labels": map[string]string{"env": "prod"},
			}},
			"rules": []any{map[string]any{
				"name": "r", "requesters": map[string]any{"everyone": true}, "resources": []string{"db"},
				"max_duration": "8h", "approvers": map[string]any{"peers": true},
				"condition": cond, "auto_approve": map[string]any{"condition": cond},
			}},
		}
		data, err := yaml.Marshal(cfg)
		if err != nil {
			t.Skip("not representable in YAML")
		}
		p, err := Parse("fuzz.yaml", data)
		if err == nil {
			defer p.Close()
			for _, dur := range []time.Duration{time.Minute, 8 * time.Hour} {
				d := p.Decide(Input{Requester: p.Identity("alice@example.com"), Resource: "db", Access: "read", Duration: dur, Reason: "x", Time: workHours})
				if d.Allowed && d.Rule != "r" {
					t.Fatalf("allowed by unknown rule %q", d.Rule)
				}
			}
			p.Offers(p.Identity("alice@example.com"), workHours)
		}
		// The text reaches the loader intact only when YAML round-trips it;
		// then loading and compiling must agree.
		var back map[string]any
		if !utf8.ValidString(cond) || yaml.Unmarshal(data, &back) != nil {
			return
		}
		rules, _ := back["rules"].([]any)
		if len(rules) != 1 || rules[0].(map[string]any)["condition"] != cond {
			return
		}
		if (compileErr == nil) != (err == nil) && !isBlank(cond) {
			t.Fatalf("compile error %v but load error %v", compileErr, err)
		}
	})
}

func isBlank(s string) bool {
	for _, c := range s {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
