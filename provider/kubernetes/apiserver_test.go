package kubernetes

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/jitaccess/jit/internal/kubetest"
	"github.com/jitaccess/jit/provider"
)

// TestGrantOnRealAPIServer grants the built-in view role (an aggregated
// ClusterRole, whose rules the provider collects itself) narrowed to one
// Deployment, on a real kube-apiserver with RBAC: the person can read that
// Deployment and nothing else, and after revoke not even that. The kinds
// come from the API server's discovery.
func TestGrantOnRealAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	admin, err := k8s.NewForConfig(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	for _, name := range []string{"web", "api"} {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &one,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx"}}},
				},
			},
		}
		if _, err := admin.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewWithOptions(provider.Resource{Name: "test-cluster", Type: Type, Access: BuiltinRoles,
		Settings: map[string]any{"kubeconfig_file": "/nonexistent/kubeconfig"}}, Options{Client: admin})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := k8s.NewForConfig(env.NewUser(t, "alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	canGet := func(name string) bool {
		_, err := alice.AppsV1().Deployments("shop").Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsForbidden(err) {
			t.Fatalf("get %s: %v", name, err)
		}
		return err == nil
	}
	// RBAC reads roles from a cache: poll briefly for a change to show.
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
		}
	}
	if canGet("web") {
		t.Fatal("alice reads the deployment before any grant")
	}

	req := provider.GrantRequest{RequestID: "req_k8s_1", User: "alice@example.com", Resource: "test-cluster", Access: "view",
		ExpiresAt: time.Now().Add(time.Hour), Query: "deployments/shop/web"}
	if err := p.Check(ctx, "view", "deployments/shop/web"); err != nil {
		t.Fatalf("Check: %v", err)
	}
	resp, err := p.Grant(ctx, req)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	eventually("alice reads deployment web", func() bool { return canGet("web") })
	if canGet("api") {
		t.Fatal("the grant covers another deployment")
	}
	if _, err := alice.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list pods under a grant on one deployment: %v, want forbidden", err)
	}
	if _, err := alice.AppsV1().Deployments("shop").Update(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("update under view: %v, want forbidden", err)
	}
	if v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: req.RequestID, User: req.User, Resource: req.Resource, Access: req.Access, Handle: resp.Handle}); err != nil || !v.Present {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// Granting again changes nothing.
	if _, err := p.Grant(ctx, req); err != nil {
		t.Fatalf("second Grant: %v", err)
	}

	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID, User: req.User, Resource: req.Resource, Access: req.Access, Handle: resp.Handle}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	eventually("alice loses deployment web", func() bool { return !canGet("web") })
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID, User: req.User, Resource: req.Resource, Access: req.Access}); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	// A protected namespace is refused before anything is created.
	if err := p.Check(ctx, "view", "kube-system"); err == nil {
		t.Fatal("Check accepted kube-system")
	}
}
