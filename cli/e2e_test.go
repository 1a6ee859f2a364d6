package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
)

// person runs the CLI as one user against a real jitd, with a config home
// of their own.
type person struct {
	t   *testing.T
	env *env
}

func newPerson(t *testing.T, server, token string) *person {
	t.Helper()
	p := &person{t: t, env: newEnv(t, nil)}
	p.env.clock = jit.SystemClock{}
	res := p.env.run(t, "login", "--server", server, "--token", token)
	if res.code != 0 {
		t.Fatalf("login with %s: exit %d: %s", token, res.code, res.stderr)
	}
	return p
}

// ok runs a command that must succeed and returns its stdout.
func (p *person) ok(args ...string) string {
	p.t.Helper()
	res := p.env.run(p.t, args...)
	if res.code != 0 {
		p.t.Fatalf("jit %s: exit %d: %s", strings.Join(args, " "), res.code, res.stderr)
	}
	return res.stdout
}

// json runs a command with -o json and decodes its document into v.
func (p *person) json(v any, args ...string) {
	p.t.Helper()
	out := p.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		p.t.Fatalf("jit %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestWalkthrough drives a real jitd through the life of a request with the
// CLI: request --wait → approve → ls → relinquish → audit, with the
// refusals along the way.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("starts jitd")
	}
	srv := jitdtest.Start(t, jitdtest.Options{})
	alice := newPerson(t, srv.URL, jitdtest.Alice)
	bob := newPerson(t, srv.URL, jitdtest.Bob)
	carol := newPerson(t, srv.URL, jitdtest.Carol)

	if out := alice.ok("whoami"); !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "engineering") {
		t.Errorf("whoami:\n%s", out)
	}
	if out := alice.ok("resources"); !strings.Contains(out, "demo-app") || !strings.Contains(out, "1 of group:sre") {
		t.Errorf("resources:\n%s", out)
	}

	// The policy refuses what no rule allows, with the server's code.
	res := alice.env.run(t, "request", "demo-app", "--for", "9h", "--reason", "INC-42")
	if res.code != 1 || !strings.HasPrefix(res.stderr, "jit: duration_too_long: ") {
		t.Errorf("too long a request: exit %d, stderr %q", res.code, res.stderr)
	}
	var d struct {
		Allowed bool   `json:"allowed"`
		Rule    string `json:"rule"`
	}
	alice.json(&d, "policy", "explain", "--resource", "demo-app", "--for", "1h", "--reason", "INC-42")
	if !d.Allowed || d.Rule != "engineers-demo-app" {
		t.Errorf("explain = %+v", d)
	}

	// Alice asks and waits; the CLI prints progress as it goes.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	lines := make(chan string, 32)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	done := make(chan int, 1)
	var waitErr strings.Builder
	go func() {
		code := Run(ctx, Options{
			Args:   []string{"request", "demo-app", "--for", "1h", "--reason", "INC-42", "--wait", "--timeout", "1m"},
			Stdout: pw, Stderr: &waitErr, Getenv: func(k string) string { return alice.env.vars[k] },
		})
		pw.Close()
		done <- code
	}()
	first, ok := <-lines
	if !ok {
		t.Fatalf("request --wait printed nothing; stderr %q", waitErr.String())
	}
	id, rest, _ := strings.Cut(first, " ")
	if !strings.HasPrefix(id, "req_") || !strings.HasPrefix(rest, "pending — waiting for 1 approval from group:sre") {
		t.Fatalf("first line = %q", first)
	}

	// No one approves their own request.
	res = alice.env.run(t, "approve", id)
	if res.code != 1 || !strings.HasPrefix(res.stderr, "jit: self_approval: ") {
		t.Errorf("self approval: exit %d, stderr %q", res.code, res.stderr)
	}

	// Bob sees it waiting for him and approves it.
	if out := bob.ok("ls", "--pending"); !strings.Contains(out, id) {
		t.Errorf("bob's pending list lacks %s:\n%s", id, out)
	}
	if out := bob.ok("approve", id, "--comment", "go ahead"); !strings.HasPrefix(out, id+" ") {
		t.Errorf("approve printed %q", out)
	}
	var progress []string
	for l := range lines {
		progress = append(progress, l)
	}
	if code := <-done; code != 0 {
		t.Fatalf("request --wait: exit %d, stderr %q, progress %q", code, waitErr.String(), progress)
	}
	if len(progress) == 0 || !strings.HasPrefix(progress[len(progress)-1], id+" active — expires in ") {
		t.Errorf("progress lines = %q, want the last to say active", progress)
	}

	// Alice's active access is listed.
	var page client.RequestPage
	alice.json(&page, "ls", "--active")
	if len(page.Items) != 1 || page.Items[0].ID != id || page.Items[0].Status != jit.StatusActive {
		t.Fatalf("ls --active = %+v", page.Items)
	}
	if out := alice.ok("show", id); !strings.Contains(out, "bob@example.com approved") || !strings.Contains(out, "go ahead") {
		t.Errorf("show:\n%s", out)
	}

	// An extension is a new, linked request.
	var ext jit.Request
	alice.json(&ext, "extend", id, "--for", "30m", "--reason", "INC-42 still open")
	if ext.ExtendsID != id || ext.Status != jit.StatusPending {
		t.Errorf("extension = %+v", ext)
	}
	alice.ok("cancel", ext.ID)

	// Alice gives the access back; it ends.
	alice.ok("relinquish", id)
	c, err := client.New(srv.URL, client.WithToken(jitdtest.Alice))
	if err != nil {
		t.Fatal(err)
	}
	end, err := c.WaitFor(ctx, id, []jit.Status{jit.StatusActive, jit.StatusRevoking}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if end.Status != jit.StatusRelinquished {
		t.Fatalf("after relinquish: %s", end.Status)
	}

	// Bob denies a second request; a deny needs a reason.
	var second jit.Request
	alice.json(&second, "request", "demo-app", "--for", "30m", "--reason", "INC-43")
	if res := bob.env.run(t, "deny", second.ID); res.code != 2 {
		t.Errorf("deny without reason: exit %d", res.code)
	}
	bob.ok("deny", second.ID, "--reason", "use staging")
	if out := alice.ok("show", second.ID); !strings.Contains(out, "denied — by bob@example.com: use staging") {
		t.Errorf("show denied:\n%s", out)
	}

	// The audit log tells the story, and its chain holds.
	var events client.AuditPage
	alice.json(&events, "audit", "--request", id, "--all")
	var actions []string
	for _, e := range events.Items {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{jit.ActionSubmit, jit.ActionApprove, jit.ActionGrant, jit.ActionRelinquish, jit.ActionRevokeDone} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit of %s lacks %q: %v", id, want, actions)
		}
	}
	for _, e := range events.Items {
		if e.Action == jit.ActionSubmit && e.Source.Kind != "cli" {
			t.Errorf("submit recorded source %q, want cli", e.Source.Kind)
		}
	}
	res = alice.env.run(t, "audit", "verify")
	if res.code != 1 || !strings.HasPrefix(res.stderr, "jit: forbidden: ") {
		t.Errorf("verify as non-admin: exit %d, stderr %q", res.code, res.stderr)
	}
	if out := carol.ok("audit", "verify"); !strings.HasPrefix(out, "Audit chain intact: ") {
		t.Errorf("verify: %q", out)
	}
	if out := carol.ok("audit", "--all", "--limit", "3"); strings.Count(out, "\n") < len(events.Items)+1 {
		t.Errorf("carol's full audit is shorter than alice's view of one request:\n%s", out)
	}

	// Logging out forgets the token.
	alice.ok("logout")
	res = alice.env.run(t, "whoami")
	if res.code != 1 || !strings.HasPrefix(res.stderr, "jit: unauthenticated: ") {
		t.Errorf("after logout: exit %d, stderr %q", res.code, res.stderr)
	}
}
