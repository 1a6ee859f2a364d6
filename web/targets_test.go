package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/credential"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/sshca"
)

// clusterish is a provider whose requests name targets, as the
// Kubernetes provider's do: it lists namespaces and objects, refuses
// kube-system and makes "web" canonical as "namespaces/web".
type clusterish struct{}

func init() {
	provider.Register("webtargets", func(r provider.Resource) (provider.Provider, error) { return clusterish{}, nil })
}

func (clusterish) Grant(context.Context, provider.GrantRequest) (provider.GrantResponse, error) {
	return provider.GrantResponse{Handle: json.RawMessage(`{}`)}, nil
}
func (clusterish) Revoke(context.Context, provider.RevokeRequest) (provider.RevokeResponse, error) {
	return provider.RevokeResponse{}, nil
}
func (clusterish) Verify(context.Context, provider.VerifyRequest) (provider.VerifyResponse, error) {
	return provider.VerifyResponse{}, nil
}
func (clusterish) Check(_ context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	if strings.Contains(req.Target, "kube-system") {
		return provider.CheckResponse{}, provider.Refusef("namespace kube-system may never be requested")
	}
	return provider.CheckResponse{Target: "namespaces/" + req.Target, Summary: "everything view allows in " + req.Target}, nil
}
func (clusterish) ListTargets(_ context.Context, req provider.ListTargetsRequest) (provider.ListTargetsResponse, error) {
	switch req.Parent {
	case "":
		return provider.ListTargetsResponse{Targets: []string{"*", "default", "web"}}, nil
	case "deployments/web":
		return provider.ListTargetsResponse{Targets: []string{"deployments/web/frontend"}}, nil
	}
	return provider.ListTargetsResponse{}, provider.Refusef("%q is not a namespace or KIND/NAMESPACE", req.Parent)
}

const targetPolicy = `
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: dave@example.com, groups: [sales]}
resources:
  - {name: prod-k8s, provider: webtargets, access: [view]}
  - {name: demo-app, provider: http, settings: {host: demo.localhost, path_prefix: /}, access: [user]}
rules:
  - name: k8s
    requesters: {groups: [engineering]}
    resources: [prod-k8s, demo-app]
    max_duration: 2h
    approvers: {groups: [sre]}
`

func TestTargets(t *testing.T) {
	e := newEnvWithPolicy(t, targetPolicy)
	alice := e.signIn("alice@example.com")

	// The form offers a target field for the cluster only.
	p := alice.get("/")
	mustContain(t, "access page", p.body, `value="prod-k8s"`, `data-target="true"`, `id="target"`)
	if !strings.Contains(p.body, `value="demo-app" data-access="user"`) || strings.Count(p.body, `data-target="true"`) != 1 {
		t.Errorf("the target field is offered for a resource without targets:\n%s", section(p.body, "request"))
	}

	for _, c := range []struct {
		who, query string
		status     int
		want       string
	}{
		{"alice", "resource=prod-k8s", http.StatusOK, `"items":["*","default","web"]`},
		{"alice", "resource=prod-k8s&parent=deployments/web", http.StatusOK, `deployments/web/frontend`},
		{"alice", "resource=prod-k8s&parent=kube-system", http.StatusBadRequest, `is not a namespace`},
		{"alice", "resource=demo-app", http.StatusBadRequest, `has no targets`},
		{"dave", "resource=prod-k8s", http.StatusNotFound, `not found`},
	} {
		b := alice
		if c.who == "dave" {
			b = e.signIn("dave@example.com")
		}
		p := b.get("/targets?" + c.query)
		if p.status != c.status || !strings.Contains(p.body, c.want) {
			t.Errorf("%s GET /targets?%s = %d %s; want %d with %s", c.who, c.query, p.status, p.body, c.status, c.want)
		}
	}
	if p := e.browser().get("/targets?resource=prod-k8s"); p.status != http.StatusUnauthorized {
		t.Errorf("signed out: %d, want 401", p.status)
	}

	// A refused target is shown on the field and nothing is filed.
	tok := alice.csrf("/")
	p = alice.post("/requests", url.Values{"csrf": {tok}, "resource": {"prod-k8s"}, "access": {"view"}, "duration": {"1h"}, "target": {"kube-system"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="target-error"`) || !strings.Contains(p.body, "kube-system may never be requested") {
		t.Fatalf("refused target: %d\n%s", p.status, section(p.body, "request"))
	}
	p = alice.post("/requests", url.Values{"csrf": {tok}, "resource": {"prod-k8s"}, "access": {"view"}, "duration": {"1h"}, "target": {" web "}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", p.status, p.body)
	}
	id := mustQueryParam(t, p.location, "id")
	if r := e.get(id); r.Target != "namespaces/web" || r.TargetSummary == "" {
		t.Fatalf("stored target %q summary %q", r.Target, r.TargetSummary)
	}
	mustContain(t, "bob's approvals", e.signIn("bob@example.com").get("/approvals").body, "namespaces/web", "everything view allows in web")
}

func mustQueryParam(t *testing.T, location, name string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil || u.Query().Get(name) == "" {
		t.Fatalf("location %q has no %s", location, name)
	}
	return u.Query().Get(name)
}

const sshPolicy = `
identities: [{email: alice@example.com, groups: [engineering]}]
resources:
  - name: web-hosts
    provider: ssh
    settings: {ca_key_file: %q, hosts: ["web-*"], principals: {deploy: [deploy]}}
    access: [deploy]
rules:
  - {name: ssh, requesters: {groups: [engineering]}, resources: [web-hosts], max_duration: 2h, auto_approve: true}
`

// An SSH resource's form asks for the public key to certify; a refused
// key is shown on that field.
func TestSSHKeyField(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca")
	if _, _, err := sshca.InitCA(ca, ""); err != nil {
		t.Fatal(err)
	}
	e := newEnvWithPolicy(t, fmt.Sprintf(sshPolicy, ca))
	// The certificate is delivered encrypted to alice's registered key.
	id, err := credential.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RegisterPublicKey(e.as("alice@example.com"), id.Recipient().String()); err != nil {
		t.Fatal(err)
	}
	alice := e.signIn("alice@example.com")
	mustContain(t, "access page", alice.get("/").body, `data-sshkey="true"`, `id="ssh_public_key"`)
	tok := alice.csrf("/")
	p := alice.post("/requests", url.Values{"csrf": {tok}, "resource": {"web-hosts"}, "duration": {"1h"}, "ssh_public_key": {"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="sshkey-error"`) {
		t.Fatalf("refused key: %d\n%s", p.status, section(p.body, "request"))
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spk, _ := ssh.NewPublicKey(pub)
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spk)))
	p = alice.post("/requests", url.Values{"csrf": {tok}, "resource": {"web-hosts"}, "duration": {"1h"}, "ssh_public_key": {key}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", p.status, section(p.body, "request"))
	}
	if r := e.get(mustQueryParam(t, p.location, "id")); r.SSHPublicKey != key {
		t.Fatalf("stored key %q", r.SSHPublicKey)
	}
}
