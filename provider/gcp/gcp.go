package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	cloudasset "google.golang.org/api/cloudasset/v1"
	crm "google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/option"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "gcp"

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider     = (*Provider)(nil)
	_ provider.Checker      = (*Provider)(nil)
	_ provider.TargetLister = (*Provider)(nil)
	_ provider.Lister       = (*Provider)(nil)
)

// Options are what tests inject instead of what the settings describe.
type Options struct {
	// ClientOptions replace the credentials the settings describe for
	// every Google API client (tests pass option.WithEndpoint and
	// option.WithHTTPClient or option.WithoutAuthentication).
	ClientOptions []option.ClientOption
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between read-modify-write attempts; nil means a timer
	// that ends early, with the context's error, when ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Provider activates Google Cloud roles by adding time-bound conditional
// IAM bindings. It is safe for concurrent use.
type Provider struct {
	cfg        config
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	clientOpts []option.ClientOption

	mu sync.Mutex
	c  *clients

	// roles caches roles' permissions read with roles.get.
	roles roleCache
}

// Handle is GrantResponse.Handle: where the binding is.
type Handle struct {
	Resource string `json:"resource"`
	Role     string `json:"role"`
	Member   string `json:"member"`
}

// New builds the provider from r.Settings. It validates them and returns
// every problem, naming its key; it neither reads the credentials nor
// contacts Google Cloud (that happens at first use).
func New(r provider.Resource) (provider.Provider, error) {
	return NewWithOptions(r, Options{})
}

// NewWithOptions is New with the API clients' options, clock and sleep
// given.
func NewWithOptions(r provider.Resource, o Options) (*Provider, error) {
	cfg, err := parseConfig(r)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, now: o.Now, sleep: o.Sleep, clientOpts: o.ClientOptions}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = sleepContext
	}
	if p.clientOpts == nil {
		p.clientOpts = []option.ClientOption{option.WithUserAgent("jit")}
		if cfg.credentialsFile != "" {
			p.clientOpts = append(p.clientOpts, option.WithAuthCredentialsFile(cfg.credentialsType, cfg.credentialsFile))
		}
	}
	return p, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connect returns the API clients, building them on first use.
func (p *Provider) connect() (*clients, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		// The clients keep the context they are built with for
		// refreshing tokens, so it must outlive any one call.
		c, err := newClients(context.Background(), p.clientOpts)
		if err != nil {
			return nil, err
		}
		p.c = c
	}
	return p.c, nil
}

// plan is what a request activates.
type plan struct {
	resource Resource
	role     Role
	// static is true when the settings offer the role (roles or
	// levels), so no eligible binding is needed.
	static bool
}

func (pl plan) target() Target { return Target{Resource: pl.resource, Role: pl.role} }

// allowed reports whether role is exempt from the privileged-role guard.
func (p *Provider) allowed(role Role) bool { return slices.Contains(p.cfg.allow, role) }

// resolve reads access and target into a plan, from the text alone.
// Errors are *provider.RefusedError.
func (p *Provider) resolve(access, target string) (plan, error) {
	if !slices.Contains(p.cfg.access, access) {
		return plan{}, provider.Refusef("resource %s has no access level %q", p.cfg.resource, access)
	}
	t, err := ParseTarget(target)
	if err != nil {
		return plan{}, &provider.RefusedError{Reason: err.Error()}
	}
	if levelRole, fixed := p.cfg.levels[access]; fixed {
		if t.Role != "" && t.Role != levelRole {
			return plan{}, provider.Refusef("access level %q activates %s, but the target names %s", access, levelRole, t.Role)
		}
		t.Role = levelRole
	} else if t.Role == "" {
		return plan{}, provider.Refusef("access level %q needs a role in the target: ROLE or RESOURCE:ROLE, for example %s:roles/compute.viewer", access, p.cfg.scope)
	}
	if t.Resource.IsZero() {
		t.Resource = p.cfg.scope
	}
	if t.Role.Custom() && t.Role.customParent().Kind == Project && t.Resource.Kind != Project {
		return plan{}, provider.Refusef("custom role %s belongs to a project and cannot be granted on %s", t.Role, t.Resource)
	}
	_, fixed := p.cfg.levels[access]
	pl := plan{resource: t.Resource, role: t.Role, static: fixed || slices.Contains(p.cfg.roles, t.Role)}
	if !pl.static && !p.cfg.discover {
		return plan{}, provider.Refusef("role %s is not offered by resource %s (it offers: %s)", t.Role, p.cfg.resource, p.offered())
	}
	if err := guardPredefined(pl.role); err != nil && !p.allowed(pl.role) {
		return plan{}, &provider.RefusedError{Reason: err.Error()}
	}
	if err := checkConditional(pl.role); err != nil {
		return plan{}, &provider.RefusedError{Reason: err.Error()}
	}
	return pl, nil
}

// offered lists the static roles for messages.
func (p *Provider) offered() string {
	var names []string
	for _, r := range p.cfg.roles {
		names = append(names, string(r))
	}
	for _, r := range p.cfg.levels {
		if !slices.Contains(names, string(r)) {
			names = append(names, string(r))
		}
	}
	if len(names) == 0 {
		return "no roles"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Role definitions read with roles.get are kept for roleCacheTTL, so
// that listing targets and checking requests do not read the same roles
// over and over; Google changes its predefined roles rarely and slowly.
// At most roleCacheMax are kept.
const (
	roleCacheTTL = 10 * time.Minute
	roleCacheMax = 1024
)

// roleCache holds roles' permissions read with roles.get.
type roleCache struct {
	mu sync.Mutex
	m  map[Role]roleEntry
}

type roleEntry struct {
	perms   []string
	deleted bool
	read    time.Time
}

func (rc *roleCache) get(role Role, now time.Time) (roleEntry, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.m[role]
	if !ok || now.Sub(e.read) >= roleCacheTTL || now.Before(e.read) {
		return roleEntry{}, false
	}
	return e, true
}

func (rc *roleCache) put(role Role, e roleEntry) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.m == nil {
		rc.m = map[Role]roleEntry{}
	}
	if len(rc.m) >= roleCacheMax {
		for r, old := range rc.m {
			if e.read.Sub(old.read) >= roleCacheTTL {
				delete(rc.m, r)
			}
		}
		if len(rc.m) >= roleCacheMax {
			clear(rc.m)
		}
	}
	rc.m[role] = e
}

// roleDefinition returns a role's permissions and whether it is deleted,
// from the cache unless fresh is set.
func (p *Provider) roleDefinition(ctx context.Context, c *clients, role Role, fresh bool) (roleEntry, error) {
	now := p.now()
	if !fresh {
		if e, ok := p.roles.get(role, now); ok {
			return e, nil
		}
	}
	perms, deleted, err := c.rolePermissions(ctx, role)
	if err != nil {
		return roleEntry{}, err
	}
	e := roleEntry{perms: perms, deleted: deleted, read: now}
	p.roles.put(role, e)
	return e, nil
}

// checkRole refuses (*provider.RefusedError) a role not in allow_roles
// that guardPredefined refuses by name, that Google Cloud does not know
// or that is deleted, or whose permissions guardPermissions refuses. The
// permissions are read with roles.get, from the cache unless fresh is
// set; any error but a refusal means the role could not be read.
func (p *Provider) checkRole(ctx context.Context, c *clients, role Role, fresh bool) error {
	if p.allowed(role) {
		return nil
	}
	if err := guardPredefined(role); err != nil {
		return &provider.RefusedError{Reason: err.Error()}
	}
	def, err := p.roleDefinition(ctx, c, role, fresh)
	switch {
	case err == nil:
	case role.Custom() && isNotFound(err):
		return provider.Refusef("custom role %s does not exist or cannot be read", role)
	case !role.Custom() && httpCode(err) == http.StatusNotFound:
		// Predefined roles are readable by anyone: a 403 is no answer
		// about the role (the IAM API may be disabled) and stays an
		// error.
		return provider.Refusef("role %s is not a predefined role of Google Cloud (roles.get knows no such role), so jit cannot tell what it grants", role)
	default:
		return err
	}
	if def.deleted {
		return provider.Refusef("role %s is deleted", role)
	}
	if err := guardPermissions(role, def.perms); err != nil {
		return &provider.RefusedError{Reason: err.Error()}
	}
	return nil
}

// maxDepth bounds the walk up the resource hierarchy (Google Cloud
// nests folders at most ten deep).
const maxDepth = 16

// inScope reports whether r is the scope or a project or folder under
// it, reading the hierarchy with projects.get and folders.get.
func (p *Provider) inScope(ctx context.Context, c *clients, r Resource) (bool, error) {
	scope := p.cfg.scope.String()
	if r.String() == scope {
		return true, nil
	}
	if r.Kind == Organization || (p.cfg.scope.Kind == Project && r.Kind != Project) {
		return false, nil
	}
	cur := r
	for range maxDepth {
		parent, aliases, err := c.parentOf(ctx, cur)
		if err != nil {
			if isNotFound(err) {
				return false, nil
			}
			return false, err
		}
		// A project may be named by ID or by number.
		if slices.Contains(aliases, scope) {
			return true, nil
		}
		if p.cfg.scope.Kind == Project || parent == "" {
			return false, nil
		}
		if parent == scope {
			return true, nil
		}
		pr, err := ParseResource(parent)
		if err != nil || pr.Kind != Folder {
			return false, nil
		}
		cur = pr
	}
	return false, nil
}

// vet checks what needs the APIs: the role's permissions (checkRole), that
// the resource lies in the scope and, for a role the settings do not
// offer, that member is eligible for it. With labels (at Check) it also
// reads the eligibility of a role the settings offer, for the request's
// labels; without (at Grant) it reads a custom role afresh rather than
// from the cache, since an administrator may have changed it since the
// request was checked. Errors are *provider.RefusedError, or anything
// else when the APIs could not answer.
func (p *Provider) vet(ctx context.Context, c *clients, pl plan, member string, labels bool) (Eligibility, error) {
	if err := p.checkRole(ctx, c, pl.role, !labels && pl.role.Custom()); err != nil {
		return NotEligible, err
	}
	in, err := p.inScope(ctx, c, pl.resource)
	if err != nil {
		return NotEligible, err
	}
	if !in {
		return NotEligible, provider.Refusef("%s is not %s nor a project or folder under it (or jit cannot see it)", pl.resource, p.cfg.scope)
	}
	if !p.cfg.discover || (pl.static && !labels) {
		return NotEligible, nil
	}
	e, complete, err := p.eligibleOn(ctx, c, member, pl.resource, pl.role)
	if err != nil {
		return NotEligible, err
	}
	if e == NotEligible && !pl.static {
		if !complete {
			return NotEligible, fmt.Errorf("the analysis of IAM policies under %s was incomplete; try again", p.cfg.scope)
		}
		return NotEligible, provider.Refusef("%s is not eligible for %s on %s: no binding of that role with the condition %s or %s applies to it",
			member, pl.role, pl.resource, SelfActivationExpression, MultiPartyExpression)
	}
	return e, nil
}

// Check decides at submit whether the request could be granted: the
// target parses, names a role the resource offers or, with
// discover_eligible, one the requester holds an eligible binding for, on
// the scope or a project or folder under it, and the role is not
// privileged (see PrivilegedRoleError) unless allow_roles lists it.
//
// The response's Target is the canonical "RESOURCE:ROLE". With
// discover_eligible, Labels holds "gcp:self-activation" or
// "gcp:multi-party" when the requester holds an eligible binding, and for
// multi-party Peers holds the other people (user: members, groups
// expanded where the API can) holding a multi-party binding of the role
// that applies to the resource.
//
// Errors: *provider.RefusedError when the request can never be granted;
// any other error when the APIs could not answer. It changes nothing.
func (p *Provider) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	member, err := p.cfg.memberFor(req.User)
	if err != nil {
		return provider.CheckResponse{}, &provider.RefusedError{Reason: err.Error()}
	}
	pl, err := p.resolve(req.Access, req.Target)
	if err != nil {
		return provider.CheckResponse{}, err
	}
	c, err := p.connect()
	if err != nil {
		return provider.CheckResponse{}, fmt.Errorf("gcp: check: %w", err)
	}
	e, err := p.vet(ctx, c, pl, member, true)
	if err != nil {
		var re *provider.RefusedError
		if errors.As(err, &re) {
			return provider.CheckResponse{}, re
		}
		return provider.CheckResponse{}, fmt.Errorf("gcp: check: %w", err)
	}
	resp := provider.CheckResponse{
		Target:  pl.target().String(),
		Summary: fmt.Sprintf("%s on %s for %s", pl.role, pl.resource, member),
	}
	if e != NotEligible {
		resp.Labels = []string{e.label()}
		resp.Summary += " (eligible: " + e.String() + ")"
	}
	if e == MultiParty {
		// Only other holders of the binding may approve, even when there
		// are none.
		resp.PeersFromTarget = true
		if resp.Peers, err = p.peers(ctx, c, pl.resource, pl.role, req.User, member); err != nil {
			return provider.CheckResponse{}, fmt.Errorf("gcp: check: peers: %w", err)
		}
	}
	return resp, nil
}

// maxTargets bounds one ListTargets answer.
const maxTargets = 1000

// ListTargets offers the roles the resource's settings list, on the
// scope, and, with discover_eligible and a User, every role that person
// holds an eligible binding for on any project, folder or organization in
// the scope, as "RESOURCE:ROLE". Roles Check would refuse as privileged
// (by name, or by the permissions roles.get reads, kept for a while) or
// unknown are left out, unless allow_roles lists them. Parent, when set,
// is a resource name and keeps the targets on it.
//
// Errors: *provider.RefusedError for a Parent that is not a resource
// name and for a User who could never be granted anything (an address
// outside email_domain, one the member template cannot use); any other
// error when the APIs could not answer. It changes nothing.
func (p *Provider) ListTargets(ctx context.Context, req provider.ListTargetsRequest) (provider.ListTargetsResponse, error) {
	fail := func(err error) (provider.ListTargetsResponse, error) {
		return provider.ListTargetsResponse{}, fmt.Errorf("gcp: list targets: %w", err)
	}
	var parent Resource
	if req.Parent != "" {
		r, err := ParseResource(req.Parent)
		if err != nil {
			return provider.ListTargetsResponse{}, &provider.RefusedError{Reason: err.Error()}
		}
		parent = r
	}
	var member string
	if req.User != "" {
		m, err := p.cfg.memberFor(req.User)
		if err != nil {
			return provider.ListTargetsResponse{}, &provider.RefusedError{Reason: err.Error()}
		}
		member = m
	}
	keep := func(r Resource) bool { return parent.IsZero() || r == parent }
	var candidates []Target
	if keep(p.cfg.scope) {
		for _, role := range p.cfg.roles {
			candidates = append(candidates, Target{Resource: p.cfg.scope, Role: role})
		}
	}
	resp := provider.ListTargetsResponse{}
	var c *clients
	if len(candidates) > 0 || (p.cfg.discover && member != "") {
		var err error
		if c, err = p.connect(); err != nil {
			return fail(err)
		}
	}
	if p.cfg.discover && member != "" {
		bs, complete, err := p.eligibleBindings(ctx, c, member)
		if err != nil {
			return fail(err)
		}
		resp.Truncated = !complete
		for _, b := range bs {
			if !keep(b.Resource) || checkConditional(b.Role) != nil {
				continue
			}
			candidates = append(candidates, Target{Resource: b.Resource, Role: b.Role})
		}
	}
	// Each role is judged once, however many resources it is offered on.
	verdict := map[Role]bool{}
	seen := map[string]bool{}
	var out []string
	for _, t := range candidates {
		ok, judged := verdict[t.Role]
		if !judged {
			err := p.checkRole(ctx, c, t.Role, false)
			var re *provider.RefusedError
			if err != nil && !errors.As(err, &re) {
				return fail(err)
			}
			ok = err == nil
			verdict[t.Role] = ok
		}
		if s := t.String(); ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	if len(out) > maxTargets {
		out, resp.Truncated = out[:maxTargets], true
	}
	resp.Targets = out
	return resp, nil
}

// backoff is the wait before read-modify-write attempt n+1: exponential
// from 200ms, at most 5s, with jitter so that replicas that collided do
// not collide again.
func backoff(n int) time.Duration {
	d := 200 * time.Millisecond << min(n-1, 5)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// change edits a policy just read; it reports whether it changed it. An
// error ends the update without writing.
type change func(ctx context.Context, pol *crm.Policy, now time.Time) (bool, error)

// update changes r's policy by read-modify-write: read at version 3,
// apply fn, drop jit's own expired activations, write with the read's
// etag. When someone else wrote in between (409 ABORTED or 412), the
// whole cycle runs again after a backoff, at most max_attempts times.
// Other bindings and conditions are written back exactly as read.
//
// Errors are provider.NotApplied when the policy certainly was not
// written (a read failed, fn refused, every write was rejected); a write
// that failed otherwise leaves the outcome unknown.
func (p *Provider) update(ctx context.Context, c *clients, r Resource, fn change) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return provider.NotApplied(err)
		}
		pol, err := c.getPolicy(ctx, r)
		if err != nil {
			return provider.NotApplied(err)
		}
		now := p.now()
		changed, err := fn(ctx, pol, now)
		if err != nil {
			return provider.NotApplied(err)
		}
		if !changed {
			return nil
		}
		purgeExpired(pol, now)
		if err := ctx.Err(); err != nil {
			return provider.NotApplied(err)
		}
		err = c.setPolicy(ctx, r, pol)
		switch {
		case err == nil:
			return nil
		case !isConflict(err):
			if isRejected(err) {
				return provider.NotApplied(err)
			}
			return err
		case attempt >= p.cfg.maxAttempts:
			return provider.NotApplied(fmt.Errorf("%w (the policy changed between read and write in each of %d attempts)", err, attempt))
		}
		if err := p.sleep(ctx, backoff(attempt)); err != nil {
			return provider.NotApplied(err)
		}
	}
}

// findActivation returns the index of the binding of requestID, or -1.
func findActivation(pol *crm.Policy, requestID string) (int, activation) {
	for i, b := range pol.Bindings {
		if a, ok := parseActivation(b); ok && a.RequestID == requestID {
			return i, a
		}
	}
	return -1, activation{}
}

// removeActivation drops every binding of requestID and reports whether
// there was one.
func removeActivation(pol *crm.Policy, requestID string) bool {
	n := len(pol.Bindings)
	pol.Bindings = slices.DeleteFunc(pol.Bindings, func(b *crm.Binding) bool {
		a, ok := parseActivation(b)
		return ok && a.RequestID == requestID
	})
	return len(pol.Bindings) != n
}

// purgeExpired drops jit's activations whose window has ended, so that
// policies do not grow with every request (IAM limits how many
// conditional bindings a policy holds, and how many of them may share a
// role and member). Bindings that are not jit's own are never touched.
func purgeExpired(pol *crm.Policy, now time.Time) int {
	n := len(pol.Bindings)
	pol.Bindings = slices.DeleteFunc(pol.Bindings, func(b *crm.Binding) bool {
		a, ok := parseActivation(b)
		return ok && !now.Before(a.End)
	})
	return n - len(pol.Bindings)
}

// Grant adds a binding of the role for the requester's member to the
// resource's IAM policy, with a condition that holds from now until
// ExpiresAt (whole seconds, UTC), so that Google Cloud itself ends the
// access even when jitd is down. The condition's title is
// ActivationTitle and its description names the request ID. It
// re-checks what Check checked that may have changed since (custom role
// permissions, the hierarchy, and eligibility for a role the settings do
// not offer).
//
// Idempotent: when the policy already holds a binding for RequestID, it
// succeeds without writing. Errors: provider.NotApplied when the policy
// was certainly not written (bad input, a refusal, a failed read, writes
// rejected after max_attempts conflicts); otherwise the outcome is
// unknown and Verify or Revoke reconciles.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	fail := func(err error) (provider.GrantResponse, error) {
		return provider.GrantResponse{}, fmt.Errorf("gcp: grant: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fail(provider.NotApplied(err))
	}
	if err := checkRequestID(req.RequestID); err != nil {
		return fail(provider.NotApplied(err))
	}
	member, err := p.cfg.memberFor(req.User)
	if err != nil {
		return fail(provider.NotApplied(err))
	}
	if req.ExpiresAt.IsZero() {
		return fail(provider.NotApplied(errors.New("the request has no expiry")))
	}
	pl, err := p.resolve(req.Access, req.Target)
	if err != nil {
		return fail(provider.NotApplied(err))
	}
	c, err := p.connect()
	if err != nil {
		return fail(provider.NotApplied(err))
	}
	end := req.ExpiresAt.UTC().Truncate(time.Second)
	vetted := false
	err = p.update(ctx, c, pl.resource, func(ctx context.Context, pol *crm.Policy, now time.Time) (bool, error) {
		if i, _ := findActivation(pol, req.RequestID); i >= 0 {
			return false, nil
		}
		if !vetted {
			e, err := p.vet(ctx, c, pl, member, false)
			if err != nil {
				return false, err
			}
			if !pl.static && e == NotEligible {
				return false, fmt.Errorf("%s is no longer eligible for %s on %s", member, pl.role, pl.resource)
			}
			vetted = true
		}
		start := now.UTC().Truncate(time.Second)
		if !end.After(start) {
			return false, fmt.Errorf("the expiry %s has passed", end.Format(time.RFC3339))
		}
		pol.Bindings = append(pol.Bindings, &crm.Binding{
			Role:      string(pl.role),
			Members:   []string{member},
			Condition: activationCondition(req.RequestID, req.User, start, end),
		})
		return true, nil
	})
	if err != nil {
		return fail(err)
	}
	h, err := json.Marshal(Handle{Resource: pl.resource.String(), Role: string(pl.role), Member: member})
	if err != nil {
		return fail(err)
	}
	return provider.GrantResponse{Handle: h}, nil
}

// resourceOf finds the resource whose policy holds a request's binding:
// from the handle, else from the target, else the scope. A target that
// does not parse was never granted, so looking in the scope finds
// nothing, correctly.
func (p *Provider) resourceOf(handle json.RawMessage, target string) Resource {
	if len(handle) > 0 {
		var h Handle
		if json.Unmarshal(handle, &h) == nil {
			if r, err := ParseResource(h.Resource); err == nil {
				return r
			}
		}
	}
	if t, err := ParseTarget(target); err == nil && !t.Resource.IsZero() {
		return t.Resource
	}
	return p.cfg.scope
}

// Revoke removes the binding of RequestID (and jit's expired
// activations) from the resource's policy by read-modify-write. Only
// bindings jit made for that request are removed; others are written back
// as read.
//
// Idempotent: when there is no such binding it succeeds without writing.
// Errors: provider.NotApplied when the policy was certainly not written;
// otherwise the outcome is unknown.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("gcp: revoke: %w", provider.NotApplied(err))
	}
	c, err := p.connect()
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("gcp: revoke: %w", provider.NotApplied(err))
	}
	r := p.resourceOf(req.Handle, req.Target)
	err = p.update(ctx, c, r, func(_ context.Context, pol *crm.Policy, _ time.Time) (bool, error) {
		return removeActivation(pol, req.RequestID), nil
	})
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("gcp: revoke: %w", err)
	}
	return provider.RevokeResponse{}, nil
}

// Verify reads the resource's policy. Present is true while the binding
// of RequestID is there and its window has not ended (an ended one grants
// nothing and is purged at the next write); ExpiresAt is the end the
// condition enforces whenever the binding is there. It changes nothing;
// an error means the policy could not be read.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("gcp: verify: %w", err)
	}
	c, err := p.connect()
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("gcp: verify: %w", err)
	}
	pol, err := c.getPolicy(ctx, p.resourceOf(req.Handle, req.Target))
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("gcp: verify: %w", err)
	}
	i, a := findActivation(pol, req.RequestID)
	if i < 0 {
		return provider.VerifyResponse{}, nil
	}
	end := a.End
	return provider.VerifyResponse{Present: p.now().Before(end), ExpiresAt: &end}, nil
}

// resourceAssetTypes are the Cloud Asset types whose policies jit writes.
var resourceAssetTypes = []string{
	"cloudresourcemanager.googleapis.com/Project",
	"cloudresourcemanager.googleapis.com/Folder",
	"cloudresourcemanager.googleapis.com/Organization",
}

// List reports jit's activation bindings in the scope's policy and, when
// the scope is a folder or organization, in the policies of the projects
// and folders under it. Those are found with the Cloud Asset API's
// searchAllIamPolicies and then read again with getIamPolicy, so that a
// binding already revoked is never listed from a stale index; a binding
// made in the last minutes may be missing until the index has it. Ended
// activations not yet purged are listed with their ExpiresAt.
//
// It changes nothing. An error means the listing is incomplete.
func (p *Provider) List(ctx context.Context, _ provider.ListRequest) (provider.ListResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.ListResponse{}, fmt.Errorf("gcp: list: %w", err)
	}
	c, err := p.connect()
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("gcp: list: %w", err)
	}
	resources := []Resource{p.cfg.scope}
	if p.cfg.scope.Kind != Project {
		err := c.asset.V1.SearchAllIamPolicies(p.cfg.scope.String()).
			AssetTypes(resourceAssetTypes...).
			PageSize(500).
			Pages(ctx, func(resp *cloudasset.SearchAllIamPoliciesResponse) error {
				for _, res := range resp.Results {
					r, ok := resourceFromFullName(res.Resource)
					if !ok || res.Policy == nil || slices.Contains(resources, r) {
						continue
					}
					for _, b := range res.Policy.Bindings {
						if b.Condition == nil {
							continue
						}
						if _, ok := parseActivationCondition(b.Condition.Title, b.Condition.Description, b.Condition.Expression); ok {
							resources = append(resources, r)
							break
						}
					}
				}
				return nil
			})
		if err != nil {
			return provider.ListResponse{}, fmt.Errorf("gcp: list: search IAM policies under %s: %w", p.cfg.scope, err)
		}
	}
	seen := map[string]bool{}
	var out []provider.ListedGrant
	for _, r := range resources {
		pol, err := c.getPolicy(ctx, r)
		if err != nil {
			return provider.ListResponse{}, fmt.Errorf("gcp: list: %w", err)
		}
		for _, b := range pol.Bindings {
			a, ok := parseActivation(b)
			if !ok || seen[a.RequestID] {
				continue
			}
			seen[a.RequestID] = true
			user := a.User
			if user == "" && len(b.Members) == 1 {
				user, _ = p.cfg.personOf(b.Members[0])
			}
			end := a.End
			out = append(out, provider.ListedGrant{RequestID: a.RequestID, User: user, ExpiresAt: &end})
		}
	}
	return provider.ListResponse{Grants: out}, nil
}
