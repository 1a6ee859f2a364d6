package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	isdoc "github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	istypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitaccess/jit/provider"
)

var (
	_ provider.Provider = (*SSO)(nil)
	_ provider.Checker  = (*SSO)(nil)
	_ provider.Lister   = (*SSO)(nil)
	_ provider.Sweeper  = (*SSO)(nil)
)

// Principal kinds of aws-sso.
const (
	PrincipalGroup = "group"
	PrincipalUser  = "user"
)

// User attributes an Identity Center user may be found by; the identity
// store accepts no others for GetUserId.
const (
	UserAttributeUserName = "userName"
	UserAttributeEmail    = "emails.value"
)

// SSO grants IAM Identity Center permission sets on one AWS account. It
// is safe for concurrent use.
type SSO struct {
	cfg   ssoConfig
	opts  Options
	admin *ssoadmin.Client
	store *identitystore.Client
}

type ssoConfig struct {
	resource        string
	conn            connection
	storeEndpoint   string
	instanceARN     string
	identityStoreID string
	accountID       string
	permissionSets  map[string]string
	principal       string
	userAttribute   string
	timeout         time.Duration
}

// ssoHandle is GrantResponse.Handle of aws-sso.
type ssoHandle struct {
	PrincipalType    string `json:"principal_type"`
	PrincipalID      string `json:"principal_id"`
	PermissionSetARN string `json:"permission_set_arn"`
	AccountID        string `json:"account_id"`
}

// NewSSO builds an "aws-sso" provider from r.Settings. It validates them
// and returns every problem naming its key; it contacts nothing.
func NewSSO(r provider.Resource) (provider.Provider, error) {
	return NewSSOWithOptions(r, Options{})
}

// NewSSOWithOptions is NewSSO with credentials, HTTP client, clock, poll
// interval and environment given.
func NewSSOWithOptions(r provider.Resource, o Options) (*SSO, error) {
	cfg, err := parseSSOConfig(r)
	if err != nil {
		return nil, err
	}
	o.defaults()
	ac := cfg.conn.awsConfig(o)
	p := &SSO{cfg: cfg, opts: o}
	p.admin = ssoadmin.NewFromConfig(ac, func(so *ssoadmin.Options) {
		so.BaseEndpoint = endpointOption(cfg.conn.endpoint)
	})
	p.store = identitystore.NewFromConfig(ac, func(io *identitystore.Options) {
		io.BaseEndpoint = endpointOption(cfg.storeEndpoint)
	})
	return p, nil
}

var (
	instanceARNRE      = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9.-]{16}$`)
	permissionSetARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::permissionSet/(sso)?ins-[a-zA-Z0-9.-]{16}/ps-[a-zA-Z0-9.-]{16}$`)
	identityStoreIDRE  = regexp.MustCompile(`^d-[0-9a-f]{10}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	accountIDRE        = regexp.MustCompile(`^[0-9]{12}$`)
)

func parseSSOConfig(r provider.Resource) (ssoConfig, error) {
	s := provider.NewSettings(r.Settings)
	c := ssoConfig{resource: r.Name}
	c.conn = parseConnection(s, "")
	c.storeEndpoint = s.String("identity_store_endpoint", false)
	checkEndpoint(s, "identity_store_endpoint", c.storeEndpoint)
	if c.storeEndpoint == "" {
		c.storeEndpoint = c.conn.endpoint
	}
	c.instanceARN = s.String("instance_arn", true)
	if c.instanceARN != "" && !instanceARNRE.MatchString(c.instanceARN) {
		s.Errorf("instance_arn", "is not an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-...)")
	}
	c.identityStoreID = s.String("identity_store_id", true)
	if c.identityStoreID != "" && !identityStoreIDRE.MatchString(c.identityStoreID) {
		s.Errorf("identity_store_id", "is not an identity store ID (d-1234567890)")
	}
	// An account ID in YAML is easily written as a number; a 12-digit
	// number with leading zeros would lose them, so only strings pass.
	c.accountID = s.String("account_id", true)
	if c.accountID != "" && !accountIDRE.MatchString(c.accountID) {
		s.Errorf("account_id", "must be the 12 digits of an AWS account ID, quoted")
	}
	c.permissionSets = map[string]string{}
	m := s.StringMap("permission_sets")
	if !s.Has("permission_sets") {
		s.Errorf("permission_sets", "is required: a permission set ARN for each access level")
	}
	for _, level := range levels(m) {
		arn := m[level]
		switch {
		case !markerValue(level):
			s.Errorf("permission_sets", "access level %q must not hold spaces or control characters", level)
		case len(r.Access) > 0 && !contains(r.Access, level):
			s.Errorf("permission_sets", "%q is not an access level of the resource (levels: %s)", level, strings.Join(r.Access, ", "))
		case !permissionSetARNRE.MatchString(arn):
			s.Errorf("permission_sets", "%s: %q is not a permission set ARN (arn:aws:sso:::permissionSet/ssoins-.../ps-...)", level, arn)
		case c.instanceARN != "" && !sameInstance(c.instanceARN, arn):
			s.Errorf("permission_sets", "%s: the permission set belongs to another Identity Center instance than instance_arn", level)
		default:
			c.permissionSets[level] = arn
		}
	}
	if m != nil {
		for _, a := range r.Access {
			if _, ok := m[a]; !ok {
				s.Errorf("permission_sets", "access level %q has no permission set", a)
			}
		}
	}
	c.principal = s.String("principal", false)
	switch c.principal {
	case "":
		c.principal = PrincipalGroup
	case PrincipalGroup, PrincipalUser:
	default:
		s.Errorf("principal", "must be group or user, got %q", c.principal)
	}
	c.userAttribute = s.String("user_attribute", false)
	switch c.userAttribute {
	case "":
		c.userAttribute = UserAttributeUserName
	case UserAttributeUserName, UserAttributeEmail:
	default:
		s.Errorf("user_attribute", "must be %s or %s, got %q", UserAttributeUserName, UserAttributeEmail, c.userAttribute)
	}
	c.timeout = s.Duration("timeout", DefaultTimeout)
	return c, s.Err()
}

// sameInstance reports whether a permission set ARN is of the instance.
func sameInstance(instanceARN, psARN string) bool {
	inst := instanceARN[strings.LastIndex(instanceARN, "/")+1:]
	return strings.Contains(psARN, "/"+inst+"/")
}

// GroupName is the display name of a request's identity store group in
// group mode: NamePrefix and the request ID.
func GroupName(requestID string) string { return NamePrefix + requestID }

// errNotFound is the code identity store and SSO admin give an entity
// that does not exist.
const errNotFound = "ResourceNotFoundException"

// lookupUser finds the requester's Identity Center user ID by the
// configured attribute; ok is false when there is no such user.
func (p *SSO) lookupUser(ctx context.Context, email string) (string, bool, error) {
	out, err := p.store.GetUserId(ctx, &identitystore.GetUserIdInput{
		IdentityStoreId: &p.cfg.identityStoreID,
		AlternateIdentifier: &istypes.AlternateIdentifierMemberUniqueAttribute{Value: istypes.UniqueAttribute{
			AttributePath:  sdkaws.String(p.cfg.userAttribute),
			AttributeValue: isdoc.NewLazyDocument(email),
		}},
	})
	if errorCode(err) == errNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("aws-sso: find Identity Center user %s: %w", email, err)
	}
	return sdkaws.ToString(out.UserId), true, nil
}

// errForeignGroup is a group named like a request's that jit did not
// create for it; jit never changes or deletes such a group.
var errForeignGroup = errors.New("an identity store group of that name exists but was not created by jit for this request (its description has no matching jit marker); it is left alone")

// findGroup finds a request's group; ok is false when there is none.
func (p *SSO) findGroup(ctx context.Context, requestID string) (id string, m Marker, ok bool, err error) {
	out, err := p.store.GetGroupId(ctx, &identitystore.GetGroupIdInput{
		IdentityStoreId: &p.cfg.identityStoreID,
		AlternateIdentifier: &istypes.AlternateIdentifierMemberUniqueAttribute{Value: istypes.UniqueAttribute{
			AttributePath:  sdkaws.String("displayName"),
			AttributeValue: isdoc.NewLazyDocument(GroupName(requestID)),
		}},
	})
	if errorCode(err) == errNotFound {
		return "", Marker{}, false, nil
	}
	if err != nil {
		return "", Marker{}, false, fmt.Errorf("aws-sso: find group %s: %w", GroupName(requestID), err)
	}
	id = sdkaws.ToString(out.GroupId)
	g, err := p.store.DescribeGroup(ctx, &identitystore.DescribeGroupInput{IdentityStoreId: &p.cfg.identityStoreID, GroupId: &id})
	if errorCode(err) == errNotFound {
		return "", Marker{}, false, nil
	}
	if err != nil {
		return "", Marker{}, false, fmt.Errorf("aws-sso: read group %s: %w", GroupName(requestID), err)
	}
	m, marked := ParseMarker(sdkaws.ToString(g.Description))
	if !marked || m.RequestID != requestID {
		return "", Marker{}, false, fmt.Errorf("aws-sso: group %s: %w", GroupName(requestID), errForeignGroup)
	}
	return id, m, true, nil
}

// ensureGroup finds or creates the request's group, recording m on it.
func (p *SSO) ensureGroup(ctx context.Context, m Marker) (string, error) {
	id, cur, ok, err := p.findGroup(ctx, m.RequestID)
	if err != nil {
		return "", err
	}
	desc := m.String()
	if ok {
		if cur != m {
			// A grant again with another expiry (an extension): the
			// recorded one is what Sweep goes by, so it must follow.
			_, err := p.store.UpdateGroup(ctx, &identitystore.UpdateGroupInput{
				IdentityStoreId: &p.cfg.identityStoreID, GroupId: &id,
				Operations: []istypes.AttributeOperation{{AttributePath: sdkaws.String("description"), AttributeValue: isdoc.NewLazyDocument(desc)}},
			})
			if err != nil {
				return "", fmt.Errorf("aws-sso: update group %s: %w", GroupName(m.RequestID), err)
			}
		}
		return id, nil
	}
	out, err := p.store.CreateGroup(ctx, &identitystore.CreateGroupInput{
		IdentityStoreId: &p.cfg.identityStoreID,
		DisplayName:     sdkaws.String(GroupName(m.RequestID)),
		Description:     &desc,
	})
	if errorCode(err) == "ConflictException" {
		// Created meanwhile by a concurrent grant of the same request.
		id, _, ok, ferr := p.findGroup(ctx, m.RequestID)
		if ferr != nil {
			return "", ferr
		}
		if ok {
			return id, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("aws-sso: create group %s: %w", GroupName(m.RequestID), err)
	}
	return sdkaws.ToString(out.GroupId), nil
}

// isMember reports whether user is in group.
func (p *SSO) isMember(ctx context.Context, groupID, userID string) (bool, error) {
	_, err := p.store.GetGroupMembershipId(ctx, &identitystore.GetGroupMembershipIdInput{
		IdentityStoreId: &p.cfg.identityStoreID, GroupId: &groupID,
		MemberId: &istypes.MemberIdMemberUserId{Value: userID},
	})
	if errorCode(err) == errNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("aws-sso: read group membership: %w", err)
	}
	return true, nil
}

func (p *SSO) ensureMember(ctx context.Context, groupID, userID string) error {
	ok, err := p.isMember(ctx, groupID, userID)
	if err != nil || ok {
		return err
	}
	_, err = p.store.CreateGroupMembership(ctx, &identitystore.CreateGroupMembershipInput{
		IdentityStoreId: &p.cfg.identityStoreID, GroupId: &groupID,
		MemberId: &istypes.MemberIdMemberUserId{Value: userID},
	})
	if err != nil && errorCode(err) != "ConflictException" {
		return fmt.Errorf("aws-sso: add the user to the group: %w", err)
	}
	return nil
}

// stopOnDuplicate sets StopOnDuplicateToken on a ListAccountAssignments
// paginator (see errRepeatedToken).
func stopOnDuplicate(o *ssoadmin.ListAccountAssignmentsPaginatorOptions) {
	o.StopOnDuplicateToken = true
}

// hasAssignment reports whether the principal holds the permission set
// on the account, reading every page of ListAccountAssignments.
func (p *SSO) hasAssignment(ctx context.Context, account, psARN string, ptype ssotypes.PrincipalType, pid string) (bool, error) {
	pg := ssoadmin.NewListAccountAssignmentsPaginator(p.admin, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: &p.cfg.instanceARN, AccountId: &account, PermissionSetArn: &psARN,
	}, stopOnDuplicate)
	tokens := pageTokens{}
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err == nil {
			err = tokens.next(page.NextToken)
		}
		if err != nil {
			return false, fmt.Errorf("aws-sso: list account assignments: %w", err)
		}
		for _, a := range page.AccountAssignments {
			if a.PrincipalType == ptype && sdkaws.ToString(a.PrincipalId) == pid {
				return true, nil
			}
		}
	}
	return false, nil
}

// assign creates an account assignment and waits until Identity Center
// reports it done (it provisions the role in the account meanwhile).
func (p *SSO) assign(ctx context.Context, psARN string, ptype ssotypes.PrincipalType, pid string) error {
	var st *ssotypes.AccountAssignmentOperationStatus
	err := retryConflict(ctx, p.opts.PollInterval, func() error {
		out, err := p.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
			InstanceArn: &p.cfg.instanceARN, PermissionSetArn: &psARN,
			PrincipalId: &pid, PrincipalType: ptype,
			TargetId: &p.cfg.accountID, TargetType: ssotypes.TargetTypeAwsAccount,
		})
		if err == nil {
			st = out.AccountAssignmentCreationStatus
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("aws-sso: create account assignment: %w", err)
	}
	st, err = p.await(ctx, st, "account assignment", func(id *string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		out, err := p.admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: &p.cfg.instanceARN, AccountAssignmentCreationRequestId: id,
		})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentCreationStatus, nil
	})
	if err != nil {
		return err
	}
	if st.Status == ssotypes.StatusValuesFailed {
		return fmt.Errorf("aws-sso: account assignment failed: %s", sdkaws.ToString(st.FailureReason))
	}
	return nil
}

// await polls an account assignment operation (its creation or deletion,
// as describe reads it) until it has succeeded or failed, and returns its
// last status. Errors: what describe returned, ctx ending, or an answer
// without a status.
func (p *SSO) await(ctx context.Context, st *ssotypes.AccountAssignmentOperationStatus, what string,
	describe func(requestID *string) (*ssotypes.AccountAssignmentOperationStatus, error)) (*ssotypes.AccountAssignmentOperationStatus, error) {
	for {
		if st == nil {
			return nil, fmt.Errorf("aws-sso: %s: no status in the answer", what)
		}
		if st.Status == ssotypes.StatusValuesSucceeded || st.Status == ssotypes.StatusValuesFailed {
			return st, nil
		}
		if err := sleep(ctx, p.opts.PollInterval); err != nil {
			return nil, fmt.Errorf("aws-sso: waiting for the %s: %w", what, err)
		}
		next, err := describe(st.RequestId)
		if err != nil {
			return nil, fmt.Errorf("aws-sso: read %s status: %w", what, err)
		}
		st = next
	}
}

// unassign deletes an account assignment and waits until it is gone. One
// that does not exist is success.
func (p *SSO) unassign(ctx context.Context, account, psARN string, ptype ssotypes.PrincipalType, pid string) error {
	var st *ssotypes.AccountAssignmentOperationStatus
	err := retryConflict(ctx, p.opts.PollInterval, func() error {
		out, err := p.admin.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
			InstanceArn: &p.cfg.instanceARN, PermissionSetArn: &psARN,
			PrincipalId: &pid, PrincipalType: ptype,
			TargetId: &account, TargetType: ssotypes.TargetTypeAwsAccount,
		})
		if err == nil {
			st = out.AccountAssignmentDeletionStatus
		}
		return err
	})
	if errorCode(err) == errNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("aws-sso: delete account assignment: %w", err)
	}
	st, err = p.await(ctx, st, "account assignment deletion", func(id *string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		out, err := p.admin.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn: &p.cfg.instanceARN, AccountAssignmentDeletionRequestId: id,
		})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentDeletionStatus, nil
	})
	if err != nil || st.Status == ssotypes.StatusValuesSucceeded {
		return err
	}
	// A deletion of what is already gone fails; what counts is that the
	// assignment is not there.
	present, err := p.hasAssignment(ctx, account, psARN, ptype, pid)
	if err != nil {
		return err
	}
	if !present {
		return nil
	}
	return fmt.Errorf("aws-sso: account assignment deletion failed: %s", sdkaws.ToString(st.FailureReason))
}

// Check refuses, with a *provider.RefusedError, a level without a
// permission set, a target, a requester who is not an Identity Center
// user and, in user mode, one who already holds the permission set on
// the account (a grant would share that assignment, and its revoke would
// remove it). Other errors mean AWS could not be read. No side effects.
func (p *SSO) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	if req.Target != "" {
		return provider.CheckResponse{}, provider.Refusef("%s grants a whole access level and takes no target", p.cfg.resource)
	}
	ps, ok := p.cfg.permissionSets[req.Access]
	if !ok {
		return provider.CheckResponse{}, provider.Refusef("access level %q has no permission set for %s (levels: %s)", req.Access, p.cfg.resource, strings.Join(levels(p.cfg.permissionSets), ", "))
	}
	if err := checkUser(req.User); err != nil {
		return provider.CheckResponse{}, provider.Refusef("%v", err)
	}
	uid, found, err := p.lookupUser(ctx, req.User)
	if err != nil {
		return provider.CheckResponse{}, err
	}
	if !found {
		return provider.CheckResponse{}, provider.Refusef("there is no IAM Identity Center user with %s %s in identity store %s", p.cfg.userAttribute, req.User, p.cfg.identityStoreID)
	}
	how := "through a group made for the request"
	if p.cfg.principal == PrincipalUser {
		held, err := p.hasAssignment(ctx, p.cfg.accountID, ps, ssotypes.PrincipalTypeUser, uid)
		if err != nil {
			return provider.CheckResponse{}, err
		}
		if held {
			return provider.CheckResponse{}, provider.Refusef("%s already holds this permission set on account %s; a grant would share that assignment and its revoke would remove it", req.User, p.cfg.accountID)
		}
		how = "assigned to the user directly"
	}
	return provider.CheckResponse{
		Summary: fmt.Sprintf("permission set %s on AWS account %s, %s", ps, p.cfg.accountID, how),
	}, nil
}

// Grant assigns the level's permission set on the account: in group mode
// to the request's own group (created, with the requester added), in
// user mode to the requester. It waits until Identity Center reports the
// assignment done, retrying while AWS answers ConflictException. It is
// idempotent: what exists is kept. An error wrapped with
// provider.NotApplied means nothing was changed (bad request, no expiry
// or one that has passed, unknown user, AWS unreachable before any
// change); any other error leaves the outcome unknown (a group may exist
// without its assignment; Revoke removes it).
func (p *SSO) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()
	if err := checkRequestID(req.RequestID); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-sso: %w", err))
	}
	if err := checkUser(req.User); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-sso: %w", err))
	}
	if req.Target != "" {
		return provider.GrantResponse{}, provider.NotApplied(errors.New("aws-sso: a target was given but this provider takes none"))
	}
	// Identity Center ends nothing by itself: the expiry recorded on the
	// request's group is what Sweep goes by, and without one the access
	// would outlive a lost revoke for good.
	if req.ExpiresAt.IsZero() {
		return provider.GrantResponse{}, provider.NotApplied(errors.New("aws-sso: the grant has no expiry"))
	}
	if !req.ExpiresAt.After(p.opts.Now()) {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-sso: the grant's expiry %s has passed", req.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	ps, ok := p.cfg.permissionSets[req.Access]
	if !ok {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-sso: access level %q has no permission set", req.Access))
	}
	uid, found, err := p.lookupUser(ctx, req.User)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(err)
	}
	if !found {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("aws-sso: there is no Identity Center user with %s %s", p.cfg.userAttribute, req.User))
	}
	h := ssoHandle{PermissionSetARN: ps, AccountID: p.cfg.accountID, PrincipalType: string(ssotypes.PrincipalTypeUser), PrincipalID: uid}
	if p.cfg.principal == PrincipalGroup {
		m := Marker{RequestID: req.RequestID, Access: req.Access, User: req.User, ExpiresAt: req.ExpiresAt.UTC().Truncate(time.Second)}
		gid, err := p.ensureGroup(ctx, m)
		if err != nil {
			return provider.GrantResponse{}, err
		}
		if err := p.ensureMember(ctx, gid, uid); err != nil {
			return provider.GrantResponse{}, err
		}
		h.PrincipalType, h.PrincipalID = string(ssotypes.PrincipalTypeGroup), gid
	}
	ptype := ssotypes.PrincipalType(h.PrincipalType)
	present, err := p.hasAssignment(ctx, h.AccountID, ps, ptype, h.PrincipalID)
	if err != nil {
		return provider.GrantResponse{}, err
	}
	if !present {
		if err := p.assign(ctx, ps, ptype, h.PrincipalID); err != nil {
			return provider.GrantResponse{}, err
		}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("aws-sso: handle: %w", err)
	}
	return provider.GrantResponse{Handle: b}, nil
}

func parseSSOHandle(raw json.RawMessage) (ssoHandle, bool, error) {
	if len(raw) == 0 {
		return ssoHandle{}, false, nil
	}
	var h ssoHandle
	if err := json.Unmarshal(raw, &h); err != nil {
		return ssoHandle{}, false, fmt.Errorf("aws-sso: handle: %w", err)
	}
	if (h.PrincipalType != string(ssotypes.PrincipalTypeUser) && h.PrincipalType != string(ssotypes.PrincipalTypeGroup)) ||
		h.PrincipalID == "" || !permissionSetARNRE.MatchString(h.PermissionSetARN) || !accountIDRE.MatchString(h.AccountID) {
		return ssoHandle{}, false, errors.New("aws-sso: handle is not one of this provider's")
	}
	return h, true, nil
}

// Revoke removes the access: in group mode every account assignment of
// the request's group, then the group; in user mode the requester's
// assignment of the level's permission set (whoever made it). It waits
// for each deletion and retries while AWS answers ConflictException. It
// is idempotent: what is gone is success. Errors leave part of the
// access in place; a retry finishes it.
func (p *SSO) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()
	h, hasHandle, err := parseSSOHandle(req.Handle)
	if err != nil {
		return provider.RevokeResponse{}, err
	}
	if checkRequestID(req.RequestID) != nil {
		return provider.RevokeResponse{}, nil // no AWS object can bear this name
	}
	group := p.cfg.principal == PrincipalGroup
	if hasHandle {
		group = h.PrincipalType == string(ssotypes.PrincipalTypeGroup)
	}
	if group {
		return provider.RevokeResponse{}, p.revokeGroup(ctx, req.RequestID)
	}
	if !hasHandle {
		ps, ok := p.cfg.permissionSets[req.Access]
		if !ok {
			return provider.RevokeResponse{}, fmt.Errorf("aws-sso: access level %q has no permission set and the grant left no handle", req.Access)
		}
		uid, found, err := p.lookupUser(ctx, req.User)
		if err != nil || !found {
			return provider.RevokeResponse{}, err
		}
		h = ssoHandle{PrincipalType: string(ssotypes.PrincipalTypeUser), PrincipalID: uid, PermissionSetARN: ps, AccountID: p.cfg.accountID}
	}
	if err := p.unassign(ctx, h.AccountID, h.PermissionSetARN, ssotypes.PrincipalTypeUser, h.PrincipalID); err != nil {
		return provider.RevokeResponse{}, err
	}
	return provider.RevokeResponse{}, nil
}

// revokeGroup deletes every account assignment of the request's group,
// whatever account or permission set (the group is the request's alone),
// then the group.
func (p *SSO) revokeGroup(ctx context.Context, requestID string) error {
	gid, _, ok, err := p.findGroup(ctx, requestID)
	if err != nil || !ok {
		return err
	}
	pg := ssoadmin.NewListAccountAssignmentsForPrincipalPaginator(p.admin, &ssoadmin.ListAccountAssignmentsForPrincipalInput{
		InstanceArn: &p.cfg.instanceARN, PrincipalId: &gid, PrincipalType: ssotypes.PrincipalTypeGroup,
	}, func(o *ssoadmin.ListAccountAssignmentsForPrincipalPaginatorOptions) { o.StopOnDuplicateToken = true })
	type assignment struct{ account, ps string }
	var held []assignment
	tokens := pageTokens{}
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err == nil {
			err = tokens.next(page.NextToken)
		}
		if err != nil {
			return fmt.Errorf("aws-sso: list the assignments of group %s: %w", GroupName(requestID), err)
		}
		for _, a := range page.AccountAssignments {
			held = append(held, assignment{sdkaws.ToString(a.AccountId), sdkaws.ToString(a.PermissionSetArn)})
		}
	}
	for _, a := range held {
		if err := p.unassign(ctx, a.account, a.ps, ssotypes.PrincipalTypeGroup, gid); err != nil {
			return err
		}
	}
	err = retryConflict(ctx, p.opts.PollInterval, func() error {
		_, err := p.store.DeleteGroup(ctx, &identitystore.DeleteGroupInput{IdentityStoreId: &p.cfg.identityStoreID, GroupId: &gid})
		return err
	})
	if err != nil && errorCode(err) != errNotFound {
		return fmt.Errorf("aws-sso: delete group %s: %w", GroupName(requestID), err)
	}
	return nil
}

// Verify reports whether the requester holds the level's permission set
// on the account: in group mode through the request's group (which must
// exist, hold the assignment and have the requester as a member), in
// user mode directly. Identity Center enforces no expiry, so ExpiresAt
// is never set. It has no side effects; errors mean AWS could not be
// read, or that neither the handle nor the configuration says which
// permission set the request's level is.
func (p *SSO) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, err
	}
	h, hasHandle, err := parseSSOHandle(req.Handle)
	if err != nil {
		return provider.VerifyResponse{}, err
	}
	if checkRequestID(req.RequestID) != nil {
		return provider.VerifyResponse{}, nil
	}
	ps, account := h.PermissionSetARN, h.AccountID
	if !hasHandle {
		var ok bool
		if ps, ok = p.cfg.permissionSets[req.Access]; !ok {
			return provider.VerifyResponse{}, fmt.Errorf("aws-sso: access level %q has no permission set and the grant left no handle", req.Access)
		}
		account = p.cfg.accountID
	}
	group := p.cfg.principal == PrincipalGroup
	if hasHandle {
		group = h.PrincipalType == string(ssotypes.PrincipalTypeGroup)
	}
	uid, found, err := p.lookupUser(ctx, req.User)
	if err != nil || !found {
		return provider.VerifyResponse{}, err
	}
	if !group {
		present, err := p.hasAssignment(ctx, account, ps, ssotypes.PrincipalTypeUser, uid)
		return provider.VerifyResponse{Present: present}, err
	}
	gid, _, ok, err := p.findGroup(ctx, req.RequestID)
	if errors.Is(err, errForeignGroup) {
		return provider.VerifyResponse{}, nil
	}
	if err != nil || !ok {
		return provider.VerifyResponse{}, err
	}
	present, err := p.hasAssignment(ctx, account, ps, ssotypes.PrincipalTypeGroup, gid)
	if err != nil || !present {
		return provider.VerifyResponse{}, err
	}
	member, err := p.isMember(ctx, gid, uid)
	return provider.VerifyResponse{Present: member}, err
}

// jitGroup is one of jit's groups found holding a configured permission
// set on the account.
type jitGroup struct {
	id     string
	marker Marker
}

// scan lists jit's groups holding any configured permission set on the
// account (group mode), each once.
func (p *SSO) scan(ctx context.Context) ([]jitGroup, error) {
	seen := map[string]bool{}
	var out []jitGroup
	for _, level := range levels(p.cfg.permissionSets) {
		ps := p.cfg.permissionSets[level]
		pg := ssoadmin.NewListAccountAssignmentsPaginator(p.admin, &ssoadmin.ListAccountAssignmentsInput{
			InstanceArn: &p.cfg.instanceARN, AccountId: &p.cfg.accountID, PermissionSetArn: &ps,
		}, stopOnDuplicate)
		tokens := pageTokens{}
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err == nil {
				err = tokens.next(page.NextToken)
			}
			if err != nil {
				return nil, fmt.Errorf("aws-sso: list account assignments: %w", err)
			}
			for _, a := range page.AccountAssignments {
				gid := sdkaws.ToString(a.PrincipalId)
				if a.PrincipalType != ssotypes.PrincipalTypeGroup || seen[gid] {
					continue
				}
				seen[gid] = true
				g, err := p.store.DescribeGroup(ctx, &identitystore.DescribeGroupInput{IdentityStoreId: &p.cfg.identityStoreID, GroupId: &gid})
				if errorCode(err) == errNotFound {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("aws-sso: read group %s: %w", gid, err)
				}
				name := sdkaws.ToString(g.DisplayName)
				if !strings.HasPrefix(name, NamePrefix) {
					continue // a group of people's, not jit's
				}
				m, ok := ParseMarker(sdkaws.ToString(g.Description))
				if !ok || GroupName(m.RequestID) != name {
					continue
				}
				out = append(out, jitGroup{id: gid, marker: m})
			}
		}
	}
	return out, nil
}

// List reports, in group mode, every group of jit's (named GroupName and
// bearing its marker) that holds one of the resource's permission sets on
// the account, with the requester and level recorded on it. Identity
// Center enforces no expiry, so none is reported. In user mode it returns
// provider.ErrListUnsupported: a user's assignment does not say who made
// it. It has no side effects; other errors mean the listing is
// incomplete.
func (p *SSO) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	if p.cfg.principal != PrincipalGroup {
		return provider.ListResponse{}, fmt.Errorf("aws-sso with principal user: %w", provider.ErrListUnsupported)
	}
	gs, err := p.scan(ctx)
	if err != nil {
		return provider.ListResponse{}, err
	}
	var resp provider.ListResponse
	for _, g := range gs {
		resp.Grants = append(resp.Grants, provider.ListedGrant{RequestID: g.marker.RequestID, User: g.marker.User, Access: g.marker.Access})
	}
	return resp, nil
}

// Sweep revokes, in group mode, jit's groups holding the resource's
// permission sets whose recorded expiry has passed, as a backstop for
// revokes that never ran (Identity Center has no expiry of its own). In
// user mode there is nothing recorded to go by and it does nothing. It
// returns how many requests it revoked; an error means it stopped early.
func (p *SSO) Sweep(ctx context.Context) (int, error) {
	if p.cfg.principal != PrincipalGroup {
		return 0, nil
	}
	gs, err := p.scan(ctx)
	if err != nil {
		return 0, err
	}
	now := p.opts.Now()
	n := 0
	for _, g := range gs {
		if g.marker.ExpiresAt.IsZero() || now.Before(g.marker.ExpiresAt) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
		err := p.revokeGroup(rctx, g.marker.RequestID)
		cancel()
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
