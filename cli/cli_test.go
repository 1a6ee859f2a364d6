package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/policy"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// seen is one call the fake API received.
type seen struct {
	Method, Path string
	Query        url.Values
	Token        string
	Source       string
	Body         map[string]any
}

// answer is a canned response: a JSON value, or a problem document when
// Code is set.
type answer struct {
	Status int
	JSON   any
	Code   string
	Detail string
	// Block holds the call until the client goes away (a long-poll that
	// never ends).
	Block bool
}

// fakeAPI answers "METHOD /path" with canned answers, in order when a
// route has several (the last one repeats).
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string][]answer
	calls  []seen
	// blocked receives a value when a Block answer starts holding a call.
	blocked chan struct{}
}

func newFakeAPI(t *testing.T, routes map[string][]answer) *fakeAPI {
	f := &fakeAPI{t: t, routes: routes, blocked: make(chan struct{}, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	s := seen{
		Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v1"), Query: r.URL.Query(),
		Token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), Source: r.Header.Get("X-Jit-Client"),
	}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &s.Body); err != nil {
			f.t.Errorf("body is not JSON: %q", b)
		}
	}
	key := r.Method + " " + s.Path
	f.mu.Lock()
	f.calls = append(f.calls, s)
	as := f.routes[key]
	var a answer
	ok := len(as) > 0
	if ok {
		a = as[0]
		if len(as) > 1 {
			f.routes[key] = as[1:]
		}
	}
	f.mu.Unlock()
	switch {
	case !ok:
		f.t.Errorf("unexpected call %s", key)
		problem(w, 404, "not_found", "no route "+key)
	case a.Block:
		f.blocked <- struct{}{}
		<-r.Context().Done()
	case a.Code != "":
		problem(w, a.Status, a.Code, a.Detail)
	default:
		st := a.Status
		if st == 0 {
			st = 200
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		_ = json.NewEncoder(w).Encode(a.JSON)
	}
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail})
}

func (f *fakeAPI) allCalls() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.calls...)
}

// result is what one run of the CLI printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// env is a test environment: a config home and environment variables.
type env struct {
	home string
	vars map[string]string
	// stdin, when set, is the CLI's standard input.
	stdin string
	// clock defaults to a clock fixed at t0.
	clock jit.Clock
}

func newEnv(t *testing.T, vars map[string]string) *env {
	e := &env{home: t.TempDir(), vars: map[string]string{}}
	e.vars["HOME"] = e.home
	e.vars["XDG_CONFIG_HOME"] = filepath.Join(e.home, "config")
	for k, v := range vars {
		e.vars[k] = v
	}
	return e
}

func (e *env) configFile() string {
	return filepath.Join(e.vars["XDG_CONFIG_HOME"], "jit", "config.json")
}

func (e *env) run(t *testing.T, args ...string) result {
	t.Helper()
	return e.runCtx(context.Background(), t, args...)
}

func (e *env) runCtx(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	clk := e.clock
	if clk == nil {
		clk = fixedClock{t0}
	}
	code := Run(ctx, Options{
		Args: args, Stdin: strings.NewReader(e.stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return e.vars[k] }, Clock: clk, Location: time.UTC,
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func ptr(t time.Time) *time.Time { return &t }

// Sample API objects.
func activeRequest() *jit.Request {
	return &jit.Request{
		ID: "req_1", Requester: "alice@example.com", Resource: "demo-app", Access: "user",
		Duration: time.Hour, Reason: "INC-42", Status: jit.StatusActive, Rule: "engineers-demo-app",
		ApprovalsRequired: 1, Approvers: []string{"group:sre"},
		Approvals: []jit.Approval{{RequestID: "req_1", Approver: "bob@example.com", Approved: true, Comment: "ok", At: t0.Add(-17 * time.Minute)}},
		CreatedAt: t0.Add(-20 * time.Minute), UpdatedAt: t0.Add(-17 * time.Minute), LapsesAt: t0.Add(24 * time.Hour),
		GrantedAt: ptr(t0.Add(-18 * time.Minute)), ExpiresAt: ptr(t0.Add(42 * time.Minute)),
	}
}

func pendingRequest() *jit.Request {
	return &jit.Request{
		ID: "req_2", Requester: "alice@example.com", Resource: "demo-db", Access: "admin",
		Duration: 90 * time.Minute, Reason: "Migrate the billing tables for INC-7 before the weekend freeze starts",
		Status: jit.StatusPending, Rule: "dba-admin", ApprovalsRequired: 2, Approvers: []string{"group:dba"},
		Approvals: []jit.Approval{{RequestID: "req_2", Approver: "carol@example.com", Approved: true, At: t0.Add(-time.Minute)}},
		CreatedAt: t0.Add(-5 * time.Minute), UpdatedAt: t0.Add(-time.Minute), LapsesAt: t0.Add(23 * time.Hour),
	}
}

func deniedRequest() *jit.Request {
	r := pendingRequest()
	r.ID, r.Status = "req_3", jit.StatusDenied
	r.EndedAt, r.EndedBy, r.EndReason = ptr(t0.Add(-2*time.Minute)), "bob@example.com", "not during the freeze"
	return r
}

func withStatus(r *jit.Request, st jit.Status) *jit.Request {
	c := r.Clone()
	c.Status = st
	return c
}

// submitted is activeRequest as it was at submit.
func submitted() *jit.Request {
	r := withStatus(activeRequest(), jit.StatusPending)
	r.Approvals, r.GrantedAt, r.ExpiresAt = nil, nil, nil
	return r
}

func offers() []policy.Offer {
	return []policy.Offer{
		{Resource: "demo-app", Provider: "http", Access: []string{"user"}, DefaultAccess: "user", MaxDuration: "8h0m0s",
			ApprovalRequired: true, ApprovalsRequired: 1, Approvers: []string{"group:sre"}, ReasonRequired: true, Rules: []string{"engineers-demo-app"}},
		{Resource: "demo-db", Provider: "postgres", Access: []string{"read", "admin"}, DefaultAccess: "read", MaxDuration: "1h30m0s",
			ApprovalRequired: true, ApprovalsRequired: 2, Approvers: []string{"group:dba", "user:dave@example.com"}, ReasonRequired: true, ReasonPattern: "^INC-[0-9]+", Rules: []string{"dba"}},
		{Resource: "logs", Provider: "http", Access: []string{"read"}, MaxDuration: "30m0s", Rules: []string{"oncall"}},
	}
}

// sameJSON reports whether a and b encode the same JSON value.
func sameJSON(t *testing.T, got string, want any) {
	t.Helper()
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, got)
	}
	_ = json.Unmarshal(wb, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON output\n%s\nwant\n%s", got, wb)
	}
	dec := json.NewDecoder(strings.NewReader(got))
	var first any
	_ = dec.Decode(&first)
	if dec.More() {
		t.Errorf("output has more than one JSON document:\n%s", got)
	}
}

func TestCommandOutput(t *testing.T) {
	page := map[string]any{"items": []*jit.Request{activeRequest(), pendingRequest(), deniedRequest()}}
	auditPage := map[string]any{"items": []jit.AuditEvent{
		{Seq: 1, Time: t0.Add(-20 * time.Minute), Actor: "alice@example.com", Action: "submit", RequestID: "req_1", Reason: "INC-42", Source: jit.Source{Kind: "cli"}, Hash: "a"},
		{Seq: 2, Time: t0.Add(-17 * time.Minute), Actor: "bob@example.com", Action: "approve", RequestID: "req_1", Reason: "ok", Source: jit.Source{Kind: "web"}, PrevHash: "a", Hash: "b"},
	}}
	decision := policy.Decision{Allowed: true, Rule: "engineers-demo-app", Access: "user", ApprovalsRequired: 1,
		Approvers: []string{"group:sre"}, ApproverEmails: []string{"bob@example.com"},
		Explanation: []string{"rule engineers-demo-app: alice@example.com is in group engineering", "rule engineers-demo-app: 1 approval from group:sre"}}
	refusal := policy.Decision{Allowed: false, Code: "not_allowed", Message: "no rule lets alice@example.com request demo-app:admin",
		Explanation: []string{"rule engineers-demo-app: access admin is not granted"}}
	ident := jit.Identity{Email: "alice@example.com", Groups: []string{"engineering", "oncall"}, Via: "dev-token"}

	tests := []struct {
		name   string
		args   []string
		routes map[string][]answer
		table  string // expected table output
		json   any    // expected JSON document (the API's answer)
		check  func(t *testing.T, calls []seen)
	}{
		{
			name:   "whoami",
			args:   []string{"whoami"},
			routes: map[string][]answer{"GET /whoami": {{JSON: ident}}},
			table: "Email:   alice@example.com\n" +
				"Groups:  engineering, oncall\n" +
				"Admin:   no\n" +
				"Via:     dev-token\n" +
				"Server:  SERVER\n",
			json: ident,
		},
		{
			name:   "resources",
			args:   []string{"resources"},
			routes: map[string][]answer{"GET /resources": {{JSON: map[string]any{"items": offers()}}}},
			table: "RESOURCE  ACCESS       MAX    APPROVAL                               REASON\n" +
				"demo-app  user*        8h     1 of group:sre                         required\n" +
				"demo-db   read*,admin  1h30m  2 of group:dba, user:dave@example.com  ^INC-[0-9]+\n" +
				"logs      read         30m    auto                                   -\n",
			json: map[string]any{"items": offers()},
		},
		{
			name:   "resources empty",
			args:   []string{"resources"},
			routes: map[string][]answer{"GET /resources": {{JSON: map[string]any{"items": []any{}}}}},
			table:  "No resources you may request.\n",
			json:   map[string]any{"items": []any{}},
		},
		{
			name:   "request",
			args:   []string{"request", "demo-db", "--access", "admin", "--for", "90m", "--reason", "INC-7"},
			routes: map[string][]answer{"POST /requests": {{Status: 201, JSON: pendingRequest()}}},
			table:  "req_2 pending — waiting for 1 more approval from group:dba (1 of 2)\n",
			json:   pendingRequest(),
			check: func(t *testing.T, calls []seen) {
				want := map[string]any{"resource": "demo-db", "access": "admin", "duration": "90m", "reason": "INC-7"}
				if !reflect.DeepEqual(calls[0].Body, want) {
					t.Errorf("body = %v, want %v", calls[0].Body, want)
				}
				if calls[0].Source != "cli" {
					t.Errorf("X-Jit-Client = %q, want cli", calls[0].Source)
				}
			},
		},
		{
			name:   "request with defaults",
			args:   []string{"request", "demo-app"},
			routes: map[string][]answer{"POST /requests": {{Status: 201, JSON: submitted()}}},
			table:  "req_1 pending — waiting for 1 approval from group:sre\n",
			json:   submitted(),
			check: func(t *testing.T, calls []seen) {
				want := map[string]any{"resource": "demo-app", "duration": "1h"}
				if !reflect.DeepEqual(calls[0].Body, want) {
					t.Errorf("body = %v, want %v", calls[0].Body, want)
				}
			},
		},
		{
			name:   "ls",
			args:   []string{"ls"},
			routes: map[string][]answer{"GET /requests": {{JSON: page}}},
			table: "ID     STATUS   RESOURCE  ACCESS  REQUESTER          DURATION  EXPIRES  REASON\n" +
				"req_1  active   demo-app  user    alice@example.com  1h        in 42m   INC-42\n" +
				"req_2  pending  demo-db   admin   alice@example.com  1h30m     -        Migrate the billing tables for INC-7 be…\n" +
				"req_3  denied   demo-db   admin   alice@example.com  1h30m     -        Migrate the billing tables for INC-7 be…\n",
			json: page,
			check: func(t *testing.T, calls []seen) {
				if want := (url.Values{"scope": {"mine"}}); !reflect.DeepEqual(calls[0].Query, want) {
					t.Errorf("query = %v, want %v", calls[0].Query, want)
				}
			},
		},
		{
			name:   "ls with filters",
			args:   []string{"ls", "--all", "--status", "active,revoking", "--status", "pending", "--resource", "demo-db", "--limit", "5", "--after", "req_9"},
			routes: map[string][]answer{"GET /requests": {{JSON: map[string]any{"items": []any{}}}}},
			table:  "No requests.\n",
			json:   map[string]any{"items": []any{}},
			check: func(t *testing.T, calls []seen) {
				want := url.Values{"scope": {"all"}, "status": {"active,revoking,pending"}, "resource": {"demo-db"}, "limit": {"5"}, "after": {"req_9"}}
				if !reflect.DeepEqual(calls[0].Query, want) {
					t.Errorf("query = %v, want %v", calls[0].Query, want)
				}
			},
		},
		{
			name:   "ls pending",
			args:   []string{"ls", "--pending"},
			routes: map[string][]answer{"GET /requests": {{JSON: map[string]any{"items": []any{}}}}},
			table:  "No requests.\n",
			json:   map[string]any{"items": []any{}},
			check: func(t *testing.T, calls []seen) {
				if got := calls[0].Query.Get("scope"); got != "pending" {
					t.Errorf("scope = %q, want pending", got)
				}
			},
		},
		{
			name:   "show active",
			args:   []string{"show", "req_1"},
			routes: map[string][]answer{"GET /requests/req_1": {{JSON: activeRequest()}}},
			table: "ID:         req_1\n" +
				"Status:     active — expires in 42m\n" +
				"Requester:  alice@example.com\n" +
				"Resource:   demo-app\n" +
				"Access:     user\n" +
				"Duration:   1h\n" +
				"Reason:     INC-42\n" +
				"Rule:       engineers-demo-app\n" +
				"Approval:   1 of group:sre\n" +
				"Approvals:  bob@example.com approved 17m ago: ok\n" +
				"Created:    2025-03-01 11:40:00 UTC (20m ago)\n" +
				"Granted:    2025-03-01 11:42:00 UTC (18m ago)\n" +
				"Expires:    2025-03-01 12:42:00 UTC (in 42m)\n",
			json: activeRequest(),
		},
		{
			name: "show denied extension",
			args: []string{"show", "req_3"},
			routes: map[string][]answer{"GET /requests/req_3": {{JSON: func() *jit.Request {
				r := deniedRequest()
				r.ExtendsID = "req_1"
				return r
			}()}}},
			table: "ID:          req_3\n" +
				"Status:      denied — by bob@example.com: not during the freeze\n" +
				"Requester:   alice@example.com\n" +
				"Resource:    demo-db\n" +
				"Access:      admin\n" +
				"Duration:    1h30m\n" +
				"Reason:      Migrate the billing tables for INC-7 before the weekend freeze starts\n" +
				"Extends:     req_1\n" +
				"Rule:        dba-admin\n" +
				"Approval:    2 of group:dba\n" +
				"Approvals:   carol@example.com approved 1m ago\n" +
				"Created:     2025-03-01 11:55:00 UTC (5m ago)\n" +
				"Ended:       2025-03-01 11:58:00 UTC (2m ago)\n" +
				"Ended by:    bob@example.com\n" +
				"End reason:  not during the freeze\n",
			json: func() *jit.Request { r := deniedRequest(); r.ExtendsID = "req_1"; return r }(),
		},
		{
			name:   "approve",
			args:   []string{"approve", "req_1", "--comment", "go ahead"},
			routes: map[string][]answer{"POST /requests/req_1/approve": {{JSON: withStatus(activeRequest(), jit.StatusApproved)}}},
			table:  "req_1 approved — approved by bob@example.com; access is being granted\n",
			json:   withStatus(activeRequest(), jit.StatusApproved),
			check: func(t *testing.T, calls []seen) {
				if want := map[string]any{"comment": "go ahead"}; !reflect.DeepEqual(calls[0].Body, want) {
					t.Errorf("body = %v, want %v", calls[0].Body, want)
				}
			},
		},
		{
			name:   "deny",
			args:   []string{"deny", "req_3", "--reason", "not during the freeze"},
			routes: map[string][]answer{"POST /requests/req_3/deny": {{JSON: deniedRequest()}}},
			table:  "req_3 denied — by bob@example.com: not during the freeze\n",
			json:   deniedRequest(),
			check: func(t *testing.T, calls []seen) {
				if want := map[string]any{"reason": "not during the freeze"}; !reflect.DeepEqual(calls[0].Body, want) {
					t.Errorf("body = %v, want %v", calls[0].Body, want)
				}
			},
		},
		{
			name: "cancel",
			args: []string{"cancel", "req_2"},
			routes: map[string][]answer{"POST /requests/req_2/cancel": {{JSON: func() *jit.Request {
				r := withStatus(pendingRequest(), jit.StatusCancelled)
				r.EndedBy = "alice@example.com"
				return r
			}()}}},
			table: "req_2 cancelled — by alice@example.com\n",
			json: func() *jit.Request {
				r := withStatus(pendingRequest(), jit.StatusCancelled)
				r.EndedBy = "alice@example.com"
				return r
			}(),
		},
		{
			name:   "relinquish",
			args:   []string{"relinquish", "req_1"},
			routes: map[string][]answer{"POST /requests/req_1/relinquish": {{JSON: withStatus(activeRequest(), jit.StatusRevoking)}}},
			table:  "req_1 revoking — access is being removed\n",
			json:   withStatus(activeRequest(), jit.StatusRevoking),
		},
		{
			name: "revoke",
			args: []string{"revoke", "req_1", "--reason", "left the team"},
			routes: map[string][]answer{"POST /requests/req_1/revoke": {{JSON: func() *jit.Request {
				r := withStatus(activeRequest(), jit.StatusRevoking)
				r.EndedBy, r.EndReason = "carol@example.com", "left the team"
				return r
			}()}}},
			table: "req_1 revoking — access is being removed (by carol@example.com: left the team)\n",
			json: func() *jit.Request {
				r := withStatus(activeRequest(), jit.StatusRevoking)
				r.EndedBy, r.EndReason = "carol@example.com", "left the team"
				return r
			}(),
			check: func(t *testing.T, calls []seen) {
				if want := map[string]any{"reason": "left the team"}; !reflect.DeepEqual(calls[0].Body, want) {
					t.Errorf("body = %v, want %v", calls[0].Body, want)
				}
			},
		},
		{
			name: "extend",
			args: []string{"extend", "req_1", "--for", "30m", "--reason", "INC-42 still open"},
			routes: map[string][]answer{"POST /requests/req_1/extend": {{Status: 201, JSON: func() *jit.Request {
				r := withStatus(activeRequest(), jit.StatusPending)
				r.ID, r.ExtendsID, r.Duration, r.Approvals = "req_4", "req_1", 30*time.Minute, nil
				return r
			}()}}},
			table: "req_4 pending — waiting for 1 approval from group:sre (extends req_1)\n",
			json: func() *jit.Request {
				r := withStatus(activeRequest(), jit.StatusPending)
				r.ID, r.ExtendsID, r.Duration, r.Approvals = "req_4", "req_1", 30*time.Minute, nil
				return r
			}(),
			check: func(t *testing.T, calls []seen) {
				if want := map[string]any{"duration": "30m", "reason": "INC-42 still open"}; !reflect.DeepEqual(calls[0].Body, want) {
					t.Errorf("body = %v, want %v", calls[0].Body, want)
				}
			},
		},
		{
			name:   "policy explain allowed",
			args:   []string{"policy", "explain", "--resource", "demo-app", "--for", "2h", "--reason", "INC-1", "--as", "alice@example.com"},
			routes: map[string][]answer{"GET /policy/explain": {{JSON: decision}}},
			table: "Allowed:   yes\n" +
				"Rule:      engineers-demo-app\n" +
				"Access:    user\n" +
				"Approval:  1 of group:sre (bob@example.com)\n" +
				"Explanation:\n" +
				"  rule engineers-demo-app: alice@example.com is in group engineering\n" +
				"  rule engineers-demo-app: 1 approval from group:sre\n",
			json: decision,
			check: func(t *testing.T, calls []seen) {
				want := url.Values{"resource": {"demo-app"}, "duration": {"2h"}, "reason": {"INC-1"}, "as": {"alice@example.com"}}
				if !reflect.DeepEqual(calls[0].Query, want) {
					t.Errorf("query = %v, want %v", calls[0].Query, want)
				}
			},
		},
		{
			name:   "policy explain refused",
			args:   []string{"policy", "explain", "--resource", "demo-app", "--access", "admin"},
			routes: map[string][]answer{"GET /policy/explain": {{JSON: refusal}}},
			table: "Allowed:  no — not_allowed: no rule lets alice@example.com request demo-app:admin\n" +
				"Explanation:\n" +
				"  rule engineers-demo-app: access admin is not granted\n",
			json: refusal,
		},
		{
			name:   "audit",
			args:   []string{"audit", "--request", "req_1", "--since", "24h", "--limit", "10"},
			routes: map[string][]answer{"GET /audit": {{JSON: auditPage}}},
			table: "SEQ  TIME                 ACTOR              ACTION   REQUEST  SOURCE  REASON\n" +
				"1    2025-03-01 11:40:00  alice@example.com  submit   req_1    cli     INC-42\n" +
				"2    2025-03-01 11:43:00  bob@example.com    approve  req_1    web     ok\n",
			json: auditPage,
			check: func(t *testing.T, calls []seen) {
				want := url.Values{"request": {"req_1"}, "since": {"2025-02-28T12:00:00Z"}, "limit": {"10"}}
				if !reflect.DeepEqual(calls[0].Query, want) {
					t.Errorf("query = %v, want %v", calls[0].Query, want)
				}
			},
		},
		{
			name:   "audit verify",
			args:   []string{"audit", "verify"},
			routes: map[string][]answer{"GET /audit/verify": {{JSON: audit.Result{OK: true, Checked: 42}}}},
			table:  "Audit chain intact: 42 events checked.\n",
			json:   audit.Result{OK: true, Checked: 42},
		},
	}
	for _, tt := range tests {
		for _, format := range []string{"table", "json"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				routes := map[string][]answer{}
				for k, v := range tt.routes {
					routes[k] = append([]answer(nil), v...)
				}
				f := newFakeAPI(t, routes)
				e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
				res := e.run(t, append(tt.args, "-o", format)...)
				if res.code != 0 || res.stderr != "" {
					t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
				}
				if format == "json" {
					sameJSON(t, res.stdout, tt.json)
				} else {
					want := strings.ReplaceAll(tt.table, "SERVER", f.srv.URL)
					if got := res.stdout; got != want {
						t.Errorf("output\n%s\nwant\n%s", res.stdout, want)
					}
				}
				calls := f.allCalls()
				for _, c := range calls {
					if c.Token != "dev-alice" {
						t.Errorf("%s %s sent token %q", c.Method, c.Path, c.Token)
					}
				}
				if tt.check != nil {
					tt.check(t, calls)
				}
			})
		}
	}
}

func TestSplitUserHost(t *testing.T) {
	for in, want := range map[string][3]string{
		"web-3":            {"", "web-3", "ok"},
		"deploy@web-3":     {"deploy", "web-3", "ok"},
		"a@b@web-3":        {"a@b", "web-3", "ok"},
		"@web-3":           {"", "", ""},
		"deploy@":          {"", "", ""},
		"-oProxyCommand=x": {"", "", ""},
		"deploy@-oProxy=x": {"", "", ""},
		"-l@web":           {"", "", ""},
		"web 3":            {"", "", ""},
	} {
		u, h, ok := splitUserHost(in)
		if u != want[0] || h != want[1] || ok != (want[2] == "ok") {
			t.Errorf("splitUserHost(%q) = %q, %q, %v; want %v", in, u, h, ok, want)
		}
	}
}

func TestPickSSHAccess(t *testing.T) {
	o := client.HostOffer{Resource: "web", DefaultAccess: "deploy", Access: []client.HostAccess{
		{Name: "deploy", Principals: []string{"deploy"}}, {Name: "admin", Principals: []string{"root", "admin"}}}}
	for _, c := range []struct{ access, user, level, login, err string }{
		{"", "", "deploy", "deploy", ""},
		{"", "root", "admin", "root", ""},
		{"", "ubuntu", "deploy", "ubuntu", ""},
		{"admin", "", "admin", "root", ""},
		{"admin", "ubuntu", "admin", "ubuntu", ""},
		{"superuser", "", "", "", "no access level superuser"},
	} {
		level, login, err := pickSSHAccess(o, c.access, c.user)
		if level != c.level || login != c.login || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("pickSSHAccess(%q, %q) = %q, %q, %v; want %q, %q, %q", c.access, c.user, level, login, err, c.level, c.login, c.err)
		}
	}
	o.DefaultAccess = ""
	if _, _, err := pickSSHAccess(o, "", "ubuntu"); err == nil || !strings.Contains(err.Error(), "--access") {
		t.Errorf("no default and no matching principal: %v", err)
	}
}
