package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/policy"
)

// call is one request the fake server received.
type call struct {
	Method  string
	Path    string // escaped path
	Query   url.Values
	Header  http.Header
	Body    map[string]any
	RawBody string
}

// fakeAPI is an httptest server speaking the documented wire format with
// answers chosen by each test.
type fakeAPI struct {
	srv *httptest.Server

	mu      sync.Mutex
	calls   []call
	conns   map[string]bool
	handler http.HandlerFunc
}

func newFake(t *testing.T, h http.HandlerFunc) *fakeAPI {
	t.Helper()
	f := &fakeAPI{handler: h, conns: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := call{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), RawBody: string(b)}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &c.Body); err != nil {
				t.Errorf("request body is not JSON: %q", b)
			}
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.conns[r.RemoteAddr] = true
		h := f.handler
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) last(t *testing.T) call {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("the server received no call")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, code, detail, field string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":   "https://github.com/jitaccess/jit/blob/main/docs/api.md#errors",
		"title":  http.StatusText(status),
		"status": status, "code": code, "detail": detail, "field": field,
	})
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleRequest(id string, st jit.Status) *jit.Request {
	exp := t0.Add(time.Hour)
	return &jit.Request{
		ID: id, Requester: "alice@example.com", Resource: "demo-app", Access: "user",
		Duration: time.Hour, Reason: "INC-42", Status: st, Rule: "engineers-demo-app",
		ApprovalsRequired: 1, Approvers: []string{"group:sre"},
		Approvals: []jit.Approval{{RequestID: id, Approver: "bob@example.com", Approved: true, Comment: "ok", At: t0}},
		CreatedAt: t0, UpdatedAt: t0, LapsesAt: t0.Add(24 * time.Hour), ExpiresAt: &exp,
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func newClient(t *testing.T, f *fakeAPI, opts ...Option) *Client {
	t.Helper()
	c, err := New(f.srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesBaseURL(t *testing.T) {
	tests := []struct {
		base     string
		wantPath string // the API root, or "" when New must fail
		wantErr  string
	}{
		{base: "http://127.0.0.1:8080", wantPath: "/api/v1"},
		{base: "https://jit.example.com/", wantPath: "/api/v1"},
		{base: "https://example.com/jit", wantPath: "/jit/api/v1"},
		{base: "https://example.com/jit/api/v1/", wantPath: "/jit/api/v1"},
		{base: "", wantErr: "server URL is empty"},
		{base: "jit.example.com", wantErr: "scheme must be http or https"},
		{base: "ftp://jit.example.com", wantErr: "scheme must be http or https"},
		{base: "http://", wantErr: "has no host"},
		{base: "https://bob:secret@jit.example.com", wantErr: "must not contain credentials"},
		{base: "https://jit.example.com/?x=1", wantErr: "must not have a query"},
		{base: "http://[::1", wantErr: "server URL"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			c, err := New(tt.base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) error = %v, want one containing %q", tt.base, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.base.Path != tt.wantPath {
				t.Errorf("API root = %q, want %q", c.base.Path, tt.wantPath)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		want string
	}{
		{"token with newline", WithToken("abc\ndef"), "control characters"},
		{"token with space", WithToken("abc def"), "white space"},
		{"nil http client", WithHTTPClient(nil), "nil HTTP client"},
		{"nil clock", WithClock(nil), "nil clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("http://127.0.0.1:1", tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, sampleRequest("req_1", jit.StatusPending))
	})
	tests := []struct {
		name   string
		opts   []Option
		want   map[string]string
		absent []string
	}{
		{
			name: "all options",
			opts: []Option{WithToken("  dev-alice\n"), WithSource("cli"), WithUserAgent("jit-cli/1.2")},
			want: map[string]string{
				"Authorization": "Bearer dev-alice", "X-Jit-Client": "cli", "User-Agent": "jit-cli/1.2",
				"Content-Type": "application/json", "Accept": "application/json, application/problem+json",
			},
		},
		{
			name:   "no token no source",
			want:   map[string]string{"User-Agent": "jit-client"},
			absent: []string{"Authorization", "X-Jit-Client"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, f, tt.opts...)
			if _, err := c.Submit(context.Background(), SubmitRequest{Resource: "demo-app", Duration: "1h"}); err != nil {
				t.Fatal(err)
			}
			got := f.last(t).Header
			for k, v := range tt.want {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.Get(k), v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is sent: %q", k, got.Get(k))
				}
			}
		})
	}
}

// TestEndpoints checks that every method sends the documented method, path,
// query and body, and decodes the documented answer.
func TestEndpoints(t *testing.T) {
	since := time.Date(2025, 2, 28, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name      string
		status    int
		answer    any
		do        func(c *Client) (any, error)
		method    string
		path      string
		query     url.Values
		body      map[string]any // nil: no body sent
		wantValue any
	}{
		{
			name: "whoami", status: 200,
			answer: jit.Identity{Email: "alice@example.com", Groups: []string{"eng"}, Via: "dev-token"},
			do:     func(c *Client) (any, error) { return c.Whoami(context.Background()) },
			method: "GET", path: "/api/v1/whoami",
			wantValue: jit.Identity{Email: "alice@example.com", Groups: []string{"eng"}, Via: "dev-token"},
		},
		{
			name: "resources", status: 200,
			answer: map[string]any{"items": []policy.Offer{{Resource: "demo-app", Access: []string{"user", "admin"}, DefaultAccess: "user", MaxDuration: "4h0m0s", ApprovalRequired: true, ApprovalsRequired: 1, Approvers: []string{"group:sre"}, Rules: []string{"r"}}}},
			do:     func(c *Client) (any, error) { return c.Resources(context.Background()) },
			method: "GET", path: "/api/v1/resources",
			wantValue: []policy.Offer{{Resource: "demo-app", Access: []string{"user", "admin"}, DefaultAccess: "user", MaxDuration: "4h0m0s", ApprovalRequired: true, ApprovalsRequired: 1, Approvers: []string{"group:sre"}, Rules: []string{"r"}}},
		},
		{
			name: "submit", status: 201, answer: sampleRequest("req_1", jit.StatusPending),
			do: func(c *Client) (any, error) {
				return c.Submit(context.Background(), SubmitRequest{Resource: "demo-app", Access: "admin", Duration: "1h", Reason: "INC-42"})
			},
			method: "POST", path: "/api/v1/requests",
			body:      map[string]any{"resource": "demo-app", "access": "admin", "duration": "1h", "reason": "INC-42"},
			wantValue: sampleRequest("req_1", jit.StatusPending),
		},
		{
			name: "submit leaves empty optional fields out", status: 201, answer: sampleRequest("req_1", jit.StatusPending),
			do: func(c *Client) (any, error) {
				return c.Submit(context.Background(), SubmitRequest{Resource: "demo-app"})
			},
			method: "POST", path: "/api/v1/requests",
			body:      map[string]any{"resource": "demo-app"},
			wantValue: sampleRequest("req_1", jit.StatusPending),
		},
		{
			name: "list with every filter", status: 200,
			answer: RequestPage{Items: []*jit.Request{sampleRequest("req_2", jit.StatusActive)}, Next: "req_2"},
			do: func(c *Client) (any, error) {
				return c.List(context.Background(), ListOptions{Scope: ScopeAll, Statuses: []jit.Status{jit.StatusActive, jit.StatusPending}, Resource: "demo-app", Requester: "alice@example.com", Limit: 10, After: "req_9"})
			},
			method: "GET", path: "/api/v1/requests",
			query:     url.Values{"scope": {"all"}, "status": {"active,pending"}, "resource": {"demo-app"}, "requester": {"alice@example.com"}, "limit": {"10"}, "after": {"req_9"}},
			wantValue: &RequestPage{Items: []*jit.Request{sampleRequest("req_2", jit.StatusActive)}, Next: "req_2"},
		},
		{
			name: "list without filters", status: 200, answer: map[string]any{"items": []any{}},
			do:     func(c *Client) (any, error) { return c.List(context.Background(), ListOptions{}) },
			method: "GET", path: "/api/v1/requests", query: url.Values{},
			wantValue: &RequestPage{Items: []*jit.Request{}},
		},
		{
			name: "get", status: 200, answer: sampleRequest("req_1", jit.StatusActive),
			do:     func(c *Client) (any, error) { return c.Get(context.Background(), "req_1") },
			method: "GET", path: "/api/v1/requests/req_1", query: url.Values{},
			wantValue: sampleRequest("req_1", jit.StatusActive),
		},
		{
			name: "get escapes the id", status: 200, answer: sampleRequest("a/b c", jit.StatusActive),
			do:     func(c *Client) (any, error) { return c.Get(context.Background(), "a/b c") },
			method: "GET", path: "/api/v1/requests/a%2Fb%20c", query: url.Values{},
			wantValue: sampleRequest("a/b c", jit.StatusActive),
		},
		{
			name: "wait encodes the long-poll", status: 200, answer: sampleRequest("req_1", jit.StatusActive),
			do: func(c *Client) (any, error) {
				return c.Wait(context.Background(), "req_1", []jit.Status{jit.StatusPending, jit.StatusApproved}, 45*time.Second)
			},
			method: "GET", path: "/api/v1/requests/req_1",
			query:     url.Values{"wait": {"45s"}, "while": {"pending,approved"}},
			wantValue: sampleRequest("req_1", jit.StatusActive),
		},
		{
			name: "wait without while leaves the states to the server", status: 200, answer: sampleRequest("req_1", jit.StatusActive),
			do: func(c *Client) (any, error) {
				return c.Wait(context.Background(), "req_1", nil, time.Minute)
			},
			method: "GET", path: "/api/v1/requests/req_1",
			query:     url.Values{"wait": {"1m0s"}},
			wantValue: sampleRequest("req_1", jit.StatusActive),
		},
		{
			name: "approve", status: 200, answer: sampleRequest("req_1", jit.StatusApproved),
			do:     func(c *Client) (any, error) { return c.Approve(context.Background(), "req_1", "looks fine") },
			method: "POST", path: "/api/v1/requests/req_1/approve",
			body:      map[string]any{"comment": "looks fine"},
			wantValue: sampleRequest("req_1", jit.StatusApproved),
		},
		{
			name: "approve without comment", status: 200, answer: sampleRequest("req_1", jit.StatusApproved),
			do:     func(c *Client) (any, error) { return c.Approve(context.Background(), "req_1", "") },
			method: "POST", path: "/api/v1/requests/req_1/approve",
			body:      map[string]any{},
			wantValue: sampleRequest("req_1", jit.StatusApproved),
		},
		{
			name: "deny", status: 200, answer: sampleRequest("req_1", jit.StatusDenied),
			do:     func(c *Client) (any, error) { return c.Deny(context.Background(), "req_1", "not now") },
			method: "POST", path: "/api/v1/requests/req_1/deny",
			body:      map[string]any{"reason": "not now"},
			wantValue: sampleRequest("req_1", jit.StatusDenied),
		},
		{
			name: "cancel", status: 200, answer: sampleRequest("req_1", jit.StatusCancelled),
			do:     func(c *Client) (any, error) { return c.Cancel(context.Background(), "req_1") },
			method: "POST", path: "/api/v1/requests/req_1/cancel",
			body:      map[string]any{},
			wantValue: sampleRequest("req_1", jit.StatusCancelled),
		},
		{
			name: "relinquish", status: 200, answer: sampleRequest("req_1", jit.StatusRevoking),
			do:     func(c *Client) (any, error) { return c.Relinquish(context.Background(), "req_1") },
			method: "POST", path: "/api/v1/requests/req_1/relinquish",
			body:      map[string]any{},
			wantValue: sampleRequest("req_1", jit.StatusRevoking),
		},
		{
			name: "revoke", status: 200, answer: sampleRequest("req_1", jit.StatusRevoking),
			do:     func(c *Client) (any, error) { return c.Revoke(context.Background(), "req_1", "left the team") },
			method: "POST", path: "/api/v1/requests/req_1/revoke",
			body:      map[string]any{"reason": "left the team"},
			wantValue: sampleRequest("req_1", jit.StatusRevoking),
		},
		{
			name: "extend", status: 201, answer: sampleRequest("req_3", jit.StatusPending),
			do: func(c *Client) (any, error) {
				return c.Extend(context.Background(), "req_1", "30m", "INC-42 still open")
			},
			method: "POST", path: "/api/v1/requests/req_1/extend",
			body:      map[string]any{"duration": "30m", "reason": "INC-42 still open"},
			wantValue: sampleRequest("req_3", jit.StatusPending),
		},
		{
			name: "explain", status: 200,
			answer: policy.Decision{Allowed: true, Rule: "r", Access: "user", ApprovalsRequired: 1, Approvers: []string{"group:sre"}, Explanation: []string{"rule r matches"}},
			do: func(c *Client) (any, error) {
				return c.Explain(context.Background(), ExplainOptions{Resource: "demo-app", Access: "user", Duration: "2h", Reason: "INC-1", As: "carol@example.com"})
			},
			method: "GET", path: "/api/v1/policy/explain",
			query:     url.Values{"resource": {"demo-app"}, "access": {"user"}, "duration": {"2h"}, "reason": {"INC-1"}, "as": {"carol@example.com"}},
			wantValue: policy.Decision{Allowed: true, Rule: "r", Access: "user", ApprovalsRequired: 1, Approvers: []string{"group:sre"}, Explanation: []string{"rule r matches"}},
		},
		{
			name: "audit with every filter", status: 200,
			answer: map[string]any{"items": []jit.AuditEvent{{Seq: 7, Time: t0, Actor: "bob@example.com", Action: "approve", RequestID: "req_1", Source: jit.Source{Kind: "cli"}, Hash: "h7", PrevHash: "h6"}}, "next": "7"},
			do: func(c *Client) (any, error) {
				return c.Audit(context.Background(), AuditOptions{Request: "req_1", Actor: "bob@example.com", Action: "approve", Since: since, After: "6", Limit: 100})
			},
			method: "GET", path: "/api/v1/audit",
			query:     url.Values{"request": {"req_1"}, "actor": {"bob@example.com"}, "action": {"approve"}, "since": {"2025-02-28T08:30:00Z"}, "after": {"6"}, "limit": {"100"}},
			wantValue: &AuditPage{Items: []jit.AuditEvent{{Seq: 7, Time: t0, Actor: "bob@example.com", Action: "approve", RequestID: "req_1", Source: jit.Source{Kind: "cli"}, Hash: "h7", PrevHash: "h6"}}, Next: "7"},
		},
		{
			name: "audit cursor as a number", status: 200,
			answer: map[string]any{"items": []jit.AuditEvent{}, "next": 12},
			do:     func(c *Client) (any, error) { return c.Audit(context.Background(), AuditOptions{}) },
			method: "GET", path: "/api/v1/audit", query: url.Values{},
			wantValue: &AuditPage{Items: []jit.AuditEvent{}, Next: "12"},
		},
		{
			name: "verify audit", status: 200, answer: audit.Result{OK: false, Checked: 41, BrokenAt: 42, Problem: "changed"},
			do:     func(c *Client) (any, error) { return c.VerifyAudit(context.Background()) },
			method: "GET", path: "/api/v1/audit/verify",
			wantValue: audit.Result{OK: false, Checked: 41, BrokenAt: 42, Problem: "changed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tt.status, tt.answer) })
			c := newClient(t, f, WithToken("dev-alice"))
			got, err := tt.do(c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.wantValue) {
				t.Errorf("decoded\n%#v\nwant\n%#v", got, tt.wantValue)
			}
			req := f.last(t)
			if req.Method != tt.method || req.Path != tt.path {
				t.Errorf("sent %s %s, want %s %s", req.Method, req.Path, tt.method, tt.path)
			}
			if tt.query != nil && !reflect.DeepEqual(req.Query, tt.query) {
				t.Errorf("query = %v, want %v", req.Query, tt.query)
			}
			if tt.body == nil && req.RawBody != "" {
				t.Errorf("sent a body %q, want none", req.RawBody)
			}
			if tt.body != nil && !reflect.DeepEqual(req.Body, tt.body) {
				t.Errorf("body = %v, want %v", req.Body, tt.body)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		answer http.HandlerFunc
		want   Error
		line   string
	}{
		{
			name: "problem document",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 403, "not_allowed", "no rule lets alice@example.com request demo-app:admin", "")
			},
			want: Error{Status: 403, Code: "not_allowed", Detail: "no rule lets alice@example.com request demo-app:admin"},
			line: "not_allowed: no rule lets alice@example.com request demo-app:admin",
		},
		{
			name: "field",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 400, "invalid_duration", "duration \"soon\" is not a duration", "duration")
			},
			want: Error{Status: 400, Code: "invalid_duration", Detail: "duration \"soon\" is not a duration", Field: "duration"},
			line: "invalid_duration: duration \"soon\" is not a duration",
		},
		{
			name: "retry after seconds",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				writeProblem(w, 429, "rate_limited", "too many writes", "")
			},
			want: Error{Status: 429, Code: "rate_limited", Detail: "too many writes", RetryAfter: 7 * time.Second},
			line: "rate_limited: too many writes (retry after 7s)",
		},
		{
			name: "retry after date",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", t0.Add(90*time.Second).Format(http.TimeFormat))
				writeProblem(w, 503, "unavailable", "the store is unreachable", "")
			},
			want: Error{Status: 503, Code: "unavailable", Detail: "the store is unreachable", RetryAfter: 90 * time.Second},
			line: "unavailable: the store is unreachable (retry after 1m30s)",
		},
		{
			name: "retry after in the past or garbage",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "soon")
				writeProblem(w, 429, "rate_limited", "too many writes", "")
			},
			want: Error{Status: 429, Code: "rate_limited", Detail: "too many writes"},
			line: "rate_limited: too many writes",
		},
		{
			name: "multi-line detail becomes one line",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 409, "invalid_state", "request is active\nit cannot be cancelled", "")
			},
			want: Error{Status: 409, Code: "invalid_state", Detail: "request is active\nit cannot be cancelled"},
			line: "invalid_state: request is active it cannot be cancelled",
		},
		{
			name: "html from a proxy",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				_, _ = io.WriteString(w, "<html><body>bad gateway</body></html>")
			},
			want: Error{Status: 502, Detail: "Bad Gateway"},
			line: "HTTP 502 Bad Gateway",
		},
		{
			name: "empty body",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(404)
			},
			want: Error{Status: 404, Detail: "Not Found"},
			line: "HTTP 404 Not Found",
		},
		{
			name: "json that is not a problem",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 500, []int{1, 2})
			},
			want: Error{Status: 500, Detail: "Internal Server Error"},
			line: "HTTP 500 Internal Server Error",
		},
		{
			name: "problem without detail uses the title",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
				w.WriteHeader(401)
				_, _ = io.WriteString(w, `{"title":"Unauthorized","status":401,"code":"unauthenticated"}`)
			},
			want: Error{Status: 401, Code: "unauthenticated", Detail: "Unauthorized"},
			line: "unauthenticated: Unauthorized",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.answer)
			c := newClient(t, f, WithClock(fixedClock{t0}))
			_, err := c.Get(context.Background(), "req_1")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %T %v, want *client.Error", err, err)
			}
			if *e != tt.want {
				t.Errorf("error = %+v, want %+v", *e, tt.want)
			}
			if e.Error() != tt.line {
				t.Errorf("Error() = %q, want %q", e.Error(), tt.line)
			}
			wantCode := tt.want.Code
			if wantCode == "" {
				wantCode = jit.ECodeInternal // not a jit error
			}
			if got := jit.ErrorCode(err); got != wantCode {
				t.Errorf("jit.ErrorCode = %q, want %q", got, wantCode)
			}
			if tt.want.Code != "" && !IsCode(err, tt.want.Code) {
				t.Errorf("IsCode(%q) = false", tt.want.Code)
			}
		})
	}
}

func TestReasonRequiredBeforeAnyCall(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, sampleRequest("req_1", jit.StatusDenied))
	})
	c := newClient(t, f)
	tests := []struct {
		name string
		do   func() error
		code string
	}{
		{"deny", func() error { _, err := c.Deny(context.Background(), "req_1", "  "); return err }, jit.ECodeReasonNeeded},
		{"revoke", func() error { _, err := c.Revoke(context.Background(), "req_1", ""); return err }, jit.ECodeReasonNeeded},
		{"empty id", func() error { _, err := c.Get(context.Background(), ""); return err }, jit.ECodeInvalid},
		{"dot-dot id", func() error { _, err := c.Cancel(context.Background(), ".."); return err }, jit.ECodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jit.ErrorCode(tt.do()); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
		})
	}
	if n := f.count(); n != 0 {
		t.Errorf("the server received %d calls, want 0", n)
	}
}

func TestTransportErrorNamesServer(t *testing.T) {
	// A listener that is closed at once gives a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	c, err := New(addr, WithToken("dev-alice"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Whoami(context.Background())
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if !strings.Contains(err.Error(), "contacting "+addr+":") {
		t.Errorf("error %q does not name the server", err)
	}
	if strings.Contains(err.Error(), "dev-alice") {
		t.Errorf("error %q contains the token", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("transport error is an *Error: %v", err)
	}
}

func TestContextHonoured(t *testing.T) {
	started := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // hold the long-poll until the client leaves
	})
	c := newClient(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Wait(ctx, "req_1", []jit.Status{jit.StatusPending}, 30*time.Second)
		errc <- err
	}()
	<-started
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), f.srv.URL) {
		t.Errorf("error %q does not name the server", err)
	}
}

func TestListPagination(t *testing.T) {
	const total = 7
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		// Serve ids req_7..req_1 newest first, cursor = last id of the page.
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		start := total
		if a := r.URL.Query().Get("after"); a != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(a, "req_"))
			if err != nil {
				writeProblem(w, 400, "invalid_input", "bad cursor", "after")
				return
			}
			start = n - 1
		}
		p := RequestPage{Items: []*jit.Request{}}
		for i := start; i >= 1 && len(p.Items) < limit; i-- {
			p.Items = append(p.Items, sampleRequest(fmt.Sprintf("req_%d", i), jit.StatusActive))
		}
		if start-len(p.Items) >= 1 {
			p.Next = p.Items[len(p.Items)-1].ID
		}
		writeJSON(w, 200, p)
	})
	c := newClient(t, f)
	var ids []string
	var afters []string
	o := ListOptions{Limit: 3}
	for {
		p, err := c.List(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		afters = append(afters, f.last(t).Query.Get("after"))
		for _, r := range p.Items {
			ids = append(ids, r.ID)
		}
		if p.Next == "" {
			break
		}
		o.After = p.Next
	}
	wantIDs := []string{"req_7", "req_6", "req_5", "req_4", "req_3", "req_2", "req_1"}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("ids = %v, want %v", ids, wantIDs)
	}
	if want := []string{"", "req_5", "req_2"}; !reflect.DeepEqual(afters, want) {
		t.Errorf("after cursors sent = %v, want %v", afters, want)
	}
}

func TestWaitFor(t *testing.T) {
	// The server walks the request through a sequence of states, one per
	// long-poll, as a real server would when each poll sees a change.
	tests := []struct {
		name      string
		states    []jit.Status
		while     []jit.Status
		wantSeen  []jit.Status
		wantFinal jit.Status
	}{
		{
			name:      "pending to active",
			states:    []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting, jit.StatusActive, jit.StatusExpired},
			while:     []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting},
			wantSeen:  []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting, jit.StatusActive},
			wantFinal: jit.StatusActive,
		},
		{
			name:      "denied ends the wait",
			states:    []jit.Status{jit.StatusPending, jit.StatusDenied},
			while:     []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting},
			wantSeen:  []jit.Status{jit.StatusPending, jit.StatusDenied},
			wantFinal: jit.StatusDenied,
		},
		{
			name:      "already out of while",
			states:    []jit.Status{jit.StatusActive},
			while:     []jit.Status{jit.StatusPending},
			wantSeen:  []jit.Status{jit.StatusActive},
			wantFinal: jit.StatusActive,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			i := 0
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				st := tt.states[min(i, len(tt.states)-1)]
				i++
				mu.Unlock()
				writeJSON(w, 200, sampleRequest("req_1", st))
			})
			c := newClient(t, f)
			var seen []jit.Status
			r, err := c.WaitFor(context.Background(), "req_1", tt.while, func(r *jit.Request) { seen = append(seen, r.Status) })
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.wantFinal {
				t.Errorf("final = %s, want %s", r.Status, tt.wantFinal)
			}
			if !reflect.DeepEqual(seen, tt.wantSeen) {
				t.Errorf("progress = %v, want %v", seen, tt.wantSeen)
			}
			// After the first poll, each waits only while the status last
			// seen holds, so that every step reaches progress.
			q := f.last(t).Query
			want := string(tt.while[0])
			if len(seen) > 1 {
				want = string(seen[len(seen)-2])
			} else {
				var whiles []string
				for _, s := range tt.while {
					whiles = append(whiles, string(s))
				}
				want = strings.Join(whiles, ",")
			}
			if q.Get("wait") != "30s" || q.Get("while") != want {
				t.Errorf("long-poll query = %v, want while=%s", q, want)
			}
		})
	}
}

func TestWaitForReturnsLastStateOnError(t *testing.T) {
	var mu sync.Mutex
	n := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			writeJSON(w, 200, sampleRequest("req_1", jit.StatusPending))
			return
		}
		writeProblem(w, 503, "unavailable", "the store is unreachable", "")
	})
	c := newClient(t, f)
	r, err := c.WaitFor(context.Background(), "req_1", []jit.Status{jit.StatusPending}, nil)
	if !IsCode(err, jit.ECodeUnavailable) {
		t.Fatalf("error = %v, want unavailable", err)
	}
	if r == nil || r.Status != jit.StatusPending {
		t.Errorf("last state = %v, want the pending request", r)
	}
}

func TestAuthz(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name     string
		answer   http.HandlerFunc
		allowed  bool
		want     AuthzResult
		wantCode string
	}{
		{
			name: "allowed",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, AuthzResult{Allowed: true, Resource: "demo-app", RequestID: "req_1", ExpiresAt: &exp})
			},
			allowed: true,
			want:    AuthzResult{Allowed: true, Resource: "demo-app", RequestID: "req_1", ExpiresAt: &exp},
		},
		{
			name: "not allowed",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 403, AuthzResult{Resource: "demo-app", Reason: "no active access"})
			},
			want: AuthzResult{Resource: "demo-app", Reason: "no active access"},
		},
		{
			name: "not allowed as a problem document",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 403, "forbidden", "no active access to demo-app", "")
			},
			want: AuthzResult{Reason: "no active access to demo-app"},
		},
		{
			name: "allowed with empty body",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
			},
			allowed: true,
			want:    AuthzResult{Allowed: true},
		},
		{
			name: "no identity is an error",
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeProblem(w, 401, "unauthenticated", "no credentials", "")
			},
			wantCode: "unauthenticated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.answer)
			c := newClient(t, f)
			allowed, res, err := c.Authz(context.Background(), "demo-app")
			if got := f.last(t); got.Path != "/api/v1/authz" || got.Query.Get("resource") != "demo-app" {
				t.Errorf("sent %s?%s", got.Path, got.Query.Encode())
			}
			if tt.wantCode != "" {
				if !IsCode(err, tt.wantCode) {
					t.Fatalf("error = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if allowed != tt.allowed || !reflect.DeepEqual(res, tt.want) {
				t.Errorf("Authz = %v %+v, want %v %+v", allowed, res, tt.allowed, tt.want)
			}
		})
	}
}

// TestConnectionReuse checks that bodies are drained and closed, errors
// included, so that one connection serves every call.
func TestConnectionReuse(t *testing.T) {
	var mu sync.Mutex
	n := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		switch i % 3 {
		case 0:
			writeProblem(w, 409, "invalid_state", strings.Repeat("x", 10_000), "")
		case 1:
			writeJSON(w, 200, sampleRequest("req_1", jit.StatusActive))
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = io.WriteString(w, strings.Repeat("<p>down</p>", 9000)) // over maxProblemBytes
		}
	})
	c := newClient(t, f)
	for range 30 {
		_, _ = c.Get(context.Background(), "req_1")
	}
	f.mu.Lock()
	conns := len(f.conns)
	f.mu.Unlock()
	if conns != 1 {
		t.Errorf("30 sequential calls used %d connections, want 1", conns)
	}
}

func TestStringHidesToken(t *testing.T) {
	c, err := New("https://jit.example.com", WithToken("s3cret-token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v", c)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("%q shows the token", s)
		}
	}
}
