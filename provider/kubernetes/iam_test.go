package kubernetes

import (
	"strings"
	"testing"
)

func TestParseIAMARN(t *testing.T) {
	tests := []struct {
		in      string
		want    IAMPrincipal
		wantErr string
	}{
		{in: "arn:aws:iam::111122223333:role/alice", want: IAMPrincipal{"aws", "111122223333", "role", "/", "alice"}},
		{in: "arn:aws:iam::111122223333:user/bob", want: IAMPrincipal{"aws", "111122223333", "user", "/", "bob"}},
		{in: "arn:aws-cn:iam::111122223333:role/team/ops/alice+x@y.z", want: IAMPrincipal{"aws-cn", "111122223333", "role", "/team/ops/", "alice+x@y.z"}},
		{in: "arn:aws-us-gov:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123", want: IAMPrincipal{"aws-us-gov", "111122223333", "role", "/aws-reserved/sso.amazonaws.com/", "AWSReservedSSO_Admin_0123"}},
		{in: "arn:aws:sts::111122223333:assumed-role/alice/session", wantErr: "not an IAM role or user"},
		{in: "arn:aws:iam::111122223333:group/admins", wantErr: "neither a role nor a user"},
		{in: "arn:aws:iam::1111:role/alice", wantErr: "12 digits"},
		{in: "arn:aws:iam:eu-west-1:111122223333:role/alice", wantErr: "not an IAM role or user"},
		{in: "arn:gcp:iam::111122223333:role/alice", wantErr: "partition"},
		{in: "arn:aws:iam::111122223333:role/", wantErr: "not an IAM role name"},
		{in: "arn:aws:iam::111122223333:role/a//b", wantErr: "path"},
		{in: "arn:aws:iam::111122223333:role/o'hara", wantErr: "not an IAM role name"},
		{in: "arn:aws:iam::111122223333:role/" + strings.Repeat("a", 65), wantErr: "not an IAM role name"},
		{in: "arn:aws:iam::111122223333:role/a b", wantErr: "not an IAM role name"},
		{in: "role/alice", wantErr: "not an ARN"},
		{in: "", wantErr: "not an ARN"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseIAMARN(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseIAMARN(%q) = %+v, %v; want error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseIAMARN(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
	p, _ := ParseIAMARN("arn:aws:iam::111122223333:role/team/alice")
	if p.WithoutPath() != "arn:aws:iam::111122223333:role/alice" {
		t.Fatalf("WithoutPath = %q", p.WithoutPath())
	}
}

func TestIAMPrincipalFor(t *testing.T) {
	e := &eksConfig{
		arnTemplate: "arn:aws:iam::111122223333:role/{local}",
		arns:        map[string]string{"carol@example.com": "arn:aws:iam::111122223333:user/carol"},
	}
	for user, want := range map[string]string{
		"alice@example.com":                      "arn:aws:iam::111122223333:role/alice",
		"Carol@Example.com":                      "arn:aws:iam::111122223333:user/carol",
		"first.last@example.com":                 "arn:aws:iam::111122223333:role/first.last",
		"a@b@example.com":                        "arn:aws:iam::111122223333:role/a@b",
		"o'hara@example.com":                     "",
		"no-at-sign":                             "",
		"@example.com":                           "",
		"tab\tuser@example.com":                  "",
		strings.Repeat("x", 65) + "@example.com": "",
	} {
		got, err := e.iamPrincipalFor(user)
		if want == "" {
			if err == nil {
				t.Errorf("iamPrincipalFor(%q) = %v; want an error", user, got)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("iamPrincipalFor(%q) = %v, %v; want %s", user, got, err, want)
		}
	}
	email := &eksConfig{arnTemplate: "arn:aws:iam::111122223333:user/{email}"}
	if got, err := email.iamPrincipalFor("alice@example.com"); err != nil || got.String() != "arn:aws:iam::111122223333:user/alice@example.com" {
		t.Fatalf("{email} template: %v, %v", got, err)
	}
	none := &eksConfig{arns: map[string]string{"carol@example.com": "arn:aws:iam::111122223333:user/carol"}}
	if _, err := none.iamPrincipalFor("alice@example.com"); err == nil || !strings.Contains(err.Error(), "no IAM principal") {
		t.Fatalf("no template, not in map: %v", err)
	}
}

func TestARNTemplate(t *testing.T) {
	for tmpl, want := range map[string]string{
		"arn:aws:iam::111122223333:role/{local}":         "",
		"arn:aws:iam::111122223333:role/jit/{email}":     "",
		"arn:aws:iam::111122223333:role/{user}":          "placeholders",
		"arn:aws:iam::111122223333:role/{local":          "placeholders",
		"arn:aws:iam::111122223333:group/{local}":        "neither a role nor a user",
		"arn:aws:iam::11112222:role/{local}":             "12 digits",
		"arn:aws:iam::111122223333:role/{local}/{local}": "",
	} {
		err := checkARNTemplate(tmpl)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkARNTemplate(%q) = %v; want %q", tmpl, err, want)
		}
	}
}

func FuzzParseIAMARN(f *testing.F) {
	for _, s := range []string{"arn:aws:iam::111122223333:role/alice", "arn:aws-cn:iam::111122223333:user/a/b/c", "arn:aws:iam::111122223333:role/", "arn:aws:sts::1:assumed-role/x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIAMARN(s)
		if err != nil {
			return
		}
		// What parses is exactly the ARN it came from, and parses again.
		if p.String() != s {
			t.Fatalf("ParseIAMARN(%q).String() = %q", s, p.String())
		}
		if strings.ContainsAny(s, " \t\n\r\x00\"'") {
			t.Fatalf("ParseIAMARN(%q) accepted white space or quotes", s)
		}
		q, err := ParseIAMARN(p.WithoutPath())
		if err != nil || q.Name != p.Name || q.Path != "/" {
			t.Fatalf("WithoutPath of %q = %q: %v", s, p.WithoutPath(), err)
		}
	})
}

func FuzzIAMPrincipalFor(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a@b@c", "@x", "x@", "o'hara@example.com"} {
		f.Add(s)
	}
	e := &eksConfig{arnTemplate: "arn:aws:iam::111122223333:role/jit/{local}"}
	f.Fuzz(func(t *testing.T, user string) {
		p, err := e.iamPrincipalFor(user)
		if err != nil {
			return
		}
		if p.Account != "111122223333" || p.Type != "role" || p.Path != "/jit/" {
			t.Fatalf("iamPrincipalFor(%q) = %+v: the user changed more than the name", user, p)
		}
	})
}
