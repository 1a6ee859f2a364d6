package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/pagerduty"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"
)

const onCallPolicy = `
server: {lapse_after: 2h, pagerduty: {token_env: JIT_TEST_PAGERDUTY_TOKEN}}
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: erin@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
resources:
  - {name: RES, provider: wftest, access: [read]}
rules:
  - name: engineers
    requesters: {groups: [engineering]}
    resources: [RES]
    max_duration: 8h
    approvers: {groups: [sre]}
  - name: oncall-fast-path
    requesters: {groups: [engineering]}
    resources: [RES]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      oncall: {pagerduty: {schedules: [PSCHED1], escalation_policies: [PEP1]}}
`

// newOnCallEnv is newEnvWith for onCallPolicy.
func newOnCallEnv(t *testing.T, configure func(*workflow.Config)) *env {
	t.Helper()
	res := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	targets.Store(res, &target{access: map[string]time.Time{}})
	pol, err := policy.Parse("test.yaml", []byte(strings.ReplaceAll(onCallPolicy, "RES", res)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	holder := policy.NewHolder(pol)
	cfg := workflow.Config{Store: st, Policy: holder, Clock: clk}
	if configure != nil {
		configure(&cfg)
	}
	svc, err := workflow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := targets.Load(res)
	return &env{t: t, svc: svc, store: st, clock: clk, target: tg.(*target), holder: holder}
}

// onCallDouble is an OnCallChecker whose answer the test sets; it records
// what it was asked.
type onCallDouble struct {
	mu     sync.Mutex
	result policy.OnCallResult
	err    error
	// block makes OnCall wait for its context to end.
	block bool
	asked []string // "email schedules escalation-policies"
}

func (o *onCallDouble) OnCall(ctx context.Context, email string, schedules, policies []string) (policy.OnCallResult, error) {
	o.mu.Lock()
	o.asked = append(o.asked, email+" "+strings.Join(schedules, ",")+" "+strings.Join(policies, ","))
	res, err, block := o.result, o.err, o.block
	o.mu.Unlock()
	if block {
		<-ctx.Done()
		return policy.OnCallResult{}, ctx.Err()
	}
	return res, err
}

func (o *onCallDouble) calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.asked)
}

func (e *env) events(id string) []jit.AuditEvent {
	e.t.Helper()
	evs, err := e.store.ListAudit(context.Background(), jit.AuditFilter{RequestID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func findEvent(evs []jit.AuditEvent, action string) *jit.AuditEvent {
	for i := range evs {
		if evs[i].Action == action {
			return &evs[i]
		}
	}
	return nil
}

func TestSubmitOnCall(t *testing.T) {
	until := time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)
	boom := errors.New("pagerduty: on-call list for schedule:PSCHED1: API answered HTTP 401: Unauthorized")
	tests := []struct {
		name string
		// checker is nil for a Service without one.
		checker    *onCallDouble
		dur        time.Duration
		auto       bool
		asked      bool
		oncallErr  string // in the submit event's details
		wantDetail map[string]string
	}{
		{name: "on call", checker: &onCallDouble{result: policy.OnCallResult{OnCall: true, Via: "schedule:PSCHED1", Until: until}},
			auto: true, asked: true, wantDetail: map[string]string{"rule": "oncall-fast-path", "oncall": "schedule:PSCHED1", "oncall_until": "2026-11-23T17:00:00Z"}},
		{name: "on call without an end", checker: &onCallDouble{result: policy.OnCallResult{OnCall: true, Via: "escalation_policy:PEP1"}},
			auto: true, asked: true, wantDetail: map[string]string{"rule": "oncall-fast-path", "oncall": "escalation_policy:PEP1"}},
		{name: "not on call", checker: &onCallDouble{}, asked: true},
		{name: "lookup failed", checker: &onCallDouble{err: boom}, asked: true, oncallErr: boom.Error()},
		{name: "the result of a failed lookup is ignored", checker: &onCallDouble{result: policy.OnCallResult{OnCall: true, Via: "schedule:PSCHED1"}, err: boom},
			asked: true, oncallErr: "HTTP 401"},
		{name: "lookup too slow", checker: &onCallDouble{block: true}, asked: true, oncallErr: context.DeadlineExceeded.Error()},
		{name: "longer than automatic approval covers", checker: &onCallDouble{result: policy.OnCallResult{OnCall: true, Via: "schedule:PSCHED1"}},
			dur: 2 * time.Hour},
		{name: "no checker", oncallErr: "jitd has no connection to PagerDuty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOnCallEnv(t, func(c *workflow.Config) {
				if tt.checker != nil {
					c.OnCall = tt.checker
				}
				// The slow lookup waits for this; the others answer at once.
				c.OnCallTimeout = 50 * time.Millisecond
			})
			if tt.dur == 0 {
				tt.dur = 30 * time.Minute
			}
			r := e.submit("alice@example.com", workflow.SubmitInput{Duration: tt.dur, Reason: "INC-7 orders failing"})
			if tt.checker != nil {
				want := []string(nil)
				if tt.asked {
					want = []string{"alice@example.com PSCHED1 PEP1"}
				}
				if got := tt.checker.calls(); !slices.Equal(got, want) {
					t.Errorf("lookups %q, want %q", got, want)
				}
			}
			evs := e.events(r.ID)
			submit := findEvent(evs, jit.ActionSubmit)
			if submit == nil {
				t.Fatalf("no submit event: %+v", evs)
			}
			if got := submit.Details["oncall_error"]; tt.oncallErr == "" && got != "" || !strings.Contains(got, tt.oncallErr) {
				t.Errorf("submit detail oncall_error = %q, want %q", got, tt.oncallErr)
			}
			auto := findEvent(evs, jit.ActionAutoApprove)
			if !tt.auto {
				if r.Status != jit.StatusPending || r.AutoApproved || r.Rule != "engineers" || r.ApprovalsRequired != 1 || auto != nil {
					t.Fatalf("request %+v (auto_approve event %+v), want pending under engineers", r, auto)
				}
				// It waits for its approvers like any other.
				if _, err := e.svc.Approve(as("bob@example.com"), r.ID, "ok"); err != nil {
					t.Fatal(err)
				}
				if got := e.get(r.ID).Status; got != jit.StatusApproved {
					t.Fatalf("after approval: %s", got)
				}
				return
			}
			if r.Status != jit.StatusApproved || !r.AutoApproved || r.Rule != "oncall-fast-path" || r.ApprovalsRequired != 0 {
				t.Fatalf("request %+v, want approved automatically under oncall-fast-path", r)
			}
			if auto == nil || auto.Actor != jit.SystemActor || !mapsEqual(auto.Details, tt.wantDetail) {
				t.Fatalf("auto_approve event %+v, want details %v", auto, tt.wantDetail)
			}
			e.runDue()
			if a := e.get(r.ID); a.Status != jit.StatusActive || !a.ExpiresAt.Equal(e.clock.Now().Add(tt.dur)) {
				t.Fatalf("after grant: %+v", a)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A checker that panics is one more failure: normal approval.
func TestSubmitOnCallCheckerPanics(t *testing.T) {
	e := newOnCallEnv(t, func(c *workflow.Config) {
		c.OnCall = workflow.OnCallFunc(func(context.Context, string, []string, []string) (policy.OnCallResult, error) {
			panic("broken")
		})
	})
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 30 * time.Minute})
	if r.Status != jit.StatusPending || r.AutoApproved {
		t.Fatalf("request %+v, want pending", r)
	}
	if got := findEvent(e.events(r.ID), jit.ActionSubmit).Details["oncall_error"]; !strings.Contains(got, "panicked: broken") {
		t.Fatalf("oncall_error = %q", got)
	}
}

func TestExplainOnCall(t *testing.T) {
	checker := &onCallDouble{result: policy.OnCallResult{OnCall: true, Via: "schedule:PSCHED1", Until: time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)}}
	e := newOnCallEnv(t, func(c *workflow.Config) { c.OnCall = checker })
	in := workflow.ExplainInput{Resource: e.resource(), Duration: 30 * time.Minute}
	d, err := e.svc.Explain(as("alice@example.com"), in)
	if err != nil {
		t.Fatal(err)
	}
	if !d.AutoApproved || d.Rule != "oncall-fast-path" || d.OnCall == nil || d.OnCall.Via != "schedule:PSCHED1" ||
		!has(d.Explanation, "alice@example.com is on call in PagerDuty via schedule:PSCHED1 until 2026-11-23T17:00:00Z") {
		t.Fatalf("explain while on call: %+v", d)
	}

	checker.mu.Lock()
	checker.result, checker.err = policy.OnCallResult{}, errors.New("rate limited by the PagerDuty API; retry after 10s")
	checker.mu.Unlock()
	d, err = e.svc.Explain(as("alice@example.com"), in)
	if err != nil {
		t.Fatal(err)
	}
	if d.AutoApproved || d.Rule != "engineers" || d.OnCall != nil ||
		!has(d.Explanation, "PagerDuty could not say whether alice@example.com is on call in schedule PSCHED1 or escalation policy PEP1: rate limited by the PagerDuty API; retry after 10s; normal approval") {
		t.Fatalf("explain when PagerDuty fails: %+v", d)
	}
	// An admin explaining for someone else looks up that person.
	if _, err := e.svc.Explain(as("carol@example.com"), workflow.ExplainInput{Resource: e.resource(), Duration: time.Hour, As: "Erin@example.com"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"alice@example.com PSCHED1 PEP1", "alice@example.com PSCHED1 PEP1", "erin@example.com PSCHED1 PEP1"}
	if got := checker.calls(); !slices.Equal(got, want) {
		t.Fatalf("lookups %q, want %q", got, want)
	}
}

func has(lines []string, sub string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, sub) })
}

// fakePagerDuty answers GET /oncalls as PagerDuty's REST API v2 documents
// it ("List all of the on-calls"): on-call objects with user (with email
// when include[]=users), schedule and escalation_policy references, start
// and end in ISO 8601, and classic pagination.
type fakePagerDuty struct {
	token string
	mu    sync.Mutex
	// fail, when set, is the HTTP status every request gets.
	fail    int
	shifts  []pdShift
	queries []string
}

type pdShift struct {
	email, schedule, policy string
	start, end              time.Time
}

func (f *fakePagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	fail, shifts := f.fail, slices.Clone(f.shifts)
	f.mu.Unlock()
	writeError := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "code": 2006}})
	}
	if r.Header.Get("Authorization") != "Token token="+f.token {
		writeError(http.StatusUnauthorized, "Unauthorized")
		return
	}
	if fail != 0 {
		writeError(fail, "Internal Server Error")
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/oncalls" {
		writeError(http.StatusNotFound, "Not Found")
		return
	}
	q := r.URL.Query()
	since, err1 := time.Parse(time.RFC3339, q.Get("since"))
	until, err2 := time.Parse(time.RFC3339, q.Get("until"))
	if err1 != nil || err2 != nil {
		writeError(http.StatusBadRequest, "Invalid Input Provided")
		return
	}
	schedules, policies := q["schedule_ids[]"], q["escalation_policy_ids[]"]
	users := slices.Contains(q["include[]"], "users")
	oncalls := []map[string]any{}
	for i, s := range shifts {
		if len(schedules) > 0 && !slices.Contains(schedules, s.schedule) || len(policies) > 0 && !slices.Contains(policies, s.policy) {
			continue
		}
		if !s.end.After(since) || s.start.After(until) {
			continue
		}
		user := map[string]any{"id": "PUSER" + string(rune('A'+i)), "type": "user_reference", "summary": s.email}
		if users {
			user["type"], user["email"], user["name"] = "user", s.email, s.email
		}
		oncalls = append(oncalls, map[string]any{
			"user":              user,
			"schedule":          map[string]any{"id": s.schedule, "type": "schedule_reference"},
			"escalation_policy": map[string]any{"id": s.policy, "type": "escalation_policy_reference"},
			"escalation_level":  1,
			"start":             s.start.Format(time.RFC3339),
			"end":               s.end.Format(time.RFC3339),
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"oncalls": oncalls, "limit": 100, "offset": 0, "more": false, "total": nil})
}

// TestSubmitOnCallThroughPagerDuty runs the PagerDuty client against a
// server speaking PagerDuty's on-call API, wired to the Service as jitd
// wires it.
func TestSubmitOnCallThroughPagerDuty(t *testing.T) {
	const token = "u+jit-test-pagerduty-token"
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	fake := &fakePagerDuty{token: token, shifts: []pdShift{
		{email: "Alice@Example.com", schedule: "PSCHED1", policy: "PEP1", start: now.Add(-time.Hour), end: now.Add(7 * time.Hour)},
		{email: "erin@example.com", schedule: "POTHER", policy: "PEP2", start: now.Add(-time.Hour), end: now.Add(time.Hour)},
	}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)

	var clk *clock
	e := newOnCallEnv(t, func(c *workflow.Config) {
		clk = c.Clock.(*clock)
		pd, err := pagerduty.New(pagerduty.Config{Token: token, BaseURL: srv.URL, Clock: clk, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		c.OnCall = workflow.OnCallFunc(func(ctx context.Context, email string, schedules, policies []string) (policy.OnCallResult, error) {
			r, err := pd.OnCall(ctx, email, schedules, policies)
			return policy.OnCallResult{OnCall: r.OnCall, Via: r.Via, Until: r.Until}, err
		})
	})

	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 45 * time.Minute, Reason: "INC-9"})
	if r.Status != jit.StatusApproved || !r.AutoApproved || r.Rule != "oncall-fast-path" {
		t.Fatalf("alice, on call: %+v", r)
	}
	auto := findEvent(e.events(r.ID), jit.ActionAutoApprove)
	if auto == nil || auto.Details["oncall"] != "schedule:PSCHED1" || auto.Details["oncall_until"] != "2026-11-23T17:00:00Z" {
		t.Fatalf("auto_approve event: %+v", auto)
	}
	e.runDue()
	if a := e.get(r.ID); a.Status != jit.StatusActive || !e.target.has(r.ID) {
		t.Fatalf("after grant: %+v", a)
	}

	// Erin is on call, but not in the rule's schedule or escalation policy.
	r = e.submit("erin@example.com", workflow.SubmitInput{Duration: 30 * time.Minute, Reason: "INC-9"})
	if r.Status != jit.StatusPending || r.AutoApproved || r.Rule != "engineers" {
		t.Fatalf("erin, not on call there: %+v", r)
	}
	fake.mu.Lock()
	asked := slices.Clone(fake.queries)
	fake.mu.Unlock()
	for _, q := range asked {
		if !strings.Contains(q, "include%5B%5D=users") {
			t.Errorf("a query without the users' emails: %s", q)
		}
	}

	// PagerDuty fails once the cached lists are stale: nothing is approved
	// automatically, not even for the person on call.
	fake.mu.Lock()
	fake.fail = http.StatusInternalServerError
	fake.mu.Unlock()
	clk.Add(2 * pagerduty.DefaultCacheTTL)
	r = e.submit("alice@example.com", workflow.SubmitInput{Duration: 30 * time.Minute, Reason: "INC-10"})
	if r.Status != jit.StatusPending || r.AutoApproved {
		t.Fatalf("alice, PagerDuty failing: %+v", r)
	}
	if got := findEvent(e.events(r.ID), jit.ActionSubmit).Details["oncall_error"]; !strings.Contains(got, "HTTP 500") || strings.Contains(got, token) {
		t.Fatalf("oncall_error = %q", got)
	}
}
