package kubernetes

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jitaccess/jit/provider"
)

// A User subject named after one of Kubernetes' own identities is that
// identity: system:anonymous is every unauthenticated caller,
// system:serviceaccount:NS:NAME the service account. A requester must
// never be able to direct a grant to one of them.
func TestGrantRefusesKubernetesIdentities(t *testing.T) {
	for _, tc := range []struct{ prefix, user string }{
		{"", "system:anonymous"},
		{"", "system:serviceaccount:default:builder"},
		{"", "system:masters@example.com"},
		{"system:", "alice@example.com"},
		{"", "not-an-email"},
		{"", "{{SessionName}}@example.com"},
	} {
		f := newFixture(t, map[string]any{"user_prefix": tc.prefix})
		ctx := context.Background()
		req := f.grantReq("req-sys", "view", "deployments/default/web", f.now.Add(time.Hour))
		req.User = tc.user
		if _, err := f.p.Grant(ctx, req); err == nil || !provider.IsNotApplied(err) {
			t.Errorf("Grant for %q (prefix %q) = %v, want NotApplied", tc.user, tc.prefix, err)
		}
		var refused *provider.RefusedError
		if _, err := f.p.Check(ctx, provider.CheckRequest{User: tc.user, Access: "view", Target: "deployments/default/web"}); !errors.As(err, &refused) {
			t.Errorf("Check for %q (prefix %q) = %v, want a refusal", tc.user, tc.prefix, err)
		}
		if l, _ := f.client.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
			t.Errorf("Grant for %q (prefix %q) bound %s", tc.user, tc.prefix, l.Items[0].Subjects[0].Name)
		}
	}
}
