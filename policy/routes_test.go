package policy

import (
	"strings"
	"testing"

	_ "github.com/jitaccess/jit/provider/http" // the forward-auth provider, whose resources have routes
)

// Two resources guarding the same route would leave the forward-auth
// decision to file order, so the config is refused; nested routes (a
// longer prefix) are fine, the most specific one wins.
func TestDuplicateRoutesRefused(t *testing.T) {
	src := `
resources:
  - {name: app, provider: http, settings: {host: app.example.com, path_prefix: /}, access: [{name: user}]}
  - {name: app-admin, provider: http, settings: {host: app.example.com, path_prefix: /admin}, access: [{name: user}]}
  - {name: app-again, provider: http, settings: {host: APP.example.com}, access: [{name: user}]}
`
	_, err := Parse("routes.yaml", []byte(src))
	if err == nil {
		t.Fatal("two resources on one route were accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "routes.yaml:5:") || !strings.Contains(msg, "same route as resource app") || strings.Contains(msg, "app-admin") {
		t.Fatalf("problem report: %s", msg)
	}
}
