// Package oidc signs people in to jit's web UI through an OpenID Connect
// provider (Google, Okta, Entra ID, Keycloak, Dex, ...).
//
// It runs the authorization-code flow with PKCE (S256), a random state and a
// random nonce. The three, together with the page to come back to, travel in
// a short-lived flow cookie that is encrypted and authenticated (AES-256-GCM)
// and bound by its name to the flow's state, so several sign-ins in several
// tabs do not disturb each other. The callback checks the state, exchanges
// the code with the PKCE verifier, verifies the ID token with go-oidc
// (signature against the provider's published keys, RS256 or ES256 only;
// issuer; audience = the client ID; expiry), checks the nonce, and reads the
// email and groups claims.
//
// Discovery is lazy: New tries it once, and when the provider cannot be
// reached jitd still starts; each later sign-in tries again (at most every
// few seconds) and, until the provider answers, Start shows a short
// "unavailable" page and Finish returns ErrUnavailable.
//
// Nothing here logs or returns tokens, codes or the client secret.
package oidc

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/jitaccess/jit"
)

// Kinds of error Finish returns, with detail; test with errors.Is. Every
// error of Finish also holds a *jit.Error (errors.As) whose message is meant
// for the person signing in. No error holds a token, a code or the client
// secret, and text that came from the provider is reduced to a safe
// character set first.
var (
	// ErrUnavailable: the provider's discovery document or token endpoint
	// could not be reached. Trying again later may work.
	ErrUnavailable = errors.New("the identity provider is unavailable")
	// ErrFlow: the answer does not belong to a sign-in started in this
	// browser (no flow cookie, expired, tampered, or another flow's state).
	// Starting again fixes it.
	ErrFlow = errors.New("the sign-in could not be matched to this browser")
	// ErrProvider: the provider sent the browser back with an error (the
	// person cancelled, or is not allowed to use jit). Errors of this kind
	// are *ProviderError.
	ErrProvider = errors.New("the identity provider refused the sign-in")
	// ErrToken: the code exchange was refused or the ID token failed
	// verification (signature, algorithm, issuer, audience, expiry, nonce).
	ErrToken = errors.New("the identity provider's answer could not be verified")
	// ErrIdentity: the verified token does not name a usable identity: the
	// email claim is missing or not an email address, the email is not
	// verified, or the groups claim is neither a string nor a list of them.
	ErrIdentity = errors.New("the identity provider did not give a usable identity")
)

// signInError is what Finish returns. errors.Is finds its kind (ErrFlow and
// the rest), and errors.As a *jit.Error whose message is safe to show the
// person signing in; Error() has the detail, for the log.
type signInError struct {
	kind   error
	public *jit.Error
	detail string
}

func (e *signInError) Error() string   { return e.kind.Error() + ": " + e.detail }
func (e *signInError) Unwrap() []error { return []error{e.kind, e.public} }

// fail builds a signInError of kind. Only the detail of ErrIdentity is
// shown to the person (it names claims and the configuration, nothing from
// the wire); the others get a fixed message, as their detail may quote
// what the provider or the browser sent.
func fail(kind error, format string, args ...any) error {
	detail := fmt.Sprintf(format, args...)
	var public *jit.Error
	switch kind {
	case ErrUnavailable:
		public = jit.Errorf(jit.ECodeUnavailable, "the identity provider cannot be reached; please try again in a moment")
	case ErrToken:
		public = jit.Errorf(jit.ECodeUnauthenticated, "the identity provider's answer could not be verified; please sign in again")
	case ErrIdentity:
		public = jit.Errorf(jit.ECodeForbidden, "%s", detail)
	default: // ErrFlow
		public = jit.Errorf(jit.ECodeUnauthenticated, "this sign-in was not started in this browser, or it took too long; please sign in again")
	}
	return &signInError{kind: kind, public: public, detail: detail}
}

// ProviderError is the error the provider sent back to the callback
// (RFC 6749 section 4.1.2.1). Code and Description are reduced to printable
// ASCII without markup characters, so they are safe to show.
type ProviderError struct {
	Code        string
	Description string
}

func (e *ProviderError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("%v: %s", ErrProvider, e.Code)
	}
	return fmt.Sprintf("%v: %s (%s)", ErrProvider, e.Code, e.Description)
}

// Unwrap makes errors.Is(err, ErrProvider) hold, and errors.As find a
// *jit.Error (code forbidden) with the same, safe, text.
func (e *ProviderError) Unwrap() []error {
	return []error{ErrProvider, jit.Errorf(jit.ECodeForbidden, "%s", e.Error())}
}

// Defaults and limits.
const (
	DefaultEmailClaim  = "email"
	DefaultGroupsClaim = "groups"
	// FlowLifetime is how long a started sign-in may take.
	FlowLifetime = 10 * time.Minute
	// MinCookieKeyLen is the shortest Config.CookieKey accepted.
	MinCookieKeyLen = 32
	// retryInterval is the least time between two discovery attempts while
	// the provider is unreachable, so that a burst of sign-in attempts does
	// not turn into a burst of requests to a provider that is down.
	retryInterval = 5 * time.Second
	// discoveryTimeout bounds the attempt New makes, so that a provider
	// that does not answer delays jitd's start by this at most.
	discoveryTimeout = 5 * time.Second
)

// baseScopes are always requested.
var baseScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// allowedAlgs are the only ID token signature algorithms accepted. They are
// pinned here rather than taken from the provider's discovery document, so
// that neither the document nor a token can widen them.
var allowedAlgs = []string{gooidc.RS256, gooidc.ES256}

// Config configures a Login.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document states it (required; https, or http on a loopback address).
	Issuer string
	// ClientID and ClientSecret are jit's client registration at the
	// provider (both required).
	ClientID     string
	ClientSecret string
	// RedirectURL is jit's callback, registered at the provider, such as
	// https://jit.example.com/auth/callback (required; https, or http on a
	// loopback address). Its scheme decides whether the flow cookie is
	// Secure.
	RedirectURL string
	// Scopes are requested in addition to openid, email and profile (for
	// example "groups", where the provider needs a scope for that claim).
	Scopes []string
	// EmailClaim names the claim holding the email (default "email").
	EmailClaim string
	// GroupsClaim names the claim holding the groups (default "groups").
	// The claim may be absent, a string or a list of strings.
	GroupsClaim string
	// AllowUnverifiedEmail accepts an ID token whose email_verified claim
	// is false. By default such a sign-in is refused: an email the provider
	// has not verified may belong to someone else. A token without an
	// email_verified claim is accepted either way (many providers only
	// issue verified addresses and do not send it).
	AllowUnverifiedEmail bool
	// CookieKey keys the flow cookie's encryption and authentication (at
	// least 32 bytes). Every replica behind one address must use the same
	// key. When empty it is derived from ClientSecret, which replicas share
	// anyway.
	CookieKey []byte
	// Clock is the time source for flow expiry and token checks (default
	// jit.SystemClock).
	Clock jit.Clock
	// HTTPClient talks to the provider (default: a client with a 10 s
	// timeout).
	HTTPClient *http.Client
	// Logger receives warnings (the provider unreachable); default discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.EmailClaim == "" {
		c.EmailClaim = DefaultEmailClaim
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

func (c Config) validate() error {
	var problems []string
	if err := checkProviderURL(c.Issuer); err != nil {
		problems = append(problems, "issuer "+err.Error())
	} else if u, _ := url.Parse(c.Issuer); u.RawQuery != "" || u.Fragment != "" {
		problems = append(problems, fmt.Sprintf("issuer %q must not have a query or fragment", c.Issuer))
	}
	if strings.TrimSpace(c.ClientID) == "" {
		problems = append(problems, "client ID is required")
	}
	if c.ClientSecret == "" {
		problems = append(problems, "client secret is required")
	}
	if err := checkProviderURL(c.RedirectURL); err != nil {
		problems = append(problems, "redirect URL "+err.Error())
	} else if u, _ := url.Parse(c.RedirectURL); u.Fragment != "" {
		problems = append(problems, fmt.Sprintf("redirect URL %q must not have a fragment", c.RedirectURL))
	}
	for _, s := range c.Scopes {
		if !ValidScope(s) {
			problems = append(problems, fmt.Sprintf("scope %q is not a valid scope name", s))
		}
	}
	if len(c.CookieKey) > 0 && len(c.CookieKey) < MinCookieKeyLen {
		problems = append(problems, fmt.Sprintf("cookie key is %d bytes; at least %d are needed", len(c.CookieKey), MinCookieKeyLen))
	}
	if len(problems) > 0 {
		return fmt.Errorf("oidc config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkProviderURL accepts an absolute https URL, or an http one whose host
// is a loopback address (a provider or a jitd on the same machine). Plain
// http elsewhere would send the client secret and the codes in the clear.
func checkProviderURL(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return fmt.Errorf("%q must use https (http is allowed for loopback addresses only)", s)
	}
	return nil
}

// IsLoopback reports whether host (without port) is localhost or a
// loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidScope reports whether s is a scope token as RFC 6749 section 3.3
// defines it: printable ASCII without spaces, quotes or backslashes.
func ValidScope(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Login signs people in through one OpenID Connect provider. It satisfies
// the web package's Login interface. It is safe for concurrent use.
type Login struct {
	cfg    Config
	scopes []string
	aead   cipher.AEAD
	// secure: the callback is https, so the flow cookie is Secure and
	// carries the __Host- prefix (no subdomain can set or shadow it).
	secure       bool
	cookiePrefix string

	// fetching is a one-slot semaphore: one discovery at a time, and
	// waiting for it honours the caller's context (a mutex would not).
	fetching chan struct{}

	mu      sync.Mutex
	disc    *discovered
	triedAt time.Time
	lastErr error
}

// discovered is what discovery yields.
type discovered struct {
	provider *gooidc.Provider
	oauth    *oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

// New validates cfg and returns a Login. An invalid cfg is the only error.
//
// New tries discovery once (bounded by ctx and by a few seconds). When the
// provider cannot be reached it logs a warning and returns the Login anyway:
// discovery is tried again on the next sign-in, so jitd starts while the
// provider is briefly down.
func New(ctx context.Context, cfg Config) (*Login, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	key := cfg.CookieKey
	if len(key) == 0 {
		// Replicas behind one address share the client secret, so a flow
		// started on one can finish on another.
		key = derive([]byte(cfg.ClientSecret), "jit oidc flow cookie key v1")
	}
	aead, err := newAEAD(derive(key, "jit oidc flow cookie aes-256-gcm v1"))
	if err != nil {
		return nil, fmt.Errorf("oidc: flow cookie cipher: %w", err)
	}
	ru, _ := url.Parse(cfg.RedirectURL)
	l := &Login{
		cfg:      cfg,
		scopes:   mergeScopes(cfg.Scopes),
		aead:     aead,
		secure:   ru.Scheme == "https",
		fetching: make(chan struct{}, 1),
	}
	l.cookiePrefix = "jit_oidc_"
	if l.secure {
		l.cookiePrefix = "__Host-jit_oidc_"
	}
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	if err := l.Discover(dctx); err != nil {
		cfg.Logger.Warn("OIDC discovery failed; sign-in will try again when someone signs in",
			"issuer", cfg.Issuer, "err", err)
	}
	return l, nil
}

// derive is HMAC-SHA256(key, label): independent keys from one secret.
func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func mergeScopes(extra []string) []string {
	out := slices.Clone(baseScopes)
	for _, s := range extra {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Discover fetches the provider's discovery document unless that was done
// already. It returns an error wrapping ErrUnavailable when the provider
// cannot be reached, or when it failed less than a few seconds ago (the
// earlier error is returned without contacting the provider again). It is
// idempotent and safe for concurrent use; once it succeeded it returns nil
// without fetching the document again (the provider's keys are still
// fetched as ID tokens need them).
func (l *Login) Discover(ctx context.Context) error {
	_, err := l.ready(ctx)
	return err
}

func (l *Login) ready(ctx context.Context) (*discovered, error) {
	l.mu.Lock()
	d := l.disc
	l.mu.Unlock()
	if d != nil {
		return d, nil
	}
	select {
	case l.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fail(ErrUnavailable, "%v", ctx.Err())
	}
	defer func() { <-l.fetching }()

	now := l.cfg.Clock.Now()
	l.mu.Lock()
	d, lastErr, triedAt := l.disc, l.lastErr, l.triedAt
	l.mu.Unlock()
	if d != nil {
		return d, nil // another caller finished while this one waited
	}
	if lastErr != nil && now.Sub(triedAt) < retryInterval && !now.Before(triedAt) {
		return nil, lastErr
	}
	d, err := l.discover(ctx)
	if err != nil && ctx.Err() != nil {
		// This caller gave up (a browser went away); that says nothing
		// about the provider, so the next caller tries at once.
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.triedAt, l.lastErr = now, err
	if err == nil {
		l.disc = d
	}
	return d, err
}

func (l *Login) discover(ctx context.Context) (*discovered, error) {
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, l.cfg.HTTPClient), l.cfg.Issuer)
	if err != nil {
		return nil, fail(ErrUnavailable, "discovery at %s: %v", l.cfg.Issuer, err)
	}
	ep := p.Endpoint()
	// The client secret and the code go to the token endpoint, and the
	// browser to the authorization endpoint: neither may be plain http off
	// this machine, whatever the discovery document says.
	for _, u := range []struct{ what, url string }{{"authorization_endpoint", ep.AuthURL}, {"token_endpoint", ep.TokenURL}} {
		if err := checkProviderURL(u.url); err != nil {
			return nil, fail(ErrUnavailable, "discovery at %s: %s %v", l.cfg.Issuer, u.what, err)
		}
	}
	// The key set is fetched in the background of later verifications;
	// its context carries only the HTTP client (go-oidc ignores its
	// cancellation).
	keysCtx := gooidc.ClientContext(context.Background(), l.cfg.HTTPClient)
	return &discovered{
		provider: p,
		oauth: &oauth2.Config{
			ClientID: l.cfg.ClientID, ClientSecret: l.cfg.ClientSecret,
			Endpoint: ep, RedirectURL: l.cfg.RedirectURL, Scopes: l.scopes,
		},
		verifier: p.VerifierContext(keysCtx, &gooidc.Config{
			ClientID:             l.cfg.ClientID,
			SupportedSigningAlgs: allowedAlgs,
			Now:                  l.cfg.Clock.Now,
		}),
	}, nil
}

// noStore keeps the sign-in's redirects and answers out of caches.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// Start sends the browser to the provider to sign in; after signing in it
// comes back to the redirect URL, where Finish takes over, and Finish
// returns returnTo. A returnTo that is not a local path (see ValidReturnTo)
// is replaced by "/".
//
// Start sets a flow cookie and answers 302. When the provider cannot be
// reached it answers 503 with a short plain-text page instead (and logs the
// reason). Each call starts a new, independent flow; flows a browser
// started but never finished are dropped beyond a few.
func (l *Login) Start(w http.ResponseWriter, r *http.Request, returnTo string) {
	noStore(w)
	d, err := l.ready(r.Context())
	if err != nil {
		l.cfg.Logger.Warn("OIDC sign-in unavailable", "issuer", l.cfg.Issuer, "err", err)
		http.Error(w, "Sign-in is unavailable: the identity provider cannot be reached. Please try again in a moment.",
			http.StatusServiceUnavailable)
		return
	}
	if !ValidReturnTo(returnTo) {
		returnTo = "/"
	}
	f := flow{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Expires:  l.cfg.Clock.Now().Add(FlowLifetime).UnixNano(),
	}
	l.pruneFlows(w, r)
	http.SetCookie(w, l.flowCookie(f))
	http.Redirect(w, r, d.oauth.AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)),
		http.StatusFound)
}

// Finish handles the provider's redirect to the callback: it matches the
// answer to the flow cookie, exchanges the code, verifies the ID token and
// returns the person's email (lowercased), their groups (nil when the
// provider sends none) and the local path Start was given.
//
// Every error wraps ErrFlow, ErrProvider, ErrUnavailable, ErrToken or
// ErrIdentity (see each), and nothing is returned with it. Finish writes no
// body: the caller answers, on success and on error. It clears the flow
// cookie it used, so each flow can be finished once; calling Finish again
// with the same answer gives ErrFlow.
func (l *Login) Finish(w http.ResponseWriter, r *http.Request) (email string, groups []string, returnTo string, err error) {
	noStore(w)
	q := r.URL.Query()
	state := q.Get("state")
	var f flow
	ferr := fail(ErrFlow, "the answer carries no state")
	if state != "" {
		f, ferr = l.takeFlow(w, r, state)
	}
	if code := q.Get("error"); code != "" {
		// Reported even without a matching flow: it is text for the person,
		// sanitised, and grants nothing.
		return "", nil, "", &ProviderError{Code: safeCode(code), Description: safeText(q.Get("error_description"), 300)}
	}
	if ferr != nil {
		return "", nil, "", ferr
	}
	code := q.Get("code")
	if code == "" {
		return "", nil, "", fail(ErrFlow, "the answer carries no authorization code")
	}
	d, err := l.ready(r.Context())
	if err != nil {
		return "", nil, "", err
	}
	ctx := gooidc.ClientContext(r.Context(), l.cfg.HTTPClient)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return "", nil, "", exchangeError(err)
	}
	email, groups, err = l.identity(ctx, d, tok, f.Nonce)
	if err != nil {
		return "", nil, "", err
	}
	returnTo = f.ReturnTo
	if !ValidReturnTo(returnTo) {
		returnTo = "/"
	}
	return email, groups, returnTo, nil
}

// exchangeError describes a failed code exchange without the response body
// (which could echo anything) and without the request (which holds the
// secret and the code).
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := safeCode(re.ErrorCode)
		if re.ErrorCode == "" && re.Response != nil {
			msg = "HTTP " + re.Response.Status
		}
		if d := safeText(re.ErrorDescription, 300); d != "" {
			msg += " (" + d + ")"
		}
		return fail(ErrToken, "the token endpoint refused the authorization code: %s", safeText(msg, 400))
	}
	return fail(ErrUnavailable, "exchange the authorization code: %v", err)
}

// identity verifies the ID token in tok and reads the identity from it
// (and from the userinfo endpoint for claims the token lacks).
func (l *Login) identity(ctx context.Context, d *discovered, tok *oauth2.Token, nonce string) (string, []string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", nil, fail(ErrToken, "the token response has no ID token")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return "", nil, fail(ErrToken, "%v", err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return "", nil, fail(ErrToken, "the ID token's nonce does not match this sign-in")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return "", nil, fail(ErrToken, "read the ID token's claims: %v", err)
	}
	// OpenID Connect Core 3.1.3.7: with several audiences the token must
	// name jit as its authorized party, and an azp must be jit.
	azp, hasAzp := claims["azp"].(string)
	if (hasAzp || len(idt.Audience) > 1) && azp != l.cfg.ClientID {
		return "", nil, fail(ErrToken, "the ID token was issued to another party (azp)")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return "", nil, fail(ErrToken, "the access token does not match the ID token's at_hash")
		}
	}
	_, hasEmail := claims[l.cfg.EmailClaim]
	_, hasGroups := claims[l.cfg.GroupsClaim]
	if (!hasEmail || !hasGroups) && d.provider.UserInfoEndpoint() != "" && tok.AccessToken != "" {
		// In the code flow a provider may keep the profile claims for the
		// userinfo endpoint (OpenID Connect Core 5.4).
		if err := l.addUserinfo(ctx, d, tok, idt.Subject, claims, !hasEmail, !hasGroups); err != nil {
			if !hasEmail {
				return "", nil, err
			}
			l.cfg.Logger.Warn("OIDC userinfo failed; signing in without groups", "issuer", l.cfg.Issuer, "err", err)
		}
	}
	return readIdentity(claims, l.cfg.EmailClaim, l.cfg.GroupsClaim, l.cfg.AllowUnverifiedEmail)
}

// addUserinfo copies the email (with email_verified) and groups claims that
// are missing from the ID token out of the userinfo response, which must be
// about the same subject.
func (l *Login) addUserinfo(ctx context.Context, d *discovered, tok *oauth2.Token, sub string, claims map[string]any, email, groups bool) error {
	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fail(ErrUnavailable, "userinfo: %v", err)
	}
	if ui.Subject != sub {
		return fail(ErrToken, "the userinfo response is about another subject")
	}
	extra := map[string]any{}
	if err := ui.Claims(&extra); err != nil {
		return fail(ErrToken, "read the userinfo claims: %v", err)
	}
	if email {
		if v, ok := extra[l.cfg.EmailClaim]; ok {
			claims[l.cfg.EmailClaim] = v
			// Its verification status goes with the address it describes.
			delete(claims, "email_verified")
			if ev, ok := extra["email_verified"]; ok {
				claims["email_verified"] = ev
			}
		}
	}
	if groups {
		if v, ok := extra[l.cfg.GroupsClaim]; ok {
			claims[l.cfg.GroupsClaim] = v
		}
	}
	return nil
}
