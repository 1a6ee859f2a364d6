package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/daemon"
	"github.com/jitaccess/jit/policy"
)

func TestSSHCommands(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ssh_ca")
	out, errOut, code := jitd(t, "ssh", "init-ca", "--file", caFile)
	if code != 0 || !strings.HasPrefix(out, "ssh-ed25519 ") || !strings.Contains(errOut, "created") {
		t.Fatalf("init-ca: %d %q %q", code, out, errOut)
	}
	if fi, err := os.Stat(caFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v %v", fi, err)
	}
	again, errOut, code := jitd(t, "ssh", "init-ca", "--file", caFile)
	if code != 0 || again != out || !strings.Contains(errOut, "left as it is") {
		t.Fatalf("init-ca again: %d %q %q", code, again, errOut)
	}
	if _, errOut, code := jitd(t, "ssh", "init-ca", "--file", filepath.Join(dir, "nope", "ca")); code == 0 {
		t.Fatal("init-ca into a missing directory succeeded")
	} else if !strings.Contains(errOut, "nope") {
		t.Errorf("error does not name the path: %s", errOut)
	}

	cfg := filepath.Join(dir, "jit.yaml")
	src := `
server: {store: {sqlite: "` + filepath.Join(dir, "jit.db") + `"}}
identities: [{email: alice@example.com}]
resources:
  - name: web
    provider: ssh
    settings: {ca_key_file: "` + caFile + `", hosts: ["web-*"], principals: {deploy: [deploy]}}
    access: [deploy]
rules: [{name: r, requesters: {users: [alice@example.com]}, resources: [web], max_duration: 1h, auto_approve: true}]
`
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, errOut, code := jitd(t, "ssh", "ca", "--config", cfg, "--resource", "web")
	if code != 0 || pub != out {
		t.Fatalf("ssh ca: %d %q %q, want %q", code, pub, errOut, out)
	}
	if _, errOut, code := jitd(t, "ssh", "ca", "--config", cfg, "--resource", "db"); code == 0 || !strings.Contains(errOut, "no resource db") {
		t.Errorf("ssh ca of an unknown resource: %d %s", code, errOut)
	}

	// The store must exist for the KRL: open (and so create) it first.
	p, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := daemon.OpenStore(context.Background(), p.Server(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	p.Close()
	krl, errOut, code := jitd(t, "ssh", "krl", "--config", cfg, "--resource", "web")
	if code != 0 || !strings.HasPrefix(krl, "SSHKRL\n\x00") {
		t.Fatalf("ssh krl: %d %q %q", code, krl, errOut)
	}
	// ssh-keygen reads it as a KRL (revoking nothing).
	if kg, err := exec.LookPath("ssh-keygen"); err == nil {
		f := filepath.Join(dir, "krl")
		os.WriteFile(f, []byte(krl), 0o644)
		if b, err := exec.Command(kg, "-Q", "-l", "-f", f).CombinedOutput(); err != nil {
			t.Errorf("ssh-keygen -Q -l: %v\n%s", err, b)
		}
	}
}
