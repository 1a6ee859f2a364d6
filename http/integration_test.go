package jithttp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	jithttp "github.com/jitaccess/jit/http"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/workflow"
)

// These tests run the API against the real service, store and scheduler
// over a real loopback listener (internal/jitdtest, demo policy: alice in
// engineering requests demo-app, bob in sre approves, carol is an admin).

type apiClient struct {
	t    *testing.T
	base string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c apiClient) call(token, method, path, body string, headers ...string) answer {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Jit-Client", "cli")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a answer) problem(t *testing.T) jithttp.Problem {
	t.Helper()
	var p jithttp.Problem
	if a.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, Content-Type %q, body %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (a answer) request(t *testing.T) jit.Request {
	t.Helper()
	var r jit.Request
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Fatalf("decode request: %v (%s)", err, a.body)
	}
	return r
}

func expect(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, a.status, status, a.body)
	}
}

func TestIntegrationLifecycle(t *testing.T) {
	srv := jitdtest.Start(t, jitdtest.Options{})
	c := apiClient{t: t, base: srv.URL}

	// Identity: dev tokens over loopback; nothing without a token.
	expect(t, "no token", c.call("", "GET", "/api/v1/whoami", ""), 401)
	expect(t, "unknown api token", c.call("jit_notarealtoken", "GET", "/api/v1/whoami", ""), 401)
	a := c.call(jitdtest.Alice, "GET", "/api/v1/whoami", "")
	expect(t, "whoami", a, 200)
	var id jit.Identity
	if err := json.Unmarshal(a.body, &id); err != nil || id.Email != "alice@example.com" || id.Via != "dev-token" {
		t.Fatalf("whoami = %+v (%v)", id, err)
	}

	// Bad input is refused with its code by the HTTP layer.
	p := c.call(jitdtest.Alice, "POST", "/api/v1/requests", `{"resource":"demo-app","duration":"1h","reason":"x","extra":1}`).problem(t)
	if p.Code != jit.ECodeUnknownField || p.Field != "extra" {
		t.Fatalf("unknown field: %+v", p)
	}
	p = c.call(jitdtest.Alice, "POST", "/api/v1/requests", `{"resource":"demo-app","duration":"soon","reason":"x"}`).problem(t)
	if p.Code != jit.ECodeInvalidDur || p.Field != "duration" {
		t.Fatalf("bad duration: %+v", p)
	}
	// ...and by the policy.
	p = c.call(jitdtest.Alice, "POST", "/api/v1/requests", `{"resource":"demo-app","duration":"1h"}`).problem(t)
	if p.Status != 400 || p.Code == "" {
		t.Fatalf("missing reason: %+v", p)
	}
	p = c.call(jitdtest.Alice, "POST", "/api/v1/requests", `{"resource":"no-such-app","duration":"1h","reason":"x"}`).problem(t)
	if p.Code != jit.ECodeUnknownResource {
		t.Fatalf("unknown resource: %+v", p)
	}

	// Before any grant, forward-auth refuses.
	a = c.call(jitdtest.Alice, "GET", "/api/v1/authz?resource=demo-app", "")
	expect(t, "authz before grant", a, 403)

	// Submit.
	a = c.call(jitdtest.Alice, "POST", "/api/v1/requests", `{"resource":"demo-app","duration":"1h","reason":"INC-42"}`)
	expect(t, "submit", a, 201)
	req := a.request(t)
	if req.Status != jit.StatusPending || req.Requester != "alice@example.com" || req.Duration != time.Hour {
		t.Fatalf("submitted = %+v", req)
	}
	if a.header.Get("Location") != "/api/v1/requests/"+req.ID {
		t.Errorf("Location = %q", a.header.Get("Location"))
	}
	path := "/api/v1/requests/" + req.ID

	// The requester cannot approve it; an engineer who is not an approver
	// neither; bob can, once.
	p = c.call(jitdtest.Alice, "POST", path+"/approve", `{"comment":"me"}`).problem(t)
	if p.Status != 403 || p.Code != jit.ECodeSelfApproval {
		t.Fatalf("self approval: %+v", p)
	}
	expect(t, "approve", c.call(jitdtest.Bob, "POST", path+"/approve", `{"comment":"ok"}`), 200)

	// Long-poll until the grant is active.
	a = c.call(jitdtest.Alice, "GET", path+"?wait=30s&while=pending,approved,granting", "")
	expect(t, "wait", a, 200)
	if got := a.request(t); got.Status != jit.StatusActive || got.ExpiresAt == nil {
		t.Fatalf("after wait: %+v", got)
	}

	// Forward-auth now allows alice, by name and by the proxy's headers.
	a = c.call(jitdtest.Alice, "GET", "/api/v1/authz?resource=demo-app", "")
	expect(t, "authz after grant", a, 200)
	if a.header.Get("X-Jit-User") != "alice@example.com" || a.header.Get("X-Jit-Request") != req.ID || a.header.Get("X-Jit-Expires-At") == "" {
		t.Errorf("authz headers = %v", a.header)
	}
	var res workflow.AuthzResult
	if err := json.Unmarshal(a.body, &res); err != nil || !res.Allowed || res.RequestID != req.ID {
		t.Errorf("authz body = %s", a.body)
	}
	expect(t, "authz via traefik headers", c.call(jitdtest.Alice, "GET", "/api/v1/authz", "",
		"X-Forwarded-Host", "demo.localhost", "X-Forwarded-Uri", "/dashboard?tab=1"), 200)
	expect(t, "authz via nginx header", c.call(jitdtest.Alice, "GET", "/api/v1/authz", "",
		"X-Original-URL", "http://demo.localhost/dashboard"), 200)
	expect(t, "authz for bob", c.call(jitdtest.Bob, "GET", "/api/v1/authz?resource=demo-app", ""), 403)
	expect(t, "authz without identity", c.call("", "GET", "/api/v1/authz?resource=demo-app", ""), 401)

	// Approving again is a state problem now.
	p = c.call(jitdtest.Bob, "POST", path+"/approve", `{}`).problem(t)
	if p.Status != 409 {
		t.Errorf("approve active: %+v", p)
	}

	// Relinquish ends it; forward-auth refuses again.
	expect(t, "relinquish", c.call(jitdtest.Alice, "POST", path+"/relinquish", ""), 200)
	a = c.call(jitdtest.Alice, "GET", path+"?wait=30s&while=active,revoking", "")
	if got := a.request(t); got.Status != jit.StatusRelinquished {
		t.Fatalf("after relinquish: %+v", got)
	}
	expect(t, "authz after relinquish", c.call(jitdtest.Alice, "GET", "/api/v1/authz?resource=demo-app", ""), 403)

	// Listing, visibility, and the audit trail.
	a = c.call(jitdtest.Alice, "GET", "/api/v1/requests?scope=mine&status=relinquished", "")
	expect(t, "list", a, 200)
	var page workflow.Page
	if err := json.Unmarshal(a.body, &page); err != nil || len(page.Items) != 1 || page.Items[0].ID != req.ID {
		t.Errorf("list = %s", a.body)
	}
	p = c.call(jitdtest.Alice, "GET", "/api/v1/requests/req_does_not_exist", "").problem(t)
	if p.Status != 404 || p.Code != jit.ECodeNotFound {
		t.Errorf("missing request: %+v", p)
	}
	p = c.call(jitdtest.Alice, "GET", "/api/v1/audit", "").problem(t)
	if p.Status != 403 {
		t.Errorf("whole audit log as alice: %+v", p)
	}
	a = c.call(jitdtest.Carol, "GET", "/api/v1/audit?request="+req.ID, "")
	expect(t, "audit", a, 200)
	var events struct {
		Items []jit.AuditEvent `json:"items"`
	}
	if err := json.Unmarshal(a.body, &events); err != nil {
		t.Fatal(err)
	}
	actions := map[string]jit.AuditEvent{}
	for _, e := range events.Items {
		actions[e.Action] = e
	}
	for _, want := range []string{jit.ActionSubmit, jit.ActionApprove, jit.ActionGrant, jit.ActionRelinquish} {
		if _, ok := actions[want]; !ok {
			t.Errorf("audit lacks %s: %s", want, a.body)
		}
	}
	if sub := actions[jit.ActionSubmit]; sub.Source.Kind != "cli" || sub.Source.IP != "127.0.0.1" {
		t.Errorf("submit source = %+v", sub.Source)
	}
}

func TestIntegrationDenyCancelAndOperations(t *testing.T) {
	srv := jitdtest.Start(t, jitdtest.Options{})
	c := apiClient{t: t, base: srv.URL}

	submit := func() string {
		a := c.call(jitdtest.Alice, "POST", "/api/v1/requests", `{"resource":"demo-app","duration":"2h","reason":"INC-7"}`)
		expect(t, "submit", a, 201)
		return "/api/v1/requests/" + a.request(t).ID
	}

	// Deny needs a reason; then it ends the request.
	path := submit()
	p := c.call(jitdtest.Bob, "POST", path+"/deny", `{}`).problem(t)
	if p.Code != jit.ECodeReasonNeeded || p.Field != "reason" {
		t.Fatalf("deny without reason: %+v", p)
	}
	a := c.call(jitdtest.Bob, "POST", path+"/deny", `{"reason":"not during the freeze"}`)
	expect(t, "deny", a, 200)
	if r := a.request(t); r.Status != jit.StatusDenied {
		t.Fatalf("denied = %+v", r)
	}
	p = c.call(jitdtest.Alice, "POST", path+"/cancel", "").problem(t)
	if p.Status != 409 || p.Code != jit.ECodeInvalidState {
		t.Errorf("cancel denied: %+v", p)
	}

	// Only the requester cancels.
	path = submit()
	p = c.call(jitdtest.Bob, "POST", path+"/cancel", "").problem(t)
	if p.Status != 403 && p.Status != 404 {
		t.Errorf("cancel by bob: %+v", p)
	}
	a = c.call(jitdtest.Alice, "POST", path+"/cancel", "")
	expect(t, "cancel", a, 200)
	if r := a.request(t); r.Status != jit.StatusCancelled {
		t.Errorf("cancelled = %+v", r)
	}

	// Operations endpoints.
	a = c.call("", "GET", "/healthz", "")
	expect(t, "healthz", a, 200)
	expect(t, "readyz", c.call("", "GET", "/readyz", ""), 200)
	a = c.call("", "GET", "/metrics", "")
	expect(t, "metrics", a, 200)
	if !strings.Contains(string(a.body), `jit_http_requests_total{code="201",route="POST /api/v1/requests"} 2`) {
		t.Errorf("metrics lack the submits:\n%s", a.body)
	}
	a = c.call("", "GET", "/api/v1/openapi.json", "")
	expect(t, "openapi", a, 200)
	var doc map[string]any
	if err := json.Unmarshal(a.body, &doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: %v", err)
	}
	a = c.call(jitdtest.Carol, "GET", "/api/v1/audit/verify", "")
	expect(t, "verify", a, 200)
	var vr struct {
		OK      bool  `json:"ok"`
		Checked int64 `json:"checked"`
	}
	if err := json.Unmarshal(a.body, &vr); err != nil || !vr.OK {
		t.Errorf("verify = %s", a.body)
	}
	expect(t, "verify as alice", c.call(jitdtest.Alice, "GET", "/api/v1/audit/verify", ""), 403)

	// Explain.
	a = c.call(jitdtest.Alice, "GET", "/api/v1/policy/explain?resource=demo-app&duration=9h&reason=x", "")
	expect(t, "explain", a, 200)
	var d struct {
		Allowed bool   `json:"allowed"`
		Code    string `json:"code"`
	}
	if err := json.Unmarshal(a.body, &d); err != nil || d.Allowed || d.Code != jit.ECodeDurationTooLong {
		t.Errorf("explain 9h = %s", a.body)
	}
}
