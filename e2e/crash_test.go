package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
)

// grantScript is an exec-provider target that records every call and keeps
// one file per granted request. While the file "block" exists, a grant
// sleeps after creating the access: the moment between the provider call
// and the store update that a crash must survive.
const grantScript = `#!/bin/sh
set -e
state="$(dirname "$0")"
body=$(cat)
id=$(printf '%s' "$body" | sed -n 's/.*"request_id": *"\([^"]*\)".*/\1/p')
case "$JIT_ACTION" in
grant)
  echo "grant $id" >> "$state/calls"
  touch "$state/access-$id"
  if [ -e "$state/block" ]; then echo $$ > "$state/sleeper"; sleep 60; fi
  ;;
revoke)
  echo "revoke $id" >> "$state/calls"
  rm -f "$state/access-$id"
  ;;
verify)
  if [ -e "$state/access-$id" ]; then echo '{"present":true}'; else echo '{"present":false}'; fi
  ;;
esac
`

const crashPolicy = `
server: {job_lease: 2s}
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
resources:
  - name: box
    provider: exec
    settings: {command: [/bin/sh, SCRIPT], timeout: 90s}
    access: [{name: login}]
rules:
  - name: auto
    requesters: {groups: [engineering]}
    resources: [box]
    max_duration: 1h
    auto_approve: true
`

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildJitd builds the jitd binary once for all tests of the package.
func buildJitd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jitd-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "jitd")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/jitaccess/jit/cmd/jitd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build jitd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startJitd runs the jitd binary in dev mode on data and waits until it
// answers.
func startJitd(t *testing.T, bin, data, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--addr", addr, "--data", data, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("jitd did not become ready")
	return nil
}

// TestKillDuringGrant kills jitd with SIGKILL after the provider created
// the access but before the store recorded it; the restarted jitd finishes
// the grant, and the target holds exactly one access for the request.
func TestKillDuringGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the jitd binary")
	}
	bin := buildJitd(t)
	data, state := t.TempDir(), t.TempDir()
	script := filepath.Join(state, "target.sh")
	if err := os.WriteFile(script, []byte(grantScript), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "jit.yaml"), []byte(strings.Replace(crashPolicy, "SCRIPT", script, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "block"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(state, "sleeper")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	addr := freeAddr(t)
	first := startJitd(t, bin, data, addr)
	c, err := client.New("http://"+addr, client.WithToken("dev-alice"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := c.Submit(ctx, client.SubmitRequest{Resource: "box", Duration: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(state, "sleeper"))
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if err := os.Remove(filepath.Join(state, "block")); err != nil {
		t.Fatal(err)
	}

	startJitd(t, bin, data, addr)
	waitStatus(t, c, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	matches, _ := filepath.Glob(filepath.Join(state, "access-*"))
	if len(matches) != 1 || filepath.Base(matches[0]) != "access-"+r.ID {
		t.Fatalf("target holds %v, want exactly the access of %s", matches, r.ID)
	}
	calls, _ := os.ReadFile(filepath.Join(state, "calls"))
	if got := strings.Count(string(calls), "grant "+r.ID); got != 2 {
		t.Fatalf("grant ran %d times, want 2 (the killed run and the finishing one):\n%s", got, calls)
	}
	if _, err := c.Relinquish(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, r.ID, jit.StatusRelinquished, jit.StatusRevoking)
	if matches, _ := filepath.Glob(filepath.Join(state, "access-*")); len(matches) != 0 {
		t.Fatalf("access left after relinquish: %v", matches)
	}
	carol, _ := client.New("http://"+addr, client.WithToken("dev-carol"))
	if res, err := carol.VerifyAudit(ctx); err != nil || !res.OK {
		t.Fatalf("audit after crash: %+v %v", res, err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}
