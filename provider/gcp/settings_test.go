package gcp

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/api/option"

	"github.com/jitaccess/jit/provider"
)

func TestSettings(t *testing.T) {
	access := []string{"viewer", "activate"}
	tests := []struct {
		name     string
		settings map[string]any
		access   []string
		wantErr  []string // substrings, each in the error
	}{
		{name: "minimal", settings: map[string]any{"scope": "projects/my-project", "roles": []any{"roles/compute.viewer"}}},
		{name: "levels only", settings: map[string]any{"scope": "organizations/456", "levels": map[string]any{"viewer": "roles/monitoring.viewer", "activate": "roles/browser"}}},
		{name: "discovery", settings: map[string]any{"scope": "folders/123", "discover_eligible": true}},
		{name: "credentials", settings: map[string]any{"scope": "folders/123", "discover_eligible": true, "credentials_file": "/etc/jit/sa.json", "credentials_type": "external_account"}},
		{name: "missing scope", settings: map[string]any{"roles": []any{"roles/browser"}}, wantErr: []string{`"scope": is required`}},
		{name: "bad scope", settings: map[string]any{"scope": "buckets/x", "roles": []any{"roles/browser"}}, wantErr: []string{`"scope"`, "not projects/ID"}},
		{name: "hostile static role", settings: map[string]any{"scope": "folders/1", "roles": []any{"roles/owner", "roles/iam.admin"}}, wantErr: []string{"roles/owner is refused", "roles/iam.admin is refused"}},
		{name: "allowed static role", settings: map[string]any{"scope": "folders/1", "roles": []any{"roles/iam.securityReviewer"}, "allow_roles": []any{"roles/iam.securityReviewer"}}},
		{name: "hostile level", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "levels": map[string]any{"viewer": "roles/editor"}}, wantErr: []string{`level "viewer"`, "editor"}},
		{name: "basic roles", settings: map[string]any{"scope": "folders/1", "roles": []any{"roles/viewer", "roles/owner"}, "levels": map[string]any{"viewer": "roles/viewer"}, "allow_roles": []any{"roles/owner"}},
			wantErr: []string{`level "viewer": role roles/viewer is a basic role`, "role roles/owner is a basic role"}},
		{name: "malformed role", settings: map[string]any{"scope": "folders/1", "roles": []any{"viewer"}}, wantErr: []string{`"roles"`, `"viewer"`}},
		{name: "unknown level", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "levels": map[string]any{"admin": "roles/monitoring.viewer"}}, wantErr: []string{`level "admin" is not an access level`}},
		{name: "nothing requestable", settings: map[string]any{"scope": "folders/1", "levels": map[string]any{"viewer": "roles/monitoring.viewer"}}, wantErr: []string{`access level "activate" has no role`}},
		{name: "bad member", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "member": "alice@example.com"}, wantErr: []string{`"member"`, "must start with"}},
		{name: "member without placeholder", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "member": "user:root@example.com"}, wantErr: []string{"names no one"}},
		{name: "member not an email", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "member": "user:{local}"}, wantErr: []string{"not TYPE:EMAIL"}},
		{name: "local without domain", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "member": "user:{local}@gcp.example.com"}, wantErr: []string{`"email_domain": is required with {local}`}},
		{name: "local with domain", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "member": "user:{local}@gcp.example.com", "email_domain": "example.com"}},
		{name: "bad domain", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "email_domain": "@example.com"}, wantErr: []string{`"email_domain"`, "not a domain"}},
		{name: "credentials type alone", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "credentials_type": "service_account"}, wantErr: []string{"applies to credentials_file only"}},
		{name: "bad credentials type", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "credentials_file": "/x", "credentials_type": "api_key"}, wantErr: []string{"not one of"}},
		{name: "attempts", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "max_attempts": 0}, wantErr: []string{"between 1 and 20"}},
		{name: "misspelt", settings: map[string]any{"scope": "folders/1", "discover_eligible": true, "discover_eligable": true}, wantErr: []string{`"discover_eligable": unknown setting`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.access
			if a == nil {
				a = access
			}
			_, err := parseConfig(provider.Resource{Name: "r", Type: Type, Settings: tt.settings, Access: a})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("parseConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseConfig succeeded; want errors %q", tt.wantErr)
			}
			var se *provider.SettingError
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *provider.SettingError", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	c, err := parseConfig(provider.Resource{Name: "r", Settings: map[string]any{
		"scope": "folders/123", "discover_eligible": true,
		"roles": []any{"roles/browser", "roles/browser", "projects/p-123456/roles/reader"},
	}, Access: []string{"activate"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.member != DefaultMember || c.maxAttempts != DefaultMaxAttempts || c.credentialsFile != "" || c.credentialsType != option.ServiceAccount {
		t.Errorf("defaults = %+v", c)
	}
	if want := []Role{"roles/browser", "projects/p-123456/roles/reader"}; !reflect.DeepEqual(c.roles, want) {
		t.Errorf("roles = %q, want %q (deduplicated)", c.roles, want)
	}
	if c.scope != (Resource{Kind: Folder, ID: "123"}) {
		t.Errorf("scope = %+v", c.scope)
	}
}

func TestRegistered(t *testing.T) {
	p, err := provider.New(provider.Resource{Name: "gcp-prod", Type: "gcp", Access: []string{"activate"},
		Settings: map[string]any{"scope": "projects/my-project", "discover_eligible": true}})
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	if _, ok := provider.As[provider.Checker](p); !ok {
		t.Errorf("not a Checker")
	}
	if _, ok := provider.As[provider.TargetLister](p); !ok {
		t.Errorf("not a TargetLister")
	}
	if _, ok := provider.As[provider.Lister](p); !ok {
		t.Errorf("not a Lister")
	}
	if provider.IsStoreEnforced(p) || provider.IssuesCredentials(p) {
		t.Errorf("store-enforced or credential-issuing")
	}
}
