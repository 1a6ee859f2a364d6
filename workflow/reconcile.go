package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
)

// Kinds of drift, the "kind" detail of jit.ActionDrift events and label of
// the jit_drift_found_total metric.
const (
	// DriftOrphan is access found in a target with no active grant in the
	// store (unknown request, ended request, or a grant long past its
	// expiry). The reconciler revokes it.
	DriftOrphan = "orphan"
	// DriftVanished is an active grant whose access is missing from its
	// target. It is reported, once per request; the grant stays active in
	// the store, since only the target can say why the access went.
	DriftVanished = "vanished"
	// DriftSwept is access that a provider's sweep (provider.Sweeper)
	// deleted from its target because the expiry written on it had passed:
	// a revoke that never ran, or a store that lost the grant. It is
	// recorded with the number of objects deleted.
	DriftSwept = "swept"
)

// ReconcileGrace is how long after a grant's end (or expiry) its access may
// still be in the target before the reconciler takes it for an orphan. It
// leaves the revoke job, which removes the access at expiry and retries on
// failure, the time to do its work, and absorbs clock skew between
// replicas, so that the reconciler never races the job for the same revoke.
const ReconcileGrace = 2 * time.Minute

// reconcilePageSize is how many active requests are read from the store at
// a time.
const reconcilePageSize = 500

// ReconcileReport says what one reconciliation found and did.
type ReconcileReport struct {
	// Verified counts the active grants checked against their targets.
	Verified int
	// Listed counts the grants the targets listed.
	Listed int
	// Swept counts the objects providers' sweeps deleted.
	Swept int
	// Drift lists the differences found, in the order found.
	Drift []Drift
	// Errors are the failures that left part of the work undone (a target
	// that could not be listed or verified, a revoke that failed). They
	// do not stop the rest of the run.
	Errors []error
}

// Drift is one difference between the store and a target.
type Drift struct {
	// Kind is DriftOrphan or DriftVanished.
	Kind      string
	Resource  string
	RequestID string
	User      string
	// Status is the request's status in the store, "" when the store does
	// not know the request.
	Status jit.Status
	// Revoked is true when an orphan's access was removed.
	Revoked bool
	// Err is why an orphan's access could not be removed.
	Err error
}

// Reconcile compares what the store says is active with what the targets
// hold, resource by resource:
//
//   - For providers that implement provider.Lister (and whose List does not
//     answer provider.ErrListUnsupported), every listed access whose
//     request is unknown to the store, has ended (more than ReconcileGrace
//     ago) or is active but more than ReconcileGrace past its expiry is
//     revoked with that request's ID only, and recorded as drift of kind
//     DriftOrphan. Access of other requests, including other grants of the
//     same person on the same resource, is never touched. Requests being
//     granted or revoked are left to their jobs.
//   - Every active, unexpired grant is checked (in the listing, then with
//     Verify; with Verify alone for providers without a listing); access
//     that is gone is recorded as drift of kind DriftVanished, once per
//     request.
//
// Providers whose access lives in the store (provider.StoreEnforced), and
// requests of resources that are no longer configured, are skipped. Each
// drift appends a jit.ActionDrift audit event and counts in
// jit_drift_found_total.
//
// Reconcile is safe to run at any time and concurrently with jobs; two
// replicas reconciling at once revoke idempotently and may record the same
// drift twice. It is an internal operation of jitd and checks no
// authorisation. It always returns a report of what it did; the error is
// the join of the report's Errors (nil when there are none), and ctx ending
// stops the run early with ctx's error.
func (s *Service) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	p := s.policy.Get()
	for _, res := range p.Resources() {
		if err := ctx.Err(); err != nil {
			rep.Errors = append(rep.Errors, err)
			break
		}
		s.reconcileResource(ctx, p, res.Name, &rep)
	}
	return rep, errors.Join(rep.Errors...)
}

// reconcileResource reconciles one resource into rep.
func (s *Service) reconcileResource(ctx context.Context, p *policy.Policy, resource string, rep *ReconcileReport) {
	prov, ok := s.providerFor(p, resource)
	if !ok || provider.IsStoreEnforced(prov) {
		return
	}
	fail := func(err error) { rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: %w", resource, err)) }
	s.sweepResource(ctx, prov, resource, rep)

	// The listing is taken before the store is read: access can only
	// appear in a target after its request is recorded as granting, so a
	// request read afterwards is at least as far along as the access seen.
	var listed map[string]provider.ListedGrant
	var listStart time.Time
	lister, canList := provider.As[provider.Lister](prov)
	if canList {
		listStart = s.now()
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
		resp, err := lister.List(cctx, provider.ListRequest{Resource: resource})
		cancel()
		switch {
		case errors.Is(err, provider.ErrListUnsupported):
			// Not configured to list: Verify alone, as for providers
			// without the capability.
			canList = false
		case err != nil:
			// An incomplete listing proves nothing either way.
			fail(fmt.Errorf("list: %w", err))
			return
		default:
			rep.Listed += len(resp.Grants)
			listed = make(map[string]provider.ListedGrant, len(resp.Grants))
			for _, g := range resp.Grants {
				listed[g.RequestID] = g
			}
		}
	}

	active, err := s.activeRequests(ctx, resource)
	if err != nil {
		fail(err)
		return
	}
	if canList {
		for _, g := range listedInOrder(listed) {
			s.checkListed(ctx, prov, resource, g, active[g.RequestID], listStart, rep)
		}
	}
	for _, r := range activeInOrder(active) {
		if err := ctx.Err(); err != nil {
			fail(err)
			return
		}
		now := s.now()
		if r.ExpiresAt == nil || !r.ExpiresAt.After(now) {
			// Expired: its access is meant to be going.
			continue
		}
		rep.Verified++
		if _, ok := listed[r.ID]; ok {
			continue
		}
		// Missing from the listing (or there is none): Verify decides, which
		// also covers a grant made while the target was being listed.
		s.checkVanished(ctx, prov, resource, r, rep)
	}
}

// activeRequests returns resource's active requests by ID.
func (s *Service) activeRequests(ctx context.Context, resource string) (map[string]*jit.Request, error) {
	out := map[string]*jit.Request{}
	f := jit.RequestFilter{Resource: resource, Statuses: []jit.Status{jit.StatusActive}, Limit: reconcilePageSize}
	for {
		batch, err := s.store.ListRequests(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list active requests: %w", err)
		}
		for _, r := range batch {
			out[r.ID] = r
		}
		if len(batch) < f.Limit {
			return out, nil
		}
		f.After = batch[len(batch)-1].ID
	}
}

// checkListed decides whether the listed access g is an orphan and revokes
// it if so. r is g's request when it was among the active ones read.
func (s *Service) checkListed(ctx context.Context, prov provider.Provider, resource string, g provider.ListedGrant, r *jit.Request, listStart time.Time, rep *ReconcileReport) {
	if r == nil {
		got, err := s.store.GetRequest(ctx, g.RequestID)
		switch {
		case jit.ErrorCode(err) == jit.ECodeNotFound:
		case err != nil:
			rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: read request %s: %w", resource, g.RequestID, err))
			return
		default:
			r = got
		}
	}
	// Anything that ended or expired before cutoff did so before the
	// listing began, by more than the grace the revoke job is given.
	cutoff := listStart.Add(-ReconcileGrace)
	if r != nil {
		if r.Resource != resource {
			// The integration lists access of another resource: revoking it
			// through this resource's provider could remove a grant that
			// is active there.
			rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: the target lists request %s, which is for resource %s; not touched", resource, r.ID, r.Resource))
			return
		}
		switch r.Status {
		case jit.StatusGranting, jit.StatusRevoking:
			// In flight: its job owns the access.
			return
		case jit.StatusActive:
			if r.ExpiresAt == nil || !r.ExpiresAt.Before(cutoff) {
				return
			}
		default:
			if r.EndedAt != nil && !r.EndedAt.Before(cutoff) {
				return
			}
		}
	}

	d := Drift{Kind: DriftOrphan, Resource: resource, RequestID: g.RequestID, User: g.User}
	req := provider.RevokeRequest{RequestID: g.RequestID, User: g.User, Resource: resource, Access: g.Access}
	if r != nil {
		d.User, d.Status = r.Requester, r.Status
		req = revokeRequest(r)
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	_, err := prov.Revoke(cctx, req)
	cancel()
	d.Revoked, d.Err = err == nil, err

	status := string(d.Status)
	if status == "" {
		status = "unknown"
	}
	details := map[string]string{"kind": DriftOrphan, "resource": resource, "user": d.User,
		"status": status, "revoked": fmt.Sprint(d.Revoked)}
	reason := "access found in the target without an active grant; revoked"
	if err != nil {
		details["error"] = err.Error()
		reason = "access found in the target without an active grant; revoking it failed"
		rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: revoke orphaned access of %s: %w", resource, g.RequestID, err))
	}
	s.log.Warn("drift: orphaned access in target", "resource", resource, "request", g.RequestID, "user", d.User, "status", status, "revoked", d.Revoked, "err", err)
	s.recordDrift(ctx, d, reason, details, rep)
}

// checkVanished verifies the access of active request r and records it as
// vanished if it is gone, unless that was recorded before.
func (s *Service) checkVanished(ctx context.Context, prov provider.Provider, resource string, r *jit.Request, rep *ReconcileReport) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	resp, err := prov.Verify(cctx, provider.VerifyRequest{RequestID: r.ID, User: r.Requester, Resource: resource, Access: r.Access, Handle: r.Handle, Target: r.Target})
	cancel()
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: verify %s: %w", resource, r.ID, err))
		return
	}
	if resp.Present {
		return
	}
	// The grant may have ended while the target was asked.
	cur, err := s.store.GetRequest(ctx, r.ID)
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: read request %s: %w", resource, r.ID, err))
		return
	}
	if cur.Status != jit.StatusActive || cur.ExpiresAt == nil || !cur.ExpiresAt.After(s.now()) {
		return
	}
	// A vanished grant stays vanished until it ends; say so once.
	prev, err := s.store.ListAudit(ctx, jit.AuditFilter{RequestID: r.ID, Action: jit.ActionDrift})
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: read audit of %s: %w", resource, r.ID, err))
		return
	}
	for _, e := range prev {
		if e.Details["kind"] == DriftVanished {
			return
		}
	}
	d := Drift{Kind: DriftVanished, Resource: resource, RequestID: r.ID, User: r.Requester, Status: cur.Status}
	s.log.Warn("drift: access of an active grant is missing from its target", "resource", resource, "request", r.ID, "user", r.Requester)
	s.recordDrift(ctx, d, "the access of this active grant is missing from the target",
		map[string]string{"kind": DriftVanished, "resource": resource, "user": r.Requester, "status": string(cur.Status)}, rep)
}

// Sweep runs the sweep of every provider that has one (provider.Sweeper):
// each deletes, from what its target alone holds, the access jit created
// whose written expiry has passed. jitd runs it at start, so that nothing
// outlives its expiry after a crash or a lost store; Reconcile runs it
// every time too. Like Reconcile it is an internal operation, safe at any
// time, and returns a report (Swept, Drift and Errors) and the join of its
// errors.
func (s *Service) Sweep(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	p := s.policy.Get()
	for _, res := range p.Resources() {
		if err := ctx.Err(); err != nil {
			rep.Errors = append(rep.Errors, err)
			break
		}
		if prov, ok := s.providerFor(p, res.Name); ok {
			s.sweepResource(ctx, prov, res.Name, &rep)
		}
	}
	return rep, errors.Join(rep.Errors...)
}

// sweepResource runs prov's sweep, if it has one, into rep.
func (s *Service) sweepResource(ctx context.Context, prov provider.Provider, resource string, rep *ReconcileReport) {
	sw, ok := provider.As[provider.Sweeper](prov)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	n, err := sw.Sweep(cctx)
	cancel()
	if err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("sweep %s: %w", resource, err))
	}
	if n == 0 {
		return
	}
	rep.Swept += n
	s.log.Warn("sweep deleted expired access from its target", "resource", resource, "objects", n)
	d := Drift{Kind: DriftSwept, Resource: resource}
	s.recordDrift(ctx, d, fmt.Sprintf("the sweep deleted %d expired object(s) of jit's from the target", n),
		map[string]string{"kind": DriftSwept, "resource": resource, "objects": fmt.Sprint(n)}, rep)
}

// recordDrift appends d to the report, the audit log and the metrics.
func (s *Service) recordDrift(ctx context.Context, d Drift, reason string, details map[string]string, rep *ReconcileReport) {
	rep.Drift = append(rep.Drift, d)
	if m := s.cfg.Metrics; m != nil {
		m.DriftFound.WithLabelValues(d.Kind, d.Resource).Inc()
	}
	ev := systemEvent(s.now(), jit.ActionDrift, &jit.Request{ID: d.RequestID}, reason, details)
	if err := s.store.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{ev}}); err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("reconcile %s: record drift of %s: %w", d.Resource, d.RequestID, err))
	}
}

func listedInOrder(m map[string]provider.ListedGrant) []provider.ListedGrant {
	out := make([]provider.ListedGrant, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	slicesSortBy(out, func(g provider.ListedGrant) string { return g.RequestID })
	return out
}

func activeInOrder(m map[string]*jit.Request) []*jit.Request {
	out := make([]*jit.Request, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slicesSortBy(out, func(r *jit.Request) string { return r.ID })
	return out
}

// slicesSortBy sorts s by key, so that runs are deterministic (the report
// and the audit log list drift in request ID order).
func slicesSortBy[T any](s []T, key func(T) string) {
	slices.SortFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}
