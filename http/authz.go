package jithttp

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/workflow"
)

// authz is the forward-auth check. Reverse proxies call it for each request
// to a guarded app: nginx auth_request (X-Original-URL), Traefik ForwardAuth
// and Caddy forward_auth (X-Forwarded-Host and X-Forwarded-Uri). The caller
// is already authenticated (401 otherwise, so that the proxy can send the
// person to sign in); the answer is 200 with X-Jit-* headers when the
// caller holds an active grant, 403 when not.
func (s *Server) authz(w http.ResponseWriter, r *http.Request) error {
	in, err := authzInput(r)
	if err != nil {
		return err
	}
	res, err := s.svc.Authz(r.Context(), in)
	if err != nil {
		return err
	}
	if !res.Allowed {
		writeJSON(w, http.StatusForbidden, res)
		return nil
	}
	id, _ := jit.IdentityFrom(r.Context())
	h := w.Header()
	h.Set("X-Jit-User", id.Email)
	h.Set("X-Jit-Request", res.RequestID)
	if res.ExpiresAt != nil {
		h.Set("X-Jit-Expires-At", res.ExpiresAt.UTC().Format(time.RFC3339))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// authzInput reads what is being accessed: ?resource= names it; otherwise
// the proxy's headers give the host and path of the original request.
func authzInput(r *http.Request) (workflow.AuthzInput, error) {
	// Proxies forward the original query string to the auth endpoint in
	// some setups, so parameters other than resource are ignored here.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return workflow.AuthzInput{}, jit.Errorf(jit.ECodeInvalid, "malformed query string")
	}
	var in workflow.AuthzInput
	if vals, ok := q["resource"]; ok {
		if len(vals) != 1 || strings.TrimSpace(vals[0]) == "" {
			return workflow.AuthzInput{}, jit.FieldErrorf("resource", jit.ECodeInvalid, "resource must be given once and not be empty")
		}
		in.Resource = strings.TrimSpace(vals[0])
	}
	// The proxy's view of the original request decides the route; a
	// resource named as well must own that route (the service checks), so
	// a ?resource= that the client smuggled through the proxy cannot pick
	// another resource.
	routed, err := proxyRoute(r)
	if err != nil {
		return workflow.AuthzInput{}, err
	}
	if routed.Host != "" || routed.Path != "" {
		routed.Resource = in.Resource
		return routed, nil
	}
	if in.Resource != "" {
		return in, nil
	}
	return workflow.AuthzInput{}, jit.FieldErrorf("resource", jit.ECodeInvalid,
		"name the resource (?resource=) or send X-Forwarded-Host and X-Forwarded-Uri, or X-Original-URL")
}

// errEncodedSeparator refuses paths that hide a separator or dot segment
// in percent-encoding: the app behind the proxy may decode them after
// routing and serve a path other than the one checked.
var errEncodedSeparator = jit.FieldErrorf("path", jit.ECodeForbidden, "the path contains an encoded /, \\ or dot; refused")

func hasEncodedSeparator(u *url.URL) bool {
	raw := strings.ToLower(u.EscapedPath())
	return strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%2e")
}

// proxyRoute reads the original host and path from the proxy's headers;
// both are empty when the proxy sent none.
func proxyRoute(r *http.Request) (workflow.AuthzInput, error) {
	if host := firstValue(r.Header.Get("X-Forwarded-Host")); host != "" {
		uri := r.Header.Get("X-Forwarded-Uri")
		if uri == "" {
			uri = "/"
		}
		u, err := url.ParseRequestURI(uri)
		if err != nil || u.Host != "" {
			return workflow.AuthzInput{}, jit.FieldErrorf("X-Forwarded-Uri", jit.ECodeInvalid, "X-Forwarded-Uri %q is not a request path", truncate(uri, 200))
		}
		if hasEncodedSeparator(u) {
			return workflow.AuthzInput{}, errEncodedSeparator
		}
		return workflow.AuthzInput{Host: normHost(host), Path: cleanPath(u.Path)}, nil
	}
	if orig := r.Header.Get("X-Original-URL"); orig != "" {
		u, err := url.Parse(orig)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return workflow.AuthzInput{}, jit.FieldErrorf("X-Original-URL", jit.ECodeInvalid, "X-Original-URL %q is not an absolute http(s) URL", truncate(orig, 200))
		}
		if hasEncodedSeparator(u) {
			return workflow.AuthzInput{}, errEncodedSeparator
		}
		return workflow.AuthzInput{Host: normHost(u.Host), Path: cleanPath(u.Path)}, nil
	}
	return workflow.AuthzInput{}, nil
}

// firstValue returns the first of a comma-separated header value: the
// host the first proxy saw, when proxies are chained.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

func normHost(h string) string { return strings.ToLower(strings.TrimSpace(h)) }

// cleanPath resolves dot segments ("/public/../admin" is "/admin"), as the
// app behind the proxy will, so that a rule on a path prefix cannot be
// sidestepped. A trailing slash is kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
