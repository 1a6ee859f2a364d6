package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/cli"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/internal/kubetest"
)

const kubePolicy = `
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: carol@example.com, groups: [security]}
resources:
  - name: prod-k8s
    provider: kubernetes
    settings: {kubeconfig_file: %q}
    access: [view, edit]
rules:
  - name: view-auto
    requesters: {groups: [engineering]}
    resources: [prod-k8s]
    access: [view]
    max_duration: 1h
    reason: {required: true}
    auto_approve: true
  - name: edit-sre
    requesters: {groups: [engineering]}
    resources: [prod-k8s]
    access: [edit]
    max_duration: 1h
    reason: {required: true}
    approvers: {groups: [sre]}
`

// writeKubeconfig writes a kubeconfig for the client configuration cfg.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["jit"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "jit"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKubernetesAccess walks through Kubernetes access end to end: jitd
// with the kubernetes provider on a real kube-apiserver (RBAC on), the jit
// CLI listing targets, requesting view on one deployment and writing a
// kubeconfig, and alice's own client-certificate identity reading exactly
// that deployment while the access lasts, and nothing afterwards.
func TestKubernetesAccess(t *testing.T) {
	env := kubetest.Start(t)
	admin, err := k8s.NewForConfig(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	one := int32(1)
	for _, name := range []string{"nginx-deployment", "other-deployment"} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: appsv1.DeploymentSpec{
			Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx"}}}}}}
		if _, err := admin.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": "hunter2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	aliceCfg := env.NewUser(t, "alice@example.com")
	aliceK8s, err := k8s.NewForConfig(aliceCfg)
	if err != nil {
		t.Fatal(err)
	}
	getDeployment := func(name string) error {
		_, err := aliceK8s.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		return err
	}
	// Authorization reads from a cache: poll briefly after a change.
	eventuallyK8s := func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s: not within 20s", what)
			}
		}
	}
	if err := getDeployment("nginx-deployment"); !apierrors.IsForbidden(err) {
		t.Fatalf("before any request alice reads the deployment: %v", err)
	}

	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(fmt.Sprintf(kubePolicy, writeKubeconfig(t, env.Admin)))})
	alice := newClient(t, srv, jitdtest.Alice)
	cfg := t.TempDir()
	vars := map[string]string{"JIT_SERVER": srv.URL, "JIT_TOKEN": jitdtest.Alice, "XDG_CONFIG_HOME": cfg, "HOME": cfg}
	jitCLI := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Run(ctx, cli.Options{Args: args, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
		return code, stdout.String(), stderr.String()
	}

	// The CLI lists what may be targeted: namespaces (not kube-system),
	// then the deployments of one.
	code, out, errOut := jitCLI("targets", "prod-k8s")
	if code != 0 || !strings.Contains(out, "default\n") || strings.Contains(out, "kube-system") {
		t.Fatalf("jit targets: %d %q %q", code, out, errOut)
	}
	code, out, errOut = jitCLI("targets", "prod-k8s", "deployments/default")
	if code != 0 || !strings.Contains(out, "deployments.apps/default/nginx-deployment") {
		t.Fatalf("jit targets deployments/default: %d %q %q", code, out, errOut)
	}

	// Refused at submit: a protected namespace.
	_, err = alice.Submit(ctx, client.SubmitRequest{Resource: "prod-k8s", Access: "view", Duration: "30m", Reason: "x", Target: "deployments/kube-system/coredns"})
	wantCode(t, err, jit.ECodeRefused)

	code, out, errOut = jitCLI("request", "prod-k8s", "--access", "view", "--target", "deployments/default/nginx-deployment",
		"--for", "30m", "--reason", "INC-9 look at the rollout", "--wait", "-o", "json")
	if code != 0 {
		t.Fatalf("jit request: %d %q %q", code, out, errOut)
	}
	page, err := alice.List(ctx, client.ListOptions{Resource: "prod-k8s"})
	if err != nil || len(page.Items) != 1 || page.Items[0].Status != jit.StatusActive {
		t.Fatalf("requests: %+v, %v", page.Items, err)
	}
	r := page.Items[0]
	if r.Target != "deployments.apps/default/nginx-deployment" || !strings.Contains(r.TargetSummary, "nginx-deployment") {
		t.Fatalf("target %q summary %q", r.Target, r.TargetSummary)
	}
	eventuallyK8s("alice reads nginx-deployment", func() bool { return getDeployment("nginx-deployment") == nil })
	if err := getDeployment("other-deployment"); !apierrors.IsForbidden(err) {
		t.Fatalf("alice reads other-deployment: %v", err)
	}
	if _, err := aliceK8s.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice reads a secret under view: %v", err)
	}

	// The kubeconfig names the cluster and no credential of jit's.
	kcFile := filepath.Join(t.TempDir(), "jit-prod")
	if code, _, errOut := jitCLI("kubeconfig", "prod-k8s", "--file", kcFile); code != 0 {
		t.Fatalf("jit kubeconfig: %d %s", code, errOut)
	}
	raw, err := os.ReadFile(kcFile)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatalf("the kubeconfig does not load: %v\n%s", err, raw)
	}
	ctxName := kc.CurrentContext
	if c := kc.Contexts[ctxName]; c == nil || kc.Clusters[c.Cluster] == nil || kc.Clusters[c.Cluster].Server != env.Admin.Host {
		t.Fatalf("kubeconfig context %q: %s", ctxName, raw)
	}
	for _, a := range kc.AuthInfos {
		if len(a.ClientKeyData) > 0 || a.Token != "" {
			t.Fatalf("the kubeconfig carries a credential: %s", raw)
		}
	}

	// Relinquishing removes the role and binding: alice reads nothing.
	if code, _, errOut := jitCLI("relinquish", r.ID); code != 0 {
		t.Fatalf("jit relinquish: %d %s", code, errOut)
	}
	waitStatus(t, alice, r.ID, jit.StatusRelinquished, jit.StatusActive, jit.StatusRevoking)
	eventuallyK8s("alice loses nginx-deployment", func() bool { return apierrors.IsForbidden(getDeployment("nginx-deployment")) })
	crs, err := admin.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=jit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(crs.Items) != 0 {
		t.Fatalf("jit's cluster roles left after relinquish: %d", len(crs.Items))
	}
}
