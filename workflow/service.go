package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/policy"
)

// Config configures a Service.
type Config struct {
	Store  jit.Store
	Policy *policy.Holder
	// Clock defaults to jit.SystemClock.
	Clock  jit.Clock
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Wake, if set, is called after a change enqueued a job that is due
	// now, so that the scheduler runs it without waiting for its next poll.
	Wake func()
	// NewID returns a new request ID; the default is "req_" + a UUIDv7.
	NewID func() string
	// ProviderTimeout bounds each provider call (default 30s), and each
	// notification delivery.
	ProviderTimeout time.Duration
	// Notifiers are the sinks every notifiable change is told to (Slack,
	// email, each webhook endpoint); names must be distinct.
	Notifiers []jit.Notifier
	// RemindBefore is how long before expiry active access is reminded
	// of (0: no reminders).
	RemindBefore time.Duration
	// OnCall answers whether a requester is on call, for rules with
	// auto_approve.oncall. Nil: nobody counts as on call, and such rules
	// need their approvers.
	OnCall OnCallChecker
	// OnCallTimeout bounds the on-call lookups of one submit or explain
	// (default DefaultOnCallTimeout); a lookup not answered by then means
	// normal approval.
	OnCallTimeout time.Duration
}

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("workflow: Config.Store is required")
	}
	if c.Policy == nil || c.Policy.Get() == nil {
		return errors.New("workflow: Config.Policy with a loaded policy is required")
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Wake == nil {
		c.Wake = func() {}
	}
	if c.NewID == nil {
		c.NewID = func() string { return "req_" + uuid.Must(uuid.NewV7()).String() }
	}
	if c.ProviderTimeout <= 0 {
		c.ProviderTimeout = 30 * time.Second
	}
	if c.OnCallTimeout <= 0 {
		c.OnCallTimeout = DefaultOnCallTimeout
	}
	seen := map[string]bool{}
	for _, n := range c.Notifiers {
		if n == nil || n.Name() == "" || seen[n.Name()] {
			return errors.New("workflow: Config.Notifiers must be non-nil with distinct, non-empty names")
		}
		seen[n.Name()] = true
	}
	return nil
}

// Service is the API of the control plane. The caller's identity and the
// action's source come from the context (jit.WithIdentity, jit.WithSource);
// every method checks authorisation itself.
type Service struct {
	cfg     Config
	store   jit.Store
	policy  *policy.Holder
	clock   jit.Clock
	log     *slog.Logger
	waiters *waiters
	changes changeHub
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, store: cfg.Store, policy: cfg.Policy, clock: cfg.Clock, log: cfg.Logger, waiters: newWaiters()}, nil
}

// Policy returns the policy in force.
func (s *Service) Policy() *policy.Policy { return s.policy.Get() }

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

func caller(ctx context.Context) (jit.Identity, error) {
	id, ok := jit.IdentityFrom(ctx)
	if !ok || id.Email == "" {
		return jit.Identity{}, jit.Errorf(jit.ECodeUnauthenticated, "not signed in")
	}
	return id, nil
}

// Whoami returns the caller's identity.
func (s *Service) Whoami(ctx context.Context) (jit.Identity, error) { return caller(ctx) }

// ResolveIdentity merges what config knows of email (groups, admin) with
// groups asserted by the authenticator (token claims).
func (s *Service) ResolveIdentity(email string, groups []string, via string) jit.Identity {
	p := s.policy.Get()
	id := p.Identity(strings.ToLower(strings.TrimSpace(email)))
	for _, g := range groups {
		if !slices.Contains(id.Groups, g) {
			id.Groups = append(id.Groups, g)
		}
		if !slices.Contains(id.ClaimGroups, g) {
			id.ClaimGroups = append(id.ClaimGroups, g)
		}
	}
	id.Admin = p.IsAdmin(id.Email, id.Groups)
	id.Via = via
	return id
}

// requesterIdentity is the requester of r as policy sees them now: what
// config says of them today, plus the groups their credential asserted at
// submit (jit cannot ask the identity provider again).
func (s *Service) requesterIdentity(p *policy.Policy, r *jit.Request) jit.Identity {
	id := p.Identity(r.Requester)
	for _, g := range r.RequesterGroups {
		if !slices.Contains(id.Groups, g) {
			id.Groups = append(id.Groups, g)
		}
	}
	return id
}

// Offers lists what the caller may request.
func (s *Service) Offers(ctx context.Context) ([]policy.Offer, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	offers := s.policy.Get().Offers(id, s.now())
	if offers == nil {
		offers = []policy.Offer{}
	}
	return offers, nil
}

// event builds an audit event for an action by the caller in ctx.
func event(ctx context.Context, at time.Time, actor, action string, r *jit.Request, reason string, details map[string]string) jit.AuditEvent {
	e := jit.AuditEvent{Time: at, Actor: actor, Action: action, Reason: reason, Source: jit.SourceFrom(ctx), Details: details}
	if r != nil {
		e.RequestID = r.ID
	}
	return e
}

func systemEvent(at time.Time, action string, r *jit.Request, reason string, details map[string]string) jit.AuditEvent {
	ctx := jit.WithSource(context.Background(), jit.SystemSource)
	return event(ctx, at, jit.SystemActor, action, r, reason, details)
}

// NoteChange wakes the callers waiting on request id: another process
// (a replica sharing the store) changed it.
func (s *Service) NoteChange(n jit.ChangeNotice) {
	if n.RequestID == "" {
		return
	}
	var latest *jit.Request
	if n.Request != nil && n.Request.ID == n.RequestID && n.Version > 0 {
		latest = n.Request.Clone()
		latest.Version = n.Version
	}
	s.waiters.notify(n.RequestID, latest)
	s.changes.publish(n.RequestID)
}

// apply commits c and tells waiters and metrics about the new state.
func (s *Service) apply(ctx context.Context, c *jit.Change) error {
	if c.Request != nil && len(s.cfg.Notifiers) > 0 {
		// Told in the same transaction as the change itself, so that a
		// change is never lost to its notifications nor told twice.
		version := c.Request.Version + 1
		jobs, err := s.notificationJobs(c, version, s.clock.Now())
		if err != nil {
			return err
		}
		if c.Request.Status == jit.StatusActive && c.Request.ExpiresAt != nil && hasAction(c.Events, jit.ActionGrant) {
			rs, err := s.reminderJobs(c.Request, version, *c.Request.ExpiresAt, s.clock.Now())
			if err != nil {
				return err
			}
			jobs = append(jobs, rs...)
		}
		// A copy: a retry of the change after a conflict starts afresh.
		cc := *c
		cc.Enqueue = append(append([]jit.Job(nil), c.Enqueue...), jobs...)
		if err := s.store.Apply(ctx, &cc); err != nil {
			return err
		}
		copy(c.Events, cc.Events)
	} else if err := s.store.Apply(ctx, c); err != nil {
		return err
	}
	if c.Request != nil {
		s.waiters.notify(c.Request.ID, c.Request.Clone())
		s.changes.publish(c.Request.ID)
		if m := s.cfg.Metrics; m != nil {
			m.Transitions.WithLabelValues(string(c.Request.Status)).Inc()
		}
	}
	now := s.clock.Now()
	for _, j := range c.Enqueue {
		if !j.RunAt.After(now) {
			s.cfg.Wake()
			break
		}
	}
	return nil
}

// Submit files a request for the caller.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*jit.Request, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.submit(ctx, id, in, nil)
}

func (s *Service) submit(ctx context.Context, id jit.Identity, in SubmitInput, extends *jit.Request) (*jit.Request, error) {
	p := s.policy.Get()
	now := s.now()
	in.Reason = strings.TrimSpace(in.Reason)
	decideFor := in.Duration
	if extends != nil && extends.ExpiresAt != nil && extends.ExpiresAt.After(now) && in.Duration > 0 {
		// An extension adds its duration to what is left of the access it
		// extends; policy judges the whole, so chaining extensions cannot
		// exceed a rule's max_duration from now.
		decideFor += extends.ExpiresAt.Sub(now)
	}
	// Whether the requester is on call is looked up before the decision
	// (Decide does no I/O) and only where a rule's automatic approval
	// depends on it.
	pin := policy.Input{Requester: id, Resource: in.Resource, Access: in.Access, Duration: decideFor, Reason: in.Reason, Time: now}
	d, onCall := s.decideWithOnCall(ctx, p, pin)
	// The provider checks what the request names (its target, its SSH
	// key) and may find labels that policy conditions read, so the
	// decision is taken again with them. It is asked even when the first
	// decision refused: a rule may allow only what the target's labels
	// say (a Google Cloud role the person is eligible for).
	access := d.Access
	if access == "" {
		access = in.Access
	}
	subj, checked, err := s.checkSubject(ctx, p, id, in, access, decideFor, extends)
	if err != nil {
		if !d.Allowed && !s.offered(p, id, in.Resource, now) {
			// The requester may not ask for this resource at all: say
			// that, and nothing the target said.
			return nil, d.Err()
		}
		return nil, err
	}
	if checked {
		pin.Target, pin.Labels = subj.target, subj.labels
		d, onCall = s.decideWithOnCall(ctx, p, pin)
	}
	if !d.Allowed {
		if extends != nil && d.Code == jit.ECodeDurationTooLong && decideFor != in.Duration {
			left := decideFor - in.Duration
			msg := fmt.Sprintf("extending by %s would leave %s of access from now (%s is still left on %s)",
				policy.FormatDuration(in.Duration), policy.FormatDuration(decideFor.Round(time.Second)), policy.FormatDuration(left.Round(time.Second)), extends.ID)
			if room := (d.MaxDuration - left).Truncate(time.Minute); d.MaxDuration > 0 && room > 0 {
				msg += fmt.Sprintf("; the rule allows at most %s, so extend by %s or less", policy.FormatDuration(d.MaxDuration), policy.FormatDuration(room))
			} else if d.MaxDuration > 0 {
				msg += fmt.Sprintf("; the rule allows at most %s, more than is left already", policy.FormatDuration(d.MaxDuration))
			}
			return nil, jit.FieldErrorf("duration", jit.ECodeDurationTooLong, "%s", msg)
		}
		return nil, d.Err()
	}
	query, privileges, err := s.scopeFor(ctx, p, id, in, d.Access, extends)
	if err != nil {
		return nil, err
	}
	srv := p.Server()
	r := &jit.Request{
		ID:                s.cfg.NewID(),
		Requester:         id.Email,
		Resource:          in.Resource,
		Access:            d.Access,
		Duration:          in.Duration,
		Reason:            in.Reason,
		Query:             query,
		Privileges:        privileges,
		RequesterGroups:   append([]string(nil), id.ClaimGroups...),
		Approvers:         append([]string{}, d.Approvers...),
		Status:            jit.StatusPending,
		Rule:              d.Rule,
		ApprovalsRequired: d.ApprovalsRequired,
		AutoApproved:      d.AutoApproved,
		CreatedAt:         now,
		UpdatedAt:         now,
		LapsesAt:          now.Add(srv.LapseAfter),
	}
	subj.apply(r)
	details := map[string]string{
		"rule": d.Rule, "resource": r.Resource, "access": r.Access,
		"duration": r.Duration.String(), "approvals_required": fmt.Sprint(d.ApprovalsRequired),
	}
	if r.Target != "" {
		details["target"] = r.Target
	}
	if r.SSHPublicKey != "" {
		details["ssh_key"] = jit.SSHKeyFingerprint(r.SSHPublicKey)
	}
	if len(r.Labels) > 0 {
		details["labels"] = strings.Join(r.Labels, ", ")
	}
	if query != "" {
		details["query"] = query
		ps := make([]string, len(privileges))
		for i, p := range privileges {
			ps[i] = p.String()
		}
		details["privileges"] = strings.Join(ps, "; ")
	}
	if why := onCallFailure(onCall); why != "" && !d.AutoApproved {
		details["oncall_error"] = why
	}
	action := jit.ActionSubmit
	if extends != nil {
		r.ExtendsID = extends.ID
		details["extends"] = extends.ID
		action = jit.ActionExtend
	}
	c := &jit.Change{Request: r, Events: []jit.AuditEvent{event(ctx, now, id.Email, action, r, r.Reason, details)}}
	if d.AutoApproved {
		r.Status = jit.StatusApproved
		autoDetails := map[string]string{"rule": d.Rule}
		onCallDetails(autoDetails, d.OnCall)
		c.Events = append(c.Events, event(ctx, now, jit.SystemActor, jit.ActionAutoApprove, r, "", autoDetails))
		c.Enqueue = append(c.Enqueue, jit.NewJob(jit.JobGrant, r.ID, now))
	} else {
		c.Enqueue = append(c.Enqueue, jit.NewJob(jit.JobLapse, r.ID, r.LapsesAt))
	}
	if err := s.apply(ctx, c); err != nil {
		return nil, fmt.Errorf("submit request: %w", err)
	}
	s.log.Info("request submitted", "request", r.ID, "requester", r.Requester, "resource", r.Resource,
		"access", r.Access, "duration", r.Duration, "rule", r.Rule, "status", r.Status)
	return r, nil
}

// update reads request id, lets fn compute the change, and applies it,
// retrying from a fresh read when another writer changed the request in
// between (two approvers approving at once both count).
func (s *Service) update(ctx context.Context, id string, fn func(r *jit.Request) (*jit.Change, error)) (*jit.Request, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.store.GetRequest(ctx, id)
		if err != nil {
			return nil, err
		}
		c, err := fn(r)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return r, nil
		}
		err = s.apply(ctx, c)
		if jit.ErrorCode(err) == jit.ECodeConflict && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c.Request, nil
	}
}

// transition is the common shape of a person's action on a request: check
// who may do it, apply the event, record the audit event and adjust jobs.
func (s *Service) transition(ctx context.Context, id string, check func(p *policy.Policy, who jit.Identity, r *jit.Request) error,
	evKind EventKind, action, text string, jobs func(n *jit.Request, now time.Time) ([]jit.Job, []string)) (*jit.Request, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, id, func(r *jit.Request) (*jit.Change, error) {
		p := s.policy.Get()
		if !s.visible(p, who, r) {
			return nil, jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
		}
		if err := check(p, who, r); err != nil {
			return nil, err
		}
		now := s.now()
		n, err := Transition(r, Event{Kind: evKind, Actor: who.Email, At: now, Text: text})
		if err != nil {
			return nil, err
		}
		details := map[string]string{"status": string(n.Status)}
		if evKind == EvApprove {
			details["approvals"] = fmt.Sprintf("%d/%d", n.ApprovalCount(), n.ApprovalsRequired)
		}
		c := &jit.Change{Request: n, Events: []jit.AuditEvent{event(ctx, now, who.Email, action, n, text, details)}}
		if evKind == EvApprove || evKind == EvDeny {
			a := n.Approvals[len(n.Approvals)-1]
			c.Approval = &a
		}
		if jobs != nil {
			c.Enqueue, c.DeleteJobs = jobs(n, now)
		}
		return c, nil
	})
}

// visible reports whether who may see r: its requester, admins, and the
// people who may approve it.
func (s *Service) visible(p *policy.Policy, who jit.Identity, r *jit.Request) bool {
	if who.Admin || who.Email == r.Requester {
		return true
	}
	return p.CheckApprover(who, r, s.now()).OK
}

func approverCheck(s *Service) func(p *policy.Policy, who jit.Identity, r *jit.Request) error {
	return func(p *policy.Policy, who jit.Identity, r *jit.Request) error {
		chk := p.CheckApprover(who, r, s.now())
		if !chk.OK {
			return jit.Errorf(chk.Code, "%s", chk.Message)
		}
		return nil
	}
}

func requesterOnly(verb string) func(p *policy.Policy, who jit.Identity, r *jit.Request) error {
	return func(p *policy.Policy, who jit.Identity, r *jit.Request) error {
		if who.Email != r.Requester {
			return jit.Errorf(jit.ECodeForbidden, "only the requester (%s) can %s request %s", r.Requester, verb, r.ID)
		}
		return nil
	}
}

// Approve records the caller's approval. Once enough distinct approvers
// have approved, the grant job starts.
func (s *Service) Approve(ctx context.Context, id, comment string) (*jit.Request, error) {
	check := func(p *policy.Policy, who jit.Identity, r *jit.Request) error {
		chk := p.CheckApprover(who, r, s.now())
		if !chk.OK {
			return jit.Errorf(chk.Code, "%s", chk.Message)
		}
		// A rule tightened after submit (more approvals) applies to
		// requests still waiting; a loosened one does not lower the
		// count the request was filed with.
		if chk.ApprovalsRequired > r.ApprovalsRequired {
			r.ApprovalsRequired = chk.ApprovalsRequired
		}
		return nil
	}
	return s.transition(ctx, id, check, EvApprove, jit.ActionApprove, strings.TrimSpace(comment),
		func(n *jit.Request, now time.Time) ([]jit.Job, []string) {
			if n.Status == jit.StatusApproved {
				return []jit.Job{jit.NewJob(jit.JobGrant, n.ID, now)}, []string{jit.JobKey(jit.JobLapse, n.ID)}
			}
			return nil, nil
		})
}

// Deny ends a pending request; reason is required.
func (s *Service) Deny(ctx context.Context, id, reason string) (*jit.Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, jit.FieldErrorf("reason", jit.ECodeReasonNeeded, "a deny needs a reason")
	}
	return s.transition(ctx, id, approverCheck(s), EvDeny, jit.ActionDeny, reason, dropPendingJobs)
}

func dropPendingJobs(n *jit.Request, _ time.Time) ([]jit.Job, []string) {
	return nil, []string{jit.JobKey(jit.JobLapse, n.ID), jit.JobKey(jit.JobGrant, n.ID)}
}

// Cancel ends the caller's own pending or approved request.
func (s *Service) Cancel(ctx context.Context, id string) (*jit.Request, error) {
	return s.transition(ctx, id, requesterOnly("cancel"), EvCancel, jit.ActionCancel, "", dropPendingJobs)
}

func revokeNow(n *jit.Request, now time.Time) ([]jit.Job, []string) {
	return []jit.Job{jit.NewJob(jit.JobRevoke, n.ID, now)}, nil
}

// Relinquish ends the caller's own active access early.
func (s *Service) Relinquish(ctx context.Context, id string) (*jit.Request, error) {
	r, err := s.transition(ctx, id, requesterOnly("relinquish"), EvRelinquish, jit.ActionRelinquish, "", revokeNow)
	if err == nil {
		s.endExtensions(ctx, r, "the access it extends was relinquished")
	}
	return r, err
}

// Revoke ends someone's active access. Admins may revoke anything; the
// people eligible to approve a request may revoke it too.
func (s *Service) Revoke(ctx context.Context, id, reason string) (*jit.Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, jit.FieldErrorf("reason", jit.ECodeReasonNeeded, "a revoke needs a reason")
	}
	check := func(p *policy.Policy, who jit.Identity, r *jit.Request) error {
		if who.Admin {
			return nil
		}
		if who.Email != r.Requester && p.CheckApprover(who, r, s.now()).OK {
			return nil
		}
		return jit.Errorf(jit.ECodeForbidden, "only admins and approvers of request %s can revoke it", r.ID)
	}
	r, err := s.transition(ctx, id, check, EvRevoke, jit.ActionRevoke, reason, revokeNow)
	if err == nil {
		s.endExtensions(ctx, r, "the access it extends was revoked: "+reason)
	}
	return r, err
}

// Extend files a new request, linked to id, for more time on the caller's
// active access. Policy decides it like any request; once granted it
// lasts until the original's expiry plus the new duration.
func (s *Service) Extend(ctx context.Context, id string, in ExtendInput) (*jit.Request, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	orig, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if orig.Requester != who.Email {
		if s.visible(s.policy.Get(), who, orig) {
			return nil, jit.Errorf(jit.ECodeForbidden, "only the requester (%s) can extend request %s", orig.Requester, id)
		}
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
	}
	if orig.Status != jit.StatusActive {
		return nil, jit.Errorf(jit.ECodeInvalidState, "cannot extend request %s: it is %s (needs active)", id, orig.Status)
	}
	return s.submit(ctx, who, SubmitInput{Resource: orig.Resource, Access: orig.Access, Duration: in.Duration, Reason: in.Reason}, orig)
}

// endExtensions ends the extensions linked to orig (and theirs), so that
// revoking or relinquishing access ends all of it: pending and approved
// extensions are cancelled, active ones revoked.
func (s *Service) endExtensions(ctx context.Context, orig *jit.Request, why string) {
	f := jit.RequestFilter{ExtendsID: orig.ID,
		Statuses: []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusActive}, Limit: 500}
	reqs, err := s.store.ListRequests(ctx, f)
	if err != nil {
		s.log.Error("find extensions to end", "request", orig.ID, "err", err)
		return
	}
	for _, r := range reqs {
		if r.ExtendsID != orig.ID {
			continue
		}
		ended, err := s.update(ctx, r.ID, func(r *jit.Request) (*jit.Change, error) {
			now := s.now()
			var n *jit.Request
			var err error
			var action string
			var jobs []jit.Job
			var drop []string
			switch r.Status {
			case jit.StatusPending, jit.StatusApproved:
				n, err = Transition(r, Event{Kind: EvCancel, Actor: jit.SystemActor, At: now, Text: why})
				action, drop = jit.ActionCancel, []string{jit.JobKey(jit.JobLapse, r.ID), jit.JobKey(jit.JobGrant, r.ID)}
			case jit.StatusActive:
				n, err = Transition(r, Event{Kind: EvRevoke, Actor: jit.SystemActor, At: now, Text: why})
				action, jobs = jit.ActionRevoke, []jit.Job{jit.NewJob(jit.JobRevoke, r.ID, now)}
			default:
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			return &jit.Change{Request: n, Events: []jit.AuditEvent{systemEvent(now, action, n, why, map[string]string{"extends": orig.ID})},
				Enqueue: jobs, DeleteJobs: drop}, nil
		})
		if err != nil {
			s.log.Error("end extension", "request", r.ID, "extends", orig.ID, "err", err)
			continue
		}
		s.endExtensions(ctx, ended, why)
	}
}

// Get returns a request the caller may see.
func (s *Service) Get(ctx context.Context, id string) (*jit.Request, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.visible(s.policy.Get(), who, r) {
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
	}
	return r, nil
}

// Wait returns the request once its status is not in while, or when
// timeout passes (then the current state), whichever is first.
func (s *Service) Wait(ctx context.Context, id string, while []jit.Status, timeout time.Duration) (*jit.Request, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Hold before reading so that a change between the read and the wait
	// is not missed.
	h := s.waiters.hold(id)
	defer h.release()
	_, seen, _ := h.state()
	r, err := s.Get(ctx, id)
	if err != nil || !slices.Contains(while, r.Status) {
		return r, err
	}
	for {
		ch, gen, latest := h.state()
		if gen != seen {
			seen = gen
			// The change usually comes with the request as it stored
			// it, which saves reading it again; who may see it is
			// checked as Get does. Without it, read the store. A
			// snapshot no newer than ours adds nothing.
			switch {
			case latest == nil:
				if r, err = s.Get(ctx, id); err != nil {
					return nil, err
				}
			case latest.Version > r.Version:
				who, err := caller(ctx)
				if err != nil {
					return nil, err
				}
				if !s.visible(s.policy.Get(), who, latest) {
					return nil, jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
				}
				r = latest.Clone()
			}
			if !slices.Contains(while, r.Status) {
				return r, nil
			}
			continue
		}
		recheck := time.NewTimer(time.Second)
		select {
		case <-ch:
		case <-deadline.C:
			recheck.Stop()
			return r, nil
		case <-ctx.Done():
			recheck.Stop()
			return nil, ctx.Err()
		case <-recheck.C:
			// Changes made by another process reach us only through the
			// store's change notices, which a lost connection can miss;
			// re-read now and then.
			if r, err = s.Get(ctx, id); err != nil {
				return nil, err
			}
			if !slices.Contains(while, r.Status) {
				return r, nil
			}
		}
		recheck.Stop()
	}
}

// List returns one page of requests.
func (s *Service) List(ctx context.Context, in ListInput) (Page, error) {
	who, err := caller(ctx)
	if err != nil {
		return Page{}, err
	}
	if in.Limit <= 0 {
		in.Limit = 50
	}
	if in.Limit > 500 {
		in.Limit = 500
	}
	p := s.policy.Get()
	f := jit.RequestFilter{Resource: in.Resource, Statuses: in.Statuses, After: in.After}
	var keep func(r *jit.Request) bool
	switch in.Scope {
	case ScopeMine, "":
		f.Requester = who.Email
	case ScopeActive:
		f.Statuses = []jit.Status{jit.StatusActive}
		f.Requester = who.Email
		if in.Requester == "*" && who.Admin {
			f.Requester = ""
		}
	case ScopePending:
		f.Statuses = []jit.Status{jit.StatusPending}
		f.Requester = in.Requester
		keep = func(r *jit.Request) bool {
			return r.Requester != who.Email && !r.ApprovedBy(who.Email) && p.CheckApprover(who, r, s.now()).OK
		}
	case ScopeAll:
		f.Requester = in.Requester
		if !who.Admin {
			keep = func(r *jit.Request) bool { return s.visible(p, who, r) }
		}
	default:
		return Page{}, jit.FieldErrorf("scope", jit.ECodeInvalid, "unknown scope %q (mine, pending, active, all)", in.Scope)
	}
	if keep == nil {
		f.Limit = in.Limit + 1
		items, err := s.store.ListRequests(ctx, f)
		if err != nil {
			return Page{}, err
		}
		page := Page{Items: items}
		if len(items) > in.Limit {
			page.Items = items[:in.Limit]
			page.Next = page.Items[in.Limit-1].ID
		}
		return page, nil
	}
	// Filtered scopes read the store in batches until the page is full,
	// but look at no more than maxScan rows per call: a caller who may see
	// little of a large table gets a short page and a cursor to go on
	// from, rather than one call that reads everything.
	const maxScan = 2000
	page := Page{Items: []*jit.Request{}}
	f.Limit = 200
	for scanned := 0; ; {
		batch, err := s.store.ListRequests(ctx, f)
		if err != nil {
			return Page{}, err
		}
		for _, r := range batch {
			scanned++
			if !keep(r) {
				continue
			}
			if len(page.Items) == in.Limit {
				page.Next = page.Items[len(page.Items)-1].ID
				return page, nil
			}
			page.Items = append(page.Items, r)
		}
		if len(batch) < f.Limit {
			return page, nil
		}
		f.After = batch[len(batch)-1].ID
		if scanned >= maxScan {
			page.Next = f.After
			return page, nil
		}
	}
}

// Explain decides a hypothetical request without filing it.
func (s *Service) Explain(ctx context.Context, in ExplainInput) (policy.Decision, error) {
	who, err := caller(ctx)
	if err != nil {
		return policy.Decision{}, err
	}
	p := s.policy.Get()
	subject := who
	if in.As != "" && !strings.EqualFold(in.As, who.Email) {
		if !who.Admin {
			return policy.Decision{}, jit.Errorf(jit.ECodeForbidden, "only admins can explain policy for someone else")
		}
		subject = p.Identity(strings.ToLower(in.As))
	}
	if in.Duration == 0 {
		in.Duration = time.Hour
	}
	// The explanation says whether the subject is on call where a rule
	// depends on it, looked up as a submit would.
	d, _ := s.decideWithOnCall(ctx, p, policy.Input{Requester: subject, Resource: in.Resource, Access: in.Access, Duration: in.Duration,
		Reason: in.Reason, ReasonUnknown: strings.TrimSpace(in.Reason) == "", Time: s.now()})
	return d, nil
}

// Audit returns audit events: admins see all, others the events of
// requests they may see (RequestID required).
func (s *Service) Audit(ctx context.Context, f jit.AuditFilter) ([]jit.AuditEvent, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !who.Admin {
		if f.RequestID == "" {
			return nil, jit.Errorf(jit.ECodeForbidden, "only admins can read the whole audit log; name a request")
		}
		if _, err := s.Get(ctx, f.RequestID); err != nil {
			return nil, err
		}
	}
	evs, err := s.store.ListAudit(ctx, f)
	if evs == nil && err == nil {
		evs = []jit.AuditEvent{}
	}
	return evs, err
}

// VerifyAudit checks the whole chain (admins only).
func (s *Service) VerifyAudit(ctx context.Context) (audit.Result, error) {
	who, err := caller(ctx)
	if err != nil {
		return audit.Result{}, err
	}
	if !who.Admin {
		return audit.Result{}, jit.Errorf(jit.ECodeForbidden, "only admins can verify the audit log")
	}
	return audit.Verify(ctx, s.store)
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if p, ok := s.store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	_, err := s.store.ListAudit(ctx, jit.AuditFilter{Limit: 1})
	return err
}

// hasAction reports whether events hold one with action.
func hasAction(events []jit.AuditEvent, action string) bool {
	for _, ev := range events {
		if ev.Action == action {
			return true
		}
	}
	return false
}

// offered reports whether id may request resource under some rule, as
// Offers says (a rule whose condition reads what only the provider's check
// finds counts).
func (s *Service) offered(p *policy.Policy, id jit.Identity, resource string, now time.Time) bool {
	for _, o := range p.Offers(id, now) {
		if o.Resource == resource {
			return true
		}
	}
	return false
}
