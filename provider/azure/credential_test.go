package azure

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func newTestCredential(t *testing.T, id *identity, c *clock, secret func() (string, error)) *ClientCredential {
	t.Helper()
	cc, err := NewClientCredential(ClientCredentialOptions{
		TenantID: testTenant, ClientID: testClient, Secret: secret,
		AuthorityHost: id.srv.URL, HTTPClient: id.srv.Client(), Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func staticSecret(s string) func() (string, error) { return func() (string, error) { return s, nil } }

const armScope = "https://management.azure.com/.default"

func TestCredentialCachesAndRefreshes(t *testing.T) {
	id := newIdentity(t)
	c := newClock()
	cred := newTestCredential(t, id, c, staticSecret(testSecret))
	ctx := context.Background()
	get := func(scope string) string {
		t.Helper()
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		if !tok.ExpiresOn.After(c.Now()) || !tok.RefreshOn.Before(tok.ExpiresOn) {
			t.Fatalf("ExpiresOn = %v, RefreshOn = %v", tok.ExpiresOn, tok.RefreshOn)
		}
		return tok.Token
	}
	first := get(armScope)
	if get(armScope) != first || id.tokenCount(armScope) != 1 {
		t.Fatalf("second GetToken fetched again (%d requests)", id.tokenCount(armScope))
	}
	// Another scope is another token.
	get("https://graph.microsoft.com/.default")
	if id.tokenCount(armScope) != 1 || id.tokenCount("https://graph.microsoft.com/.default") != 1 {
		t.Fatal("scopes share a token")
	}
	// Still cached until five minutes before expiry...
	c.Advance(54 * time.Minute)
	if get(armScope) != first {
		t.Fatal("token replaced more than five minutes before expiry")
	}
	// ...then replaced.
	c.Advance(2 * time.Minute)
	if second := get(armScope); second == first || id.tokenCount(armScope) != 2 {
		t.Fatalf("token not refreshed near expiry (%d requests)", id.tokenCount(armScope))
	}
}

func TestCredentialShortLivedToken(t *testing.T) {
	id := newIdentity(t)
	id.lifetime = 120
	c := newClock()
	cred := newTestCredential(t, id, c, staticSecret(testSecret))
	ctx := context.Background()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(time.Minute); !tok.RefreshOn.Equal(want) {
		t.Errorf("RefreshOn = %v, want half the lifetime (%v)", tok.RefreshOn, want)
	}
	c.Advance(61 * time.Second)
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armScope}}); err != nil {
		t.Fatal(err)
	}
	if id.tokenCount(armScope) != 2 {
		t.Errorf("%d token requests, want 2", id.tokenCount(armScope))
	}
}

func TestCredentialConcurrentCallersShareOneRequest(t *testing.T) {
	id := newIdentity(t)
	cred := newTestCredential(t, id, newClock(), staticSecret(testSecret))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := id.tokenCount(armScope); n != 1 {
		t.Errorf("%d token requests for 16 concurrent callers, want 1", n)
	}
}

func TestCredentialNeverRevealsSecret(t *testing.T) {
	id := newIdentity(t)
	id.echoSecret = true
	c := newClock()
	const wrong = "wr0ng+Secret/Value=="
	cred := newTestCredential(t, id, c, staticSecret(wrong))
	_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}})
	var te *TokenError
	if !errors.As(err, &te) || te.Status != http.StatusUnauthorized || te.Code != "invalid_client" {
		t.Fatalf("GetToken with a wrong secret = %#v", err)
	}
	if strings.Contains(err.Error(), "wr0ng") || strings.Contains(err.Error(), "Secret%2FValue") {
		t.Fatalf("error reveals the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("error lost the endpoint's description: %v", err)
	}
	// A failure is not cached: the right secret works at once.
	id.mu.Lock()
	id.secret = wrong
	id.mu.Unlock()
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}}); err != nil {
		t.Fatalf("GetToken after fixing the secret: %v", err)
	}
}

func TestCredentialSecretSources(t *testing.T) {
	id := newIdentity(t)
	c := newClock()
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")

	// A missing file: the error names the file.
	cred := newTestCredential(t, id, c, SecretFromFile(file))
	_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("missing secret file: %v", err)
	}
	// Rotation: the file is read for every token request.
	if err := os.WriteFile(file, []byte("old-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}}); err == nil || strings.Contains(err.Error(), "old-secret") {
		t.Fatalf("stale secret: %v", err)
	}
	if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}}); err != nil {
		t.Fatalf("rotated secret: %v", err)
	}
	if err := os.WriteFile(file, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SecretFromFile(file)(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty secret file: %v", err)
	}

	t.Setenv("JIT_TEST_AZURE_SECRET_SOURCE", testSecret)
	envCred := newTestCredential(t, id, c, SecretFromEnv("JIT_TEST_AZURE_SECRET_SOURCE"))
	if _, err := envCred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"x/.default"}}); err != nil {
		t.Fatalf("secret from the environment: %v", err)
	}
	if _, err := SecretFromEnv("JIT_TEST_AZURE_UNSET_VARIABLE")(); err == nil || !strings.Contains(err.Error(), "JIT_TEST_AZURE_UNSET_VARIABLE") {
		t.Errorf("unset variable: %v", err)
	}
}

func TestCredentialRefusals(t *testing.T) {
	id := newIdentity(t)
	c := newClock()
	cred := newTestCredential(t, id, c, staticSecret(testSecret))
	ctx := context.Background()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{}); err == nil {
		t.Error("GetToken without scopes succeeded")
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armScope}, TenantID: "00000000-0000-0000-0000-000000000000"}); err == nil {
		t.Error("GetToken for another tenant succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cred.GetToken(cancelled, policy.TokenRequestOptions{Scopes: []string{armScope}}); !errors.Is(err, context.Canceled) {
		t.Errorf("GetToken with a cancelled context = %v", err)
	}
	for _, o := range []ClientCredentialOptions{
		{TenantID: "a/b", ClientID: testClient, Secret: staticSecret("x")},
		{TenantID: testTenant, ClientID: "not-a-guid", Secret: staticSecret("x")},
		{TenantID: testTenant, ClientID: testClient},
		{TenantID: testTenant, ClientID: testClient, Secret: staticSecret("x"), AuthorityHost: "http://login.example.com"},
		{TenantID: testTenant, ClientID: testClient, Secret: staticSecret("x"), AuthorityHost: "https://login.example.com/evil?x=1"},
	} {
		if _, err := NewClientCredential(o); err == nil {
			t.Errorf("NewClientCredential(%+v) succeeded", o)
		}
	}
}

func TestCredentialOddAnswers(t *testing.T) {
	answers := map[string]string{
		"string expires_in": `{"token_type":"Bearer","expires_in":"3599","access_token":"t"}`,
		"no token":          `{"token_type":"Bearer","expires_in":3599}`,
		"zero lifetime":     `{"token_type":"Bearer","expires_in":0,"access_token":"t"}`,
		"not bearer":        `{"token_type":"pop","expires_in":3599,"access_token":"t"}`,
		"not json":          `<html>`,
	}
	for name, body := range answers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			cred, err := NewClientCredential(ClientCredentialOptions{TenantID: testTenant, ClientID: testClient, Secret: staticSecret(testSecret), AuthorityHost: srv.URL, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}})
			if name == "string expires_in" {
				if err != nil || tok.Token != "t" {
					t.Fatalf("GetToken = %+v, %v", tok, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("GetToken accepted %s", body)
			}
		})
	}
}
