package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit/provider"
	"gopkg.in/yaml.v3"
)

// Defaults of the server section.
const (
	DefaultAddr             = "127.0.0.1:8080"
	DefaultDataDir          = "./.jit"
	DefaultLapseAfter       = 24 * time.Hour
	DefaultGrantAttempts    = 5
	DefaultRevokeMaxBackoff = 5 * time.Minute
	DefaultJobLease         = 30 * time.Second
	DefaultReconcile        = 5 * time.Minute
	DefaultWritesPerMinute  = 120
	DefaultBurst            = 30
	DefaultEmailClaim       = "email"
	DefaultGroupsClaim      = "groups"
)

// MaxConfigSize is the largest config file Parse accepts.
const MaxConfigSize = 16 << 20

// Load reads and parses the config file at path. A file that cannot be
// read gives a wrapped *os.PathError; an invalid one a *LoadError.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a config. name is used in error messages. On
// any problem it returns a *LoadError listing all problems found, in line
// order, and builds nothing (providers built before a problem was found are
// closed again). It never panics, whatever data holds.
func Parse(name string, data []byte) (*Policy, error) {
	sum := sha256.Sum256(data)
	p := &Policy{
		name:       name,
		digest:     hex.EncodeToString(sum[:]),
		admins:     map[string]bool{},
		adminGrps:  map[string]bool{},
		people:     map[string][]string{},
		names:      map[string]string{},
		members:    map[string][]string{},
		byName:     map[string]*resource{},
		ruleByName: map[string]*rule{},
		providers:  map[string]provider.Provider{},
		routes:     map[string]string{},
		exclusive:  map[string]string{},
	}
	d := &decoder{}
	if len(data) > MaxConfigSize {
		d.addf(1, "the file is %d bytes; the limit is %d", len(data), MaxConfigSize)
	} else {
		p.build(d, data)
	}
	if len(d.problems) > 0 {
		p.closeProviders()
		return nil, &LoadError{File: name, Problems: tidy(d.problems)}
	}
	return p, nil
}

// tidy sorts problems by line (keeping the order within a line) and drops
// exact repeats, which alias-shared nodes can produce.
func tidy(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	out := ps[:0]
	seen := map[Problem]bool{}
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// build fills p from data, reporting problems to d.
func (p *Policy) build(d *decoder, data []byte) {
	var doc yaml.Node
	if err := safeUnmarshal(data, &doc); err != nil {
		msg, line := err.Error(), 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
			// yaml.v3 gives no line for an unknown anchor; the first use of
			// the alias is where it is.
			if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
				for i, l := range strings.Split(string(data), "\n") {
					if strings.Contains(l, "*"+m[1]) {
						line = i + 1
						break
					}
				}
			}
		}
		d.addf(line, "not valid YAML: %s", msg)
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		// An empty file is refused rather than read as "no rules": during a
		// reload it is far more likely a half-written file than a wish to
		// revoke every permission.
		d.addf(1, "the file is empty; expected a mapping with server, identities, groups, resources and rules")
		return
	}
	// Sections are processed in dependency order whatever order the file
	// has them in: rules refer to resources, approver lists to people.
	sections := map[string]*yaml.Node{}
	keep := func(key string) func(*yaml.Node) { return func(v *yaml.Node) { sections[key] = v } }
	d.fields(doc.Content[0], "top level", map[string]func(*yaml.Node){
		"server": keep("server"), "admins": keep("admins"), "identities": keep("identities"),
		"groups": keep("groups"), "resources": keep("resources"), "rules": keep("rules"),
	})
	p.server = d.server(sections["server"])
	if n := sections["identities"]; n != nil {
		p.identities(d, n)
	}
	if n := sections["groups"]; n != nil {
		p.groups(d, n)
	}
	if n := sections["admins"]; n != nil {
		p.adminList(d, n)
	}
	p.finishPeople()
	if n := sections["resources"]; n != nil {
		p.resourceList(d, n)
	}
	if n := sections["rules"]; n != nil {
		p.ruleList(d, n)
	}
	p.indexRules()
}

// safeUnmarshal is yaml.Unmarshal with any panic of the parser turned into
// an error: Parse must survive every input.
func safeUnmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return yaml.Unmarshal(data, v)
}

// server reads the server section (n may be nil) and applies defaults.
func (d *decoder) server(n *yaml.Node) ServerConfig {
	s := ServerConfig{
		Addr:              DefaultAddr,
		DataDir:           DefaultDataDir,
		LapseAfter:        DefaultLapseAfter,
		GrantAttempts:     DefaultGrantAttempts,
		RevokeMaxBackoff:  DefaultRevokeMaxBackoff,
		JobLease:          DefaultJobLease,
		ReconcileInterval: DefaultReconcile,
		RateLimit:         RateLimitConfig{WritesPerMinute: DefaultWritesPerMinute, Burst: DefaultBurst},
	}
	if n == nil {
		s.Store.SQLite = filepath.Join(s.DataDir, "jit.db")
		return s
	}
	oidcLine, redirectGiven := 0, false
	d.fields(n, "server", map[string]func(*yaml.Node){
		"addr": func(v *yaml.Node) {
			if t, ok := d.str(v, "server.addr"); ok {
				if _, port, err := net.SplitHostPort(t.v); err != nil || port == "" {
					d.addf(t.line, "server.addr: %q is not a host:port address (like 127.0.0.1:8080)", t.v)
				} else {
					s.Addr = t.v
				}
			}
		},
		"data_dir": func(v *yaml.Node) {
			if t, ok := d.str(v, "server.data_dir"); ok {
				if strings.TrimSpace(t.v) == "" {
					d.addf(t.line, "server.data_dir: must not be empty")
				} else {
					s.DataDir = t.v
				}
			}
		},
		"store": func(v *yaml.Node) {
			line := d.keyLine
			var sqlite, postgres *text
			d.fields(v, "server.store", map[string]func(*yaml.Node){
				"sqlite": func(v *yaml.Node) {
					if t, ok := d.str(v, "server.store.sqlite"); ok {
						sqlite = &t
					}
				},
				"postgres": func(v *yaml.Node) {
					if t, ok := d.str(v, "server.store.postgres"); ok {
						postgres = &t
					}
				},
			})
			switch {
			case sqlite != nil && postgres != nil:
				d.addf(line, "server.store: set either sqlite or postgres, not both")
			case sqlite != nil && strings.TrimSpace(sqlite.v) == "":
				d.addf(sqlite.line, "server.store.sqlite: must not be empty")
			case postgres != nil && strings.TrimSpace(postgres.v) == "":
				d.addf(postgres.line, "server.store.postgres: must not be empty")
			case sqlite != nil:
				s.Store.SQLite = sqlite.v
			case postgres != nil:
				s.Store.Postgres = postgres.v
			}
		},
		"lapse_after": func(v *yaml.Node) {
			if dur, ok := d.duration(v, "server.lapse_after"); ok {
				s.LapseAfter = dur
			}
		},
		"grant_attempts": func(v *yaml.Node) {
			if i, ok := d.integer(v, "server.grant_attempts", 1, 100); ok {
				s.GrantAttempts = i
			}
		},
		"revoke_max_backoff": func(v *yaml.Node) {
			if dur, ok := d.duration(v, "server.revoke_max_backoff"); ok {
				s.RevokeMaxBackoff = dur
			}
		},
		"reconcile_interval": func(v *yaml.Node) {
			if n := resolve(v); n.Kind == yaml.ScalarNode && (n.Value == "0" || n.Value == "0s") {
				s.ReconcileInterval = 0 // off
				return
			}
			if dur, ok := d.duration(v, "server.reconcile_interval"); ok {
				if dur < 10*time.Second {
					d.addf(d.keyLine, "server.reconcile_interval: %s is too short (at least 10s, or 0 to turn it off)", dur)
				} else {
					s.ReconcileInterval = dur
				}
			}
		},
		"job_lease": func(v *yaml.Node) {
			if dur, ok := d.duration(v, "server.job_lease"); ok {
				if dur < time.Second {
					d.addf(d.keyLine, "server.job_lease: %s is too short (at least 1s)", dur)
				} else {
					s.JobLease = dur
				}
			}
		},
		"rate_limit": func(v *yaml.Node) {
			d.fields(v, "server.rate_limit", map[string]func(*yaml.Node){
				"writes_per_minute": func(v *yaml.Node) {
					if i, ok := d.integer(v, "server.rate_limit.writes_per_minute", -1<<31, 1_000_000); ok && i != 0 {
						s.RateLimit.WritesPerMinute = i
					}
				},
				"burst": func(v *yaml.Node) {
					if i, ok := d.integer(v, "server.rate_limit.burst", 0, 1_000_000); ok && i != 0 {
						s.RateLimit.Burst = i
					}
				},
			})
		},
		"base_url": func(v *yaml.Node) {
			if t, ok := d.str(v, "server.base_url"); ok {
				if err := checkHTTPURL(t.v); err != nil {
					d.addf(t.line, "server.base_url: %v", err)
				} else {
					s.BaseURL = strings.TrimRight(t.v, "/")
				}
			}
		},
		"proxy":         func(v *yaml.Node) { s.Proxy = d.proxy(v) },
		"notifications": func(v *yaml.Node) { s.Notifications = d.notifications(v) },
		"pagerduty":     func(v *yaml.Node) { s.PagerDuty = d.pagerDuty(v) },
		"oidc": func(v *yaml.Node) {
			oidcLine = d.keyLine
			s.OIDC, redirectGiven = d.oidc(v)
		},
	})
	if s.OIDC != nil && !redirectGiven {
		if s.BaseURL != "" {
			s.OIDC.RedirectURL = s.BaseURL + "/auth/callback"
			if err := checkRedirectURL(s.OIDC.RedirectURL); err != nil {
				d.addf(oidcLine, "server.oidc: the redirect URL made from server.base_url: %v", err)
			}
		} else {
			d.addf(oidcLine, "server.oidc: redirect_url is required (or set server.base_url)")
		}
	}
	if s.RateLimit.WritesPerMinute < 0 {
		// Negative means "no limit"; keep one canonical form for callers.
		s.RateLimit = RateLimitConfig{WritesPerMinute: -1}
	}
	if s.Store.SQLite == "" && s.Store.Postgres == "" {
		s.Store.SQLite = filepath.Join(s.DataDir, "jit.db")
	}
	return s
}

func (d *decoder) proxy(n *yaml.Node) *ProxyConfig {
	line := d.keyLine
	pc := &ProxyConfig{EmailClaim: DefaultEmailClaim, GroupsClaim: DefaultGroupsClaim}
	lines := map[string]int{}
	set := func(dst *string, what string) func(*yaml.Node) {
		return func(v *yaml.Node) {
			if t, ok := d.str(v, "server.proxy."+what); ok {
				*dst = strings.TrimSpace(t.v)
				lines[what] = t.line
			}
		}
	}
	if !d.fields(n, "server.proxy", map[string]func(*yaml.Node){
		"header": set(&pc.Header, "header"), "jwks_url": set(&pc.JWKSURL, "jwks_url"),
		"issuer": set(&pc.Issuer, "issuer"), "audience": set(&pc.Audience, "audience"),
		"email_claim": set(&pc.EmailClaim, "email_claim"), "groups_claim": set(&pc.GroupsClaim, "groups_claim"),
	}) {
		return nil
	}
	for _, req := range []struct{ v, name string }{
		{pc.Header, "header"}, {pc.JWKSURL, "jwks_url"}, {pc.Issuer, "issuer"}, {pc.Audience, "audience"},
		{pc.EmailClaim, "email_claim"}, {pc.GroupsClaim, "groups_claim"},
	} {
		if req.v == "" {
			d.addf(line, "server.proxy: %s is required", req.name)
		}
	}
	if pc.JWKSURL != "" {
		if err := checkHTTPURL(pc.JWKSURL); err != nil {
			d.addf(lines["jwks_url"], "server.proxy.jwks_url: %v", err)
		}
	}
	if pc.Header != "" && !validHeaderName(pc.Header) {
		d.addf(lines["header"], "server.proxy.header: %q is not a valid HTTP header name", pc.Header)
	}
	return pc
}

// maxSecretFile bounds the client secret file.
const maxSecretFile = 64 << 10

// ClientSecret reads the client secret from the file or environment
// variable the config names. Surrounding white space (a file's final
// newline) is removed. The errors name the file or variable, never the
// secret; an empty secret is an error.
func (c *OIDCConfig) ClientSecret() (string, error) {
	var secret string
	switch {
	case c.ClientSecretFile != "":
		f, err := os.Open(c.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("server.oidc.client_secret_file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil {
			return "", fmt.Errorf("server.oidc.client_secret_file: read %s: %w", c.ClientSecretFile, err)
		}
		if len(b) > maxSecretFile {
			return "", fmt.Errorf("server.oidc.client_secret_file: %s is larger than %d bytes", c.ClientSecretFile, maxSecretFile)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return "", fmt.Errorf("server.oidc.client_secret_file: %s is empty", c.ClientSecretFile)
		}
	case c.ClientSecretEnv != "":
		secret = strings.TrimSpace(os.Getenv(c.ClientSecretEnv))
		if secret == "" {
			return "", fmt.Errorf("server.oidc.client_secret_env: the environment variable %s is not set or empty", c.ClientSecretEnv)
		}
	default:
		return "", fmt.Errorf("server.oidc: neither client_secret_file nor client_secret_env is set")
	}
	return secret, nil
}

// oidc reads server.oidc and says whether redirect_url was given: where it
// was not, server makes it from base_url once the whole section is read.
func (d *decoder) oidc(n *yaml.Node) (*OIDCConfig, bool) {
	oc := &OIDCConfig{EmailClaim: DefaultEmailClaim, GroupsClaim: DefaultGroupsClaim}
	line := d.keyLine
	lines := map[string]int{}
	set := func(dst *string, what string) func(*yaml.Node) {
		return func(v *yaml.Node) {
			if t, ok := d.str(v, "server.oidc."+what); ok {
				*dst = strings.TrimSpace(t.v)
				lines[what] = t.line
				if *dst == "" {
					d.addf(t.line, "server.oidc.%s: must not be empty", what)
				}
			}
		}
	}
	if !d.fields(n, "server.oidc", map[string]func(*yaml.Node){
		"name":               set(&oc.Name, "name"),
		"issuer":             set(&oc.Issuer, "issuer"),
		"client_id":          set(&oc.ClientID, "client_id"),
		"client_secret_file": set(&oc.ClientSecretFile, "client_secret_file"),
		"client_secret_env":  set(&oc.ClientSecretEnv, "client_secret_env"),
		"redirect_url":       set(&oc.RedirectURL, "redirect_url"),
		"email_claim":        set(&oc.EmailClaim, "email_claim"),
		"groups_claim":       set(&oc.GroupsClaim, "groups_claim"),
		"scopes": func(v *yaml.Node) {
			for _, t := range d.strList(v, "server.oidc.scopes") {
				if !validScope(t.v) {
					d.addf(t.line, "server.oidc.scopes: %q is not a valid scope name (printable characters, no spaces or quotes)", t.v)
				} else if !slices.Contains(oc.Scopes, t.v) {
					oc.Scopes = append(oc.Scopes, t.v)
				}
			}
		},
		"allow_unverified_email": func(v *yaml.Node) {
			if b, ok := d.boolean(v, "server.oidc.allow_unverified_email"); ok {
				oc.AllowUnverifiedEmail = b
			}
		},
	}) {
		return nil, true
	}
	if _, ok := lines["issuer"]; !ok {
		d.addf(line, "server.oidc: issuer is required")
	} else if oc.Issuer != "" {
		if err := checkOIDCURL(oc.Issuer); err != nil {
			d.addf(lines["issuer"], "server.oidc.issuer: %v", err)
		} else if u, _ := url.Parse(oc.Issuer); u.RawQuery != "" || u.Fragment != "" {
			d.addf(lines["issuer"], "server.oidc.issuer: %q must not have a query or fragment", oc.Issuer)
		} else if oc.Name == "" {
			oc.Name = u.Host
		}
	}
	if _, ok := lines["client_id"]; !ok {
		d.addf(line, "server.oidc: client_id is required")
	}
	_, file := lines["client_secret_file"]
	_, env := lines["client_secret_env"]
	switch {
	case file && env:
		d.addf(line, "server.oidc: set client_secret_file or client_secret_env, not both")
	case !file && !env:
		d.addf(line, "server.oidc: client_secret_file or client_secret_env is required (the secret itself never goes in this file)")
	case env && oc.ClientSecretEnv != "" && !envName.MatchString(oc.ClientSecretEnv):
		d.addf(lines["client_secret_env"], "server.oidc.client_secret_env: %q is not an environment variable name", oc.ClientSecretEnv)
	}
	_, redirect := lines["redirect_url"]
	if oc.RedirectURL != "" {
		if err := checkRedirectURL(oc.RedirectURL); err != nil {
			d.addf(lines["redirect_url"], "server.oidc.redirect_url: %v", err)
		}
	}
	return oc, redirect
}

// envName is what a shell accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkOIDCURL accepts an absolute https URL, or http on a loopback host:
// the client secret and the codes travel to these addresses.
func checkOIDCURL(s string) error {
	if err := checkHTTPURL(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q must use https (http is allowed for loopback addresses only)", s)
	}
	return nil
}

// checkRedirectURL also wants the path jitd receives the provider's answer
// on, so that a mistyped URL is found at load rather than at the first
// sign-in.
func checkRedirectURL(s string) error {
	if err := checkOIDCURL(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if !strings.HasSuffix(u.Path, "/auth/callback") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must end in /auth/callback (where jitd receives the provider's answer), without query or fragment", s)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScope: a scope token of RFC 6749 section 3.3.
func validScope(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

func validHeaderName(s string) bool {
	for _, c := range s {
		ok := c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return s != ""
}

// normEmail lowercases and trims an email; people are compared by it.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// validEmail is a deliberately small check: one "@" with text on both
// sides and no spaces or control characters. It catches typos such as a
// group name in a users list without rejecting unusual real addresses.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return len(s) <= 254
}

// validGroup accepts any non-empty name without surrounding spaces or
// control characters: groups come from identity providers whose names
// may contain spaces ("Domain Admins").
func validGroup(s string) bool {
	if s == "" || strings.TrimSpace(s) != s || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func (p *Policy) identities(d *decoder, n *yaml.Node) {
	first := map[string]int{}
	d.list(n, "identities", func(i int, item *yaml.Node) {
		where := fmt.Sprintf("identities[%d]", i)
		var email text
		var groups []text
		var name string
		if !d.fields(item, where, map[string]func(*yaml.Node){
			"email": func(v *yaml.Node) {
				if t, ok := d.str(v, where+".email"); ok {
					email = t
				}
			},
			"groups": func(v *yaml.Node) { groups = d.strList(v, where+".groups") },
			"name": func(v *yaml.Node) {
				if t, ok := d.str(v, where+".name"); ok {
					name = t.v
				}
			},
		}) {
			return
		}
		e := normEmail(email.v)
		switch {
		case email.v == "":
			d.addf(resolve(item).Line, "%s: email is required", where)
			return
		case !validEmail(e):
			d.addf(email.line, "%s: %q is not an email address", where, email.v)
			return
		}
		if line, dup := first[e]; dup {
			d.addf(email.line, "%s: identity %s is listed twice (first on line %d)", where, e, line)
			return
		}
		first[e] = email.line
		p.people[e] = nil
		for _, g := range groups {
			if !validGroup(g.v) {
				d.addf(g.line, "%s: %q is not a valid group name", where, g.v)
				continue
			}
			p.people[e] = append(p.people[e], g.v)
		}
		if name != "" {
			p.names[e] = name
		}
	})
}

func (p *Policy) groups(d *decoder, n *yaml.Node) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, "groups: expected a mapping of group names to lists of emails, got %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for _, kv := range d.pairs(n, 0) {
		k := resolve(kv.key)
		if k.Kind != yaml.ScalarNode || !validGroup(k.Value) {
			d.addf(kv.key.Line, "groups: %s is not a valid group name", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.addf(k.Line, "groups: group %q is listed twice (first on line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		if isNull(kv.value) {
			continue
		}
		where := fmt.Sprintf("groups.%s", k.Value)
		for _, m := range d.strList(kv.value, where) {
			e := normEmail(m.v)
			if !validEmail(e) {
				d.addf(m.line, "%s: %q is not an email address", where, m.v)
				continue
			}
			p.people[e] = append(p.people[e], k.Value)
		}
	}
}

func (p *Policy) adminList(d *decoder, n *yaml.Node) {
	for _, a := range d.strList(n, "admins") {
		if g, ok := strings.CutPrefix(a.v, "group:"); ok {
			if !validGroup(g) {
				d.addf(a.line, "admins: %q is not a valid group name", g)
				continue
			}
			p.adminGrps[g] = true
			continue
		}
		e := normEmail(a.v)
		if !validEmail(e) {
			d.addf(a.line, "admins: %q is neither an email address nor group:NAME", a.v)
			continue
		}
		p.admins[e] = true
	}
}

// finishPeople sorts and de-duplicates each person's groups and builds the
// reverse index from group to members.
func (p *Policy) finishPeople() {
	for e, gs := range p.people {
		sort.Strings(gs)
		gs = compact(gs)
		p.people[e] = gs
		for _, g := range gs {
			p.members[g] = append(p.members[g], e)
		}
	}
	for g := range p.members {
		sort.Strings(p.members[g])
	}
	p.known = sortedKeys(p.people)
}

// compact removes adjacent duplicates from a sorted slice.
func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
