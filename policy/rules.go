package policy

import (
	"sort"
	"time"

	"github.com/jitaccess/jit"
)

// RuleSummary is one rule as people read it: who may ask for what, for how
// long, and who approves. It is what the web app's policy page shows; it
// carries nothing secret (the policy has no secrets in rules).
type RuleSummary struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Everyone is true when anyone known may request under the rule.
	Everyone bool     `json:"everyone,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Users    []string `json:"users,omitempty"`
	// Resources are names and globs, sorted.
	Resources []string `json:"resources"`
	// Access is nil when the rule covers every level.
	Access         []string      `json:"access,omitempty"`
	MaxDuration    time.Duration `json:"max_duration"`
	ReasonRequired bool          `json:"reason_required,omitempty"`
	ReasonPattern  string        `json:"reason_pattern,omitempty"`
	// Approvers in display form ("group:sre", "user:bob@example.com",
	// "peers"); Approvals is how many distinct approvals are needed.
	Approvers    []string `json:"approvers"`
	Approvals    int      `json:"approvals"`
	SelfApproval bool     `json:"self_approval,omitempty"`
	// AutoApprove is true when the rule approves by itself, up to
	// AutoApproveMax (0: the rule's maximum) and when AutoApproveIf (a CEL
	// condition, "" for none) holds.
	AutoApprove    bool          `json:"auto_approve,omitempty"`
	AutoApproveMax time.Duration `json:"auto_approve_max,omitempty"`
	AutoApproveIf  string        `json:"auto_approve_if,omitempty"`
	// AutoApproveOnCall, when set, limits automatic approval further to
	// requesters on call now in one of these PagerDuty schedules or
	// escalation policies.
	AutoApproveOnCall *OnCallQuery `json:"auto_approve_oncall,omitempty"`
	// Condition is the rule's CEL condition, "" for none.
	Condition string `json:"condition,omitempty"`
}

// Rules summarises every rule, in file order.
func (p *Policy) Rules() []RuleSummary {
	out := make([]RuleSummary, 0, len(p.rules))
	for _, r := range p.rules {
		s := RuleSummary{
			Name: r.name, Description: r.description, Everyone: r.everyone,
			Groups: append([]string(nil), r.reqGroupList...), Users: append([]string(nil), r.reqUserList...),
			MaxDuration: r.maxDuration, ReasonRequired: r.reasonRequired || r.reasonPattern != nil,
			Approvers: append([]string{}, r.approvers...), Approvals: r.approvals, SelfApproval: r.selfApproval,
		}
		for name := range r.resNames {
			s.Resources = append(s.Resources, name)
		}
		s.Resources = append(s.Resources, r.resGlobs...)
		sort.Strings(s.Resources)
		if r.access != nil {
			s.Access = append([]string(nil), r.accessList...)
		}
		if r.reasonPattern != nil {
			s.ReasonPattern = r.reasonPattern.String()
		}
		if a := r.auto; a != nil {
			s.AutoApprove, s.AutoApproveMax = true, a.maxDuration
			if a.cond != nil {
				s.AutoApproveIf = a.cond.src
			}
			if a.oncall != nil {
				q := a.oncall.clone()
				s.AutoApproveOnCall = &q
			}
		}
		if r.cond != nil {
			s.Condition = r.cond.src
		}
		out = append(out, s)
	}
	return out
}

// MayApprove reports whether id could approve some request under some
// rule: an admin, a person or group named among a rule's approvers, or,
// under a rule whose approvers are peers, someone who may request under
// it. It says nothing about any particular request (CheckApprover does);
// it decides whether pages for approvers are shown at all.
func (p *Policy) MayApprove(id jit.Identity) bool {
	w := p.who(id)
	if w.admin {
		return true
	}
	for _, r := range p.rules {
		if r.approverUsers[w.email] {
			return true
		}
		if _, ok := w.inAny(r.approverGroups); ok {
			return true
		}
		if r.peers && r.requester(&w) != "" {
			return true
		}
	}
	return false
}

// ApproverEmailsOf lists the known people who may approve req under the
// rule that allowed it (by name, as the policy has it now), without its
// requester: whom to ask, for notifications. Nil when the rule is gone.
func (p *Policy) ApproverEmailsOf(req *jit.Request) []string {
	for _, r := range p.rules {
		if r.name == req.Rule {
			requester := normEmail(req.Requester)
			if !r.peers || (len(req.Peers) == 0 && !req.PeersFromTarget) {
				return p.approverEmails(r, requester)
			}
			// The target named the peers (see CheckApprover): they replace
			// the rule's requesters, beside its users and groups.
			set := map[string]bool{}
			for u := range r.approverUsers {
				set[u] = true
			}
			for g := range r.approverGroups {
				for _, e := range p.members[g] {
					set[e] = true
				}
			}
			for _, e := range req.Peers {
				set[normEmail(e)] = true
			}
			delete(set, requester)
			return sortedKeys(set)
		}
	}
	return nil
}
