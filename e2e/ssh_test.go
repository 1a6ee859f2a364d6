package e2e

import (
	"bytes"
	"context"
	"crypto/dsa"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/cli"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/credential"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/internal/sshdtest"
	"github.com/jitaccess/jit/provider/sshca"
	"golang.org/x/crypto/ssh"
)

const sshPolicy = `
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: carol@example.com, groups: [security]}
resources:
  - name: web
    provider: ssh
    settings:
      ca_key_file: %q
      hosts: ["127.0.0.1", "web-*"]
      principals: {deploy: [deploy], admin: [root]}
    access: [deploy, admin]
    default_access: deploy
rules:
  - name: deploy
    requesters: {groups: [engineering]}
    resources: [web]
    access: [deploy]
    max_duration: 1h
    auto_approve: true
`

// TestSSHAccess walks through SSH access end to end: jitd with an SSH
// certificate authority, a real sshd trusting it and reading its
// revocation list from jitd's public endpoints, and `jit ssh` running the
// real ssh client with the certificate it gets.
func TestSSHAccess(t *testing.T) {
	sshdtest.Require(t, sshdtest.SSHDPath)
	sshdtest.Require(t, sshdtest.SSHPath)
	ctx := context.Background()
	caFile := filepath.Join(t.TempDir(), "ssh_ca")
	if _, _, err := sshca.InitCA(caFile, ""); err != nil {
		t.Fatal(err)
	}
	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(fmt.Sprintf(sshPolicy, caFile))})
	alice, carol := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Carol)

	// The host trusts the CA and reads the KRL as its refresh job would,
	// from the public endpoints.
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	sshd := sshdtest.Start(t, sshdtest.Config{TrustedCAKeys: []string{strings.TrimSpace(string(get("/api/v1/ssh/web/ca.pub")))}, KRL: get("/api/v1/ssh/web/krl")})

	id, err := credential.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	if err := credential.SaveIdentity(filepath.Join(cfg, "jit", "identity.txt"), id); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.RegisterPublicKey(ctx, id.Recipient().String()); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"JIT_SERVER": srv.URL, "JIT_TOKEN": jitdtest.Alice, "XDG_CONFIG_HOME": cfg, "HOME": cfg}
	jitSSH := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Run(ctx, cli.Options{Args: args, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
		return code, stdout.String(), stderr.String()
	}
	sshOpts := []string{"-p", fmt.Sprint(sshd.Port), "-F", "/dev/null", "-o", "IdentityAgent=none", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"}

	// `jit ssh` makes a key, files a request for it (approved by the
	// rule), and logs in with the certificate: the remote command runs.
	login := sshd.User + "@127.0.0.1"
	args := append([]string{"ssh", login, "--access", "deploy", "--reason", "deploy v2", "--"}, append(sshOpts, "echo", "hello-from-sshd")...)
	code, out, errOut := jitSSH(args...)
	if code != 0 || strings.TrimSpace(out) != "hello-from-sshd" {
		t.Fatalf("jit ssh: exit %d, stdout %q, stderr %q\nsshd log:\n%s", code, out, errOut, sshd.Log())
	}
	page, err := alice.List(ctx, client.ListOptions{Resource: "web"})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("requests after jit ssh: %v, %v", page.Items, err)
	}
	r := page.Items[0]
	if r.Status != jit.StatusActive || !strings.HasPrefix(r.SSHPublicKey, "ssh-ed25519 ") || !strings.Contains(r.TargetSummary, "deploy") {
		t.Fatalf("the request: %+v", r)
	}

	// A second run reuses the active grant.
	if code, out, errOut := jitSSH(args...); code != 0 || !strings.Contains(errOut, "using your active access "+r.ID) || strings.TrimSpace(out) != "hello-from-sshd" {
		t.Fatalf("jit ssh again: exit %d, %q, %q", code, out, errOut)
	}
	if page, _ := alice.List(ctx, client.ListOptions{Resource: "web"}); len(page.Items) != 1 {
		t.Fatalf("a second request was filed: %d", len(page.Items))
	}

	// `jit ssh-cert` prints the certificate; ssh logs in with it directly.
	certFile := filepath.Join(t.TempDir(), "cert.pub")
	if code, _, errOut := jitSSH("ssh-cert", r.ID, "--file", certFile); code != 0 {
		t.Fatalf("jit ssh-cert: %d %s", code, errOut)
	}
	keyFile := filepath.Join(cfg, "jit", "ssh_ed25519")
	if res := sshd.Login(t, keyFile, certFile); !res.OK {
		t.Fatalf("login with the printed certificate: %v", res)
	}

	// An early revoke reaches the host with its next KRL refresh.
	if _, err := carol.Revoke(ctx, r.ID, "leaver"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, r.ID, jit.StatusRevoked, jit.StatusActive, jit.StatusRevoking)
	if res := sshd.Login(t, keyFile, certFile); !res.OK {
		t.Fatalf("before the KRL refresh the certificate still works (sshd cannot know): %v", res)
	}
	sshd.SetKRL(t, get("/api/v1/ssh/web/krl"))
	sshd.LoginRefused(t, keyFile, certFile, "revoked by file "+sshd.KRLFile)

	// A new grant for the same key logs in again: the KRL holds the
	// revoked certificate's serial, not the key.
	code, out, errOut = jitSSH(args...)
	if code != 0 || strings.TrimSpace(out) != "hello-from-sshd" {
		t.Fatalf("jit ssh after the revoke: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A DSA key is refused at submit and files nothing.
	var params dsa.Parameters
	if err := dsa.GenerateParameters(&params, rand.Reader, dsa.L1024N160); err != nil {
		t.Fatal(err)
	}
	dk := dsa.PrivateKey{PublicKey: dsa.PublicKey{Parameters: params}}
	if err := dsa.GenerateKey(&dk, rand.Reader); err != nil {
		t.Fatal(err)
	}
	dpub, err := ssh.NewPublicKey(&dk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := alice.List(ctx, client.ListOptions{Resource: "web"})
	_, err = alice.Submit(ctx, client.SubmitRequest{Resource: "web", Access: "deploy", Duration: "10m", Reason: "x",
		SSHPublicKey: string(ssh.MarshalAuthorizedKey(dpub))})
	wantCode(t, err, jit.ECodeRefused)
	if after, _ := alice.List(ctx, client.ListOptions{Resource: "web"}); len(after.Items) != len(before.Items) {
		t.Fatal("a refused request was filed")
	}
}
