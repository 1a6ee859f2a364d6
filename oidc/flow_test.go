package oidc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidReturnTo(t *testing.T) {
	for _, s := range []string{"/", "/requests/req_1", "/requests?status=pending&x=%2F%2Fevil", "/a/b/../c", "/é"} {
		if !ValidReturnTo(s) {
			t.Errorf("ValidReturnTo(%q) = false", s)
		}
	}
	for _, s := range []string{
		"", "relative", "//evil.example.com", "///evil.example.com", "/\\evil.example.com", "\\\\evil.example.com",
		"https://evil.example.com", "javascript:alert(1)", "/\t/evil.example.com", "/\n/evil.example.com", "/a b",
		"/a\\b", "/\x7f", "/\u0085", "/" + strings.Repeat("a", 2048), "/\xff",
	} {
		if ValidReturnTo(s) {
			t.Errorf("ValidReturnTo(%q) = true", s)
		}
	}
}

func TestSafeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"User cancelled the sign-in.", "User cancelled the sign-in."},
		{`<b onclick="x">hi</b> & 'q'`, "b onclick= x hi /b q"},
		{"a\r\n\tb\x00c", "a b c"},
		{"  lead  trail  ", "lead trail"},
		{"ünïcode", "n code"},
		{strings.Repeat("x", 500), strings.Repeat("x", 300)},
	}
	for _, tt := range tests {
		if got := safeText(tt.in, 300); got != tt.want {
			t.Errorf("safeText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]string{"access_denied": "access_denied", "login_required": "login_required",
		"<x>": "invalid_error_code", "a b": "invalid_error_code", "": "invalid_error_code", strings.Repeat("a", 65): "invalid_error_code"} {
		if got := safeCode(in); got != want {
			t.Errorf("safeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadGroups(t *testing.T) {
	tests := []struct {
		in   any
		want []string
		err  bool
	}{
		{nil, nil, false},
		{"eng", []string{"eng"}, false},
		{"", nil, false},
		{[]any{}, nil, false},
		{[]any{"a", "b", "a", " ", "Domain Admins"}, []string{"a", "b", "Domain Admins"}, false},
		{[]any{"a", nil}, nil, true},
		{map[string]any{"a": 1}, nil, true},
		{true, nil, true},
		{[]any{"bad\nname"}, nil, true},
		{make([]any, maxGroups+1), nil, true},
	}
	for _, tt := range tests {
		got, err := readGroups(tt.in, "groups")
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("readGroups(%v) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrIdentity) {
			t.Errorf("readGroups(%v) error %v is not ErrIdentity", tt.in, err)
		}
	}
}

// TestFlowCookieKey checks that a flow cookie opens only with the key that
// sealed it, so replicas need the same key, and that by default the key
// comes from the client secret (which replicas share).
func TestFlowCookieKey(t *testing.T) {
	base := Config{Issuer: "https://accounts.example.com", ClientID: "jit", ClientSecret: "secret-one",
		RedirectURL: "https://jit.example.com/auth/callback", HTTPClient: unreachable()}
	mk := func(change func(*Config)) *Login {
		c := base
		if change != nil {
			change(&c)
		}
		l, err := New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	f := flow{State: randomString(), Nonce: randomString(), Verifier: randomString(), ReturnTo: "/x", Expires: time.Now().Add(time.Minute).UnixNano()}
	a := mk(nil)
	c := a.flowCookie(f)
	opens := func(l *Login) bool {
		got, err := l.openFlow(c.Name, c.Value)
		return err == nil && got == f
	}
	if !opens(a) || !opens(mk(nil)) {
		t.Fatal("a replica with the same client secret cannot open the flow cookie")
	}
	if opens(mk(func(c *Config) { c.ClientSecret = "secret-two" })) {
		t.Fatal("a different client secret opens the flow cookie")
	}
	key := []byte(strings.Repeat("k", 32))
	withKey := mk(func(c *Config) { c.CookieKey = key })
	c = withKey.flowCookie(f)
	if !opens(mk(func(c *Config) { c.CookieKey = key; c.ClientSecret = "rotated" })) || opens(a) {
		t.Fatal("an explicit cookie key does not decide alone")
	}
}
