package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/gcp/gcptest"
)

// The tests run the real Google API client libraries against gcptest's
// server, which keeps state and speaks the APIs' wire format. The
// hierarchy:
//
//	organizations/100
//	├── folders/200            (the usual scope)
//	│   ├── folders/300
//	│   │   └── projects/prod-app   (number 1001)
//	│   └── projects/dev-app        (number 1002)
//	└── projects/org-tools          (number 1004)
//	organizations/999
//	└── projects/other-proj         (number 1003)

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	carol = "carol@example.com"
	dave  = "dave@example.com"
	erin  = "erin@example.com"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	srv *gcptest.Server
	p   *Provider

	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newServer(t *testing.T) *gcptest.Server {
	t.Helper()
	srv := gcptest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddOrganization("100")
	srv.AddFolder("200", "organizations/100")
	srv.AddFolder("300", "folders/200")
	srv.AddProject("prod-app", "1001", "folders/300")
	srv.AddProject("dev-app", "1002", "folders/200")
	srv.AddProject("org-tools", "1004", "organizations/100")
	srv.AddOrganization("999")
	srv.AddProject("other-proj", "1003", "organizations/999")
	return srv
}

// defaultSettings: scope folders/200, level viewer = roles/monitoring.viewer, level
// activate takes the role from the target, roles/browser offered to
// anyone, discovery on.
func defaultSettings() map[string]any {
	return map[string]any{
		"scope":             "folders/200",
		"levels":            map[string]any{"viewer": "roles/monitoring.viewer"},
		"roles":             []any{"roles/browser"},
		"discover_eligible": true,
	}
}

func newFixture(t *testing.T, settings map[string]any) *fixture {
	t.Helper()
	f := &fixture{srv: newServer(t), now: t0}
	f.p = f.provider(t, settings)
	return f
}

func (f *fixture) provider(t *testing.T, settings map[string]any) *Provider {
	t.Helper()
	if settings == nil {
		settings = defaultSettings()
	}
	p, err := NewWithOptions(provider.Resource{Name: "gcp-prod", Type: Type, Settings: settings, Access: []string{"viewer", "activate"}},
		Options{
			ClientOptions: f.srv.ClientOptions(),
			Now:           f.clock,
			Sleep: func(ctx context.Context, d time.Duration) error {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.sleeps = append(f.sleeps, d)
				return ctx.Err()
			},
		})
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	return p
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) grantReq(id, user, access, target string, d time.Duration) provider.GrantRequest {
	return provider.GrantRequest{RequestID: id, User: user, Resource: "gcp-prod", Access: access, Target: target,
		Reason: "INC-1234 secret-looking reason", ExpiresAt: f.clock().Add(d)}
}

func (f *fixture) grant(t *testing.T, id, user, access, target string, d time.Duration) provider.GrantResponse {
	t.Helper()
	resp, err := f.p.Grant(context.Background(), f.grantReq(id, user, access, target, d))
	if err != nil {
		t.Fatalf("Grant(%s, %s): %v", id, target, err)
	}
	return resp
}

func (f *fixture) revoke(t *testing.T, id, target string, h json.RawMessage) {
	t.Helper()
	if _, err := f.p.Revoke(context.Background(), provider.RevokeRequest{RequestID: id, Resource: "gcp-prod", Target: target, Handle: h}); err != nil {
		t.Fatalf("Revoke(%s): %v", id, err)
	}
}

func (f *fixture) verify(t *testing.T, id, target string, h json.RawMessage) provider.VerifyResponse {
	t.Helper()
	v, err := f.p.Verify(context.Background(), provider.VerifyRequest{RequestID: id, Resource: "gcp-prod", Target: target, Handle: h})
	if err != nil {
		t.Fatalf("Verify(%s): %v", id, err)
	}
	return v
}

func (f *fixture) check(access, user, target string) (provider.CheckResponse, error) {
	return f.p.Check(context.Background(), provider.CheckRequest{Resource: "gcp-prod", User: user, Access: access, Target: target, Duration: time.Hour})
}

// effective asks the server's CEL evaluation whether member holds role
// on resource at t.
func effective(t *testing.T, srv *gcptest.Server, resource, member, role string, at time.Time) bool {
	t.Helper()
	ok, err := srv.Effective(resource, member, role, at)
	if err != nil {
		t.Fatalf("Effective(%s, %s, %s): %v", resource, member, role, err)
	}
	return ok
}

// jitBindings returns the bindings of resource's policy whose condition
// description names requestID.
func jitBindings(srv *gcptest.Server, resource, requestID string) []gcptest.Binding {
	var out []gcptest.Binding
	for _, b := range srv.Policy(resource).Bindings {
		if b.Condition != nil && (b.Condition.Description == DescriptionPrefix+requestID || strings.HasPrefix(b.Condition.Description, DescriptionPrefix+requestID+" ")) {
			out = append(out, b)
		}
	}
	return out
}

func eligible(role, member, marker string) gcptest.Binding {
	return gcptest.Binding{Role: role, Members: []string{member}, Condition: &gcptest.Condition{
		Expression: marker, Title: "Eligible for JIT access",
	}}
}

func wantRefused(t *testing.T, err error, substr string) {
	t.Helper()
	var re *provider.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want *provider.RefusedError containing %q", err, err, substr)
	}
	if !strings.Contains(re.Reason, substr) {
		t.Fatalf("refusal %q does not contain %q", re.Reason, substr)
	}
}

func samePolicy(t *testing.T, what string, got, want gcptest.Policy) {
	t.Helper()
	got.Etag, want.Etag = "", ""
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("%s: policy changed:\n got %s\nwant %s", what, gj, wj)
	}
}
