package jithttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/proxyauth"
)

// Authenticator establishes who sent a request.
//
// ok=false with a nil error means the request carries no credentials this
// authenticator handles; the next one is asked. A non-nil error means the
// credentials are this authenticator's and are not valid: the request is
// answered 401 unauthenticated, unless the error wraps a *jit.Error with
// another code (unavailable when the token store or the IdP cannot be
// reached), which is answered as that code.
type Authenticator interface {
	Authenticate(r *http.Request) (id jit.Identity, ok bool, err error)
}

// Resolver turns an authenticated email (and the groups the credential
// asserts) into an Identity; workflow.Service.ResolveIdentity is one. via
// says how the identity was established.
type Resolver func(email string, groups []string, via string) jit.Identity

func resolve(fn Resolver, email string, groups []string, via string) jit.Identity {
	if fn == nil {
		return jit.Identity{Email: email, Groups: groups, Via: via}
	}
	id := fn(email, groups, via)
	if id.Via == "" {
		id.Via = via
	}
	return id
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// TokenAuth accepts API tokens (jit_...) looked up by their SHA-256 hash.
// Bearer tokens without the jit_ prefix are left to other authenticators.
type TokenAuth struct {
	Store   jit.Store
	Resolve Resolver
	// Cache, if set, remembers tokens found for a short while.
	Cache *TokenCache
}

// Authenticate implements Authenticator. An unknown token is an error
// (401); a store failure is an unavailable error (503).
func (a TokenAuth) Authenticate(r *http.Request) (jit.Identity, bool, error) {
	tok, ok := bearer(r)
	if !ok || !strings.HasPrefix(tok, jit.TokenPrefix) {
		return jit.Identity{}, false, nil
	}
	// The lookup is by hash, so the comparison of secrets happens on
	// digests inside the store and timing reveals nothing of the token.
	hash := jit.HashToken(tok)
	if a.Cache != nil {
		if t, ok := a.Cache.get(hash); ok {
			return resolve(a.Resolve, t.Email, nil, "token"), true, nil
		}
	}
	t, err := a.Store.TokenByHash(r.Context(), hash)
	if err == nil && a.Cache != nil {
		a.Cache.put(hash, t)
	}
	if err != nil {
		if jit.ErrorCode(err) == jit.ECodeNotFound {
			return jit.Identity{}, false, jit.Errorf(jit.ECodeUnauthenticated, "unknown API token")
		}
		var je *jit.Error
		if errors.As(err, &je) {
			return jit.Identity{}, false, fmt.Errorf("look up API token: %w", err)
		}
		return jit.Identity{}, false, fmt.Errorf("look up API token: %w: %v",
			jit.Errorf(jit.ECodeUnavailable, "the token store cannot be reached; retry later"), err)
	}
	return resolve(a.Resolve, t.Email, nil, "token"), true, nil
}

// DevTokens accepts the fixed tokens of a development server, and only
// from a loopback peer, so that a dev server exposed by mistake does not
// let anyone in with the well-known tokens.
type DevTokens struct {
	// Tokens maps each token to its email.
	Tokens  map[string]string
	Resolve Resolver
}

// Authenticate implements Authenticator. It never returns an error: a token
// it does not know, or a request from a non-loopback peer, is not its
// business (and ends as 401 when no other authenticator claims it).
func (a DevTokens) Authenticate(r *http.Request) (jit.Identity, bool, error) {
	tok, ok := bearer(r)
	if !ok || !loopbackPeer(r.RemoteAddr) {
		return jit.Identity{}, false, nil
	}
	// Compare digests, over every entry, so that neither the position of
	// a match nor the length of a token shows in the timing.
	got := sha256.Sum256([]byte(tok))
	email := ""
	for t, e := range a.Tokens {
		want := sha256.Sum256([]byte(t))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			email = e
		}
	}
	if email == "" {
		return jit.Identity{}, false, nil
	}
	return resolve(a.Resolve, email, nil, "dev-token"), true, nil
}

// loopbackPeer reports whether the TCP peer address is a loopback address.
func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// ProxyJWT accepts a trusted proxy's identity assertion from Header (the
// verifier's header when empty).
type ProxyJWT struct {
	Verifier *proxyauth.Verifier
	Header   string
	Resolve  Resolver
}

// Authenticate implements Authenticator. A request without the header is
// not its business; an assertion that fails verification is an error
// (401), and an unreachable key set is an unavailable error (503).
func (a ProxyJWT) Authenticate(r *http.Request) (jit.Identity, bool, error) {
	header := a.Header
	if header == "" {
		header = a.Verifier.Header()
	}
	raw := r.Header.Get(header)
	if raw == "" {
		return jit.Identity{}, false, nil
	}
	c, err := a.Verifier.Verify(r.Context(), raw)
	if err != nil {
		if errors.Is(err, proxyauth.ErrJWKS) {
			return jit.Identity{}, false, fmt.Errorf("verify proxy assertion: %w: %v",
				jit.Errorf(jit.ECodeUnavailable, "the identity provider's keys cannot be fetched; retry later"), err)
		}
		return jit.Identity{}, false, fmt.Errorf("verify proxy assertion: %w", err)
	}
	return resolve(a.Resolve, c.Email, c.Groups, "proxy-jwt"), true, nil
}
