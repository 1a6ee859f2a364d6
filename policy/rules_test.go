package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestRulesAndMayApprove(t *testing.T) {
	p := mustParse(t, `
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: dave@example.com, groups: [dba]}
  - {email: erin@example.com, groups: [sales]}
resources:
  - {name: app, provider: policytest, access: [user, admin]}
  - {name: db-1, provider: policytest, access: [read]}
rules:
  - name: app-users
    description: Engineers use the app
    requesters: {groups: [engineering]}
    resources: [app]
    access: [user]
    max_duration: 8h
    reason: {pattern: "^INC-"}
    approvers: {groups: [sre], users: [frank@example.com]}
    auto_approve: {max_duration: 1h}
  - name: dbas
    requesters: {groups: [dba]}
    resources: ["db-*"]
    max_duration: 2h
    approvers: {peers: true}
    approvals: 1
    condition: 'duration <= duration("1h")'
`)
	rules := p.Rules()
	if len(rules) != 2 {
		t.Fatalf("%d rules", len(rules))
	}
	a, d := rules[0], rules[1]
	if a.Name != "app-users" || a.Description != "Engineers use the app" || !slices.Equal(a.Groups, []string{"engineering"}) ||
		!slices.Equal(a.Resources, []string{"app"}) || !slices.Equal(a.Access, []string{"user"}) || a.MaxDuration != 8*time.Hour ||
		!a.ReasonRequired || a.ReasonPattern != "^INC-" || !a.AutoApprove || a.AutoApproveMax != time.Hour ||
		!slices.Contains(a.Approvers, "group:sre") || !slices.Contains(a.Approvers, "user:frank@example.com") {
		t.Errorf("rule 1 = %+v", a)
	}
	if d.Access != nil || !slices.Equal(d.Resources, []string{"db-*"}) || !slices.Equal(d.Approvers, []string{"peers"}) ||
		d.Condition == "" || d.AutoApprove {
		t.Errorf("rule 2 = %+v", d)
	}
	for email, want := range map[string]bool{
		"bob@example.com":   true,  // group sre approves app-users
		"frank@example.com": true,  // named approver
		"dave@example.com":  true,  // a peer under dbas
		"carol@example.com": true,  // admin
		"alice@example.com": false, // requests only
		"erin@example.com":  false, // nothing to do with any rule
	} {
		if got := p.MayApprove(p.Identity(email)); got != want {
			t.Errorf("MayApprove(%s) = %v, want %v", email, got, want)
		}
	}
	if !p.MayApprove(jit.Identity{Email: "x@example.com", Groups: []string{"sre"}}) {
		t.Error("groups from the identity's claims must count")
	}
}
