package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/aws/awstest"
	"github.com/jitaccess/jit/provider/providertest"
)

const account = "111122223333"

// groupAssigned reports whether the request's group exists and holds ps.
func groupAssigned(srv *awstest.IdentityCenter, id, ps string) bool {
	gid, _, ok := srv.Group(GroupName(id))
	return ok && srv.HasAssignment(awstest.Assignment{AccountID: account, PermissionSetARN: ps, PrincipalType: "GROUP", PrincipalID: gid})
}

func TestSSOConformanceGroup(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("conformance@example.com", "conformance@example.com")
	srv.ConflictOnDeleteAfterCreate = true
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return newSSO(t, ssoSettings(srv), nil) },
		Resource: "aws-test", Access: "read",
		Present: func(t *testing.T, id string) bool {
			_, _, ok := srv.Group(GroupName(id))
			return ok
		},
	})
	if n := srv.GroupCount(); n != 0 {
		t.Errorf("%d groups left after the suite", n)
	}
	if a := srv.Assignments(); len(a) != 0 {
		t.Errorf("assignments left after the suite: %v", a)
	}
}

func TestSSOGroupGrantRevoke(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	uid := srv.AddUser("alice@example.com", "alice@example.com")
	srv.PollsBeforeDone = 3
	srv.ConflictOnDeleteAfterCreate = true
	c := newClock()
	p := newSSO(t, ssoSettings(srv), c)
	ctx := context.Background()
	end := c.Now().Add(time.Hour)
	req := provider.GrantRequest{RequestID: "req_1", User: "alice@example.com", Access: "admin", ExpiresAt: end}
	resp, err := p.Grant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ps := srv.PermissionSetARN(2)
	if !groupAssigned(srv, "req_1", ps) {
		t.Fatalf("group jit-req_1 does not hold the admin permission set: %v", srv.Assignments())
	}
	gid, desc, _ := srv.Group("jit-req_1")
	if m := srv.Members(gid); len(m) != 1 || m[0] != uid {
		t.Errorf("group members = %v, want [%s]", m, uid)
	}
	if m, ok := ParseMarker(desc); !ok || m.User != "alice@example.com" || m.Access != "admin" || !m.ExpiresAt.Equal(end) {
		t.Errorf("group description %q does not record the request", desc)
	}
	// Polling: the status was read until it left IN_PROGRESS.
	if n := srv.Calls("DescribeAccountAssignmentCreationStatus"); n != 4 {
		t.Errorf("creation status read %d times, want 4 (3 in progress, then done)", n)
	}
	// A second grant creates nothing.
	if _, err := p.Grant(ctx, req); err != nil {
		t.Fatal(err)
	}
	if srv.Calls("CreateAccountAssignment") != 1 || srv.Calls("CreateGroup") != 1 || srv.Calls("CreateGroupMembership") != 1 {
		t.Errorf("second grant created again: assignments %d, groups %d, memberships %d",
			srv.Calls("CreateAccountAssignment"), srv.Calls("CreateGroup"), srv.Calls("CreateGroupMembership"))
	}
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_1", User: "alice@example.com", Access: "admin", Handle: resp.Handle})
	if err != nil || !v.Present || v.ExpiresAt != nil {
		t.Errorf("Verify = %+v, %v; want present with no target-enforced expiry", v, err)
	}
	// Revoke right after the create: AWS answers ConflictException once.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_1", User: "alice@example.com", Access: "admin", Handle: resp.Handle}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("DeleteAccountAssignment"); n != 2 {
		t.Errorf("DeleteAccountAssignment called %d times, want 2 (a conflict, then the retry)", n)
	}
	if n := srv.Calls("DescribeAccountAssignmentDeletionStatus"); n != 4 {
		t.Errorf("deletion status read %d times, want 4", n)
	}
	if _, _, ok := srv.Group("jit-req_1"); ok || len(srv.Assignments()) != 0 {
		t.Errorf("after revoke: group left = %v, assignments %v", ok, srv.Assignments())
	}
	v, err = p.Verify(ctx, provider.VerifyRequest{RequestID: "req_1", User: "alice@example.com", Access: "admin", Handle: resp.Handle})
	if err != nil || v.Present {
		t.Errorf("Verify after revoke = %+v, %v", v, err)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_1", User: "alice@example.com", Access: "admin"}); err != nil {
		t.Errorf("second revoke: %v", err)
	}
}

func TestSSOVerifySeesRemovedMember(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	p := newSSO(t, ssoSettings(srv), nil)
	ctx := context.Background()
	resp, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_m", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Another user asks Verify about alice's request: not a member.
	srv.AddUser("bob@example.com", "bob@example.com")
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_m", User: "bob@example.com", Access: "read", Handle: resp.Handle})
	if err != nil || v.Present {
		t.Errorf("Verify for a non-member = %+v, %v; want absent", v, err)
	}
}

func TestSSOExtensionUpdatesRecordedExpiry(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	c := newClock()
	p := newSSO(t, ssoSettings(srv), c)
	ctx := context.Background()
	req := provider.GrantRequest{RequestID: "req_x", User: "alice@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)}
	if _, err := p.Grant(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.ExpiresAt = c.Now().Add(4 * time.Hour)
	if _, err := p.Grant(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, desc, _ := srv.Group("jit-req_x")
	if m, _ := ParseMarker(desc); !m.ExpiresAt.Equal(req.ExpiresAt) {
		t.Errorf("recorded expiry %s, want the extended %s", m.ExpiresAt, req.ExpiresAt)
	}
	// The sweep goes by the extended expiry.
	c.Add(2 * time.Hour)
	if n, err := p.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("Sweep = %d, %v; want nothing swept before the extended expiry", n, err)
	}
}

func TestSSOPollingBoundedByContext(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	srv.PollsBeforeDone = 1 << 30
	p := newSSO(t, ssoSettings(srv), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_slow", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Grant = %v, want the context's deadline", err)
	}
	if provider.IsNotApplied(err) {
		t.Errorf("a grant cut short while AWS works on it is not NotApplied")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Grant took %s past its context", d)
	}
	if srv.Calls("DescribeAccountAssignmentCreationStatus") < 2 {
		t.Errorf("the status was not polled")
	}
}

func TestSSOTimeoutSetting(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	srv.PollsBeforeDone = 1 << 30
	settings := ssoSettings(srv)
	settings["timeout"] = "200ms"
	p := newSSO(t, settings, nil)
	_, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_t", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Grant = %v, want the timeout setting's deadline", err)
	}
}

func TestSSOAssignmentFailure(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	p := newSSO(t, ssoSettings(srv), nil)
	srv.FailNext("CreateAccountAssignment", "AccessDeniedException")
	_, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_f", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if errorCode(err) != "AccessDeniedException" {
		t.Fatalf("Grant = %v, want AccessDeniedException", err)
	}
	// The group was made before the refusal: the outcome is partial, and
	// a revoke cleans it up.
	if provider.IsNotApplied(err) {
		t.Errorf("a grant that created a group is not NotApplied")
	}
	if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "req_f", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if n := srv.GroupCount(); n != 0 {
		t.Errorf("%d groups left after revoke", n)
	}
}

func TestSSOUnknownUserNotApplied(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	p := newSSO(t, ssoSettings(srv), nil)
	_, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_u", User: "ghost@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant for an unknown user = %v, want NotApplied", err)
	}
	if srv.GroupCount() != 0 {
		t.Errorf("a group was created for an unknown user")
	}
}

func TestSSOForeignGroupLeftAlone(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	gid := srv.AddGroup("jit-req_taken", "made by a person")
	p := newSSO(t, ssoSettings(srv), nil)
	ctx := context.Background()
	_, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_taken", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if !errors.Is(err, errForeignGroup) {
		t.Errorf("Grant over a person's group = %v, want errForeignGroup", err)
	}
	_, err = p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_taken", User: "alice@example.com", Access: "read"})
	if !errors.Is(err, errForeignGroup) {
		t.Errorf("Revoke of a person's group = %v, want errForeignGroup", err)
	}
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_taken", User: "alice@example.com", Access: "read"})
	if err != nil || v.Present {
		t.Errorf("Verify = %+v, %v; want absent", v, err)
	}
	if id, _, ok := srv.Group("jit-req_taken"); !ok || id != gid || len(srv.Members(gid)) != 0 {
		t.Errorf("the person's group was changed")
	}
}

func TestSSOUserPrincipal(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	uid := srv.AddUser("alice", "alice@example.com")
	settings := ssoSettings(srv)
	settings["principal"] = "user"
	settings["user_attribute"] = "emails.value"
	p := newSSO(t, settings, nil)
	ctx := context.Background()
	ps := srv.PermissionSetARN(1)
	direct := awstest.Assignment{AccountID: account, PermissionSetARN: ps, PrincipalType: "USER", PrincipalID: uid}

	if _, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	resp, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_a", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !srv.HasAssignment(direct) || srv.GroupCount() != 0 {
		t.Fatalf("user mode: assignments %v, groups %d", srv.Assignments(), srv.GroupCount())
	}
	// Held now: a second request is refused at submit, because it would
	// share the assignment.
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"})
	wantRefused(t, err, "already holds")
	// Grant is idempotent.
	if _, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_a", User: "alice@example.com", Access: "read", ExpiresAt: time.Now().Add(time.Hour)}); err != nil || srv.Calls("CreateAccountAssignment") != 1 {
		t.Fatalf("second grant: %v, creates %d", err, srv.Calls("CreateAccountAssignment"))
	}
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_a", User: "alice@example.com", Access: "read", Handle: resp.Handle})
	if err != nil || !v.Present {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// The documented limit: a second request's revoke removes the one
	// assignment both share.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_b", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if srv.HasAssignment(direct) {
		t.Errorf("user mode keeps per-request state it cannot have")
	}
	// Absent is success; the deletion fails in AWS and the provider
	// confirms the assignment is gone.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_a", User: "alice@example.com", Access: "read", Handle: resp.Handle}); err != nil {
		t.Errorf("revoke of an absent assignment: %v", err)
	}
	if _, err := p.List(ctx, provider.ListRequest{}); !errors.Is(err, provider.ErrListUnsupported) {
		t.Errorf("List in user mode = %v, want ErrListUnsupported", err)
	}
	if n, err := p.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("Sweep in user mode = %d, %v", n, err)
	}
}

func TestSSOCheck(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	p := newSSO(t, ssoSettings(srv), nil)
	ctx := context.Background()
	resp, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "admin"})
	if err != nil || !strings.Contains(resp.Summary, srv.PermissionSetARN(2)) {
		t.Errorf("Check = %+v, %v", resp, err)
	}
	_, err = p.Check(ctx, provider.CheckRequest{User: "ghost@example.com", Access: "read"})
	wantRefused(t, err, "no IAM Identity Center user")
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "root"})
	wantRefused(t, err, `"root"`)
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read", Target: "x"})
	wantRefused(t, err, "no target")
	srv.FailNext("GetUserId", "ThrottlingException")
	srv.FailNext("GetUserId", "ThrottlingException")
	srv.FailNext("GetUserId", "ThrottlingException")
	_, err = p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"})
	var re *provider.RefusedError
	if err == nil || errors.As(err, &re) {
		t.Errorf("Check with AWS unavailable = %v, want a plain error", err)
	}
}

func TestSSOListAndSweep(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	srv.AddUser("bob@example.com", "bob@example.com")
	c := newClock()
	p := newSSO(t, ssoSettings(srv), c)
	ctx := context.Background()
	grants := []provider.GrantRequest{
		{RequestID: "req_a1", User: "alice@example.com", Access: "read", ExpiresAt: c.Now().Add(time.Hour)},
		{RequestID: "req_a2", User: "alice@example.com", Access: "read", ExpiresAt: c.Now().Add(3 * time.Hour)},
		{RequestID: "req_b1", User: "bob@example.com", Access: "admin", ExpiresAt: c.Now().Add(time.Hour)},
	}
	for _, g := range grants {
		if _, err := p.Grant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// A person's group holding the same permission set, and a jit group
	// of another account: neither is listed nor swept.
	people := srv.AddGroup("platform-team", "")
	srv.Assign(awstest.Assignment{AccountID: account, PermissionSetARN: srv.PermissionSetARN(1), PrincipalType: "GROUP", PrincipalID: people})
	other := srv.AddGroup("jit-req_elsewhere", Marker{RequestID: "req_elsewhere", User: "x@example.com", ExpiresAt: c.Now()}.String())
	srv.Assign(awstest.Assignment{AccountID: "999999999999", PermissionSetARN: srv.PermissionSetARN(1), PrincipalType: "GROUP", PrincipalID: other})

	list, err := p.List(ctx, provider.ListRequest{Resource: "aws-test"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]provider.ListedGrant{}
	for _, g := range list.Grants {
		got[g.RequestID] = g
	}
	if len(got) != 3 || got["req_b1"].User != "bob@example.com" || got["req_b1"].Access != "admin" || got["req_a2"].User != "alice@example.com" {
		t.Errorf("List = %+v", list.Grants)
	}
	c.Add(2 * time.Hour)
	n, err := p.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	for id, want := range map[string]bool{"req_a1": false, "req_b1": false, "req_a2": true} {
		if _, _, ok := srv.Group(GroupName(id)); ok != want {
			t.Errorf("after sweep, group of %s present = %v, want %v", id, ok, want)
		}
	}
	if !srv.HasAssignment(awstest.Assignment{AccountID: account, PermissionSetARN: srv.PermissionSetARN(1), PrincipalType: "GROUP", PrincipalID: people}) {
		t.Errorf("the sweep removed a person's group assignment")
	}
	if _, _, ok := srv.Group("jit-req_elsewhere"); !ok {
		t.Errorf("the sweep removed a group of another account")
	}
}

func TestSSOSettings(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	cases := map[string]struct {
		mod func(m map[string]any)
		key string
	}{
		"no region":         {func(m map[string]any) { delete(m, "region") }, "region"},
		"instance":          {func(m map[string]any) { m["instance_arn"] = "arn:aws:iam::1:role/x" }, "instance_arn"},
		"store":             {func(m map[string]any) { m["identity_store_id"] = "store" }, "identity_store_id"},
		"account as number": {func(m map[string]any) { m["account_id"] = 111122223333 }, "account_id"},
		"short account":     {func(m map[string]any) { m["account_id"] = "1234" }, "account_id"},
		"level without set": {func(m map[string]any) { m["permission_sets"] = map[string]any{"read": srv.PermissionSetARN(1)} }, "permission_sets"},
		"unknown level":     {func(m map[string]any) { m["permission_sets"].(map[string]any)["root"] = srv.PermissionSetARN(3) }, "permission_sets"},
		"bad set ARN":       {func(m map[string]any) { m["permission_sets"].(map[string]any)["read"] = "ps-1" }, "permission_sets"},
		"another instance": {func(m map[string]any) {
			m["permission_sets"].(map[string]any)["read"] = "arn:aws:sso:::permissionSet/ssoins-ffffffffffffffff/ps-0000000000000001"
		}, "permission_sets"},
		"principal":          {func(m map[string]any) { m["principal"] = "role" }, "principal"},
		"user attribute":     {func(m map[string]any) { m["user_attribute"] = "displayName" }, "user_attribute"},
		"store endpoint":     {func(m map[string]any) { m["identity_store_endpoint"] = "http://user:pw@x" }, "identity_store_endpoint"},
		"timeout":            {func(m map[string]any) { m["timeout"] = 5 }, "timeout"},
		"no permission sets": {func(m map[string]any) { delete(m, "permission_sets") }, "permission_sets"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			settings := ssoSettings(srv)
			c.mod(settings)
			_, err := NewSSOWithOptions(provider.Resource{Name: "r", Settings: settings, Access: []string{"read", "admin"}}, testOptions(nil))
			if err == nil || !strings.Contains(err.Error(), `"`+c.key+`"`) {
				t.Errorf("error %v does not name %s", err, c.key)
			}
			if strings.Contains(fmtErr(err), "pw") {
				t.Errorf("error echoes a credential: %v", err)
			}
		})
	}
	if _, err := provider.New(provider.Resource{Name: "r", Type: TypeSSO, Settings: ssoSettings(srv), Access: []string{"read", "admin"}}); err != nil {
		t.Errorf("provider.New(%s): %v", TypeSSO, err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestWrongCredentialsRefused shows that the servers check signatures,
// so that the tests above prove the clients sign with what they are
// given.
func TestWrongCredentialsRefused(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	o := testOptions(nil)
	o.Credentials = sdkaws.CredentialsProviderFunc(func(context.Context) (sdkaws.Credentials, error) {
		c := awstest.Credentials
		c.SecretAccessKey = "wrong"
		return c, nil
	})
	p, err := NewSSOWithOptions(provider.Resource{Name: "r", Settings: ssoSettings(srv), Access: []string{"read", "admin"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Check(context.Background(), provider.CheckRequest{User: "alice@example.com", Access: "read"})
	if errorCode(err) != "InvalidSignatureException" {
		t.Errorf("Check with a wrong secret = %v, want InvalidSignatureException", err)
	}
	isrv := awstest.NewIAM(t)
	isrv.AddRole("ops", "")
	ip, err := NewIAMWithOptions(provider.Resource{Name: "r", Settings: iamSettings(isrv, "role", "ops"), Access: []string{"read"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ip.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_x", User: "a@example.com", Access: "read"})
	if errorCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("IAM call with a wrong secret = %v, want SignatureDoesNotMatch", err)
	}
}

// TestSSOGrantNeedsExpiry: Identity Center has no expiry of its own, so a
// grant without one (or past it) would be found by no sweep; it is
// refused before anything is created.
func TestSSOGrantNeedsExpiry(t *testing.T) {
	srv := awstest.NewIdentityCenter(t)
	srv.AddUser("alice@example.com", "alice@example.com")
	c := newClock()
	p := newSSO(t, ssoSettings(srv), c)
	for name, exp := range map[string]time.Time{"zero": {}, "passed": c.Now().Add(-time.Second)} {
		_, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_" + name, User: "alice@example.com", Access: "read", ExpiresAt: exp})
		if err == nil || !provider.IsNotApplied(err) {
			t.Errorf("%s expiry: Grant = %v, want a NotApplied error", name, err)
		}
	}
	if n := srv.Calls("CreateGroup") + srv.Calls("CreateAccountAssignment"); n != 0 {
		t.Errorf("refused grants made %d calls that create", n)
	}
}
