package kubernetes

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jitaccess/jit/internal/kubetest"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

// cluster is one real kube-apiserver (with RBAC) shared by the subtests of
// TestOnRealAPIServer: starting one takes seconds.
type cluster struct {
	env   *kubetest.Env
	admin k8s.Interface
	// jit is the least-privileged identity the provider runs as: the
	// ClusterRole of docs/kubernetes.md, plus the permissions it grants.
	jit *rest.Config
}

// jitRules are the rules of the ClusterRole "jit" in docs/kubernetes.md.
func jitRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: l("rbac.authorization.k8s.io"), Resources: l("clusterroles", "rolebindings", "clusterrolebindings"), Verbs: l("get", "list", "watch", "create", "update", "delete")},
		{APIGroups: l(""), Resources: l("namespaces"), Verbs: l("get", "list", "watch")},
	}
}

func startCluster(t *testing.T) *cluster {
	env := kubetest.Start(t)
	admin, err := k8s.NewForConfig(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{env: env, admin: admin}
	ctx := context.Background()
	c.create(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "jit"}, Rules: jitRules()})
	c.bind(t, "jit", "jit", "jit")
	// jit must hold what it grants. On a real cluster that is a binding to
	// view; here no controller-manager fills the aggregated view role, so
	// jit is bound to the role aggregated into it.
	c.bind(t, "jit-view", "system:aggregate-to-view", "jit")
	c.jit = env.NewUser(t, "jit")
	for _, ns := range []string{"shop"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range [][2]string{{"default", "nginx-deployment"}, {"default", "other-deployment"}, {"shop", "web"}, {"shop", "api"}, {"kube-system", "coredns"}} {
		c.deployment(t, d[0], d[1])
	}
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) create(t *testing.T, r *rbacv1.ClusterRole) {
	t.Helper()
	if _, err := c.admin.RbacV1().ClusterRoles().Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) bind(t *testing.T, name, role, user string) {
	t.Helper()
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
	}
	if _, err := c.admin.RbacV1().ClusterRoleBindings().Create(context.Background(), crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) deployment(t *testing.T, ns, name string) {
	t.Helper()
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx"}}},
			},
		},
	}
	if _, err := c.admin.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// provider returns a provider running as jit's identity.
func (c *cluster) provider(t *testing.T, settings map[string]any, now func() time.Time) *Provider {
	t.Helper()
	if settings == nil {
		settings = map[string]any{}
	}
	settings["kubeconfig_file"] = "/nonexistent/kubeconfig"
	p, err := NewWithOptions(provider.Resource{Name: "prod-k8s", Type: Type, Access: l("view", "edit"), Settings: settings},
		Options{Config: rest.CopyConfig(c.jit), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// can asks the API server (SubjectAccessReview) whether user may do verb
// on the resource.
func (c *cluster) can(t *testing.T, user, verb, group, resource, ns, name string) bool {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:               user,
		ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: ns, Name: name},
	}}
	got, err := c.admin.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return got.Status.Allowed
}

// eventually polls cond: RBAC reads roles and bindings from a cache, so a
// change takes a moment to show.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// canGet reports whether cl may read the deployment.
func canGet(t *testing.T, cl k8s.Interface, ns, name string) bool {
	t.Helper()
	_, err := cl.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		t.Fatalf("get deployment %s/%s: %v", ns, name, err)
	}
	return err == nil
}

func grantReq(id, user, access, target string, expires time.Time) provider.GrantRequest {
	return provider.GrantRequest{RequestID: id, User: user, Resource: "prod-k8s", Access: access, Target: target, ExpiresAt: expires}
}

func TestOnRealAPIServer(t *testing.T) {
	c := startCluster(t)
	alice, err := k8s.NewForConfig(c.env.NewUser(t, "alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// view narrowed to one Deployment: alice reads that Deployment and
	// nothing else, and after revoke not even that.
	t.Run("GrantOneDeployment", func(t *testing.T) {
		p := c.provider(t, nil, nil)
		if canGet(t, alice, "default", "nginx-deployment") {
			t.Fatal("alice reads the deployment before any grant")
		}
		ck, err := p.Check(ctx, provider.CheckRequest{Resource: "prod-k8s", User: "alice@example.com", Access: "view", Target: "deployments/default/nginx-deployment"})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if ck.Target != "deployments.apps/default/nginx-deployment" || !strings.HasPrefix(ck.Summary, `get, list, watch on deployments.apps "nginx-deployment" in namespace default`) {
			t.Fatalf("Check = %+v", ck)
		}
		req := grantReq("req_k8s_one", "alice@example.com", "view", "deployments/default/nginx-deployment", time.Now().Add(time.Hour))
		resp, err := p.Grant(ctx, req)
		if err != nil {
			t.Fatalf("Grant: %v", err)
		}
		eventually(t, "alice reads nginx-deployment", func() bool { return canGet(t, alice, "default", "nginx-deployment") })
		if canGet(t, alice, "default", "other-deployment") {
			t.Fatal("the grant covers other-deployment")
		}
		if canGet(t, alice, "kube-system", "coredns") || c.can(t, "alice@example.com", "get", "apps", "deployments", "kube-system", "nginx-deployment") {
			t.Fatal("the grant reaches into kube-system")
		}
		if _, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("list pods under a grant on one deployment: %v, want forbidden", err)
		}
		if _, err := alice.AppsV1().Deployments("default").Update(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "nginx-deployment", Namespace: "default"}}, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("update under view: %v, want forbidden", err)
		}
		if v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: req.RequestID, User: req.User, Resource: req.Resource, Access: req.Access, Handle: resp.Handle, Target: req.Target}); err != nil || !v.Present {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		if _, err := p.Grant(ctx, req); err != nil {
			t.Fatalf("second Grant: %v", err)
		}
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID, User: req.User, Resource: req.Resource, Access: req.Access, Handle: resp.Handle, Target: req.Target}); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		eventually(t, "alice loses nginx-deployment", func() bool { return !canGet(t, alice, "default", "nginx-deployment") })
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID, User: req.User}); err != nil {
			t.Fatalf("second Revoke: %v", err)
		}
	})

	// view on a whole namespace reads its workloads, never its Secrets.
	t.Run("ViewNeverReadsSecrets", func(t *testing.T) {
		p := c.provider(t, nil, nil)
		req := grantReq("req_k8s_ns", "alice@example.com", "view", "shop", time.Now().Add(time.Hour))
		if _, err := p.Grant(ctx, req); err != nil {
			t.Fatalf("Grant: %v", err)
		}
		t.Cleanup(func() { _, _ = p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID}) })
		eventually(t, "alice lists pods in shop", func() bool { return c.can(t, "alice@example.com", "list", "", "pods", "shop", "") })
		if !canGet(t, alice, "shop", "web") {
			t.Fatal("alice cannot read deployment web under view on shop")
		}
		for _, verb := range []string{"get", "list", "watch"} {
			if c.can(t, "alice@example.com", verb, "", "secrets", "shop", "") {
				t.Fatalf("view on shop allows %s on secrets", verb)
			}
		}
		if _, err := alice.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("list secrets under view: %v, want forbidden", err)
		}
		if c.can(t, "alice@example.com", "list", "", "pods", "default", "") || c.can(t, "alice@example.com", "list", "", "pods", "kube-system", "") {
			t.Fatal("view on shop reaches other namespaces")
		}
		// Asking for the Secrets themselves is refused at submit.
		_, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "view", Target: "secrets/default/db"})
		var re *provider.RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "grants nothing") {
			t.Fatalf("Check view on a secret = %v", err)
		}
	})

	// jit crashes after a grant and its store is lost: a new instance,
	// later, sweeps the expired objects from what the cluster holds.
	t.Run("SweepAfterCrash", func(t *testing.T) {
		base := time.Now().UTC().Truncate(time.Second)
		p := c.provider(t, nil, func() time.Time { return base })
		req := grantReq("req_k8s_crash", "alice@example.com", "view", "deployments/shop/api", base.Add(30*time.Minute))
		if _, err := p.Grant(ctx, req); err != nil {
			t.Fatalf("Grant: %v", err)
		}
		eventually(t, "alice reads api", func() bool { return canGet(t, alice, "shop", "api") })
		p = nil // jit's memory is gone; only the cluster remembers

		early := c.provider(t, nil, func() time.Time { return base.Add(29 * time.Minute) })
		if n, err := early.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep before expiry = %d, %v", n, err)
		}
		later := c.provider(t, nil, func() time.Time { return base.Add(31 * time.Minute) })
		n, err := later.Sweep(ctx)
		if err != nil || n < 2 {
			t.Fatalf("Sweep after expiry = %d, %v; want at least the role and binding", n, err)
		}
		eventually(t, "alice loses api", func() bool { return !canGet(t, alice, "shop", "api") })
		if _, err := c.admin.RbacV1().ClusterRoles().Get(ctx, ObjectName(req.RequestID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("ClusterRole after sweep: %v", err)
		}
		if _, err := c.admin.RbacV1().RoleBindings("shop").Get(ctx, ObjectName(req.RequestID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("RoleBinding after sweep: %v", err)
		}
	})

	t.Run("CheckRefuses", func(t *testing.T) {
		p := c.provider(t, nil, nil)
		for _, tc := range []struct{ access, target, want string }{
			{"view", "kube-system", "protected"},
			{"view", "deployments/kube-system/coredns", "protected"},
			{"edit", "default", "impersonate"},
			{"edit", "serviceaccounts/default", "refused"},
			{"view", "widgets/default", "no such resource"},
			{"superuser", "default", "not one of the roles"},
		} {
			_, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: tc.access, Target: tc.target})
			var re *provider.RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.want) {
				t.Errorf("Check(%s on %s) = %v; want refused with %q", tc.access, tc.target, err, tc.want)
			}
		}
		// edit on one deployment escalates nothing and is accepted.
		ck, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "edit", Target: "Deployment/default/nginx-deployment"})
		if err != nil || ck.Target != "deployments.apps/default/nginx-deployment" {
			t.Fatalf("Check edit on a deployment = %+v, %v", ck, err)
		}
		// An unreachable cluster is not a refusal.
		rc := rest.CopyConfig(c.jit)
		rc.Host = "https://127.0.0.1:1"
		down, err := NewWithOptions(provider.Resource{Name: "down", Type: Type, Access: l("view"), Settings: map[string]any{"in_cluster": true}}, Options{Config: rc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = down.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "view", Target: "default"})
		var re *provider.RefusedError
		if err == nil || errors.As(err, &re) {
			t.Fatalf("Check on an unreachable cluster = %v; want a plain error", err)
		}
	})

	t.Run("ListTargets", func(t *testing.T) {
		p := c.provider(t, nil, nil)
		list := func(parent string) []string {
			t.Helper()
			resp, err := p.ListTargets(ctx, provider.ListTargetsRequest{Resource: "prod-k8s", Parent: parent})
			if err != nil {
				t.Fatalf("ListTargets(%q): %v", parent, err)
			}
			if resp.Truncated {
				t.Fatalf("ListTargets(%q) truncated", parent)
			}
			return resp.Targets
		}
		top := list("")
		if top[0] != "*" || !slices.Contains(top, "default") || !slices.Contains(top, "shop") || slices.Contains(top, "kube-system") || slices.Contains(top, "kube-public") {
			t.Fatalf("ListTargets(\"\") = %v", top)
		}
		deps := list("deployments/default")
		if !slices.Equal(deps, l("deployments.apps/default/nginx-deployment", "deployments.apps/default/other-deployment")) {
			t.Fatalf("ListTargets(deployments/default) = %v", deps)
		}
		byKind := list("Deployment")
		if !slices.Contains(byKind, "deployments.apps/shop") || slices.Contains(byKind, "deployments.apps/kube-system") {
			t.Fatalf("ListTargets(Deployment) = %v", byKind)
		}
		nss := list("namespaces")
		if !slices.Contains(nss, "namespaces/default") || slices.Contains(nss, "namespaces/kube-system") {
			t.Fatalf("ListTargets(namespaces) = %v", nss)
		}
		// Every listed target is one a request may name.
		for _, tg := range append(deps, top...) {
			if _, err := ParseTarget(tg, p.resolver, p.cfg.protected); err != nil {
				t.Fatalf("listed target %q does not parse: %v", tg, err)
			}
		}
		for _, bad := range []string{"deployments/kube-system", "kube-system", "deployments/default/nginx-deployment", "*", "widgets", "nodes/default"} {
			_, err := p.ListTargets(ctx, provider.ListTargetsRequest{Parent: bad})
			var re *provider.RefusedError
			if !errors.As(err, &re) {
				t.Errorf("ListTargets(%q) = %v; want refused", bad, err)
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		p := c.provider(t, nil, nil)
		other := c.provider(t, nil, nil)
		other.cfg.resource = "other-cluster-resource"
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		for _, r := range []provider.GrantRequest{
			grantReq("req_k8s_list_1", "alice@example.com", "view", "deployments/shop/web", exp),
			grantReq("req_k8s_list_2", "bob@example.com", "view", "shop", exp),
		} {
			if _, err := p.Grant(ctx, r); err != nil {
				t.Fatalf("Grant %s: %v", r.RequestID, err)
			}
			t.Cleanup(func() { _, _ = p.Revoke(ctx, provider.RevokeRequest{RequestID: r.RequestID}) })
		}
		if _, err := other.Grant(ctx, grantReq("req_k8s_list_other", "carol@example.com", "view", "shop", exp)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = other.Revoke(ctx, provider.RevokeRequest{RequestID: "req_k8s_list_other"}) })
		resp, err := p.List(ctx, provider.ListRequest{Resource: "prod-k8s"})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		got := map[string]provider.ListedGrant{}
		for _, g := range resp.Grants {
			got[g.RequestID] = g
		}
		if g := got["req_k8s_list_1"]; g.User != "alice@example.com" || g.Access != "view" || g.ExpiresAt == nil || !g.ExpiresAt.Equal(exp) {
			t.Fatalf("listed req_k8s_list_1 = %+v", g)
		}
		if g := got["req_k8s_list_2"]; g.User != "bob@example.com" {
			t.Fatalf("listed req_k8s_list_2 = %+v", g)
		}
		if _, ok := got["req_k8s_list_other"]; ok {
			t.Fatal("List shows another resource's grant")
		}
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_k8s_list_1"}); err != nil {
			t.Fatal(err)
		}
		resp, err = p.List(ctx, provider.ListRequest{Resource: "prod-k8s"})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range resp.Grants {
			if g.RequestID == "req_k8s_list_1" {
				t.Fatal("List shows a revoked grant")
			}
		}
	})

	t.Run("Kubeconfig", func(t *testing.T) {
		p := c.provider(t, nil, nil)
		raw, err := p.Kubeconfig("alice@example.com")
		if err != nil {
			t.Fatalf("Kubeconfig: %v", err)
		}
		cfg, err := clientcmd.Load(raw)
		if err != nil {
			t.Fatalf("the kubeconfig does not load: %v", err)
		}
		cl := cfg.Clusters["prod-k8s"]
		if cl == nil || cl.Server != c.jit.Host || string(cl.CertificateAuthorityData) != string(c.jit.CAData) {
			t.Fatalf("cluster = %+v; want server %s and jit's CA", cl, c.jit.Host)
		}
		ai := cfg.AuthInfos["alice@example.com"]
		if ai == nil || len(ai.ClientCertificateData) > 0 || len(ai.ClientKeyData) > 0 || ai.Token != "" || ai.Exec != nil {
			t.Fatalf("user entry = %+v; want no credentials", ai)
		}
		for _, secret := range [][]byte{c.jit.KeyData, c.jit.CertData} {
			if strings.Contains(string(raw), base64.StdEncoding.EncodeToString(secret)) {
				t.Fatal("the kubeconfig holds jit's own credentials")
			}
		}
		if strings.Contains(string(raw), "client-key") || strings.Contains(string(raw), "token") {
			t.Fatalf("the kubeconfig holds credentials:\n%s", raw)
		}
		// What kubectl does with it, once the person adds their own
		// credentials (here a client certificate).
		ac := c.env.NewUser(t, "alice@example.com")
		ai.ClientCertificateData, ai.ClientKeyData = ac.CertData, ac.KeyData
		rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
		if err != nil {
			t.Fatalf("client config: %v", err)
		}
		kc, err := k8s.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		who, err := kc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectReview through the kubeconfig: %v", err)
		}
		if who.Status.UserInfo.Username != "alice@example.com" {
			t.Fatalf("authenticated as %q", who.Status.UserInfo.Username)
		}
		req := grantReq("req_k8s_kubeconfig", "alice@example.com", "view", "deployments/default/nginx-deployment", time.Now().Add(time.Hour))
		if _, err := p.Grant(ctx, req); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = p.Revoke(ctx, provider.RevokeRequest{RequestID: req.RequestID}) })
		eventually(t, "kubectl get deployment nginx-deployment", func() bool { return canGet(t, kc, "default", "nginx-deployment") })
		if _, err := kc.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("kubectl get secrets: %v, want forbidden", err)
		}
	})

	t.Run("AWSAuth", func(t *testing.T) { testAWSAuth(t, c) })

	t.Run("Conformance", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{
			New:      func(t *testing.T) provider.Provider { return c.provider(t, nil, nil) },
			Resource: "prod-k8s", Access: "view", Target: "deployments/default/nginx-deployment",
			Present: func(t *testing.T, id string) bool {
				_, err := c.admin.RbacV1().RoleBindings("default").Get(context.Background(), ObjectName(id), metav1.GetOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Fatal(err)
				}
				return err == nil
			},
		})
	})
}

// awsAuthOriginal is an aws-auth ConfigMap as EKS and eksctl write it,
// with a comment and quoting that a re-encoding would lose.
var awsAuthOriginal = map[string]string{
	"mapRoles": `- groups:
  - system:bootstrappers
  - system:nodes
  # the managed node group
  rolearn: arn:aws:iam::111122223333:role/eks-nodes
  username: system:node:{{EC2PrivateDNSName}}
- rolearn: "arn:aws:iam::111122223333:role/ops"
  username: ops
  groups: [system:masters]
`,
	"mapUsers": `- userarn: arn:aws:iam::111122223333:user/admin
  username: admin
  groups:
    - system:masters
`,
	"mapAccounts": "- \"111122223333\"\n",
}

func testAWSAuth(t *testing.T, c *cluster) {
	ctx := context.Background()
	cms := c.admin.CoreV1().ConfigMaps(AWSAuthNamespace)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: AWSAuthName}, Data: awsAuthOriginal}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// jit's identity may read and update aws-auth, as docs/kubernetes.md
	// says.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "jit-aws-auth", Namespace: AWSAuthNamespace}, Rules: []rbacv1.PolicyRule{
		{APIGroups: l(""), Resources: l("configmaps"), ResourceNames: l(AWSAuthName), Verbs: l("get", "update")},
	}}
	if _, err := c.admin.RbacV1().Roles(AWSAuthNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "jit-aws-auth", Namespace: AWSAuthNamespace},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jit"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "jit-aws-auth"}}
	if _, err := c.admin.RbacV1().RoleBindings(AWSAuthNamespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	settings := func() map[string]any {
		return map[string]any{"eks": map[string]any{
			"aws_auth": true,
			"iam_arn":  "arn:aws:iam::111122223333:role/people/{local}",
			"iam_arns": map[string]any{"carol@example.com": "arn:aws:iam::111122223333:user/carol"},
		}}
	}
	p := c.provider(t, settings(), clock)
	data := func() map[string]string {
		t.Helper()
		cm, err := cms.Get(ctx, AWSAuthName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data
	}
	exp := now.Add(time.Hour)
	aliceEntry := "- rolearn: arn:aws:iam::111122223333:role/alice\n  username: alice@example.com\n"
	bobEntry := "- rolearn: arn:aws:iam::111122223333:role/bob\n  username: bob@example.com\n"

	// Two overlapping grants of alice share one entry.
	r1 := grantReq("req_aws_1", "alice@example.com", "view", "deployments/default/nginx-deployment", exp)
	r2 := grantReq("req_aws_2", "alice@example.com", "view", "deployments/shop/web", exp)
	h1, err := p.Grant(ctx, r1)
	if err != nil {
		t.Fatalf("Grant r1: %v", err)
	}
	d := data()
	if d["mapRoles"] != awsAuthOriginal["mapRoles"]+aliceEntry || d["mapUsers"] != awsAuthOriginal["mapUsers"] || d["mapAccounts"] != awsAuthOriginal["mapAccounts"] {
		t.Fatalf("aws-auth after a grant:\n%s", d)
	}
	if !strings.Contains(string(h1.Handle), "role/people/alice") {
		t.Fatalf("handle %s does not record the IAM principal", h1.Handle)
	}
	if _, err := p.Grant(ctx, r2); err != nil {
		t.Fatalf("Grant r2: %v", err)
	}
	if got := data()["mapRoles"]; got != awsAuthOriginal["mapRoles"]+aliceEntry {
		t.Fatalf("a second grant of alice changed mapRoles:\n%s", got)
	}

	// A concurrent writer changes another entry between jit's read and its
	// write: jit's write conflicts, it reads again and keeps both changes.
	var once sync.Once
	attempts := 0
	p.beforeAWSAuthWrite = func() {
		attempts++
		once.Do(func() {
			cm, err := cms.Get(ctx, AWSAuthName, metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			cm.Data["mapUsers"] = strings.Replace(cm.Data["mapUsers"], "username: admin", "username: cluster-admin", 1)
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	r3 := grantReq("req_aws_3", "bob@example.com", "view", "deployments/shop/api", exp)
	if _, err := p.Grant(ctx, r3); err != nil {
		t.Fatalf("Grant r3 with a concurrent writer: %v", err)
	}
	p.beforeAWSAuthWrite = nil
	if attempts < 2 {
		t.Fatalf("jit wrote aws-auth in %d attempt(s); the concurrent write should have made the first conflict", attempts)
	}
	changedUsers := strings.Replace(awsAuthOriginal["mapUsers"], "username: admin", "username: cluster-admin", 1)
	d = data()
	if d["mapRoles"] != awsAuthOriginal["mapRoles"]+aliceEntry+bobEntry || d["mapUsers"] != changedUsers {
		t.Fatalf("aws-auth after a conflicting write:\n%s", d)
	}

	// Revoking one of alice's grants keeps her entry; the other's Verify
	// still finds everything.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: r1.RequestID, User: r1.User, Handle: h1.Handle}); err != nil {
		t.Fatalf("Revoke r1: %v", err)
	}
	if got := data()["mapRoles"]; !strings.Contains(got, aliceEntry) {
		t.Fatalf("alice's entry went with one of her two grants:\n%s", got)
	}
	if v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: r2.RequestID, User: r2.User}); err != nil || !v.Present {
		t.Fatalf("Verify r2 = %+v, %v", v, err)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: r2.RequestID, User: r2.User}); err != nil {
		t.Fatalf("Revoke r2: %v", err)
	}
	if got := data()["mapRoles"]; got != awsAuthOriginal["mapRoles"]+bobEntry {
		t.Fatalf("mapRoles after alice's last revoke:\n%s", got)
	}

	// A principal mapped by someone else to another name is refused,
	// and nothing is created.
	_, err = p.Grant(ctx, grantReq("req_aws_ops", "ops@example.com", "view", "shop", exp))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "not by jit") {
		t.Fatalf("Grant for a principal mapped to someone else = %v", err)
	}
	if _, err := c.admin.RbacV1().ClusterRoles().Get(ctx, ObjectName("req_aws_ops"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused grant left a ClusterRole: %v", err)
	}
	// No principal for d'arcy (the local part is not an IAM name):
	// refused at Check.
	_, err = p.Check(ctx, provider.CheckRequest{User: "d'arcy@example.com", Access: "view", Target: "shop"})
	var re *provider.RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "IAM") {
		t.Fatalf("Check for a user without IAM principal = %v", err)
	}

	// Grants of several people at once, from two jit instances: every
	// entry lands, none is lost.
	q := c.provider(t, settings(), clock)
	var wg sync.WaitGroup
	users := []string{"u1", "u2", "u3", "u4", "carol"}
	errs := make([]error, len(users))
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := p
			if i%2 == 1 {
				inst = q
			}
			_, errs[i] = inst.Grant(ctx, grantReq("req_aws_many_"+u, u+"@example.com", "view", "shop", exp))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Grant %s: %v", users[i], err)
		}
	}
	d = data()
	for _, u := range users[:4] {
		if !strings.Contains(d["mapRoles"], "role/"+u+"\n  username: "+u+"@example.com\n") {
			t.Fatalf("entry of %s missing after concurrent grants:\n%s", u, d["mapRoles"])
		}
	}
	if !strings.HasSuffix(d["mapUsers"], "- userarn: arn:aws:iam::111122223333:user/carol\n  username: carol@example.com\n") {
		t.Fatalf("carol's user entry missing:\n%s", d["mapUsers"])
	}
	listed, err := p.List(ctx, provider.ListRequest{Resource: "prod-k8s"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(listed.Grants); n < len(users)+1 {
		t.Fatalf("List = %d grants, want at least %d", n, len(users)+1)
	}

	// A grant whose revoke never came: the RBAC objects and the aws-auth
	// entries are swept once expired.
	for _, u := range users {
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_aws_many_" + u, User: u + "@example.com"}); err != nil {
			t.Fatalf("Revoke %s: %v", u, err)
		}
	}
	late := c.provider(t, settings(), func() time.Time { return exp.Add(time.Second) })
	n, err := late.Sweep(ctx)
	if err != nil || n < 3 {
		t.Fatalf("Sweep = %d, %v; want bob's role, binding and aws-auth entry", n, err)
	}
	d = data()
	if d["mapRoles"] != awsAuthOriginal["mapRoles"] || d["mapUsers"] != changedUsers || d["mapAccounts"] != awsAuthOriginal["mapAccounts"] {
		t.Fatalf("aws-auth after every grant ended is not as it was:\n%s", fmt.Sprint(d))
	}
	cm, err := cms.Get(ctx, AWSAuthName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Annotations[AnnotationAWSAuth]; ok {
		t.Fatalf("jit's annotation stays after its last entry went: %v", cm.Annotations)
	}
}
