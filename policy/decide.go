package policy

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit"
)

// MaxReasonLen is the longest reason (in characters, after trimming) a
// request may carry.
const MaxReasonLen = 1000

// who is a requester as the rules see them: the groups the caller passed
// together with the groups config gives the email. Config membership is
// authoritative whoever built the identity, so it always counts.
type who struct {
	email  string
	groups []string // from the caller
	cfg    []string // from config
	admin  bool
}

func (p *Policy) who(id jit.Identity) who {
	e := normEmail(id.Email)
	cfg := p.people[e]
	return who{email: e, groups: id.Groups, cfg: cfg, admin: id.Admin || p.isAdmin(e, id.Groups, cfg)}
}

// inAny returns a group of w's that is in set.
func (w *who) inAny(set map[string]bool) (string, bool) {
	if len(set) == 0 {
		return "", false
	}
	for _, g := range w.groups {
		if set[g] {
			return g, true
		}
	}
	for _, g := range w.cfg {
		if set[g] {
			return g, true
		}
	}
	return "", false
}

// allGroups is w's groups merged, sorted and without repeats.
func (w *who) allGroups() []string {
	if len(w.groups) == 0 {
		return w.cfg
	}
	out := make([]string, 0, len(w.groups)+len(w.cfg))
	out = append(out, w.cfg...)
	for _, g := range w.groups {
		if !contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// requester says whether w may request under r and how ("everyone",
// "user", "group NAME"); "" means w may not.
func (r *rule) requester(w *who) string {
	if r.reqUsers[w.email] {
		return "user " + w.email
	}
	if g, ok := w.inAny(r.reqGroups); ok {
		return "group " + g
	}
	if r.everyone {
		return "everyone"
	}
	return ""
}

func (r *rule) requestersText() string {
	var parts []string
	if len(r.reqGroupList) > 0 {
		parts = append(parts, "groups "+strings.Join(r.reqGroupList, ", "))
	}
	if len(r.reqUserList) > 0 {
		parts = append(parts, "users "+strings.Join(r.reqUserList, ", "))
	}
	return strings.Join(parts, "; ")
}

func (r *rule) coversAccess(level string) bool { return r.access == nil || r.access[level] }

// reasonProblem checks reason (already trimmed) against r. A pattern
// implies a reason is required: an empty reason can never carry the
// ticket number a pattern asks for.
func (r *rule) reasonProblem(reason string) (code, msg string) {
	switch {
	case reason == "" && r.reasonPattern != nil:
		return jit.ECodeJustificationNeed, fmt.Sprintf("rule %s requires a reason matching %s", r.name, r.reasonPattern)
	case reason == "" && r.reasonRequired:
		return jit.ECodeJustificationNeed, fmt.Sprintf("rule %s requires a reason (--reason)", r.name)
	case r.reasonPattern != nil && !r.reasonPattern.MatchString(reason):
		return jit.ECodeJustificationBad, fmt.Sprintf("the reason must match %s (rule %s)", r.reasonPattern, r.name)
	}
	return "", ""
}

func (r *rule) approvalText() string {
	n := "approval"
	if r.approvals != 1 {
		n = "approvals"
	}
	return fmt.Sprintf("needs %d %s from %s", r.approvals, n, strings.Join(r.approvers, ", "))
}

// Decide decides whether in may be requested and how it is approved. It
// has no side effects and is safe for concurrent use. The refusal codes
// are unknown_resource, unknown_access, invalid_duration, invalid_input
// (a reason over MaxReasonLen characters, or no requester email),
// duration_too_long, justification_required, justification_mismatch and
// not_allowed; Decision.Err turns a refusal into a *jit.Error.
func (p *Policy) Decide(in Input) Decision {
	w := p.who(in.Requester)
	return p.decide(&w, in)
}

func (p *Policy) decide(w *who, in Input) Decision { return p.decideWith(w, in, nil) }

// decideWith is decide; ask, when not nil, is told each on-call query whose
// answer could change the outcome and is missing from in.OnCall (see
// OnCallQueries).
func (p *Policy) decideWith(w *who, in Input, ask func(*OnCallQuery)) Decision {
	var d Decision
	refuse := func(field, code, format string, args ...any) Decision {
		d.Allowed, d.Code, d.Field, d.Message = false, code, field, fmt.Sprintf(format, args...)
		d.Explanation = append(d.Explanation, "outcome: refused ("+code+"): "+d.Message)
		return d
	}
	reason := strings.TrimSpace(in.Reason)
	res := p.byName[in.Resource]
	access, how := in.Access, ""
	if res != nil && access == "" {
		switch {
		case res.defaultAccess != "":
			access, how = res.defaultAccess, " (the default)"
		case len(res.access) == 1:
			access, how = res.access[0], " (the only level)"
		}
	}
	shown := access + how
	if shown == "" {
		shown = "(none given)"
	}
	d.Explanation = append(d.Explanation, fmt.Sprintf("request: %s (groups: %s) asks for %s at access %s for %s with reason %q",
		w.email, strings.Join(w.allGroups(), ", "), in.Resource, shown, FormatDuration(in.Duration), reason))
	switch {
	case res == nil:
		return refuse("resource", jit.ECodeUnknownResource, "unknown resource %q (jit resources lists what you may request)", in.Resource)
	case access == "":
		return refuse("access", jit.ECodeUnknownAccess, "resource %s has levels %s; pick one with --access", res.name, strings.Join(res.access, ", "))
	case !res.accessSet[access]:
		return refuse("access", jit.ECodeUnknownAccess, "resource %s has no access level %q (levels: %s)", res.name, access, strings.Join(res.access, ", "))
	}
	d.Access = access
	switch {
	case in.Duration <= 0:
		return refuse("duration", jit.ECodeInvalidDur, "duration must be positive")
	case utf8.RuneCountInString(reason) > MaxReasonLen:
		return refuse("reason", jit.ECodeInvalid, "the reason has %d characters; the limit is %d", utf8.RuneCountInString(reason), MaxReasonLen)
	case w.email == "":
		return refuse("requester", jit.ECodeInvalid, "the requester has no email")
	}
	if len(res.rules) == 0 {
		d.Explanation = append(d.Explanation, fmt.Sprintf("no rule covers resource %s", res.name))
	}

	var (
		vars      *celVars
		candidate bool
		failCode  string
		failMsg   string
		failMax   time.Duration
		chosen    *rule
		auto      bool
		// onCall is set when chosen approves automatically because the
		// requester is on call.
		onCall *OnCallResult
	)
	env := func() *celVars {
		if vars == nil {
			vars = &celVars{
				requester: &celRequester{Email: w.email, Groups: w.allGroups(), Admin: w.admin},
				resource:  res.cel, access: access, duration: in.Duration, reason: reason, time: in.Time.UTC(),
				target: in.Target, labels: in.Labels,
			}
		}
		return vars
	}
	for _, r := range res.rules {
		via := r.requester(w)
		if via == "" {
			d.Explanation = append(d.Explanation, fmt.Sprintf("rule %s: skipped: %s is not among its requesters (%s)", r.name, w.email, r.requestersText()))
			continue
		}
		if !r.coversAccess(access) {
			d.Explanation = append(d.Explanation, fmt.Sprintf("rule %s: skipped: it does not cover access %s (only %s)", r.name, access, strings.Join(r.accessList, ", ")))
			continue
		}
		candidate = true
		if r.cond != nil {
			ok, err := r.cond.eval(env())
			if err != nil {
				d.Explanation = append(d.Explanation, fmt.Sprintf("rule %s: refused: its condition could not be evaluated, which counts as false: %v (condition: %s)", r.name, err, r.cond.src))
				continue
			}
			if !ok {
				d.Explanation = append(d.Explanation, fmt.Sprintf("rule %s: refused: its condition is false: %s", r.name, r.cond.src))
				continue
			}
		}
		var why []string
		code, msg := "", ""
		if in.Duration > r.maxDuration {
			code = jit.ECodeDurationTooLong
			msg = fmt.Sprintf("duration %s is longer than the %s rule %s allows", FormatDuration(in.Duration), FormatDuration(r.maxDuration), r.name)
			why = append(why, fmt.Sprintf("duration %s exceeds max_duration %s", FormatDuration(in.Duration), FormatDuration(r.maxDuration)))
		}
		if rc, rm := r.reasonProblem(reason); rc != "" && in.ReasonUnknown && reason == "" {
			// Explaining without a reason: report the requirement instead
			// of refusing on it.
			why = append(why, "needs a reason: "+rm)
		} else if rc != "" {
			if code == "" {
				code, msg = rc, rm
			}
			why = append(why, rm)
		}
		if code != "" {
			if failCode == "" {
				failCode, failMsg = code, msg
				if code == jit.ECodeDurationTooLong {
					failMax = r.maxDuration
				}
			}
			d.Explanation = append(d.Explanation, fmt.Sprintf("rule %s: refused: %s", r.name, strings.Join(why, "; ")))
			continue
		}
		ao := p.autoApplies(r, in, w.email, env)
		if ao.ask != nil && ask != nil && !auto {
			// Only while no earlier rule approves automatically: the
			// first rule that does decides, so later answers change
			// nothing.
			ask(ao.ask)
		}
		applies, autoWhy := ao.applies, ao.why
		line := fmt.Sprintf("rule %s: allows (requester via %s, max_duration %s)", r.name, via, FormatDuration(r.maxDuration))
		if applies {
			line += ": approves automatically"
		} else {
			line += ": " + r.approvalText()
		}
		if autoWhy != "" {
			line += "; " + autoWhy
		}
		if len(why) > 0 {
			line += "; " + strings.Join(why, "; ")
		}
		d.Explanation = append(d.Explanation, line)
		if chosen == nil || (applies && !auto) {
			chosen, auto, onCall = r, applies, ao.onCall
		}
	}

	if chosen == nil {
		if !candidate {
			return refuse("", jit.ECodeNotAllowed, "no rule lets %s request %s at access %s", w.email, res.name, access)
		}
		if failCode != "" {
			d.MaxDuration = failMax
			field := "reason"
			if failCode == jit.ECodeDurationTooLong {
				field = "duration"
			}
			return refuse(field, failCode, "%s", failMsg)
		}
		return refuse("", jit.ECodeNotAllowed, "%s may not request %s at access %s now: the conditions of the matching rules are not met (jit policy explain shows them)", w.email, res.name, access)
	}
	d.Allowed = true
	d.Rule = chosen.name
	d.MaxDuration = chosen.maxDuration
	d.AutoApproved = auto
	if !auto {
		d.ApprovalsRequired = chosen.approvals
	}
	d.Approvers = append([]string(nil), chosen.approvers...)
	d.ApproverEmails = p.approverEmails(chosen, w.email)
	d.SelfApproval = chosen.selfApproval
	switch {
	case auto && onCall != nil:
		d.OnCall = onCall
		via := "on call in PagerDuty"
		if onCall.Via != "" {
			via = "on call via " + onCall.Via
		}
		d.Explanation = append(d.Explanation, fmt.Sprintf("outcome: allowed by rule %s, approved automatically (%s)", chosen.name, via))
	case auto:
		d.Explanation = append(d.Explanation, fmt.Sprintf("outcome: allowed by rule %s, approved automatically", chosen.name))
	default:
		d.Explanation = append(d.Explanation, fmt.Sprintf("outcome: allowed by rule %s, %s", chosen.name, chosen.approvalText()))
	}
	return d
}

// autoOutcome is whether a rule's auto_approve covers a request.
type autoOutcome struct {
	applies bool
	// why says why not when the rule has an auto_approve that does not
	// apply, and where the requester is on call when oncall made it apply.
	why string
	// onCall is set when it applies because the requester is on call.
	onCall *OnCallResult
	// ask is set when only the missing answer to this on-call query
	// stands between the request and automatic approval.
	ask *OnCallQuery
}

// autoApplies reports whether r's auto_approve covers in, checking its
// max_duration, then its condition, then whether the requester is on call:
// an on-call lookup is only needed when everything else holds.
func (p *Policy) autoApplies(r *rule, in Input, email string, env func() *celVars) autoOutcome {
	a := r.auto
	if a == nil {
		return autoOutcome{}
	}
	d := in.Duration
	if a.maxDuration > 0 && d > a.maxDuration {
		return autoOutcome{why: fmt.Sprintf("auto_approve does not apply: duration %s exceeds its max_duration %s", FormatDuration(d), FormatDuration(a.maxDuration))}
	}
	if a.cond != nil {
		ok, err := a.cond.eval(env())
		if err != nil {
			return autoOutcome{why: fmt.Sprintf("auto_approve does not apply: its condition could not be evaluated, which counts as false: %v", err)}
		}
		if !ok {
			return autoOutcome{why: "auto_approve does not apply: its condition is false: " + a.cond.src}
		}
	}
	if a.oncall != nil {
		oc := onCall(a.oncall, in, email)
		out := autoOutcome{applies: oc.result != nil, why: oc.why, onCall: oc.result}
		if oc.missing {
			out.ask = a.oncall
		}
		return out
	}
	return autoOutcome{applies: true}
}

// approverEmails lists the known people who may approve under r, without
// the requester unless r allows self-approval.
func (p *Policy) approverEmails(r *rule, requester string) []string {
	r.emailsOnce.Do(func() {
		set := map[string]bool{}
		for u := range r.approverUsers {
			set[u] = true
		}
		for g := range r.approverGroups {
			for _, e := range p.members[g] {
				set[e] = true
			}
		}
		if r.peers {
			if r.everyone {
				for _, e := range p.known {
					set[e] = true
				}
			}
			for u := range r.reqUsers {
				set[u] = true
			}
			for g := range r.reqGroups {
				for _, e := range p.members[g] {
					set[e] = true
				}
			}
		}
		r.emails = sortedKeys(set)
	})
	out := make([]string, 0, len(r.emails))
	for _, e := range r.emails {
		if e != requester || r.selfApproval {
			out = append(out, e)
		}
	}
	return out
}

// CheckApprover decides whether approver may approve (or deny) req now:
// the request must still be allowed by this policy (it is decided again
// with the requester's current config groups merged with the groups their
// credential asserted at submit, at the request's submit time) and the approver must be eligible under
// the rule that allows it (users, groups, or peers: others eligible to
// request under the same rule), and not the requester unless the rule
// allows self-approval. Admins are not approvers by being admins. It has
// no side effects.
func (p *Policy) CheckApprover(approver jit.Identity, req *jit.Request, now time.Time) ApproveCheck {
	requester := p.Identity(req.Requester)
	for _, g := range req.RequesterGroups {
		if !contains(requester.Groups, g) {
			requester.Groups = append(requester.Groups, g)
		}
	}
	rw := p.who(requester)
	// The request is decided as it was made: at its submit time, so that a
	// time-of-day condition judges when it was asked for, not when someone
	// gets round to approving it.
	d := p.decide(&rw, RequestInput(requester, req))
	if !d.Allowed {
		return ApproveCheck{Code: jit.ECodeNotAllowed, Message: "request is no longer allowed by policy: " + d.Message}
	}
	r := p.ruleByName[d.Rule]
	aw := p.who(approver)
	if aw.email == rw.email && !r.selfApproval {
		return ApproveCheck{Code: jit.ECodeSelfApproval, Message: fmt.Sprintf("you cannot approve your own request (rule %s does not allow self-approval)", r.name)}
	}
	if r.approverUsers[aw.email] {
		return ApproveCheck{OK: true, ApprovalsRequired: d.ApprovalsRequired}
	}
	if _, ok := aw.inAny(r.approverGroups); ok {
		return ApproveCheck{OK: true, ApprovalsRequired: d.ApprovalsRequired}
	}
	if r.peers && (len(req.Peers) > 0 || req.PeersFromTarget) {
		// The target named this request's peers (the other holders of an
		// eligible cloud binding): they, and not everyone the rule lets
		// request, are the peers.
		if contains(req.Peers, aw.email) {
			return ApproveCheck{OK: true, ApprovalsRequired: d.ApprovalsRequired}
		}
	} else if r.peers && r.requester(&aw) != "" {
		return ApproveCheck{OK: true, ApprovalsRequired: d.ApprovalsRequired}
	}
	if len(r.approvers) == 0 {
		return ApproveCheck{Code: jit.ECodeNotApprover, Message: fmt.Sprintf("rule %s has no approvers; its requests are approved automatically", r.name)}
	}
	return ApproveCheck{Code: jit.ECodeNotApprover, Message: fmt.Sprintf("%s may not approve this request: rule %s is approved by %s", aw.email, r.name, strings.Join(r.approvers, ", "))}
}
