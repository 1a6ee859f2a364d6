package oidc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/oidc"
	"github.com/jitaccess/jit/oidc/oidctest"
	"github.com/jitaccess/jit/policy"
)

// webLogin is the web app's Login interface, restated here so that this
// package does not depend on the web app.
type webLogin interface {
	Start(w http.ResponseWriter, r *http.Request, returnTo string)
	Finish(w http.ResponseWriter, r *http.Request) (email string, groups []string, returnTo string, err error)
}

var _ webLogin = (*oidc.Login)(nil)

// loginFromPolicy is how jitd builds its Login from server.oidc.
func loginFromPolicy(ctx context.Context, srv policy.ServerConfig, clock jit.Clock, log *slog.Logger) (*oidc.Login, error) {
	oc := srv.OIDC
	secret, err := oc.ClientSecret()
	if err != nil {
		return nil, err
	}
	login, err := oidc.New(ctx, oidc.Config{
		Issuer: oc.Issuer, ClientID: oc.ClientID, ClientSecret: secret, RedirectURL: oc.RedirectURL,
		Scopes: oc.Scopes, EmailClaim: oc.EmailClaim, GroupsClaim: oc.GroupsClaim,
		AllowUnverifiedEmail: oc.AllowUnverifiedEmail, Clock: clock, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("server.oidc: %w", err)
	}
	return login, nil
}

func TestLoginFromPolicy(t *testing.T) {
	var login webLogin
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/start", func(w http.ResponseWriter, r *http.Request) {
		login.Start(w, r, r.URL.Query().Get("return"))
	})
	mux.HandleFunc("GET /auth/callback", func(w http.ResponseWriter, r *http.Request) {
		email, groups, ret, err := login.Finish(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s %s", email, strings.Join(groups, ","), ret)
	})
	rp := httptest.NewServer(mux)
	t.Cleanup(rp.Close)
	op := oidctest.Start(t, oidctest.Options{
		RedirectURIs: []string{rp.URL + "/auth/callback"},
		Users:        []oidctest.User{{Email: "alice@example.com", EmailVerified: true, Groups: []string{"engineering"}}},
	})

	t.Setenv("JIT_TEST_OIDC_SECRET", op.ClientSecret+"\n")
	p, err := policy.Parse("jit.yaml", []byte(fmt.Sprintf(`
server:
  base_url: %s
  oidc:
    issuer: %s
    client_id: %s
    client_secret_env: JIT_TEST_OIDC_SECRET
    scopes: [groups]
`, rp.URL, op.Issuer, op.ClientID)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := loginFromPolicy(context.Background(), p.Server(), jit.SystemClock{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	login = l

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(rp.URL + "/auth/start?return=/requests")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("start ended at %s", resp.Request.URL)
	}
	resp, err = op.SubmitLogin(browser, resp.Request.URL, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "alice@example.com engineering /requests" {
		t.Fatalf("callback answered %s: %s", resp.Status, body)
	}
}
