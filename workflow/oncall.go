package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit/policy"
)

// OnCallChecker answers whether a person is on call now, for rules whose
// automatic approval needs it (auto_approve.oncall). jitd adapts the
// PagerDuty client to it; workflow does not import that adapter.
type OnCallChecker interface {
	// OnCall reports whether the person with this email is on call now in
	// one of the given PagerDuty schedules or escalation policies (at
	// least one ID in all).
	//
	// Error contract: any failure to get a definite answer (unreachable,
	// timed out, refused, rate limited, an unexpected response) is an
	// error, and the result then carries no meaning. The Service treats an
	// error as "unknown", which means normal approval, never automatic
	// approval. A nil error with OnCall false is a definite "not on call".
	// ctx bounds the wait.
	//
	// Idempotency: it only reads; calling it again for the same arguments
	// is safe and may be answered from a cache.
	OnCall(ctx context.Context, email string, schedules, escalationPolicies []string) (policy.OnCallResult, error)
}

// OnCallFunc is a function that is an OnCallChecker.
type OnCallFunc func(ctx context.Context, email string, schedules, escalationPolicies []string) (policy.OnCallResult, error)

// OnCall calls f; its contract is OnCallChecker's.
func (f OnCallFunc) OnCall(ctx context.Context, email string, schedules, escalationPolicies []string) (policy.OnCallResult, error) {
	return f(ctx, email, schedules, escalationPolicies)
}

// DefaultOnCallTimeout bounds the on-call lookups of one submit or explain
// when Config.OnCallTimeout is not set: two PagerDuty fetches one after the
// other (schedules, then escalation policies) at their default timeout.
const DefaultOnCallTimeout = 10 * time.Second

// errNoOnCallChecker answers every lookup when jitd has no on-call source,
// such as after a reload that added server.pagerduty: the server section
// takes effect at restart.
var errNoOnCallChecker = errors.New("jitd has no connection to PagerDuty (server.pagerduty takes effect when jitd starts)")

// onCallAnswers makes the on-call lookups that deciding in under p may
// need, all at once and bounded by Config.OnCallTimeout, and returns their
// answers by query key (nil when none is needed). A lookup that fails is an
// answer with its error, which Decide reads as normal approval.
func (s *Service) onCallAnswers(ctx context.Context, p *policy.Policy, in policy.Input) map[string]policy.OnCallAnswer {
	qs := p.OnCallQueries(in)
	if len(qs) == 0 {
		return nil
	}
	out := make(map[string]policy.OnCallAnswer, len(qs))
	if s.cfg.OnCall == nil {
		for _, q := range qs {
			out[q.Key()] = policy.OnCallAnswer{Err: errNoOnCallChecker}
		}
		s.log.Warn("on-call lookup impossible; normal approval", "requester", in.Requester.Email, "resource", in.Resource, "err", errNoOnCallChecker)
		return out
	}
	email := strings.ToLower(strings.TrimSpace(in.Requester.Email))
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OnCallTimeout)
	defer cancel()
	answers := make([]policy.OnCallAnswer, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() { answers[i] = s.lookUpOnCall(ctx, email, q) })
	}
	wg.Wait()
	for i, q := range qs {
		a := answers[i]
		out[q.Key()] = a
		if a.Err != nil {
			s.log.Warn("on-call lookup failed; normal approval", "requester", email, "resource", in.Resource,
				"query", q.Key(), "err", a.Err)
		}
	}
	return out
}

// lookUpOnCall asks the checker once. A panic in it is an error answer: a
// faulty checker must fall back to normal approval like any other failure.
func (s *Service) lookUpOnCall(ctx context.Context, email string, q policy.OnCallQuery) (a policy.OnCallAnswer) {
	defer func() {
		if r := recover(); r != nil {
			a = policy.OnCallAnswer{Err: fmt.Errorf("on-call lookup panicked: %v", r)}
		}
	}()
	res, err := s.cfg.OnCall.OnCall(ctx, email, q.Schedules, q.EscalationPolicies)
	if err != nil {
		return policy.OnCallAnswer{Err: err}
	}
	return policy.OnCallAnswer{Result: res}
}

// decideWithOnCall decides in under p, first looking up whether the
// requester is on call where a rule's automatic approval depends on it.
func (s *Service) decideWithOnCall(ctx context.Context, p *policy.Policy, in policy.Input) (policy.Decision, map[string]policy.OnCallAnswer) {
	in.OnCall = s.onCallAnswers(ctx, p, in)
	return p.Decide(in), in.OnCall
}

// onCallDetails are the audit details of an automatic approval because the
// requester is on call: where ("schedule:PABC123") and until when (absent
// when PagerDuty gives no end).
func onCallDetails(details map[string]string, oc *policy.OnCallResult) {
	if oc == nil {
		return
	}
	details["oncall"] = oc.Via
	if !oc.Until.IsZero() {
		details["oncall_until"] = oc.Until.UTC().Format(time.RFC3339)
	}
}

// onCallFailure is the first failed lookup among answers (by key, so that
// it is stable), for the submit's audit event: it tells why a request that
// might have been approved automatically waits for approvers.
func onCallFailure(answers map[string]policy.OnCallAnswer) string {
	first := ""
	for k, a := range answers {
		if a.Err != nil && (first == "" || k < first) {
			first = k
		}
	}
	if first == "" {
		return ""
	}
	return answers[first].Err.Error()
}
