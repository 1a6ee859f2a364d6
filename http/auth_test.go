package jithttp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/proxyauth"
)

// tokenStore answers TokenByHash from a map; the other Store methods are
// not used by TokenAuth.
type tokenStore struct {
	jit.Store
	byHash map[string]*jit.Token
	err    error
	asked  int
}

func (s *tokenStore) TokenByHash(ctx context.Context, hash string) (*jit.Token, error) {
	s.asked++
	if s.err != nil {
		return nil, s.err
	}
	if t, ok := s.byHash[hash]; ok {
		return t, nil
	}
	return nil, jit.Errorf(jit.ECodeNotFound, "token not found")
}

func TestTokenAuth(t *testing.T) {
	plain, hash, err := jit.NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	store := &tokenStore{byHash: map[string]*jit.Token{hash: {ID: "tok_1", Email: "alice@example.com", Hash: hash}}}
	resolve := func(email string, groups []string, via string) jit.Identity {
		return jit.Identity{Email: email, Groups: []string{"engineering"}, Admin: email == "carol@example.com", Via: via}
	}
	a := TokenAuth{Store: store, Resolve: resolve}
	tests := []struct {
		name      string
		header    string
		wantOK    bool
		wantErr   string // error code, "" for none
		wantAsked bool
	}{
		{"valid", "Bearer " + plain, true, "", true},
		{"scheme case", "bearer " + plain, true, "", true},
		{"unknown jit token", "Bearer jit_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false, "unauthenticated", true},
		{"not a jit token", "Bearer dev-alice", false, "", false},
		{"no header", "", false, "", false},
		{"basic auth", "Basic YWxpY2U6cGFzcw==", false, "", false},
		{"empty bearer", "Bearer ", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store.asked = 0
			r := httptest.NewRequest("GET", "/api/v1/whoami", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			id, ok, err := a.Authenticate(r)
			if ok != tt.wantOK || jit.ErrorCode(err) != tt.wantErr {
				t.Fatalf("ok, err = %v, %v; want %v, %q", ok, err, tt.wantOK, tt.wantErr)
			}
			if ok && (id.Email != "alice@example.com" || id.Via != "token" || len(id.Groups) != 1) {
				t.Errorf("identity = %+v", id)
			}
			if (store.asked > 0) != tt.wantAsked {
				t.Errorf("store asked %d times", store.asked)
			}
		})
	}

	// A store failure is not a verdict on the token.
	down := TokenAuth{Store: &tokenStore{err: errors.New("sqlite: disk I/O error")}}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+plain)
	if _, ok, err := down.Authenticate(r); ok || jit.ErrorCode(err) != jit.ECodeUnavailable {
		t.Errorf("store down: ok=%v err=%v, want unavailable", ok, err)
	}
}

func TestDevTokens(t *testing.T) {
	a := DevTokens{Tokens: map[string]string{"dev-alice": "alice@example.com", "dev-bob": "bob@example.com"}}
	tests := []struct {
		name      string
		remote    string
		token     string
		wantEmail string // "" means not claimed
	}{
		{"loopback v4", "127.0.0.1:5555", "dev-alice", "alice@example.com"},
		{"loopback other v4", "127.0.0.2:5555", "dev-bob", "bob@example.com"},
		{"loopback v6", "[::1]:5555", "dev-bob", "bob@example.com"},
		{"v4-mapped loopback", "[::ffff:127.0.0.1]:5555", "dev-alice", "alice@example.com"},
		{"remote peer", "192.0.2.10:5555", "dev-alice", ""},
		{"private network peer", "10.0.0.1:5555", "dev-alice", ""},
		{"unspecified", "0.0.0.0:5555", "dev-alice", ""},
		{"no port", "127.0.0.1", "dev-alice", ""},
		{"unknown token", "127.0.0.1:5555", "dev-mallory", ""},
		{"prefix of a token", "127.0.0.1:5555", "dev-ali", ""},
		{"token with suffix", "127.0.0.1:5555", "dev-alicex", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("Authorization", "Bearer "+tt.token)
			// X-Forwarded-For cannot make a remote peer look local.
			r.Header.Set("X-Forwarded-For", "127.0.0.1")
			id, ok, err := a.Authenticate(r)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if ok != (tt.wantEmail != "") || id.Email != tt.wantEmail {
				t.Fatalf("ok=%v id=%+v, want %q", ok, id, tt.wantEmail)
			}
			if ok && id.Via != "dev-token" {
				t.Errorf("via = %q", id.Via)
			}
		})
	}
}

// Through the server: a dev token from a remote peer is 401.
func TestDevTokensOverServer(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Authenticators = []Authenticator{TokenAuth{Store: &tokenStore{}}, DevTokens{Tokens: map[string]string{"dev-alice": "alice@example.com"}}}
	})
	for _, tt := range []struct {
		remote, token string
		want          int
	}{
		{"127.0.0.1:4000", "dev-alice", 200},
		{"192.0.2.10:4000", "dev-alice", 401},
		{"127.0.0.1:4000", "dev-nobody", 401},
		{"127.0.0.1:4000", "jit_unknown", 401},
	} {
		r := httptestRequest("GET", "/api/v1/whoami", "")
		r.RemoteAddr = tt.remote
		r.Header.Set("Authorization", "Bearer "+tt.token)
		w := httptest.NewRecorder()
		h.h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s from %s: %d, want %d", tt.token, tt.remote, w.Code, tt.want)
		}
	}
}

func TestProxyJWT(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	defer jwks.Close()
	clock := &fakeClock{t: t0}
	v, err := proxyauth.New(proxyauth.Config{Header: "X-Pomerium-Jwt-Assertion", JWKSURL: jwks.URL, Issuer: "https://auth.example.com",
		Audience: "jit.example.com", Clock: clock, HTTPClient: jwks.Client()})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	token := func(exp time.Time) string {
		raw, err := jwt.Signed(signer).Claims(map[string]any{
			"iss": "https://auth.example.com", "aud": "jit.example.com", "exp": exp.Unix(),
			"email": "bob@example.com", "groups": []string{"sre"},
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	var gotGroups []string
	a := ProxyJWT{Verifier: v, Resolve: func(email string, groups []string, via string) jit.Identity {
		gotGroups = groups
		return jit.Identity{Email: email, Groups: groups, Via: via}
	}}
	h := newHarness(t, func(c *Config) { c.Authenticators = []Authenticator{a} })

	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"valid", token(t0.Add(time.Minute)), 200},
		{"expired", token(t0.Add(-time.Hour)), 401},
		{"garbage", "eyJhbGciOiJub25lIn0.e30.", 401},
		{"absent", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do("GET", "/api/v1/whoami", "", "X-Test-User", "", "X-Pomerium-Jwt-Assertion", tt.header)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
			if tt.want == 200 {
				var id jit.Identity
				decodeJSON(t, w, &id)
				if id.Email != "bob@example.com" || id.Via != "proxy-jwt" || len(gotGroups) != 1 || gotGroups[0] != "sre" {
					t.Errorf("identity = %+v, groups passed to Resolve = %v", id, gotGroups)
				}
			}
		})
	}
}

// An unreachable key set answers 503, not 401: the person's session is
// fine, jit cannot check it.
func TestProxyJWTKeysUnavailable(t *testing.T) {
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer jwks.Close()
	v, err := proxyauth.New(proxyauth.Config{Header: "X-Assertion", JWKSURL: jwks.URL, Issuer: "i", Audience: "a",
		Clock: &fakeClock{t: t0}, HTTPClient: jwks.Client()})
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	raw, _ := jwt.Signed(signer).Claims(map[string]any{"iss": "i", "aud": "a", "exp": t0.Add(time.Minute).Unix(), "email": "a@example.com"}).Serialize()
	h := newHarness(t, func(c *Config) { c.Authenticators = []Authenticator{ProxyJWT{Verifier: v}} })
	w := h.do("GET", "/api/v1/whoami", "", "X-Test-User", "", "X-Assertion", raw)
	if w.Code != 503 {
		t.Fatalf("status = %d, want 503 (%s)", w.Code, w.Body)
	}
}

// TestTokenCache checks that a cached token is looked up once per TTL, that
// unknown tokens are never remembered, and that a full cache starts afresh.
func TestTokenCache(t *testing.T) {
	plain, hash, err := jit.NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	store := &tokenStore{byHash: map[string]*jit.Token{hash: {ID: "tok_1", Email: "alice@example.com", Hash: hash}}}
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cache := NewTokenCache(10*time.Second, 2, clock)
	a := TokenAuth{Store: store, Cache: cache}
	auth := func(token string) (bool, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		_, ok, err := a.Authenticate(r)
		return ok, err
	}
	for range 3 {
		if ok, err := auth(plain); !ok || err != nil {
			t.Fatalf("auth = %v, %v", ok, err)
		}
	}
	if store.asked != 1 {
		t.Fatalf("store asked %d times within the TTL, want 1", store.asked)
	}
	clock.t = clock.t.Add(10 * time.Second)
	if ok, _ := auth(plain); !ok || store.asked != 2 {
		t.Fatalf("after the TTL: ok=%v, store asked %d times, want 2", ok, store.asked)
	}
	unknown := "jit_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for range 2 {
		if ok, err := auth(unknown); ok || jit.ErrorCode(err) != jit.ECodeUnauthenticated {
			t.Fatalf("unknown token: ok=%v err=%v", ok, err)
		}
	}
	if store.asked != 4 {
		t.Fatalf("store asked %d times, want 4 (unknown tokens are not remembered)", store.asked)
	}
	// Deleting the token from the store: still accepted until the TTL
	// runs out, then refused.
	delete(store.byHash, hash)
	if ok, _ := auth(plain); !ok {
		t.Fatal("a cached token was refused within its TTL")
	}
	clock.t = clock.t.Add(10 * time.Second)
	if ok, err := auth(plain); ok || jit.ErrorCode(err) != jit.ECodeUnauthenticated {
		t.Fatalf("a deleted token after the TTL: ok=%v err=%v", ok, err)
	}
	// A full cache starts afresh instead of growing.
	for i := range 5 {
		cache.put(fmt.Sprint(i), &jit.Token{ID: fmt.Sprint(i)})
	}
	if n := len(cache.m); n > 2 {
		t.Fatalf("cache holds %d entries, max 2", n)
	}
}

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }
