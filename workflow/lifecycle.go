package workflow

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
)

// PolicyReloaded records a policy reload in the audit log and revokes
// every active grant the new policy no longer allows.
func (s *Service) PolicyReloaded(ctx context.Context, old, cur *policy.Policy) error {
	now := s.now()
	details := map[string]string{"digest": cur.Digest()}
	if old != nil {
		details["previous_digest"] = old.Digest()
		if !reflect.DeepEqual(old.Server(), cur.Server()) {
			// Listen address, store, rate limits and identity settings are
			// read at start; say so rather than appear to apply them.
			details["server_settings_changed"] = "restart jitd to apply them"
			s.log.Warn("the server section of the policy changed; restart jitd to apply it (the rest of the policy is in force)")
		}
	}
	if err := s.store.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{systemEvent(now, jit.ActionPolicyReload, nil, "", details)}}); err != nil {
		return fmt.Errorf("record policy reload: %w", err)
	}
	if m := s.cfg.Metrics; m != nil {
		m.PolicyReloads.WithLabelValues("ok").Inc()
	}
	return s.RevokeDisallowed(ctx)
}

// PolicyReloadFailed records that a changed policy file was refused.
func (s *Service) PolicyReloadFailed(ctx context.Context, loadErr error) error {
	if m := s.cfg.Metrics; m != nil {
		m.PolicyReloads.WithLabelValues("error").Inc()
	}
	ev := systemEvent(s.now(), jit.ActionPolicyError, nil, loadErr.Error(), nil)
	return s.store.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{ev}})
}

// RevokeDisallowed revokes the active grants the current policy no longer
// allows. It runs after every policy reload.
func (s *Service) RevokeDisallowed(ctx context.Context) error {
	p := s.policy.Get()
	f := jit.RequestFilter{Statuses: []jit.Status{jit.StatusActive}, Limit: 500}
	var victims []*jit.Request
	for {
		batch, err := s.store.ListRequests(ctx, f)
		if err != nil {
			return fmt.Errorf("list active grants: %w", err)
		}
		for _, r := range batch {
			if s.stillAllowed(p, r) != "" {
				victims = append(victims, r)
			}
		}
		if len(batch) < f.Limit {
			break
		}
		f.After = batch[len(batch)-1].ID
	}
	for _, v := range victims {
		_, err := s.update(ctx, v.ID, func(r *jit.Request) (*jit.Change, error) {
			why := s.stillAllowed(p, r)
			if r.Status != jit.StatusActive || why == "" {
				return nil, nil
			}
			now := s.now()
			n, err := Transition(r, Event{Kind: EvRevoke, Actor: jit.SystemActor, At: now, Text: why})
			if err != nil {
				return nil, err
			}
			return &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(now, jit.ActionRevoke, n, why, nil)},
				Enqueue: []jit.Job{jit.NewJob(jit.JobRevoke, n.ID, now)}}, nil
		})
		if err != nil {
			s.log.Error("revoke of a grant the policy no longer allows failed", "request", v.ID, "err", err)
			continue
		}
		s.log.Warn("revoked a grant the new policy no longer allows", "request", v.ID, "requester", v.Requester, "resource", v.Resource)
	}
	return nil
}

// Authz is the forward-auth decision for the caller: allowed while the
// caller has an active grant on the resource whose expires_at has not
// passed, checked here so that access ends on time even if the revoke
// job is late. When a proxy passes the original host and path, the
// resource is the one whose route matches them; a resource named as well
// must be that one, so that a name smuggled into the query string cannot
// open another resource's route.
func (s *Service) Authz(ctx context.Context, in AuthzInput) (AuthzResult, error) {
	who, err := caller(ctx)
	if err != nil {
		return AuthzResult{}, err
	}
	p := s.policy.Get()
	res := in.Resource
	if in.Host != "" || in.Path != "" {
		routed := s.route(p, in.Host, in.Path)
		switch {
		case routed == "":
			return AuthzResult{Resource: res, Reason: fmt.Sprintf("no resource guards %s%s", in.Host, in.Path)}, nil
		case res != "" && routed != res:
			return AuthzResult{Resource: res, Reason: fmt.Sprintf("%s%s belongs to resource %s, not %s", in.Host, in.Path, routed, res)}, nil
		}
		res = routed
	} else if _, ok := p.Resource(res); !ok || res == "" {
		return AuthzResult{Resource: res, Reason: "unknown resource " + res}, nil
	}
	now := s.now()
	r, err := s.store.FindActive(ctx, who.Email, res, now)
	if err != nil {
		return AuthzResult{}, err
	}
	if r == nil || r.ExpiresAt == nil || !r.ExpiresAt.After(now) {
		return AuthzResult{Resource: res, Reason: fmt.Sprintf("%s has no active grant on %s", who.Email, res)}, nil
	}
	return AuthzResult{Allowed: true, Resource: res, RequestID: r.ID, ExpiresAt: r.ExpiresAt}, nil
}

// route finds the resource whose provider guards host and path. When
// several match, the most specific route wins: an exact host over a
// wildcard host over any host, then the longest path prefix; config order
// breaks ties.
func (s *Service) route(p *policy.Policy, host, path string) string {
	best, bestScore := "", -1
	for _, ri := range p.Resources() {
		prov, ok := p.Provider(ri.Name)
		if !ok {
			continue
		}
		rt, ok := provider.As[provider.Router](prov)
		if !ok || !rt.Match(host, path) {
			continue
		}
		h, prefix := rt.Route()
		hostScore := 0
		switch {
		case strings.HasPrefix(h, "*"):
			hostScore = 1
		case h != "":
			hostScore = 2
		}
		if score := hostScore<<16 + len(prefix); score > bestScore {
			best, bestScore = ri.Name, score
		}
	}
	return best
}

// Maintain refreshes the gauges that come from the store (requests by
// status, overdue grants) every interval until ctx ends.
//
// Every sweepEvery ticks (and at once) it also revokes active grants the
// policy no longer allows: the reload sweep may have failed for one of
// them, or the policy file may have changed while jitd was down.
func (s *Service) Maintain(ctx context.Context, interval time.Duration) {
	const sweepEvery = 6
	t := time.NewTicker(interval)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if tick%sweepEvery == 0 {
			if err := s.RevokeDisallowed(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("revoke grants the policy no longer allows", "err", err)
			}
		}
		s.refreshGauges(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// overdueGrace is how long past its expiry a grant may take to be removed
// before it counts as overdue.
const overdueGrace = 5 * time.Second

func (s *Service) refreshGauges(ctx context.Context) {
	m := s.cfg.Metrics
	if m == nil {
		return
	}
	counts, err := s.store.CountRequests(ctx)
	if err != nil {
		s.log.Warn("count requests for metrics", "err", err)
		return
	}
	for _, st := range jit.AllStatuses {
		m.RequestsByStatus.WithLabelValues(string(st)).Set(float64(counts[st]))
	}
	n, err := s.CountOverdue(ctx)
	if err != nil {
		s.log.Warn("count overdue grants", "err", err)
		return
	}
	m.Overdue.Set(float64(n))
}

// CountOverdue counts grants past their expiry (by more than a short
// grace) whose access has not been confirmed removed.
func (s *Service) CountOverdue(ctx context.Context) (int, error) {
	before := s.now().Add(-overdueGrace)
	f := jit.RequestFilter{Statuses: []jit.Status{jit.StatusActive, jit.StatusRevoking}, ExpiresBefore: &before, Limit: 1000}
	n := 0
	for {
		batch, err := s.store.ListRequests(ctx, f)
		if err != nil {
			return 0, err
		}
		n += len(batch)
		if len(batch) < f.Limit {
			return n, nil
		}
		f.After = batch[len(batch)-1].ID
	}
}
