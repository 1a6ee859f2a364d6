package kubernetes

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func mustTarget(t *testing.T, s string) Target {
	t.Helper()
	tg, err := ParseTarget(s, testResolver(), DefaultProtectedNamespaces)
	if err != nil {
		t.Fatalf("ParseTarget(%q): %v", s, err)
	}
	return tg
}

func TestNarrow(t *testing.T) {
	res := testResolver()
	editWrite := l("create", "delete", "deletecollection", "patch", "update")
	tests := []struct {
		name    string
		rules   []rbacv1.PolicyRule
		target  string
		want    []rbacv1.PolicyRule
		wantErr bool
	}{
		{
			name:   "view on one deployment keeps the deployment and its subresources",
			rules:  viewRules(),
			target: "deployments/default/nginx-deployment",
			want: []rbacv1.PolicyRule{
				rule(readVerbs, l("apps"), l("deployments", "deployments/scale", "deployments/status"), "nginx-deployment"),
			},
		},
		{
			name:   "edit on one deployment",
			rules:  editRules(),
			target: "deployments/default/nginx-deployment",
			want: []rbacv1.PolicyRule{
				rule(readVerbs, l("apps"), l("deployments", "deployments/scale", "deployments/status"), "nginx-deployment"),
				rule(editWrite, l("apps"), l("deployments", "deployments/rollback", "deployments/scale"), "nginx-deployment"),
			},
		},
		{
			name:   "view on pods of a namespace keeps pods/log and pods/status",
			rules:  viewRules(),
			target: "pods/team-a",
			want: []rbacv1.PolicyRule{
				rule(readVerbs, l(""), l("pods")),
				rule(readVerbs, l(""), l("pods/log", "pods/status")),
			},
		},
		{
			name:   "edit on secrets of a namespace",
			rules:  editRules(),
			target: "secrets/team-a",
			want: []rbacv1.PolicyRule{
				rule(editWrite, l(""), l("secrets")),
				rule(readVerbs, l(""), l("secrets")),
			},
		},
		{
			name:   "view on a configmap",
			rules:  viewRules(),
			target: "configmaps/team-a/settings",
			want:   []rbacv1.PolicyRule{rule(readVerbs, l(""), l("configmaps"), "settings")},
		},
		{
			name:    "view grants nothing on secrets",
			rules:   viewRules(),
			target:  "secrets/team-a/db",
			wantErr: true,
		},
		{
			name:    "view grants nothing on nodes",
			rules:   viewRules(),
			target:  "nodes/node-1",
			wantErr: true,
		},
		{
			name:   "view on a namespace object",
			rules:  viewRules(),
			target: "namespaces/team-a",
			want: []rbacv1.PolicyRule{
				rule(readVerbs, l(""), l("namespaces/status"), "team-a"),
				rule(readVerbs, l(""), l("namespaces"), "team-a"),
			},
		},
		{
			name:   "resourceNames intersect",
			rules:  []rbacv1.PolicyRule{rule(readVerbs, l(""), l("configmaps"), "a", "b")},
			target: "configmaps/default/b",
			want:   []rbacv1.PolicyRule{rule(readVerbs, l(""), l("configmaps"), "b")},
		},
		{
			name:    "resourceNames without the object drop the rule",
			rules:   []rbacv1.PolicyRule{rule(readVerbs, l(""), l("configmaps"), "a", "b")},
			target:  "configmaps/default/c",
			wantErr: true,
		},
		{
			name:   "resourceNames kept on a kind target",
			rules:  []rbacv1.PolicyRule{rule(readVerbs, l(""), l("configmaps"), "a")},
			target: "configmaps/default",
			want:   []rbacv1.PolicyRule{rule(readVerbs, l(""), l("configmaps"), "a")},
		},
		{
			name:    "same resource in another group does not match",
			rules:   []rbacv1.PolicyRule{rule(readVerbs, l("extensions"), l("deployments"))},
			target:  "deployments/default/web",
			wantErr: true,
		},
		{
			name:   "wildcards become the target's group and resource",
			rules:  []rbacv1.PolicyRule{rule(l("*"), l("*"), l("*", "*/scale"))},
			target: "deployments/default/web",
			want:   []rbacv1.PolicyRule{rule(l("*"), l("apps"), l("deployments", "deployments/scale"), "web")},
		},
		{
			name:   "cluster-admin on a node",
			rules:  clusterAdminRules(),
			target: "nodes/node-1",
			want:   []rbacv1.PolicyRule{rule(l("*"), l(""), l("nodes"), "node-1")},
		},
		{
			name:   "namespace keeps namespaced rules only",
			rules:  append(viewRules(), rule(readVerbs, l(""), l("nodes", "persistentvolumes")), rule(readVerbs, l("storage.k8s.io"), l("storageclasses")), rbacv1.PolicyRule{Verbs: l("get"), NonResourceURLs: l("/healthz")}),
			target: "team-a",
			want: []rbacv1.PolicyRule{
				rule(readVerbs, l(""), l("configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status")),
				rule(readVerbs, l(""), l("bindings", "events", "limitranges", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status")),
				rule(readVerbs, l("apps"), l("controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status")),
			},
		},
		{
			name:    "namespace with cluster-scoped rules only",
			rules:   []rbacv1.PolicyRule{rule(readVerbs, l(""), l("nodes"))},
			target:  "team-a",
			wantErr: true,
		},
		{
			name:   "cluster-wide keeps everything",
			rules:  clusterAdminRules(),
			target: "*",
			want:   clusterAdminRules(),
		},
		{
			name:    "no rules",
			target:  "*",
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before []rbacv1.PolicyRule
			for i := range tc.rules {
				before = append(before, *tc.rules[i].DeepCopy())
			}
			got, err := Narrow(tc.rules, mustTarget(t, tc.target), res)
			if !reflect.DeepEqual(tc.rules, before) {
				t.Fatal("Narrow modified its input")
			}
			if tc.wantErr {
				if !errors.Is(err, ErrNothingGranted) {
					t.Fatalf("Narrow = %v, %v; want ErrNothingGranted", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Narrow: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Narrow =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestNarrowNamespaceResolvesCoreGroupExactly(t *testing.T) {
	// "deployments" in the core group does not exist: a resolver that
	// treated "" as any group would keep it.
	_, err := Narrow([]rbacv1.PolicyRule{rule(readVerbs, l(""), l("deployments"))}, mustTarget(t, "team-a"), testResolver())
	if !errors.Is(err, ErrNothingGranted) {
		t.Fatalf("Narrow = %v; want ErrNothingGranted", err)
	}
}

func TestGuard(t *testing.T) {
	tests := []struct {
		name    string
		rules   []rbacv1.PolicyRule
		allow   []string
		wantErr string
	}{
		{name: "view", rules: viewRules()},
		{name: "narrowed edit on a deployment", rules: []rbacv1.PolicyRule{rule(l("create", "update"), l("apps"), l("deployments"), "web")}},
		{name: "admin rbac verbs", rules: []rbacv1.PolicyRule{rule(l("create", "update"), l("rbac.authorization.k8s.io"), l("roles", "rolebindings"))}},
		{name: "edit token", rules: editRules(), wantErr: `create on "serviceaccounts/token"`},
		{name: "edit impersonate", rules: editRules(), allow: l("serviceaccounts/token"), wantErr: `verb "impersonate" on "serviceaccounts"`},
		{name: "edit allowed", rules: editRules(), allow: l("serviceaccounts", "serviceaccounts/token")},
		{name: "token create", rules: editRules(), allow: l("serviceaccounts"), wantErr: "serviceaccounts/token"},
		{name: "bind", rules: []rbacv1.PolicyRule{rule(l("bind"), l("rbac.authorization.k8s.io"), l("clusterroles"))}, wantErr: `verb "bind"`},
		{name: "escalate", rules: []rbacv1.PolicyRule{rule(l("escalate"), l("rbac.authorization.k8s.io"), l("roles"))}, wantErr: `verb "escalate"`},
		{name: "escalate allowed", rules: []rbacv1.PolicyRule{rule(l("escalate"), l("rbac.authorization.k8s.io"), l("roles"))}, allow: l("roles")},
		{name: "wildcard verb", rules: []rbacv1.PolicyRule{rule(l("*"), l(""), l("nodes"), "node-1")}, wantErr: `verb "*" on "nodes"`},
		{name: "wildcard resource", rules: []rbacv1.PolicyRule{rule(l("get"), l(""), l("*"))}, wantErr: `resource "*"`},
		{name: "wildcard subresource", rules: []rbacv1.PolicyRule{rule(l("get"), l(""), l("*/log"))}, wantErr: `resource "*/log"`},
		{name: "wildcard group", rules: []rbacv1.PolicyRule{rule(l("get"), l("*"), l("pods"))}, wantErr: `API group "*"`},
		{name: "cluster-admin", rules: clusterAdminRules(), wantErr: "wildcard"},
		{name: "cluster-admin allowed", rules: clusterAdminRules(), allow: l("*")},
		{name: "non-resource wildcard", rules: []rbacv1.PolicyRule{{Verbs: l("get"), NonResourceURLs: l("/api/*")}}, wantErr: "wildcard"},
		{name: "non-resource", rules: []rbacv1.PolicyRule{{Verbs: l("get"), NonResourceURLs: l("/healthz")}}},
		{name: "non-resource wildcard verb", rules: []rbacv1.PolicyRule{{Verbs: l("*"), NonResourceURLs: l("/healthz")}}, wantErr: `verb "*"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Guard(tc.rules, tc.allow)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Guard: %v", err)
				}
				return
			}
			var ee *EscalationError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Guard = %v; want *EscalationError containing %q", err, tc.wantErr)
			}
		})
	}
}
