package policy

import (
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// Offers lists what id may request, one Offer per resource in file order:
// every level id may request under some rule whose condition may hold at
// now (see conditionMayHold); the conditions of the offering rules are
// listed with the offer. Per resource it merges the offering rules: the largest
// max_duration, approval not required when one of them auto-approves
// without a condition (being on call is one), the fewest approvals any of them needs, every
// approver, and a reason required only when all of them require one.
func (p *Policy) Offers(id jit.Identity, now time.Time) []Offer {
	w := p.who(id)
	var out []Offer
	for _, res := range p.resources {
		var (
			o       Offer
			maxDur  time.Duration
			minAppr = -1
			allNeed = true
			pattern string
		)
		offered := map[string]bool{}
		for _, r := range res.rules {
			if r.requester(&w) == "" {
				continue
			}
			ruleOffers := false
			for _, level := range res.access {
				if !r.coversAccess(level) {
					continue
				}
				if r.cond != nil && !p.conditionMayHold(r, &w, res, level, now) {
					continue
				}
				ruleOffers = true
				offered[level] = true
			}
			if !ruleOffers {
				continue
			}
			o.Rules = append(o.Rules, r.name)
			if r.cond != nil {
				o.Conditions = append(o.Conditions, r.cond.src)
			}
			maxDur = max(maxDur, r.maxDuration)
			if r.auto != nil && r.auto.cond == nil && r.auto.oncall == nil {
				minAppr = 0
			} else if minAppr < 0 || r.approvals < minAppr {
				minAppr = r.approvals
			}
			for _, a := range r.approvers {
				if !contains(o.Approvers, a) {
					o.Approvers = append(o.Approvers, a)
				}
			}
			if r.reasonPattern == nil && !r.reasonRequired {
				allNeed = false
			} else if pattern == "" && r.reasonPattern != nil {
				pattern = r.reasonPattern.String()
			}
		}
		if len(o.Rules) == 0 {
			continue
		}
		for _, level := range res.access {
			if offered[level] {
				o.Access = append(o.Access, level)
			}
		}
		o.Resource = res.name
		o.Description = res.description
		o.Provider = res.providerType
		o.DefaultAccess = res.defaultAccess
		if o.DefaultAccess == "" && len(res.access) == 1 {
			o.DefaultAccess = res.access[0]
		}
		o.MaxDuration = FormatDuration(maxDur)
		o.ApprovalRequired = minAppr != 0
		o.ApprovalsRequired = minAppr
		o.ReasonRequired = allNeed
		if allNeed {
			o.ReasonPattern = pattern
		}
		out = append(out, o)
	}
	return out
}

// probeDurations are the request durations at which an offer's condition is
// tried, besides the rule's max_duration: the duration of a request that
// is not yet made is unknown, and a condition such as
// duration <= duration("1h") holds only for some.
var probeDurations = []time.Duration{time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour}

// conditionMayHold reports whether r's condition can allow w to request
// level on res now: it is tried with the rule's max_duration and shorter
// probe durations and an empty reason; a condition that reads the reason
// and holds for none of them is still offered, since the right reason may
// satisfy it (the offer lists the condition).
func (p *Policy) conditionMayHold(r *rule, w *who, res *resource, level string, now time.Time) bool {
	if r.cond.readsSubject {
		// What the condition reads of the target is known only at submit.
		return true
	}
	vars := &celVars{
		requester: &celRequester{Email: w.email, Groups: w.allGroups(), Admin: w.admin},
		resource:  res.cel, access: level, time: now.UTC(),
	}
	durs := append([]time.Duration{r.maxDuration}, probeDurations...)
	for _, d := range durs {
		if d > r.maxDuration {
			continue
		}
		vars.duration = d
		if ok, _ := r.cond.eval(vars); ok {
			return true
		}
	}
	return strings.Contains(r.cond.src, "reason")
}
