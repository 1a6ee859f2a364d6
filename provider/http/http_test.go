package http

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

func mustNew(t testing.TB, settings map[string]any) *Provider {
	t.Helper()
	p, err := New(provider.Resource{Name: "demo", Type: Type, Settings: settings})
	if err != nil {
		t.Fatalf("New(%v): %v", settings, err)
	}
	return p.(*Provider)
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]any
		wantKey  string
		wantMsg  string
	}{
		{"nothing", map[string]any{}, "host", "at least one of host and path_prefix"},
		{"nil settings", nil, "host", "at least one of host and path_prefix"},
		{"unknown key", map[string]any{"host": "a.example", "hots": "b"}, "hots", "unknown setting"},
		{"empty host", map[string]any{"host": ""}, "host", "must not be empty"},
		{"host not a string", map[string]any{"host": 42}, "host", "must be a string"},
		{"scheme", map[string]any{"host": "https://demo.example.com"}, "host", "no scheme"},
		{"path in host", map[string]any{"host": "demo.example.com/app"}, "host", "no scheme, path"},
		{"port", map[string]any{"host": "demo.example.com:8443"}, "host", "must not contain a port"},
		{"wildcard in the middle", map[string]any{"host": "a.*.example.com"}, "host", "wildcard is allowed only"},
		{"partial wildcard", map[string]any{"host": "app-*.example.com"}, "host", "wildcard is allowed only"},
		{"bare wildcard", map[string]any{"host": "*"}, "host", "wildcard is allowed only"},
		{"empty label", map[string]any{"host": "demo..example.com"}, "host", "empty label"},
		{"non-ASCII", map[string]any{"host": "\u212aey.example.com"}, "host", "must be ASCII"},
		{"bad character", map[string]any{"host": "dem o.example.com"}, "host", "not allowed in a host name"},
		{"long label", map[string]any{"host": strings.Repeat("a", 64) + ".example.com"}, "host", "longer than 63"},
		{"relative prefix", map[string]any{"path_prefix": "app"}, "path_prefix", `must start with "/"`},
		{"prefix with query", map[string]any{"path_prefix": "/app?x=1"}, "path_prefix", "without query"},
		{"prefix with dots", map[string]any{"path_prefix": "/app/../admin"}, "path_prefix", "must be a clean path"},
		{"prefix with double slash", map[string]any{"path_prefix": "/app//x"}, "path_prefix", "must be a clean path"},
		{"prefix with escapes", map[string]any{"path_prefix": "/my%20app"}, "path_prefix", "written decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(provider.Resource{Name: "demo", Type: Type, Settings: tt.settings})
			if err == nil {
				t.Fatalf("New succeeded (%+v); want an error", p)
			}
			var se *provider.SettingError
			if !errors.As(err, &se) || se.Key != tt.wantKey {
				t.Fatalf("error %v does not name setting %q", err, tt.wantKey)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestNewNormalises(t *testing.T) {
	tests := []struct {
		settings   map[string]any
		host, pref string
	}{
		{map[string]any{"host": "Demo.Example.COM."}, "demo.example.com", "/"},
		{map[string]any{"host": "*.Apps.example.com"}, "*.apps.example.com", "/"},
		{map[string]any{"path_prefix": "/app/"}, "", "/app"},
		{map[string]any{"path_prefix": "/my app/"}, "", "/my app"},
		{map[string]any{"host": "demo.localhost", "path_prefix": "/"}, "demo.localhost", "/"},
	}
	for _, tt := range tests {
		p := mustNew(t, tt.settings)
		host, pref := p.Route()
		if host != tt.host || pref != tt.pref {
			t.Errorf("Route() for %v = %q, %q; want %q, %q", tt.settings, host, pref, tt.host, tt.pref)
		}
	}
}

func TestMatch(t *testing.T) {
	exact := map[string]any{"host": "demo.localhost"}
	wild := map[string]any{"host": "*.apps.example.com"}
	app := map[string]any{"path_prefix": "/app"}
	both := map[string]any{"host": "demo.localhost", "path_prefix": "/app/"}
	tests := []struct {
		settings   map[string]any
		host, path string
		want       bool
	}{
		// exact host: case, port and trailing dot are ignored
		{exact, "demo.localhost", "/", true},
		{exact, "DEMO.localhost", "/x", true},
		{exact, "demo.localhost:8080", "/", true},
		{exact, "demo.localhost.", "/", true},
		{exact, "demo.localhost.:443", "/", true},
		{exact, "x.demo.localhost", "/", false},
		{exact, "demo.localhost.evil.com", "/", false},
		{exact, "emo.localhost", "/", false},
		{exact, "", "/", false},
		{exact, "[::1]:8080", "/", false},
		{exact, "demo.locAlhost", "/", true},
		{exact, "demo.localho\u017ft", "/", false},                                      // long s, upper-cases to "S"
		{map[string]any{"host": "key.example.com"}, "\u212aey.example.com", "/", false}, // Kelvin sign

		// wildcard host: exactly one more label
		{wild, "a.apps.example.com", "/", true},
		{wild, "A-1.Apps.Example.com:443", "/", true},
		{wild, "apps.example.com", "/", false},
		{wild, ".apps.example.com", "/", false},
		{wild, "a.b.apps.example.com", "/", false},
		{wild, "a.apps.example.com.evil", "/", false},
		{wild, "aapps.example.com", "/", false},
		// path prefix respects segment boundaries
		{app, "any.host", "/app", true},
		{app, "any.host", "/app/", true},
		{app, "any.host", "/app/x/y", true},
		{app, "any.host", "/apple", false},
		{app, "any.host", "/ap", false},
		{app, "any.host", "/", false},
		{app, "any.host", "", false},
		{app, "any.host", "/App", false},
		{app, "", "/app", true},
		// the path is decoded already: '?' and '%' are ordinary characters
		{app, "h", "/app?x", false},
		{app, "h", "/app/?x", true},
		{app, "h", "/app/%2e%2e/admin", true}, // a literal segment "%2e%2e", not ".."
		{app, "h", "/%61pp", false},
		{app, "h", "/app%2Fx", false},
		// dot segments are resolved, as the application will
		{app, "h", "/public/../app/x", true},
		{app, "h", "/app/../admin", false},
		{app, "h", "/app/./x", true},
		{app, "h", "/app/..", false},
		{app, "h", "//app", true},
		{app, "h", "/app//x", true},
		{app, "h", "app/x", false},
		{exact, "demo.localhost", "relative", false},
		{map[string]any{"path_prefix": "/my app"}, "h", "/my app/x", true},
		// host and prefix together
		{both, "demo.localhost", "/app/x", true},
		{both, "demo.localhost", "/other", false},
		{both, "other.localhost", "/app", false},
		// default prefix "/" matches every path
		{exact, "demo.localhost", "", true},
	}
	for _, tt := range tests {
		p := mustNew(t, tt.settings)
		if got := p.Match(tt.host, tt.path); got != tt.want {
			t.Errorf("%v: Match(%q, %q) = %v, want %v", tt.settings, tt.host, tt.path, got, tt.want)
		}
	}
}

func TestGrantHandleAndStoreEnforced(t *testing.T) {
	p := mustNew(t, map[string]any{"host": "*.Apps.example.com", "path_prefix": "/app"})
	resp, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "r1", User: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var h Handle
	if err := json.Unmarshal(resp.Handle, &h); err != nil {
		t.Fatalf("handle %s: %v", resp.Handle, err)
	}
	if h != (Handle{Host: "*.apps.example.com", PathPrefix: "/app"}) {
		t.Errorf("handle = %+v", h)
	}
	if resp.Credential != nil {
		t.Error("forward-auth grants issue no credential")
	}
	if !provider.IsStoreEnforced(p) {
		t.Error("IsStoreEnforced = false")
	}
	if _, ok := provider.As[provider.Router](p); !ok {
		t.Error("not a provider.Router")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Grant(ctx, provider.GrantRequest{RequestID: "r2"}); !provider.IsNotApplied(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("Grant with a cancelled context: %v; want a not-applied context.Canceled", err)
	}
}

func TestRegistered(t *testing.T) {
	p, err := provider.New(provider.Resource{Name: "demo", Type: "http", Settings: map[string]any{"host": "demo.localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*Provider); !ok {
		t.Fatalf("provider.New gave %T", p)
	}
}

// TestConformance runs the suite. Access for this provider lives in jit's
// store (the authz endpoint reads it), so the suite checks the
// idempotency and no-error contracts only.
func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			return mustNew(t, map[string]any{"host": "demo.localhost", "path_prefix": "/"})
		},
		Resource: "demo", Access: "user", User: "alice@example.com",
		StoreEnforced: true,
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// FuzzMatch checks properties that must hold for any input: no panic,
// host case does not matter, and a match implies the cleaned path lies
// inside the prefix at a segment boundary.
func FuzzMatch(f *testing.F) {
	seeds := []struct{ host, path string }{
		{"demo.localhost", "/app/x"}, {"A.apps.example.com:80", "/apple"},
		{"[::1]:80", "/%2e%2e/app"}, {"", ""}, {"x", "/app?x"}, {"a.apps.example.com", "/app/%2e%2e/b"}, {"demo.localhost", "/app/../b"},
	}
	for _, s := range seeds {
		f.Add(s.host, s.path)
	}
	exact := mustNew(f, map[string]any{"host": "demo.localhost", "path_prefix": "/app"})
	wild := mustNew(f, map[string]any{"host": "*.apps.example.com", "path_prefix": "/app"})
	f.Fuzz(func(t *testing.T, host, p string) {
		for _, prov := range []*Provider{exact, wild} {
			got := prov.Match(host, p)
			if got != prov.Match(asciiUpper(host), p) {
				t.Fatalf("Match(%q, %q) depends on host case", host, p)
			}
			if !got {
				continue
			}
			clean := path.Clean(p)
			if p == "" {
				clean = "/"
			}
			if clean != "/app" && !strings.HasPrefix(clean, "/app/") {
				t.Fatalf("Match(%q, %q) = true but the path is %q", host, p, clean)
			}
			h := normaliseHost(host)
			if prov == exact && h != "demo.localhost" {
				t.Fatalf("exact host matched %q", host)
			}
			if prov == wild && (!strings.HasSuffix(h, ".apps.example.com") || strings.Count(h, ".") != 3) {
				t.Fatalf("wildcard host matched %q", host)
			}
		}
	})
}
