package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/gcp/gcptest"
	"github.com/jitaccess/jit/provider/providertest"
)

func TestActivation(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddBinding("folders/200", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	target := "projects/prod-app:roles/compute.viewer"

	resp := f.grant(t, "req_01", alice, "activate", target, time.Hour)

	var h Handle
	if err := json.Unmarshal(resp.Handle, &h); err != nil {
		t.Fatalf("handle %s: %v", resp.Handle, err)
	}
	if want := (Handle{Resource: "projects/prod-app", Role: "roles/compute.viewer", Member: "user:" + alice}); h != want {
		t.Errorf("handle = %+v, want %+v", h, want)
	}
	bs := jitBindings(f.srv, "projects/prod-app", "req_01")
	if len(bs) != 1 {
		t.Fatalf("bindings for req_01 = %+v, want one", bs)
	}
	want := gcptest.Binding{Role: "roles/compute.viewer", Members: []string{"user:" + alice}, Condition: &gcptest.Condition{
		Title:       "JIT access activation",
		Description: "jit request req_01 for alice@example.com",
		Expression:  `request.time >= timestamp("2030-01-02T03:04:05Z") && request.time < timestamp("2030-01-02T04:04:05Z")`,
	}}
	if !reflect.DeepEqual(bs[0], want) {
		t.Errorf("binding = %+v / %+v, want %+v / %+v", bs[0], bs[0].Condition, want, want.Condition)
	}
	if strings.Contains(bs[0].Condition.Description, "INC-1234") {
		t.Errorf("the reason leaked into the condition: %q", bs[0].Condition.Description)
	}
	if v := f.srv.Policy("projects/prod-app").Version; v != 3 {
		t.Errorf("policy version = %d, want 3", v)
	}

	// The cloud itself decides access from the condition.
	end := t0.Add(time.Hour)
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(-time.Second), false},
		{t0, true},
		{t0.Add(30 * time.Minute), true},
		{end.Add(-time.Second), true},
		{end, false},
		{end.Add(time.Hour), false},
	} {
		if got := effective(t, f.srv, "projects/prod-app", "user:"+alice, "roles/compute.viewer", c.at); got != c.want {
			t.Errorf("effective at %s = %v, want %v", c.at.Format(time.RFC3339), got, c.want)
		}
	}
	// The eligible binding on the folder grants nothing by itself.
	if effective(t, f.srv, "projects/dev-app", "user:"+alice, "roles/compute.viewer", t0.Add(time.Minute)) {
		t.Errorf("the eligible binding alone grants the role on dev-app")
	}

	v := f.verify(t, "req_01", target, resp.Handle)
	if !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(end) {
		t.Errorf("Verify = %+v (expires %v), want present until %s", v, v.ExpiresAt, end)
	}
	// Without the handle, the target finds the same binding.
	if v := f.verify(t, "req_01", target, nil); !v.Present {
		t.Errorf("Verify without handle: not present")
	}
}

func TestGrantLevelOnScopeAndExpiryPrecision(t *testing.T) {
	f := newFixture(t, nil)
	req := f.grantReq("req_lvl", bob, "viewer", "", 90*time.Minute)
	req.ExpiresAt = req.ExpiresAt.Add(700 * time.Millisecond).In(time.FixedZone("X", 3600))
	if _, err := f.p.Grant(context.Background(), req); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if n := f.srv.Calls("analyzeIamPolicy"); n != 0 {
		t.Errorf("granting a role the settings offer asked the Cloud Asset API %d times", n)
	}
	bs := jitBindings(f.srv, "folders/200", "req_lvl")
	if len(bs) != 1 || bs[0].Role != "roles/monitoring.viewer" {
		t.Fatalf("bindings on the scope = %+v, want roles/monitoring.viewer", bs)
	}
	// Sub-second expiry is cut, never rounded up; the zone is UTC.
	if want := `request.time < timestamp("2030-01-02T04:34:05Z")`; !strings.HasSuffix(bs[0].Condition.Expression, want) {
		t.Errorf("expression %q does not end with %q", bs[0].Condition.Expression, want)
	}
	// Inherited by the projects below the folder, through the condition.
	if !effective(t, f.srv, "projects/prod-app", "user:"+bob, "roles/monitoring.viewer", t0.Add(time.Minute)) {
		t.Errorf("roles/monitoring.viewer on folders/200 is not effective on a project below it")
	}
}

func TestGrantKeepsOtherBindings(t *testing.T) {
	f := newFixture(t, nil)
	res := "projects/prod-app"
	others := []gcptest.Binding{
		{Role: "roles/viewer", Members: []string{"user:" + carol, "group:sre@example.com"}},
		{Role: "roles/storage.admin", Members: []string{"user:" + dave}, Condition: &gcptest.Condition{
			Title: "office hours", Description: "set by hand", Expression: `request.time.getHours("Europe/Berlin") >= 9`}},
		// Google's JIT Access writes the same title with another
		// description; its bindings, even ended ones, are not jit's.
		{Role: "roles/compute.viewer", Members: []string{"user:" + erin}, Condition: &gcptest.Condition{
			Title: ActivationTitle, Description: "Self-approved, justification: x",
			Expression: ActivationExpression(t0.Add(-3*time.Hour), t0.Add(-2*time.Hour))}},
		eligible("roles/logging.viewer", "user:"+alice, MultiPartyExpression),
	}
	for _, b := range others {
		f.srv.AddBinding(res, b)
	}
	f.srv.SetAuditConfigs(res, json.RawMessage(`[{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"}]}]`))
	before := f.srv.Policy(res)

	resp := f.grant(t, "req_keep", alice, "activate", res+":roles/browser", time.Hour)
	after := f.srv.Policy(res)
	if len(after.Bindings) != len(before.Bindings)+1 {
		t.Fatalf("bindings after grant: %d, want %d", len(after.Bindings), len(before.Bindings)+1)
	}
	withoutJit := after
	withoutJit.Bindings = slices.DeleteFunc(slices.Clone(after.Bindings), func(b gcptest.Binding) bool {
		return b.Condition != nil && strings.HasPrefix(b.Condition.Description, DescriptionPrefix)
	})
	samePolicy(t, "after grant, apart from jit's binding", withoutJit, before)

	f.revoke(t, "req_keep", "", resp.Handle)
	samePolicy(t, "after revoke", f.srv.Policy(res), before)
}

func TestConcurrentModification(t *testing.T) {
	f := newFixture(t, nil)
	res := "projects/prod-app"
	theirs := gcptest.Binding{Role: "roles/pubsub.viewer", Members: []string{"user:" + carol}}
	first := true
	// Someone else writes between jit's first read and its write.
	f.srv.OnGetIamPolicy(func(resource string) {
		if resource == res && first {
			first = false
			f.srv.AddBinding(res, theirs)
		}
	})
	f.grant(t, "req_race", alice, "activate", res+":roles/browser", time.Hour)

	pol := f.srv.Policy(res)
	if !slices.ContainsFunc(pol.Bindings, func(b gcptest.Binding) bool { return reflect.DeepEqual(b, theirs) }) {
		t.Errorf("the concurrent writer's binding was lost: %+v", pol.Bindings)
	}
	if n := len(jitBindings(f.srv, res, "req_race")); n != 1 {
		t.Errorf("jit's binding present %d times, want once", n)
	}
	if got := f.srv.Calls("setIamPolicy"); got != 2 {
		t.Errorf("setIamPolicy calls = %d, want 2 (one refused with 409, one accepted)", got)
	}
	if got := f.srv.Calls("getIamPolicy"); got != 2 {
		t.Errorf("getIamPolicy calls = %d, want 2 (the whole cycle is retried)", got)
	}
	if len(f.sleeps) != 1 || f.sleeps[0] <= 0 {
		t.Errorf("sleeps = %v, want one backoff", f.sleeps)
	}
}

func TestConflictsExhaustAttempts(t *testing.T) {
	f := newFixture(t, nil)
	s := defaultSettings()
	s["max_attempts"] = 3
	f.p = f.provider(t, s)
	res := "projects/prod-app"
	n := 0
	f.srv.OnGetIamPolicy(func(string) {
		n++
		f.srv.AddBinding(res, gcptest.Binding{Role: "roles/pubsub.viewer", Members: []string{"user:writer" + string(rune('a'+n)) + "@example.com"}})
	})
	_, err := f.p.Grant(context.Background(), f.grantReq("req_busy", alice, "activate", res+":roles/browser", time.Hour))
	if err == nil || !provider.IsNotApplied(err) {
		t.Fatalf("Grant under constant contention = %v, want a not-applied error", err)
	}
	if !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("error %q does not say how many attempts were made", err)
	}
	if got := f.srv.Calls("setIamPolicy"); got != 3 {
		t.Errorf("setIamPolicy calls = %d, want 3", got)
	}
	if len(f.sleeps) != 2 {
		t.Errorf("sleeps = %v, want 2", f.sleeps)
	}
	if len(jitBindings(f.srv, res, "req_busy")) != 0 {
		t.Errorf("a binding was written although every write was refused")
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name        string
		code        int
		status      string
		wantApplied bool // false: NotApplied; true: outcome unknown
		wantOK      bool
	}{
		{"412 is retried", http.StatusPreconditionFailed, "FAILED_PRECONDITION", false, true},
		{"400 changed nothing", http.StatusBadRequest, "INVALID_ARGUMENT", false, false},
		{"403 changed nothing", http.StatusForbidden, "PERMISSION_DENIED", false, false},
		{"503 is unknown", http.StatusServiceUnavailable, "UNAVAILABLE", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			failed := false
			f.srv.InjectFault(func(method, _ string) *gcptest.APIError {
				if method == "setIamPolicy" && !failed {
					failed = true
					return &gcptest.APIError{Code: tt.code, Status: tt.status, Message: "injected"}
				}
				return nil
			})
			_, err := f.p.Grant(context.Background(), f.grantReq("req_err", alice, "viewer", "", time.Hour))
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Grant: %v", err)
				}
				if len(jitBindings(f.srv, "folders/200", "req_err")) != 1 {
					t.Fatalf("no binding after the retry")
				}
				return
			}
			if err == nil {
				t.Fatalf("Grant succeeded; want an error")
			}
			if got := provider.IsNotApplied(err); got == tt.wantApplied {
				t.Errorf("IsNotApplied(%v) = %v, want %v", err, got, !tt.wantApplied)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	f := newFixture(t, nil)
	ra := f.grant(t, "req_a", alice, "activate", "projects/prod-app:roles/browser", time.Hour)
	f.grant(t, "req_b", bob, "activate", "projects/prod-app:roles/browser", time.Hour)
	f.grant(t, "req_c", carol, "viewer", "", time.Hour)

	f.revoke(t, "req_a", "projects/prod-app:roles/browser", ra.Handle)
	if len(jitBindings(f.srv, "projects/prod-app", "req_a")) != 0 {
		t.Fatalf("req_a's binding survived its revoke")
	}
	if len(jitBindings(f.srv, "projects/prod-app", "req_b")) != 1 {
		t.Fatalf("revoking req_a removed req_b")
	}
	if effective(t, f.srv, "projects/prod-app", "user:"+alice, "roles/browser", t0.Add(time.Minute)) {
		t.Errorf("alice still holds roles/browser after the revoke")
	}
	if !effective(t, f.srv, "projects/prod-app", "user:"+bob, "roles/browser", t0.Add(time.Minute)) {
		t.Errorf("bob lost roles/browser")
	}

	// Absent is success, and nothing is written.
	sets := f.srv.Calls("setIamPolicy")
	f.revoke(t, "req_a", "projects/prod-app:roles/browser", ra.Handle)
	f.revoke(t, "req_never", "", nil)
	if got := f.srv.Calls("setIamPolicy"); got != sets {
		t.Errorf("revoking absent bindings wrote the policy %d times", got-sets)
	}

	// Without a handle: the target names the resource; an empty target
	// means the scope.
	f.revoke(t, "req_b", "projects/prod-app:roles/browser", nil)
	f.revoke(t, "req_c", "", nil)
	if len(jitBindings(f.srv, "projects/prod-app", "req_b"))+len(jitBindings(f.srv, "folders/200", "req_c")) != 0 {
		t.Errorf("a revoke without a handle left a binding")
	}

	// A cancelled context fails without writing.
	f.grant(t, "req_d", dave, "viewer", "", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_d"})
	if err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Revoke with a cancelled context = %v, want a not-applied error", err)
	}
	if len(jitBindings(f.srv, "folders/200", "req_d")) != 1 {
		t.Errorf("the cancelled revoke removed the binding")
	}
}

func TestExpiryPurge(t *testing.T) {
	f := newFixture(t, nil)
	res := "projects/prod-app"
	target := res + ":roles/browser"
	ra := f.grant(t, "req_short", alice, "activate", target, time.Hour)
	f.grant(t, "req_long", bob, "activate", target, 3*time.Hour)
	// Not jit's: the same title, another description, ended.
	foreign := gcptest.Binding{Role: "roles/compute.viewer", Members: []string{"user:" + erin}, Condition: &gcptest.Condition{
		Title: ActivationTitle, Description: "Self-approved, justification: x",
		Expression: ActivationExpression(t0.Add(-3*time.Hour), t0.Add(-2*time.Hour))}}
	f.srv.AddBinding(res, foreign)

	f.advance(2 * time.Hour)
	// The cloud ended req_short by itself.
	if effective(t, f.srv, res, "user:"+alice, "roles/browser", f.clock()) {
		t.Errorf("alice still holds the role after the condition's end")
	}
	v := f.verify(t, "req_short", target, ra.Handle)
	if v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Verify of an ended activation = %+v (expires %v), want absent with its expiry", v, v.ExpiresAt)
	}

	// Any write purges jit's ended activations, and only those.
	f.grant(t, "req_new", carol, "activate", target, time.Hour)
	if len(jitBindings(f.srv, res, "req_short")) != 0 {
		t.Errorf("the ended activation req_short was not purged")
	}
	if len(jitBindings(f.srv, res, "req_long")) != 1 || len(jitBindings(f.srv, res, "req_new")) != 1 {
		t.Errorf("a live activation was purged")
	}
	if !slices.ContainsFunc(f.srv.Policy(res).Bindings, func(b gcptest.Binding) bool { return reflect.DeepEqual(b, foreign) }) {
		t.Errorf("a binding that is not jit's was purged")
	}
	// Revoking the purged request is success.
	f.revoke(t, "req_short", target, ra.Handle)

	// A grant whose expiry has passed is refused before writing.
	_, err := f.p.Grant(context.Background(), f.grantReq("req_late", alice, "activate", target, -time.Minute))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "has passed") {
		t.Errorf("Grant with a past expiry = %v, want a not-applied error", err)
	}
}

func TestIdempotentGrant(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddBinding("projects/prod-app", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	target := "projects/prod-app:roles/compute.viewer"
	first := f.grant(t, "req_twice", alice, "activate", target, time.Hour)
	sets := f.srv.Calls("setIamPolicy")
	analyses := f.srv.Calls("analyzeIamPolicy")
	f.advance(time.Minute)
	second := f.grant(t, "req_twice", alice, "activate", target, time.Hour)
	if got := len(jitBindings(f.srv, "projects/prod-app", "req_twice")); got != 1 {
		t.Fatalf("bindings after two grants = %d, want 1", got)
	}
	if f.srv.Calls("setIamPolicy") != sets || f.srv.Calls("analyzeIamPolicy") != analyses {
		t.Errorf("the second grant wrote or re-analysed")
	}
	if string(first.Handle) != string(second.Handle) {
		t.Errorf("handles differ: %s vs %s", first.Handle, second.Handle)
	}
	// The first window stands.
	if b := jitBindings(f.srv, "projects/prod-app", "req_twice")[0]; !strings.Contains(b.Condition.Expression, "03:04:05Z") {
		t.Errorf("the second grant changed the window: %s", b.Condition.Expression)
	}
}

func TestGrantRechecksEligibility(t *testing.T) {
	f := newFixture(t, nil)
	// Approved while eligible, but the eligible binding is gone by the
	// time of the grant.
	_, err := f.p.Grant(context.Background(), f.grantReq("req_gone", alice, "activate", "projects/prod-app:roles/compute.viewer", time.Hour))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "eligible") {
		t.Fatalf("Grant without eligibility = %v, want a not-applied eligibility error", err)
	}
	if f.srv.Calls("setIamPolicy") != 0 {
		t.Errorf("the policy was written")
	}
}

func TestEligibilityDiscovery(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddGroup("group:sre@example.com", "user:"+alice, "user:"+bob, "user:"+carol)
	// Self-activation on the folder: every project and folder below.
	f.srv.AddBinding("folders/200", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	// Multi-party on one project, through a group and directly.
	f.srv.AddBinding("projects/prod-app", eligible("roles/logging.viewer", "group:sre@example.com", MultiPartyExpression))
	f.srv.AddBinding("projects/prod-app", eligible("roles/logging.viewer", "user:"+dave, MultiPartyExpression))
	// Someone only self-eligible for the same role is no peer.
	f.srv.AddBinding("projects/prod-app", eligible("roles/logging.viewer", "user:"+erin, SelfActivationExpression))
	// Eligible for a privileged role: never offered.
	f.srv.AddBinding("projects/prod-app", eligible("roles/resourcemanager.projectIamAdmin", "user:"+alice, SelfActivationExpression))
	// Outside the scope: never offered.
	f.srv.AddBinding("projects/other-proj", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	// An effective binding is not an eligible one.
	f.srv.AddBinding("projects/dev-app", gcptest.Binding{Role: "roles/pubsub.viewer", Members: []string{"user:" + alice}})

	got, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{Resource: "gcp-prod", User: alice})
	if err != nil {
		t.Fatalf("ListTargets: %v", err)
	}
	want := []string{
		"folders/200:roles/browser",
		"folders/200:roles/compute.viewer",
		"folders/300:roles/compute.viewer",
		"projects/dev-app:roles/compute.viewer",
		"projects/prod-app:roles/compute.viewer",
		"projects/prod-app:roles/logging.viewer",
	}
	if !reflect.DeepEqual(got.Targets, want) || got.Truncated {
		t.Errorf("ListTargets(alice) = %q (truncated %v), want %q", got.Targets, got.Truncated, want)
	}
	got, err = f.p.ListTargets(context.Background(), provider.ListTargetsRequest{Resource: "gcp-prod", User: alice, Parent: "projects/prod-app"})
	if err != nil {
		t.Fatalf("ListTargets(parent): %v", err)
	}
	if want := []string{"projects/prod-app:roles/compute.viewer", "projects/prod-app:roles/logging.viewer"}; !reflect.DeepEqual(got.Targets, want) {
		t.Errorf("ListTargets(alice, prod-app) = %q, want %q", got.Targets, want)
	}
	got, err = f.p.ListTargets(context.Background(), provider.ListTargetsRequest{Resource: "gcp-prod", User: erin})
	if err != nil {
		t.Fatalf("ListTargets(erin): %v", err)
	}
	if want := []string{"folders/200:roles/browser", "projects/prod-app:roles/logging.viewer"}; !reflect.DeepEqual(got.Targets, want) {
		t.Errorf("ListTargets(erin) = %q, want %q", got.Targets, want)
	}

	// Self-activation.
	resp, err := f.check("activate", alice, "projects/dev-app:roles/compute.viewer")
	if err != nil {
		t.Fatalf("Check self: %v", err)
	}
	if !reflect.DeepEqual(resp.Labels, []string{"gcp:self-activation"}) || len(resp.Peers) != 0 {
		t.Errorf("Check self = %+v, want label gcp:self-activation and no peers", resp)
	}
	if resp.Target != "projects/dev-app:roles/compute.viewer" || !strings.Contains(resp.Summary, "roles/compute.viewer on projects/dev-app") {
		t.Errorf("Check self target/summary = %q / %q", resp.Target, resp.Summary)
	}

	// Multi-party: the peers are the other holders, groups expanded.
	resp, err = f.check("activate", alice, "projects/prod-app:roles/logging.viewer")
	if err != nil {
		t.Fatalf("Check multi-party: %v", err)
	}
	if !reflect.DeepEqual(resp.Labels, []string{"gcp:multi-party"}) {
		t.Errorf("labels = %q, want gcp:multi-party", resp.Labels)
	}
	if want := []string{bob, carol, dave}; !reflect.DeepEqual(resp.Peers, want) {
		t.Errorf("peers = %q, want %q", resp.Peers, want)
	}
	// Eligible both ways: self-activation wins.
	f.srv.AddBinding("folders/300", eligible("roles/logging.viewer", "user:"+dave, SelfActivationExpression))
	resp, err = f.check("activate", dave, "projects/prod-app:roles/logging.viewer")
	if err != nil || !reflect.DeepEqual(resp.Labels, []string{"gcp:self-activation"}) || resp.Peers != nil {
		t.Errorf("Check dave = %+v, %v; want self-activation without peers", resp, err)
	}

	// Not eligible for that role there.
	_, err = f.check("activate", alice, "projects/dev-app:roles/logging.viewer")
	wantRefused(t, err, "not eligible")
	_, err = f.check("activate", erin, "projects/dev-app:roles/compute.viewer")
	wantRefused(t, err, "not eligible")
	// An effective binding does not make anyone eligible.
	_, err = f.check("activate", alice, "projects/dev-app:roles/pubsub.viewer")
	wantRefused(t, err, "not eligible")
	// Eligible, but privileged.
	_, err = f.check("activate", alice, "projects/prod-app:roles/resourcemanager.projectIamAdmin")
	wantRefused(t, err, "roles/resourcemanager.projectIamAdmin")

	// A statically offered role needs no eligibility and has no labels.
	resp, err = f.check("activate", erin, "projects/dev-app:roles/browser")
	if err != nil || resp.Labels != nil || resp.Peers != nil {
		t.Errorf("Check static = %+v, %v; want accepted without labels", resp, err)
	}
	resp, err = f.check("viewer", erin, "")
	if err != nil || resp.Target != "folders/200:roles/monitoring.viewer" {
		t.Errorf("Check level = %+v, %v; want target folders/200:roles/monitoring.viewer", resp, err)
	}

	// The multi-party activation, once approved, is granted.
	f.grant(t, "req_mpa", alice, "activate", "projects/prod-app:roles/logging.viewer", time.Hour)
	if !effective(t, f.srv, "projects/prod-app", "user:"+alice, "roles/logging.viewer", t0.Add(time.Minute)) {
		t.Errorf("the multi-party activation is not effective")
	}
}

func TestDiscoveryOff(t *testing.T) {
	f := newFixture(t, nil)
	s := defaultSettings()
	delete(s, "discover_eligible")
	f.p = f.provider(t, s)
	f.srv.AddBinding("folders/200", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	_, err := f.check("activate", alice, "projects/dev-app:roles/compute.viewer")
	wantRefused(t, err, "not offered")
	resp, err := f.check("activate", alice, "roles/browser")
	if err != nil || resp.Target != "folders/200:roles/browser" || resp.Labels != nil {
		t.Errorf("Check static = %+v, %v", resp, err)
	}
	got, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice})
	if err != nil || !reflect.DeepEqual(got.Targets, []string{"folders/200:roles/browser"}) {
		t.Errorf("ListTargets = %+v, %v", got, err)
	}
	if f.srv.Calls("analyzeIamPolicy") != 0 {
		t.Errorf("the Cloud Asset API was asked with discovery off")
	}
}

func TestMemberTemplate(t *testing.T) {
	f := newFixture(t, nil)
	s := defaultSettings()
	s["member"] = "serviceAccount:{local}-jit@tools.iam.gserviceaccount.com"
	s["email_domain"] = "example.com"
	f.p = f.provider(t, s)
	f.srv.AddBinding("folders/200", eligible("roles/compute.viewer", "serviceAccount:alice-jit@tools.iam.gserviceaccount.com", SelfActivationExpression))
	resp, err := f.check("activate", alice, "projects/prod-app:roles/compute.viewer")
	if err != nil || !reflect.DeepEqual(resp.Labels, []string{LabelSelfActivation}) {
		t.Fatalf("Check = %+v, %v", resp, err)
	}
	f.grant(t, "req_sa", alice, "activate", "projects/prod-app:roles/compute.viewer", time.Hour)
	bs := jitBindings(f.srv, "projects/prod-app", "req_sa")
	if len(bs) != 1 || !reflect.DeepEqual(bs[0].Members, []string{"serviceAccount:alice-jit@tools.iam.gserviceaccount.com"}) {
		t.Fatalf("bindings = %+v", bs)
	}
	l, err := f.p.List(context.Background(), provider.ListRequest{})
	if err != nil || len(l.Grants) != 1 || l.Grants[0].User != alice {
		t.Errorf("List = %+v, %v; want req_sa for %s", l, err, alice)
	}
}

// TestMemberTemplateDomain: with {local}, a requester of another domain
// would be mapped onto the member of the person of the same name in
// email_domain; such requests are refused and nothing is written.
func TestMemberTemplateDomain(t *testing.T) {
	f := newFixture(t, nil)
	s := defaultSettings()
	s["member"] = "user:{local}@gcp.example.com"
	if _, err := NewWithOptions(provider.Resource{Name: "gcp-prod", Type: Type, Settings: s, Access: []string{"viewer", "activate"}}, Options{ClientOptions: f.srv.ClientOptions()}); err == nil || !strings.Contains(err.Error(), "email_domain") {
		t.Fatalf("{local} without email_domain: err = %v, want an email_domain error", err)
	}
	s["email_domain"] = "Example.COM"
	f.p = f.provider(t, s)

	const outsider = "alice@partner.example"
	_, err := f.check("viewer", outsider, "")
	wantRefused(t, err, "not an address of example.com")
	_, err = f.p.Grant(context.Background(), f.grantReq("req_outsider", outsider, "viewer", "", time.Hour))
	if err == nil || !provider.IsNotApplied(err) {
		t.Fatalf("Grant for %s = %v, want a not-applied refusal", outsider, err)
	}
	if got := f.srv.Calls("setIamPolicy"); got != 0 {
		t.Errorf("setIamPolicy called %d times for a refused requester", got)
	}
	// Listing targets for them is refused too, with the reason, with
	// discovery on or off.
	_, err = f.p.ListTargets(context.Background(), provider.ListTargetsRequest{Resource: "gcp-prod", User: outsider})
	wantRefused(t, err, "not an address of example.com")
	delete(s, "discover_eligible")
	_, err = f.provider(t, s).ListTargets(context.Background(), provider.ListTargetsRequest{Resource: "gcp-prod", User: outsider})
	wantRefused(t, err, "not an address of example.com")

	f.grant(t, "req_insider", "Alice@example.com", "viewer", "", time.Hour)
	bs := jitBindings(f.srv, "folders/200", "req_insider")
	if len(bs) != 1 || !reflect.DeepEqual(bs[0].Members, []string{"user:Alice@gcp.example.com"}) {
		t.Errorf("bindings = %+v, want one for user:Alice@gcp.example.com", bs)
	}
}

// TestPeersThroughTemplate: peers are found as Google Cloud members and
// must be mapped back to the people jit knows; the requester's own member
// (another spelling of the requester) is never a peer, nor is a member
// no requester would be given.
func TestPeersThroughTemplate(t *testing.T) {
	f := newFixture(t, nil)
	s := defaultSettings()
	s["member"] = "user:{local}@gcp.example.com"
	s["email_domain"] = "example.com"
	f.p = f.provider(t, s)
	f.srv.AddGroup("group:sre@gcp.example.com", "user:alice@gcp.example.com", "user:Bob@gcp.example.com", "user:mallory@partner.example")
	f.srv.AddBinding("projects/prod-app", eligible("roles/logging.viewer", "group:sre@gcp.example.com", MultiPartyExpression))
	f.srv.AddBinding("projects/prod-app", eligible("roles/logging.viewer", "serviceAccount:carol@gcp.example.com", MultiPartyExpression))

	resp, err := f.check("activate", alice, "projects/prod-app:roles/logging.viewer")
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if want := []string{bob}; !reflect.DeepEqual(resp.Peers, want) {
		t.Errorf("peers = %q, want %q (alice@gcp.example.com is the requester herself)", resp.Peers, want)
	}
}

func TestList(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddBinding("projects/prod-app", gcptest.Binding{Role: "roles/compute.viewer", Members: []string{"user:" + erin}, Condition: &gcptest.Condition{
		Title: ActivationTitle, Description: "Self-approved, justification: x", Expression: ActivationExpression(t0, t0.Add(time.Hour))}})
	ra := f.grant(t, "req_p", alice, "activate", "projects/prod-app:roles/browser", time.Hour)
	f.grant(t, "req_d", bob, "activate", "projects/dev-app:roles/browser", 2*time.Hour)
	f.grant(t, "req_s", carol, "viewer", "", time.Hour)

	l, err := f.p.List(context.Background(), provider.ListRequest{Resource: "gcp-prod"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got := map[string]provider.ListedGrant{}
	for _, g := range l.Grants {
		got[g.RequestID] = g
	}
	if len(got) != 3 || got["req_p"].User != alice || got["req_d"].User != bob || got["req_s"].User != carol {
		t.Fatalf("List = %+v, want req_p, req_d, req_s", l.Grants)
	}
	if e := got["req_d"].ExpiresAt; e == nil || !e.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("req_d expires %v, want %s", e, t0.Add(2*time.Hour))
	}
	f.revoke(t, "req_p", "", ra.Handle)
	l, err = f.p.List(context.Background(), provider.ListRequest{})
	if err != nil || len(l.Grants) != 2 || slices.ContainsFunc(l.Grants, func(g provider.ListedGrant) bool { return g.RequestID == "req_p" }) {
		t.Errorf("List after revoking req_p = %+v, %v", l.Grants, err)
	}

	// A listing that cannot be completed is an error, not a short list.
	f.srv.InjectFault(func(method, _ string) *gcptest.APIError {
		if method == "searchAllIamPolicies" {
			return &gcptest.APIError{Code: 500, Status: "INTERNAL", Message: "injected"}
		}
		return nil
	})
	if _, err := f.p.List(context.Background(), provider.ListRequest{}); err == nil {
		t.Errorf("List with a failing search succeeded")
	}
}

func TestConformance(t *testing.T) {
	for _, scope := range []string{"projects/prod-app", "folders/200"} {
		t.Run(scope, func(t *testing.T) {
			srv := newServer(t)
			resource := map[string]string{"projects/prod-app": "projects/prod-app", "folders/200": "folders/200"}[scope]
			providertest.Run(t, providertest.Harness{
				New: func(t *testing.T) provider.Provider {
					p, err := NewWithOptions(provider.Resource{Name: "gcp-conf", Type: Type,
						Settings: map[string]any{"scope": scope, "levels": map[string]any{"viewer": "roles/monitoring.viewer"}},
						Access:   []string{"viewer"}}, Options{ClientOptions: srv.ClientOptions()})
					if err != nil {
						t.Fatalf("NewWithOptions: %v", err)
					}
					return p
				},
				Resource: "gcp-conf",
				Access:   "viewer",
				User:     "conformance@example.com",
				Present: func(t *testing.T, requestID string) bool {
					bs := jitBindings(srv, resource, requestID)
					if len(bs) > 1 {
						t.Errorf("%s has %d bindings", requestID, len(bs))
					}
					return len(bs) == 1 && effective(t, srv, resource, "user:conformance@example.com", "roles/monitoring.viewer", time.Now())
				},
			})
		})
	}
}

func TestCheckErrors(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddBinding("folders/200", eligible("roles/compute.viewer", "user:"+alice, SelfActivationExpression))
	for _, method := range []string{"analyzeIamPolicy", "projects.get", "roles.get"} {
		t.Run(method, func(t *testing.T) {
			f.srv.InjectFault(func(m, _ string) *gcptest.APIError {
				if m == method {
					return &gcptest.APIError{Code: 500, Status: "INTERNAL", Message: "injected"}
				}
				return nil
			})
			defer f.srv.InjectFault(nil)
			f.srv.AddCustomRole("projects/prod-app/roles/reader", "storage.objects.get")
			target := "projects/prod-app:roles/compute.viewer"
			if method == "roles.get" {
				target = "projects/prod-app:projects/prod-app/roles/reader"
			}
			_, err := f.check("activate", alice, target)
			var re *provider.RefusedError
			if err == nil || errors.As(err, &re) {
				t.Fatalf("Check with %s failing = %v, want an error that is not a refusal", method, err)
			}
		})
	}
	_, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice, Parent: "projects/Bad"})
	wantRefused(t, err, "project ID")
	f.srv.InjectFault(func(m, _ string) *gcptest.APIError {
		return &gcptest.APIError{Code: 500, Status: "INTERNAL", Message: "injected"}
	})
	if _, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice}); err == nil {
		t.Errorf("ListTargets with the API failing succeeded")
	}
	if _, err := f.p.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_x"}); err == nil {
		t.Errorf("Verify with the API failing succeeded")
	}
}

func TestHostileInputs(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.AddCustomRole("projects/prod-app/roles/reader", "storage.objects.get", "storage.objects.list")
	f.srv.AddCustomRole("projects/prod-app/roles/sneaky", "storage.objects.get", "resourcemanager.projects.setIamPolicy")
	f.srv.AddCustomRole("organizations/100/roles/actas", "iam.serviceAccounts.actAs")
	f.srv.AddCustomRole("projects/prod-app/roles/old", "storage.objects.get")
	f.srv.DeleteCustomRole("projects/prod-app/roles/old")
	// (IAM holds no conditional binding of roles/owner or roles/editor, so
	// no one is eligible for them; they are refused all the same.)
	for _, r := range []string{"roles/iam.serviceAccountTokenCreator", "roles/resourcemanager.projectIamAdmin",
		"roles/resourcemanager.folderAdmin", "roles/compute.viewer"} {
		f.srv.AddBinding("folders/200", eligible(r, "user:"+alice, SelfActivationExpression))
	}
	for _, r := range []string{"projects/prod-app/roles/sneaky", "organizations/100/roles/actas", "projects/prod-app/roles/old", "projects/prod-app/roles/missing", "projects/prod-app/roles/reader"} {
		f.srv.AddBinding("projects/prod-app", eligible(r, "user:"+alice, SelfActivationExpression))
	}
	before := map[string]gcptest.Policy{}
	resources := []string{"organizations/100", "folders/200", "folders/300", "projects/prod-app", "projects/dev-app", "projects/other-proj", "projects/org-tools"}
	for _, r := range resources {
		before[r] = f.srv.Policy(r)
	}

	long := "projects/prod-app:roles/" + strings.Repeat("a", 600)
	tests := []struct {
		access, user, target, want string
	}{
		{"activate", alice, "projects/prod-app:roles/owner", "owner role"},
		{"activate", alice, "projects/prod-app:roles/Owner", "roles/Owner is refused"},
		{"activate", alice, "projects/prod-app:roles/editor", "editor role"},
		{"activate", alice, "projects/prod-app:roles/viewer", "basic role"},
		{"activate", alice, "roles/iam.serviceAccountTokenCreator", "roles/iam."},
		{"activate", alice, "projects/prod-app:roles/resourcemanager.projectIamAdmin", "resourcemanager"},
		{"activate", alice, "folders/300:roles/resourcemanager.folderAdmin", "resourcemanager"},
		{"activate", alice, "projects/prod-app:projects/prod-app/roles/sneaky", "resourcemanager.projects.setIamPolicy"},
		{"activate", alice, "projects/prod-app:organizations/100/roles/actas", "iam.serviceAccounts.actAs"},
		{"activate", alice, "projects/prod-app:projects/prod-app/roles/old", "deleted"},
		{"activate", alice, "projects/prod-app:projects/prod-app/roles/missing", "does not exist"},
		{"activate", alice, "folders/300:projects/prod-app/roles/reader", "belongs to a project"},
		// Malformed.
		{"activate", alice, "projects/../roles/viewer", "is not RESOURCE:ROLE"},
		{"activate", alice, "projects/PROD-APP:roles/browser", "not a project ID"},
		{"activate", alice, "projects/prod-app:roles/browser\n", "control"},
		{"activate", alice, "projects/prod-app:roles/browser extra", "space"},
		{"activate", alice, "projects/prod-app:roles/", "not a valid role"},
		{"activate", alice, "folders/abc:roles/browser", "folder is named by its number"},
		{"activate", alice, "projects/prod-app:roles/browser:x", "not a project ID"},
		{"activate", alice, "projects/prod-app/roles/browser", "belongs to a project"},
		{"activate", alice, "buckets/x:roles/browser", "not projects/ID"},
		{"activate", alice, long, "longer than"},
		{"activate", alice, "projects/prod-app", "needs a role"},
		{"activate", alice, "", "needs a role"},
		// Outside the scope.
		{"activate", alice, "projects/other-proj:roles/browser", "not folders/200"},
		{"activate", alice, "projects/org-tools:roles/browser", "not folders/200"},
		{"activate", alice, "organizations/100:roles/browser", "not folders/200"},
		{"activate", alice, "projects/no-such-project:roles/browser", "not folders/200"},
		{"activate", alice, "folders/999999:roles/browser", "not folders/200"},
		// Levels and users.
		{"viewer", alice, "projects/prod-app:roles/browser", "activates roles/monitoring.viewer"},
		{"admin", alice, "roles/browser", "no access level"},
		{"activate", "alice", "roles/browser", "not an email"},
		{"activate", "alice@example.com\nbob@example.com", "roles/browser", "not an email"},
		{"activate", "", "roles/browser", "user is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			_, err := f.check(tt.access, tt.user, tt.target)
			wantRefused(t, err, tt.want)
			_, err = f.p.Grant(context.Background(), provider.GrantRequest{RequestID: "req_hostile", User: tt.user, Access: tt.access, Target: tt.target, ExpiresAt: t0.Add(time.Hour)})
			if err == nil || !provider.IsNotApplied(err) {
				t.Fatalf("Grant = %v, want a not-applied error", err)
			}
		})
	}
	for _, r := range resources {
		samePolicy(t, "after hostile requests on "+r, f.srv.Policy(r), before[r])
	}
	if n := f.srv.Calls("setIamPolicy"); n != 0 {
		t.Errorf("setIamPolicy was called %d times", n)
	}

	// A harmless custom role the person is eligible for is fine, on a
	// project named by number too.
	if _, err := f.check("activate", alice, "projects/prod-app:projects/prod-app/roles/reader"); err != nil {
		t.Errorf("Check of a harmless custom role: %v", err)
	}
	if _, err := f.check("activate", alice, "projects/1001:roles/browser"); err != nil {
		t.Errorf("Check of a project named by number: %v", err)
	}
}

func TestAllowRoles(t *testing.T) {
	f := newFixture(t, nil)
	s := defaultSettings()
	s["allow_roles"] = []any{"roles/iam.securityReviewer", "projects/prod-app/roles/sneaky"}
	s["roles"] = []any{"roles/browser", "roles/iam.securityReviewer"}
	f.p = f.provider(t, s)
	f.srv.AddCustomRole("projects/prod-app/roles/sneaky", "resourcemanager.projects.setIamPolicy")
	f.srv.AddBinding("projects/prod-app", eligible("projects/prod-app/roles/sneaky", "user:"+alice, MultiPartyExpression))
	if _, err := f.check("activate", alice, "roles/iam.securityReviewer"); err != nil {
		t.Errorf("allowed role refused: %v", err)
	}
	if _, err := f.check("activate", alice, "projects/prod-app:projects/prod-app/roles/sneaky"); err != nil {
		t.Errorf("allowed custom role refused: %v", err)
	}
	// Listed too once allowed.
	got, err := f.p.ListTargets(context.Background(), provider.ListTargetsRequest{User: alice, Parent: "projects/prod-app"})
	if err != nil || !slices.Contains(got.Targets, "projects/prod-app:projects/prod-app/roles/sneaky") {
		t.Errorf("ListTargets = %+v, %v", got, err)
	}
	// Allowing one role allows no other.
	_, err = f.check("activate", alice, "roles/iam.securityAdmin")
	wantRefused(t, err, "roles/iam.")
}

func TestCancelledContext(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.p.Grant(ctx, f.grantReq("req_cancel", alice, "viewer", "", time.Hour)); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant = %v, want a not-applied error", err)
	}
	if _, err := f.p.Check(ctx, provider.CheckRequest{User: alice, Access: "viewer"}); err == nil {
		t.Errorf("Check with a cancelled context succeeded")
	}
	if n := f.srv.Calls("setIamPolicy"); n != 0 {
		t.Errorf("setIamPolicy calls = %d", n)
	}
}

func TestProjectScope(t *testing.T) {
	f := newFixture(t, nil)
	f.p = f.provider(t, map[string]any{"scope": "projects/prod-app", "roles": []any{"roles/browser"}})
	// The same project by number is the scope.
	resp, err := f.check("activate", alice, "projects/1001:roles/browser")
	if err != nil || resp.Target != "projects/1001:roles/browser" {
		t.Fatalf("Check by project number = %+v, %v", resp, err)
	}
	// A project has nothing under it.
	for _, target := range []string{"projects/dev-app:roles/browser", "folders/300:roles/browser", "projects/1002:roles/browser"} {
		_, err := f.check("activate", alice, target)
		wantRefused(t, err, "not projects/prod-app")
	}
	// The scope itself needs no hierarchy lookup.
	before := f.srv.Calls("projects.get")
	if _, err := f.check("activate", alice, "roles/browser"); err != nil {
		t.Fatalf("Check on the scope: %v", err)
	}
	if f.srv.Calls("projects.get") != before {
		t.Errorf("the hierarchy was read for the scope itself")
	}
	g := f.grant(t, "req_num", alice, "activate", "projects/1001:roles/browser", time.Hour)
	if len(jitBindings(f.srv, "projects/prod-app", "req_num")) != 1 {
		t.Fatalf("no binding after a grant on the project by number")
	}
	f.revoke(t, "req_num", "", g.Handle)
	if len(jitBindings(f.srv, "projects/prod-app", "req_num")) != 0 {
		t.Fatalf("binding left after revoke")
	}
}
