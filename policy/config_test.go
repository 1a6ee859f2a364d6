package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// wants reads the expected problems of a config from its "# want: TEXT"
// comments: one problem on that line whose message contains TEXT. Several
// problems on one line are separated by " ;; ".
func wants(src string) map[int][]string {
	out := map[int][]string{}
	for i, l := range strings.Split(src, "\n") {
		if _, w, ok := strings.Cut(l, "# want: "); ok {
			out[i+1] = append(out[i+1], strings.Split(w, " ;; ")...)
		}
	}
	return out
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"yaml syntax error", `
rules:
  - name: a   # want: not valid YAML: did not find expected ',' or ']'
    requesters: [x
`},
		{"empty file", ``},
		{"unknown top-level key", `
resources: []
rulez: []   # want: top level: unknown key "rulez" (expected one of: admins, groups, identities, resources, rules, server)
`},
		{"top level not a mapping", `
- a   # want: top level: expected a mapping, got a list
`},
		{"server problems", `
server:
  addr: localhost       # want: not a host:port
  lapse_after: 5        # want: invalid duration "5"
  grant_attempts: many  # want: expected an integer, got "many"
  revoke_max_backoff: 0s  # want: must be positive
  rate_limit: {writes_per_minute: 1.5, burst: -2}  # want: writes_per_minute: expected an integer ;; burst: -2 is out of range
  base_url: jit.example.com   # want: not an absolute http(s) URL
  store: {sqlite: a.db, postgres: "postgres://x"}   # want: set either sqlite or postgres
  colour: blue          # want: server: unknown key "colour"
`},
		{"empty postgres dsn", `
server:
  store: {postgres: ""}   # want: server.store.postgres: must not be empty
`},
		{"proxy problems", `
server:
  proxy:     # want: jwks_url is required ;; issuer is required ;; audience is required
    header: X Bad   # want: "X Bad" is not a valid HTTP header name
`},
		{"oidc problems", `
server:
  oidc:     # want: client_id is required ;; set client_secret_file or client_secret_env, not both ;; redirect_url is required
    issuer: http://accounts.example.com   # want: must use https
    client_secret_file: /etc/jit/oidc-secret
    client_secret_env: JIT_OIDC_SECRET
    scopes: [groups, "a b"]   # want: "a b" is not a valid scope name
    allow_unverified_email: maybe   # want: server.oidc.allow_unverified_email: expected true or false
    colour: blue   # want: server.oidc: unknown key "colour"
`},
		{"oidc value problems", `
server:
  oidc:
    issuer: https://accounts.example.com/?tenant=1   # want: must not have a query or fragment
    client_id: jit
    client_secret_env: 1BAD   # want: "1BAD" is not an environment variable name
    redirect_url: https://jit.example.com/callback   # want: must end in /auth/callback
    email_claim: ""   # want: server.oidc.email_claim: must not be empty
`},
		{"oidc empty", `
server:
  oidc: {}   # want: issuer is required ;; client_id is required ;; client_secret_file or client_secret_env is required ;; redirect_url is required (or set server.base_url)
`},
		{"oidc redirect from an http base_url", `
server:
  base_url: http://jit.example.com
  oidc: {issuer: "https://accounts.example.com", client_id: jit, client_secret_env: S}   # want: the redirect URL made from server.base_url: "http://jit.example.com/auth/callback" must use https
`},
		{"people problems", `
admins: [carol@example.com, "group:", "not-an-email"]   # want: "" is not a valid group name ;; "not-an-email" is neither
identities:
  - {email: alice@example.com, groups: [eng]}
  - {email: ALICE@example.com}   # want: alice@example.com is listed twice (first on line 4)
  - {groups: [eng]}   # want: identities[2]: email is required
  - {email: bob, nick: b}   # want: unknown key "nick" ;; "bob" is not an email address
  - just-a-string   # want: identities[4]: expected a mapping, got "just-a-string"
groups:
  sre: [bob@example.com, sre-team]   # want: "sre-team" is not an email address
  sre: [dave@example.com]   # want: group "sre" is listed twice
`},
		{"resource problems", `
resources:
  - name: Bad_Name   # want: name must match
    provider: policytest
    access: [read]
  - name: a
    provider: nosuch   # want: unknown provider type "nosuch" (known:
    access: [read]
  - name: a   # want: resource "a" is defined twice (first on line 6)
    provider: policytest
    access: [read]
  - name: b   # want: provider is required ;; access is required
  - name: c
    provider: policytest
    access: []   # want: access must list at least one access level
  - name: d
    provider: policytest
    access: [read, read, "bad level"]   # want: access level "read" is listed twice ;; access level "bad level" must match
    default_access: write   # want: default_access "write" is not one of its access levels (read)
  - name: e
    provider: policytest
    settings: {host: h, bogus: 1}   # want: resource "e": settings: unknown setting "bogus"
    access: [{name: read, desc: x}]   # want: unknown key "desc"
    labels: [a]   # want: labels: expected a mapping, got a list
  - name: f
    provider: policytest
    settings: {panic: true}   # want: provider factory panicked
    access: [read]
  - name: g
    provider: policytest
    settings: [a, b]   # want: settings: expected a mapping
    access: [read]
`},
		{"rule problems", `
identities:
  - {email: alice@example.com, groups: [eng]}
resources:
  - {name: db, provider: policytest, access: [read, write]}
  - {name: web, provider: policytest, access: [user]}
rules:
  - name: no-max   # want: max_duration is required
    requesters: {groups: [eng]}
    resources: [db]
    approvers: {groups: [sre]}
  - name: refs
    requesters: {groups: [eng]}
    resources: [db, nosuch, "web-[", "web"]   # want: unknown resource "nosuch" ;; resource pattern "web-[" is not a valid glob
    access: [read, admin]   # want: resource "db" has no access level "admin" (levels: read, write) ;; resource "web" has no access level "read" ;; resource "web" has no access level "admin"
    max_duration: 400d   # want: longer than the maximum of 366 days
    approvers: {groups: [sre]}
  - name: regexp
    requesters: {users: [alice@example.com, sre]}   # want: "sre" is not an email address (groups go under groups:, not users:)
    resources: [db]
    max_duration: 1h
    reason: {required: yes, pattern: "(INC"}   # want: expected true or false, got "yes" ;; reason.pattern is not a valid regular expression: missing closing )
    approvers: {groups: [sre]}
  - name: nobody   # want: has no approvers and no auto_approve
    requesters: {}   # want: no one may request under it
    resources: [db]
    max_duration: 1h
  - name: conditional-auto-without-approvers   # want: has no approvers, so requests its auto_approve does not cover could never be approved
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    auto_approve: {max_duration: 2h}   # want: auto_approve.max_duration 2h is longer than the rule's max_duration 1h
  - name: zero-approvals
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    approvers: {users: [bob@example.com]}
    approvals: 0   # want: approvals must be at least 1
  - name: too-many-approvals
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    approvers: {users: [bob@example.com, carol@example.com]}
    approvals: 3   # want: needs 3 approvals but only 2 users may approve
  - name: cel
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    approvers: {peers: true}
    condition: 'requester.emial == "x"'   # want: condition: invalid CEL at 1:10: undefined field 'emial'
    auto_approve: {condition: 'requester.email'}   # want: auto_approve.condition: condition must be a bool expression, but it is of type string
  - name: cel2
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    approvers: {peers: true}
    condition: 'duration <'   # want: condition: invalid CEL at 1:
  - name: cel3
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    approvers: {peers: true}
    condition: '   '   # want: condition: must not be empty
  - name: cel   # want: rule "cel" is defined twice (first on line 45)
    requesters: {everyone: true}
    resources: [db]
    max_duration: 1h
    approvers: {peers: true}
  - requesters: {everyone: true}   # want: rules[11]: name is required
    resources: [db]
    max_duration: 1h
    approvers: {peers: true}
  - name: keys
    name: again   # want: key "name" appears twice (first on line 73)
    requesters: {everyone: true, nobody: true}   # want: rule "keys": requesters: unknown key "nobody" (expected one of: everyone, groups, users)
    resources: db   # want: resources: expected a list, got "db"
    max_duration: [1h]   # want: expected a duration like "8h", got a list
    approvers: {peers: true}
    self_approval: 1   # want: expected true or false, got the integer 1
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := wants(tt.src)
			if tt.src == "" {
				want = map[int][]string{1: {"the file is empty"}}
			}
			checkProblems(t, tt.src, want)
		})
	}
}

// checkProblems parses src and checks that it fails with exactly the
// problems want names: per line, one problem containing each text.
func checkProblems(t *testing.T, src string, want map[int][]string) {
	t.Helper()
	_, err := Parse("jit.yaml", []byte(src))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Parse error %v (%T), want a *LoadError", err, err)
	}
	if le.File != "jit.yaml" {
		t.Errorf("File %q", le.File)
	}
	got := map[int][]string{}
	for _, p := range le.Problems {
		got[p.Line] = append(got[p.Line], p.Message)
	}
	for line, subs := range want {
		for _, sub := range subs {
			i := slices.IndexFunc(got[line], func(m string) bool { return strings.Contains(m, sub) })
			if i < 0 {
				t.Errorf("line %d: no problem containing %q; problems on it: %q", line, sub, got[line])
				continue
			}
			got[line] = slices.Delete(got[line], i, i+1)
		}
	}
	for line, msgs := range got {
		for _, m := range msgs {
			t.Errorf("unexpected problem on line %d: %s", line, m)
		}
	}
	if t.Failed() {
		t.Logf("all problems:\n%v", err)
	}
	for _, p := range le.Problems {
		if !strings.Contains(err.Error(), "jit.yaml:"+strconv.Itoa(p.Line)+": "+p.Message) {
			t.Errorf("Error() lacks %d: %s", p.Line, p.Message)
		}
	}
}

func TestParseProblemsAreSortedByLine(t *testing.T) {
	// Rules are checked after resources whatever the file order, yet
	// problems come out in line order.
	_, err := Parse("x.yaml", []byte(`
rules:
  - name: r
    requesters: {everyone: true}
    resources: [nosuch]
    max_duration: 1h
    approvers: {peers: true}
resources:
  - {name: "Bad", provider: policytest, access: [a]}
`))
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("got %v", err)
	}
	if le.Problems[0].Line != 5 || le.Problems[1].Line != 9 {
		t.Fatalf("problems not in line order: %+v", le.Problems)
	}
}

func TestParseFailureClosesProviders(t *testing.T) {
	before := closeCount("closes-on-failure")
	_, err := Parse("x.yaml", []byte(`
resources:
  - {name: closes-on-failure, provider: policytest, access: [a]}
rules:
  - {name: r, requesters: {everyone: true}, resources: [nosuch], max_duration: 1h, approvers: {peers: true}}
`))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if got := closeCount("closes-on-failure"); got != before+1 {
		t.Fatalf("provider closed %d times, want 1", got-before)
	}
}

func TestServerDefaults(t *testing.T) {
	p := mustParse(t, "resources: []\n")
	got := p.Server()
	want := ServerConfig{
		Addr: "127.0.0.1:8080", DataDir: "./.jit", Store: StoreConfig{SQLite: filepath.Join(".jit", "jit.db")},
		LapseAfter: 24 * time.Hour, GrantAttempts: 5, RevokeMaxBackoff: 5 * time.Minute, JobLease: 30 * time.Second, ReconcileInterval: 5 * time.Minute,
		RateLimit: RateLimitConfig{WritesPerMinute: 120, Burst: 30},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Server() = %+v\nwant %+v", got, want)
	}
}

func TestServerSettings(t *testing.T) {
	tests := []struct {
		src  string
		want func(*ServerConfig)
	}{
		{`server: {addr: "0.0.0.0:9000", data_dir: /var/lib/jit}`, func(s *ServerConfig) {
			s.Addr, s.DataDir, s.Store.SQLite = "0.0.0.0:9000", "/var/lib/jit", "/var/lib/jit/jit.db"
		}},
		{`server: {reconcile_interval: 0}`, func(s *ServerConfig) { s.ReconcileInterval = 0 }},
		{`server: {reconcile_interval: 1m, job_lease: 10s}`, func(s *ServerConfig) { s.ReconcileInterval, s.JobLease = time.Minute, 10*time.Second }},
		{`server: {store: {sqlite: /tmp/x.db}, lapse_after: 2d, grant_attempts: 3, revoke_max_backoff: 90s}`, func(s *ServerConfig) {
			s.Store.SQLite, s.LapseAfter, s.GrantAttempts, s.RevokeMaxBackoff = "/tmp/x.db", 48*time.Hour, 3, 90*time.Second
		}},
		{`server: {store: {postgres: "postgres://jit@db/jit"}}`, func(s *ServerConfig) {
			s.Store = StoreConfig{Postgres: "postgres://jit@db/jit"}
		}},
		{`server: {rate_limit: {writes_per_minute: 10, burst: 2}, base_url: "https://jit.example.com/"}`, func(s *ServerConfig) {
			s.RateLimit, s.BaseURL = RateLimitConfig{WritesPerMinute: 10, Burst: 2}, "https://jit.example.com"
		}},
		{`server: {rate_limit: {writes_per_minute: -1}}`, func(s *ServerConfig) { s.RateLimit = RateLimitConfig{WritesPerMinute: -1} }},
		{`server: {rate_limit: {writes_per_minute: 0}}`, func(s *ServerConfig) {}},
		{`server: {proxy: {header: X-Pomerium-Jwt-Assertion, jwks_url: "https://auth.example.com/jwks.json", issuer: auth.example.com, audience: jit.example.com}}`, func(s *ServerConfig) {
			s.Proxy = &ProxyConfig{Header: "X-Pomerium-Jwt-Assertion", JWKSURL: "https://auth.example.com/jwks.json",
				Issuer: "auth.example.com", Audience: "jit.example.com", EmailClaim: "email", GroupsClaim: "groups"}
		}},
		{`server: {proxy: {header: h, jwks_url: "http://127.0.0.1:1/j", issuer: i, audience: a, email_claim: mail, groups_claim: roles}}`, func(s *ServerConfig) {
			s.Proxy = &ProxyConfig{Header: "h", JWKSURL: "http://127.0.0.1:1/j", Issuer: "i", Audience: "a", EmailClaim: "mail", GroupsClaim: "roles"}
		}},
		{`server: {oidc: {issuer: "https://accounts.example.com", client_id: jit, client_secret_file: /etc/jit/oidc-secret, redirect_url: "https://jit.example.com/auth/callback"}}`, func(s *ServerConfig) {
			s.OIDC = &OIDCConfig{Issuer: "https://accounts.example.com", ClientID: "jit", ClientSecretFile: "/etc/jit/oidc-secret",
				RedirectURL: "https://jit.example.com/auth/callback", EmailClaim: "email", GroupsClaim: "groups", Name: "accounts.example.com"}
		}},
		{`server: {base_url: "https://jit.example.com/", oidc: {name: Dex, issuer: "http://127.0.0.1:5556/dex", client_id: jit, client_secret_env: JIT_OIDC_SECRET, scopes: [groups, groups, offline_access], email_claim: upn, groups_claim: roles, allow_unverified_email: true}}`, func(s *ServerConfig) {
			s.BaseURL = "https://jit.example.com"
			s.OIDC = &OIDCConfig{Issuer: "http://127.0.0.1:5556/dex", ClientID: "jit", ClientSecretEnv: "JIT_OIDC_SECRET",
				RedirectURL: "https://jit.example.com/auth/callback", EmailClaim: "upn", GroupsClaim: "roles",
				Scopes: []string{"groups", "offline_access"}, AllowUnverifiedEmail: true, Name: "Dex"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			want := mustParse(t, "resources: []\n").Server()
			tt.want(&want)
			if got := mustParse(t, tt.src).Server(); !reflect.DeepEqual(got, want) {
				t.Fatalf("Server() = %+v (proxy %+v, oidc %+v)\nwant %+v (proxy %+v, oidc %+v)", got, got.Proxy, got.OIDC, want, want.Proxy, want.OIDC)
			}
		})
	}
}

func TestOIDCClientSecret(t *testing.T) {
	const secret = "s3cr3t-0f-the-client"
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("JIT_TEST_OIDC_SECRET", " "+secret+"\n")
	t.Setenv("JIT_TEST_OIDC_EMPTY", "")
	for _, tt := range []struct {
		cfg      OIDCConfig
		want     string
		contains string
	}{
		{OIDCConfig{ClientSecretFile: write("ok", secret+"\n")}, secret, ""},
		{OIDCConfig{ClientSecretEnv: "JIT_TEST_OIDC_SECRET"}, secret, ""},
		{OIDCConfig{ClientSecretFile: write("empty", " \n")}, "", "is empty"},
		{OIDCConfig{ClientSecretFile: filepath.Join(dir, "missing")}, "", "server.oidc.client_secret_file: open " + filepath.Join(dir, "missing")},
		{OIDCConfig{ClientSecretFile: write("big", strings.Repeat(secret, 5000))}, "", "larger than"},
		{OIDCConfig{ClientSecretEnv: "JIT_TEST_OIDC_EMPTY"}, "", "JIT_TEST_OIDC_EMPTY is not set or empty"},
		{OIDCConfig{}, "", "neither"},
	} {
		got, err := tt.cfg.ClientSecret()
		if tt.contains == "" {
			if err != nil || got != tt.want {
				t.Errorf("ClientSecret(%+v) = %q, %v", tt.cfg, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.contains) || strings.Contains(err.Error(), secret) {
			t.Errorf("ClientSecret(%+v) error = %v, want one saying %q without the secret", tt.cfg, err, tt.contains)
		}
	}
	// The policy keeps where the secret is, not the secret, and Server
	// hands out copies.
	p := mustParse(t, `server: {oidc: {issuer: "https://a.example.com", client_id: jit, client_secret_env: JIT_TEST_OIDC_SECRET, redirect_url: "https://jit.example.com/auth/callback", scopes: [groups]}}`)
	s := p.Server()
	if strings.Contains(fmt.Sprintf("%+v %+v", s, *s.OIDC), secret) {
		t.Fatal("the server settings hold the client secret")
	}
	s.OIDC.Scopes[0] = "changed"
	s.OIDC.ClientID = "changed"
	if again := p.Server(); again.OIDC.Scopes[0] != "groups" || again.OIDC.ClientID != "jit" {
		t.Fatal("Server shares its OIDC settings with the caller")
	}
}

func TestIdentity(t *testing.T) {
	p := mustParse(t, `
admins: [Carol@Example.com, "group:security"]
identities:
  - {email: Alice@Example.com, groups: [engineering, oncall], name: Alice}
  - {email: frank@example.com, groups: [security]}
groups:
  sre: [alice@example.com, bob@example.com]
  oncall: [ALICE@example.com]
`)
	tests := []struct {
		email  string
		groups []string
		admin  bool
	}{
		{"alice@example.com", []string{"engineering", "oncall", "sre"}, false},
		{"  ALICE@EXAMPLE.COM ", []string{"engineering", "oncall", "sre"}, false},
		{"bob@example.com", []string{"sre"}, false},
		{"carol@example.com", []string{}, true},
		{"frank@example.com", []string{"security"}, true},
		{"stranger@example.com", []string{}, false},
	}
	for _, tt := range tests {
		id := p.Identity(tt.email)
		if id.Email != normEmail(tt.email) || !slices.Equal(id.Groups, tt.groups) || id.Admin != tt.admin {
			t.Errorf("Identity(%q) = %+v, want groups %q admin %v", tt.email, id, tt.groups, tt.admin)
		}
	}
	id := p.Identity("alice@example.com")
	id.Groups[0] = "changed"
	if p.Identity("alice@example.com").Groups[0] != "engineering" {
		t.Fatal("Identity returns the policy's own slice")
	}
	if got := p.DisplayName("ALICE@example.com"); got != "Alice" {
		t.Fatalf("DisplayName = %q", got)
	}
}

func TestResources(t *testing.T) {
	p := mustParse(t, testConfig)
	names := []string{}
	for _, r := range p.Resources() {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"demo-app", "staging-db", "staging-web", "prod-db"}) {
		t.Fatalf("Resources() order %q", names)
	}
	r, ok := p.Resource("demo-app")
	want := ResourceInfo{Name: "demo-app", Description: "Demo internal web app", Provider: "policytest",
		Settings: map[string]any{"host": "demo.localhost", "path_prefix": "/"}, Access: []string{"user", "admin"},
		DefaultAccess: "user", Labels: map[string]string{"env": "prod"}}
	if !ok || !reflect.DeepEqual(r, want) {
		t.Fatalf("Resource = %+v, %v", r, ok)
	}
	r.Settings["host"] = "evil"
	if again, _ := p.Resource("demo-app"); again.Settings["host"] != "demo.localhost" {
		t.Fatal("Resource settings are shared with the caller")
	}
	if _, ok := p.Resource("nope"); ok {
		t.Fatal("unknown resource found")
	}
	if prov, ok := p.Provider("demo-app"); !ok || prov.(*testProvider).resource != "demo-app" {
		t.Fatalf("Provider = %v, %v", prov, ok)
	}
	if _, ok := p.Provider("nope"); ok {
		t.Fatal("provider for unknown resource")
	}
}

func TestClose(t *testing.T) {
	p, err := Parse("x.yaml", []byte(`
resources:
  - {name: close-a, provider: policytest, access: [a]}
  - {name: close-b, provider: policytest, access: [a], settings: {close_error: boom}}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := closeCount("close-a"), closeCount("close-b")
	err1 := p.Close()
	if err1 == nil || !strings.Contains(err1.Error(), "close-b") || !strings.Contains(err1.Error(), "boom") {
		t.Fatalf("Close() = %v, want the error of close-b", err1)
	}
	if err2 := p.Close(); err2 != err1 {
		t.Fatalf("second Close() = %v, want the first result", err2)
	}
	if closeCount("close-a") != a+1 || closeCount("close-b") != b+1 {
		t.Fatal("providers not closed exactly once")
	}
}

func TestMergeKeysAndAliases(t *testing.T) {
	p := mustParse(t, `
resources:
  - {name: db, provider: policytest, access: [read, write]}
rules:
  - &base
    name: read
    requesters: {groups: [eng]}
    resources: [db]
    access: [read]
    max_duration: 1h
    approvers: &sre {groups: [sre]}
  - <<: *base
    name: write
    access: [write]
    max_duration: 30m
    approvers: *sre
`)
	id := jit.Identity{Email: "a@example.com", Groups: []string{"eng"}}
	d := p.Decide(Input{Requester: id, Resource: "db", Access: "write", Duration: 45 * time.Minute, Time: workHours})
	if d.Code != jit.ECodeDurationTooLong || !strings.Contains(d.Message, "30m") {
		t.Fatalf("merged rule kept the base max_duration: %+v", d)
	}
	d = p.Decide(Input{Requester: id, Resource: "db", Access: "write", Duration: 20 * time.Minute, Time: workHours})
	if !d.Allowed || d.Rule != "write" || !slices.Equal(d.Approvers, []string{"group:sre"}) {
		t.Fatalf("merged rule: %+v", d)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jit.yaml")
	if err := os.WriteFile(path, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Name() != path || len(p.Digest()) != 64 {
		t.Fatalf("Name %q Digest %q", p.Name(), p.Digest())
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
}

// TestDocExample keeps docs/config.md honest: its full example must load
// (with the test provider standing in for the real ones) and its condition
// examples must compile.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "```yaml\n")
	end := strings.Index(text[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in docs/config.md")
	}
	var lines []string
	skipDeeper := -1 // indentation of a settings block being skipped
	for _, l := range strings.Split(text[start+8:start+8+end], "\n") {
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if skipDeeper >= 0 && (indent > skipDeeper || strings.TrimSpace(l) == "") {
			continue
		}
		skipDeeper = -1
		if strings.Contains(l, "settings:") {
			// Real providers' settings, on one line or as a block; the
			// test provider takes none.
			skipDeeper = indent
			continue
		}
		l = strings.Replace(l, "provider: http", "provider: policytest", 1)
		l = strings.Replace(l, "provider: postgres", "provider: policytest", 1)
		lines = append(lines, l)
	}
	p := mustParse(t, strings.Join(lines, "\n"))
	d := p.Decide(Input{Requester: p.Identity("erin@example.com"), Resource: "demo-app", Duration: 30 * time.Minute, Reason: "INC-1", Time: workHours})
	if !d.Allowed || d.Rule != "oncall-fast-path" || !d.AutoApproved {
		t.Fatalf("the documented explanation no longer holds: %+v", d)
	}
	for _, want := range []string{
		"rule engineers-demo-app: allows (requester via group engineering, max_duration 8h): needs 1 approval from group:sre",
		"outcome: allowed by rule oncall-fast-path, approved automatically",
	} {
		if !strings.Contains(text, want) || !has(d.Explanation, want) {
			t.Errorf("explanation line %q is not both documented and produced: %q", want, d.Explanation)
		}
	}
	examples := text[strings.Index(text, "Examples:"):]
	examples = examples[strings.Index(examples, "```")+3:]
	examples = examples[:strings.Index(examples, "```")]
	n := 0
	for _, l := range strings.Split(examples, "\n") {
		l = strings.TrimSpace(l)
		if len(l) < 2 || l[0] != '\'' {
			continue
		}
		n++
		if _, err := compileCondition(l[1 : len(l)-1]); err != nil {
			t.Errorf("documented condition %s: %v", l, err)
		}
	}
	if n < 5 {
		t.Fatalf("found only %d condition examples", n)
	}
}
