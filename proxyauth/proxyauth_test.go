package proxyauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIssuer   = "https://authenticate.example.com"
	testAudience = "jit.example.com"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// jwksServer serves a key set that tests can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	status  int
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
}

func (k testKey) public() jose.JSONWebKey {
	var pub any
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	}
	return jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

var (
	keysOnce          sync.Once
	rsaKey, rsaKey2   testKey
	ecKey, ecOtherKey testKey
)

func keys(t testing.TB) {
	keysOnce.Do(func() {
		r1, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		r2, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		e1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		e2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		rsaKey = testKey{"rsa-1", jose.RS256, r1}
		rsaKey2 = testKey{"rsa-2", jose.RS256, r2}
		ecKey = testKey{"ec-1", jose.ES256, e1}
		ecOtherKey = testKey{"ec-1", jose.ES256, e2} // same kid, different key
	})
}

// claims are the token's payload; tests change fields from goodClaims.
type claims struct {
	jwt.Claims
	Email  any `json:"email,omitempty"`
	Groups any `json:"groups,omitempty"`
}

func goodClaims() claims {
	return claims{
		Claims: jwt.Claims{
			Issuer:    testIssuer,
			Subject:   "user-123",
			Audience:  jwt.Audience{testAudience},
			IssuedAt:  jwt.NewNumericDate(t0.Add(-time.Minute)),
			NotBefore: jwt.NewNumericDate(t0.Add(-time.Minute)),
			Expiry:    jwt.NewNumericDate(t0.Add(5 * time.Minute)),
		},
		Email:  "Alice@Example.com",
		Groups: []string{"eng", "sre"},
	}
}

func sign(t testing.TB, k testKey, c any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsignedToken builds a token with an arbitrary header and no valid
// signature, for algorithm attacks.
func unsignedToken(t testing.TB, header map[string]any, c any, sig string) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + sig
}

func newVerifier(t *testing.T, srv *jwksServer, clock *fakeClock) *Verifier {
	t.Helper()
	v, err := New(Config{
		Header: "X-Pomerium-Jwt-Assertion", JWKSURL: srv.URL + "/.well-known/pomerium/jwks.json",
		Issuer: testIssuer, Audience: testAudience, Clock: clock, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	keys(t)
	hsSigner := func(secret []byte) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
			(&jose.SignerOptions{}).WithHeader("kid", rsaKey.kid))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(s).Claims(goodClaims()).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	rsaPubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.priv.(*rsa.PrivateKey).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*claims)) claims { c := goodClaims(); f(&c); return c }

	tests := []struct {
		name  string
		token func() string
		want  error // nil: accepted
		// noFetch: refused before any key lookup, so the JWKS is not fetched.
		noFetch bool
	}{
		{name: "RS256 valid", token: func() string { return sign(t, rsaKey, goodClaims()) }},
		{name: "ES256 valid", token: func() string { return sign(t, ecKey, goodClaims()) }},
		{name: "audience as string", token: func() string {
			c := goodClaims()
			m := map[string]any{"iss": c.Issuer, "aud": testAudience, "exp": c.Expiry, "email": "a@example.com"}
			return sign(t, rsaKey, m)
		}},
		{name: "audience list with ours", token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Audience = jwt.Audience{"other", testAudience} }))
		}},
		{name: "expired within leeway", token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Expiry = jwt.NewNumericDate(t0.Add(-20 * time.Second)) }))
		}},
		{name: "no groups", token: func() string {
			return sign(t, ecKey, with(func(c *claims) { c.Groups = nil }))
		}},
		{name: "expired", want: ErrExpired, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Expiry = jwt.NewNumericDate(t0.Add(-time.Minute)) }))
		}},
		{name: "no exp", want: ErrExpired, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Expiry = nil }))
		}},
		{name: "not yet valid", want: ErrNotYetValid, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Minute)) }))
		}},
		{name: "issued in the future", want: ErrNotYetValid, token: func() string {
			return sign(t, ecKey, with(func(c *claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Minute)) }))
		}},
		{name: "wrong issuer", want: ErrIssuer, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Issuer = "https://evil.example.com" }))
		}},
		{name: "wrong audience", want: ErrAudience, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Audience = jwt.Audience{"other.example.com"} }))
		}},
		{name: "missing audience", want: ErrAudience, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Audience = nil }))
		}},
		{name: "bad signature (other key, known kid)", want: ErrSignature, token: func() string {
			return sign(t, ecOtherKey, goodClaims())
		}},
		{name: "tampered payload", want: ErrSignature, token: func() string {
			raw := sign(t, rsaKey, goodClaims())
			parts := strings.Split(raw, ".")
			p, _ := json.Marshal(with(func(c *claims) { c.Email = "mallory@example.com" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}},
		{name: "unknown kid", want: ErrUnknownKey, token: func() string { return sign(t, rsaKey2, goodClaims()) }},
		{name: "no kid", want: ErrUnknownKey, token: func() string {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey.priv}, nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := jwt.Signed(signer).Claims(goodClaims()).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}},
		{name: "ES256 header with RSA kid", want: ErrUnknownKey, token: func() string {
			return sign(t, testKey{rsaKey.kid, jose.ES256, ecKey.priv}, goodClaims())
		}},
		{name: "alg none", want: ErrAlgorithm, noFetch: true, token: func() string {
			return unsignedToken(t, map[string]any{"alg": "none", "kid": rsaKey.kid}, goodClaims(), "")
		}},
		{name: "alg None", want: ErrAlgorithm, noFetch: true, token: func() string {
			return unsignedToken(t, map[string]any{"alg": "None", "kid": rsaKey.kid}, goodClaims(), "")
		}},
		{name: "HS256 with public key DER as secret", want: ErrAlgorithm, noFetch: true, token: func() string {
			return hsSigner(rsaPubDER)
		}},
		{name: "HS256 with public key modulus as secret", want: ErrAlgorithm, noFetch: true, token: func() string {
			return hsSigner(rsaKey.priv.(*rsa.PrivateKey).N.Bytes())
		}},
		{name: "PS256 refused", want: ErrAlgorithm, noFetch: true, token: func() string {
			return sign(t, testKey{rsaKey.kid, jose.PS256, rsaKey.priv}, goodClaims())
		}},
		{name: "missing email", want: ErrEmail, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Email = nil }))
		}},
		{name: "email not a string", want: ErrEmail, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Email = 42 }))
		}},
		{name: "email implausible", want: ErrEmail, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Email = "alice" }))
		}},
		{name: "email with display name", want: ErrEmail, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Email = "Alice <alice@example.com>" }))
		}},
		{name: "groups not a list", want: ErrEmail, token: func() string {
			return sign(t, rsaKey, with(func(c *claims) { c.Groups = "eng" }))
		}},
		{name: "empty", want: ErrMalformed, noFetch: true, token: func() string { return "" }},
		{name: "garbage", want: ErrMalformed, noFetch: true, token: func() string { return "not a jwt" }},
		{name: "header not base64", want: ErrMalformed, noFetch: true, token: func() string { return "%%%.e30.x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, rsaKey.public(), ecKey.public())
			v := newVerifier(t, srv, &fakeClock{t: t0})
			raw := tt.token()
			got, err := v.Verify(context.Background(), raw)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.Email == "" || !strings.Contains(got.Email, "@") {
					t.Errorf("Email = %q", got.Email)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if got.Email != "" {
				t.Errorf("refused token still returned claims %+v", got)
			}
			if tt.noFetch && srv.fetches.Load() != 0 {
				t.Errorf("JWKS fetched %d times for a token refused before key lookup", srv.fetches.Load())
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	keys(t)
	srv := newJWKSServer(t, rsaKey.public())
	v := newVerifier(t, srv, &fakeClock{t: t0})
	c := goodClaims()
	got, err := v.Verify(context.Background(), sign(t, rsaKey, c))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Email: "alice@example.com", Groups: []string{"eng", "sre"}, Subject: "user-123", Expiry: t0.Add(5 * time.Minute)}
	if got.Email != want.Email || got.Subject != want.Subject || !got.Expiry.Equal(want.Expiry) ||
		strings.Join(got.Groups, ",") != strings.Join(want.Groups, ",") {
		t.Errorf("claims = %+v, want %+v", got, want)
	}
}

func TestCustomClaimNames(t *testing.T) {
	keys(t)
	srv := newJWKSServer(t, ecKey.public())
	v, err := New(Config{
		Header: "x-goog-iap-jwt-assertion", JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience,
		EmailClaim: "mail", GroupsClaim: "roles", Clock: &fakeClock{t: t0}, HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims()
	m := map[string]any{"iss": c.Issuer, "aud": c.Audience, "exp": c.Expiry, "mail": "bob@example.com", "roles": []string{"ops"}}
	got, err := v.Verify(context.Background(), sign(t, ecKey, m))
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "bob@example.com" || len(got.Groups) != 1 || got.Groups[0] != "ops" {
		t.Errorf("claims = %+v", got)
	}
	if v.Header() != "x-goog-iap-jwt-assertion" {
		t.Errorf("Header() = %q", v.Header())
	}
}

// An unknown kid refetches the key set at most once per interval, so a
// flood of made-up kids cannot hammer the IdP; a rotated-in key is picked up
// once the interval has passed.
func TestRefetchPacingAndRotation(t *testing.T) {
	keys(t)
	srv := newJWKSServer(t, rsaKey.public())
	clock := &fakeClock{t: t0}
	v := newVerifier(t, srv, clock)
	ctx := context.Background()

	if _, err := v.Verify(ctx, sign(t, rsaKey, goodClaims())); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches after first verify = %d, want 1", n)
	}

	// The IdP rotates: rsa-2 is published. Within the interval, tokens
	// with the new kid are refused without refetching.
	srv.setKeys(rsaKey.public(), rsaKey2.public())
	rotated := sign(t, rsaKey2, goodClaims())
	for i := 0; i < 50; i++ {
		if _, err := v.Verify(ctx, rotated); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("verify %d within interval: %v, want ErrUnknownKey", i, err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches within interval = %d, want 1", n)
	}

	clock.Advance(refetchInterval)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("rotated key after interval: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches after interval = %d, want 2", n)
	}
	// The old key still works from the cache without a fetch.
	if _, err := v.Verify(ctx, sign(t, rsaKey, goodClaims())); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches for a cached kid = %d, want 2", n)
	}

	// Keys removed from the set stop working once the cache is stale.
	srv.setKeys(rsaKey2.public())
	clock.Advance(maxKeyAge)
	if _, err := v.Verify(ctx, sign(t, rsaKey, goodClaims())); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed key after max age: %v, want ErrUnknownKey", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	keys(t)
	srv := newJWKSServer(t, rsaKey.public())
	srv.status = http.StatusInternalServerError
	clock := &fakeClock{t: t0}
	v := newVerifier(t, srv, clock)
	ctx := context.Background()
	tok := sign(t, rsaKey, goodClaims())

	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrJWKS) {
		t.Fatalf("Verify with failing JWKS = %v, want ErrJWKS", err)
	}
	// A failed fetch also counts against the interval.
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("second Verify = %v, want ErrUnknownKey", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	srv.mu.Lock()
	srv.status = http.StatusOK
	srv.mu.Unlock()
	clock.Advance(refetchInterval)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestJWKSDocumentProblems(t *testing.T) {
	keys(t)
	pub, _ := json.Marshal(rsaKey.public())
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"not json", "<html>", false},
		{"no keys", `{"keys":[]}`, false},
		{"only unsupported keys", `{"keys":[{"kty":"XYZ","kid":"a"}]}`, false},
		{"unsupported key next to a good one", `{"keys":[{"kty":"XYZ","kid":"a"},` + string(pub) + `]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			v, err := New(Config{Header: "h", JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience,
				Clock: &fakeClock{t: t0}, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), sign(t, rsaKey, goodClaims()))
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrJWKS) {
				t.Fatalf("Verify = %v, want ErrJWKS", err)
			}
		})
	}
}

func TestVerifyHonoursContext(t *testing.T) {
	keys(t)
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()
	v, err := New(Config{Header: "h", JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience,
		Clock: &fakeClock{t: t0}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err = v.Verify(ctx, sign(t, rsaKey, goodClaims()))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrJWKS) {
		t.Fatalf("Verify = %v, want ErrJWKS wrapping context.Canceled", err)
	}
	// A cancelled fetch does not hold back the next caller's fetch.
	v.mu.RLock()
	tried := v.triedAt
	v.mu.RUnlock()
	if !tried.IsZero() {
		t.Errorf("triedAt = %v after a cancelled fetch, want zero", tried)
	}
}

func TestNewValidation(t *testing.T) {
	good := Config{Header: "X-Pomerium-Jwt-Assertion", JWKSURL: "https://idp.example.com/jwks.json", Issuer: "i", Audience: "a"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"no header", func(c *Config) { c.Header = "" }, "header is required"},
		{"no jwks url", func(c *Config) { c.JWKSURL = "" }, "jwks_url is required"},
		{"relative jwks url", func(c *Config) { c.JWKSURL = "/jwks.json" }, "absolute http(s) URL"},
		{"ftp jwks url", func(c *Config) { c.JWKSURL = "ftp://x/jwks" }, "absolute http(s) URL"},
		{"no issuer", func(c *Config) { c.Issuer = "" }, "issuer is required"},
		{"no audience", func(c *Config) { c.Audience = "" }, "audience is required"},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, "leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			v, err := New(c)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.cfg.EmailClaim != "email" || v.cfg.GroupsClaim != "groups" || v.cfg.Leeway != DefaultLeeway ||
					v.cfg.Clock == nil || v.cfg.HTTPClient == nil {
					t.Errorf("defaults not applied: %+v", v.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	keys(f)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaKey.public(), ecKey.public()}})
	}))
	defer srv.Close()
	v, err := New(Config{Header: "h", JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience,
		Clock: &fakeClock{t: t0}, HTTPClient: srv.Client()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sign(f, rsaKey, goodClaims()))
	f.Add(sign(f, ecKey, goodClaims()))
	f.Add(unsignedToken(f, map[string]any{"alg": "none"}, goodClaims(), ""))
	f.Add(unsignedToken(f, map[string]any{"alg": "RS256", "kid": "rsa-1", "crit": []string{"x"}}, goodClaims(), "AAAA"))
	f.Add(unsignedToken(f, map[string]any{"alg": "ES256", "kid": "ec-1"}, map[string]any{"exp": "soon"}, "AAAA"))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw)
		if err == nil && c.Email == "" {
			t.Fatalf("accepted %q without an email", raw)
		}
	})
}
