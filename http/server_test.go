package jithttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/workflow"
)

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		err        error
		wantStatus int
		wantCode   string
		wantDetail string // "" means: must equal the error's message
		wantField  string
		logged     bool
	}{
		{err: jit.FieldErrorf("reason", jit.ECodeInvalid, "reason is too long"), wantStatus: 400, wantCode: "invalid_input", wantField: "reason"},
		{err: jit.Errorf(jit.ECodeMalformedJSON, "x"), wantStatus: 400, wantCode: "malformed_json"},
		{err: jit.Errorf(jit.ECodeUnknownField, "x"), wantStatus: 400, wantCode: "unknown_field"},
		{err: jit.Errorf(jit.ECodeTooLarge, "x"), wantStatus: 413, wantCode: "body_too_large"},
		{err: jit.FieldErrorf("duration", jit.ECodeInvalidDur, "bad"), wantStatus: 400, wantCode: "invalid_duration", wantField: "duration"},
		{err: jit.Errorf(jit.ECodeReasonNeeded, "x"), wantStatus: 400, wantCode: "reason_required"},
		{err: jit.Errorf(jit.ECodeUnknownResource, "no such resource db"), wantStatus: 400, wantCode: "unknown_resource"},
		{err: jit.Errorf(jit.ECodeUnknownAccess, "x"), wantStatus: 400, wantCode: "unknown_access"},
		{err: jit.Errorf(jit.ECodeDurationTooLong, "x"), wantStatus: 400, wantCode: "duration_too_long"},
		{err: jit.Errorf(jit.ECodeJustificationNeed, "x"), wantStatus: 400, wantCode: "justification_required"},
		{err: jit.Errorf(jit.ECodeJustificationBad, "x"), wantStatus: 400, wantCode: "justification_mismatch"},
		{err: jit.Errorf(jit.ECodeNotAllowed, "x"), wantStatus: 403, wantCode: "not_allowed"},
		{err: jit.Errorf(jit.ECodeSelfApproval, "you cannot approve your own request"), wantStatus: 403, wantCode: "self_approval"},
		{err: jit.Errorf(jit.ECodeNotApprover, "x"), wantStatus: 403, wantCode: "not_approver"},
		{err: jit.Errorf(jit.ECodeAlreadyApproved, "x"), wantStatus: 409, wantCode: "already_approved"},
		{err: jit.Errorf(jit.ECodeInvalidState, "x"), wantStatus: 409, wantCode: "invalid_state"},
		{err: jit.Errorf(jit.ECodeConflict, "x"), wantStatus: 409, wantCode: "conflict"},
		{err: jit.Errorf(jit.ECodeForbidden, "x"), wantStatus: 403, wantCode: "forbidden"},
		{err: jit.Errorf(jit.ECodeNotFound, "request req_1 not found"), wantStatus: 404, wantCode: "not_found"},
		{err: jit.Errorf(jit.ECodeUnauthenticated, "x"), wantStatus: 401, wantCode: "unauthenticated"},
		{err: jit.Errorf(jit.ECodeRateLimited, "x"), wantStatus: 429, wantCode: "rate_limited"},
		{err: jit.Errorf(jit.ECodeUnavailable, "store down"), wantStatus: 503, wantCode: "unavailable", logged: true},
		{err: jit.Errorf(jit.ECodeInternal, "x"), wantStatus: 500, wantCode: "internal", logged: true},
		{err: jit.Errorf("some_future_code", "x"), wantStatus: 400, wantCode: "some_future_code"},
		// Wrapped *jit.Error keeps its code.
		{err: fmt.Errorf("approve: %w", jit.Errorf(jit.ECodeSelfApproval, "own request")), wantStatus: 403, wantCode: "self_approval", wantDetail: "own request"},
		// Anything else is internal: logged with its text, never shown.
		{err: errors.New("pq: password authentication failed for user jit at 10.0.0.5"), wantStatus: 500, wantCode: "internal",
			wantDetail: "internal error; the server log has the details", logged: true},
		{err: fmt.Errorf("get: %w", context.DeadlineExceeded), wantStatus: 503, wantCode: "unavailable",
			wantDetail: "the server did not answer in time; retry later", logged: true},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode+"/"+tt.err.Error(), func(t *testing.T) {
			h := newHarness(t)
			h.svc.err = tt.err
			w := h.do("POST", "/api/v1/requests/req_1/approve", `{"comment":"ok"}`)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			p := decodeProblem(t, w)
			detail := tt.wantDetail
			if detail == "" {
				detail = jit.ErrorMessage(tt.err)
			}
			want := Problem{Type: ProblemType, Title: http.StatusText(tt.wantStatus), Status: tt.wantStatus,
				Detail: detail, Code: tt.wantCode, Field: tt.wantField, Instance: "/api/v1/requests/req_1/approve"}
			if p != want {
				t.Errorf("problem = %+v\nwant      %+v", p, want)
			}
			logs := h.logs.String()
			if tt.logged != strings.Contains(logs, tt.err.Error()) {
				t.Errorf("error text in log = %v, want %v; log:\n%s", !tt.logged, tt.logged, logs)
			}
			if tt.wantStatus == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestBodyDecoding(t *testing.T) {
	big := `{"reason":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
	tests := []struct {
		name        string
		path        string
		body        string
		contentType string // default application/json
		wantStatus  int
		wantCode    string
		wantField   string
	}{
		{"syntax error", "/api/v1/requests", `{"resource": "db",}`, "", 400, "malformed_json", ""},
		{"truncated", "/api/v1/requests", `{"resource": "db"`, "", 400, "malformed_json", ""},
		{"not an object", "/api/v1/requests", `["db"]`, "", 400, "malformed_json", ""},
		{"null", "/api/v1/requests", `null`, "", 400, "malformed_json", ""},
		{"string", "/api/v1/requests", `"db"`, "", 400, "malformed_json", ""},
		{"wrong type", "/api/v1/requests", `{"resource": "db", "duration": 3600}`, "", 400, "malformed_json", "duration"},
		{"unknown field", "/api/v1/requests", `{"resource": "db", "duration": "1h", "durration": "2h"}`, "", 400, "unknown_field", "durration"},
		{"field name in another case", "/api/v1/requests", `{"Resource": "db", "duration": "1h"}`, "", 400, "unknown_field", "Resource"},
		{"trailing object", "/api/v1/requests", `{"resource": "db", "duration": "1h"}{"resource":"x"}`, "", 400, "malformed_json", ""},
		{"trailing garbage", "/api/v1/requests", `{"resource": "db", "duration": "1h"} x`, "", 400, "malformed_json", ""},
		{"too large", "/api/v1/requests/req_1/deny", big, "", 413, "body_too_large", ""},
		{"wrong content type", "/api/v1/requests", `{"resource": "db", "duration": "1h"}`, "text/plain", 400, "invalid_input", ""},
		{"form content type", "/api/v1/requests/req_1/approve", `{"comment":"x"}`, "application/x-www-form-urlencoded", 400, "invalid_input", ""},
		{"bad duration", "/api/v1/requests", `{"resource": "db", "duration": "forever"}`, "", 400, "invalid_duration", "duration"},
		{"negative duration", "/api/v1/requests", `{"resource": "db", "duration": "-1h"}`, "", 400, "invalid_duration", "duration"},
		{"missing duration", "/api/v1/requests", `{"resource": "db"}`, "", 400, "invalid_duration", "duration"},
		{"missing resource", "/api/v1/requests", `{"duration": "1h"}`, "", 400, "invalid_input", "resource"},
		{"extend bad duration", "/api/v1/requests/req_1/extend", `{"duration": "1x"}`, "", 400, "invalid_duration", "duration"},
		{"deny without reason", "/api/v1/requests/req_1/deny", `{}`, "", 400, "reason_required", "reason"},
		{"deny blank reason", "/api/v1/requests/req_1/deny", `{"reason": "  "}`, "", 400, "reason_required", "reason"},
		{"revoke empty body", "/api/v1/requests/req_1/revoke", ``, "", 400, "reason_required", "reason"},
		{"cancel with a field", "/api/v1/requests/req_1/cancel", `{"reason":"x"}`, "", 400, "unknown_field", "reason"},
		{"query on a write", "/api/v1/requests/req_1/cancel?force=1", ``, "", 400, "invalid_input", "force"},
		{"id with a space", "/api/v1/requests/req%201/cancel", ``, "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			w := h.do("POST", tt.path, tt.body, "Content-Type", ct)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.wantStatus, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Code != tt.wantCode || p.Field != tt.wantField {
				t.Errorf("code, field = %q, %q; want %q, %q (%s)", p.Code, p.Field, tt.wantCode, tt.wantField, p.Detail)
			}
			if p.Detail == "" {
				t.Error("empty detail")
			}
			if calls := h.svc.Calls(); len(calls) != 0 {
				t.Errorf("service called on bad input: %+v", calls)
			}
		})
	}
}

// Actions without fields accept an empty body whatever its content type.
func TestEmptyBodies(t *testing.T) {
	for _, ct := range []string{"", "text/plain", "application/json"} {
		t.Run("content-type "+ct, func(t *testing.T) {
			h := newHarness(t)
			w := h.do("POST", "/api/v1/requests/req_1/cancel", "", "Content-Type", ct)
			if w.Code != 200 {
				t.Fatalf("status = %d (%s)", w.Code, w.Body)
			}
			if calls := h.svc.Calls(); len(calls) != 1 || calls[0].Method != "Cancel" || calls[0].Args[0] != "req_1" {
				t.Errorf("calls = %+v", calls)
			}
		})
	}
}

func TestQueryValidation(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		wantCode  string
		wantField string
	}{
		{"limit zero", "/api/v1/requests?limit=0", "invalid_input", "limit"},
		{"limit too big", "/api/v1/requests?limit=501", "invalid_input", "limit"},
		{"limit not a number", "/api/v1/requests?limit=ten", "invalid_input", "limit"},
		{"audit limit", "/api/v1/audit?limit=-1", "invalid_input", "limit"},
		{"unknown status", "/api/v1/requests?status=pending,done", "invalid_input", "status"},
		{"unknown scope", "/api/v1/requests?scope=everything", "invalid_input", "scope"},
		{"unknown parameter", "/api/v1/requests?stauts=pending", "invalid_input", "stauts"},
		{"repeated parameter", "/api/v1/requests?scope=mine&scope=all", "invalid_input", "scope"},
		{"since not RFC 3339", "/api/v1/audit?since=yesterday", "invalid_input", "since"},
		{"since without zone", "/api/v1/audit?since=2025-01-02T15:04:05", "invalid_input", "since"},
		{"after not an integer", "/api/v1/audit?after=abc", "invalid_input", "after"},
		{"after negative", "/api/v1/audit?after=-5", "invalid_input", "after"},
		{"wait too long", "/api/v1/requests/req_1?wait=61s", "invalid_input", "wait"},
		{"wait not a duration", "/api/v1/requests/req_1?wait=soon", "invalid_input", "wait"},
		{"wait zero", "/api/v1/requests/req_1?wait=0s", "invalid_input", "wait"},
		{"while unknown status", "/api/v1/requests/req_1?wait=5s&while=pending,nope", "invalid_input", "while"},
		{"while without wait", "/api/v1/requests/req_1?while=pending", "invalid_input", "while"},
		{"explain without resource", "/api/v1/policy/explain?duration=1h", "invalid_input", "resource"},
		{"explain bad duration", "/api/v1/policy/explain?resource=db&duration=1y", "invalid_duration", "duration"},
		{"whoami takes no parameters", "/api/v1/whoami?x=1", "invalid_input", "x"},
		{"malformed query", "/api/v1/requests?scope=%zz", "invalid_input", ""},
		{"authz without a target", "/api/v1/authz", "invalid_input", "resource"},
		{"authz empty resource", "/api/v1/authz?resource=", "invalid_input", "resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.do("GET", tt.target, "")
			if w.Code != 400 {
				t.Fatalf("status = %d, want 400 (%s)", w.Code, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Code != tt.wantCode || p.Field != tt.wantField {
				t.Errorf("code, field = %q, %q; want %q, %q (%s)", p.Code, p.Field, tt.wantCode, tt.wantField, p.Detail)
			}
			if calls := h.svc.Calls(); len(calls) != 0 {
				t.Errorf("service called on bad input: %+v", calls)
			}
		})
	}
}

// Valid requests reach the service with the parsed values, and the
// identity and source in the context.
func TestHandlersCallService(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		wantStatus int
		wantMethod string
		wantArgs   []any
	}{
		{"submit", "POST", "/api/v1/requests", `{"resource":" demo-app ","access":"user","duration":"1d2h","reason":"INC-1"}`, 201,
			"Submit", []any{workflow.SubmitInput{Resource: "demo-app", Access: "user", Duration: 26 * time.Hour, Reason: "INC-1"}}},
		{"approve", "POST", "/api/v1/requests/req_1/approve", `{"comment":"lgtm"}`, 200, "Approve", []any{"req_1", "lgtm"}},
		{"approve empty", "POST", "/api/v1/requests/req_1/approve", ``, 200, "Approve", []any{"req_1", ""}},
		{"deny", "POST", "/api/v1/requests/req_1/deny", `{"reason":" not now "}`, 200, "Deny", []any{"req_1", "not now"}},
		{"cancel", "POST", "/api/v1/requests/req_1/cancel", `{}`, 200, "Cancel", []any{"req_1"}},
		{"relinquish", "POST", "/api/v1/requests/req_1/relinquish", ``, 200, "Relinquish", []any{"req_1"}},
		{"revoke", "POST", "/api/v1/requests/req_1/revoke", `{"reason":"incident over"}`, 200, "Revoke", []any{"req_1", "incident over"}},
		{"extend", "POST", "/api/v1/requests/req_1/extend", `{"duration":"30m","reason":"more"}`, 201,
			"Extend", []any{"req_1", workflow.ExtendInput{Duration: 30 * time.Minute, Reason: "more"}}},
		{"get", "GET", "/api/v1/requests/req_1", ``, 200, "Get", []any{"req_1"}},
		{"wait default while", "GET", "/api/v1/requests/req_1?wait=30s", ``, 200, "Wait",
			[]any{"req_1", []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting, jit.StatusRevoking}, 30 * time.Second}},
		{"wait while", "GET", "/api/v1/requests/req_1?wait=60s&while=pending,approved", ``, 200, "Wait",
			[]any{"req_1", []jit.Status{jit.StatusPending, jit.StatusApproved}, 60 * time.Second}},
		{"list defaults", "GET", "/api/v1/requests", ``, 200, "List", []any{workflow.ListInput{Scope: workflow.ScopeMine, Limit: 50}}},
		{"list filters", "GET", "/api/v1/requests?scope=all&status=active,expired&resource=db&requester=bob@example.com&limit=500&after=req_9", ``, 200,
			"List", []any{workflow.ListInput{Scope: workflow.ScopeAll, Statuses: []jit.Status{jit.StatusActive, jit.StatusExpired},
				Resource: "db", Requester: "bob@example.com", Limit: 500, After: "req_9"}}},
		{"explain", "GET", "/api/v1/policy/explain?resource=db&access=ro&duration=2h&reason=INC-7&as=bob@example.com", ``, 200,
			"Explain", []any{workflow.ExplainInput{Resource: "db", Access: "ro", Duration: 2 * time.Hour, Reason: "INC-7", As: "bob@example.com"}}},
		{"audit", "GET", "/api/v1/audit?request=req_1&actor=bob@example.com&action=approve&since=2025-01-02T15:04:05Z&after=7&limit=10", ``, 200,
			"Audit", []any{jit.AuditFilter{RequestID: "req_1", Actor: "bob@example.com", Action: "approve",
				Since: time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC), AfterSeq: 7, Limit: 10}}},
		{"audit defaults", "GET", "/api/v1/audit", ``, 200, "Audit", []any{jit.AuditFilter{Limit: 100}}},
		{"audit verify", "GET", "/api/v1/audit/verify", ``, 200, "VerifyAudit", nil},
		{"whoami", "GET", "/api/v1/whoami", ``, 200, "Whoami", nil},
		{"resources", "GET", "/api/v1/resources", ``, 200, "Offers", nil},
		{"submit with target", "POST", "/api/v1/requests", `{"resource":"k8s","access":"view","duration":"1h","reason":"r","target":"deployments/default/web","ssh_public_key":"ssh-ed25519 AAAA"}`, 201,
			"Submit", []any{workflow.SubmitInput{Resource: "k8s", Access: "view", Duration: time.Hour, Reason: "r", Target: "deployments/default/web", SSHPublicKey: "ssh-ed25519 AAAA"}}},
		{"targets", "GET", "/api/v1/resources/k8s/targets?parent=deployments/default", ``, 200, "Targets", []any{"k8s", "deployments/default"}},
		{"targets top", "GET", "/api/v1/resources/k8s/targets", ``, 200, "Targets", []any{"k8s", ""}},
		{"kubeconfig", "GET", "/api/v1/resources/k8s/kubeconfig", ``, 200, "Kubeconfig", []any{"k8s"}},
		{"ssh hosts", "GET", "/api/v1/ssh?host=web-3", ``, 200, "HostOffers", []any{"web-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.do(tt.method, tt.target, tt.body, "X-Jit-Client", "cli", "User-Agent", "jit-cli/1.0")
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.wantStatus, w.Body)
			}
			calls := h.svc.Calls()
			if len(calls) != 1 {
				t.Fatalf("calls = %+v, want one", calls)
			}
			c := calls[0]
			if c.Method != tt.wantMethod || !reflect.DeepEqual(c.Args, tt.wantArgs) {
				t.Errorf("call = %s%#v\nwant   %s%#v", c.Method, c.Args, tt.wantMethod, tt.wantArgs)
			}
			if c.Identity.Email != "alice@example.com" {
				t.Errorf("identity in context = %+v", c.Identity)
			}
			wantSrc := jit.Source{Kind: "cli", IP: "198.51.100.7", UserAgent: "jit-cli/1.0"}
			if c.Source != wantSrc {
				t.Errorf("source = %+v, want %+v", c.Source, wantSrc)
			}
			if tt.wantStatus == 201 && w.Header().Get("Location") != "/api/v1/requests/req_1" {
				t.Errorf("Location = %q", w.Header().Get("Location"))
			}
		})
	}
}

func TestResponses(t *testing.T) {
	h := newHarness(t)
	exp := t0.Add(time.Hour)
	h.svc.req = &jit.Request{ID: "req_7", Requester: "alice@example.com", Resource: "demo-app", Access: "user",
		Duration: 90 * time.Minute, Status: jit.StatusActive, ExpiresAt: &exp}
	w := h.do("GET", "/api/v1/requests/req_7", "")
	var got map[string]any
	decodeJSON(t, w, &got)
	if got["id"] != "req_7" || got["duration"] != "1h30m0s" || got["duration_seconds"] != float64(5400) || got["status"] != "active" {
		t.Errorf("request JSON = %v", got)
	}

	// Empty lists are [] rather than null, and next is absent on the last page.
	for _, target := range []string{"/api/v1/requests", "/api/v1/audit", "/api/v1/resources"} {
		w := h.do("GET", target, "")
		var page map[string]any
		decodeJSON(t, w, &page)
		if items, ok := page["items"].([]any); !ok || len(items) != 0 {
			t.Errorf("%s items = %#v, want []", target, page["items"])
		}
		if _, ok := page["next"]; ok {
			t.Errorf("%s has next on the last page", target)
		}
	}

	// A full audit page names the next cursor.
	h.svc.events = []jit.AuditEvent{{Seq: 41}, {Seq: 42}}
	w = h.do("GET", "/api/v1/audit?limit=2", "")
	var ap map[string]any
	decodeJSON(t, w, &ap)
	if ap["next"] != "42" {
		t.Errorf("audit next = %v, want \"42\"", ap["next"])
	}

	h.svc.verify = audit.Result{OK: false, Checked: 10, BrokenAt: 7, Problem: "changed"}
	w = h.do("GET", "/api/v1/audit/verify", "")
	var vr audit.Result
	decodeJSON(t, w, &vr)
	if vr != h.svc.verify {
		t.Errorf("verify = %+v", vr)
	}

	h.svc.decision = policy.Decision{Allowed: false, Code: jit.ECodeNotAllowed, Message: "no rule"}
	w = h.do("GET", "/api/v1/policy/explain?resource=db", "")
	var d map[string]any
	decodeJSON(t, w, &d)
	if d["allowed"] != false || d["code"] != "not_allowed" {
		t.Errorf("decision = %v", d)
	}
	if ex, ok := d["explanation"].([]any); !ok || ex == nil {
		t.Errorf("explanation = %#v, want a list", d["explanation"])
	}

	w = h.do("GET", "/api/v1/whoami", "")
	var id jit.Identity
	decodeJSON(t, w, &id)
	if id.Email != "alice@example.com" || id.Via != "test" {
		t.Errorf("whoami = %+v", id)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", w.Header())
	}
}

func TestSource(t *testing.T) {
	tests := []struct {
		client, forwardedFor, remote string
		want                         jit.Source
	}{
		{"cli", "", "198.51.100.7:1", jit.Source{Kind: "cli", IP: "198.51.100.7"}},
		{"WEB", "", "198.51.100.7:1", jit.Source{Kind: "web", IP: "198.51.100.7"}},
		{"slack", "", "[2001:db8::1]:443", jit.Source{Kind: "slack", IP: "2001:db8::1"}},
		{"system", "", "198.51.100.7:1", jit.Source{Kind: "api", IP: "198.51.100.7"}},
		{"", "203.0.113.9", "198.51.100.7:1", jit.Source{Kind: "api", IP: "198.51.100.7"}},
	}
	for _, tt := range tests {
		t.Run(tt.client+tt.remote, func(t *testing.T) {
			h := newHarness(t)
			r, _ := http.NewRequest("GET", "/api/v1/whoami", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Test-User", "alice@example.com")
			r.Header.Set("X-Jit-Client", tt.client)
			r.Header.Set("X-Forwarded-For", tt.forwardedFor)
			h.h.ServeHTTP(&discardWriter{h: http.Header{}}, r)
			calls := h.svc.Calls()
			if len(calls) != 1 || calls[0].Source != tt.want {
				t.Errorf("source = %+v, want %+v", calls, tt.want)
			}
		})
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	// No credentials on an API route.
	w := h.do("GET", "/api/v1/whoami", "", "X-Test-User", "")
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no credentials: %d %v", w.Code, w.Header())
	}
	if p := decodeProblem(t, w); p.Code != "unauthenticated" {
		t.Errorf("code = %q", p.Code)
	}
	// Invalid credentials.
	w = h.do("GET", "/api/v1/whoami", "", "X-Test-User", "bad")
	if w.Code != 401 {
		t.Fatalf("bad credentials: %d", w.Code)
	}
	if p := decodeProblem(t, w); p.Detail != "invalid credentials" {
		t.Errorf("detail = %q: the reason belongs in the log only", p.Detail)
	}
	if !strings.Contains(h.logs.String(), "bad test credentials") {
		t.Error("the reason is not logged")
	}
	// Writes and forward-auth need identities too.
	for _, m := range []string{"POST /api/v1/requests", "POST /api/v1/requests/req_1/approve", "GET /api/v1/authz?resource=x", "GET /api/v1/audit"} {
		method, target, _ := strings.Cut(m, " ")
		if w := h.do(method, target, `{}`, "X-Test-User", ""); w.Code != 401 {
			t.Errorf("%s without credentials: %d", m, w.Code)
		}
	}
	// Public endpoints do not.
	for _, target := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"} {
		if w := h.do("GET", target, "", "X-Test-User", ""); w.Code != 200 {
			t.Errorf("%s without credentials: %d", target, w.Code)
		}
	}
	if calls := h.svc.Calls(); len(calls) != 1 || calls[0].Method != "Ready" {
		t.Errorf("calls = %+v, want only Ready", calls)
	}
}

// The first authenticator that claims a request decides; an error from it
// is final even when a later one would accept.
func TestAuthenticatorOrder(t *testing.T) {
	claimAll := authFunc(func(r *http.Request) (jit.Identity, bool, error) {
		return jit.Identity{Email: "second@example.com", Via: "x"}, true, nil
	})
	h := newHarness(t, func(c *Config) { c.Authenticators = []Authenticator{headerAuth{}, claimAll} })
	tests := []struct {
		user      string
		wantCode  int
		wantEmail string
	}{
		{"alice@example.com", 200, "alice@example.com"},
		{"", 200, "second@example.com"},
		{"bad", 401, ""},
	}
	for _, tt := range tests {
		w := h.do("GET", "/api/v1/whoami", "", "X-Test-User", tt.user)
		if w.Code != tt.wantCode {
			t.Errorf("user %q: status %d, want %d", tt.user, w.Code, tt.wantCode)
			continue
		}
		if tt.wantCode == 200 {
			var id jit.Identity
			decodeJSON(t, w, &id)
			if id.Email != tt.wantEmail {
				t.Errorf("user %q: identity %q, want %q", tt.user, id.Email, tt.wantEmail)
			}
		}
	}
}

type authFunc func(r *http.Request) (jit.Identity, bool, error)

func (f authFunc) Authenticate(r *http.Request) (jit.Identity, bool, error) { return f(r) }

// An authenticator failing for reasons other than the credentials (the
// token store is down) is not answered 401.
func TestAuthenticatorUnavailable(t *testing.T) {
	down := authFunc(func(r *http.Request) (jit.Identity, bool, error) {
		return jit.Identity{}, false, fmt.Errorf("look up: %w: %v", jit.Errorf(jit.ECodeUnavailable, "token store unreachable"), "dial tcp: refused")
	})
	h := newHarness(t, func(c *Config) { c.Authenticators = []Authenticator{down} })
	w := h.do("GET", "/api/v1/whoami", "")
	if w.Code != 503 {
		t.Fatalf("status = %d, want 503", w.Code)
	}
	if p := decodeProblem(t, w); p.Code != "unavailable" || strings.Contains(p.Detail, "dial") {
		t.Errorf("problem = %+v", p)
	}
	if !strings.Contains(h.logs.String(), "dial tcp: refused") {
		t.Error("cause not logged")
	}
}

func TestPanicRecovery(t *testing.T) {
	h := newHarness(t)
	h.svc.panicMsg = "nil map write in workflow"
	w := h.do("POST", "/api/v1/requests/req_1/cancel", "")
	if w.Code != 500 {
		t.Fatalf("status = %d, want 500", w.Code)
	}
	p := decodeProblem(t, w)
	if p.Code != "internal" || strings.Contains(p.Detail, "nil map") {
		t.Errorf("problem = %+v", p)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "panic in handler") || !strings.Contains(logs, "nil map write in workflow") {
		t.Errorf("panic not logged:\n%s", logs)
	}
	// The server keeps serving.
	h.svc.panicMsg = ""
	if w := h.do("GET", "/api/v1/whoami", ""); w.Code != 200 {
		t.Errorf("after panic: %d", w.Code)
	}
}

func TestRequestLog(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Authenticators = []Authenticator{DevTokens{Tokens: map[string]string{"dev-secret-token": "alice@example.com"}}, headerAuth{}}
	})
	r := httptestRequest("POST", "/api/v1/requests/req_1/approve?x=jit_querysecret", `{"comment":"ok"}`)
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("Authorization", "Bearer dev-secret-token")
	w := &discardWriter{h: http.Header{}}
	h.h.ServeHTTP(w, r)
	logs := h.logs.String()
	for _, secret := range []string{"dev-secret-token", "jit_querysecret", "Authorization"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"route":"POST /api/v1/requests/{id}/approve"`, `"identity":"alice@example.com"`, `"status":400`, `"method":"POST"`, `"via":"dev-token"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h := newHarness(t)
	w := h.do("GET", "/healthz", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "ok" {
		t.Errorf("healthz = %d %q", w.Code, w.Body)
	}
	w = h.do("GET", "/readyz", "")
	if w.Code != 200 {
		t.Errorf("readyz = %d", w.Code)
	}
	h.svc.readyErr = errors.New("database is locked at /var/lib/jit/jit.db")
	w = h.do("GET", "/readyz", "")
	if w.Code != 503 {
		t.Fatalf("readyz with failing store = %d", w.Code)
	}
	if p := decodeProblem(t, w); p.Code != "unavailable" || strings.Contains(p.Detail, "/var/lib") {
		t.Errorf("problem = %+v", p)
	}

	h.do("GET", "/api/v1/requests/req_1", "")
	h.do("GET", "/api/v1/requests/req_2", "")
	h.do("GET", "/nope", "")
	w = h.do("GET", "/metrics", "")
	body := w.Body.String()
	for _, want := range []string{
		`jit_http_requests_total{code="200",route="GET /api/v1/requests/{id}"} 2`,
		`jit_http_requests_total{code="503",route="GET /readyz"} 1`,
		`jit_http_requests_total{code="404",route="unmatched"} 1`,
		`jit_http_request_duration_seconds_count{route="GET /api/v1/requests/{id}"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestUnmatched(t *testing.T) {
	h := newHarness(t)
	w := h.do("GET", "/api/v1/nothing", "")
	if w.Code != 404 {
		t.Fatalf("status = %d", w.Code)
	}
	if p := decodeProblem(t, w); p.Code != "not_found" || p.Instance != "/api/v1/nothing" {
		t.Errorf("problem = %+v", p)
	}
	w = h.do("DELETE", "/api/v1/requests/req_1", "")
	if w.Code != 405 || !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Fatalf("status = %d, Allow = %q", w.Code, w.Header().Get("Allow"))
	}
	decodeProblem(t, w)
	if calls := h.svc.Calls(); len(calls) != 0 {
		t.Errorf("calls = %+v", calls)
	}
}

func TestAuthz(t *testing.T) {
	exp := time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)
	allowed := workflow.AuthzResult{Allowed: true, Resource: "demo-app", RequestID: "req_9", ExpiresAt: &exp}
	denied := workflow.AuthzResult{Resource: "demo-app", Reason: "no active grant"}
	tests := []struct {
		name    string
		method  string
		target  string
		headers []string
		result  workflow.AuthzResult
		want    workflow.AuthzInput
		status  int
	}{
		{"resource param", "GET", "/api/v1/authz?resource=demo-app", nil, allowed, workflow.AuthzInput{Resource: "demo-app"}, 200},
		{"traefik headers", "GET", "/api/v1/authz", []string{"X-Forwarded-Host", "Demo.Localhost", "X-Forwarded-Uri", "/app/page?q=1"},
			allowed, workflow.AuthzInput{Host: "demo.localhost", Path: "/app/page"}, 200},
		{"dot segments resolved", "GET", "/api/v1/authz", []string{"X-Forwarded-Host", "demo.localhost", "X-Forwarded-Uri", "/public/../admin/"},
			denied, workflow.AuthzInput{Host: "demo.localhost", Path: "/admin/"}, 403},
		{"chained proxies", "GET", "/api/v1/authz", []string{"X-Forwarded-Host", "demo.localhost, internal:8080"},
			allowed, workflow.AuthzInput{Host: "demo.localhost", Path: "/"}, 200},
		{"nginx original url", "GET", "/api/v1/authz", []string{"X-Original-URL", "https://demo.localhost:8443/x/y?z=1"},
			denied, workflow.AuthzInput{Host: "demo.localhost:8443", Path: "/x/y"}, 403},
		{"any method", "POST", "/api/v1/authz?resource=demo-app&other=ignored", nil, allowed, workflow.AuthzInput{Resource: "demo-app"}, 200},
		{"put", "PUT", "/api/v1/authz?resource=demo-app", nil, denied, workflow.AuthzInput{Resource: "demo-app"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.svc.authz = tt.result
			w := h.do(tt.method, tt.target, "", tt.headers...)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			calls := h.svc.Calls()
			if len(calls) != 1 || calls[0].Method != "Authz" || calls[0].Args[0] != tt.want {
				t.Fatalf("calls = %+v, want Authz(%+v)", calls, tt.want)
			}
			var got workflow.AuthzResult
			decodeJSON(t, w, &got)
			if got.Allowed != tt.result.Allowed || got.Reason != tt.result.Reason {
				t.Errorf("body = %+v", got)
			}
			hdr := w.Header()
			if tt.result.Allowed {
				if hdr.Get("X-Jit-User") != "alice@example.com" || hdr.Get("X-Jit-Request") != "req_9" || hdr.Get("X-Jit-Expires-At") != "2025-06-01T13:00:00Z" {
					t.Errorf("headers = %v", hdr)
				}
			} else if hdr.Get("X-Jit-User") != "" || hdr.Get("X-Jit-Request") != "" {
				t.Errorf("refusal carries grant headers: %v", hdr)
			}
		})
	}
	// Bad proxy headers.
	for _, hdrs := range [][]string{
		{"X-Original-URL", "/relative/only"},
		{"X-Original-URL", "ftp://demo.localhost/x"},
		{"X-Forwarded-Host", "demo.localhost", "X-Forwarded-Uri", "http://evil.example.com/x"},
	} {
		h := newHarness(t)
		w := h.do("GET", "/api/v1/authz", "", hdrs...)
		if w.Code != 400 || len(h.svc.Calls()) != 0 {
			t.Errorf("%v: status %d, calls %+v", hdrs, w.Code, h.svc.Calls())
		}
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no service", func(c *Config) { c.Service = nil }, "service is required"},
		{"no authenticators", func(c *Config) { c.Authenticators = nil }, "at least one authenticator"},
		{"nil authenticator", func(c *Config) { c.Authenticators = []Authenticator{nil} }, "authenticator 0 is nil"},
		{"token auth without store", func(c *Config) { c.Authenticators = []Authenticator{TokenAuth{}} }, "has no store"},
		{"proxy without verifier", func(c *Config) { c.Authenticators = []Authenticator{ProxyJWT{}} }, "has no verifier"},
		{"negative body limit", func(c *Config) { c.MaxBodyBytes = -1 }, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Service: &recService{}, Authenticators: []Authenticator{headerAuth{}}}
			tt.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := New(Config{Service: &recService{}, Authenticators: []Authenticator{headerAuth{}}}); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
}

func TestSmallerBodyLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 16 })
	w := h.do("POST", "/api/v1/requests/req_1/approve", `{"comment":"this is longer than sixteen bytes"}`)
	if w.Code != 413 {
		t.Fatalf("status = %d", w.Code)
	}
	if p := decodeProblem(t, w); p.Code != "body_too_large" {
		t.Errorf("code = %q", p.Code)
	}
}
