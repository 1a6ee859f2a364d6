package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestCheckApprover(t *testing.T) {
	p := mustParse(t, testConfig)
	demo := &jit.Request{Requester: "alice@example.com", Resource: "demo-app", Access: "user", Duration: time.Hour, Reason: "INC-1"}
	peersReq := &jit.Request{Requester: "Alice@Example.com", Resource: "prod-db", Access: "read", Duration: time.Hour}
	selfReq := &jit.Request{Requester: "gina@example.com", Resource: "prod-db", Access: "write", Duration: time.Hour, Reason: "migration"}
	autoReq := &jit.Request{Requester: "alice@example.com", Resource: "staging-db", Access: "read", Duration: time.Hour}
	tests := []struct {
		name     string
		approver jit.Identity
		req      *jit.Request
		at       time.Time
		code     string // "" means OK
		msg      string
	}{
		{"group approver", jit.Identity{Email: "bob@example.com", Groups: []string{"sre"}}, demo, workHours, "", ""},
		{"group from config only", jit.Identity{Email: "hank@example.com"}, demo, workHours, "", ""},
		{"group asserted by caller", jit.Identity{Email: "ops@example.com", Groups: []string{"sre"}}, demo, workHours, "", ""},
		{"own request", jit.Identity{Email: "ALICE@example.com", Groups: []string{"sre"}}, demo, workHours, jit.ECodeSelfApproval, "your own request"},
		{"not in approver group", jit.Identity{Email: "erin@example.com"}, demo, workHours, jit.ECodeNotApprover, "group:sre"},
		{"admin is not implicitly an approver", p.Identity("carol@example.com"), demo, workHours, jit.ECodeNotApprover, "carol@example.com may not approve"},
		{"peer", jit.Identity{Email: "erin@example.com"}, peersReq, workHours, "", ""},
		{"peer through another requester group", jit.Identity{Email: "ivan@example.com"}, peersReq, workHours, "", ""},
		{"not a peer", jit.Identity{Email: "bob@example.com"}, peersReq, workHours, jit.ECodeNotApprover, "peers"},
		{"peer approving own request", jit.Identity{Email: "alice@example.com"}, peersReq, workHours, jit.ECodeSelfApproval, "prod-db-read"},
		{"self approval allowed", jit.Identity{Email: "gina@example.com"}, selfReq, workHours, "", ""},
		{"user approver", jit.Identity{Email: "carol@example.com"}, selfReq, workHours, "", ""},
		{"made when its rule's condition was false", jit.Identity{Email: "ivan@example.com"}, selfReq, night, jit.ECodeNotAllowed, "request is no longer allowed by policy: "},
		{"rule without approvers", jit.Identity{Email: "bob@example.com", Groups: []string{"sre"}}, autoReq, workHours, jit.ECodeNotApprover, "no approvers"},
		{"groups recorded at submit count", jit.Identity{Email: "bob@example.com"},
			&jit.Request{Requester: "zed@example.com", RequesterGroups: []string{"engineering"}, Resource: "demo-app", Access: "user", Duration: time.Hour, Reason: "INC-2"},
			workHours, "", ""},
		{"requester no longer eligible", jit.Identity{Email: "bob@example.com"},
			&jit.Request{Requester: "zed@example.com", Resource: "demo-app", Access: "user", Duration: time.Hour, Reason: "INC-2"},
			workHours, jit.ECodeNotAllowed, "no rule lets zed@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := *tt.req
			req.CreatedAt = tt.at // requests are decided as of their submit time
			got := p.CheckApprover(tt.approver, &req, tt.at.Add(12*time.Hour))
			if got.OK != (tt.code == "") || got.Code != tt.code {
				t.Fatalf("CheckApprover = %+v, want code %q", got, tt.code)
			}
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q lacks %q", got.Message, tt.msg)
			}
		})
	}
}

func TestOffers(t *testing.T) {
	p := mustParse(t, testConfig)
	demoForEngineers := Offer{Resource: "demo-app", Description: "Demo internal web app", Provider: "policytest",
		Access: []string{"user"}, DefaultAccess: "user", MaxDuration: "8h", ApprovalRequired: true, ApprovalsRequired: 1,
		Approvers: []string{"group:sre"}, ReasonRequired: true, ReasonPattern: "^(INC|CHG)-[0-9]+", Rules: []string{"engineers-demo-app"}}
	stagingDB := Offer{Resource: "staging-db", Provider: "policytest", Access: []string{"read", "write"}, MaxDuration: "24h",
		Rules: []string{"staging-everyone"}}
	stagingWeb := Offer{Resource: "staging-web", Provider: "policytest", Access: []string{"user"}, DefaultAccess: "user", MaxDuration: "24h",
		Rules: []string{"staging-everyone"}}
	prodRead := Offer{Resource: "prod-db", Provider: "policytest", Access: []string{"read"}, MaxDuration: "2h",
		ApprovalRequired: true, ApprovalsRequired: 2, Approvers: []string{"peers"}, Rules: []string{"prod-db-read"}}
	prodBoth := Offer{Resource: "prod-db", Provider: "policytest", Access: []string{"read", "write"}, MaxDuration: "2h",
		ApprovalRequired: true, ApprovalsRequired: 1, Approvers: []string{"peers", "group:dba", "user:carol@example.com"},
		Rules: []string{"prod-db-read", "prod-db-write"}, Conditions: []string{"time.getHours() >= 9 && time.getHours() < 17"}}
	tests := []struct {
		name string
		who  string
		at   time.Time
		want []Offer
	}{
		{"engineer", "alice@example.com", workHours, []Offer{demoForEngineers, stagingDB, stagingWeb, prodRead}},
		{"unknown person gets everyone rules", "nobody@example.com", workHours, []Offer{stagingDB, stagingWeb}},
		{"auto-approving rule merged", "erin@example.com", workHours, []Offer{{Resource: "demo-app", Description: "Demo internal web app",
			Provider: "policytest", Access: []string{"user", "admin"}, DefaultAccess: "user", MaxDuration: "8h",
			ApprovalRequired: false, ApprovalsRequired: 0, Approvers: []string{"group:sre"}, ReasonRequired: false,
			Rules: []string{"engineers-demo-app", "oncall-demo-auto"}}, stagingDB, stagingWeb, prodRead}},
		{"condition true at this time", "gina@example.com", workHours, []Offer{stagingDB, stagingWeb, prodBoth}},
		{"condition false at this time", "gina@example.com", night, []Offer{stagingDB, stagingWeb, prodRead}},
		// security-demo-admin's condition needs duration <= 15m and a
		// reason starting SEC-: false at the rule's max_duration (30m) and
		// with no reason, but a request can meet it, so it is offered with
		// its condition.
		{"condition that a request can meet", "frank@example.com", workHours, []Offer{{Resource: "demo-app", Description: "Demo internal web app",
			Provider: "policytest", Access: []string{"admin"}, DefaultAccess: "user", MaxDuration: "30m", ApprovalRequired: true,
			ApprovalsRequired: 1, Approvers: []string{"user:carol@example.com"}, Rules: []string{"security-demo-admin"},
			Conditions: []string{`requester.admin && resource.labels.env == "prod" && access == "admin" && duration <= duration("15m") && reason.startsWith("SEC-")`}},
			stagingDB, stagingWeb}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Offers(p.Identity(tt.who), tt.at)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d offers %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !offerEqual(got[i], tt.want[i]) {
					t.Errorf("offer %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func offerEqual(a, b Offer) bool {
	eq := func(x, y []string) bool { return strings.Join(x, "|") == strings.Join(y, "|") }
	return a.Resource == b.Resource && a.Description == b.Description && a.Provider == b.Provider &&
		eq(a.Access, b.Access) && a.DefaultAccess == b.DefaultAccess && a.MaxDuration == b.MaxDuration &&
		a.ApprovalRequired == b.ApprovalRequired && a.ApprovalsRequired == b.ApprovalsRequired &&
		eq(a.Approvers, b.Approvers) && a.ReasonRequired == b.ReasonRequired && a.ReasonPattern == b.ReasonPattern &&
		eq(a.Rules, b.Rules) && eq(a.Conditions, b.Conditions)
}
