package kubernetes

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	res := testResolver()
	deploy := APIResource{Group: "apps", Resource: "deployments", Namespaced: true}
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "*", want: Target{Scope: ClusterWide}},
		{in: "default", want: Target{Scope: Namespace, Namespace: "default"}},
		{in: "deployments/default", want: Target{Scope: Kind, Namespace: "default", Resource: deploy}},
		{in: "deployments/default/nginx-deployment", want: Target{Scope: Object, Namespace: "default", Resource: deploy, Name: "nginx-deployment"}},
		{in: "Deployment/default/web", want: Target{Scope: Object, Namespace: "default", Resource: deploy, Name: "web"}},
		{in: "deployment/default/web", want: Target{Scope: Object, Namespace: "default", Resource: deploy, Name: "web"}},
		{in: "deployments.apps/default/web", want: Target{Scope: Object, Namespace: "default", Resource: deploy, Name: "web"}},
		{in: "pods/team-a/api-0", want: Target{Scope: Object, Namespace: "team-a", Resource: APIResource{Resource: "pods", Namespaced: true}, Name: "api-0"}},
		{in: "secrets/team-a", want: Target{Scope: Kind, Namespace: "team-a", Resource: APIResource{Resource: "secrets", Namespaced: true}}},
		{in: "nodes/node-1", want: Target{Scope: Object, Resource: APIResource{Resource: "nodes"}, Name: "node-1"}},
		{in: "Node/node-1", want: Target{Scope: Object, Resource: APIResource{Resource: "nodes"}, Name: "node-1"}},
		{in: "namespaces/team-a", want: Target{Scope: Object, Resource: APIResource{Resource: "namespaces"}, Name: "team-a"}},
		{in: "clusterroles/system:aggregate-to-view", want: Target{Scope: Object, Resource: APIResource{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, Name: "system:aggregate-to-view"}},
		{in: "events.k8s.io/default", wantErr: "kind"}, // "events" + group "k8s.io" is unknown
		{in: "events/default", wantErr: "kind \"events\""},
		{in: "events.events.k8s.io/default", want: Target{Scope: Kind, Namespace: "default", Resource: APIResource{Group: "events.k8s.io", Resource: "events", Namespaced: true}}},
		{in: "", wantErr: "is empty"},
		{in: "kube-system", wantErr: "protected"},
		{in: "pods/kube-system/etcd-0", wantErr: "protected"},
		{in: "namespaces/kube-public", wantErr: "protected"},
		{in: "Default", wantErr: "not a valid namespace name"},
		{in: "team_a", wantErr: "not a valid namespace name"},
		{in: "default/", wantErr: "empty segment"},
		{in: "/default", wantErr: "empty segment"},
		{in: "pods/default/a/b", wantErr: "at most 3"},
		{in: "pods/*", wantErr: "wildcards"},
		{in: "*/default", wantErr: "wildcards"},
		{in: " default", wantErr: "white space"},
		{in: "default\n", wantErr: "white space"},
		{in: "widgets/default", wantErr: "no such resource"},
		{in: "nodes/default/node-1", wantErr: "cluster-scoped"},
		{in: "pods/default/..", wantErr: "not a valid object name"},
		{in: "pods/default/a%2fb", wantErr: "not a valid object name"},
		{in: "pods/default/" + strings.Repeat("a", 254), wantErr: "longer than 253"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in, res, DefaultProtectedNamespaces)
			if tc.wantErr != "" {
				var te *TargetError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseTarget(%q) = %+v, %v; want *TargetError containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseTarget(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			// The canonical form parses to the same target.
			again, err := ParseTarget(got.String(), res, DefaultProtectedNamespaces)
			if err != nil || again != got {
				t.Fatalf("ParseTarget(%q) (canonical of %q) = %+v, %v; want %+v", got.String(), tc.in, again, err, got)
			}
		})
	}
}

func TestParseTargetProtectedSetting(t *testing.T) {
	// With protected namespaces configured, only those are refused.
	if _, err := ParseTarget("kube-system", nil, []string{"prod"}); err != nil {
		t.Fatalf("kube-system with protected [prod]: %v", err)
	}
	if _, err := ParseTarget("prod", nil, []string{"prod"}); err == nil {
		t.Fatal("prod with protected [prod]: accepted")
	}
	if _, err := ParseTarget("pods/default", nil, nil); err == nil || !strings.Contains(err.Error(), "no resolver") {
		t.Fatalf("kind without resolver: %v", err)
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"*", "default", "deployments/default/web", "nodes/node-1", "Deployment.apps/x/y", "a/b/c/d", "kube-system", "pods/default/..", "namespaces/kube-system"} {
		f.Add(s)
	}
	res := testResolver()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTarget(s, res, DefaultProtectedNamespaces)
		if err != nil {
			var te *TargetError
			if !errors.As(err, &te) {
				t.Fatalf("ParseTarget(%q): error %T is not a *TargetError", s, err)
			}
			return
		}
		if got.Namespace != "" && contains(DefaultProtectedNamespaces, got.Namespace) {
			t.Fatalf("ParseTarget(%q) accepted protected namespace %q", s, got.Namespace)
		}
		if got.Scope != ClusterWide && got.Scope != Namespace && got.Resource.Resource == "" {
			t.Fatalf("ParseTarget(%q) = %+v: no resource", s, got)
		}
		again, err := ParseTarget(got.String(), res, DefaultProtectedNamespaces)
		if err != nil || again != got {
			t.Fatalf("canonical %q of %q = %+v, %v; want %+v", got.String(), s, again, err, got)
		}
	})
}
