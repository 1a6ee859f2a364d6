package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"
)

// checking is a provider that checks requests (provider.Checker) the way
// the tests tell it to, and remembers what Grant and Revoke were given.
type checking struct {
	mu      sync.Mutex
	checks  int
	granted []provider.GrantRequest
	revoked []provider.RevokeRequest
}

var checkingTarget = &checking{}

func init() {
	provider.Register("wfcheck", func(r provider.Resource) (provider.Provider, error) { return checkingTarget, nil })
}

func (c *checking) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	c.mu.Lock()
	c.checks++
	c.mu.Unlock()
	switch {
	case req.Target == "kube-system":
		return provider.CheckResponse{}, provider.Refusef("namespace kube-system may never be requested")
	case req.Target == "down":
		return provider.CheckResponse{}, errors.New("dial tcp 10.0.0.1:443: connection refused")
	case strings.HasPrefix(req.SSHPublicKey, "ssh-dss"):
		return provider.CheckResponse{}, provider.Refusef("DSA keys are refused")
	case req.Target == "eligible":
		return provider.CheckResponse{Target: "projects/p:roles/viewer", Summary: "roles/viewer on projects/p",
			Labels: []string{"multi-party"}, Peers: []string{"Erin@example.com", "alice@example.com"}, PeersFromTarget: true}, nil
	}
	resp := provider.CheckResponse{Summary: "get on " + req.Target}
	if req.Target != "" && !strings.Contains(req.Target, "/") {
		resp.Target = "namespaces/" + req.Target
	}
	return resp, nil
}

func (c *checking) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.granted = append(c.granted, req)
	return provider.GrantResponse{Handle: json.RawMessage(`{}`)}, nil
}

func (c *checking) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = append(c.revoked, req)
	return provider.RevokeResponse{}, nil
}

func (c *checking) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	return provider.VerifyResponse{}, nil
}

const checkPolicy = `
server: {lapse_after: 2h}
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: erin@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
resources:
  - {name: k8s, provider: wfcheck, access: [{name: view}]}
  - {name: plain, provider: wftest, access: [{name: read}]}
rules:
  - name: eligible-peers
    requesters: {groups: [engineering]}
    resources: [k8s]
    max_duration: 4h
    condition: '"multi-party" in labels'
    approvers: {peers: true}
  - name: k8s-default
    requesters: {groups: [engineering]}
    resources: [k8s]
    max_duration: 4h
    condition: '!target.startsWith("namespaces/secret")'
    approvers: {groups: [sre]}
  - name: plain
    requesters: {groups: [engineering]}
    resources: [plain]
    max_duration: 4h
    approvers: {groups: [sre]}
`

func newCheckEnv(t *testing.T) (*workflow.Service, *policy.Policy, *env) {
	t.Helper()
	targets.Store("plain", &target{access: map[string]time.Time{}})
	pol, err := policy.Parse("test.yaml", []byte(checkPolicy))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	svc, err := workflow.New(workflow.Config{Store: st, Policy: policy.NewHolder(pol), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return svc, pol, &env{t: t, svc: svc, store: st, clock: clk}
}

func TestSubmitChecksTheTarget(t *testing.T) {
	svc, pol, e := newCheckEnv(t)
	submit := func(in workflow.SubmitInput) (*jit.Request, error) {
		in.Duration = time.Hour
		in.Reason = "debugging"
		return svc.Submit(as("alice@example.com"), in)
	}

	r, err := submit(workflow.SubmitInput{Resource: "k8s", Target: " web "})
	if err != nil {
		t.Fatal(err)
	}
	if r.Target != "namespaces/web" || r.TargetSummary != "get on web" || r.Rule != "k8s-default" {
		t.Errorf("target %q summary %q rule %s; want the provider's canonical target under k8s-default", r.Target, r.TargetSummary, r.Rule)
	}
	stored, err := svc.Get(as("alice@example.com"), r.ID)
	if err != nil || stored.Target != "namespaces/web" {
		t.Fatalf("stored request: %+v, %v", stored, err)
	}

	for _, c := range []struct {
		name string
		in   workflow.SubmitInput
		code string
	}{
		{"protected namespace", workflow.SubmitInput{Resource: "k8s", Target: "kube-system"}, jit.ECodeRefused},
		{"refused key", workflow.SubmitInput{Resource: "k8s", Target: "web", SSHPublicKey: "ssh-dss AAAA"}, jit.ECodeRefused},
		{"target unreachable", workflow.SubmitInput{Resource: "k8s", Target: "down"}, jit.ECodeUnavailable},
		{"condition on the target", workflow.SubmitInput{Resource: "k8s", Target: "secret-stuff"}, jit.ECodeNotAllowed},
		{"target on a resource without one", workflow.SubmitInput{Resource: "plain", Target: "x"}, jit.ECodeInvalid},
		{"SSH key on a resource without one", workflow.SubmitInput{Resource: "plain", SSHPublicKey: "ssh-ed25519 AAAA"}, jit.ECodeInvalid},
		{"target too long", workflow.SubmitInput{Resource: "k8s", Target: strings.Repeat("a", 2000)}, jit.ECodeInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := submit(c.in)
			if got := jit.ErrorCode(err); got != c.code {
				t.Fatalf("error %v (code %s), want code %s", err, got, c.code)
			}
			if c.code == jit.ECodeUnavailable && strings.Contains(jit.ErrorMessage(err), "10.0.0.1") {
				t.Errorf("the internal error leaks to the requester: %s", jit.ErrorMessage(err))
			}
		})
	}

	// Labels feed conditions, and the target's peers are the approvers.
	r, err = submit(workflow.SubmitInput{Resource: "k8s", Target: "eligible"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rule != "eligible-peers" || len(r.Labels) != 1 || strings.Join(r.Peers, ",") != "erin@example.com" {
		t.Fatalf("rule %s labels %v peers %v; want eligible-peers, [multi-party], [erin] (the requester never her own peer)", r.Rule, r.Labels, r.Peers)
	}
	if got := pol.ApproverEmailsOf(r); strings.Join(got, ",") != "erin@example.com" {
		t.Errorf("approvers to notify = %v, want erin only", got)
	}
	// Bob is no peer: the request is not his to see (not found) or to
	// approve.
	if _, err := svc.Approve(as("bob@example.com"), r.ID, ""); jit.ErrorCode(err) != jit.ECodeNotApprover && jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Errorf("bob (no peer) approving: %v, want not_approver or not_found", err)
	}
	if _, err := svc.Approve(as("erin@example.com"), r.ID, ""); err != nil {
		t.Fatalf("erin (a peer) approving: %v", err)
	}
	e.runDue()
	checkingTarget.mu.Lock()
	defer checkingTarget.mu.Unlock()
	var got *provider.GrantRequest
	for i := range checkingTarget.granted {
		if checkingTarget.granted[i].RequestID == r.ID {
			got = &checkingTarget.granted[i]
		}
	}
	if got == nil || got.Target != "projects/p:roles/viewer" {
		t.Fatalf("the grant was %+v; want the canonical target passed to the provider", got)
	}
}

// sweeping is a provider with a sweep that finds expired objects once.
type sweeping struct {
	checking
	mu    sync.Mutex
	found int
	runs  int
}

var sweepingTarget = &sweeping{found: 3}

func init() {
	provider.Register("wfsweep", func(r provider.Resource) (provider.Provider, error) { return sweepingTarget, nil })
}

func (s *sweeping) Sweep(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs++
	n := s.found
	s.found = 0
	return n, nil
}

// The sweep of a provider that has one runs at Sweep and at every
// Reconcile; what it deletes is recorded as drift in the audit log.
func TestSweep(t *testing.T) {
	pol, err := policy.Parse("test.yaml", []byte(`
identities: [{email: alice@example.com, groups: [eng]}]
resources: [{name: cluster, provider: wfsweep, access: [view]}]
rules: [{name: r, requesters: {groups: [eng]}, resources: [cluster], max_duration: 1h, approvers: {users: [bob@example.com]}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := workflow.New(workflow.Config{Store: st, Policy: policy.NewHolder(pol), Clock: &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Sweep(context.Background())
	if err != nil || rep.Swept != 3 || len(rep.Drift) != 1 || rep.Drift[0].Kind != workflow.DriftSwept {
		t.Fatalf("Sweep = %+v, %v; want 3 objects swept, one drift", rep, err)
	}
	evs, err := st.ListAudit(context.Background(), jit.AuditFilter{Action: jit.ActionDrift})
	if err != nil || len(evs) != 1 || evs[0].Details["kind"] != "swept" || evs[0].Details["objects"] != "3" {
		t.Fatalf("audit = %+v, %v", evs, err)
	}
	rep, err = svc.Reconcile(context.Background())
	if err != nil || rep.Swept != 0 || sweepingTarget.runs != 2 {
		t.Fatalf("Reconcile = %+v, %v after %d sweeps; want the sweep run again, finding nothing", rep, err, sweepingTarget.runs)
	}
}
