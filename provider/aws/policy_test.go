package aws

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePolicyErrorsNameTheStatement(t *testing.T) {
	_, err := ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
		{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}]}`))
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Statement != 2 || !strings.Contains(err.Error(), "NotAction") {
		t.Errorf("error = %v, want statement 2 and NotAction", err)
	}
	p, err := ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
		{"Effect":"Allow","Action":"iam:CreateAccessKey","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Check(nil)
	if !errors.As(err, &pe) || pe.Statement != 2 || !strings.Contains(err.Error(), "iam:CreateAccessKey") || !strings.Contains(err.Error(), "allow_actions") {
		t.Errorf("Check = %v, want statement 2 naming the action and allow_actions", err)
	}
}

func TestReadBound(t *testing.T) {
	p, err := ParsePolicy([]byte(readPolicy))
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2031, 2, 3, 4, 5, 6, 7, time.UTC)
	m := Marker{RequestID: "req_1", Access: "read", User: "a@example.com", ExpiresAt: end.Truncate(time.Second)}
	doc, err := p.Bound(end, m.String())
	if err != nil {
		t.Fatal(err)
	}
	bp, err := ReadBound(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bp.Bounded || !bp.Until.Equal(end.Truncate(time.Second)) || !bp.Marked || bp.Marker != m {
		t.Errorf("ReadBound = %+v", bp)
	}
	// A statement without the bound (edited by hand) leaves it unbounded.
	bp, _ = ReadBound([]byte(`{"Statement":[{"Condition":{"DateLessThan":{"aws:CurrentTime":"2031-01-01T00:00:00Z"}}},{"Effect":"Allow"}]}`))
	if bp.Bounded {
		t.Errorf("a document with an unbounded statement reads as bounded")
	}
	if _, err := p.Bound(time.Time{}, "jit request=x"); err == nil {
		t.Errorf("Bound with no expiry succeeded")
	}
}

func TestMarker(t *testing.T) {
	m := Marker{RequestID: "req_1", Access: "read", User: "a+b@example.com", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	got, ok := ParseMarker(m.String())
	if !ok || got != m {
		t.Errorf("round trip of %q = %+v, %v", m.String(), got, ok)
	}
	for _, s := range []string{"", "jit", "jit access=read", "made by a person", "jit request=req_1 request=req_2", "jit request=a/b", "jit request=x expires=tomorrow", "JIT request=x"} {
		if _, ok := ParseMarker(s); ok {
			t.Errorf("ParseMarker(%q) accepted", s)
		}
	}
}

// FuzzPolicy checks the policy parser and rewriter on any input: no
// panic; a policy that passes is written back as JSON IAM reads the
// same way, every statement bounded at the expiry, the other conditions
// kept, and the written document still passes the parser's rules once
// jit's own additions are taken out.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{
		readPolicy,
		`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"},"DateLessThan":{"aws:TokenIssueTime":"2030-01-01T00:00:00Z"}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::1:role/x"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","action":"*","Resource":"*"}]}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":1e400}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"Statement":{"Condition":{"DateLessThan":{"aws:CurrentTime":"0001-01-01T00:00:00Z"}}}}`))
	end := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	stamp := end.Format(time.RFC3339)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Documents read back from AWS may be anything: reading one
		// never panics, and never reports a bound it did not find.
		if bp, err := ReadBound(data); err == nil && bp.Bounded && bp.Until.IsZero() {
			t.Fatalf("ReadBound reports a zero bound")
		}
		p, err := ParsePolicy(data)
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *PolicyError: %v", err)
			}
			return
		}
		checkErr := p.Check(nil)
		if checkErr == nil {
			// Nothing the Check refuses can be in a policy that passed.
			for _, st := range p.statements {
				if st["Effect"] != "Allow" {
					continue
				}
				acts, _ := stringList(st["Action"])
				for _, a := range acts {
					la := strings.ToLower(a)
					if a == "*" || strings.HasPrefix(la, "iam:*") || strings.HasPrefix(la, "iam:pass") ||
						strings.HasPrefix(la, "sts:assumerole") || la == "sts:getfederationtoken" {
						t.Fatalf("Check passed action %q", a)
					}
				}
			}
		}
		doc, err := p.Bound(end, Marker{RequestID: "req_f", ExpiresAt: end}.String())
		if err != nil {
			t.Fatalf("Bound: %v", err)
		}
		var out struct {
			Statement []map[string]any
		}
		if err := decodeNumbers(doc, &out); err != nil {
			t.Fatalf("Bound wrote invalid JSON: %v", err)
		}
		if len(out.Statement) != len(p.statements) {
			t.Fatalf("Bound wrote %d statements, want %d", len(out.Statement), len(p.statements))
		}
		for i, st := range out.Statement {
			cond, _ := st["Condition"].(map[string]any)
			dl, _ := cond["DateLessThan"].(map[string]any)
			if dl["aws:CurrentTime"] != stamp {
				t.Fatalf("statement %d not bounded: %v", i, st)
			}
			orig, _ := p.statements[i]["Condition"].(map[string]any)
			for op, keys := range orig {
				km, _ := keys.(map[string]any)
				got, _ := cond[op].(map[string]any)
				for k := range km {
					if _, ok := got[k]; !ok {
						t.Fatalf("statement %d lost condition %s %s", i, op, k)
					}
				}
			}
		}
		bp, err := ReadBound(doc)
		if err != nil || !bp.Bounded || !bp.Until.Equal(end) || !bp.Marked || bp.Marker.RequestID != "req_f" {
			t.Fatalf("ReadBound of the written policy = %+v, %v", bp, err)
		}
		// The written document, without jit's Id and bound, parses again
		// and judges the same.
		var top map[string]any
		if err := decodeNumbers(doc, &top); err != nil {
			t.Fatal(err)
		}
		delete(top, "Id")
		for _, s := range top["Statement"].([]any) {
			cond := s.(map[string]any)["Condition"].(map[string]any)
			dl := cond["DateLessThan"].(map[string]any)
			delete(dl, "aws:CurrentTime")
			if len(dl) == 0 {
				delete(cond, "DateLessThan")
			}
			if len(cond) == 0 {
				delete(s.(map[string]any), "Condition")
			}
		}
		again, _ := json.Marshal(top)
		p2, err := ParsePolicy(again)
		if err != nil {
			t.Fatalf("the written policy no longer parses: %v\n%s", err, again)
		}
		if (p2.Check(nil) == nil) != (checkErr == nil) {
			t.Fatalf("the written policy is judged differently")
		}
	})
}

// decodeNumbers decodes JSON keeping numbers as written (json.Number),
// as IAM does: a float64 cannot hold every number a policy may hold.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

func FuzzParseMarker(f *testing.F) {
	f.Add("jit request=req_1 access=read user=a@example.com expires=2030-01-01T00:00:00Z")
	f.Add("jit request=x")
	f.Add("made by a person")
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := ParseMarker(s)
		if !ok {
			return
		}
		if m.RequestID == "" || checkRequestID(m.RequestID) != nil {
			t.Fatalf("accepted request ID %q", m.RequestID)
		}
		// What jit writes for a marker it read reads back the same,
		// when its fields are ones jit writes.
		if checkUser(m.User) == nil && !strings.ContainsAny(m.Access, " \t\n\r\v\f") && m.Access != "" {
			if got, ok := ParseMarker(m.String()); !ok || got != m {
				t.Fatalf("round trip of %+v = %+v, %v", m, got, ok)
			}
		}
	})
}
