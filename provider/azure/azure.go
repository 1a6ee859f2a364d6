package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "azure"

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Checker  = (*Provider)(nil)
)

// Options are what tests inject instead of what the settings describe.
type Options struct {
	// Transport carries Azure Resource Manager requests; nil means HTTP.
	// Tests give the SDK's fake server (armauthorization/v2/fake).
	Transport policy.Transporter
	// HTTPClient sends token requests and Graph lookups; nil means a
	// client with the timeout setting.
	HTTPClient *http.Client
	// Credential authenticates every request; nil means a
	// ClientCredential built from the settings.
	Credential azcore.TokenCredential
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider grants Azure roles at one scope with Privileged Identity
// Management's role assignment schedule requests: time-bound active
// assignments that Azure itself ends at expiry. It is safe for concurrent
// use.
type Provider struct {
	cfg   config
	now   func() time.Time
	scope string

	requests    *armauthorization.RoleAssignmentScheduleRequestsClient
	schedules   *armauthorization.RoleAssignmentSchedulesClient
	eligibility *armauthorization.RoleEligibilitySchedulesClient
	definitions *armauthorization.RoleDefinitionsClient
	graph       *graphLookup

	mu    sync.Mutex
	names map[string]string       // access level → role GUID, resolved once
	defs  map[string]resolvedRole // role GUID → definition read recently
}

// resolvedRole is a role definition as read from Azure.
type resolvedRole struct {
	guid       string
	id         string // as used in assignments at the scope
	name       string
	escalation string // why it can grant access, or ""
	read       time.Time
}

// roleDefinitionTTL is how long a role definition's permissions are
// trusted before being read again: a custom role edited to grant more is
// noticed this long after at the latest.
const roleDefinitionTTL = 5 * time.Minute

// handle is GrantResponse.Handle. It holds no secret.
type handle struct {
	Scope            string `json:"scope"`
	PrincipalID      string `json:"principal_id"`
	RoleDefinitionID string `json:"role_definition_id"`
	Request          string `json:"request"`
}

// New builds the provider from r.Settings. It validates them and returns
// every problem, naming its key; it neither reads the client secret nor
// contacts Azure (that happens at first use).
func New(r provider.Resource) (provider.Provider, error) {
	return NewWithOptions(r, Options{})
}

// NewWithOptions is New with the transport, HTTP client, credential and
// clock given.
func NewWithOptions(r provider.Resource, o Options) (*Provider, error) {
	cfg, err := parseConfig(r)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, now: o.Now, scope: cfg.scope.String(), names: map[string]string{}, defs: map[string]resolvedRole{}}
	if p.now == nil {
		p.now = time.Now
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.timeout}
	}
	cred := o.Credential
	if cred == nil {
		secret := SecretFromEnv(cfg.secretEnv)
		if cfg.secretFile != "" {
			secret = SecretFromFile(cfg.secretFile)
		}
		cc, err := NewClientCredential(ClientCredentialOptions{
			TenantID: cfg.tenantID, ClientID: cfg.clientID, Secret: secret,
			AuthorityHost: cfg.authorityHost, HTTPClient: hc, Now: p.now,
		})
		if err != nil {
			return nil, fmt.Errorf("azure credential: %w", err)
		}
		cred = cc
	}
	opts := &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{
				ActiveDirectoryAuthorityHost: cfg.authorityHost,
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Audience: cfg.armEndpoint, Endpoint: cfg.armEndpoint},
				},
			},
			Transport: o.Transport,
			Retry:     policy.RetryOptions{TryTimeout: cfg.timeout},
			Telemetry: policy.TelemetryOptions{ApplicationID: "jit"},
		},
		// jit must not register resource providers in the subscription.
		DisableRPRegistration: true,
	}
	if p.requests, err = armauthorization.NewRoleAssignmentScheduleRequestsClient(cred, opts); err != nil {
		return nil, fmt.Errorf("azure client: %w", err)
	}
	if p.schedules, err = armauthorization.NewRoleAssignmentSchedulesClient(cred, opts); err != nil {
		return nil, fmt.Errorf("azure client: %w", err)
	}
	if p.eligibility, err = armauthorization.NewRoleEligibilitySchedulesClient(cred, opts); err != nil {
		return nil, fmt.Errorf("azure client: %w", err)
	}
	if p.definitions, err = armauthorization.NewRoleDefinitionsClient(cred, opts); err != nil {
		return nil, fmt.Errorf("azure client: %w", err)
	}
	if cfg.graphLookup {
		p.graph = newGraphLookup(cfg.graphEndpoint, cred, hc, p.now)
	}
	return p, nil
}

// Scope returns the canonical scope access is granted at.
func (p *Provider) Scope() string { return p.scope }

// principal returns the requester's Entra object ID: from the principals
// map, else from Microsoft Graph when principal_lookup is graph. An
// unknown person is a *provider.RefusedError; any other error means the
// lookup could not be made.
func (p *Provider) principal(ctx context.Context, email string) (string, error) {
	key := strings.ToLower(strings.TrimSpace(email))
	if id, ok := p.cfg.principals[key]; ok {
		return id, nil
	}
	if p.graph == nil {
		return "", provider.Refusef("%s has no Entra object ID in the principals of resource %s", email, p.cfg.resource)
	}
	if err := checkEmail(key); err != nil {
		return "", provider.Refusef("%q %v", email, err)
	}
	id, err := p.graph.lookup(ctx, key)
	if errors.Is(err, errUnknownPerson) {
		return "", provider.Refusef("Microsoft Entra ID has no user %s", email)
	}
	return id, err
}

// role returns the role definition of an access level: its name resolved
// to a GUID once, its permissions read again after roleDefinitionTTL. An
// unknown level or role is a *provider.RefusedError.
func (p *Provider) role(ctx context.Context, level string) (resolvedRole, error) {
	ref, ok := p.cfg.roles[level]
	if !ok {
		return resolvedRole{}, provider.Refusef("access level %q is not offered by resource %s (it offers %s)", level, p.cfg.resource, p.cfg.levelNames())
	}
	p.mu.Lock()
	guid := ref.guid
	if guid == "" {
		guid = p.names[level]
	}
	r, cached := p.defs[guid]
	p.mu.Unlock()
	if guid != "" && cached && p.now().Sub(r.read) < roleDefinitionTTL {
		return r, nil
	}
	if guid == "" {
		g, err := p.resolveName(ctx, ref.name)
		if err != nil {
			return resolvedRole{}, err
		}
		guid = g
		p.mu.Lock()
		p.names[level] = guid
		p.mu.Unlock()
	}
	id := roleDefinitionID(p.cfg.scope.Subscription, guid)
	resp, err := p.definitions.GetByID(ctx, id, nil)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return resolvedRole{}, provider.Refusef("role definition %s of access level %q does not exist", guid, level)
		}
		return resolvedRole{}, armErr("read role definition "+guid, err)
	}
	r = resolvedRole{guid: guid, id: id, escalation: escalation(&resp.RoleDefinition), read: p.now()}
	if resp.Properties != nil {
		r.name = deref(resp.Properties.RoleName)
	}
	if r.name == "" {
		r.name = guid
	}
	p.mu.Lock()
	p.defs[guid] = r
	p.mu.Unlock()
	return r, nil
}

// resolveName finds the GUID of the role called name at the scope.
func (p *Provider) resolveName(ctx context.Context, name string) (string, error) {
	filter := "roleName eq " + odataString(name)
	pager := p.definitions.NewListPager(p.scope, &armauthorization.RoleDefinitionsClientListOptions{Filter: &filter})
	var found []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", armErr(fmt.Sprintf("find role %q", name), err)
		}
		for _, d := range page.Value {
			if d == nil || d.Properties == nil || !strings.EqualFold(deref(d.Properties.RoleName), name) {
				continue
			}
			g, err := parseGUID(deref(d.Name))
			if err != nil {
				continue
			}
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return "", provider.Refusef("no role named %q is defined at %s", name, p.scope)
	case 1:
		return found[0], nil
	default:
		return "", provider.Refusef("several roles are named %q at %s; give the role definition ID instead", name, p.scope)
	}
}

// plan is what a grant needs, checked.
type plan struct {
	principal string
	role      resolvedRole
}

// plan finds the principal and role and refuses escalating roles and, in
// eligible mode, people PIM does not list as eligible. It reads Azure and
// changes nothing. Refusals are *provider.RefusedError.
func (p *Provider) plan(ctx context.Context, user, access string) (plan, error) {
	role, err := p.role(ctx, access)
	if err != nil {
		return plan{}, err
	}
	if role.escalation != "" && !p.cfg.allowed(role.guid, role.name) {
		return plan{}, provider.Refusef("role %s of access level %q is refused because %s; list it in allow_roles to offer it anyway", role.name, access, role.escalation)
	}
	principal, err := p.principal(ctx, user)
	if err != nil {
		return plan{}, err
	}
	if p.cfg.mode == ModeEligible {
		ok, err := p.eligible(ctx, principal, role.guid)
		if err != nil {
			return plan{}, err
		}
		if !ok {
			return plan{}, provider.Refusef("%s is not eligible for %s at %s in Privileged Identity Management", user, role.name, p.scope)
		}
	}
	return plan{principal: principal, role: role}, nil
}

// eligible reports whether the principal has a current eligibility
// schedule for the role at the scope or above. Eligibility through a
// group is not seen: the principalId filter lists the principal's own.
func (p *Provider) eligible(ctx context.Context, principal, roleGUID string) (bool, error) {
	filter := "principalId eq " + odataString(principal)
	pager := p.eligibility.NewListForScopePager(p.scope, &armauthorization.RoleEligibilitySchedulesClientListForScopeOptions{Filter: &filter})
	now := p.now()
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return false, armErr("list role eligibility schedules", err)
		}
		for _, s := range page.Value {
			if s == nil || s.Properties == nil {
				continue
			}
			pr := s.Properties
			if !strings.EqualFold(deref(pr.PrincipalID), principal) || !strings.EqualFold(lastSegment(deref(pr.RoleDefinitionID)), roleGUID) {
				continue
			}
			if !covers(deref(pr.Scope), p.scope) {
				continue
			}
			if pr.Status != nil && *pr.Status != armauthorization.StatusProvisioned {
				continue
			}
			if pr.StartDateTime != nil && pr.StartDateTime.After(now) {
				continue
			}
			if pr.EndDateTime != nil && !pr.EndDateTime.After(now) {
				continue
			}
			return true, nil
		}
	}
	return false, nil
}

// listSchedules returns the current role assignment schedules at exactly
// the scope, of principal when it is not "".
func (p *Provider) listSchedules(ctx context.Context, scope, principal string) ([]*armauthorization.RoleAssignmentSchedule, error) {
	var opts *armauthorization.RoleAssignmentSchedulesClientListForScopeOptions
	if principal != "" {
		filter := "principalId eq " + odataString(principal)
		opts = &armauthorization.RoleAssignmentSchedulesClientListForScopeOptions{Filter: &filter}
	}
	pager := p.schedules.NewListForScopePager(scope, opts)
	now := p.now()
	var out []*armauthorization.RoleAssignmentSchedule
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, armErr("list role assignment schedules", err)
		}
		for _, s := range page.Value {
			if s == nil || s.Properties == nil || !sameID(deref(s.Properties.Scope), scope) {
				continue
			}
			pr := s.Properties
			if principal != "" && !strings.EqualFold(deref(pr.PrincipalID), principal) {
				continue
			}
			// Azure lists current schedules only; an ended one is not
			// access, whatever a stale listing says.
			if pr.EndDateTime != nil && !pr.EndDateTime.After(now) {
				continue
			}
			if pr.Status != nil && *pr.Status != armauthorization.StatusProvisioned {
				continue
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// holding returns the schedule by which principal holds the role at the
// scope, or nil.
func (p *Provider) holding(ctx context.Context, scope, principal, roleGUID string) (*armauthorization.RoleAssignmentSchedule, error) {
	all, err := p.listSchedules(ctx, scope, principal)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if strings.EqualFold(lastSegment(deref(s.Properties.RoleDefinitionID)), roleGUID) {
			return s, nil
		}
	}
	return nil, nil
}

// made returns the schedule of principal at the scope created by the
// schedule request called name, or nil.
func (p *Provider) made(ctx context.Context, scope, principal, name string) (*armauthorization.RoleAssignmentSchedule, error) {
	all, err := p.listSchedules(ctx, scope, principal)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if linkedName(s) == strings.ToLower(name) {
			return s, nil
		}
	}
	return nil, nil
}

// linkedName is the name of the schedule request that created s, lower
// case, or "".
func linkedName(s *armauthorization.RoleAssignmentSchedule) string {
	id := deref(s.Properties.RoleAssignmentScheduleRequestID)
	if id == "" {
		return ""
	}
	return strings.ToLower(lastSegment(id))
}

// getRequest reads the schedule request called name at scope; nil when
// there is none.
func (p *Provider) getRequest(ctx context.Context, scope, name string) (*armauthorization.RoleAssignmentScheduleRequest, error) {
	resp, err := p.requests.Get(ctx, scope, name, nil)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, nil
		}
		return nil, armErr("read role assignment schedule request "+name, err)
	}
	return &resp.RoleAssignmentScheduleRequest, nil
}

// recordIn reads the jit record of a schedule request of type want. The
// names jit gives its requests are derived from request IDs and so can be
// known to others; a person who may activate a role by themselves chooses
// the name and justification of their own SelfActivate request. Only the
// administrative requests jit sends (AdminAssign, AdminRemove), which need
// the rights jit holds, are taken for jit's.
func recordIn(r *armauthorization.RoleAssignmentScheduleRequest, want armauthorization.RequestType) (record, bool) {
	if r == nil || r.Properties == nil || r.Properties.RequestType == nil || *r.Properties.RequestType != want {
		return record{}, false
	}
	return parseRecord(deref(r.Properties.Justification))
}

// capClaims bounds each claim at end, the end of the assignment whose
// record lists them: a claim never earns more than the assignment that
// carried it gave already, whatever its record says.
func capClaims(claims []claim, end *time.Time) []claim {
	if end == nil || end.IsZero() {
		return claims
	}
	out := make([]claim, len(claims))
	for i, c := range claims {
		if c.expires.After(*end) {
			c.expires = end.UTC()
		}
		out[i] = c
	}
	return out
}

// recordOf reads the jit record of the request that created s. ok is
// false when jit did not create s.
func (p *Provider) recordOf(ctx context.Context, scope string, s *armauthorization.RoleAssignmentSchedule) (record, bool, error) {
	name := linkedName(s)
	if name == "" {
		return record{}, false, nil
	}
	r, err := p.getRequest(ctx, scope, name)
	if err != nil || r == nil {
		return record{}, false, err
	}
	rec, ok := recordIn(r, armauthorization.RequestTypeAdminAssign)
	if !ok || !rec.createdBy(name) {
		return record{}, false, nil
	}
	return rec, true, nil
}

// claimed returns the assignment of principal and role at scope that
// serves requestID, with its record, or nil.
func (p *Provider) claimed(ctx context.Context, scope, principal, roleGUID, requestID string) (*armauthorization.RoleAssignmentSchedule, record, error) {
	s, err := p.holding(ctx, scope, principal, roleGUID)
	if err != nil || s == nil {
		return nil, record{}, err
	}
	rec, ok, err := p.recordOf(ctx, scope, s)
	if err != nil || !ok {
		return nil, record{}, err
	}
	if _, has := rec.find(requestID); !has {
		return nil, record{}, nil
	}
	return s, rec, nil
}

// stillLive drops the claims whose request has been revoked (its removal
// request exists): an interrupted grant or revoke must not bring them
// back.
func (p *Provider) stillLive(ctx context.Context, scope string, claims []claim) ([]claim, error) {
	var out []claim
	for _, c := range claims {
		r, err := p.getRequest(ctx, scope, RemoveName(c.id))
		if err != nil {
			return nil, err
		}
		if r == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// truncateRunes cuts s to at most max runes, the last marking the cut.
func truncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
		}
		n++
	}
	return s
}

// isoDuration writes d (rounded down to whole seconds) as an ISO 8601
// duration: "PT1H", "PT1H30M", "PT59M59S".
func isoDuration(d time.Duration) string {
	secs := int64(d / time.Second)
	if secs <= 0 {
		return "PT0S"
	}
	h, m, s := secs/3600, secs/60%60, secs%60
	var b strings.Builder
	b.WriteString("PT")
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%dS", s)
	}
	return b.String()
}

// Statuses of a schedule request after which the assignment exists or
// is being made.
var inProgress = map[armauthorization.Status]bool{
	armauthorization.StatusAccepted:                    true,
	armauthorization.StatusAdminApproved:               true,
	armauthorization.StatusGranted:                     true,
	armauthorization.StatusProvisioned:                 true,
	armauthorization.StatusProvisioningStarted:         true,
	armauthorization.StatusPendingProvisioning:         true,
	armauthorization.StatusPendingScheduleCreation:     true,
	armauthorization.StatusScheduleCreated:             true,
	armauthorization.StatusPendingEvaluation:           true,
	armauthorization.StatusPendingExternalProvisioning: true,
}

// assign sends an AdminAssign schedule request called name that starts
// now and lasts until the latest expiry of rec's claims. When Azure
// answers that it exists, the assignment it created is looked for, and
// its presence is success. refused is true when Azure certainly changed
// nothing.
func (p *Provider) assign(ctx context.Context, scope, name, principal, roleID string, rec record, just string) (refused bool, err error) {
	now := p.now().UTC().Truncate(time.Second)
	end := latest(rec.claims)
	if !end.After(now) {
		return true, errors.New("every request the assignment would serve has expired")
	}
	body := armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID:      &principal,
		RoleDefinitionID: &roleID,
		RequestType:      ptr(armauthorization.RequestTypeAdminAssign),
		Justification:    &just,
		ScheduleInfo: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{
			StartDateTime: &now,
			Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{
				Type:     ptr(armauthorization.TypeAfterDuration),
				Duration: ptr(isoDuration(end.Sub(now))),
			},
		},
	}}
	created, err := p.requests.Create(ctx, scope, name, body, nil)
	if err != nil {
		if isExists(err) {
			s, lerr := p.made(ctx, scope, principal, name)
			if lerr == nil && s != nil {
				return false, nil
			}
			return false, fmt.Errorf("%w, and no assignment made by this request is there", armErr("create role assignment schedule request", err))
		}
		return refusedWrite(err), armErr("create role assignment schedule request", err)
	}
	if created.Properties != nil && created.Properties.Status != nil {
		st := *created.Properties.Status
		switch {
		case inProgress[st]:
		case st == armauthorization.StatusPendingApproval || st == armauthorization.StatusPendingApprovalProvisioning || st == armauthorization.StatusPendingAdminDecision:
			return false, fmt.Errorf("Azure's role management policy makes the assignment wait for approval (status %s); jit's approval is the only one this provider can use, so the policy must not require approval for active assignments", st)
		default:
			return false, fmt.Errorf("Azure answered the schedule request with status %s", st)
		}
	}
	return false, nil
}

// remove sends an AdminRemove schedule request called name for the
// assignment s. Azure's "does not exist" is success; "already exists"
// (the same removal was sent before) is success when s is gone.
func (p *Provider) remove(ctx context.Context, scope string, s *armauthorization.RoleAssignmentSchedule, name, just string) (refused bool, err error) {
	pr := s.Properties
	body := armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID:      pr.PrincipalID,
		RoleDefinitionID: pr.RoleDefinitionID,
		RequestType:      ptr(armauthorization.RequestTypeAdminRemove),
		Justification:    &just,
	}}
	_, err = p.requests.Create(ctx, scope, name, body, nil)
	if err == nil || isNotExist(err) {
		return false, nil
	}
	if isExists(err) {
		again, lerr := p.made(ctx, scope, deref(pr.PrincipalID), linkedName(s))
		if lerr == nil && again == nil {
			return false, nil
		}
	}
	return refusedWrite(err), armErr("create role assignment removal request", err)
}

// Grant creates a time-bound active role assignment with an AdminAssign
// schedule request named RequestName(req.RequestID), starting now and
// lasting until req.ExpiresAt, so Azure ends it at expiry by itself.
//
// Azure holds one assignment of a role per person and scope. When other
// jit requests of the same person for the same role already hold it (an
// extension and its predecessor), this grant replaces it (AdminRemove
// named TakeoverName, then the AdminAssign) with one serving them all
// until the latest of their expiries; the justification of each request
// jit sends records the jit requests the assignment serves, at most four.
// An assignment jit did not make is never touched.
//
// Idempotent: a request whose AdminAssign exists is not sent again; its
// access present is success. An interrupted takeover is finished by the
// next call. Errors: a refusal (unknown person or level, escalating role,
// not eligible, an assignment jit did not make, too many sharing
// requests) and any failure before the first write, or a first write
// Azure refused with 400, 401, 403 or 404, are wrapped with
// provider.NotApplied; a schedule request waiting for approval in Azure
// is an error naming its status.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	fail := func(err error) (provider.GrantResponse, error) {
		return provider.GrantResponse{}, fmt.Errorf("azure grant of request %s: %w", req.RequestID, err)
	}
	notApplied := func(err error) (provider.GrantResponse, error) {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("azure grant of request %s: %w", req.RequestID, err))
	}
	if err := ctx.Err(); err != nil {
		return notApplied(err)
	}
	if err := checkRequestID(req.RequestID); err != nil {
		return notApplied(err)
	}
	if req.Target != "" {
		return notApplied(errors.New("resources of type azure take no target"))
	}
	now := p.now().UTC()
	expires := req.ExpiresAt.UTC().Truncate(time.Second)
	if !expires.After(now) {
		return notApplied(errors.New("its expiry has passed"))
	}
	pl, err := p.plan(ctx, req.User, req.Access)
	if err != nil {
		return notApplied(err)
	}
	name := RequestName(req.RequestID)
	hb, err := json.Marshal(handle{Scope: p.scope, PrincipalID: pl.principal, RoleDefinitionID: pl.role.id, Request: name})
	if err != nil {
		return notApplied(fmt.Errorf("handle: %w", err))
	}
	resp := provider.GrantResponse{Handle: hb}

	prev, err := p.getRequest(ctx, p.scope, name)
	if err != nil {
		return notApplied(err)
	}
	if prev != nil {
		s, _, err := p.claimed(ctx, p.scope, pl.principal, pl.role.guid, req.RequestID)
		if err != nil {
			return fail(err)
		}
		if s != nil {
			return resp, nil
		}
		status := "unknown"
		if prev.Properties != nil && prev.Properties.Status != nil {
			status = string(*prev.Properties.Status)
		}
		return fail(fmt.Errorf("it was granted before (schedule request %s, status %s) and its assignment is no longer there", name, status))
	}

	cur, err := p.holding(ctx, p.scope, pl.principal, pl.role.guid)
	if err != nil {
		return notApplied(err)
	}
	var carried []claim
	if cur != nil {
		rec, ok, err := p.recordOf(ctx, p.scope, cur)
		if err != nil {
			return notApplied(err)
		}
		if !ok {
			return notApplied(fmt.Errorf("%s already holds %s at %s through an assignment jit did not make; jit leaves it alone", req.User, pl.role.name, p.scope))
		}
		carried = capClaims(rec.live(now, req.RequestID), cur.Properties.EndDateTime)
	} else {
		// An earlier attempt may have removed the assignment it was
		// taking over and stopped: the requests that assignment served
		// are carried over from the removal's record.
		j, err := p.getRequest(ctx, p.scope, TakeoverName(req.RequestID))
		if err != nil {
			return notApplied(err)
		}
		if rec, ok := recordIn(j, armauthorization.RequestTypeAdminRemove); ok && rec.op == req.RequestID {
			if carried, err = p.stillLive(ctx, p.scope, rec.live(now, req.RequestID)); err != nil {
				return notApplied(err)
			}
		}
	}
	rec := record{op: req.RequestID, claims: append(carried, claim{id: req.RequestID, expires: expires})}
	if len(rec.claims) > maxClaims {
		return notApplied(fmt.Errorf("%d other jit requests already share %s at %s for %s; Azure holds one assignment, which jit shares among at most %d", len(carried), pl.role.name, p.scope, req.User, maxClaims))
	}
	tookOver := false
	if cur != nil {
		refused, err := p.remove(ctx, p.scope, cur, TakeoverName(req.RequestID), rec.justification(req.User, "replacing the assignment to serve this request too"))
		if err != nil {
			if refused {
				return notApplied(fmt.Errorf("replacing the assignment it shares: %w", err))
			}
			return fail(fmt.Errorf("replacing the assignment it shares: %w", err))
		}
		still, err := p.holding(ctx, p.scope, pl.principal, pl.role.guid)
		if err != nil {
			return fail(err)
		}
		if still != nil {
			return fail(errors.New("the assignment it replaces is still there; retry later"))
		}
		tookOver = true
	}
	refused, err := p.assign(ctx, p.scope, name, pl.principal, pl.role.id, rec, rec.justification(req.User, req.Reason))
	if err != nil {
		if refused && !tookOver {
			return notApplied(err)
		}
		return fail(err)
	}
	return resp, nil
}

// locate returns the scope a Revoke or Verify is about (the handle's,
// where the access was granted, even if the setting changed since), and
// the request's AdminAssign schedule request there, or nil when it was
// never sent.
func (p *Provider) locate(ctx context.Context, requestID string, raw json.RawMessage) (string, *armauthorization.RoleAssignmentScheduleRequest, error) {
	scope := p.scope
	if len(raw) > 0 && string(raw) != "null" {
		var h handle
		if err := json.Unmarshal(raw, &h); err != nil {
			return "", nil, fmt.Errorf("handle is not valid: %w", err)
		}
		sc, err := ParseScope(h.Scope)
		if err != nil {
			return "", nil, fmt.Errorf("handle's scope: %w", err)
		}
		if !strings.EqualFold(h.Request, RequestName(requestID)) {
			return "", nil, errors.New("handle is for another request")
		}
		scope = sc.String()
	}
	r, err := p.getRequest(ctx, scope, RequestName(requestID))
	if err != nil {
		return "", nil, err
	}
	if r != nil && (r.Properties == nil || r.Properties.PrincipalID == nil || r.Properties.RoleDefinitionID == nil) {
		return "", nil, errors.New("Azure answered with a schedule request without principal or role")
	}
	return scope, r, nil
}

// Revoke ends the access of req.RequestID. When its assignment serves
// only this request, an AdminRemove schedule request named
// RemoveName(req.RequestID) removes it; when it serves other jit requests
// too, it is replaced (that AdminRemove, then an AdminAssign named
// RestoreName) by one serving only them, until their latest expiry.
//
// Idempotent: a request never granted, already revoked, expired, or whose
// assignment is gone succeeds without a write; Azure's "does not exist"
// is success; an interrupted replacement is finished by the next call.
// Errors: failures before the first write are wrapped with
// provider.NotApplied; others leave the outcome to be checked with Verify.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	fail := func(err error) (provider.RevokeResponse, error) {
		return provider.RevokeResponse{}, fmt.Errorf("azure revoke of request %s: %w", req.RequestID, err)
	}
	notApplied := func(err error) (provider.RevokeResponse, error) {
		return provider.RevokeResponse{}, provider.NotApplied(fmt.Errorf("azure revoke of request %s: %w", req.RequestID, err))
	}
	if err := ctx.Err(); err != nil {
		return notApplied(err)
	}
	if err := checkRequestID(req.RequestID); err != nil {
		return notApplied(err)
	}
	scope, granted, err := p.locate(ctx, req.RequestID, req.Handle)
	if err != nil {
		return notApplied(err)
	}
	if granted == nil {
		return provider.RevokeResponse{}, nil
	}
	principal := strings.ToLower(*granted.Properties.PrincipalID)
	roleID := *granted.Properties.RoleDefinitionID
	s, rec, err := p.claimed(ctx, scope, principal, lastSegment(roleID), req.RequestID)
	if err != nil {
		return notApplied(err)
	}
	if s == nil {
		if err := p.finishRevoke(ctx, scope, req.RequestID, principal, roleID); err != nil {
			return fail(err)
		}
		return provider.RevokeResponse{}, nil
	}
	next := record{op: req.RequestID, claims: capClaims(rec.live(p.now(), req.RequestID), s.Properties.EndDateTime)}
	refused, err := p.remove(ctx, scope, s, RemoveName(req.RequestID), next.justification("", "revoked"))
	if err != nil {
		if refused {
			return notApplied(err)
		}
		return fail(err)
	}
	if len(next.claims) > 0 {
		if _, err := p.assign(ctx, scope, RestoreName(req.RequestID), principal, roleID, next, next.justification("", "kept for the requests listed")); err != nil {
			return fail(fmt.Errorf("assigning the role again for the other requests it served: %w", err))
		}
	}
	return provider.RevokeResponse{}, nil
}

// finishRevoke completes a revoke that removed a shared assignment and
// stopped before assigning it again for the other requests: its removal
// request exists, its restore request does not, and nothing holds the
// role. Requests revoked or expired since are left out.
func (p *Provider) finishRevoke(ctx context.Context, scope, requestID, principal, roleID string) error {
	r, err := p.getRequest(ctx, scope, RemoveName(requestID))
	if err != nil || r == nil {
		return err
	}
	rec, ok := recordIn(r, armauthorization.RequestTypeAdminRemove)
	if !ok || rec.op != requestID {
		return nil
	}
	again, err := p.getRequest(ctx, scope, RestoreName(requestID))
	if err != nil || again != nil {
		return err
	}
	claims, err := p.stillLive(ctx, scope, rec.live(p.now(), requestID))
	if err != nil || len(claims) == 0 {
		return err
	}
	cur, err := p.holding(ctx, scope, principal, lastSegment(roleID))
	if err != nil || cur != nil {
		return err
	}
	next := record{op: requestID, claims: claims}
	if _, err := p.assign(ctx, scope, RestoreName(requestID), principal, roleID, next, next.justification("", "kept for the requests listed")); err != nil {
		return fmt.Errorf("assigning the role again for the other requests it served: %w", err)
	}
	return nil
}

// Verify reports whether an assignment serving req.RequestID is active at
// the scope, and its end as Azure enforces it. It has no side effects.
// Errors mean Azure could not be read.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	fail := func(err error) (provider.VerifyResponse, error) {
		return provider.VerifyResponse{}, fmt.Errorf("azure verify of request %s: %w", req.RequestID, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := checkRequestID(req.RequestID); err != nil {
		return fail(err)
	}
	scope, granted, err := p.locate(ctx, req.RequestID, req.Handle)
	if err != nil {
		return fail(err)
	}
	if granted == nil {
		return provider.VerifyResponse{}, nil
	}
	s, rec, err := p.claimed(ctx, scope, strings.ToLower(*granted.Properties.PrincipalID), lastSegment(*granted.Properties.RoleDefinitionID), req.RequestID)
	if err != nil {
		return fail(err)
	}
	if s == nil {
		return provider.VerifyResponse{}, nil
	}
	if c, _ := rec.find(req.RequestID); !c.expires.After(p.now()) {
		// The assignment outlives this request for another one.
		return provider.VerifyResponse{}, nil
	}
	out := provider.VerifyResponse{Present: true}
	if end := s.Properties.EndDateTime; end != nil && !end.IsZero() {
		t := end.UTC()
		out.ExpiresAt = &t
	}
	return out, nil
}

// Check decides at submit whether the request could be granted: the
// level is offered, its role is not an escalation (unless allow_roles
// lists it), the person has an object ID, in eligible mode PIM lists them
// as eligible, they do not hold the role at the scope through an
// assignment jit did not make, and fewer than four jit requests share
// theirs. It reads Azure (and Graph) and changes nothing. Refusals are
// *provider.RefusedError; other errors mean Azure could not be asked.
func (p *Provider) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.CheckResponse{}, fmt.Errorf("azure check: %w", err)
	}
	if req.Target != "" {
		return provider.CheckResponse{}, provider.Refusef("resource %s grants a role at %s and takes no target", p.cfg.resource, p.scope)
	}
	pl, err := p.plan(ctx, req.User, req.Access)
	if err != nil {
		return provider.CheckResponse{}, err
	}
	cur, err := p.holding(ctx, p.scope, pl.principal, pl.role.guid)
	if err != nil {
		return provider.CheckResponse{}, err
	}
	if cur != nil {
		rec, ok, err := p.recordOf(ctx, p.scope, cur)
		if err != nil {
			return provider.CheckResponse{}, err
		}
		if !ok {
			return provider.CheckResponse{}, provider.Refusef("%s already holds %s at %s through an assignment jit did not make", req.User, pl.role.name, p.scope)
		}
		if n := len(rec.live(p.now(), "")); n >= maxClaims {
			return provider.CheckResponse{}, provider.Refusef("%s already holds %s at %s for %d jit requests, the most one assignment serves", req.User, pl.role.name, p.scope, n)
		}
	}
	resp := provider.CheckResponse{Summary: fmt.Sprintf("Azure role %s at %s, an active assignment that Azure ends at expiry", pl.role.name, p.scope)}
	if p.cfg.mode == ModeEligible {
		resp.Labels = []string{"azure:eligible"}
	}
	return resp, nil
}

// azureError is a failed Azure Resource Manager call, reduced to what is
// useful and safe to show: the operation, HTTP status, error code and
// message. Unwrap gives the SDK's error.
type azureError struct {
	op     string
	status int
	code   string
	msg    string
	err    error
}

func (e *azureError) Error() string {
	s := fmt.Sprintf("%s: Azure answered %d", e.op, e.status)
	if e.code != "" {
		s += " " + e.code
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

func (e *azureError) Unwrap() error { return e.err }

// armErr describes err from an Azure Resource Manager call made for op.
func armErr(op string, err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: %w", op, err)
	}
	e := &azureError{op: op, status: re.StatusCode, code: cleanText(re.ErrorCode, 100), err: err}
	if re.RawResponse != nil {
		if body, rerr := runtime.Payload(re.RawResponse); rerr == nil {
			var b struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal(body, &b) == nil {
				e.msg = cleanText(b.Error.Message, 300)
			}
		}
	}
	return e
}

func isStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// isExists reports whether Azure refused a write because the request
// name or the assignment already exists. The answer's status varies (400
// or 409), so the codes are what is read.
func isExists(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch strings.ToLower(re.ErrorCode) {
	case "roleassignmentexists", "roleassignmentrequestexists", "roleassignmentschedulerequestexists":
		return true
	}
	return re.StatusCode == http.StatusConflict && re.ErrorCode == ""
}

// isNotExist reports whether Azure refused a removal because there is
// nothing to remove.
func isNotExist(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch strings.ToLower(re.ErrorCode) {
	case "roleassignmentdoesnotexist", "roleassignmentnotfound":
		return true
	}
	return re.StatusCode == http.StatusNotFound
}

// refusedWrite reports whether a write certainly changed nothing: Azure
// refused it as malformed, unauthenticated, forbidden or aimed at nothing,
// or the credential failed before it was sent.
func refusedWrite(err error) bool {
	var te *TokenError
	if errors.As(err, &te) {
		return true
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch re.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

func ptr[T any](v T) *T { return &v }
