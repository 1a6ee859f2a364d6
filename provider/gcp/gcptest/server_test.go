package gcptest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cloudasset "google.golang.org/api/cloudasset/v1"
	crm "google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
)

// These tests hold the server to the behaviour of the real APIs that
// provider/gcp depends on, through the real client libraries.

func setup(t *testing.T) (*Server, *crm.Service) {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	s.AddOrganization("1")
	s.AddFolder("2", "organizations/1")
	s.AddProject("my-project", "42", "folders/2")
	c, err := crm.NewService(context.Background(), s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func code(err error) int {
	if ge, ok := err.(*googleapi.Error); ok {
		return ge.Code
	}
	return 0
}

var timed = &Condition{Title: "t", Expression: `request.time < timestamp("2030-01-01T00:00:00Z")`}

func TestPolicyVersionsAndEtags(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	s.AddBinding("projects/my-project", Binding{Role: "roles/logging.viewer", Members: []string{"user:a@example.com"}, Condition: timed})

	// Version 1 readers see the conditional binding under a mangled role.
	v1, err := c.Projects.GetIamPolicy("projects/my-project", &crm.GetIamPolicyRequest{}).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || len(v1.Bindings) != 1 || !strings.Contains(v1.Bindings[0].Role, "_withcond_") || v1.Bindings[0].Condition != nil {
		t.Fatalf("version 1 read = %+v", v1)
	}
	// Writing that back fails.
	if _, err := c.Projects.SetIamPolicy("projects/my-project", &crm.SetIamPolicyRequest{Policy: v1}).Context(ctx).Do(); code(err) != http.StatusBadRequest {
		t.Fatalf("writing a mangled role: %v, want 400", err)
	}

	v3, err := c.Projects.GetIamPolicy("projects/42", &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: 3}}).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if v3.Version != 3 || v3.Bindings[0].Condition == nil || v3.Etag == "" {
		t.Fatalf("version 3 read (by project number) = %+v", v3)
	}
	// Conditions need version 3 on write too.
	v3.Version = 1
	if _, err := c.Projects.SetIamPolicy("projects/my-project", &crm.SetIamPolicyRequest{Policy: v3}).Context(ctx).Do(); code(err) != http.StatusBadRequest {
		t.Fatalf("writing conditions at version 1: %v, want 400", err)
	}
	v3.Version = 3
	v3.Bindings = append(v3.Bindings, &crm.Binding{Role: "roles/browser", Members: []string{"user:b@example.com"}})
	written, err := c.Projects.SetIamPolicy("projects/my-project", &crm.SetIamPolicyRequest{Policy: v3}).Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if written.Etag == v3.Etag || written.Etag == "" {
		t.Errorf("etag after a write = %q, was %q", written.Etag, v3.Etag)
	}
	// The old etag is stale now.
	if _, err := c.Projects.SetIamPolicy("projects/my-project", &crm.SetIamPolicyRequest{Policy: v3}).Context(ctx).Do(); code(err) != http.StatusConflict {
		t.Fatalf("write with a stale etag: %v, want 409", err)
	}
	if got := s.Policy("projects/my-project"); len(got.Bindings) != 2 {
		t.Errorf("stored = %+v", got)
	}
	// Folders and organizations have the same calls.
	if _, err := c.Folders.GetIamPolicy("folders/2", &crm.GetIamPolicyRequest{}).Context(ctx).Do(); err != nil {
		t.Errorf("folders: %v", err)
	}
	if _, err := c.Organizations.GetIamPolicy("organizations/1", &crm.GetIamPolicyRequest{}).Context(ctx).Do(); err != nil {
		t.Errorf("organizations: %v", err)
	}
	if _, err := c.Projects.GetIamPolicy("projects/nope-nope", &crm.GetIamPolicyRequest{}).Context(ctx).Do(); code(err) != http.StatusForbidden {
		t.Errorf("unknown project: %v, want 403", err)
	}
}

func TestBindingValidation(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	for _, b := range []*crm.Binding{
		{Role: "roles/viewer"},
		{Role: "roles/viewer", Members: []string{"alice@example.com"}},
		{Role: "projects/my-project/roles/nope", Members: []string{"user:a@example.com"}},
		{Role: "roles/viewer", Members: []string{"user:a@example.com"}, Condition: &crm.Expr{Expression: "request.time <", Title: "x"}},
		{Role: "roles/viewer", Members: []string{"user:a@example.com"}, Condition: &crm.Expr{Expression: "true"}},
		// IAM refuses conditions on basic roles and for everyone.
		{Role: "roles/viewer", Members: []string{"user:a@example.com"}, Condition: &crm.Expr{Expression: "true", Title: "x"}},
		{Role: "roles/editor", Members: []string{"user:a@example.com"}, Condition: &crm.Expr{Expression: "true", Title: "x"}},
		{Role: "roles/storage.objectViewer", Members: []string{"allUsers"}, Condition: &crm.Expr{Expression: "true", Title: "x"}},
	} {
		pol := &crm.Policy{Version: 3, Bindings: []*crm.Binding{b}}
		if _, err := c.Projects.SetIamPolicy("projects/my-project", &crm.SetIamPolicyRequest{Policy: pol}).Context(ctx).Do(); code(err) != http.StatusBadRequest {
			t.Errorf("binding %+v: %v, want 400", b, err)
		}
	}
}

func TestEffective(t *testing.T) {
	s, _ := setup(t)
	s.AddGroup("group:g@example.com", "user:a@example.com")
	s.AddBinding("folders/2", Binding{Role: "roles/logging.viewer", Members: []string{"group:g@example.com"}, Condition: timed})
	s.AddBinding("projects/my-project", Binding{Role: "roles/browser", Members: []string{"user:a@example.com"},
		Condition: &Condition{Title: "eligible", Expression: "has({}.jitAccessConstraint)"}})
	before := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	after := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		member, role string
		at           time.Time
		want         bool
	}{
		{"user:a@example.com", "roles/logging.viewer", before, true}, // inherited, through the group
		{"user:a@example.com", "roles/logging.viewer", after, false},
		{"user:b@example.com", "roles/logging.viewer", before, false},
		{"user:a@example.com", "roles/browser", before, false}, // the marker never holds
	} {
		got, err := s.Effective("projects/my-project", c.member, c.role, c.at)
		if err != nil || got != c.want {
			t.Errorf("Effective(%s, %s, %s) = %v, %v; want %v", c.member, c.role, c.at, got, err, c.want)
		}
	}
}

func TestAnalyzeAndSearch(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	s.AddBinding("folders/2", Binding{Role: "roles/browser", Members: []string{"user:a@example.com"},
		Condition: &Condition{Title: "eligible", Expression: "has({}.multiPartyApprovalConstraint)"}})
	s.AddBinding("projects/my-project", Binding{Role: "roles/logging.viewer", Members: []string{"user:a@example.com"}, Condition: timed})
	a, err := cloudasset.NewService(ctx, s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.V1.AnalyzeIamPolicy("organizations/1").
		AnalysisQueryIdentitySelectorIdentity("user:a@example.com").
		AnalysisQueryOptionsExpandResources(true).
		AnalysisQueryConditionContextAccessTime("2029-06-01T00:00:00Z").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range resp.MainAnalysis.AnalysisResults {
		var names []string
		for _, res := range r.AccessControlLists[0].Resources {
			names = append(names, res.FullResourceName)
		}
		got[r.IamBinding.Role] = r.AccessControlLists[0].ConditionEvaluation.EvaluationValue + " " + fmt.Sprint(names)
	}
	want := map[string]string{
		"roles/browser":        "CONDITIONAL [//cloudresourcemanager.googleapis.com/folders/2 //cloudresourcemanager.googleapis.com/projects/my-project]",
		"roles/logging.viewer": "TRUE [//cloudresourcemanager.googleapis.com/projects/my-project]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("analysis = %v, want %v", got, want)
	}
	if _, err := a.V1.AnalyzeIamPolicy("organizations/1").Context(ctx).Do(); code(err) != http.StatusBadRequest {
		t.Errorf("analysis without selectors: %v, want 400", err)
	}

	var resources []string
	err = a.V1.SearchAllIamPolicies("organizations/1").PageSize(1).Pages(ctx, func(r *cloudasset.SearchAllIamPoliciesResponse) error {
		for _, res := range r.Results {
			resources = append(resources, res.Resource)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(resources) != "[//cloudresourcemanager.googleapis.com/folders/2 //cloudresourcemanager.googleapis.com/projects/my-project]" {
		t.Errorf("search = %v", resources)
	}

	s.AddCustomRole("projects/my-project/roles/reader", "storage.objects.get")
	i, err := iam.NewService(ctx, s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	role, err := i.Projects.Roles.Get("projects/my-project/roles/reader").Context(ctx).Do()
	if err != nil || fmt.Sprint(role.IncludedPermissions) != "[storage.objects.get]" {
		t.Errorf("roles.get = %+v, %v", role, err)
	}
	if _, err := i.Organizations.Roles.Get("organizations/1/roles/nope").Context(ctx).Do(); code(err) != http.StatusNotFound {
		t.Errorf("unknown role: %v, want 404", err)
	}
}

func TestPredefinedRoles(t *testing.T) {
	s := NewServer()
	t.Cleanup(s.Close)
	ctx := context.Background()
	i, err := iam.NewService(ctx, s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	role, err := i.Roles.Get("roles/storage.admin").Context(ctx).Do()
	if err != nil || role.Name != "roles/storage.admin" || !slices.Contains(role.IncludedPermissions, "storage.buckets.setIamPolicy") {
		t.Errorf("roles.get(roles/storage.admin) = %+v, %v", role, err)
	}
	if _, err := i.Roles.Get("roles/nosuch.role").Context(ctx).Do(); code(err) != http.StatusNotFound {
		t.Errorf("unknown predefined role: %v, want 404", err)
	}
	s.AddPredefinedRole("roles/example.viewer", "example.things.get")
	role, err = i.Roles.Get("roles/example.viewer").Context(ctx).Do()
	if err != nil || fmt.Sprint(role.IncludedPermissions) != "[example.things.get]" {
		t.Errorf("roles.get of an added role = %+v, %v", role, err)
	}
	// Each server has its own table.
	if _, ok := PredefinedRoles["roles/example.viewer"]; ok {
		t.Errorf("AddPredefinedRole changed the shared table")
	}
}
