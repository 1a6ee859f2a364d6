// Package http is the forward-auth provider (type "http") for internal web
// applications behind a reverse proxy (nginx auth_request, Caddy
// forward_auth, Traefik ForwardAuth).
//
// Nothing is created in a target: the proxy asks jitd's GET /api/v1/authz
// for every request, and jitd answers from its store (an active grant whose
// expires_at has not passed). This provider only describes which requests
// belong to the resource (Match) and says that its access lives in the
// store (StoreEnforced). See docs/providers.md for proxy configuration.
package http

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "http"

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Router        = (*Provider)(nil)
	_ provider.StoreEnforced = (*Provider)(nil)
)

// Provider guards the routes of one resource: a host (exact or one-label
// wildcard) and a path prefix. It is immutable and safe for concurrent use.
type Provider struct {
	// host is lower case without a trailing dot; "" matches any host.
	host string
	// wildcard is true for "*.suffix" hosts; host then holds ".suffix".
	wildcard bool
	// prefix is a cleaned absolute path without a trailing slash, or "/".
	prefix string
}

// Handle is what Grant returns: the route the grant covers, recorded for
// the audit trail and for people reading a request. It holds no secret.
type Handle struct {
	Host       string `json:"host"`
	PathPrefix string `json:"path_prefix"`
}

// New builds the provider from r.Settings:
//
//	host:        exact host ("demo.localhost") or wildcard ("*.apps.example.com")
//	path_prefix: path prefix, default "/"
//
// At least one of them must be given; unknown settings are refused. New
// never contacts anything. Errors name the offending setting.
func New(r provider.Resource) (provider.Provider, error) {
	s := provider.NewSettings(r.Settings)
	hasHost, hasPrefix := s.Has("host"), s.Has("path_prefix")
	host := s.String("host", hasHost)
	prefix := s.String("path_prefix", hasPrefix)
	if !hasHost && !hasPrefix {
		s.Errorf("host", "at least one of host and path_prefix is required")
	}
	p := &Provider{prefix: "/"}
	if host != "" {
		h, wildcard, err := parseHostSetting(host)
		if err != nil {
			s.Errorf("host", "%v", err)
		}
		p.host, p.wildcard = h, wildcard
	}
	if prefix != "" {
		pp, err := parsePrefixSetting(prefix)
		if err != nil {
			s.Errorf("path_prefix", "%v", err)
		}
		p.prefix = pp
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// parseHostSetting validates a host setting and returns it normalised.
// Ports, schemes and paths are refused rather than stripped: a setting like
// "https://demo.example.com/" shows a misunderstanding worth reporting.
func parseHostSetting(h string) (host string, wildcard bool, err error) {
	h = strings.TrimSpace(h)
	for _, c := range h {
		if c >= 0x80 {
			// Internationalised names are configured in their ASCII
			// (punycode) form, which is what proxies forward.
			return "", false, fmt.Errorf("must be ASCII (write internationalised names as xn--...), got %q", h)
		}
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@") {
		return "", false, fmt.Errorf("must be a host name only (no scheme, path or user), got %q", h)
	}
	if strings.Contains(h, ":") {
		return "", false, fmt.Errorf("must not contain a port (ports are ignored when matching), got %q", h)
	}
	name := h
	if strings.HasPrefix(h, "*.") {
		wildcard = true
		name = h[2:]
	}
	if strings.Contains(name, "*") {
		return "", false, fmt.Errorf("a wildcard is allowed only as the whole first label (\"*.apps.example.com\"), got %q", h)
	}
	if name == "" {
		return "", false, fmt.Errorf("host name is empty in %q", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return "", false, fmt.Errorf("has an empty label in %q", h)
		}
		if len(label) > 63 {
			return "", false, fmt.Errorf("label %q is longer than 63 characters", label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false, fmt.Errorf("has character %q not allowed in a host name, in %q", c, h)
			}
		}
	}
	if wildcard {
		return "." + name, true, nil
	}
	return name, false, nil
}

// parsePrefixSetting validates and normalises a path prefix.
func parsePrefixSetting(p string) (string, error) {
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("must start with \"/\", got %q", p)
	}
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("must be a path without query or fragment, got %q", p)
	}
	// Match compares decoded paths, so the prefix is written decoded too;
	// an escape here would be ambiguous ("/a%2Fb" is one segment or two).
	if strings.Contains(p, "%") {
		return "", fmt.Errorf("must be written decoded, without percent-escapes (\"/my app\", not \"/my%%20app\"), got %q", p)
	}
	clean := path.Clean(p)
	if clean != strings.TrimSuffix(p, "/") && clean != p {
		return "", fmt.Errorf("must be a clean path (no \"..\", \".\" or \"//\"), got %q; did you mean %q?", p, clean)
	}
	return clean, nil
}

// Grant records nothing anywhere: the authz endpoint allows the user's
// requests as soon as the store holds the active grant. It returns the
// route as the handle. It fails only when ctx has already ended, so that
// callers see the same cancellation behaviour from every provider.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("http grant %s: %w", req.RequestID, err))
	}
	h, err := json.Marshal(p.handle())
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("http grant %s: encode handle: %w", req.RequestID, err)
	}
	return provider.GrantResponse{Handle: h}, nil
}

// Revoke has nothing to remove: once the store no longer holds an active
// grant, the authz endpoint refuses the next request. It is idempotent and
// fails only when ctx has already ended.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, provider.NotApplied(fmt.Errorf("http revoke %s: %w", req.RequestID, err))
	}
	return provider.RevokeResponse{}, nil
}

// Verify always reports Present=false: there is no target to ask. The
// store is the source of truth for this provider's access, and the authz
// endpoint checks expires_at itself on every request, so access ends on
// time even if a revoke job is late. Callers recognise such providers with
// provider.IsStoreEnforced and must not reconcile them through Verify.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("http verify %s: %w", req.RequestID, err)
	}
	return provider.VerifyResponse{Present: false}, nil
}

// StoreEnforced reports true: see provider.StoreEnforced.
func (p *Provider) StoreEnforced() bool { return true }

func (p *Provider) handle() Handle {
	h := Handle{Host: p.host, PathPrefix: p.prefix}
	if p.wildcard {
		h.Host = "*" + p.host
	}
	return h
}

// Route returns the normalised host setting ("" for any host, "*.x.y" for
// a wildcard) and path prefix, for listings and for detecting resources
// whose routes overlap.
func (p *Provider) Route() (host, pathPrefix string) {
	h := p.handle()
	return h.Host, h.PathPrefix
}

// Match reports whether a request for host and path belongs to this
// resource.
//
// The host is compared case-insensitively, ignoring a port and a trailing
// dot; a wildcard "*.apps.example.com" matches exactly one more label
// ("a.apps.example.com", not "apps.example.com" nor "a.b.apps.example.com"),
// as wildcard certificates do.
//
// path is the decoded request path, as in url.URL.Path, without a query:
// the caller decodes the proxy's header exactly once, as the application
// will. Match does not decode it again, because a second decoding would
// turn a literal "%2e%2e" segment into ".." and move the request out of
// the prefix the application actually serves it under. Dot segments are
// resolved ("/public/../admin" is "/admin"). The prefix matches whole
// segments: "/app" matches "/app" and "/app/x", not "/apple". A path not
// starting with "/" matches nothing; an empty path is "/".
func (p *Provider) Match(host, path string) bool {
	return p.matchHost(host) && p.matchPath(path)
}

func (p *Provider) matchHost(host string) bool {
	if p.host == "" {
		return true
	}
	h := normaliseHost(host)
	if h == "" {
		return false
	}
	if !p.wildcard {
		return h == p.host
	}
	// One label, non-empty, before the suffix.
	label, ok := strings.CutSuffix(h, p.host)
	return ok && label != "" && !strings.Contains(label, ".")
}

// normaliseHost lower-cases host and drops a port and a trailing dot. It
// returns "" for something that is not a host (non-ASCII, an IPv6 literal
// without its closing bracket, an empty string). Lower-casing is ASCII
// only: Unicode case folding would turn the Kelvin sign into "k" and let a
// host nobody configured match.
func normaliseHost(host string) string {
	h := strings.TrimSpace(host)
	b := []byte(h)
	for i, c := range b {
		if c >= 0x80 {
			return ""
		}
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	h = string(b)
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return ""
		}
		return h[:end+1]
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

func (p *Provider) matchPath(reqPath string) bool {
	if reqPath == "" {
		reqPath = "/"
	}
	if !strings.HasPrefix(reqPath, "/") {
		return false
	}
	if p.prefix == "/" {
		return true
	}
	clean := path.Clean(reqPath)
	return clean == p.prefix || strings.HasPrefix(clean, p.prefix+"/")
}
