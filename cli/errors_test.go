package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
)

func TestErrorLineAndExitCode(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		routes map[string][]answer
		// noToken runs without JIT_TOKEN.
		noToken bool
		code    int
		stderr  string // exact; "PREFIX:..." checks a prefix
	}{
		{
			name:   "policy refusal",
			args:   []string{"request", "demo-app", "--access", "admin", "--reason", "INC-1"},
			routes: map[string][]answer{"POST /requests": {{Status: 403, Code: "not_allowed", Detail: "no rule lets alice@example.com request demo-app:admin"}}},
			code:   1, stderr: "jit: not_allowed: no rule lets alice@example.com request demo-app:admin\n",
		},
		{
			name:   "self approval",
			args:   []string{"approve", "req_1"},
			routes: map[string][]answer{"POST /requests/req_1/approve": {{Status: 403, Code: "self_approval", Detail: "you cannot approve your own request"}}},
			code:   1, stderr: "jit: self_approval: you cannot approve your own request\n",
		},
		{
			name:   "not found",
			args:   []string{"show", "req_nope"},
			routes: map[string][]answer{"GET /requests/req_nope": {{Status: 404, Code: "not_found", Detail: "request \"req_nope\" not found"}}},
			code:   1, stderr: "jit: not_found: request \"req_nope\" not found\n",
		},
		{
			name:    "unauthenticated without a token gets a hint",
			args:    []string{"ls"},
			noToken: true,
			routes:  map[string][]answer{"GET /requests": {{Status: 401, Code: "unauthenticated", Detail: "no credentials"}}},
			code:    1, stderr: "jit: unauthenticated: no credentials (no token: run 'jit login' or set JIT_TOKEN)\n",
		},
		{
			name:   "audit chain broken",
			args:   []string{"audit", "verify"},
			routes: map[string][]answer{"GET /audit/verify": {{JSON: audit.Result{OK: false, Checked: 16, BrokenAt: 17, Problem: "changed"}}}},
			code:   1, stderr: "jit: audit chain broken at event 17: changed (16 events checked)\n",
		},
		// Usage errors: exit 2, and the server is never called.
		{name: "unknown command", args: []string{"lst"}, code: 2, stderr: "jit: unknown command \"lst\" for \"jit\"\n"},
		{name: "unknown subcommand", args: []string{"audit", "verfy"}, code: 2, stderr: "jit: unknown command \"verfy\" for \"jit audit\"\n"},
		{name: "unknown flag", args: []string{"ls", "--bogus"}, code: 2, stderr: "jit: unknown flag: --bogus (see 'jit ls --help')\n"},
		{name: "missing ID", args: []string{"show"}, code: 2, stderr: "jit: show needs exactly one ID (usage: jit show ID [flags])\n"},
		{name: "too many IDs", args: []string{"cancel", "a", "b"}, code: 2, stderr: "jit: cancel needs exactly one ID (usage: jit cancel ID [flags])\n"},
		{name: "deny without reason", args: []string{"deny", "req_1"}, code: 2, stderr: "jit: deny needs --reason (see 'jit deny --help')\n"},
		{name: "deny with blank reason", args: []string{"deny", "req_1", "--reason", "  "}, code: 2, stderr: "jit: deny needs --reason (see 'jit deny --help')\n"},
		{name: "revoke without reason", args: []string{"revoke", "req_1"}, code: 2, stderr: "jit: revoke needs --reason (see 'jit revoke --help')\n"},
		{name: "extend without for", args: []string{"extend", "req_1"}, code: 2, stderr: "jit: extend needs --for (see 'jit extend --help')\n"},
		{name: "scopes exclude each other", args: []string{"ls", "--pending", "--all"}, code: 2, stderr: "jit: --pending, --active and --all exclude each other (see 'jit ls --help')\n"},
		{name: "unknown status", args: []string{"ls", "--status", "active,bogus"}, code: 2, stderr: "PREFIX:jit: unknown status \"bogus\" (one of pending, approved,"},
		{name: "bad limit", args: []string{"ls", "--limit", "0"}, code: 2, stderr: "jit: --limit must be positive (see 'jit ls --help')\n"},
		{name: "bad output", args: []string{"whoami", "-o", "yaml"}, code: 2, stderr: "jit: --output must be table or json, not \"yaml\"\n"},
		{name: "timeout without wait", args: []string{"request", "demo-app", "--timeout", "5m"}, code: 2, stderr: "jit: --timeout only applies with --wait (see 'jit request --help')\n"},
		{name: "bad timeout", args: []string{"request", "demo-app", "--wait", "--timeout", "soon"}, code: 2, stderr: "PREFIX:jit: invalid argument \"soon\" for \"--timeout\" flag"},
		{name: "bad since", args: []string{"audit", "--since", "yesterday"}, code: 2, stderr: "PREFIX:jit: --since: \"yesterday\" is not an RFC 3339 time"},
		{name: "explain without resource", args: []string{"policy", "explain"}, code: 2, stderr: "jit: policy explain needs --resource (see 'jit policy explain --help')\n"},
		{name: "misspelt policy subcommand", args: []string{"policy", "explian"}, code: 2, stderr: "jit: unknown command \"explian\" for \"jit policy\"\n"},
		{name: "login without token", args: []string{"login"}, noToken: true, code: 2, stderr: "jit: login needs --token (or JIT_TOKEN) (see 'jit login --help')\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, tt.routes)
			vars := map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"}
			if tt.noToken {
				delete(vars, "JIT_TOKEN")
			}
			res := newEnv(t, vars).run(t, tt.args...)
			if res.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", res.code, tt.code, res.stderr)
			}
			if p, ok := strings.CutPrefix(tt.stderr, "PREFIX:"); ok {
				if !strings.HasPrefix(res.stderr, p) {
					t.Errorf("stderr = %q, want it to start with %q", res.stderr, p)
				}
			} else if res.stderr != tt.stderr {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.stderr)
			}
			if strings.Count(res.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			if tt.code == 2 && len(f.allCalls()) > 0 {
				t.Errorf("a usage error called the server: %v", f.allCalls())
			}
		})
	}
}

func TestErrorWithoutServer(t *testing.T) {
	tests := []struct {
		name   string
		vars   map[string]string
		stderr string
	}{
		{"nothing configured", map[string]string{}, "jit: no server: run 'jit login --server URL --token TOKEN' or set JIT_SERVER\n"},
		{"not a URL", map[string]string{"JIT_SERVER": "jit.example.com"}, "jit: client: server URL \"jit.example.com\": scheme must be http or https\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newEnv(t, tt.vars).run(t, "whoami")
			if res.code != 1 || res.stderr != tt.stderr {
				t.Errorf("exit %d, stderr %q; want 1, %q", res.code, res.stderr, tt.stderr)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	res := newEnv(t, map[string]string{"JIT_SERVER": url, "JIT_TOKEN": "dev-alice"}).run(t, "ls")
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if !strings.HasPrefix(res.stderr, "jit: contacting "+url+": ") || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("stderr = %q", res.stderr)
	}
	if strings.Contains(res.stderr, "dev-alice") {
		t.Errorf("stderr shows the token: %q", res.stderr)
	}
}

func TestNonProblemErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html>maintenance</html>"))
	}))
	t.Cleanup(srv.Close)
	res := newEnv(t, map[string]string{"JIT_SERVER": srv.URL, "JIT_TOKEN": "x"}).run(t, "whoami")
	if want := "jit: HTTP 503 Service Unavailable (retry after 30s)\n"; res.code != 1 || res.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", res.code, res.stderr, want)
	}
}

func TestListAndAuditPaging(t *testing.T) {
	ev := func(seq int64) jit.AuditEvent {
		return jit.AuditEvent{Seq: seq, Time: t0, Actor: "alice@example.com", Action: "submit", RequestID: "req_1", Source: jit.Source{Kind: "cli"}}
	}
	pages := func() map[string][]answer {
		return map[string][]answer{"GET /audit": {
			{JSON: map[string]any{"items": []jit.AuditEvent{ev(1), ev(2)}, "next": "2"}},
			{JSON: map[string]any{"items": []jit.AuditEvent{ev(3), ev(4)}, "next": "4"}},
			{JSON: map[string]any{"items": []jit.AuditEvent{ev(5)}}},
		}}
	}
	t.Run("all pages", func(t *testing.T) {
		for _, format := range []string{"table", "json"} {
			f := newFakeAPI(t, pages())
			res := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-carol"}).run(t, "audit", "--all", "--limit", "2", "-o", format)
			if res.code != 0 || res.stderr != "" {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			var afters []string
			for _, c := range f.allCalls() {
				afters = append(afters, c.Query.Get("after")+"/"+c.Query.Get("limit"))
			}
			if strings.Join(afters, ",") != "/2,2/2,4/2" {
				t.Errorf("%s: after/limit sent = %v", format, afters)
			}
			if format == "json" {
				sameJSON(t, res.stdout, map[string]any{"items": []jit.AuditEvent{ev(1), ev(2), ev(3), ev(4), ev(5)}})
			} else if n := strings.Count(res.stdout, "\n"); n != 6 {
				t.Errorf("table has %d lines, want header and 5 events:\n%s", n, res.stdout)
			}
		}
	})
	t.Run("one page hints at more", func(t *testing.T) {
		f := newFakeAPI(t, pages())
		res := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-carol"}).run(t, "audit", "--limit", "2")
		if res.code != 0 || res.stderr != "jit: more events: add --after 2, or --all\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if len(f.allCalls()) != 1 {
			t.Errorf("%d calls, want 1", len(f.allCalls()))
		}
	})
	t.Run("ls hints at more", func(t *testing.T) {
		f := newFakeAPI(t, map[string][]answer{"GET /requests": {{JSON: map[string]any{"items": []*jit.Request{activeRequest()}, "next": "req_1"}}}})
		res := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"}).run(t, "ls", "--limit", "1")
		if res.code != 0 || res.stderr != "jit: more requests: add --after req_1\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestVersion(t *testing.T) {
	old := Version
	Version = "v1.2.3"
	t.Cleanup(func() { Version = old })
	e := newEnv(t, nil)
	res := e.run(t, "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "jit v1.2.3 (go") {
		t.Errorf("exit %d, stdout %q", res.code, res.stdout)
	}
	res = e.run(t, "version", "-o", "json")
	if !strings.Contains(res.stdout, `"version": "v1.2.3"`) {
		t.Errorf("json = %q", res.stdout)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"policy"}, {"request", "--help"}} {
		res := newEnv(t, nil).runCtx(context.Background(), t, args...)
		if res.code != 0 || !strings.Contains(res.stdout, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q", args, res.code, res.stdout)
		}
	}
}
