package azure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

func grantReq(id, user, access string, expires time.Time) provider.GrantRequest {
	return provider.GrantRequest{RequestID: id, User: user, Resource: "az", Access: access, Reason: "INC-42 debugging", ExpiresAt: expires}
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return e.provider(nil) },
		Resource: "az", Access: "read", User: "conformance@example.com",
		Present: func(t *testing.T, id string) bool {
			s := e.arm.schedule(testScope, carolOID, readerGUID)
			if s == nil {
				return false
			}
			r := e.arm.request(lastSegment(*s.Properties.RoleAssignmentScheduleRequestID))
			rec, ok := parseRecord(deref(r.Properties.Justification))
			if !ok {
				t.Fatalf("the assignment's request has no jit record: %q", deref(r.Properties.Justification))
			}
			_, has := rec.find(id)
			return has
		},
	})
}

func TestGrantRevokeVerify(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	exp := e.clock.Now().Add(time.Hour)

	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_1", User: "alice@example.com", Access: "read"})
	if err != nil || v.Present {
		t.Fatalf("Verify before grant = %+v, %v; want absent", v, err)
	}
	g, err := p.Grant(ctx, grantReq("req_1", "alice@example.com", "read", exp))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	var h handle
	if err := json.Unmarshal(g.Handle, &h); err != nil {
		t.Fatalf("handle: %v", err)
	}
	if h.Scope != testScope || h.PrincipalID != aliceOID || h.Request != RequestName("req_1") ||
		h.RoleDefinitionID != "/subscriptions/"+testSub+"/providers/Microsoft.Authorization/roleDefinitions/"+readerGUID {
		t.Errorf("handle = %+v", h)
	}
	// What Azure received: an AdminAssign under the derived name, with the
	// schedule Azure enforces by itself.
	r := e.arm.request(RequestName("req_1"))
	if r == nil {
		t.Fatal("no schedule request under RequestName(req_1)")
	}
	pr := r.Properties
	if *pr.RequestType != armauthorization.RequestTypeAdminAssign || *pr.PrincipalID != aliceOID {
		t.Errorf("request = %s for %s", *pr.RequestType, *pr.PrincipalID)
	}
	if got := *pr.ScheduleInfo.Expiration.Duration; got != "PT1H" || *pr.ScheduleInfo.Expiration.Type != armauthorization.TypeAfterDuration {
		t.Errorf("expiration = %s %s, want AfterDuration PT1H", *pr.ScheduleInfo.Expiration.Type, got)
	}
	if !pr.ScheduleInfo.StartDateTime.Equal(e.clock.Now()) {
		t.Errorf("start = %v, want %v", pr.ScheduleInfo.StartDateTime, e.clock.Now())
	}
	if j := *pr.Justification; !strings.HasPrefix(j, "jit req_1 [req_1@") || !strings.Contains(j, "alice@example.com: INC-42 debugging") {
		t.Errorf("justification = %q", j)
	}
	v, err = p.Verify(ctx, provider.VerifyRequest{RequestID: "req_1", User: "alice@example.com", Access: "read", Handle: g.Handle})
	if err != nil || !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(exp) {
		t.Fatalf("Verify after grant = %+v, %v; want present until %v", v, err, exp)
	}

	// Idempotent grant: nothing more is written.
	writes := e.arm.writeCount()
	if _, err := p.Grant(ctx, grantReq("req_1", "alice@example.com", "read", exp)); err != nil {
		t.Fatalf("second Grant: %v", err)
	}
	if w := e.arm.writeCount(); w != writes {
		t.Errorf("second Grant wrote %d times", w-writes)
	}

	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_1", User: "alice@example.com", Access: "read", Handle: g.Handle}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("Azure still holds the assignment after Revoke")
	}
	rm := e.arm.request(RemoveName("req_1"))
	if rm == nil || *rm.Properties.RequestType != armauthorization.RequestTypeAdminRemove {
		t.Fatalf("no AdminRemove under RemoveName(req_1): %+v", rm)
	}
	// Idempotent revoke, with and without the handle.
	writes = e.arm.writeCount()
	for _, hd := range []json.RawMessage{g.Handle, nil} {
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_1", User: "alice@example.com", Access: "read", Handle: hd}); err != nil {
			t.Fatalf("second Revoke: %v", err)
		}
	}
	if w := e.arm.writeCount(); w != writes {
		t.Errorf("repeated Revoke wrote %d times", w-writes)
	}
	v, err = p.Verify(ctx, provider.VerifyRequest{RequestID: "req_1", User: "alice@example.com", Access: "read", Handle: g.Handle})
	if err != nil || v.Present {
		t.Fatalf("Verify after revoke = %+v, %v; want absent", v, err)
	}
	// Every ARM call carried a token for Azure Resource Manager.
	for _, a := range e.rec.headers() {
		if !strings.HasPrefix(a, "Bearer tok-") || !strings.HasSuffix(a, DefaultARMEndpoint+"/.default") {
			t.Fatalf("ARM call with Authorization %q", a)
		}
	}
	if n := e.id.tokenCount(DefaultARMEndpoint + "/.default"); n != 1 {
		t.Errorf("%d ARM tokens fetched, want 1 (cached)", n)
	}
}

func TestExpiryEnforcedByAzure(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	exp := e.clock.Now().Add(90 * time.Minute)
	g, err := p.Grant(ctx, grantReq("req_exp", "alice@example.com", "read", exp))
	if err != nil {
		t.Fatal(err)
	}
	if d := *e.arm.request(RequestName("req_exp")).Properties.ScheduleInfo.Expiration.Duration; d != "PT1H30M" {
		t.Errorf("duration = %s, want PT1H30M", d)
	}
	e.clock.Advance(89 * time.Minute)
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_exp", Handle: g.Handle})
	if err != nil || !v.Present {
		t.Fatalf("Verify a minute before expiry = %+v, %v", v, err)
	}
	e.clock.Advance(time.Minute)
	v, err = p.Verify(ctx, provider.VerifyRequest{RequestID: "req_exp", Handle: g.Handle})
	if err != nil || v.Present {
		t.Fatalf("Verify at expiry = %+v, %v; want absent (Azure ended it)", v, err)
	}
	// Revoking what Azure already ended is success, and writes nothing.
	writes := e.arm.writeCount()
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_exp", Handle: g.Handle}); err != nil {
		t.Fatal(err)
	}
	if e.arm.writeCount() != writes {
		t.Error("Revoke after expiry wrote")
	}
}

func TestEndedScheduleListedIsNotAccess(t *testing.T) {
	e := newEnv(t)
	e.arm.keepEnded = true
	p := e.provider(nil)
	ctx := context.Background()
	g, err := p.Grant(ctx, grantReq("req_e", "alice@example.com", "read", e.clock.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_e", Handle: g.Handle})
	if err != nil || v.Present {
		t.Fatalf("Verify of an ended schedule still listed = %+v, %v; want absent", v, err)
	}
}

func TestSharedAssignment(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	now := e.clock.Now()
	verify := func(id string) provider.VerifyResponse {
		t.Helper()
		v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: id, User: "alice@example.com", Access: "read"})
		if err != nil {
			t.Fatalf("Verify(%s): %v", id, err)
		}
		return v
	}
	if _, err := p.Grant(ctx, grantReq("req_a", "alice@example.com", "read", now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	// An extension: a second request for the same role while the first
	// is active. Azure holds one assignment; it now serves both, until the
	// later expiry.
	if _, err := p.Grant(ctx, grantReq("req_b", "alice@example.com", "read", now.Add(3*time.Hour))); err != nil {
		t.Fatal(err)
	}
	s := e.arm.schedule(testScope, aliceOID, readerGUID)
	if s == nil || !s.Properties.EndDateTime.Equal(now.Add(3*time.Hour)) {
		t.Fatalf("shared schedule = %+v, want one ending at the later expiry", s)
	}
	if tk := e.arm.request(TakeoverName("req_b")); tk == nil || *tk.Properties.RequestType != armauthorization.RequestTypeAdminRemove {
		t.Fatal("no AdminRemove under TakeoverName(req_b)")
	}
	if !verify("req_a").Present || !verify("req_b").Present {
		t.Fatal("both requests must be present after both grants")
	}
	// req_a ends by its own expiry while the assignment lasts for req_b.
	e.clock.Advance(time.Hour)
	if verify("req_a").Present {
		t.Error("req_a present after its expiry")
	}
	if v := verify("req_b"); !v.Present || !v.ExpiresAt.Equal(now.Add(3*time.Hour)) {
		t.Errorf("req_b = %+v", v)
	}
	// Revoking req_a (at its expiry) leaves req_b's access.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_a", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if !verify("req_b").Present {
		t.Fatal("req_b lost its access when req_a was revoked")
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_b", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("assignment left after both revokes")
	}
}

func TestRevokeEarlierOfSharedKeepsLaterUntilItsExpiry(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	now := e.clock.Now()
	for _, g := range []provider.GrantRequest{
		grantReq("req_long", "alice@example.com", "read", now.Add(4*time.Hour)),
		grantReq("req_short", "alice@example.com", "read", now.Add(time.Hour)),
	} {
		if _, err := p.Grant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// Revoking the request with the later expiry shortens the assignment
	// to what the remaining one was approved for.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_long", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	s := e.arm.schedule(testScope, aliceOID, readerGUID)
	if s == nil || !s.Properties.EndDateTime.Equal(now.Add(time.Hour)) {
		t.Fatalf("schedule after revoking the longer request = %+v, want one ending at %v", s, now.Add(time.Hour))
	}
	if r := e.arm.request(RestoreName("req_long")); r == nil || *r.Properties.RequestType != armauthorization.RequestTypeAdminAssign {
		t.Fatal("no AdminAssign under RestoreName(req_long)")
	}
}

func TestInterruptedRevokeIsFinished(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	now := e.clock.Now()
	for _, id := range []string{"req_x", "req_y"} {
		if _, err := p.Grant(ctx, grantReq(id, "alice@example.com", "read", now.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	e.arm.failCreate = func(name string) (int, string) {
		if name == RestoreName("req_x") {
			return http.StatusServiceUnavailable, "ServiceUnavailable"
		}
		return 0, ""
	}
	_, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_x", User: "alice@example.com", Access: "read"})
	if err == nil || provider.IsNotApplied(err) {
		t.Fatalf("Revoke with the re-assignment failing = %v; want an error that is not NotApplied", err)
	}
	if e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Fatal("the fake should have removed the shared assignment")
	}
	e.arm.failCreate = nil
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_x", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatalf("retried Revoke: %v", err)
	}
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_y", User: "alice@example.com", Access: "read"})
	if err != nil || !v.Present {
		t.Fatalf("req_y after the retried revoke of req_x = %+v, %v; want present", v, err)
	}
	// Once req_y is revoked too, another retry of req_x brings nothing back.
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_y", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_x", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("a revoke retry restored access for a revoked request")
	}
}

func TestInterruptedTakeoverIsFinished(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	now := e.clock.Now()
	if _, err := p.Grant(ctx, grantReq("req_1", "alice@example.com", "read", now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	e.arm.failCreate = func(name string) (int, string) {
		if name == RequestName("req_2") {
			return http.StatusInternalServerError, "InternalServerError"
		}
		return 0, ""
	}
	if _, err := p.Grant(ctx, grantReq("req_2", "alice@example.com", "read", now.Add(2*time.Hour))); err == nil || provider.IsNotApplied(err) {
		t.Fatalf("Grant with the assignment failing after the takeover = %v; want an error that is not NotApplied", err)
	}
	e.arm.failCreate = nil
	if _, err := p.Grant(ctx, grantReq("req_2", "alice@example.com", "read", now.Add(2*time.Hour))); err != nil {
		t.Fatalf("retried Grant: %v", err)
	}
	for _, id := range []string{"req_1", "req_2"} {
		v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: id, User: "alice@example.com", Access: "read"})
		if err != nil || !v.Present {
			t.Errorf("%s after the retried grant = %+v, %v; want present", id, v, err)
		}
	}
}

func TestConcurrentReplicaGrant(t *testing.T) {
	// Another replica's identical grant lands between this one's look and
	// its write: Azure answers that the request exists, and the grant
	// finds its assignment there.
	e := newEnv(t)
	p := e.provider(nil)
	e.arm.beforeCreate = func(scope, name string, body armauthorization.RoleAssignmentScheduleRequest) {
		if _, _, code := e.arm.apply(scope, name, body); code != "" {
			t.Errorf("replica's request: %s", code)
		}
	}
	if _, err := p.Grant(context.Background(), grantReq("req_r", "alice@example.com", "read", e.clock.Now().Add(time.Hour))); err != nil {
		t.Fatalf("Grant racing a replica: %v", err)
	}
	if !e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("no assignment")
	}
}

func TestForeignAssignmentLeftAlone(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	e.arm.addSchedule(testScope, aliceOID, readerGUID, e.clock.Now().Add(24*time.Hour))
	_, err := p.Check(ctx, provider.CheckRequest{Resource: "az", User: "alice@example.com", Access: "read", Duration: time.Hour})
	var refused *provider.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "jit did not make") {
		t.Fatalf("Check = %v; want a refusal naming the foreign assignment", err)
	}
	writes := e.arm.writeCount()
	_, err = p.Grant(ctx, grantReq("req_f", "alice@example.com", "read", e.clock.Now().Add(time.Hour)))
	if err == nil || !provider.IsNotApplied(err) {
		t.Fatalf("Grant over a foreign assignment = %v; want a NotApplied error", err)
	}
	if e.arm.writeCount() != writes || !e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("the foreign assignment was touched")
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_f", User: "alice@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if !e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("Revoke removed an assignment jit did not make")
	}
}

// TestSelfActivationLookalikeNotTakenOver: a person who may activate a
// role by themselves chooses the name and justification of their own
// SelfActivate request, and can make it look like jit's record with a
// far expiry. jit must not take such an assignment for its own: taking it
// over would assign the role until that expiry.
func TestSelfActivationLookalikeNotTakenOver(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	now := e.clock.Now()
	far := now.Add(365 * 24 * time.Hour)
	start := now
	forged := record{op: "req_forged", claims: []claim{{id: "req_forged", expires: far}}}
	_, _, code := e.arm.apply(testScope, RequestName("req_forged"), armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID: ptr(aliceOID), RoleDefinitionID: ptr(roleDefinitionID(testSub, readerGUID)),
		RequestType: ptr(armauthorization.RequestTypeSelfActivate), Justification: ptr(forged.justification("alice@example.com", "")),
		ScheduleInfo: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{StartDateTime: &start,
			Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{Type: ptr(armauthorization.TypeAfterDuration), Duration: ptr("PT1H")}},
	}})
	if code != "" {
		t.Fatalf("self-activation: %s", code)
	}
	_, _ = p.Grant(ctx, grantReq("req_y", "alice@example.com", "read", now.Add(time.Hour)))
	s := e.arm.schedule(testScope, aliceOID, readerGUID)
	if s == nil {
		t.Fatal("the self-activated assignment is gone")
	}
	if end := *s.Properties.EndDateTime; end.After(now.Add(time.Hour)) {
		t.Errorf("alice holds Reader until %s, beyond both her activation and the grant (%s)", end, now.Add(time.Hour))
	}
}

// TestTakeoverNeverExtendsCarriedClaims: a record whose claims reach
// beyond the assignment it created (edited, or written by someone else
// with jit's rights) does not extend the access of those claims when a
// grant replaces the assignment.
func TestTakeoverNeverExtendsCarriedClaims(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	now := e.clock.Now()
	start := now
	forged := record{op: "req_old", claims: []claim{{id: "req_old", expires: now.Add(365 * 24 * time.Hour)}}}
	// An AdminAssign under jit's name for req_old, lasting one hour but
	// claiming a year.
	_, _, code := e.arm.apply(testScope, RequestName("req_old"), armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID: ptr(aliceOID), RoleDefinitionID: ptr(roleDefinitionID(testSub, readerGUID)),
		RequestType: ptr(armauthorization.RequestTypeAdminAssign), Justification: ptr(forged.justification("alice@example.com", "")),
		ScheduleInfo: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{StartDateTime: &start,
			Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{Type: ptr(armauthorization.TypeAfterDuration), Duration: ptr("PT1H")}},
	}})
	if code != "" {
		t.Fatalf("assignment: %s", code)
	}
	if _, err := p.Grant(ctx, grantReq("req_new", "alice@example.com", "read", now.Add(2*time.Hour))); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	s := e.arm.schedule(testScope, aliceOID, readerGUID)
	if s == nil {
		t.Fatal("no assignment after the grant")
	}
	if end := *s.Properties.EndDateTime; end.After(now.Add(2 * time.Hour)) {
		t.Errorf("the assignment lasts until %s, beyond the new grant's expiry %s and the old assignment's end %s", end, now.Add(2*time.Hour), now.Add(time.Hour))
	}
}

func TestTooManySharingRequests(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	for i := 0; i < maxClaims; i++ {
		if _, err := p.Grant(ctx, grantReq("req_"+string(rune('a'+i)), "alice@example.com", "read", e.clock.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"}); !isRefused(err) {
		t.Errorf("Check with %d sharing requests = %v; want a refusal", maxClaims, err)
	}
	if _, err := p.Grant(ctx, grantReq("req_z", "alice@example.com", "read", e.clock.Now().Add(time.Hour))); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant of a fifth sharing request = %v; want NotApplied", err)
	}
}

func isRefused(err error) bool {
	var r *provider.RefusedError
	return errors.As(err, &r)
}

func TestCheckRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	roles := map[string]any{
		"read": "Reader", "own": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "sneaky": "Sneaky Operator",
		"contrib": "Contributor", "ops": "App Operator", "twin": "Twin", "ghost": "Nonexistent Role",
		"uaa": "User Access Administrator", "rbac": "Role Based Access Control Administrator",
	}
	p := e.provider(map[string]any{"roles": roles, "allow_roles": []any{"Owner", "User Access Administrator", "Role Based Access Control Administrator"}})
	strict := e.provider(map[string]any{"roles": map[string]any{"read": "Reader", "sneaky": "Sneaky Operator", "contrib": "Contributor", "ops": "App Operator"}})
	cases := []struct {
		name   string
		p      *Provider
		user   string
		access string
		target string
		want   string // "" for accepted
	}{
		{"reader", strict, "alice@example.com", "read", "", ""},
		{"email case", strict, "BOB@example.com", "read", "", ""},
		{"ops with notActions", strict, "alice@example.com", "ops", "", ""},
		{"unknown person", strict, "mallory@example.com", "read", "", "no Entra object ID"},
		{"unknown level", strict, "alice@example.com", "admin", "", "not offered"},
		{"target", strict, "alice@example.com", "read", "vm-1", "takes no target"},
		{"authorization writes", strict, "alice@example.com", "sneaky", "", "Microsoft.Authorization/roleAssignments/write"},
		{"every action", strict, "alice@example.com", "contrib", "", `every action ("*")`},
		{"owner allowed", p, "alice@example.com", "own", "", ""},
		{"uaa allowed", p, "alice@example.com", "uaa", "", ""},
		{"rbac admin allowed", p, "alice@example.com", "rbac", "", ""},
		{"sneaky not allowed", p, "alice@example.com", "sneaky", "", "allow_roles"},
		{"two roles of one name", p, "alice@example.com", "twin", "", "several roles"},
		{"no such role", p, "alice@example.com", "ghost", "", "no role named"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := c.p.Check(ctx, provider.CheckRequest{Resource: "az", User: c.user, Access: c.access, Target: c.target, Duration: time.Hour})
			if c.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if !strings.Contains(resp.Summary, testScope) {
					t.Errorf("summary %q does not name the scope", resp.Summary)
				}
				return
			}
			var refused *provider.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Check = %v; want a *provider.RefusedError", err)
			}
			if !strings.Contains(refused.Reason, c.want) {
				t.Errorf("reason %q does not contain %q", refused.Reason, c.want)
			}
		})
	}
	// The same refusals hold at Grant, which writes nothing.
	writes := e.arm.writeCount()
	if _, err := strict.Grant(ctx, grantReq("req_s", "alice@example.com", "sneaky", e.clock.Now().Add(time.Hour))); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant of an escalating role = %v; want NotApplied", err)
	}
	if _, err := strict.Grant(ctx, grantReq("req_m", "mallory@example.com", "read", e.clock.Now().Add(time.Hour))); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant for an unknown person = %v; want NotApplied", err)
	}
	if e.arm.writeCount() != writes {
		t.Error("a refused grant wrote to Azure")
	}
}

func TestApprovalRequiredInAzure(t *testing.T) {
	e := newEnv(t)
	p := e.provider(map[string]any{"roles": map[string]any{"read": "Guarded Reader"}})
	_, err := p.Grant(context.Background(), grantReq("req_g", "alice@example.com", "read", e.clock.Now().Add(time.Hour)))
	if err == nil || !strings.Contains(err.Error(), "PendingApproval") || provider.IsNotApplied(err) {
		t.Fatalf("Grant of a role needing approval in Azure = %v", err)
	}
}

func TestEligibleMode(t *testing.T) {
	e := newEnv(t)
	p := e.provider(map[string]any{"mode": "eligible"})
	ctx := context.Background()
	check := func(user string) error {
		_, err := p.Check(ctx, provider.CheckRequest{User: user, Access: "read", Duration: time.Hour})
		return err
	}
	if err := check("alice@example.com"); !isRefused(err) || !strings.Contains(err.Error(), "not eligible") {
		t.Fatalf("Check without eligibility = %v; want refused", err)
	}
	// Eligible at the subscription, above the resource group: accepted.
	e.arm.addEligibility("/subscriptions/"+testSub, aliceOID, readerGUID, e.clock.Now().Add(24*time.Hour))
	// Eligible only below the scope, or for another role, or expired: not enough.
	e.arm.addEligibility(testScope+"/providers/Microsoft.Storage/storageAccounts/logs", bobOID, readerGUID, e.clock.Now().Add(24*time.Hour))
	e.arm.addEligibility(testScope, bobOID, opsGUID, e.clock.Now().Add(24*time.Hour))
	e.arm.addEligibility(testScope, bobOID, readerGUID, e.clock.Now().Add(-time.Minute))
	resp, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read", Duration: time.Hour})
	if err != nil || len(resp.Labels) != 1 || resp.Labels[0] != "azure:eligible" {
		t.Fatalf("Check when eligible = %+v, %v", resp, err)
	}
	if err := check("bob@example.com"); !isRefused(err) {
		t.Errorf("Check for bob (eligible below, for another role, expired) = %v; want refused", err)
	}
	if _, err := p.Grant(ctx, grantReq("req_el", "alice@example.com", "read", e.clock.Now().Add(time.Hour))); err != nil {
		t.Fatalf("Grant when eligible: %v", err)
	}
	if r := e.arm.request(RequestName("req_el")); *r.Properties.RequestType != armauthorization.RequestTypeAdminAssign {
		t.Errorf("eligible mode sent %s; it assigns with AdminAssign", *r.Properties.RequestType)
	}
	// Management-group eligibility is above every subscription.
	e.arm.addEligibility("/providers/Microsoft.Management/managementGroups/corp", bobOID, readerGUID, e.clock.Now().Add(24*time.Hour))
	if err := check("bob@example.com"); err != nil {
		t.Errorf("Check for bob eligible at a management group = %v", err)
	}
}

func TestGraphLookup(t *testing.T) {
	e := newEnv(t)
	p := e.provider(map[string]any{"principal_lookup": "graph"})
	ctx := context.Background()
	if _, err := p.Grant(ctx, grantReq("req_gr", "Graph.Only@example.com", "read", e.clock.Now().Add(time.Hour))); err != nil {
		t.Fatalf("Grant via Graph lookup: %v", err)
	}
	if !e.arm.holds(testScope, graphOnlyOID, readerGUID) {
		t.Error("no assignment for the looked-up object ID")
	}
	if _, err := p.Check(ctx, provider.CheckRequest{User: "graph.only@example.com", Access: "read"}); err != nil {
		t.Fatal(err)
	}
	if e.id.lookups != 1 {
		t.Errorf("%d Graph lookups, want 1 (cached)", e.id.lookups)
	}
	// The map is asked first.
	if _, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"}); err != nil || e.id.lookups != 1 {
		t.Errorf("Check for a mapped person: %v, %d lookups", err, e.id.lookups)
	}
	_, err := p.Check(ctx, provider.CheckRequest{User: "nobody@example.com", Access: "read"})
	if !isRefused(err) || !strings.Contains(err.Error(), "no user nobody@example.com") {
		t.Errorf("Check for a person Graph does not know = %v; want refused", err)
	}
	_, err = p.Check(ctx, provider.CheckRequest{User: "eve@example.com/../../me", Access: "read"})
	if !isRefused(err) {
		t.Errorf("Check for a hostile address = %v; want refused", err)
	}
	if n := e.id.tokenCount(e.id.srv.URL + "/.default"); n != 1 {
		t.Errorf("%d Graph tokens fetched, want 1", n)
	}
}

func TestCredentialFailureIsNotApplied(t *testing.T) {
	e := newEnv(t)
	e.id.secret = "rotated"
	e.id.echoSecret = true
	p := e.provider(map[string]any{"principals": map[string]any{"alice@example.com": aliceOID}, "roles": map[string]any{"read": readerGUID}})
	_, err := p.Grant(context.Background(), grantReq("req_c", "alice@example.com", "read", e.clock.Now().Add(time.Hour)))
	if err == nil || !provider.IsNotApplied(err) {
		t.Fatalf("Grant with a refused secret = %v; want NotApplied", err)
	}
	if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error reveals the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("error does not say why: %v", err)
	}
}

func TestCancelledContextWritesNothing(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Grant(ctx, grantReq("req_cx", "alice@example.com", "read", e.clock.Now().Add(time.Hour))); err == nil || !errors.Is(err, context.Canceled) || !provider.IsNotApplied(err) {
		t.Errorf("Grant = %v", err)
	}
	if _, err := p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "read"}); err == nil || isRefused(err) {
		t.Errorf("Check = %v; want an error that is not a refusal", err)
	}
	if e.arm.writeCount() != 0 {
		t.Error("wrote with a cancelled context")
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	p := e.provider(nil)
	ctx := context.Background()
	exp := e.clock.Now().Add(time.Hour)
	for _, id := range []string{"", "req 1", "req/1", "req]1", strings.Repeat("r", 65), "req@1"} {
		if _, err := p.Grant(ctx, grantReq(id, "alice@example.com", "read", exp)); err == nil || !provider.IsNotApplied(err) {
			t.Errorf("Grant(%q) = %v; want NotApplied", id, err)
		}
	}
	if _, err := p.Grant(ctx, grantReq("req_past", "alice@example.com", "read", e.clock.Now().Add(-time.Second))); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant with a past expiry = %v", err)
	}
	bad := []json.RawMessage{
		json.RawMessage(`{"scope":"/subscriptions/` + testSub + `/../x","request":"` + RequestName("req_h") + `"}`),
		json.RawMessage(`{"scope":"` + testScope + `","request":"` + RequestName("other") + `"}`),
		json.RawMessage(`[1]`),
	}
	for _, h := range bad {
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_h", Handle: h}); err == nil {
			t.Errorf("Revoke with handle %s succeeded", h)
		}
		if _, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_h", Handle: h}); err == nil {
			t.Errorf("Verify with handle %s succeeded", h)
		}
	}
	if e.arm.writeCount() != 0 {
		t.Error("bad input wrote to Azure")
	}
}

func TestRevokeAtHandleScope(t *testing.T) {
	// The scope setting changes after a grant: revoke finds the access
	// where the handle says it is.
	e := newEnv(t)
	ctx := context.Background()
	g, err := e.provider(nil).Grant(ctx, grantReq("req_mv", "alice@example.com", "read", e.clock.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	moved := e.provider(map[string]any{"scope": "/subscriptions/" + testSub + "/resourceGroups/other"})
	if _, err := moved.Revoke(ctx, provider.RevokeRequest{RequestID: "req_mv", Handle: g.Handle}); err != nil {
		t.Fatal(err)
	}
	if e.arm.holds(testScope, aliceOID, readerGUID) {
		t.Error("assignment left at the handle's scope")
	}
}

func TestRegistered(t *testing.T) {
	_, err := provider.New(provider.Resource{Name: "az", Type: "azure", Settings: map[string]any{}})
	if err == nil || !strings.Contains(err.Error(), "tenant_id") {
		t.Fatalf("provider.New with empty settings = %v; want setting errors", err)
	}
}
