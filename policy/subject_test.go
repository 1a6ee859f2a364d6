package policy

import (
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

const subjectPolicy = `
identities:
  - {email: alice@example.com, groups: [eng]}
  - {email: bob@example.com, groups: [eng]}
  - {email: sam@example.com, groups: [sre]}
resources:
  - {name: cloud, provider: policytest, access: [{name: activate}]}
rules:
  - name: self
    requesters: {groups: [eng]}
    resources: [cloud]
    max_duration: 1h
    condition: '"gcp:self-activation" in labels'
    auto_approve: true
  - name: peers
    requesters: {groups: [eng]}
    resources: [cloud]
    max_duration: 1h
    condition: '"gcp:multi-party" in labels && !target.startsWith("projects/prod")'
    approvers: {peers: true, groups: [sre]}
`

// Conditions read the target and labels the provider's check found; a
// rule whose condition reads them is offered (they are known only at
// submit); the request's own peers replace the rule's requesters as peers.
func TestTargetAndLabels(t *testing.T) {
	p := mustParse(t, subjectPolicy)
	alice := p.Identity("alice@example.com")
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	in := Input{Requester: alice, Resource: "cloud", Duration: time.Hour, Time: now}

	if d := p.Decide(in); d.Allowed {
		t.Errorf("allowed without labels under %s", d.Rule)
	}
	in.Labels = []string{"gcp:self-activation"}
	if d := p.Decide(in); !d.Allowed || d.Rule != "self" || !d.AutoApproved {
		t.Errorf("self-activation: %+v", d)
	}
	in.Labels, in.Target = []string{"gcp:multi-party"}, "projects/dev:roles/viewer"
	if d := p.Decide(in); !d.Allowed || d.Rule != "peers" || d.AutoApproved {
		t.Errorf("multi-party: %+v", d)
	}
	in.Target = "projects/prod:roles/viewer"
	if d := p.Decide(in); d.Allowed {
		t.Errorf("a condition on the target did not refuse: %+v", d)
	}

	if offers := p.Offers(alice, now); len(offers) != 1 || offers[0].Resource != "cloud" {
		t.Errorf("offers = %+v; want cloud, whose conditions read what is known only at submit", offers)
	}

	req := &jit.Request{Requester: "alice@example.com", Resource: "cloud", Access: "activate", Duration: time.Hour,
		CreatedAt: now, Rule: "peers", Target: "projects/dev:roles/viewer", Labels: []string{"gcp:multi-party"},
		Peers: []string{"bob@example.com"}}
	for who, ok := range map[string]bool{"bob@example.com": true, "sam@example.com": true, "alice@example.com": false} {
		if got := p.CheckApprover(p.Identity(who), req, now); got.OK != ok {
			t.Errorf("%s approving: %+v, want ok=%v", who, got, ok)
		}
	}
	req.Peers = []string{"carol@example.com"}
	if got := p.CheckApprover(p.Identity("bob@example.com"), req, now); got.OK {
		t.Errorf("bob approved though the target names only carol as a peer")
	}
	if got := p.ApproverEmailsOf(req); len(got) != 2 || got[0] != "carol@example.com" || got[1] != "sam@example.com" {
		t.Errorf("approvers to notify = %v, want carol (peer) and sam (sre)", got)
	}
	// The target found no peer at all: no peer may approve (the rule's
	// groups still may).
	req.Peers, req.PeersFromTarget = nil, true
	if got := p.CheckApprover(p.Identity("bob@example.com"), req, now); got.OK {
		t.Errorf("bob approved though the target names no peers")
	}
	if got := p.CheckApprover(p.Identity("sam@example.com"), req, now); !got.OK {
		t.Errorf("sam (sre) may no longer approve: %+v", got)
	}
	if got := p.ApproverEmailsOf(req); len(got) != 1 || got[0] != "sam@example.com" {
		t.Errorf("approvers to notify = %v, want sam only", got)
	}
}
