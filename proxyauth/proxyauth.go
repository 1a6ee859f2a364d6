// Package proxyauth verifies the identity assertion a trusted proxy puts in a
// request header: a JWT such as Pomerium's X-Pomerium-Jwt-Assertion or Google
// IAP's x-goog-iap-jwt-assertion. The signature is checked against the
// proxy's JWKS (fetched over HTTP and cached), and so are the issuer, the
// audience, the expiry, not-before and issued-at times, and the email claim.
//
// Only RS256 and ES256 are accepted. Every other algorithm (including "none"
// and HMAC algorithms, which would let the public key be used as a shared
// secret) is refused before any key is looked up.
package proxyauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/jitaccess/jit"
)

// Errors returned by Verify, wrapped with detail; test with errors.Is. Every
// one of them means the assertion must not be trusted.
var (
	// ErrMalformed: the value is not a compact JWS with a JSON payload.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm: the token is not signed with RS256 or ES256.
	ErrAlgorithm = errors.New("signature algorithm not allowed")
	// ErrUnknownKey: no key in the JWKS has the token's kid (after a
	// refetch, when one was allowed), or the key does not fit the algorithm.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrSignature: the signature does not verify with the key.
	ErrSignature = errors.New("invalid signature")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience: aud does not contain the configured audience.
	ErrAudience = errors.New("wrong audience")
	// ErrExpired: exp is missing or in the past (beyond the leeway).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: nbf or iat is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrEmail: the email claim is missing or not a plausible address, or
	// the groups claim is not a list of strings.
	ErrEmail = errors.New("invalid identity claims")
	// ErrJWKS: the key set could not be fetched or parsed.
	ErrJWKS = errors.New("key set unavailable")
)

// allowedAlgs are the only algorithms accepted. They are pinned here rather
// than taken from the key set so that a key set (or a token) can never widen
// them.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// refetchInterval is the least time between two fetches of the key set,
	// so that a flood of tokens with made-up kids cannot hammer the IdP.
	refetchInterval = 30 * time.Second
	// maxKeyAge is how long a fetched key set is used before it is fetched
	// again on the next verification, so that removed keys stop working.
	maxKeyAge = time.Hour
	// maxJWKSBytes bounds the key set document.
	maxJWKSBytes = 1 << 20
	// maxTokenBytes bounds the assertion; real ones are a few KiB.
	maxTokenBytes = 16 << 10
)

// Config configures a Verifier.
type Config struct {
	// Header is the request header that carries the assertion (required).
	Header string
	// JWKSURL is the http(s) URL of the proxy's JSON Web Key Set (required).
	JWKSURL string
	// Issuer must equal the token's iss claim (required).
	Issuer string
	// Audience must be in the token's aud claim (required).
	Audience string
	// EmailClaim names the claim holding the email (default "email").
	EmailClaim string
	// GroupsClaim names the claim holding the groups (default "groups").
	GroupsClaim string
	// HTTPClient fetches the key set (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Clock is the time source for claim checks and fetch pacing (default
	// jit.SystemClock).
	Clock jit.Clock
	// Leeway is the clock skew tolerated on exp, nbf and iat (default 30 s).
	Leeway time.Duration
}

func (c Config) withDefaults() Config {
	if c.EmailClaim == "" {
		c.EmailClaim = "email"
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	return c
}

func (c Config) validate() error {
	var problems []string
	if strings.TrimSpace(c.Header) == "" {
		problems = append(problems, "header is required")
	}
	if c.JWKSURL == "" {
		problems = append(problems, "jwks_url is required")
	} else if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("jwks_url %q must be an absolute http(s) URL", c.JWKSURL))
	}
	if c.Issuer == "" {
		problems = append(problems, "issuer is required")
	}
	if c.Audience == "" {
		problems = append(problems, "audience is required")
	}
	if c.Leeway < 0 {
		problems = append(problems, fmt.Sprintf("leeway %s must not be negative", c.Leeway))
	}
	if len(problems) > 0 {
		return fmt.Errorf("proxyauth config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Claims is the identity a verified assertion carries.
type Claims struct {
	Email   string
	Groups  []string
	Subject string
	Expiry  time.Time
}

// Verifier checks assertions. It is safe for concurrent use.
type Verifier struct {
	cfg Config

	// fetching is a one-slot semaphore: one key set fetch at a time, and
	// waiting for it honours the caller's context (a mutex would not).
	fetching chan struct{}

	mu        sync.RWMutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // when the current keys were fetched
	triedAt   time.Time // when a fetch was last attempted, successful or not
}

// New validates cfg, applies defaults and returns a Verifier. It does not
// contact the key set URL; the keys are fetched on first use.
func New(cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, fetching: make(chan struct{}, 1)}, nil
}

// Header is the request header the assertion is read from.
func (v *Verifier) Header() string { return v.cfg.Header }

// Verify checks raw and returns its identity claims. Any error means the
// assertion is not trusted; errors wrap one of the Err values of this
// package. Verify may fetch the key set, and returns ctx's error if ctx ends
// first. It never changes anything but the key cache.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Claims{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(raw) > maxTokenBytes {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenBytes)
	}
	// Read alg from the header before anything else: a disallowed algorithm
	// is refused here, before any key lookup or fetch.
	alg, err := headerAlg(raw)
	if err != nil {
		return Claims{}, err
	}
	sig, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(sig.Signatures) != 1 || sig.Signatures[0].Protected.Algorithm != string(alg) {
		return Claims{}, fmt.Errorf("%w: unexpected header", ErrMalformed)
	}
	kid := sig.Signatures[0].Protected.KeyID
	if kid == "" {
		// Without a kid the key set would have to be searched, and a
		// missing kid would trigger refetches; the proxies jit supports
		// always set one.
		return Claims{}, fmt.Errorf("%w: token has no kid", ErrUnknownKey)
	}

	key, err := v.key(ctx, kid, alg)
	if err != nil {
		return Claims{}, err
	}

	payload, err := sig.Verify(key)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: kid %q: %v", ErrSignature, kid, err)
	}
	var std jwt.Claims
	var all map[string]any
	if err := json.Unmarshal(payload, &std); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(payload, &all); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := v.checkStandard(std); err != nil {
		return Claims{}, err
	}
	c := Claims{Subject: std.Subject, Expiry: std.Expiry.Time().UTC()}
	if c.Email, err = emailClaim(all, v.cfg.EmailClaim); err != nil {
		return Claims{}, err
	}
	if c.Groups, err = groupsClaim(all, v.cfg.GroupsClaim); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// headerAlg decodes the protected header of a compact JWS and returns its
// alg when it is one of the allowed algorithms.
func headerAlg(raw string) (jose.SignatureAlgorithm, error) {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return "", fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("%w: header is not JSON", ErrMalformed)
	}
	for _, a := range allowedAlgs {
		if h.Alg == string(a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: %q (allowed: RS256, ES256)", ErrAlgorithm, h.Alg)
}

func (v *Verifier) checkStandard(std jwt.Claims) error {
	if std.Expiry == nil {
		return fmt.Errorf("%w: no exp claim", ErrExpired)
	}
	err := std.ValidateWithLeeway(jwt.Expected{
		Issuer:      v.cfg.Issuer,
		AnyAudience: jwt.Audience{v.cfg.Audience},
		Time:        v.cfg.Clock.Now(),
	}, v.cfg.Leeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return fmt.Errorf("%w: got %q", ErrIssuer, std.Issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return fmt.Errorf("%w: %q is not in the audience", ErrAudience, v.cfg.Audience)
	case errors.Is(err, jwt.ErrExpired):
		return fmt.Errorf("%w: at %s", ErrExpired, std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet):
		return fmt.Errorf("%w: nbf %s", ErrNotYetValid, std.NotBefore.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return fmt.Errorf("%w: iat %s is in the future", ErrNotYetValid, std.IssuedAt.Time().UTC().Format(time.RFC3339))
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

func emailClaim(all map[string]any, name string) (string, error) {
	val, ok := all[name]
	if !ok {
		return "", fmt.Errorf("%w: no %q claim", ErrEmail, name)
	}
	s, ok := val.(string)
	if !ok {
		return "", fmt.Errorf("%w: claim %q is not a string", ErrEmail, name)
	}
	if !plausibleEmail(s) {
		return "", fmt.Errorf("%w: claim %q is not an email address", ErrEmail, name)
	}
	return strings.ToLower(s), nil
}

// plausibleEmail accepts a bare addr-spec with a dotted domain: no display
// name, no spaces or control characters, within the length RFC 5321 allows.
func plausibleEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func groupsClaim(all map[string]any, name string) ([]string, error) {
	val, ok := all[name]
	if !ok || val == nil {
		return nil, nil
	}
	list, ok := val.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: claim %q is not a list", ErrEmail, name)
	}
	groups := make([]string, 0, len(list))
	for _, g := range list {
		s, ok := g.(string)
		if !ok {
			return nil, fmt.Errorf("%w: claim %q holds a non-string", ErrEmail, name)
		}
		groups = append(groups, s)
	}
	return groups, nil
}

// key returns the public key with kid that fits alg, fetching the key set
// when it was never fetched, is stale, or lacks kid (at most once per
// refetchInterval).
func (v *Verifier) key(ctx context.Context, kid string, alg jose.SignatureAlgorithm) (any, error) {
	now := v.cfg.Clock.Now()
	v.mu.RLock()
	k, found := findKey(v.keys, kid)
	fresh := !v.fetchedAt.IsZero() && now.Sub(v.fetchedAt) < maxKeyAge
	v.mu.RUnlock()

	if !found || !fresh {
		if err := v.refresh(ctx); err != nil {
			if !found {
				return nil, err
			}
			// A stale key set that still has the key is better than none
			// while the IdP is unreachable.
		}
		v.mu.RLock()
		k, found = findKey(v.keys, kid)
		v.mu.RUnlock()
	}
	if !found {
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	return fitKey(k, kid, alg)
}

func findKey(keys []jose.JSONWebKey, kid string) (jose.JSONWebKey, bool) {
	for _, k := range keys {
		if k.KeyID == kid {
			return k, true
		}
	}
	return jose.JSONWebKey{}, false
}

// fitKey returns k's public key if it may verify alg signatures.
func fitKey(k jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) (any, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("%w: kid %q is for %q, not signatures", ErrUnknownKey, kid, k.Use)
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return nil, fmt.Errorf("%w: kid %q is for %s, token uses %s", ErrUnknownKey, kid, k.Algorithm, alg)
	}
	switch pub := k.Public().Key.(type) {
	case *rsa.PublicKey:
		if alg == jose.RS256 {
			if pub.N.BitLen() < 2048 {
				return nil, fmt.Errorf("%w: kid %q is an RSA key shorter than 2048 bits", ErrUnknownKey, kid)
			}
			return pub, nil
		}
	case *ecdsa.PublicKey:
		if alg == jose.ES256 && pub.Curve == elliptic.P256() {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("%w: kid %q does not fit %s", ErrUnknownKey, kid, alg)
}

// refresh fetches the key set unless a fetch was attempted less than
// refetchInterval ago. Concurrent callers share one fetch.
func (v *Verifier) refresh(ctx context.Context) error {
	select {
	case v.fetching <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrJWKS, ctx.Err())
	}
	defer func() { <-v.fetching }()

	now := v.cfg.Clock.Now()
	v.mu.RLock()
	tried := v.triedAt
	v.mu.RUnlock()
	if !tried.IsZero() && now.Sub(tried) < refetchInterval {
		// Either another caller just fetched (then the keys are as new as
		// they can be) or fetching failed recently; either way, not again.
		return nil
	}

	keys, err := v.fetch(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		// The caller gave up; that says nothing about the IdP, so do not
		// hold back the next caller's fetch.
		return err
	}
	v.triedAt = now
	if err != nil {
		return err
	}
	v.keys = keys
	v.fetchedAt = now
	return nil
}

func (v *Verifier) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %w", ErrJWKS, v.cfg.JWKSURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch %s: status %d", ErrJWKS, v.cfg.JWKSURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrJWKS, v.cfg.JWKSURL, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrJWKS, v.cfg.JWKSURL, maxJWKSBytes)
	}
	return parseKeySet(body)
}

// parseKeySet parses a JWKS, keeping the keys go-jose understands: one
// unsupported key (a new key type the IdP publishes) must not make the
// others unusable.
func parseKeySet(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%w: not a JWKS document: %w", ErrJWKS, err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, rawKey := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rawKey); err != nil || k.KeyID == "" {
			continue
		}
		// Only public halves are kept, even if a misconfigured IdP
		// published private material.
		keys = append(keys, k.Public())
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable keys (of %d)", ErrJWKS, len(set.Keys))
	}
	return keys, nil
}
