package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// testConfig is the policy most decision tests run against.
const testConfig = `
server:
  base_url: https://jit.example.com
admins: [carol@example.com, "group:security"]
identities:
  - {email: alice@example.com, groups: [engineering], name: Alice}
  - {email: bob@example.com, groups: [sre]}
  - {email: Dave@Example.com, groups: [contractors]}
  - {email: erin@example.com, groups: [engineering, oncall]}
  - {email: frank@example.com, groups: [security]}
  - {email: gina@example.com, groups: [dba]}
groups:
  sre: [hank@example.com]
  dba: [ivan@example.com]
resources:
  - name: demo-app
    description: Demo internal web app
    provider: policytest
    settings: {host: demo.localhost, path_prefix: /}
    access:
      - {name: user, description: Use the app}
      - {name: admin}
    default_access: user
    labels: {env: prod}
  - name: staging-db
    provider: policytest
    access: [{name: read}, {name: write}]
    labels: {env: staging}
  - name: staging-web
    provider: policytest
    access: [{name: user}]
  - name: prod-db
    provider: policytest
    access: [{name: read}, {name: write}]
    labels: {env: prod, tier: data}
rules:
  - name: engineers-demo-app
    description: Engineers may use the demo app with SRE approval
    requesters: {groups: [engineering], users: [dave@example.com]}
    resources: [demo-app]
    access: [user]
    max_duration: 8h
    reason: {required: true, pattern: "^(INC|CHG)-[0-9]+"}
    approvers: {groups: [sre]}
  - name: oncall-demo-auto
    requesters: {groups: [oncall]}
    resources: [demo-app]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve: {max_duration: 1h}
  - name: staging-everyone
    requesters: {everyone: true}
    resources: ["staging-*"]
    max_duration: 1d
    auto_approve: true
    approvals: 0
  - name: prod-db-read
    requesters: {groups: [engineering, dba]}
    resources: [prod-db]
    access: [read]
    max_duration: 2h
    approvers: {peers: true}
    approvals: 2
  - name: prod-db-write
    requesters: {groups: [dba]}
    resources: [prod-db]
    access: [write]
    max_duration: 1h
    reason: {required: true}
    approvers: {groups: [dba], users: [carol@example.com]}
    self_approval: true
    condition: 'time.getHours() >= 9 && time.getHours() < 17'
  - name: security-demo-admin
    requesters: {groups: [security]}
    resources: [demo-app]
    access: [admin]
    max_duration: 30m
    approvers: {users: [carol@example.com]}
    condition: 'requester.admin && resource.labels.env == "prod" && access == "admin" && duration <= duration("15m") && reason.startsWith("SEC-")'
`

var (
	workHours = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	night     = time.Date(2025, 3, 4, 22, 0, 0, 0, time.UTC)
)

func TestDecide(t *testing.T) {
	p := mustParse(t, testConfig)
	tests := []struct {
		name     string
		who      string
		groups   []string // extra groups asserted by the caller
		resource string
		access   string
		dur      time.Duration
		reason   string
		at       time.Time

		code           string // "" means allowed
		field          string
		msg            []string // substrings of the message
		rule           string
		wantAccess     string
		auto           bool
		approvals      int
		approvers      []string
		approverEmails []string
		selfApproval   bool
		maxDuration    time.Duration
		explain        []string // substrings that some explanation line holds
	}{
		{name: "unknown resource", who: "alice@example.com", resource: "nope", dur: time.Hour,
			code: jit.ECodeUnknownResource, field: "resource", msg: []string{`"nope"`}},
		{name: "no access and no default", who: "alice@example.com", resource: "staging-db", dur: time.Hour,
			code: jit.ECodeUnknownAccess, field: "access", msg: []string{"read, write", "--access"}},
		{name: "unknown access level", who: "alice@example.com", resource: "demo-app", access: "root", dur: time.Hour,
			code: jit.ECodeUnknownAccess, field: "access", msg: []string{`"root"`, "user, admin"}},
		{name: "default access filled in", who: "alice@example.com", resource: "demo-app", dur: 2 * time.Hour, reason: "INC-42",
			rule: "engineers-demo-app", wantAccess: "user", approvals: 1, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 8 * time.Hour,
			explain: []string{"access user (the default)", "rule engineers-demo-app: allows (requester via group engineering", "outcome: allowed by rule engineers-demo-app, needs 1 approval from group:sre"}},
		{name: "only level filled in, glob, everyone, auto", who: "nobody@elsewhere.org", resource: "staging-web", dur: 3 * time.Hour,
			rule: "staging-everyone", wantAccess: "user", auto: true, approvals: 0, maxDuration: 24 * time.Hour,
			explain: []string{"(the only level)", "requester via everyone", "approves automatically", "outcome: allowed by rule staging-everyone, approved automatically"}},
		{name: "zero duration", who: "alice@example.com", resource: "demo-app", dur: 0, reason: "INC-1",
			code: jit.ECodeInvalidDur, field: "duration"},
		{name: "negative duration", who: "alice@example.com", resource: "demo-app", dur: -time.Hour, reason: "INC-1",
			code: jit.ECodeInvalidDur, field: "duration"},
		{name: "too long", who: "alice@example.com", resource: "demo-app", dur: 10 * time.Hour, reason: "INC-1",
			code: jit.ECodeDurationTooLong, field: "duration", msg: []string{"10h", "8h", "engineers-demo-app"}, maxDuration: 8 * time.Hour,
			explain: []string{"duration 10h exceeds max_duration 8h"}},
		{name: "reason required", who: "alice@example.com", resource: "demo-app", dur: time.Hour,
			code: jit.ECodeJustificationNeed, field: "reason", msg: []string{"engineers-demo-app", "^(INC|CHG)-[0-9]+"}},
		{name: "reason of spaces counts as none", who: "alice@example.com", resource: "demo-app", dur: time.Hour, reason: "   ",
			code: jit.ECodeJustificationNeed, field: "reason"},
		{name: "reason mismatch", who: "alice@example.com", resource: "demo-app", dur: time.Hour, reason: "because",
			code: jit.ECodeJustificationBad, field: "reason", msg: []string{"^(INC|CHG)-[0-9]+"}},
		{name: "reason trimmed before matching", who: "alice@example.com", resource: "demo-app", dur: time.Hour, reason: "  CHG-7 ",
			rule: "engineers-demo-app", wantAccess: "user", approvals: 1, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 8 * time.Hour, explain: []string{`reason "CHG-7"`}},
		{name: "reason too long", who: "alice@example.com", resource: "demo-app", dur: time.Hour, reason: "INC-1 " + strings.Repeat("é", 1000),
			code: jit.ECodeInvalid, field: "reason", msg: []string{"1006", "1000"}},
		{name: "no matching rule", who: "bob@example.com", resource: "demo-app", dur: time.Hour, reason: "INC-1",
			code: jit.ECodeNotAllowed, msg: []string{"bob@example.com", "demo-app", "user"},
			explain: []string{"rule engineers-demo-app: skipped: bob@example.com is not among its requesters (groups engineering; users dave@example.com)"}},
		{name: "access not covered by rule", who: "alice@example.com", resource: "demo-app", access: "admin", dur: time.Minute,
			code: jit.ECodeNotAllowed, msg: []string{"admin"},
			explain: []string{"rule engineers-demo-app: skipped: it does not cover access admin (only user)"}},
		{name: "user listed by email, case-insensitive", who: "DAVE@example.COM", resource: "demo-app", dur: time.Hour, reason: "INC-9",
			rule: "engineers-demo-app", wantAccess: "user", approvals: 1, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 8 * time.Hour, explain: []string{"requester via user dave@example.com"}},
		{name: "group asserted by caller counts", who: "zed@example.com", groups: []string{"engineering"}, resource: "demo-app", dur: time.Hour, reason: "INC-9",
			rule: "engineers-demo-app", wantAccess: "user", approvals: 1, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 8 * time.Hour},
		{name: "auto-approving rule preferred over earlier rule", who: "erin@example.com", resource: "demo-app", dur: 30 * time.Minute, reason: "INC-1",
			rule: "oncall-demo-auto", wantAccess: "user", auto: true, approvals: 0, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 4 * time.Hour,
			explain: []string{"rule engineers-demo-app: allows", "rule oncall-demo-auto: allows (requester via group oncall, max_duration 4h): approves automatically"}},
		{name: "first passing rule when auto does not apply", who: "erin@example.com", resource: "demo-app", dur: 2 * time.Hour, reason: "INC-1",
			rule: "engineers-demo-app", wantAccess: "user", approvals: 1, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 8 * time.Hour,
			explain: []string{"auto_approve does not apply: duration 2h exceeds its max_duration 1h"}},
		{name: "later rule passes when earlier fails", who: "erin@example.com", resource: "demo-app", dur: 2 * time.Hour,
			rule: "oncall-demo-auto", wantAccess: "user", approvals: 1, approvers: []string{"group:sre"},
			approverEmails: []string{"bob@example.com", "hank@example.com"}, maxDuration: 4 * time.Hour,
			explain: []string{"rule engineers-demo-app: refused: rule engineers-demo-app requires a reason"}},
		{name: "first specific failure in file order reported", who: "erin@example.com", resource: "demo-app", dur: 5 * time.Hour,
			code: jit.ECodeJustificationNeed, field: "reason", msg: []string{"engineers-demo-app"},
			explain: []string{"rule oncall-demo-auto: refused: duration 5h exceeds max_duration 4h"}},
		{name: "duration failure before reason failure within a rule", who: "erin@example.com", resource: "demo-app", dur: 9 * time.Hour,
			code: jit.ECodeDurationTooLong, field: "duration", msg: []string{"9h", "8h"}, maxDuration: 8 * time.Hour,
			explain: []string{"rule engineers-demo-app: refused: duration 9h exceeds max_duration 8h; rule engineers-demo-app requires a reason"}},
		{name: "peers", who: "alice@example.com", resource: "prod-db", access: "read", dur: time.Hour,
			rule: "prod-db-read", wantAccess: "read", approvals: 2, approvers: []string{"peers"},
			approverEmails: []string{"erin@example.com", "gina@example.com", "ivan@example.com"}, maxDuration: 2 * time.Hour},
		{name: "self approval keeps requester among approvers", who: "gina@example.com", resource: "prod-db", access: "write", dur: time.Hour, reason: "migration", at: workHours,
			rule: "prod-db-write", wantAccess: "write", approvals: 1, approvers: []string{"group:dba", "user:carol@example.com"},
			approverEmails: []string{"carol@example.com", "gina@example.com", "ivan@example.com"}, selfApproval: true, maxDuration: time.Hour},
		{name: "time condition false", who: "gina@example.com", resource: "prod-db", access: "write", dur: time.Hour, reason: "migration", at: night,
			code: jit.ECodeNotAllowed, msg: []string{"conditions"},
			explain: []string{"rule prod-db-write: refused: its condition is false: time.getHours() >= 9"}},
		{name: "specific failure preferred over false condition", who: "gina@example.com", resource: "prod-db", access: "write", dur: 3 * time.Hour, at: workHours,
			code: jit.ECodeDurationTooLong, field: "duration", msg: []string{"1h"}, maxDuration: time.Hour},
		{name: "condition over requester, resource, access, duration, reason", who: "frank@example.com", resource: "demo-app", access: "admin", dur: 10 * time.Minute, reason: "SEC-5",
			rule: "security-demo-admin", wantAccess: "admin", approvals: 1, approvers: []string{"user:carol@example.com"},
			approverEmails: []string{"carol@example.com"}, maxDuration: 30 * time.Minute},
		{name: "condition duration false", who: "frank@example.com", resource: "demo-app", access: "admin", dur: 20 * time.Minute, reason: "SEC-5",
			code: jit.ECodeNotAllowed, explain: []string{"its condition is false"}},
		{name: "condition reason false", who: "frank@example.com", resource: "demo-app", access: "admin", dur: 10 * time.Minute, reason: "INC-5",
			code: jit.ECodeNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := p.Identity(tt.who)
			id.Groups = append(id.Groups, tt.groups...)
			at := tt.at
			if at.IsZero() {
				at = workHours
			}
			d := p.Decide(Input{Requester: id, Resource: tt.resource, Access: tt.access, Duration: tt.dur, Reason: tt.reason, Time: at})
			if d.Code != tt.code || d.Allowed != (tt.code == "") {
				t.Fatalf("got allowed=%v code %q (%s), want code %q\n%s", d.Allowed, d.Code, d.Message, tt.code, strings.Join(d.Explanation, "\n"))
			}
			if d.Field != tt.field {
				t.Errorf("field %q, want %q", d.Field, tt.field)
			}
			for _, m := range tt.msg {
				if !strings.Contains(d.Message, m) {
					t.Errorf("message %q lacks %q", d.Message, m)
				}
			}
			for _, e := range tt.explain {
				if !has(d.Explanation, e) {
					t.Errorf("explanation lacks %q:\n%s", e, strings.Join(d.Explanation, "\n"))
				}
			}
			if len(d.Explanation) == 0 || !strings.HasPrefix(d.Explanation[len(d.Explanation)-1], "outcome: ") {
				t.Errorf("explanation does not end with the outcome: %q", d.Explanation)
			}
			if err := d.Err(); (err == nil) != d.Allowed || jit.ErrorCode(err) != orEmpty(tt.code) {
				t.Errorf("Err() = %v", err)
			}
			if d.MaxDuration != tt.maxDuration {
				t.Errorf("MaxDuration %v, want %v", d.MaxDuration, tt.maxDuration)
			}
			if !d.Allowed {
				return
			}
			if d.Rule != tt.rule || d.Access != tt.wantAccess || d.AutoApproved != tt.auto || d.ApprovalsRequired != tt.approvals || d.SelfApproval != tt.selfApproval {
				t.Errorf("got rule %q access %q auto %v approvals %d self %v, want %q %q %v %d %v",
					d.Rule, d.Access, d.AutoApproved, d.ApprovalsRequired, d.SelfApproval, tt.rule, tt.wantAccess, tt.auto, tt.approvals, tt.selfApproval)
			}
			if !slices.Equal(d.Approvers, tt.approvers) {
				t.Errorf("approvers %q, want %q", d.Approvers, tt.approvers)
			}
			if !slices.Equal(d.ApproverEmails, tt.approverEmails) {
				t.Errorf("approver emails %q, want %q", d.ApproverEmails, tt.approverEmails)
			}
		})
	}
}

func orEmpty(code string) string { return code }

// TestConditionVariables checks that each CEL variable carries what the
// decision is about, by deciding under a rule whose condition tests it.
func TestConditionVariables(t *testing.T) {
	const tmpl = `
admins: ["group:security"]
identities:
  - {email: alice@example.com, groups: [engineering, oncall]}
  - {email: sam@example.com, groups: [security]}
resources:
  - name: db
    provider: policytest
    access: [read, write]
    labels: {env: prod, team: payments}
rules:
  - name: r
    requesters: {everyone: true}
    resources: [db]
    max_duration: 8h
    approvers: {users: [bob@example.com]}
    condition: %s
`
	base := Input{Resource: "db", Access: "read", Duration: 2 * time.Hour, Reason: "INC-1", Time: workHours}
	alice := jit.Identity{Email: "alice@example.com"}
	tests := []struct {
		cond    string
		in      func(Input) Input
		allowed bool
		explain string
	}{
		{cond: `requester.email == "alice@example.com"`, allowed: true},
		{cond: `requester.email.endsWith("@other.org")`, allowed: false},
		{cond: `"oncall" in requester.groups`, allowed: true},
		{cond: `requester.groups.exists(g, g == "security")`, allowed: false},
		{cond: `requester.admin`, allowed: false},
		{cond: `requester.admin`, in: func(i Input) Input { i.Requester = jit.Identity{Email: "sam@example.com"}; return i }, allowed: true},
		{cond: `resource.name == "db" && resource.provider == "policytest"`, allowed: true},
		{cond: `resource.labels.env == "prod"`, allowed: true},
		{cond: `resource.labels["team"] == "search"`, allowed: false},
		{cond: `access == "read"`, allowed: true},
		{cond: `access == "read"`, in: func(i Input) Input { i.Access = "write"; return i }, allowed: false},
		{cond: `duration <= duration("4h")`, allowed: true},
		{cond: `duration <= duration("4h")`, in: func(i Input) Input { i.Duration = 5 * time.Hour; return i }, allowed: false},
		{cond: `reason.matches("^INC-[0-9]+$")`, allowed: true},
		{cond: `reason == "INC-1"`, in: func(i Input) Input { i.Reason = "  INC-1\n"; return i }, allowed: true},
		{cond: `time.getHours() >= 9 && time.getHours() < 17`, allowed: true},
		{cond: `time.getHours() >= 9 && time.getHours() < 17`, in: func(i Input) Input { i.Time = night; return i }, allowed: false},
		{cond: `time.getDayOfWeek() == 2`, allowed: true}, // 2025-03-04 is a Tuesday
		{cond: `time > timestamp("2030-01-01T00:00:00Z")`, allowed: false},
		// A missing key is an evaluation error, which counts as false and is named.
		{cond: `resource.labels.owner == "x"`, allowed: false, explain: "could not be evaluated"},
		// A condition that runs away hits the cost limit instead of stalling.
		{cond: `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`,
			allowed: false, explain: "cost limit"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			p := mustParse(t, fmt.Sprintf(tmpl, quoteYAML(tt.cond)))
			in := base
			in.Requester = alice
			if tt.in != nil {
				in = tt.in(in)
			}
			in.Requester = p.Identity(in.Requester.Email)
			d := p.Decide(in)
			if d.Allowed != tt.allowed {
				t.Fatalf("allowed = %v, want %v\n%s", d.Allowed, tt.allowed, strings.Join(d.Explanation, "\n"))
			}
			if !d.Allowed && d.Code != jit.ECodeNotAllowed {
				t.Errorf("code %q, want not_allowed", d.Code)
			}
			if tt.explain != "" && !has(d.Explanation, tt.explain) {
				t.Errorf("explanation lacks %q:\n%s", tt.explain, strings.Join(d.Explanation, "\n"))
			}
		})
	}
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestAutoApproveCondition(t *testing.T) {
	p := mustParse(t, `
identities:
  - {email: alice@example.com, groups: [oncall]}
  - {email: bob@example.com, groups: [eng]}
resources:
  - {name: db, provider: policytest, access: [read]}
rules:
  - name: r
    requesters: {groups: [oncall, eng]}
    resources: [db]
    max_duration: 4h
    approvers: {users: [carol@example.com]}
    auto_approve: {max_duration: 1h, condition: '"oncall" in requester.groups'}
`)
	tests := []struct {
		who  string
		dur  time.Duration
		auto bool
		why  string
	}{
		{"alice@example.com", 30 * time.Minute, true, ""},
		{"alice@example.com", time.Hour, true, ""},
		{"alice@example.com", 2 * time.Hour, false, "exceeds its max_duration 1h"},
		{"bob@example.com", 30 * time.Minute, false, "its condition is false"},
	}
	for _, tt := range tests {
		d := p.Decide(Input{Requester: p.Identity(tt.who), Resource: "db", Duration: tt.dur, Time: workHours})
		if !d.Allowed || d.AutoApproved != tt.auto {
			t.Errorf("%s %v: allowed %v auto %v, want auto %v\n%s", tt.who, tt.dur, d.Allowed, d.AutoApproved, tt.auto, strings.Join(d.Explanation, "\n"))
			continue
		}
		if want := map[bool]int{true: 0, false: 1}[tt.auto]; d.ApprovalsRequired != want {
			t.Errorf("%s %v: approvals %d, want %d", tt.who, tt.dur, d.ApprovalsRequired, want)
		}
		if tt.why != "" && !has(d.Explanation, tt.why) {
			t.Errorf("%s %v: explanation lacks %q: %q", tt.who, tt.dur, tt.why, d.Explanation)
		}
	}
}

func TestDecideDoesNotShareSlices(t *testing.T) {
	p := mustParse(t, testConfig)
	in := Input{Requester: p.Identity("alice@example.com"), Resource: "demo-app", Duration: time.Hour, Reason: "INC-1", Time: workHours}
	d := p.Decide(in)
	d.Approvers[0] = "changed"
	d.ApproverEmails[0] = "changed"
	again := p.Decide(in)
	if again.Approvers[0] != "group:sre" || again.ApproverEmails[0] != "bob@example.com" {
		t.Fatalf("a caller's change leaked into the policy: %q %q", again.Approvers, again.ApproverEmails)
	}
}

// TestDecideConcurrently runs decisions, approval checks and offers from
// several goroutines; with -race it checks that a Policy is safe to share
// (approver lists are computed lazily on first use).
func TestDecideConcurrently(t *testing.T) {
	p := mustParse(t, testConfig)
	in := Input{Requester: p.Identity("alice@example.com"), Resource: "prod-db", Access: "read", Duration: time.Hour, Time: workHours}
	want := p.Decide(in)
	// A fresh policy, so that the lazy lists are computed under contention.
	p = mustParse(t, testConfig)
	req := &jit.Request{Requester: "alice@example.com", Resource: "prod-db", Access: "read", Duration: time.Hour}
	done := make(chan Decision)
	for range 8 {
		go func() {
			d := p.Decide(in)
			p.CheckApprover(jit.Identity{Email: "erin@example.com"}, req, workHours)
			p.Offers(in.Requester, workHours)
			done <- d
		}()
	}
	for range 8 {
		if d := <-done; !slices.Equal(d.ApproverEmails, want.ApproverEmails) || d.Rule != want.Rule {
			t.Fatalf("concurrent decision %+v, want %+v", d, want)
		}
	}
}

// Explaining a request before its reason is known reports the reason a
// rule needs instead of refusing on it; a reason that is given is still
// checked.
func TestDecideWithReasonUnknown(t *testing.T) {
	p := mustParse(t, testConfig)
	in := Input{Requester: p.Identity("alice@example.com"), Resource: "demo-app", Duration: time.Hour, Time: workHours, ReasonUnknown: true}
	d := p.Decide(in)
	if !d.Allowed || d.Rule != "engineers-demo-app" {
		t.Fatalf("explain without a reason: %+v", d)
	}
	if !has(d.Explanation, "needs a reason") || !has(d.Explanation, "(INC|CHG)") {
		t.Fatalf("explanation does not say what reason is needed: %q", d.Explanation)
	}
	in.Reason = "because"
	if d := p.Decide(in); d.Allowed || d.Code != jit.ECodeJustificationBad {
		t.Fatalf("a given reason that does not match: %+v", d)
	}
	in.Reason, in.ReasonUnknown = "", false
	if d := p.Decide(in); d.Allowed || d.Code != jit.ECodeJustificationNeed {
		t.Fatalf("a submit without a reason: %+v", d)
	}
}
