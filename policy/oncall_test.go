package policy

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/pagerduty"
)

func TestPagerDutyConfig(t *testing.T) {
	p := mustParse(t, `
server:
  pagerduty:
    token_file: /etc/jit/pagerduty-token
    base_url: https://api.eu.pagerduty.com/
    cache_ttl: 2m
    timeout: 3s
`)
	want := &PagerDutyConfig{Token: SecretRef{File: "/etc/jit/pagerduty-token"}, BaseURL: "https://api.eu.pagerduty.com",
		CacheTTL: 2 * time.Minute, Timeout: 3 * time.Second}
	got := p.Server().PagerDuty
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PagerDuty = %+v, want %+v", got, want)
	}
	got.BaseURL = "https://changed.example"
	if p.Server().PagerDuty.BaseURL != want.BaseURL {
		t.Fatal("Server() shares its PagerDuty settings with the caller")
	}

	p = mustParse(t, "server: {pagerduty: {token_env: JIT_PAGERDUTY_TOKEN}}\n")
	want = &PagerDutyConfig{Token: SecretRef{Env: "JIT_PAGERDUTY_TOKEN"}, BaseURL: DefaultPagerDutyBaseURL,
		CacheTTL: DefaultPagerDutyCacheTTL, Timeout: DefaultPagerDutyTimeout}
	if got := p.Server().PagerDuty; !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults: PagerDuty = %+v, want %+v", got, want)
	}
	if p := mustParse(t, "server: {pagerduty: }\n"); p.Server().PagerDuty != nil {
		t.Fatal("an empty pagerduty key configured PagerDuty")
	}
}

// The policy checks what the pagerduty package would refuse, with the same
// defaults, without importing it outside tests.
func TestPagerDutyAgreesWithAdapter(t *testing.T) {
	if DefaultPagerDutyBaseURL != pagerduty.DefaultBaseURL || DefaultPagerDutyCacheTTL != pagerduty.DefaultCacheTTL ||
		MaxPagerDutyCacheTTL != pagerduty.MaxCacheTTL || DefaultPagerDutyTimeout != pagerduty.DefaultTimeout {
		t.Fatal("the defaults of server.pagerduty differ from the pagerduty package's")
	}
	for _, id := range []string{"PABC123", "P0", "pabc", "x", strings.Repeat("P", 64), strings.Repeat("P", 65), "",
		"P-ABC", "P ABC", "PABC/1", "PÄBC", "P_1", "P.1", "\x00"} {
		if got, want := validPagerDutyID(id), pagerduty.ValidateID(id) == nil; got != want {
			t.Errorf("ID %q: policy accepts %v, pagerduty.ValidateID %v", id, got, want)
		}
	}
	for _, u := range []string{"https://api.pagerduty.com", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:80",
		"http://api.pagerduty.com", "https://u:p@api.pagerduty.com", "https://api.pagerduty.com?x=1", "https://api.pagerduty.com#f",
		"ftp://api.pagerduty.com", "api.pagerduty.com", "https://"} {
		_, err := pagerduty.New(pagerduty.Config{Token: "t", BaseURL: u})
		if got, want := checkPagerDutyURL(u) == nil, err == nil; got != want {
			t.Errorf("base URL %q: policy accepts %v, pagerduty.New %v (%v)", u, got, want, err)
		}
	}
}

func TestPagerDutyConfigProblems(t *testing.T) {
	tests := []struct{ name, src string }{
		{"no token", `
server:
  pagerduty:   # want: server.pagerduty: token_file or token_env is required
    base_url: https://api.pagerduty.com
`},
		{"both tokens", `
server:
  pagerduty:   # want: server.pagerduty: set token_file or token_env, not both
    token_file: /etc/jit/pd
    token_env: JIT_PD
`},
		{"values", `
server:
  pagerduty:
    token_env: "not a name"   # want: server.pagerduty.token_env: "not a name" is not an environment variable name
    base_url: http://api.pagerduty.com   # want: server.pagerduty.base_url: "http://api.pagerduty.com" must use https
    cache_ttl: 2h   # want: server.pagerduty.cache_ttl: 2h is too long (at most 1h
    timeout: 0s   # want: server.pagerduty.timeout: duration "0s" must be positive
    key: secret   # want: server.pagerduty: unknown key "key" (expected one of: base_url, cache_ttl, timeout, token_env, token_file)
`},
		{"credentials in the base URL", `
server:
  pagerduty:
    token_file: /etc/jit/pd
    base_url: https://user:hunter2@api.pagerduty.com   # want: must not contain credentials
    timeout: 2m   # want: server.pagerduty.timeout: 2m is too long (at most 1m
`},
		{"base URL with a query", `
server:
  pagerduty:
    token_file: /etc/jit/pd
    base_url: https://api.pagerduty.com/?region=eu   # want: must not have a query or fragment
`},
		{"not a mapping", `
server:
  pagerduty: yes   # want: server.pagerduty: expected a mapping, got "yes"
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.src, wants(tt.src)) })
	}
	_, err := Parse("jit.yaml", []byte("server: {pagerduty: {token_file: /x, base_url: 'https://user:hunter2@api.pagerduty.com'}}\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the problem with the base URL shows its password: %v", err)
	}
}

const onCallRuleHead = `
identities:
  - {email: erin@example.com, groups: [engineering]}
resources:
  - {name: db, provider: policytest, access: [read]}
rules:
`

func TestOnCallRuleProblems(t *testing.T) {
	withPD := "server: {pagerduty: {token_env: JIT_PD}}\n" + onCallRuleHead
	tests := []struct{ name, src string }{
		{"needs server.pagerduty", onCallRuleHead + `
  - name: r
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      oncall:   # want: rule "r": auto_approve.oncall needs server.pagerduty
        pagerduty: {schedules: [PABC123]}
`},
		{"IDs", withPD + `
  - name: r
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      oncall:
        pagerduty:
          schedules:
            - PABC123
            - P-ABC   # want: rule "r": auto_approve.oncall.pagerduty.schedules: "P-ABC" is not a PagerDuty schedule ID
            - https://example.pagerduty.com/schedules/PABC123   # want: is not a PagerDuty schedule ID
          escalation_policies: [PXYZ, ""]   # want: escalation_policies: "" is not a PagerDuty escalation policy ID
          services: [PSVC]   # want: rule "r": auto_approve.oncall.pagerduty: unknown key "services" (expected one of: escalation_policies, schedules)
`},
		{"no IDs", withPD + `
  - name: r
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      oncall:
        pagerduty: {schedules: []}   # want: rule "r": auto_approve.oncall.pagerduty: list at least one schedule or escalation policy ID
`},
		{"no source", withPD + `
  - name: r
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      oncall: {}   # want: rule "r": auto_approve.oncall: pagerduty is required
`},
		{"other source", withPD + `
  - name: r
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      oncall:   # want: auto_approve.oncall: pagerduty is required
        opsgenie: {schedules: [x]}   # want: rule "r": auto_approve.oncall: unknown key "opsgenie" (expected one of: pagerduty)
`},
		{"oncall is a condition, so approvers are needed", withPD + `
  - name: r   # want: rule "r": has no approvers, so requests its auto_approve does not cover could never be approved
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    auto_approve: {oncall: {pagerduty: {schedules: [PABC123]}}}
`},
		{"max_duration beyond the rule's", withPD + `
  - name: r
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:   # want: rule "r": auto_approve.max_duration 8h is longer than the rule's max_duration 4h
      max_duration: 8h
      oncall: {pagerduty: {escalation_policies: [PXYZ]}}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.src, wants(tt.src)) })
	}
}

func TestOnCallMaxDurationDefault(t *testing.T) {
	p := mustParse(t, "server: {pagerduty: {token_env: JIT_PD}}\n"+onCallRuleHead+`
  - {name: default, requesters: {groups: [engineering]}, resources: [db], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {oncall: {pagerduty: {schedules: [PB, PA, PB]}}}}
  - {name: short-rule, requesters: {groups: [engineering]}, resources: [db], max_duration: 30m, approvers: {groups: [sre]},
     auto_approve: {oncall: {pagerduty: {schedules: [PA]}}}}
  - {name: explicit, requesters: {groups: [engineering]}, resources: [db], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {max_duration: 2h, oncall: {pagerduty: {escalation_policies: [PX]}}}}
  - {name: plain, requesters: {groups: [engineering]}, resources: [db], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {condition: 'true'}}
`)
	want := map[string]time.Duration{"default": time.Hour, "short-rule": 30 * time.Minute, "explicit": 2 * time.Hour, "plain": 0}
	for _, s := range p.Rules() {
		if s.AutoApproveMax != want[s.Name] {
			t.Errorf("rule %s: auto_approve max %s, want %s", s.Name, s.AutoApproveMax, want[s.Name])
		}
		if (s.AutoApproveOnCall != nil) != (s.Name != "plain") {
			t.Errorf("rule %s: AutoApproveOnCall = %+v", s.Name, s.AutoApproveOnCall)
		}
	}
	if got := p.Rules()[0].AutoApproveOnCall; !reflect.DeepEqual(got, &OnCallQuery{Schedules: []string{"PA", "PB"}}) {
		t.Errorf("IDs are not sorted and distinct: %+v", got)
	}
}

const onCallPolicy = `
server: {pagerduty: {token_env: JIT_PAGERDUTY_TOKEN}}
identities:
  - {email: erin@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
resources:
  - {name: db, provider: policytest, access: [read, write]}
rules:
  - name: engineers
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 8h
    approvers: {groups: [sre]}
  - name: oncall-read
    requesters: {groups: [engineering]}
    resources: [db]
    access: [read]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve:
      max_duration: 1h
      condition: 'reason != "no"'
      oncall:
        pagerduty:
          schedules: [PSCHED1, PSCHED1]
          escalation_policies: [PEP1]
`

var onCallKey = OnCallQuery{Schedules: []string{"PSCHED1"}, EscalationPolicies: []string{"PEP1"}}.Key()

func TestDecideOnCall(t *testing.T) {
	p := mustParse(t, onCallPolicy)
	until := time.Date(2025, 3, 4, 17, 0, 0, 0, time.FixedZone("", -5*3600))
	onCall := OnCallAnswer{Result: OnCallResult{OnCall: true, Via: "schedule:PSCHED1", Until: until}}
	tests := []struct {
		name     string
		access   string
		dur      time.Duration
		reason   string
		answers  map[string]OnCallAnswer
		auto     bool
		rule     string
		explain  []string
		noQuery  bool // no on-call lookup is needed
		unwanted string
	}{
		{name: "on call", answers: map[string]OnCallAnswer{onCallKey: onCall}, auto: true, rule: "oncall-read",
			explain: []string{
				"rule oncall-read: allows (requester via group engineering, max_duration 4h): approves automatically; erin@example.com is on call in PagerDuty via schedule:PSCHED1 until 2025-03-04T22:00:00Z",
				"outcome: allowed by rule oncall-read, approved automatically (on call via schedule:PSCHED1)"}},
		{name: "on call without an end", auto: true, rule: "oncall-read",
			answers: map[string]OnCallAnswer{onCallKey: {Result: OnCallResult{OnCall: true, Via: "escalation_policy:PEP1"}}},
			explain: []string{"is on call in PagerDuty via escalation_policy:PEP1 with no end of shift"}},
		{name: "not on call", answers: map[string]OnCallAnswer{onCallKey: {}}, rule: "engineers",
			explain: []string{
				"rule oncall-read: allows (requester via group engineering, max_duration 4h): needs 1 approval from group:sre; auto_approve does not apply: erin@example.com is not on call in PagerDuty schedule PSCHED1 or escalation policy PEP1",
				"outcome: allowed by rule engineers, needs 1 approval from group:sre"}},
		{name: "PagerDuty failed", rule: "engineers",
			answers: map[string]OnCallAnswer{onCallKey: {Err: errors.New("pagerduty: on-call list for schedule:PSCHED1: no answer within 5s: context deadline exceeded")}},
			explain: []string{"auto_approve does not apply: PagerDuty could not say whether erin@example.com is on call in schedule PSCHED1 or escalation policy PEP1: pagerduty: on-call list for schedule:PSCHED1: no answer within 5s: context deadline exceeded; normal approval"}},
		{name: "an error outweighs a result", rule: "engineers",
			answers: map[string]OnCallAnswer{onCallKey: {Result: onCall.Result, Err: errors.New("401")}},
			explain: []string{"PagerDuty could not say whether erin@example.com is on call", "401; normal approval"}},
		{name: "answer missing", rule: "engineers",
			explain: []string{"auto_approve does not apply: whether erin@example.com is on call in PagerDuty schedule PSCHED1 or escalation policy PEP1 was not looked up; normal approval"}},
		{name: "answer to another query", rule: "engineers",
			answers: map[string]OnCallAnswer{OnCallQuery{Schedules: []string{"PSCHED1"}}.Key(): onCall},
			explain: []string{"was not looked up; normal approval"}},
		{name: "on call but longer than auto_approve.max_duration", dur: 90 * time.Minute, rule: "engineers",
			answers: map[string]OnCallAnswer{onCallKey: onCall}, noQuery: true, unwanted: "on call",
			explain: []string{"auto_approve does not apply: duration 1h30m exceeds its max_duration 1h"}},
		{name: "on call at exactly auto_approve.max_duration", dur: time.Hour, rule: "oncall-read", auto: true,
			answers: map[string]OnCallAnswer{onCallKey: onCall}},
		{name: "on call but the condition is false", reason: "no", rule: "engineers",
			answers: map[string]OnCallAnswer{onCallKey: onCall}, noQuery: true, unwanted: "on call",
			explain: []string{`auto_approve does not apply: its condition is false: reason != "no"`}},
		{name: "on call but the rule does not cover the level", access: "write", rule: "engineers",
			answers: map[string]OnCallAnswer{onCallKey: onCall}, noQuery: true, unwanted: "on call",
			explain: []string{"rule oncall-read: skipped: it does not cover access write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.dur == 0 {
				tt.dur = 30 * time.Minute
			}
			if tt.reason == "" {
				tt.reason = "INC-1"
			}
			if tt.access == "" {
				tt.access = "read"
			}
			in := Input{Requester: p.Identity("erin@example.com"), Resource: "db", Access: tt.access, Duration: tt.dur,
				Reason: tt.reason, Time: workHours, OnCall: tt.answers}
			d := p.Decide(in)
			if !d.Allowed || d.AutoApproved != tt.auto || d.Rule != tt.rule {
				t.Fatalf("allowed %v, auto %v, rule %q; want auto %v, rule %q\n%s", d.Allowed, d.AutoApproved, d.Rule, tt.auto, tt.rule, strings.Join(d.Explanation, "\n"))
			}
			if want := map[bool]int{true: 0, false: 1}[tt.auto]; d.ApprovalsRequired != want {
				t.Errorf("approvals %d, want %d", d.ApprovalsRequired, want)
			}
			switch {
			case tt.auto && (d.OnCall == nil || *d.OnCall != OnCallResult{OnCall: true, Via: tt.answers[onCallKey].Result.Via, Until: tt.answers[onCallKey].Result.Until.UTC()}):
				t.Errorf("Decision.OnCall = %+v, want the answer", d.OnCall)
			case !tt.auto && d.OnCall != nil:
				t.Errorf("Decision.OnCall = %+v without automatic approval", d.OnCall)
			}
			for _, want := range tt.explain {
				if !has(d.Explanation, want) {
					t.Errorf("explanation lacks %q:\n%s", want, strings.Join(d.Explanation, "\n"))
				}
			}
			if tt.unwanted != "" && has(d.Explanation, tt.unwanted) {
				t.Errorf("explanation mentions %q:\n%s", tt.unwanted, strings.Join(d.Explanation, "\n"))
			}
			in.OnCall = nil
			qs := p.OnCallQueries(in)
			switch {
			case tt.noQuery && len(qs) != 0:
				t.Errorf("OnCallQueries = %+v, want none", qs)
			case !tt.noQuery && (len(qs) != 1 || qs[0].Key() != onCallKey):
				t.Errorf("OnCallQueries = %+v, want the rule's", qs)
			}
		})
	}
}

func TestOnCallQueries(t *testing.T) {
	p := mustParse(t, `
server: {pagerduty: {token_env: JIT_PAGERDUTY_TOKEN}}
identities:
  - {email: erin@example.com, groups: [engineering]}
  - {email: pat@example.com, groups: [platform]}
resources:
  - {name: db, provider: policytest, access: [read]}
  - {name: web, provider: policytest, access: [read]}
rules:
  - {name: a, requesters: {groups: [engineering, platform]}, resources: [db, web], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {oncall: {pagerduty: {schedules: [PB, PA]}}}}
  - {name: same-ids, requesters: {groups: [engineering]}, resources: [db], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {oncall: {pagerduty: {schedules: [PA, PB]}}}}
  - {name: platform-auto, requesters: {groups: [platform]}, resources: [db, web], max_duration: 4h, auto_approve: true}
  - {name: c, requesters: {groups: [engineering, platform]}, resources: [db, web], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {oncall: {pagerduty: {escalation_policies: [PX]}}}}
  - {name: web-only, requesters: {groups: [engineering]}, resources: [web], max_duration: 4h, approvers: {groups: [sre]},
     auto_approve: {oncall: {pagerduty: {schedules: [PW]}}}}
`)
	ab := OnCallQuery{Schedules: []string{"PA", "PB"}}
	x := OnCallQuery{EscalationPolicies: []string{"PX"}}
	keys := func(qs []OnCallQuery) []string {
		var out []string
		for _, q := range qs {
			out = append(out, q.Key())
		}
		return out
	}
	in := func(who, res string) Input {
		return Input{Requester: p.Identity(who), Resource: res, Duration: 30 * time.Minute, Time: workHours}
	}
	tests := []struct {
		name string
		in   Input
		want []string
	}{
		// Rules a and same-ids share one lookup.
		{"one query per set of IDs", in("erin@example.com", "db"), []string{ab.Key(), x.Key()}},
		{"an earlier rule approving by itself ends the list", in("pat@example.com", "db"), []string{ab.Key()}},
		{"answered already", func() Input {
			i := in("erin@example.com", "db")
			i.OnCall = map[string]OnCallAnswer{ab.Key(): {}}
			return i
		}(), []string{x.Key()}},
		{"an answer saying on call ends the list", func() Input {
			i := in("erin@example.com", "db")
			i.OnCall = map[string]OnCallAnswer{ab.Key(): {Result: OnCallResult{OnCall: true}}}
			return i
		}(), nil},
		{"unknown resource", in("erin@example.com", "nosuch"), nil},
		{"no duration", Input{Requester: p.Identity("erin@example.com"), Resource: "db", Time: workHours}, nil},
		{"not a requester", in("zed@example.com", "db"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys(p.OnCallQueries(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("OnCallQueries = %q, want %q", got, tt.want)
			}
		})
	}
	qs := p.OnCallQueries(in("erin@example.com", "web"))
	if len(qs) != 3 || qs[0].Key() != ab.Key() || qs[2].Key() != (OnCallQuery{Schedules: []string{"PW"}}).Key() {
		t.Fatalf("web: %+v", qs)
	}
	qs[0].Schedules[0] = "CHANGED"
	if again := p.OnCallQueries(in("erin@example.com", "web")); again[0].Schedules[0] != "PA" {
		t.Fatal("OnCallQueries shares the rule's IDs with the caller")
	}
	if ab.String() != "PagerDuty schedules PA, PB" || x.String() != "PagerDuty escalation policy PX" {
		t.Fatalf("String: %q, %q", ab.String(), x.String())
	}
}

// Outside submit nobody looks up who is on call: approving, granting and
// the offers see an on-call rule as one that needs approval.
func TestOnCallRuleElsewhere(t *testing.T) {
	p := mustParse(t, `
server: {pagerduty: {token_env: JIT_PAGERDUTY_TOKEN}}
identities:
  - {email: erin@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
resources:
  - {name: db, provider: policytest, access: [read]}
rules:
  - name: oncall-only
    requesters: {groups: [engineering]}
    resources: [db]
    max_duration: 4h
    approvers: {groups: [sre]}
    auto_approve: {oncall: {pagerduty: {schedules: [PABC123]}}}
`)
	req := &jit.Request{Requester: "erin@example.com", Resource: "db", Access: "read", Duration: 30 * time.Minute, CreatedAt: workHours}
	chk := p.CheckApprover(p.Identity("bob@example.com"), req, workHours)
	if !chk.OK || chk.ApprovalsRequired != 1 {
		t.Fatalf("CheckApprover = %+v, want an approver of a request needing 1 approval", chk)
	}
	offers := p.Offers(p.Identity("erin@example.com"), workHours)
	if len(offers) != 1 || !offers[0].ApprovalRequired || offers[0].ApprovalsRequired != 1 {
		t.Fatalf("Offers = %+v, want approval required", offers)
	}
}

// TestPagerDutyDocExample keeps docs/pagerduty.md honest: its example
// loads, and the explanations and problems it shows are the ones produced.
func TestPagerDutyDocExample(t *testing.T) {
	raw, err := os.ReadFile("../docs/pagerduty.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "```yaml\n")
	if start < 0 {
		t.Fatal("no yaml block in docs/pagerduty.md")
	}
	example := doc[start+len("```yaml\n"):]
	example = example[:strings.Index(example, "```")]
	const people = `
identities:
  - {email: erin@example.com, groups: [engineering]}
resources:
  - {name: orders-db, provider: policytest, access: [read, write]}
`
	p := mustParse(t, example+people)
	pd := p.Server().PagerDuty
	if pd == nil || pd.Token.File != "/etc/jit/pagerduty-token" || pd.BaseURL != DefaultPagerDutyBaseURL ||
		pd.CacheTTL != DefaultPagerDutyCacheTTL || pd.Timeout != DefaultPagerDutyTimeout {
		t.Fatalf("server.pagerduty of the example: %+v", pd)
	}
	q := OnCallQuery{Schedules: []string{"PABC123"}, EscalationPolicies: []string{"PXYZ789"}}
	in := Input{Requester: p.Identity("erin@example.com"), Resource: "orders-db", Access: "read", Duration: 30 * time.Minute,
		Reason: "INC-4711", Time: time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)}
	if qs := p.OnCallQueries(in); len(qs) != 1 || qs[0].Key() != q.Key() {
		t.Fatalf("OnCallQueries = %+v", qs)
	}
	for _, answer := range []OnCallAnswer{
		{Result: OnCallResult{OnCall: true, Via: "schedule:PABC123", Until: time.Date(2026, 3, 10, 18, 0, 0, 0, time.UTC)}},
		{},
		{Err: errors.New("pagerduty: on-call list for schedule:PABC123: API answered HTTP 401: Unauthorized (code 2006)")},
	} {
		in.OnCall = map[string]OnCallAnswer{q.Key(): answer}
		d := p.Decide(in)
		if !d.Allowed || d.AutoApproved != answer.Result.OnCall || d.AutoApproved != (answer.Err == nil && answer.Result.OnCall) {
			t.Fatalf("answer %+v: %+v", answer, d)
		}
		for _, line := range d.Explanation[1:] {
			if !strings.Contains(doc, line+"\n") {
				t.Errorf("explanation line not in docs/pagerduty.md: %s", line)
			}
		}
		if answer.Result.OnCall && !strings.Contains(doc, d.Explanation[0]+"\n") {
			t.Errorf("request line not in docs/pagerduty.md: %s", d.Explanation[0])
		}
	}

	// The problems shown.
	broken := example[strings.Index(example, "rules:"):]
	broken = strings.Replace(broken, "schedules: [PABC123]", "schedules: [\"https://example.pagerduty.com/schedules/PABC123\"]", 1)
	_, err = Parse("jit.yaml", []byte(broken+people))
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 2 {
		t.Fatalf("broken example: %v", err)
	}
	for _, pr := range le.Problems {
		if !strings.Contains(doc, ": "+pr.Message+"\n") {
			t.Errorf("problem not in docs/pagerduty.md: %s", pr.Message)
		}
	}
}
