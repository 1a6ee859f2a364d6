package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/client"
)

// TestServeFromConfigWithToken runs `jitd serve --config` the way an
// operator would: a config file naming the data folder and address, an API
// token made with `jitd token create`, and the dev tokens refused.
func TestServeFromConfigWithToken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the jitd binary")
	}
	bin := buildJitd(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "jit.yaml")
	policy := `server: {addr: "` + addr + `", data_dir: "` + filepath.Join(dir, "data") + `"}
identities:
  - {email: dave@example.com, groups: [engineering]}
resources:
  - {name: app, provider: http, settings: {host: app.example.com}, access: [{name: user}]}
rules:
  - {name: r, requesters: {groups: [engineering]}, resources: [app], max_duration: 1h, auto_approve: true}
`
	if err := os.WriteFile(cfg, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "policy", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("policy check: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "token", "create", "--user", "dave@example.com", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))

	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitReady(t, addr)

	c, _ := client.New("http://"+addr, client.WithToken(token))
	ctx := context.Background()
	who, err := c.Whoami(ctx)
	if err != nil || who.Email != "dave@example.com" || who.Via != "token" {
		t.Fatalf("whoami with an API token: %+v %v", who, err)
	}
	dev, _ := client.New("http://"+addr, client.WithToken("dev-alice"))
	if _, err := dev.Whoami(ctx); err == nil {
		t.Fatal("a server started with serve accepted a dev token")
	}
	r, err := c.Submit(ctx, client.SubmitRequest{Resource: "app", Duration: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "approved" {
		t.Fatalf("auto-approved request is %s", r.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "jit.db")); err != nil {
		t.Fatalf("store not in the configured data folder: %v", err)
	}
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("jitd did not become ready")
}
