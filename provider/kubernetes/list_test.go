package kubernetes

import (
	"context"
	"errors"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jitaccess/jit/provider"
)

func TestList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	exp := f.now.Add(time.Hour)
	for _, r := range []provider.GrantRequest{
		f.grantReq("req-list-a", "view", "deployments/default/web", exp),
		f.grantReq("req-list-b", "view", "team-a", exp),
		f.grantReq("req-list-c", "view", "*", exp),
	} {
		if _, err := f.p.Grant(ctx, r); err != nil {
			t.Fatalf("Grant %s: %v", r.RequestID, err)
		}
	}
	// A jit object of another resource, one without the request
	// annotation, and one whose name is not its request's: none is listed.
	other := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ObjectName("req-other"),
		Labels:      map[string]string{LabelManagedBy: ManagedByValue},
		Annotations: map[string]string{AnnotationRequestID: "req-other", AnnotationResource: "another-cluster"}}}
	bare := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "jit-by-hand", Labels: map[string]string{LabelManagedBy: ManagedByValue}}}
	renamed := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "jit-renamed",
		Labels:      map[string]string{LabelManagedBy: ManagedByValue},
		Annotations: map[string]string{AnnotationRequestID: "req-renamed", AnnotationResource: "cluster"}}}
	for _, r := range []*rbacv1.ClusterRole{other, bare, renamed} {
		if _, err := f.client.RbacV1().ClusterRoles().Create(ctx, r, createOpts); err != nil {
			t.Fatal(err)
		}
	}
	// Only the binding of req-list-b is left (its role was deleted by
	// hand): still listed, so that the reconciler removes it.
	if err := f.client.RbacV1().ClusterRoles().Delete(ctx, ObjectName("req-list-b"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, err := f.p.List(ctx, provider.ListRequest{Resource: "cluster"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var ids []string
	for _, g := range resp.Grants {
		ids = append(ids, g.RequestID)
		if g.User != "alice@example.com" || g.Access != "view" || g.ExpiresAt == nil || !g.ExpiresAt.Equal(exp) {
			t.Errorf("listed %+v", g)
		}
	}
	if want := l("req-list-a", "req-list-b", "req-list-c"); !equalStrings(ids, want) {
		t.Fatalf("List = %v, want %v", ids, want)
	}

	off := newFixture(t, map[string]any{"list": false})
	if _, err := off.p.List(ctx, provider.ListRequest{Resource: "cluster"}); !errors.Is(err, provider.ErrListUnsupported) {
		t.Fatalf("List with list: false = %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
