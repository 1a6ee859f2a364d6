package gcp

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseTarget(t *testing.T) {
	proj := func(id string) Resource { return Resource{Kind: Project, ID: id} }
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "", want: Target{}},
		{in: "roles/compute.viewer", want: Target{Role: "roles/compute.viewer"}},
		{in: "projects/my-project", want: Target{Resource: proj("my-project")}},
		{in: "projects/my-project:roles/compute.viewer", want: Target{Resource: proj("my-project"), Role: "roles/compute.viewer"}},
		{in: "projects/123456789012:roles/viewer", want: Target{Resource: proj("123456789012"), Role: "roles/viewer"}},
		{in: "folders/123:roles/viewer", want: Target{Resource: Resource{Kind: Folder, ID: "123"}, Role: "roles/viewer"}},
		{in: "organizations/456:organizations/456/roles/auditor", want: Target{Resource: Resource{Kind: Organization, ID: "456"}, Role: "organizations/456/roles/auditor"}},
		{in: "projects/my-project:projects/my-project/roles/deployer", want: Target{Resource: proj("my-project"), Role: "projects/my-project/roles/deployer"}},
		{in: "projects/my-project/roles/deployer", want: Target{Role: "projects/my-project/roles/deployer"}},
		// Domain-scoped projects have a colon of their own.
		{in: "projects/example.com:my-project", want: Target{Resource: proj("example.com:my-project")}},
		{in: "projects/example.com:my-project:roles/viewer", want: Target{Resource: proj("example.com:my-project"), Role: "roles/viewer"}},
		{in: "projects/my-project:", wantErr: "role is empty"},
		{in: ":roles/viewer", wantErr: "resource is empty"},
		{in: "projects/My-Project:roles/viewer", wantErr: "not a project ID"},
		{in: "projects/abc:roles/viewer", wantErr: "not a project ID"}, // too short
		{in: "projects/my-project-:roles/viewer", wantErr: "not a project ID"},
		{in: "projects/0123:roles/viewer", wantErr: "not a project ID"},
		{in: "folders/12a:roles/viewer", wantErr: "folder is named by its number"},
		{in: "organizations/x:roles/viewer", wantErr: "organization is named by its number"},
		{in: "projects/my-project:roles/view er", wantErr: "space"},
		{in: "projects/my-project:roles/viewer\x00", wantErr: "control"},
		{in: "projects/my-project:roles/compute.viewer/extra", wantErr: "not a valid role name"},
		{in: "projects/my-project:roles/../owner", wantErr: "not a valid role name"},
		{in: "projects/my-project:folders/1/roles/x123", wantErr: "not roles/NAME"},
		{in: "projects/my-project:projects/my-project/roles/ab", wantErr: "not roles/NAME"}, // custom role IDs have 3+ characters
		{in: "roles/", wantErr: "is not RESOURCE:ROLE"},
		{in: "my-project", wantErr: "is not RESOURCE:ROLE"},
		{in: strings.Repeat("x", 1000), wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in)
			if tt.wantErr != "" {
				var ne *NameError
				if !errors.As(err, &ne) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTarget(%q) = %+v, %v; want a *NameError containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTarget(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"", "roles/viewer", "projects/my-project", "projects/my-project:roles/compute.viewer",
		"projects/example.com:my-project:roles/viewer", "folders/1:organizations/2/roles/abc", "projects/p-12345:projects/p-12345/roles/x_y.z",
		"projects/a:b:c", "roles/owner", "::", "projects/../roles/x", "projects/123:roles/\u00e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTarget(s)
		if err != nil {
			var ne *NameError
			if !errors.As(err, &ne) {
				t.Fatalf("ParseTarget(%q): error %T is not a *NameError", s, err)
			}
			if !utf8.ValidString(ne.Reason) {
				t.Fatalf("ParseTarget(%q): reason is not valid UTF-8: %q", s, ne.Reason)
			}
			return
		}
		// Accepted targets are canonical, printable and round-trip.
		if got.String() != s {
			t.Fatalf("ParseTarget(%q).String() = %q", s, got.String())
		}
		if strings.ContainsAny(s, " \t\r\n\"\\") {
			t.Fatalf("ParseTarget accepted %q", s)
		}
		if got.Role != "" {
			if _, err := ParseRole(string(got.Role)); err != nil {
				t.Fatalf("role %q of %q does not parse: %v", got.Role, s, err)
			}
		}
		if !got.Resource.IsZero() {
			r, err := ParseResource(got.Resource.String())
			if err != nil || r != got.Resource {
				t.Fatalf("resource %q of %q does not round-trip: %+v, %v", got.Resource, s, r, err)
			}
			if _, ok := resourceFromFullName(got.Resource.FullName()); !ok {
				t.Fatalf("full name of %q does not parse", got.Resource)
			}
		}
	})
}

func TestGuard(t *testing.T) {
	refused := []Role{"roles/owner", "roles/editor", "roles/OWNER", "roles/iam.serviceAccountUser", "roles/iam.securityReviewer",
		"roles/resourcemanager.projectIamAdmin", "roles/resourcemanager.organizationAdmin", "roles/resourcemanager.folderAdmin", "roles/resourcemanager.tagAdmin",
		"roles/cloudbuild.serviceAgent", "roles/container.serviceAgent", "roles/compute.ServiceAgent"}
	for _, r := range refused {
		var pe *PrivilegedRoleError
		if err := guardPredefined(r); !errors.As(err, &pe) {
			t.Errorf("guardPredefined(%s) = %v, want refused", r, err)
		}
	}
	for _, r := range []Role{"roles/viewer", "roles/browser", "roles/compute.admin", "roles/resourcemanager.projectCreator", "roles/resourcemanager.folderViewer", "projects/p-12345/roles/owner"} {
		if err := guardPredefined(r); err != nil {
			t.Errorf("guardPredefined(%s) = %v, want nil", r, err)
		}
	}
	if err := guardPermissions("projects/p/roles/x", []string{"storage.objects.get", "compute.instances.list"}); err != nil {
		t.Errorf("harmless permissions refused: %v", err)
	}
	for _, perm := range []string{"storage.buckets.setIamPolicy", "resourcemanager.projects.setIamPolicy", "iam.roles.update", "IAM.serviceAccountKeys.create", "compute.instances.SETIAMPOLICY"} {
		if err := guardPermissions("projects/p/roles/x", []string{"storage.objects.get", perm}); err == nil {
			t.Errorf("permission %s not refused", perm)
		}
	}
}

func TestActivationCondition(t *testing.T) {
	start := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	end := start.Add(90 * time.Minute)
	c := activationCondition("req_1", "alice@example.com", start, end)
	if c.Title != "JIT access activation" || c.Description != "jit request req_1 for alice@example.com" ||
		c.Expression != `request.time >= timestamp("2030-05-06T07:08:09Z") && request.time < timestamp("2030-05-06T08:38:09Z")` {
		t.Fatalf("condition = %+v", c)
	}
	a, ok := parseActivationCondition(c.Title, c.Description, c.Expression)
	if !ok || a.RequestID != "req_1" || a.User != "alice@example.com" || !a.Start.Equal(start) || !a.End.Equal(end) {
		t.Fatalf("parse = %+v, %v", a, ok)
	}
	// A long email is left out rather than cut.
	long := strings.Repeat("a", 200) + "@example.com"
	c = activationCondition(strings.Repeat("r", maxRequestIDLen), long, start, end)
	if len(c.Description) > maxDescriptionLen || strings.Contains(c.Description, "@") {
		t.Errorf("description %q (len %d)", c.Description, len(c.Description))
	}
	for _, bad := range [][3]string{
		{"JIT access activation", "Self-approved, justification: x", c.Expression},
		{"JIT access", "jit request req_1", c.Expression},
		{"JIT access activation", "jit request req_1", "request.time < timestamp(\"2030-05-06T08:38:09Z\")"},
		{"JIT access activation", "jit request ", c.Expression},
	} {
		if _, ok := parseActivationCondition(bad[0], bad[1], bad[2]); ok {
			t.Errorf("parseActivationCondition(%q) accepted", bad)
		}
	}
	for expr, want := range map[string]Eligibility{
		"has({}.jitAccessConstraint)":                      SelfActivation,
		" has( {}.jitaccessconstraint )\n":                 SelfActivation,
		"has({}.multiPartyApprovalConstraint)":             MultiParty,
		"has({}.jitAccessConstraint) || true":              NotEligible,
		`request.time < timestamp("2030-01-01T00:00:00Z")`: NotEligible,
	} {
		if got := eligibilityOf(expr); got != want {
			t.Errorf("eligibilityOf(%q) = %v, want %v", expr, got, want)
		}
	}
}

func FuzzActivationCondition(f *testing.F) {
	f.Add("req_1", "alice@example.com", int64(1900000000), int64(3600))
	f.Add("req_01/Ü", "a.b+c@sub.example.org", int64(0), int64(1))
	f.Add("x for y", "z@example.com", int64(1), int64(2))
	f.Fuzz(func(t *testing.T, id, user string, startUnix, dur int64) {
		if startUnix < 0 || startUnix > 1<<35 || dur <= 0 || dur > 1<<30 {
			return
		}
		start := time.Unix(startUnix, 0).UTC()
		end := start.Add(time.Duration(dur) * time.Second)
		// Grant refuses other IDs before it makes a condition.
		if checkRequestID(id) != nil {
			return
		}
		c := activationCondition(id, user, start, end)
		a, ok := parseActivationCondition(c.Title, c.Description, c.Expression)
		if !ok {
			t.Fatalf("condition for %q does not parse: %+v", id, c)
		}
		if a.RequestID != id || !a.Start.Equal(start) || !a.End.Equal(end) {
			t.Fatalf("round trip of %q: %+v", id, a)
		}
		if a.User != "" && a.User != user {
			t.Fatalf("user %q read back as %q", user, a.User)
		}
		if len(c.Description) > maxDescriptionLen {
			t.Fatalf("description longer than %d: %d", maxDescriptionLen, len(c.Description))
		}
	})
}

func TestPersonOf(t *testing.T) {
	tests := []struct {
		member, domain, in, want string
	}{
		{"user:{email}", "", "user:Bob@Example.com", "bob@example.com"},
		{"user:{email}", "", "group:bob@example.com", ""},
		{"user:{email}", "example.com", "user:bob@partner.example", ""},
		{"user:{local}@gcp.example.com", "example.com", "user:bob@gcp.example.com", "bob@example.com"},
		{"user:{local}@gcp.example.com", "example.com", "user:bob@gcp.example.com.evil", ""},
		{"user:{local}@gcp.example.com", "example.com", "user:@gcp.example.com", ""},
		{"serviceAccount:{local}-jit@t.iam.gserviceaccount.com", "example.com", "serviceAccount:bob-jit@t.iam.gserviceaccount.com", "bob@example.com"},
		{"serviceAccount:{local}-jit@t.iam.gserviceaccount.com", "example.com", "user:bob-jit@t.iam.gserviceaccount.com", ""},
		// Two placeholders cannot be inverted.
		{"user:{local}.{local}@gcp.example.com", "example.com", "user:bob.bob@gcp.example.com", ""},
	}
	for _, tt := range tests {
		c := config{member: tt.member, emailDomain: tt.domain}
		got, ok := c.personOf(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("personOf(%q) with member %q = %q, %v; want %q", tt.in, tt.member, got, ok, tt.want)
		}
	}
}

// FuzzMemberFor: every member made for a requester maps back to that
// requester and to no one else.
func FuzzMemberFor(f *testing.F) {
	f.Add("user:{email}", "", "alice@example.com")
	f.Add("user:{local}@gcp.example.com", "example.com", "alice@example.com")
	f.Add("serviceAccount:{local}-jit@t.iam.gserviceaccount.com", "example.com", "a.b@example.com")
	f.Fuzz(func(t *testing.T, member, domain, email string) {
		if checkMemberTemplate(member) != nil || (domain != "" && !domainRe.MatchString(domain)) {
			return
		}
		if domain == "" && strings.Contains(member, placeholderLocal) {
			return
		}
		c := config{member: member, emailDomain: domain}
		m, err := c.memberFor(email)
		if err != nil {
			return
		}
		back, ok := c.personOf(m)
		if ok && !strings.EqualFold(back, email) {
			t.Fatalf("member %q of %q maps back to %q", m, email, back)
		}
	})
}
