package workflow

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
)

// RunJob runs one durable job. It returns nil when it recorded the job's
// outcome itself (done, or rescheduled with its own backoff); an error
// means nothing was recorded and the scheduler should retry the job.
func (s *Service) RunJob(ctx context.Context, j jit.Job) error {
	switch j.Kind {
	case jit.JobGrant:
		return s.runGrant(ctx, j)
	case jit.JobRevoke:
		return s.runRevoke(ctx, j)
	case jit.JobLapse:
		return s.runLapse(ctx, j)
	case jit.JobReconcile:
		return s.runReconcile(ctx, j)
	case jit.JobNotify:
		return s.runNotify(ctx, j)
	default:
		s.log.Error("dropping job of unknown kind", "job", j.ID, "kind", j.Kind)
		return s.finishJob(ctx, j, nil)
	}
}

// finishJob deletes the job, together with any events to record.
func (s *Service) finishJob(ctx context.Context, j jit.Job, events []jit.AuditEvent) error {
	return s.store.Apply(ctx, &jit.Change{Events: events, DeleteJobs: []string{j.Key}})
}

// stillAllowed re-decides r under policy p now; it returns "" when r is
// still allowed, and why not otherwise. Eligibility is checked again at
// every step, so a policy change between submit and grant is honoured.
func (s *Service) stillAllowed(p *policy.Policy, r *jit.Request) string {
	// Decided as it was made (at its submit time), so that only a change
	// of policy or of the requester's groups can end it, not the clock
	// passing a time-of-day condition.
	d := p.Decide(policy.RequestInput(s.requesterIdentity(p, r), r))
	if d.Allowed {
		return ""
	}
	return "no longer allowed by policy: " + d.Message
}

// providerFor returns the provider of r's resource, wrapped with logging
// and metrics.
func (s *Service) providerFor(p *policy.Policy, resource string) (provider.Provider, bool) {
	prov, ok := p.Provider(resource)
	if !ok {
		return nil, false
	}
	info, _ := p.Resource(resource)
	return wrapProvider(prov, info.Provider, s.log, s.cfg.Metrics), true
}

func (s *Service) runGrant(ctx context.Context, j jit.Job) error {
	r, err := s.store.GetRequest(ctx, j.RequestID)
	if jit.ErrorCode(err) == jit.ECodeNotFound {
		return s.finishJob(ctx, j, nil)
	} else if err != nil {
		return err
	}
	p := s.policy.Get()
	switch r.Status {
	case jit.StatusApproved:
		if why := s.stillAllowed(p, r); why != "" {
			return s.failGrant(ctx, j, r, why, false)
		}
		now := s.now()
		n, err := Transition(r, Event{Kind: EvGrantStart, Actor: jit.SystemActor, At: now})
		if err != nil {
			return err
		}
		if err := s.apply(ctx, &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(now, jit.ActionGrantStart, n, "", nil)}}); err != nil {
			return fmt.Errorf("start grant of %s: %w", r.ID, err)
		}
		r = n
	case jit.StatusGranting:
		// A previous run died after starting; grants are idempotent, so
		// run it again.
		if why := s.stillAllowed(p, r); why != "" {
			return s.failGrant(ctx, j, r, why, true)
		}
	default:
		return s.finishJob(ctx, j, nil)
	}

	prov, ok := s.providerFor(p, r.Resource)
	if !ok {
		return s.failGrant(ctx, j, r, fmt.Sprintf("resource %s is no longer configured", r.Resource), false)
	}
	now := s.now()
	expiresAt, err := s.expiryFor(ctx, r, now)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	resp, gerr := prov.Grant(cctx, provider.GrantRequest{RequestID: r.ID, User: r.Requester, Resource: r.Resource,
		Access: r.Access, Reason: r.Reason, ExpiresAt: expiresAt, Query: r.Query, Privileges: r.Privileges,
		Target: r.Target, SSHPublicKey: r.SSHPublicKey})
	cancel()
	if gerr != nil {
		srv := p.Server()
		attempt := j.Attempt + 1
		if attempt >= srv.GrantAttempts {
			return s.failGrant(ctx, j, r, fmt.Sprintf("grant failed after %d attempts: %v", attempt, gerr), !provider.IsNotApplied(gerr))
		}
		delay := backoff(attempt, time.Minute)
		s.log.Warn("grant failed; will retry", "request", r.ID, "attempt", attempt, "retry_in", delay, "err", gerr)
		ev := systemEvent(s.now(), jit.ActionGrantRetry, r, gerr.Error(), map[string]string{"attempt": fmt.Sprint(attempt)})
		if err := s.store.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{ev}}); err != nil {
			return err
		}
		return s.store.RetryJob(ctx, j.ID, j.LeaseOwner, s.clock.Now().Add(delay), gerr.Error())
	}
	var envelope *jit.CredentialEnvelope
	if resp.Credential != nil {
		// The secret is stored only encrypted to the requester's key.
		// When that cannot be done the access is useless to them and
		// must not stay: the grant fails and the access is revoked.
		envelope, err = s.sealCredential(ctx, r, resp.Credential, s.now())
		clear(resp.Credential.Data)
		if err != nil {
			s.log.Error("credential cannot be delivered; revoking the access", "request", r.ID, "err", err)
			why := "the credential could not be encrypted to the requester's public key"
			if jit.ErrorCode(err) == jit.ECodeKeyRequired {
				why = "the requester has no public key to receive the credential (run `jit login`)"
			}
			return s.failGrant(ctx, j, r, why, true)
		}
	}
	done := s.now()
	if !expiresAt.After(done) {
		// The provider call outlasted the whole grant; nothing to activate.
		expiresAt = done.Add(time.Second)
	}
	n, err := Transition(r, Event{Kind: EvGrantOK, Actor: jit.SystemActor, At: done, Handle: resp.Handle, ExpiresAt: expiresAt})
	if err != nil {
		return err
	}
	c := &jit.Change{
		Request:    n,
		Events:     []jit.AuditEvent{systemEvent(done, jit.ActionGrant, n, "", map[string]string{"expires_at": expiresAt.Format(time.RFC3339Nano)})},
		Enqueue:    []jit.Job{jit.NewJob(jit.JobRevoke, n.ID, expiresAt)},
		DeleteJobs: []string{j.Key},
		Credential: envelope,
	}
	// The policy may have changed while the provider worked; the reload's
	// sweep only sees active grants, so a grant that the new policy
	// forbids is revoked the moment it is recorded.
	if why := s.stillAllowed(s.policy.Get(), n); why != "" {
		rn, err := Transition(n, Event{Kind: EvRevoke, Actor: jit.SystemActor, At: done, Text: why})
		if err != nil {
			return err
		}
		c.Request = rn
		c.Events = append(c.Events, systemEvent(done, jit.ActionRevoke, rn, why, nil))
		c.Enqueue = []jit.Job{jit.NewJob(jit.JobRevoke, n.ID, done)}
	}
	if err := s.apply(ctx, c); err != nil {
		return fmt.Errorf("record grant of %s: %w", r.ID, err)
	}
	s.log.Info("access granted", "request", n.ID, "requester", n.Requester, "resource", n.Resource, "expires_at", expiresAt)
	return nil
}

// expiryFor is when r's access ends if granted now: now plus its duration,
// or for an extension of still-active access, the original's expiry plus
// the duration.
func (s *Service) expiryFor(ctx context.Context, r *jit.Request, now time.Time) (time.Time, error) {
	base := now
	if r.ExtendsID != "" {
		orig, err := s.store.GetRequest(ctx, r.ExtendsID)
		if err != nil && jit.ErrorCode(err) != jit.ECodeNotFound {
			return time.Time{}, err
		}
		if err == nil && orig.Status == jit.StatusActive && orig.ExpiresAt != nil && orig.ExpiresAt.After(now) {
			base = *orig.ExpiresAt
		}
	}
	return base.Add(r.Duration), nil
}

// failGrant ends r as failed with why. When the target may hold the access
// (the outcome of a grant call is unknown), a revoke job cleans it up.
func (s *Service) failGrant(ctx context.Context, j jit.Job, r *jit.Request, why string, cleanup bool) error {
	now := s.now()
	n, err := Transition(r, Event{Kind: EvGrantFailed, Actor: jit.SystemActor, At: now, Text: why})
	if err != nil {
		return err
	}
	c := &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(now, jit.ActionGrantFailed, n, why, nil)}, DeleteJobs: []string{j.Key}}
	if cleanup {
		c.Enqueue = []jit.Job{jit.NewJob(jit.JobRevoke, n.ID, now)}
	}
	s.log.Warn("grant failed", "request", r.ID, "reason", why, "cleanup", cleanup)
	return s.apply(ctx, c)
}

func (s *Service) runRevoke(ctx context.Context, j jit.Job) error {
	r, err := s.store.GetRequest(ctx, j.RequestID)
	if jit.ErrorCode(err) == jit.ECodeNotFound {
		return s.finishJob(ctx, j, nil)
	} else if err != nil {
		return err
	}
	now := s.now()
	switch r.Status {
	case jit.StatusActive:
		if r.ExpiresAt != nil && r.ExpiresAt.After(now) {
			// Not due yet (the clock of another replica ran ahead): put the
			// job back for the expiry without counting a failed attempt.
			return s.store.Apply(ctx, &jit.Change{DeleteJobs: []string{j.Key}, Enqueue: []jit.Job{jit.NewJob(jit.JobRevoke, r.ID, *r.ExpiresAt)}})
		}
		n, err := Transition(r, Event{Kind: EvExpire, Actor: jit.SystemActor, At: now, Text: "access expired"})
		if err != nil {
			return err
		}
		if err := s.apply(ctx, &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(now, jit.ActionExpire, n, "", nil)}}); err != nil {
			return fmt.Errorf("expire %s: %w", r.ID, err)
		}
		r = n
	case jit.StatusRevoking, jit.StatusFailed:
	default:
		return s.finishJob(ctx, j, nil)
	}

	p := s.policy.Get()
	prov, ok := s.providerFor(p, r.Resource)
	var rerr error
	if !ok {
		rerr = fmt.Errorf("resource %s is not configured, so its access cannot be removed; restore its configuration", r.Resource)
	} else {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
		_, rerr = prov.Revoke(cctx, revokeRequest(r))
		cancel()
	}
	if rerr != nil {
		return s.retryRevoke(ctx, j, r, rerr)
	}
	done := s.now()
	if r.Status == jit.StatusFailed {
		ev := systemEvent(done, jit.ActionRevokeDone, r, "cleanup after a failed grant", map[string]string{"cleanup": "true"})
		return s.finishJob(ctx, j, []jit.AuditEvent{ev})
	}
	n, err := Transition(r, Event{Kind: EvRevokeDone, Actor: jit.SystemActor, At: done})
	if err != nil {
		return err
	}
	details := map[string]string{"status": string(n.Status)}
	if n.Status == jit.StatusExpired && r.ExpiresAt != nil {
		lag := done.Sub(*r.ExpiresAt)
		details["lag_ms"] = fmt.Sprint(lag.Milliseconds())
		if m := s.cfg.Metrics; m != nil {
			m.ExpiryLag.Observe(lag.Seconds())
		}
	}
	c := &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(done, jit.ActionRevokeDone, n, "", details)}, DeleteJobs: []string{j.Key}}
	if err := s.apply(ctx, c); err != nil {
		return fmt.Errorf("record revoke of %s: %w", r.ID, err)
	}
	s.log.Info("access removed", "request", n.ID, "requester", n.Requester, "resource", n.Resource, "status", n.Status)
	return nil
}

// retryRevoke schedules another revoke attempt. A revoke is never given
// up: the delay grows to the configured cap and every failure is audited,
// marked overdue once the access is past its expiry.
func (s *Service) retryRevoke(ctx context.Context, j jit.Job, r *jit.Request, rerr error) error {
	now := s.now()
	attempt := j.Attempt + 1
	delay := backoff(attempt, s.policy.Get().Server().RevokeMaxBackoff)
	details := map[string]string{"attempt": fmt.Sprint(attempt), "retry_in": delay.String()}
	action := jit.ActionRevokeRetry
	if r.ExpiresAt != nil && !now.Before(*r.ExpiresAt) {
		action = jit.ActionOverdue
		details["overdue_by"] = now.Sub(*r.ExpiresAt).Round(time.Second).String()
	}
	s.log.Error("revoke failed; will retry", "request", r.ID, "attempt", attempt, "retry_in", delay, "overdue", action == jit.ActionOverdue, "err", rerr)
	ev := systemEvent(now, action, r, rerr.Error(), details)
	if err := s.store.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{ev}}); err != nil {
		return err
	}
	return s.store.RetryJob(ctx, j.ID, j.LeaseOwner, s.clock.Now().Add(delay), rerr.Error())
}

func (s *Service) runLapse(ctx context.Context, j jit.Job) error {
	_, err := s.update(ctx, j.RequestID, func(r *jit.Request) (*jit.Change, error) {
		if r.Status != jit.StatusPending {
			return &jit.Change{DeleteJobs: []string{j.Key}}, nil
		}
		now := s.now()
		n, err := Transition(r, Event{Kind: EvLapse, Actor: jit.SystemActor, At: now, Text: "no decision before " + r.LapsesAt.Format(time.RFC3339)})
		if err != nil {
			return nil, err
		}
		return &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(now, jit.ActionLapse, n, n.EndReason, nil)}, DeleteJobs: []string{j.Key}}, nil
	})
	if jit.ErrorCode(err) == jit.ECodeNotFound {
		return s.finishJob(ctx, j, nil)
	}
	return err
}

// backoff is the delay before retry number attempt (1-based): exponential
// from one second with ±20% jitter, capped at max.
func backoff(attempt int, max time.Duration) time.Duration {
	if attempt > 30 {
		attempt = 30
	}
	d := time.Second << (attempt - 1)
	if d > max || d <= 0 {
		d = max
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// ScheduleReconcile makes sure a reconcile job is due within interval
// (an earlier one already scheduled, by this or another replica, stands).
func (s *Service) ScheduleReconcile(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return nil
	}
	return s.store.Apply(ctx, &jit.Change{Enqueue: []jit.Job{jit.NewJob(jit.JobReconcile, "", s.clock.Now().Add(interval))}})
}

// runReconcile runs one reconciliation and schedules the next one
// server.reconcile_interval later (none when it is turned off).
func (s *Service) runReconcile(ctx context.Context, j jit.Job) error {
	rep, err := s.Reconcile(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		s.log.Error("reconcile targets with the store", "err", err)
	}
	if len(rep.Drift) > 0 {
		s.log.Warn("reconciliation found drift", "drift", len(rep.Drift), "verified", rep.Verified, "listed", rep.Listed)
	}
	c := &jit.Change{DeleteJobs: []string{j.Key}}
	if every := s.policy.Get().Server().ReconcileInterval; every > 0 {
		c.Enqueue = []jit.Job{jit.NewJob(jit.JobReconcile, "", s.clock.Now().Add(every))}
	}
	return s.store.Apply(ctx, c)
}
