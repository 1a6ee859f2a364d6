package jit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSSHKeyFingerprint(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnCIsuQ3oO4jDwtvcRbqe5zJRQCbjGmJ0SwEUw25dd2 alice@laptop"
	got := SSHKeyFingerprint(key)
	if !strings.HasPrefix(got, "ssh-ed25519 SHA256:") || strings.Contains(got, "alice") {
		t.Fatalf("fingerprint %q", got)
	}
	if SSHKeyFingerprint("not a key") == SSHKeyFingerprint("not a key either") || !strings.HasPrefix(SSHKeyFingerprint("x"), "text SHA256:") {
		t.Fatal("texts are not told apart")
	}
	// The same as OpenSSH's own, when ssh-keygen is here.
	kg, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	f := filepath.Join(t.TempDir(), "k.pub")
	if err := os.WriteFile(f, []byte(key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kg, "-l", "-E", "sha256", "-f", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	if fp := strings.Fields(string(out))[1]; !strings.HasSuffix(got, " "+fp) {
		t.Fatalf("fingerprint %q, ssh-keygen says %s", got, fp)
	}
}
