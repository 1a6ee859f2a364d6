package gcp

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/gcp/gcptest"
)

func TestGuardPermissions(t *testing.T) {
	const predefined, custom = Role("roles/example.role"), Role("projects/p/roles/r")
	tests := []struct {
		role  Role
		perms []string
		want  string // "" when accepted
	}{
		{predefined, []string{"storage.objects.get", "compute.instances.getIamPolicy"}, ""},
		{predefined, []string{"storage.buckets.setIamPolicy"}, "storage.buckets.setIamPolicy"},
		{predefined, []string{"resourcemanager.projects.setIamPolicy"}, "changes who has access"},
		{predefined, []string{"x.y.SETIAMPOLICY"}, "changes who has access"},
		// Object ACLs change no IAM policy (roles/storage.objectAdmin).
		{predefined, []string{"storage.objects.setIamPolicy"}, ""},
		{custom, []string{"storage.objects.setIamPolicy"}, ""},
		{predefined, []string{"storage.managedFolders.setIamPolicy"}, "storage.managedFolders.setIamPolicy"},
		{predefined, []string{"iam.serviceAccounts.actAs"}, "run code as a service account"},
		{predefined, []string{"iam.serviceAccounts.getAccessToken"}, "access tokens"},
		{predefined, []string{"iam.serviceAccounts.signBlob"}, "signBlob"},
		{predefined, []string{"iam.serviceAccounts.signJwt"}, "signJwt"},
		{predefined, []string{"iam.serviceAccounts.implicitDelegation"}, "chain"},
		{predefined, []string{"iam.serviceAccounts.getOpenIdToken"}, "identity tokens"},
		{predefined, []string{"iam.serviceAccountKeys.create"}, "outlive the activation"},
		{predefined, []string{"IAM.ServiceAccountKeys.Create"}, "outlive the activation"},
		{predefined, []string{"iam.serviceAccountKeys.upload"}, "outlive the activation"},
		{predefined, []string{"iam.roles.create"}, "defines roles"},
		{predefined, []string{"iam.roles.update"}, "what roles grant"},
		{predefined, []string{"orgpolicy.policy.set"}, "organization policies"},
		{predefined, []string{"orgpolicy.policy.get"}, ""},
		{predefined, []string{"deploymentmanager.deployments.create"}, "Deployment Manager"},
		{predefined, []string{"deploymentmanager.deployments.update"}, "Deployment Manager"},
		{predefined, []string{"deploymentmanager.deployments.get"}, ""},
		// Harmless iam.* reads pass in a predefined role; a custom role
		// holds none.
		{predefined, []string{"iam.serviceAccounts.list"}, ""},
		{custom, []string{"iam.serviceAccounts.list"}, "iam.* permissions"},
		{custom, []string{"storage.objects.get"}, ""},
	}
	for _, tt := range tests {
		err := guardPermissions(tt.role, tt.perms)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s %v refused: %v", tt.role, tt.perms, err)
			}
			continue
		}
		var pe *PrivilegedRoleError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "allow_roles") {
			t.Errorf("%s %v: error %v, want a *PrivilegedRoleError mentioning %q", tt.role, tt.perms, err, tt.want)
		}
	}
}

// TestPredefinedRolePermissions: predefined roles are judged by the
// permissions roles.get reads, not by their names alone; those that can
// change IAM policies of their own resources, or escalate through
// another identity, are refused at Check, left out of ListTargets and
// never granted.
func TestPredefinedRolePermissions(t *testing.T) {
	f := newFixture(t, nil)
	refused := map[string]string{
		"roles/storage.admin":            "storage.buckets.setIamPolicy",
		"roles/run.admin":                "run.jobs.setIamPolicy",
		"roles/secretmanager.admin":      "secretmanager.secrets.setIamPolicy",
		"roles/deploymentmanager.editor": "deploymentmanager.deployments.create",
		"roles/cloudbuild.example":       "iam.serviceAccounts.actAs",
		"roles/nosuch.viewer":            "not a predefined role",
	}
	f.srv.AddPredefinedRole("roles/cloudbuild.example", "cloudbuild.builds.create", "iam.serviceAccounts.actAs")
	accepted := []string{"roles/storage.objectAdmin", "roles/storage.objectViewer", "roles/compute.viewer"}
	for r := range refused {
		f.srv.AddBinding("projects/prod-app", eligible(r, "user:"+alice, SelfActivationExpression))
	}
	for _, r := range accepted {
		f.srv.AddBinding("projects/prod-app", eligible(r, "user:"+alice, SelfActivationExpression))
	}
	before := f.srv.Policy("projects/prod-app")

	for r, want := range refused {
		t.Run(r, func(t *testing.T) {
			_, err := f.check("activate", alice, "projects/prod-app:"+r)
			wantRefused(t, err, want)
			_, err = f.p.Grant(context.Background(), f.grantReq("req_priv", alice, "activate", "projects/prod-app:"+r, time.Hour))
			if err == nil || !provider.IsNotApplied(err) {
				t.Errorf("Grant = %v, want a not-applied error", err)
			}
		})
	}
	for _, r := range accepted {
		if _, err := f.check("activate", alice, "projects/prod-app:"+r); err != nil {
			t.Errorf("Check %s: %v", r, err)
		}
	}
	samePolicy(t, "after refused grants", f.srv.Policy("projects/prod-app"), before)

	got, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice, Parent: "projects/prod-app"})
	if err != nil {
		t.Fatalf("ListTargets: %v", err)
	}
	want := []string{"projects/prod-app:roles/compute.viewer", "projects/prod-app:roles/storage.objectAdmin", "projects/prod-app:roles/storage.objectViewer"}
	if !reflect.DeepEqual(got.Targets, want) {
		t.Errorf("ListTargets = %q, want %q", got.Targets, want)
	}

	// allow_roles lets a role through without reading it.
	s := defaultSettings()
	s["allow_roles"] = []any{"roles/storage.admin"}
	f.p = f.provider(t, s)
	calls := f.srv.Calls("roles.get")
	if _, err := f.check("activate", alice, "projects/prod-app:roles/storage.admin"); err != nil {
		t.Errorf("Check of an allowed role: %v", err)
	}
	if f.srv.Calls("roles.get") != calls {
		t.Errorf("an allowed role was read")
	}
	f.grant(t, "req_allowed", alice, "activate", "projects/prod-app:roles/storage.admin", time.Hour)
}

// TestStaticRolesJudgedByPermissions: a role the settings offer is judged
// the same way; the configuration cannot (New contacts nothing), so Check
// refuses it and ListTargets leaves it out.
func TestStaticRolesJudgedByPermissions(t *testing.T) {
	f := newFixture(t, nil)
	f.p = f.provider(t, map[string]any{
		"scope":  "folders/200",
		"roles":  []any{"roles/browser", "roles/storage.admin"},
		"levels": map[string]any{"viewer": "roles/run.admin"},
	})
	_, err := f.check("activate", alice, "roles/storage.admin")
	wantRefused(t, err, "storage.buckets.setIamPolicy")
	_, err = f.check("viewer", alice, "")
	wantRefused(t, err, "roles/run.admin is refused")
	if _, err := f.p.Grant(context.Background(), f.grantReq("req_lvl", alice, "viewer", "", time.Hour)); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant of a refused level = %v, want a not-applied error", err)
	}
	got, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice})
	if err != nil || !reflect.DeepEqual(got.Targets, []string{"folders/200:roles/browser"}) {
		t.Errorf("ListTargets = %+v, %v; want only roles/browser", got, err)
	}
	if n := f.srv.Calls("setIamPolicy"); n != 0 {
		t.Errorf("setIamPolicy called %d times", n)
	}
}

// TestRoleCache: roles.get answers are kept for roleCacheTTL at Check and
// ListTargets; Grant reads a custom role afresh, as an administrator may
// have widened it since the request was checked.
func TestRoleCache(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddBinding("projects/prod-app", eligible("roles/storage.objectViewer", "user:"+alice, SelfActivationExpression))
	target := "projects/prod-app:roles/storage.objectViewer"
	for range 3 {
		if _, err := f.check("activate", alice, target); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if n := f.srv.Calls("roles.get"); n != 1 {
		t.Errorf("roles.get calls after three checks of one role = %d, want 1", n)
	}
	// ListTargets reads roles/browser (offered statically) only.
	if _, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice}); err != nil {
		t.Fatalf("ListTargets: %v", err)
	}
	if n := f.srv.Calls("roles.get"); n != 2 {
		t.Errorf("roles.get calls after ListTargets = %d, want 2", n)
	}
	base := f.srv.Calls("roles.get")
	if _, err := f.check("activate", alice, target); err != nil {
		t.Fatal(err)
	}
	if f.srv.Calls("roles.get") != base {
		t.Errorf("a role read moments ago was read again")
	}
	f.advance(roleCacheTTL)
	if _, err := f.check("activate", alice, target); err != nil {
		t.Fatal(err)
	}
	if f.srv.Calls("roles.get") != base+1 {
		t.Errorf("roles.get calls after the cache expired = %d, want %d", f.srv.Calls("roles.get"), base+1)
	}

	// Widened between Check and Grant: the grant is refused.
	custom := "projects/prod-app:projects/prod-app/roles/reader"
	f.srv.AddCustomRole("projects/prod-app/roles/reader", "storage.objects.get")
	f.srv.AddBinding("projects/prod-app", eligible("projects/prod-app/roles/reader", "user:"+alice, SelfActivationExpression))
	if _, err := f.check("activate", alice, custom); err != nil {
		t.Fatalf("Check of the custom role: %v", err)
	}
	f.srv.AddCustomRole("projects/prod-app/roles/reader", "storage.objects.get", "storage.buckets.setIamPolicy")
	_, err := f.p.Grant(context.Background(), f.grantReq("req_widened", alice, "activate", custom, time.Hour))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "storage.buckets.setIamPolicy") {
		t.Errorf("Grant of a widened custom role = %v, want a not-applied refusal", err)
	}
	if len(jitBindings(f.srv, "projects/prod-app", "req_widened")) != 0 {
		t.Errorf("the widened role was granted")
	}
}

// TestRoleReadErrors: a roles.get that fails (other than not found) is
// an error, not a refusal, at Check and at ListTargets.
func TestRoleReadErrors(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddBinding("projects/prod-app", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	f.srv.InjectFault(func(method, _ string) *gcptest.APIError {
		if method == "roles.get" {
			return &gcptest.APIError{Code: 503, Status: "UNAVAILABLE", Message: "injected"}
		}
		return nil
	})
	var re *provider.RefusedError
	_, err := f.check("activate", alice, "projects/prod-app:roles/compute.viewer")
	if err == nil || errors.As(err, &re) {
		t.Errorf("Check with roles.get failing = %v, want an error that is not a refusal", err)
	}
	_, err = f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice})
	if err == nil || errors.As(err, &re) {
		t.Errorf("ListTargets with roles.get failing = %v, want an error that is not a refusal", err)
	}
	// Failures are not kept: once roles.get answers, the role passes.
	f.srv.InjectFault(nil)
	if _, err := f.check("activate", alice, "projects/prod-app:roles/compute.viewer"); err != nil {
		t.Errorf("Check after roles.get recovered: %v", err)
	}
}

// TestPredefinedRoleForbidden: a 403 on a predefined role says nothing
// about the role (the IAM API may be disabled for jit's project): it is
// an error for the operator, not a refusal naming the role unknown.
func TestPredefinedRoleForbidden(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.InjectFault(func(method, name string) *gcptest.APIError {
		if method == "roles.get" {
			return &gcptest.APIError{Code: 403, Status: "PERMISSION_DENIED", Message: "IAM API has not been used in project 1 or it is disabled"}
		}
		return nil
	})
	_, err := f.check("activate", alice, "roles/browser")
	var re *provider.RefusedError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("Check with roles.get forbidden = %v, want an error that is not a refusal", err)
	}
}
