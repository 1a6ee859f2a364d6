package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/jitaccess/jit/oidc/oidctest"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func sign(t *testing.T, op *oidctest.Provider, claims map[string]any) string {
	t.Helper()
	raw, err := op.SignIDToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tokenWith is a token response carrying raw as its ID token.
func tokenWith(raw string) *oauth2.Token {
	return (&oauth2.Token{AccessToken: "opaque", TokenType: "Bearer"}).WithExtra(map[string]any{"id_token": raw})
}

func mustRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publishedKID reads the key ID from the provider's published key set.
func publishedKID(t *testing.T, op *oidctest.Provider) string {
	t.Helper()
	resp, err := http.Get(op.Issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0].KID == "" {
		t.Fatalf("key set: %v %+v", err, set)
	}
	return set.Keys[0].KID
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// unreachable is a client for configurations whose provider must not be
// contacted: every request fails at once.
func unreachable() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("no network in this test")
	})}
}
