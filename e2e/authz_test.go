package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
)

const routesPolicy = `
identities:
  - {email: alice@example.com, groups: [engineering]}
resources:
  - name: app
    provider: http
    settings: {host: app.example.com, path_prefix: /}
    access: [{name: user}]
  - name: app-admin
    provider: http
    settings: {host: app.example.com, path_prefix: /admin}
    access: [{name: user}]
  - name: any-host-admin
    provider: http
    settings: {path_prefix: /admin}
    access: [{name: user}]
  - name: wiki
    provider: http
    settings: {host: wiki.example.com}
    access: [{name: user}]
rules:
  - name: self-service
    requesters: {groups: [engineering]}
    resources: [app, wiki]
    max_duration: 1h
    auto_approve: true
`

func forwardAuth(t *testing.T, base, query, host, uri string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/authz"+query, nil)
	req.Header.Set("Authorization", "Bearer "+jitdtest.Alice)
	req.Header.Set("X-Forwarded-Host", host)
	req.Header.Set("X-Forwarded-Uri", uri)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestForwardAuthRouting checks that the route, not the caller, decides
// which resource a proxied request needs: the most specific route wins,
// a resource name smuggled into the query cannot pick another route, and
// encoded separators that could hide a path are refused.
func TestForwardAuthRouting(t *testing.T) {
	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(routesPolicy)})
	ctx := context.Background()
	alice := newClient(t, srv, jitdtest.Alice)
	for _, res := range []string{"app", "wiki"} {
		r, err := alice.Submit(ctx, client.SubmitRequest{Resource: res, Duration: "30m"})
		if err != nil {
			t.Fatal(err)
		}
		waitStatus(t, alice, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	}
	tests := []struct {
		name, query, host, uri string
		want                   int
	}{
		{"granted route", "", "app.example.com", "/orders", http.StatusOK},
		{"host is case-insensitive and the port ignored", "", "APP.example.com:443", "/", http.StatusOK},
		{"more specific route of another resource", "", "app.example.com", "/admin/users", http.StatusForbidden},
		{"dot segments resolved before matching", "", "app.example.com", "/public/../admin", http.StatusForbidden},
		{"encoded slash refused", "", "app.example.com", "/public%2F..%2Fadmin", http.StatusForbidden},
		{"encoded dot refused", "", "app.example.com", "/%2e%2e/admin", http.StatusForbidden},
		{"smuggled resource name for another route", "?resource=wiki", "app.example.com", "/admin", http.StatusForbidden},
		{"resource name that owns the route", "?resource=app", "app.example.com", "/x", http.StatusOK},
		{"unguarded host", "", "other.example.com", "/", http.StatusForbidden},
		{"any-host route on another host", "", "other.example.com", "/admin", http.StatusForbidden},
	}
	for _, tc := range tests {
		if got := forwardAuth(t, srv.URL, tc.query, tc.host, tc.uri); got != tc.want {
			t.Errorf("%s: %s%s%s → %d, want %d", tc.name, tc.host, tc.uri, tc.query, got, tc.want)
		}
	}
}
