package kubernetes

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/jitaccess/jit/provider"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, map[string]any{"roles": []any{"pod-logs"}}, "view", "edit", "pod-logs")
	if _, err := f.client.RbacV1().ClusterRoles().Create(ctx, clusterRole("pod-logs", rule(l("get"), l(""), l("pods/log"))), createOpts); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		access, target string
		wantTarget     string
		wantSummary    string
	}{
		{"view", "deployments/default/nginx-deployment", "deployments.apps/default/nginx-deployment",
			`get, list, watch on deployments.apps "nginx-deployment" in namespace default; also get, list, watch on its scale and status subresources`},
		{"view", "Deployment/default", "deployments.apps/default",
			`get, list, watch on deployments.apps in namespace default; also get, list, watch on its scale and status subresources`},
		{"edit", "deployment/team-a/web", "deployments.apps/team-a/web",
			`get, list, watch, create, update, patch, delete, deletecollection on deployments.apps "web" in namespace team-a; also get, list, watch, create, update, patch, delete, deletecollection on its scale subresource; get, list, watch on its status subresource; create, update, patch, delete, deletecollection on its rollback subresource`},
		{"view", "configmaps/default/settings", "configmaps/default/settings",
			`get, list, watch on configmaps "settings" in namespace default`},
		{"pod-logs", "pods/default/api-0", "pods/default/api-0",
			`get on the log subresource of pods "api-0" in namespace default`},
		{"view", "team-a", "team-a",
			`get, list, watch on configmaps, endpoints, persistentvolumeclaims, persistentvolumeclaims/status and 26 more resources in namespace team-a (ClusterRole "view")`},
	}
	for _, tc := range tests {
		t.Run(tc.access+" "+tc.target, func(t *testing.T) {
			resp, err := f.p.Check(ctx, provider.CheckRequest{Resource: "cluster", User: "alice@example.com", Access: tc.access, Target: tc.target})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if resp.Target != tc.wantTarget || resp.Summary != tc.wantSummary {
				t.Fatalf("Check =\n  %q\n  %q\nwant\n  %q\n  %q", resp.Target, resp.Summary, tc.wantTarget, tc.wantSummary)
			}
		})
	}
}

func TestCheckRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, map[string]any{"roles": []any{"missing-role"}}, "view", "edit", "missing-role")
	for _, tc := range []struct{ access, target, want string }{
		{"view", "kube-system", `namespace "kube-system" is protected`},
		{"view", "namespaces/kube-system", "protected"},
		{"view", "pods/default/a/b", "at most 3"},
		{"view", "", "is empty"},
		{"view", "secrets/default/db", "grants nothing"},
		{"edit", "team-a", `issues tokens of service accounts`},
		{"superuser", "team-a", "not one of the roles"},
		{"missing-role", "team-a", "does not exist in the cluster"},
	} {
		_, err := f.p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: tc.access, Target: tc.target})
		var re *provider.RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.want) {
			t.Errorf("Check(%s on %q) = %v; want refused with %q", tc.access, tc.target, err, tc.want)
		}
	}
}

// A cluster that cannot be read is not a refusal: the request may be fine.
func TestCheckClusterError(t *testing.T) {
	f := newFixture(t, nil)
	f.client.PrependReactor("get", "clusterroles", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	_, err := f.p.Check(context.Background(), provider.CheckRequest{User: "alice@example.com", Access: "view", Target: "team-a"})
	var re *provider.RefusedError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("Check = %v; want a plain error", err)
	}
}

func TestCheckEKSPrincipal(t *testing.T) {
	f := newFixture(t, map[string]any{"eks": map[string]any{"aws_auth": true, "iam_arns": map[string]any{"alice@example.com": "arn:aws:iam::111122223333:user/alice"}}})
	ctx := context.Background()
	if _, err := f.p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "view", Target: "team-a"}); err != nil {
		t.Fatalf("Check for a mapped user: %v", err)
	}
	_, err := f.p.Check(ctx, provider.CheckRequest{User: "bob@example.com", Access: "view", Target: "team-a"})
	var re *provider.RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "no IAM principal") {
		t.Fatalf("Check for an unmapped user = %v", err)
	}
}
