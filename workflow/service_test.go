package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"
)

// target is a provider for these tests whose behaviour the test controls:
// it keeps granted access in a map and fails as told.
type target struct {
	mu          sync.Mutex
	access      map[string]time.Time // request ID → expiry
	grantErrs   []error              // returned by successive Grant calls
	revokeErrs  []error
	grantCalls  int
	revokeCalls int
	// onGrant runs inside Grant, after the access is created.
	onGrant func()
}

var targets sync.Map // resource name → *target

func init() {
	provider.Register("wftest", func(r provider.Resource) (provider.Provider, error) {
		t, _ := targets.LoadOrStore(r.Name, &target{access: map[string]time.Time{}})
		return t.(*target), nil
	})
}

func (t *target) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.grantCalls++
	if len(t.grantErrs) > 0 {
		err := t.grantErrs[0]
		t.grantErrs = t.grantErrs[1:]
		if err != nil {
			return provider.GrantResponse{}, err
		}
	}
	t.access[req.RequestID] = req.ExpiresAt
	if t.onGrant != nil {
		t.mu.Unlock()
		t.onGrant()
		t.mu.Lock()
	}
	return provider.GrantResponse{Handle: json.RawMessage(`{"id":"` + req.RequestID + `"}`)}, nil
}

func (t *target) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.revokeCalls++
	if len(t.revokeErrs) > 0 {
		err := t.revokeErrs[0]
		t.revokeErrs = t.revokeErrs[1:]
		if err != nil {
			return provider.RevokeResponse{}, err
		}
	}
	delete(t.access, req.RequestID)
	return provider.RevokeResponse{}, nil
}

func (t *target) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.access[req.RequestID]
	return provider.VerifyResponse{Present: ok}, nil
}

func (t *target) has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.access[id]
	return ok
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      *testing.T
	svc    *workflow.Service
	store  jit.Store
	clock  *clock
	target *target
	holder *policy.Holder
}

const basePolicy = `
server: {lapse_after: 2h, grant_attempts: 3, revoke_max_backoff: 5m}
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: dave@example.com, groups: [sre]}
  - {email: erin@example.com, groups: [engineering]}
resources:
  - name: RES
    provider: wftest
    access: [{name: read}, {name: write}]
    default_access: read
rules:
  - name: read-auto
    requesters: {groups: [engineering]}
    resources: [RES]
    access: [read]
    max_duration: 4h
    reason: {required: true}
    approvers: {groups: [sre]}
    auto_approve: {max_duration: 1h}
  - name: write-two-sre
    requesters: {groups: [engineering]}
    resources: [RES]
    access: [write]
    max_duration: 2h
    reason: {required: true, pattern: "^INC-[0-9]+"}
    approvers: {groups: [sre]}
    approvals: 2
  - name: peers
    requesters: {groups: [engineering]}
    resources: [RES]
    access: [read]
    max_duration: 8h
    approvers: {peers: true}
`

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the service's Config adjusted by configure.
func newEnvWith(t *testing.T, configure func(*workflow.Config)) *env {
	t.Helper()
	res := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	// A fresh target per run, also when a test runs again (-count).
	targets.Store(res, &target{access: map[string]time.Time{}})
	pol, err := policy.Parse("test.yaml", []byte(strings.ReplaceAll(basePolicy, "RES", res)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	holder := policy.NewHolder(pol)
	cfg := workflow.Config{Store: st, Policy: holder, Clock: clk}
	if configure != nil {
		configure(&cfg)
	}
	svc, err := workflow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := targets.Load(res)
	return &env{t: t, svc: svc, store: st, clock: clk, target: tg.(*target), holder: holder}
}

func as(email string) context.Context {
	groups := map[string][]string{"alice@example.com": {"engineering"}, "erin@example.com": {"engineering"},
		"bob@example.com": {"sre"}, "dave@example.com": {"sre"}}[email]
	ctx := jit.WithIdentity(context.Background(), jit.Identity{Email: email, Groups: groups, Admin: email == "carol@example.com"})
	return jit.WithSource(ctx, jit.Source{Kind: "api", IP: "127.0.0.1"})
}

func (e *env) resource() string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(e.t.Name()))
}

// runDue runs every job due now, as the scheduler would, until none is due.
func (e *env) runDue() int {
	e.t.Helper()
	n := 0
	for {
		jobs, err := e.store.ClaimJobs(context.Background(), jit.ClaimParams{Owner: "test", Now: e.clock.Now(), Lease: time.Minute, Limit: 10})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(jobs) == 0 {
			return n
		}
		for _, j := range jobs {
			if err := e.svc.RunJob(context.Background(), j); err != nil {
				e.t.Fatalf("job %s: %v", j.Key, err)
			}
			n++
		}
	}
}

func (e *env) get(id string) *jit.Request {
	e.t.Helper()
	r, err := e.store.GetRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) submit(who string, in workflow.SubmitInput) *jit.Request {
	e.t.Helper()
	if in.Resource == "" {
		in.Resource = e.resource()
	}
	r, err := e.svc.Submit(as(who), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestAutoApprovedGrantExpires(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 30 * time.Minute, Reason: "look"})
	if r.Status != jit.StatusApproved || !r.AutoApproved || r.Rule != "read-auto" {
		t.Fatalf("submit: %+v", r)
	}
	e.runDue()
	a := e.get(r.ID)
	if a.Status != jit.StatusActive || !a.ExpiresAt.Equal(e.clock.Now().Add(30*time.Minute)) || !e.target.has(r.ID) {
		t.Fatalf("after grant: %+v", a)
	}
	e.clock.Add(29 * time.Minute)
	if e.runDue() != 0 || e.get(r.ID).Status != jit.StatusActive {
		t.Fatal("expired early")
	}
	e.clock.Add(time.Minute)
	e.runDue()
	x := e.get(r.ID)
	if x.Status != jit.StatusExpired || e.target.has(r.ID) || x.EndedBy != jit.SystemActor {
		t.Fatalf("after expiry: %+v (target has it: %v)", x, e.target.has(r.ID))
	}
}

func TestMultiPartyApproval(t *testing.T) {
	e := newEnv(t)
	in := workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: "INC-1"}
	r := e.submit("alice@example.com", in)
	if r.Status != jit.StatusPending || r.ApprovalsRequired != 2 {
		t.Fatalf("submit: %+v", r)
	}
	// erin is neither an approver nor the requester: to her the request
	// does not exist.
	if _, err := e.svc.Approve(as("erin@example.com"), r.ID, ""); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("erin (not sre) approving: %v", err)
	}
	if _, err := e.svc.Approve(as("bob@example.com"), r.ID, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Approve(as("bob@example.com"), r.ID, "two"); jit.ErrorCode(err) != jit.ECodeAlreadyApproved {
		t.Fatalf("bob approving twice: %v", err)
	}
	if e.runDue() != 0 || e.get(r.ID).Status != jit.StatusPending {
		t.Fatal("one approval of two started the grant")
	}
	a, err := e.svc.Approve(as("dave@example.com"), r.ID, "")
	if err != nil || a.Status != jit.StatusApproved {
		t.Fatalf("second approval: %+v %v", a, err)
	}
	e.runDue()
	if e.get(r.ID).Status != jit.StatusActive {
		t.Fatal("not active after two approvals")
	}
}

func TestConcurrentApprovalsBothCount(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: "INC-2"})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []string{"bob@example.com", "dave@example.com"} {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = e.svc.Approve(as(who), r.ID, "") }()
	}
	wg.Wait()
	if errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	if got := e.get(r.ID); got.Status != jit.StatusApproved || got.ApprovalCount() != 2 {
		t.Fatalf("after concurrent approvals: %s with %d approvals", got.Status, got.ApprovalCount())
	}
}

func TestPeerApproval(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 6 * time.Hour})
	if r.Rule != "peers" || r.Status != jit.StatusPending {
		t.Fatalf("submit: %+v", r)
	}
	if _, err := e.svc.Approve(as("bob@example.com"), r.ID, ""); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("bob is not a peer: %v", err)
	}
	if _, err := e.svc.Approve(as("carol@example.com"), r.ID, ""); jit.ErrorCode(err) != jit.ECodeNotApprover {
		t.Fatalf("carol (admin, sees everything) is not a peer: %v", err)
	}
	if _, err := e.svc.Approve(as("alice@example.com"), r.ID, ""); jit.ErrorCode(err) != jit.ECodeSelfApproval {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := e.svc.Approve(as("erin@example.com"), r.ID, "peer ok"); err != nil {
		t.Fatal(err)
	}
}

func TestPendingRequestLapses(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: "INC-3"})
	e.clock.Add(2*time.Hour - time.Second)
	e.runDue()
	if e.get(r.ID).Status != jit.StatusPending {
		t.Fatal("lapsed early")
	}
	e.clock.Add(time.Second)
	e.runDue()
	l := e.get(r.ID)
	if l.Status != jit.StatusLapsed || !strings.Contains(l.EndReason, "no decision") {
		t.Fatalf("after lapse time: %+v", l)
	}
	if _, err := e.svc.Approve(as("bob@example.com"), r.ID, ""); jit.ErrorCode(err) != jit.ECodeInvalidState {
		t.Fatalf("approving a lapsed request: %v", err)
	}
}

func TestGrantRetriesThenFails(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("target unreachable")
	e.target.grantErrs = []error{provider.NotApplied(boom), provider.NotApplied(boom), provider.NotApplied(boom)}
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: time.Hour, Reason: "x"})
	e.runDue()
	if e.get(r.ID).Status != jit.StatusGranting {
		t.Fatal("want granting while retrying")
	}
	for i := 0; i < 5; i++ {
		e.clock.Add(2 * time.Minute)
		e.runDue()
	}
	f := e.get(r.ID)
	if f.Status != jit.StatusFailed || !strings.Contains(f.EndReason, "target unreachable") || !strings.Contains(f.EndReason, "3 attempts") {
		t.Fatalf("after retries: %+v", f)
	}
	if e.target.grantCalls != 3 {
		t.Fatalf("grant called %d times, want 3 (grant_attempts)", e.target.grantCalls)
	}
	// NotApplied errors prove nothing was created: no clean-up revoke.
	if e.target.revokeCalls != 0 {
		t.Fatalf("clean-up revoke after certain failures: %d calls", e.target.revokeCalls)
	}
}

func TestAmbiguousGrantFailureIsCleanedUp(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("timeout after sending")
	e.target.grantErrs = []error{boom, boom, boom}
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: time.Hour, Reason: "x"})
	for i := 0; i < 6; i++ {
		e.runDue()
		e.clock.Add(2 * time.Minute)
	}
	if e.get(r.ID).Status != jit.StatusFailed || e.target.revokeCalls != 1 {
		t.Fatalf("status %s, revoke calls %d; want failed and one clean-up revoke", e.get(r.ID).Status, e.target.revokeCalls)
	}
}

func TestRevokeNeverGivesUp(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 10 * time.Minute, Reason: "x"})
	e.runDue()
	for i := 0; i < 20; i++ {
		e.target.revokeErrs = append(e.target.revokeErrs, errors.New("target down"))
	}
	e.clock.Add(10 * time.Minute)
	for i := 0; i < 60 && e.get(r.ID).Status != jit.StatusExpired; i++ {
		e.runDue()
		jobs, _ := e.store.ListJobs(context.Background(), jit.JobRevoke, 10)
		if len(jobs) == 1 && jobs[0].RunAt.Sub(e.clock.Now()) > 6*time.Minute {
			t.Fatalf("revoke backoff %s is over the 5m cap", jobs[0].RunAt.Sub(e.clock.Now()))
		}
		e.clock.Add(5 * time.Minute)
	}
	if got := e.get(r.ID); got.Status != jit.StatusExpired || e.target.has(r.ID) {
		t.Fatalf("revoke gave up: %s", got.Status)
	}
	if e.target.revokeCalls != 21 {
		t.Fatalf("revoke calls %d, want 21", e.target.revokeCalls)
	}
	overdue, err := e.store.ListAudit(context.Background(), jit.AuditFilter{Action: jit.ActionOverdue})
	if err != nil || len(overdue) != 20 || overdue[0].RequestID != r.ID {
		t.Fatalf("overdue events: %d %v", len(overdue), err)
	}
}

func TestOverdueCount(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 10 * time.Minute, Reason: "x"})
	e.runDue()
	e.target.revokeErrs = []error{errors.New("down")}
	e.clock.Add(10 * time.Minute)
	e.runDue()
	e.clock.Add(10 * time.Second)
	if n, err := e.svc.CountOverdue(context.Background()); err != nil || n != 1 {
		t.Fatalf("overdue %d %v, want 1", n, err)
	}
	e.clock.Add(5 * time.Minute)
	e.runDue()
	if n, _ := e.svc.CountOverdue(context.Background()); n != 0 || e.get(r.ID).Status != jit.StatusExpired {
		t.Fatalf("overdue %d after the revoke went through", n)
	}
}

func TestPolicyChangeBeforeGrantFailsRequest(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: "INC-5"})
	for _, who := range []string{"bob@example.com", "dave@example.com"} {
		if _, err := e.svc.Approve(as(who), r.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Before the grant job runs, policy stops allowing write.
	p2, err := policy.Parse("p2.yaml", []byte(strings.ReplaceAll(strings.ReplaceAll(basePolicy, "RES", e.resource()), "access: [write]", "access: [read]")))
	if err != nil {
		t.Fatal(err)
	}
	e.holder.Swap(p2)
	e.runDue()
	f := e.get(r.ID)
	if f.Status != jit.StatusFailed || !strings.Contains(f.EndReason, "no longer allowed") || e.target.grantCalls != 0 {
		t.Fatalf("after policy change: %+v, grant calls %d", f, e.target.grantCalls)
	}
}

func TestApproverMustStillBeEligible(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: "INC-6"})
	p2, err := policy.Parse("p2.yaml", []byte(strings.ReplaceAll(strings.ReplaceAll(basePolicy, "RES", e.resource()),
		"  - {email: bob@example.com, groups: [sre]}", "  - {email: bob@example.com, groups: [sales]}")))
	if err != nil {
		t.Fatal(err)
	}
	e.holder.Swap(p2)
	// bob's session still says sre, but config no longer does; identity
	// is resolved per call, so build it as the HTTP layer would.
	bob := jit.WithIdentity(context.Background(), e.svc.ResolveIdentity("bob@example.com", nil, "token"))
	if _, err := e.svc.Approve(bob, r.ID, ""); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("approver no longer in sre: %v", err)
	}
}

func TestRequestsAreVisibleOnlyToThoseConcerned(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: "INC-7"})
	for who, visible := range map[string]bool{"alice@example.com": true, "bob@example.com": true, "carol@example.com": true, "erin@example.com": false} {
		_, err := e.svc.Get(as(who), r.ID)
		if visible != (err == nil) {
			t.Errorf("%s: visible=%v, err=%v", who, visible, err)
		}
		if !visible && jit.ErrorCode(err) != jit.ECodeNotFound {
			t.Errorf("%s: want not_found, got %v", who, err)
		}
	}
	if _, err := e.svc.Cancel(as("bob@example.com"), r.ID); jit.ErrorCode(err) != jit.ECodeForbidden {
		t.Fatalf("bob cancelling alice's request: %v", err)
	}
	page, err := e.svc.List(as("bob@example.com"), workflow.ListInput{Scope: workflow.ScopePending})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("bob's pending: %+v %v", page, err)
	}
	page, err = e.svc.List(as("erin@example.com"), workflow.ListInput{Scope: workflow.ScopePending})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("erin's pending: %+v %v", page, err)
	}
	if _, err := e.svc.Audit(as("erin@example.com"), jit.AuditFilter{}); jit.ErrorCode(err) != jit.ECodeForbidden {
		t.Fatalf("erin reading the whole audit log: %v", err)
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, e.submit("alice@example.com", workflow.SubmitInput{Access: "write", Duration: time.Hour, Reason: fmt.Sprintf("INC-%d", i)}).ID)
		e.clock.Add(time.Second)
	}
	var got []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		p, err := e.svc.List(as("bob@example.com"), workflow.ListInput{Scope: workflow.ScopePending, Limit: 3, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			got = append(got, r.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(got) != 7 || got[0] != ids[6] || got[6] != ids[0] {
		t.Fatalf("paged %v, want newest first %v", got, ids)
	}
}

func TestAuditChainCoversLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 20 * time.Minute, Reason: "x"})
	e.runDue()
	if _, err := e.svc.Relinquish(as("alice@example.com"), r.ID); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	evs, err := e.store.ListAudit(context.Background(), jit.AuditFilter{RequestID: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if got, want := strings.Join(actions, " "), "submit auto_approve grant_start grant relinquish revoke_done"; got != want {
		t.Fatalf("actions %q, want %q", got, want)
	}
	res, err := audit.Verify(context.Background(), e.store)
	if err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	// The relinquished grant's expiry job is gone with it.
	if jobs, _ := e.store.ListJobs(context.Background(), "", 10); len(jobs) != 0 {
		t.Fatalf("jobs left: %+v", jobs)
	}
}

func (e *env) swapPolicy(edit func(string) string) {
	e.t.Helper()
	p, err := policy.Parse("edited.yaml", []byte(edit(strings.ReplaceAll(basePolicy, "RES", e.resource()))))
	if err != nil {
		e.t.Fatal(err)
	}
	e.holder.Swap(p)
}

// Removing the requester from the group that allowed a grant ends it: the
// groups config gave at submit are not frozen into the request.
func TestRemovingRequesterFromGroupRevokesGrant(t *testing.T) {
	e := newEnv(t)
	alice := jit.WithIdentity(context.Background(), e.svc.ResolveIdentity("alice@example.com", nil, "token"))
	r, err := e.svc.Submit(alice, workflow.SubmitInput{Resource: e.resource(), Duration: 30 * time.Minute, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	e.runDue()
	if len(e.get(r.ID).RequesterGroups) != 0 {
		t.Fatalf("config groups recorded with the request: %v", e.get(r.ID).RequesterGroups)
	}
	e.swapPolicy(func(s string) string {
		return strings.Replace(s, "{email: alice@example.com, groups: [engineering]}", "{email: alice@example.com, groups: [sales]}", 1)
	})
	if err := e.svc.RevokeDisallowed(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	if got := e.get(r.ID); got.Status != jit.StatusRevoked || !strings.Contains(got.EndReason, "no longer allowed") || e.target.has(r.ID) {
		t.Fatalf("after group removal: %s %q", got.Status, got.EndReason)
	}
}

// Groups asserted by a credential (a proxy JWT's claim) are recorded, and
// count for admin rights as config groups do.
func TestClaimGroups(t *testing.T) {
	e := newEnv(t)
	e.swapPolicy(func(s string) string {
		return strings.Replace(s, "admins: [carol@example.com]", "admins: [carol@example.com, \"group:secops\"]", 1)
	})
	zed := e.svc.ResolveIdentity("zed@example.com", []string{"engineering", "secops"}, "proxy-jwt")
	if !zed.Admin || len(zed.ClaimGroups) != 2 {
		t.Fatalf("identity from claims: %+v", zed)
	}
	r, err := e.svc.Submit(jit.WithIdentity(context.Background(), zed), workflow.SubmitInput{Resource: e.resource(), Duration: 30 * time.Minute, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get(r.ID).RequesterGroups; len(got) != 2 {
		t.Fatalf("claim groups not recorded: %v", got)
	}
	// Without the recorded claim, zed (unknown to config) could not be
	// re-checked as an engineer at grant time.
	e.runDue()
	if e.get(r.ID).Status != jit.StatusActive {
		t.Fatalf("grant for a claims-only requester: %s %q", e.get(r.ID).Status, e.get(r.ID).EndReason)
	}
}

// A rule tightened while a request waits applies to it.
func TestTightenedRuleRaisesApprovalCount(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 6 * time.Hour, Reason: "x"}) // peers rule, 1 approval
	e.swapPolicy(func(s string) string {
		return strings.Replace(s, "    approvers: {peers: true}\n", "    approvers: {peers: true}\n    approvals: 2\n", 1)
	})
	a, err := e.svc.Approve(as("erin@example.com"), r.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != jit.StatusPending || a.ApprovalsRequired != 2 {
		t.Fatalf("after one approval under a rule now needing two: %s, %d required", a.Status, a.ApprovalsRequired)
	}
}

// A grant whose policy changed while the provider call ran is revoked as
// soon as it is recorded.
func TestPolicyChangeDuringGrantCall(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 30 * time.Minute, Reason: "x"})
	e.target.onGrant = func() {
		e.swapPolicy(func(s string) string {
			return strings.ReplaceAll(s, "requesters: {groups: [engineering]}", "requesters: {groups: [nobody]}")
		})
	}
	e.runDue()
	e.runDue()
	if got := e.get(r.ID); got.Status != jit.StatusRevoked || e.target.has(r.ID) {
		t.Fatalf("grant finished under a policy that forbids it: %s (target has it: %v)", got.Status, e.target.has(r.ID))
	}
}

// A reload that changes the server section is recorded as needing a
// restart, since those settings are read at start.
func TestPolicyReloadNotesServerChanges(t *testing.T) {
	e := newEnv(t)
	old := e.holder.Get()
	e.swapPolicy(func(s string) string { return strings.Replace(s, "grant_attempts: 3", "grant_attempts: 4", 1) })
	if err := e.svc.PolicyReloaded(context.Background(), old, e.holder.Get()); err != nil {
		t.Fatal(err)
	}
	evs, err := e.store.ListAudit(context.Background(), jit.AuditFilter{Action: jit.ActionPolicyReload})
	if err != nil || len(evs) != 1 || evs[0].Details["server_settings_changed"] == "" {
		t.Fatalf("reload events: %+v %v", evs, err)
	}
}

// Reconciliation is one durable job for the whole deployment: each run
// schedules the next, and scheduling it again keeps the earlier one.
func TestReconcileJobReschedulesItself(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.ScheduleReconcile(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ScheduleReconcile(ctx, 10*time.Minute); err != nil { // a second replica starting
		t.Fatal(err)
	}
	jobs, _ := e.store.ListJobs(ctx, jit.JobReconcile, 10)
	if len(jobs) != 1 || !jobs[0].RunAt.Equal(e.clock.Now().Add(5*time.Minute)) {
		t.Fatalf("reconcile jobs: %+v", jobs)
	}
	e.clock.Add(5 * time.Minute)
	if n := e.runDue(); n != 1 {
		t.Fatalf("ran %d jobs, want the reconcile job", n)
	}
	jobs, _ = e.store.ListJobs(ctx, jit.JobReconcile, 10)
	if len(jobs) != 1 || !jobs[0].RunAt.Equal(e.clock.Now().Add(5*time.Minute)) || jobs[0].Attempt != 0 {
		t.Fatalf("after a run: %+v, want the next one in the reconcile interval", jobs)
	}
}
