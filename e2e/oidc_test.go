package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/oidc/oidctest"
)

// TestWebSignInWithOIDC signs in to jitd's web app through a real OpenID
// Provider (authorisation code with PKCE, signed ID token) configured by
// server.oidc in jit.yaml, and checks that the session carries the
// person's email and groups into the app.
func TestWebSignInWithOIDC(t *testing.T) {
	// jitd's own URL goes into the policy (the redirect URL), so pick
	// its port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	op := oidctest.Start(t, oidctest.Options{
		RedirectURIs: []string{base + "/auth/callback"},
		Users:        []oidctest.User{{Email: "bob@example.com", EmailVerified: true, Groups: []string{"sre"}}},
	})
	t.Setenv("JIT_E2E_OIDC_SECRET", op.ClientSecret)
	policy := fmt.Sprintf(`
server:
  base_url: %s
  oidc:
    issuer: %s
    client_id: %s
    client_secret_env: JIT_E2E_OIDC_SECRET
    scopes: [groups]
    name: Test IdP
resources:
  - {name: demo-app, provider: http, settings: {host: demo.localhost}, access: [user]}
rules:
  - name: engineers
    requesters: {groups: [engineering]}
    resources: [demo-app]
    max_duration: 1h
    approvers: {groups: [sre]}
`, base, op.Issuer, op.ClientID)
	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(policy), Addr: addr})

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	// The login page offers the provider.
	page := get(t, browser, srv.URL+"/login")
	if !strings.Contains(page, "Sign in with Test IdP") {
		t.Fatalf("login page without the provider's button:\n%s", page)
	}
	resp, err := browser.Get(srv.URL + "/auth/start?return=/approvals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Request.URL.String(), op.Issuer) {
		t.Fatalf("sign-in did not go to the provider: ended at %s", resp.Request.URL)
	}
	resp, err = op.SubmitLogin(browser, resp.Request.URL, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/approvals" || !strings.Contains(string(body), "bob@example.com") {
		t.Fatalf("after the callback: %s at %s", resp.Status, resp.Request.URL)
	}
	// Signed in as bob, an approver (group sre from the token's claims).
	if page := get(t, browser, srv.URL+"/"); !strings.Contains(page, "bob@example.com") {
		t.Fatal("the session did not survive the next page")
	}
	// Someone the provider refuses gets no session.
	jar2, _ := cookiejar.New(nil)
	other := &http.Client{Jar: jar2}
	resp, err = other.Get(srv.URL + "/auth/start?return=/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = op.DenyLogin(other, resp.Request.URL, "not today")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/" {
		t.Fatal("a refused sign-in reached the app")
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
