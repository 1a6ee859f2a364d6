package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"

	"github.com/jitaccess/jit/provider"
)

// IAM quotas on the inline policies of one principal, counted without
// whitespace, all inline policies together.
const (
	UserInlinePolicyQuota = 2048
	RoleInlinePolicyQuota = 10240
)

// DefaultIAMRegion signs calls to IAM, a global service, when no region
// is set.
const DefaultIAMRegion = "us-east-1"

var (
	_ provider.Provider = (*IAM)(nil)
	_ provider.Checker  = (*IAM)(nil)
	_ provider.Lister   = (*IAM)(nil)
	_ provider.Sweeper  = (*IAM)(nil)
)

// IAM grants an access level's policy as an inline policy on an IAM user
// or role, bounded in time by the policy's own conditions. It is safe for
// concurrent use.
type IAM struct {
	cfg    iamConfig
	opts   Options
	client *iam.Client
}

type iamConfig struct {
	resource      string
	conn          connection
	principalType string // "user" or "role"
	principalName string // template
	emailDomain   string // the only requesters' domain, with {local}
	pathPrefix    string
	policies      map[string]*Policy
	allow         []string
}

// iamHandle is GrantResponse.Handle of aws-iam.
type iamHandle struct {
	PrincipalType string `json:"principal_type"`
	PrincipalName string `json:"principal_name"`
	PolicyName    string `json:"policy_name"`
}

// NewIAM builds an "aws-iam" provider from r.Settings. It validates them,
// every level's policy included, and returns every problem naming its
// key; it contacts nothing.
func NewIAM(r provider.Resource) (provider.Provider, error) {
	return NewIAMWithOptions(r, Options{})
}

// NewIAMWithOptions is NewIAM with credentials, HTTP client, clock and
// environment given.
func NewIAMWithOptions(r provider.Resource, o Options) (*IAM, error) {
	cfg, err := parseIAMConfig(r)
	if err != nil {
		return nil, err
	}
	o.defaults()
	client := iam.NewFromConfig(cfg.conn.awsConfig(o), func(io *iam.Options) {
		io.BaseEndpoint = endpointOption(cfg.conn.endpoint)
	})
	return &IAM{cfg: cfg, opts: o, client: client}, nil
}

// iamNameRE is IAM's pattern for user and role names.
var iamNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)

// placeholders a principal_name template may hold.
var placeholderRE = regexp.MustCompile(`\{[^}]*\}`)

func parseIAMConfig(r provider.Resource) (iamConfig, error) {
	s := provider.NewSettings(r.Settings)
	c := iamConfig{resource: r.Name}
	c.conn = parseConnection(s, DefaultIAMRegion)
	c.principalType = s.String("principal_type", true)
	if c.principalType != "" && c.principalType != "user" && c.principalType != "role" {
		s.Errorf("principal_type", "must be user or role, got %q", c.principalType)
	}
	c.principalName = s.String("principal_name", true)
	if c.principalName != "" {
		if err := checkTemplate(c.principalName); err != nil {
			s.Errorf("principal_name", "%v", err)
		}
	}
	c.emailDomain = strings.ToLower(s.String("email_domain", false))
	if strings.Contains(c.principalName, "{local}") && c.emailDomain == "" {
		// alice@example.com and alice@partner.example would both be IAM
		// user alice: the second person's grant would land on the first.
		s.Errorf("email_domain", "is required with {local} in principal_name: the part before @ names one person only within one domain")
	}
	if c.emailDomain != "" && (strings.ContainsAny(c.emailDomain, "@ \t") || !strings.Contains(c.emailDomain, ".")) {
		s.Errorf("email_domain", "%q is not a domain such as example.com", c.emailDomain)
	}
	c.pathPrefix = s.String("path_prefix", false)
	if c.pathPrefix == "" {
		c.pathPrefix = "/"
	} else if !strings.HasPrefix(c.pathPrefix, "/") || !strings.HasSuffix(c.pathPrefix, "/") || len(c.pathPrefix) > 512 {
		s.Errorf("path_prefix", "must start and end with / (an IAM path such as /people/)")
	}
	c.allow = s.StringList("allow_actions", false)
	for _, a := range c.allow {
		if !actionRE.MatchString(a) {
			s.Errorf("allow_actions", "%q is not an action such as iam:PassRole", a)
		}
	}
	c.policies = map[string]*Policy{}
	var m map[string]any
	if !s.Has("policies") {
		s.Errorf("policies", "is required: a policy document for each access level")
	} else if pm, ok := provider.AsMap(r.Settings["policies"]); ok {
		m = pm
	} else {
		s.Errorf("policies", "must map each access level to a policy document")
	}
	quota := UserInlinePolicyQuota
	if c.principalType == "role" {
		quota = RoleInlinePolicyQuota
	}
	for _, level := range levels(m) {
		key := "policies." + level
		if !markerValue(level) {
			s.Errorf("policies", "access level %q must not hold spaces or control characters", level)
			continue
		}
		if len(r.Access) > 0 && !contains(r.Access, level) {
			s.Errorf(key, "%q is not an access level of the resource (levels: %s)", level, strings.Join(r.Access, ", "))
			continue
		}
		p, err := PolicyFromSetting(m[level])
		if err == nil {
			err = p.Check(c.allow)
		}
		if err != nil {
			s.Errorf(key, "%v", err)
			continue
		}
		// The marker is at its longest plausible (a 40-character request
		// ID, a 100-character email), so that a grant does not fail on
		// the quota that config load let through.
		sample := Marker{RequestID: strings.Repeat("r", 40), Access: level, User: strings.Repeat("u", 100), ExpiresAt: time.Unix(0, 0)}
		doc, err := p.Bound(time.Unix(0, 0), sample.String())
		if err != nil {
			s.Errorf(key, "%v", err)
			continue
		}
		if n := Size(doc); n > quota {
			s.Errorf(key, "the policy as granted (with jit's conditions) is %d characters; IAM allows %d for all inline policies of a %s", n, quota, c.principalType)
			continue
		}
		c.policies[level] = p
	}
	if m != nil {
		for _, a := range r.Access {
			if _, ok := m[a]; !ok {
				s.Errorf("policies", "access level %q has no policy", a)
			}
		}
	}
	return c, s.Err()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// checkTemplate accepts a principal name with {local} and {email}
// placeholders whose literal parts are IAM name characters.
func checkTemplate(t string) error {
	for _, ph := range placeholderRE.FindAllString(t, -1) {
		if ph != "{local}" && ph != "{email}" {
			return fmt.Errorf("unknown placeholder %s (known: {local}, {email})", ph)
		}
	}
	lit := placeholderRE.ReplaceAllString(t, "")
	if strings.ContainsAny(lit, "{}") {
		return errors.New("unbalanced { or }")
	}
	if lit != "" && !iamNameRE.MatchString(lit) {
		return errors.New("must be made of letters, digits and +=,.@_- (an IAM name)")
	}
	if !strings.Contains(t, "{") && !iamNameRE.MatchString(t) {
		return errors.New("is not an IAM name (at most 64 of letters, digits and +=,.@_-)")
	}
	return nil
}

func (c iamConfig) templated() bool { return strings.Contains(c.principalName, "{") }

// principalFor expands the principal name for user.
func (c iamConfig) principalFor(user string) (string, error) {
	local, domain, _ := strings.Cut(user, "@")
	if c.emailDomain != "" && !strings.EqualFold(domain, c.emailDomain) {
		return "", fmt.Errorf("%s is not an address of %s, whose IAM %ss this resource grants to", user, c.emailDomain, c.principalType)
	}
	name := strings.NewReplacer("{local}", local, "{email}", user).Replace(c.principalName)
	if !iamNameRE.MatchString(name) {
		return "", fmt.Errorf("%q (from %s for %s) is not an IAM %s name", name, c.principalName, user, c.principalType)
	}
	return name, nil
}

// PolicyName is the name of the inline policy of a request: NamePrefix
// and the request ID.
func PolicyName(requestID string) string { return NamePrefix + requestID }

// Check refuses, with a *provider.RefusedError, a request for a level
// without a policy, a target, a requester whose principal name cannot be
// made, and one whose principal does not exist in IAM. Other errors mean
// IAM could not be asked. It has no side effects.
func (p *IAM) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	if req.Target != "" {
		return provider.CheckResponse{}, provider.Refusef("%s grants a whole access level and takes no target", p.cfg.resource)
	}
	pol, ok := p.cfg.policies[req.Access]
	if !ok {
		return provider.CheckResponse{}, provider.Refusef("access level %q has no policy for %s (levels: %s)", req.Access, p.cfg.resource, strings.Join(levels(p.cfg.policies), ", "))
	}
	// The policy was checked at load; checking again costs nothing and
	// keeps the refusal here should the check ever tighten.
	if err := pol.Check(p.cfg.allow); err != nil {
		return provider.CheckResponse{}, provider.Refusef("%v", err)
	}
	if err := checkUser(req.User); err != nil {
		return provider.CheckResponse{}, provider.Refusef("%v", err)
	}
	name, err := p.cfg.principalFor(req.User)
	if err != nil {
		return provider.CheckResponse{}, provider.Refusef("%v", err)
	}
	var gerr error
	if p.cfg.principalType == "user" {
		_, gerr = p.client.GetUser(ctx, &iam.GetUserInput{UserName: &name})
	} else {
		_, gerr = p.client.GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
	}
	if errorCode(gerr) == "NoSuchEntity" {
		return provider.CheckResponse{}, provider.Refusef("there is no IAM %s named %s", p.cfg.principalType, name)
	}
	if gerr != nil {
		return provider.CheckResponse{}, fmt.Errorf("aws-iam: read IAM %s %s: %w", p.cfg.principalType, name, gerr)
	}
	return provider.CheckResponse{
		Summary: fmt.Sprintf("inline policy %s<request ID> (access level %s) on IAM %s %s, honoured by AWS until the grant expires", NamePrefix, req.Access, p.cfg.principalType, name),
	}, nil
}

// Grant puts the level's policy, bounded at req.ExpiresAt, as the inline
// policy PolicyName(req.RequestID) on the principal. It is idempotent:
// putting it again replaces it with the same document (or with a new
// expiry). An error wrapped with provider.NotApplied means IAM refused
// the call (no such principal, a malformed document, a quota) at its only
// attempt, or it was never sent; any other error leaves the outcome
// unknown.
func (p *IAM) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(err)
	}
	if err := checkRequestID(req.RequestID); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-iam: %w", err))
	}
	if err := checkUser(req.User); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-iam: %w", err))
	}
	pol, ok := p.cfg.policies[req.Access]
	if !ok {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-iam: access level %q has no policy", req.Access))
	}
	if req.Target != "" {
		return provider.GrantResponse{}, provider.NotApplied(errors.New("aws-iam: a target was given but this provider takes none"))
	}
	if req.ExpiresAt.IsZero() {
		return provider.GrantResponse{}, provider.NotApplied(errors.New("aws-iam: the grant has no expiry to write into the policy"))
	}
	if !req.ExpiresAt.After(p.opts.Now()) {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-iam: the grant's expiry %s has passed", req.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	name, err := p.cfg.principalFor(req.User)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-iam: %w", err))
	}
	marker := Marker{RequestID: req.RequestID, Access: req.Access, User: req.User, ExpiresAt: req.ExpiresAt.UTC().Truncate(time.Second)}
	doc, err := pol.Bound(req.ExpiresAt, marker.String())
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-iam: %w", err))
	}
	h := iamHandle{PrincipalType: p.cfg.principalType, PrincipalName: name, PolicyName: PolicyName(req.RequestID)}
	if attempts, err := p.put(ctx, h, string(doc)); err != nil {
		// The SDK retries some failures by itself: a refusal proves
		// nothing was done only when it answered the one attempt made,
		// not an attempt after one whose answer was lost.
		if rejected(err) && attempts == 1 {
			err = provider.NotApplied(err)
		}
		return provider.GrantResponse{}, fmt.Errorf("aws-iam: put inline policy %s on %s %s: %w", h.PolicyName, h.PrincipalType, name, err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("aws-iam: handle: %w", err)
	}
	return provider.GrantResponse{Handle: b}, nil
}

// put puts one inline policy and reports how many HTTP attempts the SDK
// made for it.
func (p *IAM) put(ctx context.Context, h iamHandle, doc string) (attempts int, err error) {
	count := countAttempts(&attempts)
	if h.PrincipalType == "user" {
		_, err = p.client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: &h.PrincipalName, PolicyName: &h.PolicyName, PolicyDocument: &doc}, count)
		return attempts, err
	}
	_, err = p.client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &h.PrincipalName, PolicyName: &h.PolicyName, PolicyDocument: &doc}, count)
	return attempts, err
}

// countAttempts counts in *n the attempts of one call: a middleware at
// the end of the finalize step, after the SDK's retry loop, runs once per
// attempt.
func countAttempts(n *int) func(*iam.Options) {
	return func(o *iam.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("jitCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					*n++
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}

// handleFor returns the stored handle, or rebuilds it from the request
// (a grant whose outcome was unknown has none). ok is false when no
// principal could have been granted (a user whose name cannot be made).
func (p *IAM) handleFor(raw json.RawMessage, requestID, user string) (iamHandle, bool, error) {
	if len(raw) > 0 {
		var h iamHandle
		if err := json.Unmarshal(raw, &h); err != nil {
			return iamHandle{}, false, fmt.Errorf("aws-iam: handle: %w", err)
		}
		if (h.PrincipalType != "user" && h.PrincipalType != "role") || !iamNameRE.MatchString(h.PrincipalName) || h.PolicyName != PolicyName(requestID) {
			return iamHandle{}, false, errors.New("aws-iam: handle does not match the request")
		}
		return h, true, nil
	}
	if checkRequestID(requestID) != nil {
		return iamHandle{}, false, nil
	}
	name, err := p.cfg.principalFor(user)
	if err != nil {
		return iamHandle{}, false, nil
	}
	return iamHandle{PrincipalType: p.cfg.principalType, PrincipalName: name, PolicyName: PolicyName(requestID)}, true, nil
}

// Revoke deletes the request's inline policy. It is idempotent: a policy
// or principal that is gone is success. Errors mean IAM could not be
// asked or refused; the policy may still be there (and AWS stops
// honouring it at its expiry all the same).
func (p *IAM) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, err
	}
	h, ok, err := p.handleFor(req.Handle, req.RequestID, req.User)
	if err != nil || !ok {
		return provider.RevokeResponse{}, err
	}
	if err := p.delete(ctx, h); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("aws-iam: delete inline policy %s of %s %s: %w", h.PolicyName, h.PrincipalType, h.PrincipalName, err)
	}
	return provider.RevokeResponse{}, nil
}

// delete removes one inline policy; absent is success.
func (p *IAM) delete(ctx context.Context, h iamHandle) error {
	var err error
	if h.PrincipalType == "user" {
		_, err = p.client.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: &h.PrincipalName, PolicyName: &h.PolicyName})
	} else {
		_, err = p.client.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &h.PrincipalName, PolicyName: &h.PolicyName})
	}
	if errorCode(err) == "NoSuchEntity" {
		return nil
	}
	return err
}

// get reads one inline policy; ok is false when it (or its principal)
// does not exist.
func (p *IAM) get(ctx context.Context, h iamHandle) ([]byte, bool, error) {
	var doc *string
	var err error
	if h.PrincipalType == "user" {
		var out *iam.GetUserPolicyOutput
		out, err = p.client.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: &h.PrincipalName, PolicyName: &h.PolicyName})
		if out != nil {
			doc = out.PolicyDocument
		}
	} else {
		var out *iam.GetRolePolicyOutput
		out, err = p.client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &h.PrincipalName, PolicyName: &h.PolicyName})
		if out != nil {
			doc = out.PolicyDocument
		}
	}
	if errorCode(err) == "NoSuchEntity" {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return decodePolicyDocument(sdkaws.ToString(doc)), true, nil
}

// decodePolicyDocument undoes the URL encoding IAM applies to documents
// it returns (RFC 3986); a document that is already JSON is kept.
func decodePolicyDocument(doc string) []byte {
	if t := strings.TrimSpace(doc); strings.HasPrefix(t, "{") {
		return []byte(t)
	}
	if d, err := url.QueryUnescape(doc); err == nil {
		return []byte(d)
	}
	return []byte(doc)
}

// Verify reports whether the request's inline policy is on its principal,
// and the expiry AWS enforces on it (its conditions). It has no side
// effects. Errors mean IAM could not be read.
func (p *IAM) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, err
	}
	h, ok, err := p.handleFor(req.Handle, req.RequestID, req.User)
	if err != nil || !ok {
		return provider.VerifyResponse{}, err
	}
	doc, present, err := p.get(ctx, h)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("aws-iam: read inline policy %s of %s %s: %w", h.PolicyName, h.PrincipalType, h.PrincipalName, err)
	}
	resp := provider.VerifyResponse{Present: present}
	if present {
		if bp, err := ReadBound(doc); err == nil && bp.Bounded {
			until := bp.Until
			resp.ExpiresAt = &until
		}
	}
	return resp, nil
}

// principals lists the names of the principals jit's policies may be on:
// the one named, or for a template every user or role under path_prefix.
func (p *IAM) principals(ctx context.Context) ([]string, error) {
	if !p.cfg.templated() {
		return []string{p.cfg.principalName}, nil
	}
	var out []string
	tokens := pageTokens{}
	if p.cfg.principalType == "user" {
		pg := iam.NewListUsersPaginator(p.client, &iam.ListUsersInput{PathPrefix: &p.cfg.pathPrefix},
			func(o *iam.ListUsersPaginatorOptions) { o.StopOnDuplicateToken = true })
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err == nil {
				err = tokens.next(iamMarker(page.IsTruncated, page.Marker))
			}
			if err != nil {
				return nil, fmt.Errorf("aws-iam: list users: %w", err)
			}
			for _, u := range page.Users {
				out = append(out, sdkaws.ToString(u.UserName))
			}
		}
		return out, nil
	}
	pg := iam.NewListRolesPaginator(p.client, &iam.ListRolesInput{PathPrefix: &p.cfg.pathPrefix},
		func(o *iam.ListRolesPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err == nil {
			err = tokens.next(iamMarker(page.IsTruncated, page.Marker))
		}
		if err != nil {
			return nil, fmt.Errorf("aws-iam: list roles: %w", err)
		}
		for _, r := range page.Roles {
			out = append(out, sdkaws.ToString(r.RoleName))
		}
	}
	return out, nil
}

// policyNames lists the inline policies named with NamePrefix on one
// principal. A principal that is gone has none.
func (p *IAM) policyNames(ctx context.Context, principal string) ([]string, error) {
	var out []string
	keep := func(names []string) {
		for _, n := range names {
			if strings.HasPrefix(n, NamePrefix) && checkRequestID(strings.TrimPrefix(n, NamePrefix)) == nil {
				out = append(out, n)
			}
		}
	}
	tokens := pageTokens{}
	if p.cfg.principalType == "user" {
		pg := iam.NewListUserPoliciesPaginator(p.client, &iam.ListUserPoliciesInput{UserName: &principal},
			func(o *iam.ListUserPoliciesPaginatorOptions) { o.StopOnDuplicateToken = true })
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if errorCode(err) == "NoSuchEntity" {
				return nil, nil
			}
			if err == nil {
				err = tokens.next(iamMarker(page.IsTruncated, page.Marker))
			}
			if err != nil {
				return nil, fmt.Errorf("aws-iam: list inline policies of user %s: %w", principal, err)
			}
			keep(page.PolicyNames)
		}
		return out, nil
	}
	pg := iam.NewListRolePoliciesPaginator(p.client, &iam.ListRolePoliciesInput{RoleName: &principal},
		func(o *iam.ListRolePoliciesPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if errorCode(err) == "NoSuchEntity" {
			return nil, nil
		}
		if err == nil {
			err = tokens.next(iamMarker(page.IsTruncated, page.Marker))
		}
		if err != nil {
			return nil, fmt.Errorf("aws-iam: list inline policies of role %s: %w", principal, err)
		}
		keep(page.PolicyNames)
	}
	return out, nil
}

// found is one of jit's inline policies read back from IAM.
type found struct {
	handle iamHandle
	bound  BoundPolicy
}

// scan reads every jit inline policy on the configured principals: those
// named PolicyName(id) whose Id is jit's Marker for that same id.
func (p *IAM) scan(ctx context.Context) ([]found, error) {
	names, err := p.principals(ctx)
	if err != nil {
		return nil, err
	}
	var out []found
	for _, principal := range names {
		pols, err := p.policyNames(ctx, principal)
		if err != nil {
			return nil, err
		}
		for _, pn := range pols {
			h := iamHandle{PrincipalType: p.cfg.principalType, PrincipalName: principal, PolicyName: pn}
			doc, ok, err := p.get(ctx, h)
			if err != nil {
				return nil, fmt.Errorf("aws-iam: read inline policy %s of %s %s: %w", pn, h.PrincipalType, principal, err)
			}
			if !ok {
				continue // deleted since it was listed
			}
			// Only a policy that carries jit's marker for the request
			// its name says is jit's: a person's policy that happens to
			// be named jit-<something> (or a copy of one of jit's under
			// another name) is neither listed nor swept, so that neither
			// the reconciler nor Sweep ever deletes it.
			bp, err := ReadBound(doc)
			if err != nil || !bp.Marked || NamePrefix+bp.Marker.RequestID != pn {
				continue
			}
			out = append(out, found{handle: h, bound: bp})
		}
	}
	return out, nil
}

// List reports jit's inline policies on the configured principals (for
// a template, every user or role under path_prefix): those named
// jit-<request ID> whose Id is jit's Marker for that request, with the
// requester and level from the marker and the expiry the policy's
// conditions enforce. A policy so named without the marker is someone
// else's and is not listed, so the reconciler never revokes it. It has
// no side effects; an error means the listing is incomplete.
func (p *IAM) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	fs, err := p.scan(ctx)
	if err != nil {
		return provider.ListResponse{}, err
	}
	var resp provider.ListResponse
	for _, f := range fs {
		g := provider.ListedGrant{RequestID: f.bound.Marker.RequestID, User: f.bound.Marker.User, Access: f.bound.Marker.Access}
		if f.bound.Bounded {
			until := f.bound.Until
			g.ExpiresAt = &until
		}
		resp.Grants = append(resp.Grants, g)
	}
	return resp, nil
}

// Sweep deletes jit's inline policies (as List finds them: named and
// marked by jit) on the configured principals whose expiry (the policy's conditions, or the one recorded in its Id)
// has passed: AWS no longer honours them, but they stay attached and
// count against the principal's inline policy quota. Policies whose
// expiry cannot be read are left alone. It returns how many it deleted;
// an error means the sweep stopped early.
func (p *IAM) Sweep(ctx context.Context) (int, error) {
	fs, err := p.scan(ctx)
	if err != nil {
		return 0, err
	}
	now := p.opts.Now()
	n := 0
	for _, f := range fs {
		expired := (f.bound.Bounded && !now.Before(f.bound.Until)) ||
			(f.bound.Marked && !f.bound.Marker.ExpiresAt.IsZero() && !now.Before(f.bound.Marker.ExpiresAt))
		if !expired {
			continue
		}
		if err := p.delete(ctx, f.handle); err != nil {
			return n, fmt.Errorf("aws-iam: sweep inline policy %s of %s %s: %w", f.handle.PolicyName, f.handle.PrincipalType, f.handle.PrincipalName, err)
		}
		n++
	}
	return n, nil
}
