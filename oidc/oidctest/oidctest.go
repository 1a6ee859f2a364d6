// Package oidctest runs a real OpenID Provider for tests: zitadel/oidc's op
// package with a small in-memory storage, real signing keys (RS256 by
// default) and a login page that a test drives like a browser, on a random
// loopback port.
//
// Besides signing people in properly, it can misbehave on purpose, so that
// tests can check that a relying party refuses what it must: sign with a key
// it does not publish, put the wrong nonce in ID tokens, or be down.
package oidctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a person the provider knows.
type User struct {
	// Username is what the login form takes (default: Email).
	Username      string
	Email         string
	EmailVerified bool
	// Groups go into the "groups" claim when the "groups" scope is
	// requested.
	Groups []string
	Name   string
}

// Options configures a Provider.
type Options struct {
	// ClientID and ClientSecret register the one confidential web client
	// (defaults "jit" and a random secret, see Provider.ClientSecret).
	ClientID     string
	ClientSecret string
	// RedirectURIs the client may use (exact match).
	RedirectURIs []string
	Users        []User
	// Algorithm signs ID tokens: RS256 (default), ES256 or PS256.
	Algorithm jose.SignatureAlgorithm
	// UserinfoOnly keeps the email and profile claims out of ID tokens
	// (the OpenID Connect default for the code flow): relying parties must
	// ask the userinfo endpoint.
	UserinfoOnly bool
	// IDTokenLifetime defaults to one hour.
	IDTokenLifetime time.Duration
}

// AuthRequest is what the provider received at its authorization endpoint.
type AuthRequest struct {
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
}

// Provider is a running OpenID Provider.
type Provider struct {
	// Issuer is its issuer URL (http://127.0.0.1:PORT).
	Issuer       string
	ClientID     string
	ClientSecret string

	op      *op.Provider
	store   *storage
	srv     *httptest.Server
	down    atomic.Bool
	loginPg *template.Template
}

// Start runs a provider until the test ends.
func Start(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = "jit"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = randomID()
	}
	if o.Algorithm == "" {
		o.Algorithm = jose.RS256
	}
	if o.IDTokenLifetime == 0 {
		o.IDTokenLifetime = time.Hour
	}
	key, err := newSigningKey(o.Algorithm)
	if err != nil {
		t.Fatalf("oidctest: signing key: %v", err)
	}
	users := map[string]*User{}
	for i := range o.Users {
		u := o.Users[i]
		if u.Username == "" {
			u.Username = u.Email
		}
		users[u.Username] = &u
	}
	p := &Provider{ClientID: o.ClientID, ClientSecret: o.ClientSecret, loginPg: loginPage}
	p.store = &storage{
		users:    users,
		client:   &client{id: o.ClientID, secret: o.ClientSecret, redirects: o.RedirectURIs, claimsInIDToken: !o.UserinfoOnly, lifetime: o.IDTokenLifetime},
		signing:  key,
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		tokens:   map[string]*token{},
	}

	mux := http.NewServeMux()
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	p.Issuer = "http://" + p.srv.Listener.Addr().String()
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:      cryptoKey,
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, p.store, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	mux.HandleFunc("GET /login", p.showLogin)
	mux.HandleFunc("POST /login", p.submitLogin)
	mux.Handle("/", p.op)
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// SetDown makes every endpoint answer 503 (true) or serve again (false).
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// SignWithUnpublishedKey makes later tokens be signed by a fresh key of the
// same algorithm that carries the published key's ID, as a forger would.
func (p *Provider) SignWithUnpublishedKey() {
	forged, err := newSigningKey(p.store.signing.alg)
	if err != nil {
		panic(err)
	}
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	forged.id = p.store.signing.id
	p.store.forged = forged
}

// OverrideNonce makes later ID tokens carry nonce instead of the one the
// relying party asked for.
func (p *Provider) OverrideNonce(nonce string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.nonce = &nonce
}

// SignIDToken signs claims with the provider's published key, as its own
// ID tokens are signed: for tests of claim checks that a well-behaved
// provider would never produce.
func (p *Provider) SignIDToken(claims map[string]any) (string, error) {
	p.store.mu.Lock()
	k := p.store.signing
	p.store.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.id))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// LastAuthRequest returns the last request received at the authorization
// endpoint.
func (p *Provider) LastAuthRequest() (AuthRequest, bool) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	if p.store.last == nil {
		return AuthRequest{}, false
	}
	return *p.store.last, true
}

// SubmitLogin plays the person on the provider's login page: page is the
// URL of the login page the browser was sent to (it names the pending
// request). It posts the form with c, signing in as username, and returns
// the response (c's redirect policy applies: by default it follows the
// provider's redirect back to the relying party).
func (p *Provider) SubmitLogin(c *http.Client, page *url.URL, username string) (*http.Response, error) {
	return c.PostForm(p.Issuer+"/login", url.Values{
		"id": {page.Query().Get("authRequestID")}, "username": {username}, "action": {"approve"},
	})
}

// DenyLogin posts the login form's "deny" button: the provider redirects
// back with error=access_denied and description.
func (p *Provider) DenyLogin(c *http.Client, page *url.URL, description string) (*http.Response, error) {
	return c.PostForm(p.Issuer+"/login", url.Values{
		"id": {page.Query().Get("authRequestID")}, "action": {"deny"}, "description": {description},
	})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<title>Sign in</title>
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label>User <input name="username"></label>
<button name="action" value="approve">Sign in</button>
<button name="action" value="deny">Deny</button>
</form>`))

func (p *Provider) showLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	p.loginPg.Execute(w, struct{ ID string }{r.URL.Query().Get("authRequestID")})
}

func (p *Provider) submitLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("id")
	req, err := p.store.AuthRequestByID(r.Context(), id)
	if err != nil {
		http.Error(w, "unknown request", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("action") == "deny" {
		op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("%s", r.PostForm.Get("description")), p.op)
		return
	}
	if err := p.store.approve(id, r.PostForm.Get("username")); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.Issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, id), http.StatusFound)
}

func randomID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signingKey is a private key with its ID and algorithm; it serves as both
// op.SigningKey and (with the public half) op.Key.
type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func newSigningKey(alg jose.SignatureAlgorithm) (*signingKey, error) {
	var k crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.PS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported algorithm %s", alg)
	}
	if err != nil {
		return nil, err
	}
	return &signingKey{id: randomID(), alg: alg, key: k}, nil
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (k publicKey) ID() string                         { return k.k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.k.alg }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.k.key.Public() }

// storage is the op.Storage: one client, fixed users, requests and tokens
// in memory.
type storage struct {
	users  map[string]*User
	client *client

	mu       sync.Mutex
	signing  *signingKey
	forged   *signingKey // signs instead of signing when set
	nonce    *string     // replaces the requested nonce when set
	last     *AuthRequest
	requests map[string]*authRequest
	codes    map[string]string // code -> request ID
	tokens   map[string]*token // access token ID -> token
}

type token struct {
	subject string
	scopes  []string
	expires time.Time
}

func (s *storage) approve(id, username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok {
		return errors.New("unknown request")
	}
	u, ok := s.users[username]
	if !ok {
		return errors.New("unknown user")
	}
	req.subject, req.done, req.authTime = u.Username, true, time.Now()
	return nil
}

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := &authRequest{
		id: randomID(), store: s, clientID: r.ClientID, redirectURI: r.RedirectURI, scopes: r.Scopes,
		state: r.State, nonce: r.Nonce, responseType: r.ResponseType, responseMode: r.ResponseMode,
	}
	if r.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.requests[req.id] = req
	s.last = &AuthRequest{ClientID: r.ClientID, RedirectURI: r.RedirectURI, Scopes: slices.Clone(r.Scopes), State: r.State,
		Nonce: r.Nonce, CodeChallenge: r.CodeChallenge, CodeChallengeMethod: string(r.CodeChallengeMethod)}
	return req, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.requests[id]; ok {
		return r, nil
	}
	return nil, errors.New("request not found")
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or expired")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	// Read r before taking the lock: an authRequest's getters take it too.
	t := &token{subject: r.GetSubject(), scopes: r.GetScopes(), expires: time.Now().Add(5 * time.Minute)}
	id := randomID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = t
	exp := t.expires
	return id, exp, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errors.New("refresh tokens are not supported")
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forged != nil {
		return s.forged, nil
	}
	return s.signing, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.signing.alg}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.signing}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != s.client.id {
		return nil, errors.New("client not found")
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != s.client.id || secret != s.client.secret {
		return errors.New("invalid client")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills ID tokens (op.CanSetUserinfoFromRequest).
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.userinfo(info, r.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("token invalid or expired")
	}
	return s.userinfo(info, t.subject, t.scopes)
}

func (s *storage) userinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.users[subject]
	if !ok {
		return errors.New("user not found")
	}
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeOpenID:
			info.Subject = u.Username
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = oidc.Bool(u.EmailVerified)
			if !u.EmailVerified {
				// The library omits a false email_verified; real
				// providers send it.
				info.AppendClaims("email_verified", false)
			}
		case oidc.ScopeProfile:
			info.Name = u.Name
			info.PreferredUsername = u.Username
		case "groups":
			if u.Groups != nil {
				info.AppendClaims("groups", u.Groups)
			}
		}
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not supported")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is the op.AuthRequest.
type authRequest struct {
	id           string
	store        *storage
	clientID     string
	redirectURI  string
	scopes       []string
	state        string
	nonce        string
	challenge    *oidc.CodeChallenge
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode

	// Set by approve, under store.mu.
	subject  string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetAuthTime() time.Time {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	return a.authTime
}
func (a *authRequest) GetSubject() string {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	return a.subject
}
func (a *authRequest) Done() bool { a.store.mu.Lock(); defer a.store.mu.Unlock(); return a.done }
func (a *authRequest) GetNonce() string {
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	if a.store.nonce != nil {
		return *a.store.nonce
	}
	return a.nonce
}

// client is the op.Client: a confidential web client using HTTP Basic
// authentication at the token endpoint.
type client struct {
	id, secret      string
	redirects       []string
	claimsInIDToken bool
	lifetime        time.Duration
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return c.lifetime }
func (c *client) DevMode() bool                       { return false }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return c.claimsInIDToken }
func (c *client) ClockSkew() time.Duration             { return 0 }
