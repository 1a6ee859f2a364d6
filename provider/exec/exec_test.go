package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

// stateScript is a small integration as an operator would write one: it
// keeps one file per granted request in $STATE_DIR (the real target of the
// conformance suite), holding the document it was given on stdin, and
// lists them.
const stateScript = `set -eu
f="$STATE_DIR/$JIT_REQUEST_ID"
case "$JIT_ACTION" in
grant)
	cat > "$f.tmp"
	mv "$f.tmp" "$f"
	printf '{"handle":{"file":"%s"}}\n' "$JIT_REQUEST_ID"
	;;
revoke)
	cat > /dev/null
	rm -f "$f"
	;;
verify)
	cat > /dev/null
	if [ -f "$f" ]; then echo '{"present":true}'; else echo '{"present":false}'; fi
	;;
list)
	# Each file is the grant document, which has the members of a listed
	# grant (request_id, user, access, expires_at).
	cat > /dev/null
	printf '{"grants":['
	sep=
	for g in "$STATE_DIR"/*; do
		case "$g" in *.tmp) continue ;; esac
		[ -f "$g" ] || continue
		printf '%s' "$sep"
		cat "$g"
		sep=,
	done
	printf ']}\n'
	;;
*)
	echo "unknown action $JIT_ACTION" >&2
	exit 2
	;;
esac
`

// script writes body to a file and returns the argv that runs it with
// /bin/sh. Running the file through the shell rather than executing it
// avoids "text file busy" when another test forks while it is being
// written.
func script(t *testing.T, body string) []any {
	t.Helper()
	p := filepath.Join(t.TempDir(), "integration.sh")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return []any{"/bin/sh", p}
}

func newProvider(t *testing.T, settings map[string]any) *Provider {
	t.Helper()
	p, err := New(provider.Resource{Name: "custom", Type: Type, Settings: settings})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(*Provider)
}

func grantReq(id string) provider.GrantRequest {
	return provider.GrantRequest{RequestID: id, User: "alice@example.com", Resource: "custom",
		Access: "admin", Reason: "INC-7", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func stateProvider(t *testing.T) (*Provider, string) {
	dir := t.TempDir()
	return newProvider(t, map[string]any{
		"command": script(t, stateScript),
		"env":     map[string]any{"STATE_DIR": dir},
		"list":    true,
	}), dir
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	cmd := script(t, stateScript)
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			return newProvider(t, map[string]any{"command": cmd, "env": map[string]any{"STATE_DIR": dir}, "list": true})
		},
		Resource: "custom", Access: "admin", User: "alice@example.com",
		Present: func(t *testing.T, id string) bool {
			_, err := os.Stat(filepath.Join(dir, id))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			return err == nil
		},
	})
}

func TestStdinDocumentAndHandle(t *testing.T) {
	p, dir := stateProvider(t)
	resp, err := p.Grant(context.Background(), grantReq("req_doc"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Handle) != `{"file":"req_doc"}` {
		t.Errorf("handle = %s", resp.Handle)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "req_doc"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("stdin was not JSON: %q", raw)
	}
	want := map[string]any{
		"action": "grant", "request_id": "req_doc", "user": "alice@example.com", "resource": "custom",
		"access": "admin", "reason": "INC-7", "expires_at": "2030-01-01T00:00:00Z", "handle": nil,
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("stdin %s = %v, want %v", k, doc[k], v)
		}
	}
	if len(doc) != len(want) {
		t.Errorf("stdin has members %v", doc)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("JIT_TEST_PARENT_SECRET", "parent-secret-value")
	dir := t.TempDir()
	p := newProvider(t, map[string]any{
		"command": script(t, `env > "$OUT/env"; pwd > "$OUT/pwd"`),
		"env":     map[string]any{"OUT": dir, "RETRIES": 3},
		"dir":     dir,
	})
	if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "req_env", User: "bob@example.com", Resource: "custom", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{
		"JIT_ACTION": "revoke", "JIT_REQUEST_ID": "req_env", "JIT_USER": "bob@example.com",
		"JIT_RESOURCE": "custom", "JIT_ACCESS": "read", "RETRIES": "3", "OUT": dir,
		"PATH": os.Getenv("PATH"),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["JIT_TEST_PARENT_SECRET"]; ok {
		t.Error("the command inherited a variable of jitd's environment it was not given")
	}
	pwd, _ := os.ReadFile(filepath.Join(dir, "pwd"))
	if got, _ := filepath.EvalSymlinks(strings.TrimSpace(string(pwd))); got != mustEval(t, dir) {
		t.Errorf("working directory = %q, want %q", pwd, dir)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExitCodes(t *testing.T) {
	long := `i=0; while [ $i -lt 100 ]; do echo "noise line $i"; i=$((i+1)); done >&2; echo FINAL-REASON >&2`
	tests := []struct {
		name       string
		body       string
		notApplied bool
		want       []string
		notWant    []string
	}{
		{"tempfail", `cat >/dev/null; echo "target busy" >&2; exit 75`, true, []string{"exit code 75", "target busy"}, nil},
		{"tempfail without reading stdin", `exit 75`, true, []string{"exit code 75"}, nil},
		{"failure", `echo "no such role" >&2; exit 1`, false, []string{"exit code 1", "no such role"}, nil},
		{"failure keeps the end of stderr", long + "; exit 3", false, []string{"exit code 3", "FINAL-REASON", "last 512 bytes"}, []string{"noise line 0\n", "noise line 10\\n"}},
		{"killed by a signal", `kill -9 $$`, false, []string{"signal: killed", "outcome unknown"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, map[string]any{"command": script(t, tt.body)})
			_, err := p.Grant(context.Background(), grantReq("req_exit"))
			if err == nil {
				t.Fatal("want an error")
			}
			if got := provider.IsNotApplied(err); got != tt.notApplied {
				t.Errorf("IsNotApplied = %v, want %v (%v)", got, tt.notApplied, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error contains %q: %v", w, err)
				}
			}
			if len(err.Error()) > 1024 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestBadOutput(t *testing.T) {
	tests := []struct {
		name string
		op   string
		body string
		want string
	}{
		{"grant prints text", "grant", `echo done`, "not a JSON object"},
		{"grant prints broken JSON", "grant", `echo '{"handle":'`, "invalid JSON"},
		{"verify prints nothing", "verify", `true`, "empty"},
		{"verify present as string", "verify", `echo '{"present":"yes"}'`, "invalid JSON"},
		{"verify without present", "verify", `echo '{"exists":true}'`, `no "present"`},
		{"too much output", "grant", `i=0; while [ $i -lt 2000 ]; do echo "0123456789012345678901234567890123456789"; i=$((i+1)); done`, "output is over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, map[string]any{"command": script(t, tt.body)})
			var err error
			if tt.op == "grant" {
				_, err = p.Grant(context.Background(), grantReq("req_out"))
			} else {
				_, err = p.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_out"})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if provider.IsNotApplied(err) {
				t.Error("a command that exited 0 may have done its work; the error must not say not applied")
			}
		})
	}
	// Revoke ignores stdout.
	p := newProvider(t, map[string]any{"command": script(t, `echo "removed, bye"`)})
	if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "r"}); err != nil {
		t.Errorf("revoke with text output: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	p := newProvider(t, map[string]any{"command": script(t, `echo started >&2; sleep 300`), "timeout": "100ms"})
	_, err := p.Grant(context.Background(), grantReq("req_timeout"))
	if err == nil {
		t.Fatal("want a timeout")
	}
	if provider.IsNotApplied(err) {
		t.Errorf("a killed command may have done part of its work: %v", err)
	}
	if !strings.Contains(err.Error(), "timed out after 100ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}

// TestCancelKillsProcessGroup cancels a call whose command has started a
// child, and checks that the child is killed too.
func TestCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ready")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	p := newProvider(t, map[string]any{
		"command": script(t, `sleep 300 & echo $! > "$FIFO"; wait`),
		"env":     map[string]any{"FIFO": fifo},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Grant(ctx, grantReq("req_cancel"))
		done <- err
	}()
	// Opening the FIFO blocks until the script opens it to write: the
	// child is running once the PID arrives.
	raw, err := os.ReadFile(fifo)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("child PID %q: %v", raw, err)
	}
	cancel()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "cancelled and was killed") || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// SIGKILL was sent to the group before Wait returned; the child's exit
	// is processed by the kernel asynchronously, so wait for it (bounded).
	for i := 0; alive(pid); i++ {
		if i == 500 {
			t.Fatalf("child %d of the cancelled command is still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func TestStartFailureIsNotApplied(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "integration")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, map[string]any{"command": []any{prog}})
	// The program disappears after the configuration was loaded.
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	_, err := p.Grant(context.Background(), grantReq("req_gone"))
	if !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "start") {
		t.Fatalf("err = %v; want a not-applied start failure", err)
	}
}

func TestNewValidation(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "not-executable")
	os.WriteFile(plain, []byte("x"), 0o644)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	tests := []struct {
		name     string
		settings map[string]any
		key, msg string
	}{
		{"no command", map[string]any{}, "command", "is required"},
		{"empty command", map[string]any{"command": []any{}}, "command", "at least one element"},
		{"command as a string", map[string]any{"command": "/bin/sh -c true"}, "command", "must be a list"},
		{"empty program", map[string]any{"command": []any{""}}, "command", "is empty"},
		{"relative program", map[string]any{"command": []any{"./grant.sh"}}, "command", "absolute path or a name found in PATH"},
		{"program not found", map[string]any{"command": []any{"jit-no-such-program-4711"}}, "command", "not found"},
		{"program not executable", map[string]any{"command": []any{plain}}, "command", "permission denied"},
		{"relative dir", map[string]any{"command": []any{"/bin/sh"}, "dir": "work"}, "dir", "absolute"},
		{"missing dir", map[string]any{"command": []any{"/bin/sh"}, "dir": "/nonexistent/jit"}, "dir", "no such file"},
		{"dir is a file", map[string]any{"command": []any{"/bin/sh"}, "dir": file}, "dir", "not a directory"},
		{"reserved env", map[string]any{"command": []any{"/bin/sh"}, "env": map[string]any{"JIT_ACTION": "grant"}}, "env", "set by jit"},
		{"bad env name", map[string]any{"command": []any{"/bin/sh"}, "env": map[string]any{"A=B": "c"}}, "env", "contains '='"},
		{"bad timeout", map[string]any{"command": []any{"/bin/sh"}, "timeout": "-1s"}, "timeout", "must be positive"},
		{"unknown setting", map[string]any{"command": []any{"/bin/sh"}, "args": []any{"x"}}, "args", "unknown setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(provider.Resource{Name: "custom", Type: Type, Settings: tt.settings})
			var se *provider.SettingError
			if !errors.As(err, &se) || se.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v; want setting %q with %q", err, tt.key, tt.msg)
			}
		})
	}
	// A bare name is looked up in PATH; registered under its type.
	p, err := provider.New(provider.Resource{Name: "c", Type: "exec", Settings: map[string]any{"command": []any{"sh", "-c", "exit 0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(p.(*Provider).path) {
		t.Errorf("resolved path %q is not absolute", p.(*Provider).path)
	}
	if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "r"}); err != nil {
		t.Errorf("revoke: %v", err)
	}
}
