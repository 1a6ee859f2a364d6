package gcp

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	crm "google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

// The live tests run against real Google Cloud, only when asked to:
//
//	JIT_TEST_GCP_PROJECT           a project ID whose IAM policy the tests may change
//	JIT_TEST_GCP_USER              an existing Google account (email) to grant to
//	JIT_TEST_GCP_ROLE              the role granted (default roles/browser)
//	JIT_TEST_GCP_CREDENTIALS_FILE  a service account key; Application Default
//	                               Credentials when unset
//
// The identity needs resourcemanager.projects.getIamPolicy and
// setIamPolicy on the project. No environment (CI included) provides a
// Google Cloud project, so they are skipped, not failed, without it.
func liveSettings(t *testing.T) (project, user string, settings map[string]any) {
	t.Helper()
	project, user = os.Getenv("JIT_TEST_GCP_PROJECT"), os.Getenv("JIT_TEST_GCP_USER")
	if project == "" || user == "" {
		t.Skip("live Google Cloud test: set JIT_TEST_GCP_PROJECT and JIT_TEST_GCP_USER (and Application Default Credentials or JIT_TEST_GCP_CREDENTIALS_FILE) to run it")
	}
	role := os.Getenv("JIT_TEST_GCP_ROLE")
	if role == "" {
		role = "roles/browser"
	}
	settings = map[string]any{
		"scope":  "projects/" + project,
		"levels": map[string]any{"activate": role},
	}
	if f := os.Getenv("JIT_TEST_GCP_CREDENTIALS_FILE"); f != "" {
		settings["credentials_file"] = f
	}
	return project, user, settings
}

func liveProvider(t *testing.T, settings map[string]any) *Provider {
	t.Helper()
	p, err := NewWithOptions(provider.Resource{Name: "gcp-live", Type: Type, Settings: settings, Access: []string{"activate"}}, Options{})
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	return p
}

func TestLiveConformance(t *testing.T) {
	project, user, settings := liveSettings(t)
	var opts []option.ClientOption
	if f := os.Getenv("JIT_TEST_GCP_CREDENTIALS_FILE"); f != "" {
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, f))
	}
	c, err := crm.NewService(context.Background(), opts...)
	if err != nil {
		t.Fatalf("resource manager client: %v", err)
	}
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return liveProvider(t, settings) },
		Resource: "gcp-live",
		Access:   "activate",
		User:     user,
		Present: func(t *testing.T, requestID string) bool {
			pol, err := c.Projects.GetIamPolicy("projects/"+project, &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: 3}}).Do()
			if err != nil {
				t.Fatalf("get IAM policy: %v", err)
			}
			for _, b := range pol.Bindings {
				if b.Condition != nil && strings.HasPrefix(b.Condition.Description, DescriptionPrefix+requestID) {
					return true
				}
			}
			return false
		},
	})
}

func TestLiveCheckGrantRevoke(t *testing.T) {
	_, user, settings := liveSettings(t)
	p := liveProvider(t, settings)
	ctx := context.Background()
	resp, err := p.Check(ctx, provider.CheckRequest{User: user, Access: "activate"})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	id := "req_live_" + time.Now().UTC().Format("20060102T150405")
	g, err := p.Grant(ctx, provider.GrantRequest{RequestID: id, User: user, Access: "activate", Target: resp.Target, ExpiresAt: time.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	t.Cleanup(func() {
		if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: id, Handle: g.Handle, Target: resp.Target, Access: "activate"}); err != nil {
			t.Errorf("Revoke: %v", err)
		}
	})
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: id, Handle: g.Handle, Access: "activate"})
	if err != nil || !v.Present || v.ExpiresAt == nil {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	_, err = p.Check(ctx, provider.CheckRequest{User: user, Access: "activate", Target: "roles/owner"})
	if err == nil {
		t.Errorf("Check of roles/owner succeeded")
	}
}
