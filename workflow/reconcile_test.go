package workflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	_ "github.com/jitaccess/jit/provider/exec"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"
)

// reconTarget is a target whose content the test controls and can change
// behind jit's back. Providers of type "wfrecon" list it; "wfreconverify"
// only verifies (no provider.Lister); "wfreconstore" claims to be
// store-enforced and answers every Verify with "absent".
type reconTarget struct {
	mu        sync.Mutex
	access    map[string]provider.ListedGrant
	listErr   error
	verifyErr error
	revokeErr error
	revoked   []string
	lists     int
	// onGrant runs inside Grant, after the access is created.
	onGrant func()
}

var reconTargets sync.Map // resource name → *reconTarget

func reconTargetFor(name string) *reconTarget {
	t, _ := reconTargets.LoadOrStore(name, &reconTarget{access: map[string]provider.ListedGrant{}})
	return t.(*reconTarget)
}

// verifyOnly hides reconTarget's List.
type verifyOnly struct{ t *reconTarget }

// storeEnforced is a provider whose access lives in jit's store.
type storeEnforced struct{ verifyOnly }

func (storeEnforced) StoreEnforced() bool { return true }

func (s storeEnforced) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	return provider.VerifyResponse{Present: false}, nil
}

func init() {
	provider.Register("wfrecon", func(r provider.Resource) (provider.Provider, error) {
		return reconTargetFor(r.Name), nil
	})
	provider.Register("wfreconverify", func(r provider.Resource) (provider.Provider, error) {
		return verifyOnly{reconTargetFor(r.Name)}, nil
	})
	provider.Register("wfreconstore", func(r provider.Resource) (provider.Provider, error) {
		return storeEnforced{verifyOnly{reconTargetFor(r.Name)}}, nil
	})
}

func (t *reconTarget) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	t.mu.Lock()
	exp := req.ExpiresAt
	t.access[req.RequestID] = provider.ListedGrant{RequestID: req.RequestID, User: req.User, Access: req.Access, ExpiresAt: &exp}
	hook := t.onGrant
	t.mu.Unlock()
	if hook != nil {
		hook()
	}
	return provider.GrantResponse{}, nil
}

func (t *reconTarget) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.revokeErr != nil {
		return provider.RevokeResponse{}, t.revokeErr
	}
	t.revoked = append(t.revoked, req.RequestID)
	delete(t.access, req.RequestID)
	return provider.RevokeResponse{}, nil
}

func (t *reconTarget) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.verifyErr != nil {
		return provider.VerifyResponse{}, t.verifyErr
	}
	_, ok := t.access[req.RequestID]
	return provider.VerifyResponse{Present: ok}, nil
}

func (t *reconTarget) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lists++
	if t.listErr != nil {
		return provider.ListResponse{}, t.listErr
	}
	var resp provider.ListResponse
	for _, g := range t.access {
		resp.Grants = append(resp.Grants, g)
	}
	return resp, nil
}

func (v verifyOnly) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	return v.t.Grant(ctx, req)
}

func (v verifyOnly) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	return v.t.Revoke(ctx, req)
}

func (v verifyOnly) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	return v.t.Verify(ctx, req)
}

// put adds access behind jit's back (restored by hand, from a backup...).
func (t *reconTarget) put(id, user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.access[id] = provider.ListedGrant{RequestID: id, User: user}
}

// drop removes access behind jit's back.
func (t *reconTarget) drop(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.access, id)
}

func (t *reconTarget) has(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.access[id]
	return ok
}

func (t *reconTarget) revokedIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.revoked)
}

func (t *reconTarget) set(f func(t *reconTarget)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

const reconPolicy = `
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: erin@example.com, groups: [engineering]}
resources:
  - {name: PFX-list, provider: wfrecon, access: [{name: read}]}
  - {name: PFX-list2, provider: wfrecon, access: [{name: read}]}
  - {name: PFX-verify, provider: wfreconverify, access: [{name: read}]}
  - {name: PFX-store, provider: wfreconstore, access: [{name: read}]}
  - name: PFX-exec
    provider: exec
    settings: {command: [/bin/sh, SCRIPT], list: true}
    access: [{name: read}]
  - name: PFX-execverify
    provider: exec
    settings: {command: [/bin/sh, VSCRIPT]}
    access: [{name: read}]
rules:
  - name: auto
    requesters: {groups: [engineering]}
    resources: [PFX-list, PFX-list2, PFX-verify, PFX-store, PFX-exec, PFX-execverify]
    max_duration: 4h
    auto_approve: true
`

// reconScript is an exec-provider target keeping one file per granted
// request, holding the requester, in the directory it lives in. It records
// every call in the file "calls".
const reconScript = `set -eu
state="$(dirname "$0")"
cat > /dev/null
case "$JIT_ACTION" in
grant)
	echo "grant $JIT_REQUEST_ID" >> "$state/calls"
	printf '%s' "$JIT_USER" > "$state/access-$JIT_REQUEST_ID"
	;;
revoke)
	echo "revoke $JIT_REQUEST_ID" >> "$state/calls"
	rm -f "$state/access-$JIT_REQUEST_ID"
	;;
verify)
	if [ -e "$state/access-$JIT_REQUEST_ID" ]; then echo '{"present":true}'; else echo '{"present":false}'; fi
	;;
list)
	printf '{"grants":['
	sep=
	for f in "$state"/access-*; do
		[ -e "$f" ] || continue
		printf '%s{"request_id":"%s","user":"%s"}' "$sep" "${f##*/access-}" "$(cat "$f")"
		sep=,
	done
	printf ']}\n'
	;;
*)
	echo "unknown action $JIT_ACTION" >&2
	exit 2
	;;
esac
`

type reconEnv struct {
	t       *testing.T
	svc     *workflow.Service
	store   jit.Store
	clock   *clock
	metrics *metrics.Metrics
	prefix  string
	// state and vstate are the directories of the exec targets with and
	// without listing.
	state, vstate string
}

func newReconEnv(t *testing.T) *reconEnv {
	t.Helper()
	prefix := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	state := t.TempDir()
	script := filepath.Join(state, "target.sh")
	if err := os.WriteFile(script, []byte(reconScript), 0o644); err != nil {
		t.Fatal(err)
	}
	// Fresh targets, also when the test runs again (-count).
	for _, kind := range []string{"list", "list2", "verify", "store"} {
		reconTargets.Delete(prefix + "-" + kind)
	}
	// The exec target without listing keeps its files apart.
	vstate := t.TempDir()
	vscript := filepath.Join(vstate, "target.sh")
	if err := os.WriteFile(vscript, []byte(reconScript), 0o644); err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("PFX", prefix, "VSCRIPT", vscript, "SCRIPT", script).Replace(reconPolicy)
	pol, err := policy.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	m := metrics.New()
	svc, err := workflow.New(workflow.Config{Store: st, Policy: policy.NewHolder(pol), Clock: clk, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return &reconEnv{t: t, svc: svc, store: st, clock: clk, metrics: m, prefix: prefix, state: state, vstate: vstate}
}

func (e *reconEnv) res(kind string) string { return e.prefix + "-" + kind }

func (e *reconEnv) target(kind string) *reconTarget { return reconTargetFor(e.res(kind)) }

// runDue runs every job due now, as the scheduler would.
func (e *reconEnv) runDue() {
	e.t.Helper()
	for {
		jobs, err := e.store.ClaimJobs(context.Background(), jit.ClaimParams{Owner: "test", Now: e.clock.Now(), Lease: time.Minute, Limit: 10})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			if err := e.svc.RunJob(context.Background(), j); err != nil {
				e.t.Fatalf("job %s: %v", j.Key, err)
			}
		}
	}
}

// grant submits an auto-approved request of who on the resource of kind
// and runs its grant.
func (e *reconEnv) grant(who, kind string, d time.Duration) *jit.Request {
	e.t.Helper()
	r, err := e.svc.Submit(as(who), workflow.SubmitInput{Resource: e.res(kind), Duration: d})
	if err != nil {
		e.t.Fatal(err)
	}
	e.runDue()
	if got := e.get(r.ID); got.Status != jit.StatusActive {
		e.t.Fatalf("request %s is %s after its grant, want active", r.ID, got.Status)
	}
	return r
}

func (e *reconEnv) get(id string) *jit.Request {
	e.t.Helper()
	r, err := e.store.GetRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *reconEnv) reconcile() workflow.ReconcileReport {
	e.t.Helper()
	rep, err := e.svc.Reconcile(context.Background())
	if err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
	return rep
}

// driftEvents returns the drift events of the audit log as "kind id".
func (e *reconEnv) driftEvents() []string {
	e.t.Helper()
	evs, err := e.store.ListAudit(context.Background(), jit.AuditFilter{Action: jit.ActionDrift})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Actor != jit.SystemActor || ev.Details["resource"] == "" {
			e.t.Errorf("drift event %+v lacks the system actor or the resource", ev)
		}
		out = append(out, ev.Details["kind"]+" "+ev.RequestID)
	}
	return out
}

// driftMetric reads jit_drift_found_total{kind, resource} as a scrape
// would.
func (e *reconEnv) driftMetric(kind, kindRes string) float64 {
	e.t.Helper()
	families, err := e.metrics.Registry.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "jit_drift_found_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["resource"] == e.res(kindRes) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func driftIDs(rep workflow.ReconcileReport) []string {
	var out []string
	for _, d := range rep.Drift {
		out = append(out, d.Kind+" "+d.RequestID)
	}
	return out
}

func TestReconcileRevokesOrphans(t *testing.T) {
	e := newReconEnv(t)
	tg := e.target("list")
	active := e.grant("alice@example.com", "list", time.Hour)
	ended := e.grant("alice@example.com", "list", time.Hour)
	if _, err := e.svc.Relinquish(as("alice@example.com"), ended.ID); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	if got := e.get(ended.ID).Status; got != jit.StatusRelinquished || tg.has(ended.ID) {
		t.Fatalf("relinquished request is %s, target has it: %v", got, tg.has(ended.ID))
	}
	// Access comes back behind jit's back, and access jit never granted
	// appears.
	tg.put(ended.ID, "alice@example.com")
	tg.put("req_ghost", "mallory@example.com")

	rep := e.reconcile()
	// The ghost is revoked at once; the relinquished request ended too
	// recently to judge (its revoke job may still be at work).
	if got, want := driftIDs(rep), []string{"orphan req_ghost"}; !slices.Equal(got, want) {
		t.Fatalf("first run drift = %v, want %v", got, want)
	}
	if d := rep.Drift[0]; !d.Revoked || d.Err != nil || d.User != "mallory@example.com" || d.Status != "" || d.Resource != e.res("list") {
		t.Errorf("ghost drift = %+v", d)
	}
	if tg.has("req_ghost") || !tg.has(ended.ID) || !tg.has(active.ID) {
		t.Fatalf("after the first run: ghost %v, ended %v, active %v; want false, true, true",
			tg.has("req_ghost"), tg.has(ended.ID), tg.has(active.ID))
	}
	if rep.Listed != 3 || rep.Verified != 1 {
		t.Errorf("first run listed %d, verified %d; want 3, 1", rep.Listed, rep.Verified)
	}

	e.clock.Add(workflow.ReconcileGrace + time.Second)
	rep = e.reconcile()
	if got, want := driftIDs(rep), []string{"orphan " + ended.ID}; !slices.Equal(got, want) {
		t.Fatalf("second run drift = %v, want %v", got, want)
	}
	if d := rep.Drift[0]; !d.Revoked || d.User != "alice@example.com" || d.Status != jit.StatusRelinquished {
		t.Errorf("relinquished drift = %+v", d)
	}
	if tg.has(ended.ID) || !tg.has(active.ID) {
		t.Fatalf("after the second run: ended %v, active %v; want false, true", tg.has(ended.ID), tg.has(active.ID))
	}
	if got := e.get(active.ID).Status; got != jit.StatusActive {
		t.Errorf("the untouched grant is %s", got)
	}
	if got := e.get(ended.ID).Status; got != jit.StatusRelinquished {
		t.Errorf("the relinquished request became %s", got)
	}

	// Nothing left to find.
	if rep := e.reconcile(); len(rep.Drift) != 0 {
		t.Errorf("third run drift = %v", driftIDs(rep))
	}
	if got, want := e.driftEvents(), []string{"orphan req_ghost", "orphan " + ended.ID}; !slices.Equal(got, want) {
		t.Errorf("audit drift events = %v, want %v", got, want)
	}
	evs, _ := e.store.ListAudit(context.Background(), jit.AuditFilter{RequestID: "req_ghost", Action: jit.ActionDrift})
	if len(evs) != 1 || evs[0].Details["status"] != "unknown" || evs[0].Details["revoked"] != "true" || evs[0].Details["user"] != "mallory@example.com" {
		t.Errorf("ghost audit events = %+v", evs)
	}
	if got := e.driftMetric("orphan", "list"); got != 2 {
		t.Errorf("jit_drift_found_total{kind=orphan} = %v, want 2", got)
	}
	if got := tg.revokedIDs(); !slices.Contains(got, "req_ghost") || slices.Contains(got, active.ID) {
		t.Errorf("revokes sent: %v", got)
	}
}

// Two overlapping grants of one person on one resource are two target
// objects: the end of one, and the removal of its leftover, never touch
// the other.
func TestReconcileOverlappingGrantsStayIndependent(t *testing.T) {
	e := newReconEnv(t)
	tg := e.target("list")
	short := e.grant("alice@example.com", "list", time.Hour)
	long := e.grant("alice@example.com", "list", 2*time.Hour)
	e.clock.Add(time.Hour)
	e.runDue()
	if e.get(short.ID).Status != jit.StatusExpired || e.get(long.ID).Status != jit.StatusActive {
		t.Fatalf("after an hour: short %s, long %s", e.get(short.ID).Status, e.get(long.ID).Status)
	}
	if tg.has(short.ID) || !tg.has(long.ID) {
		t.Fatalf("the expiry of one grant touched the other: short %v, long %v", tg.has(short.ID), tg.has(long.ID))
	}
	// The short grant's access survived its revoke (restored by hand).
	tg.put(short.ID, "alice@example.com")
	e.clock.Add(workflow.ReconcileGrace + time.Second)
	rep := e.reconcile()
	if got, want := driftIDs(rep), []string{"orphan " + short.ID}; !slices.Equal(got, want) {
		t.Fatalf("drift = %v, want %v", got, want)
	}
	if tg.has(short.ID) || !tg.has(long.ID) || e.get(long.ID).Status != jit.StatusActive {
		t.Fatalf("after reconcile: short %v, long %v (%s)", tg.has(short.ID), tg.has(long.ID), e.get(long.ID).Status)
	}
	if slices.Contains(tg.revokedIDs(), long.ID) {
		t.Errorf("the reconciler revoked the grant still active: %v", tg.revokedIDs())
	}
}

func TestReconcileReportsVanishedAccess(t *testing.T) {
	for _, kind := range []string{"list", "verify"} {
		t.Run(kind, func(t *testing.T) {
			e := newReconEnv(t)
			tg := e.target(kind)
			kept := e.grant("alice@example.com", kind, time.Hour)
			gone := e.grant("erin@example.com", kind, time.Hour)
			tg.drop(gone.ID)

			rep := e.reconcile()
			if got, want := driftIDs(rep), []string{"vanished " + gone.ID}; !slices.Equal(got, want) {
				t.Fatalf("drift = %v, want %v", got, want)
			}
			if d := rep.Drift[0]; d.User != "erin@example.com" || d.Status != jit.StatusActive || d.Revoked {
				t.Errorf("vanished drift = %+v", d)
			}
			if rep.Verified != 2 {
				t.Errorf("verified %d grants, want 2", rep.Verified)
			}
			// Reported, not changed: the store stays the record of what was
			// granted, and nothing is revoked.
			if e.get(gone.ID).Status != jit.StatusActive || !tg.has(kept.ID) || len(tg.revokedIDs()) != 0 {
				t.Errorf("reconcile changed things: status %s, kept present %v, revokes %v", e.get(gone.ID).Status, tg.has(kept.ID), tg.revokedIDs())
			}
			// Said once, however many runs see it.
			if rep := e.reconcile(); len(rep.Drift) != 0 {
				t.Errorf("second run drift = %v", driftIDs(rep))
			}
			if got, want := e.driftEvents(), []string{"vanished " + gone.ID}; !slices.Equal(got, want) {
				t.Errorf("audit drift events = %v, want %v", got, want)
			}
			if got := e.driftMetric("vanished", kind); got != 1 {
				t.Errorf("jit_drift_found_total{kind=vanished} = %v, want 1", got)
			}
			// An expired grant whose access is gone is no drift.
			e.clock.Add(time.Hour)
			tg.drop(kept.ID)
			if rep := e.reconcile(); len(rep.Drift) != 0 || rep.Verified != 0 {
				t.Errorf("after expiry: drift %v, verified %d", driftIDs(rep), rep.Verified)
			}
		})
	}
}

// An active grant past its expiry whose access remains (the revoke job is
// stuck or lost) is revoked once it is late by more than the grace.
func TestReconcileGraceForExpiredGrants(t *testing.T) {
	tests := []struct {
		late        time.Duration
		wantRevoked bool
	}{
		{30 * time.Second, false},
		{workflow.ReconcileGrace - time.Second, false},
		{workflow.ReconcileGrace + time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.late.String(), func(t *testing.T) {
			e := newReconEnv(t)
			tg := e.target("list")
			r := e.grant("alice@example.com", "list", time.Hour)
			// The revoke job does not run (its replica is stuck).
			e.clock.Add(time.Hour + tt.late)
			rep := e.reconcile()
			if got := tg.has(r.ID); got == tt.wantRevoked {
				t.Fatalf("%s late: target still has the access = %v, want %v", tt.late, got, !tt.wantRevoked)
			}
			if tt.wantRevoked {
				if got, want := driftIDs(rep), []string{"orphan " + r.ID}; !slices.Equal(got, want) || rep.Drift[0].Status != jit.StatusActive {
					t.Errorf("drift = %+v, want %v", rep.Drift, want)
				}
			} else if len(rep.Drift) != 0 {
				t.Errorf("drift = %v, want none", driftIDs(rep))
			}
			// The revoke job still finishes the request normally.
			e.runDue()
			if got := e.get(r.ID).Status; got != jit.StatusExpired || tg.has(r.ID) {
				t.Errorf("after the revoke job: %s, target has it %v", got, tg.has(r.ID))
			}
		})
	}
}

// A grant in progress has its access in the target before the store calls
// it active; the reconciler leaves it to the grant job.
func TestReconcileLeavesGrantInProgress(t *testing.T) {
	e := newReconEnv(t)
	tg := e.target("list")
	var rep workflow.ReconcileReport
	var repErr error
	ran := false
	tg.set(func(t *reconTarget) {
		t.onGrant = func() {
			ran = true
			rep, repErr = e.svc.Reconcile(context.Background())
		}
	})
	t.Cleanup(func() { tg.set(func(t *reconTarget) { t.onGrant = nil }) })
	// Long after any grace, so only the status protects the access.
	e.clock.Add(24 * time.Hour)
	r := e.grant("alice@example.com", "list", time.Hour)
	if !ran {
		t.Fatal("the grant hook did not run")
	}
	if repErr != nil || len(rep.Drift) != 0 || rep.Listed != 1 {
		t.Fatalf("reconcile during the grant: drift %v, listed %d, err %v", driftIDs(rep), rep.Listed, repErr)
	}
	if !tg.has(r.ID) || len(tg.revokedIDs()) != 0 {
		t.Errorf("the grant in progress was revoked: %v", tg.revokedIDs())
	}
}

func TestReconcileErrorsDoNotStopOthers(t *testing.T) {
	e := newReconEnv(t)
	broken, other, verify := e.target("list"), e.target("list2"), e.target("verify")
	broken.put("req_ghost1", "mallory@example.com")
	other.put("req_ghost2", "mallory@example.com")
	other.put("req_ghost3", "mallory@example.com")
	v := e.grant("alice@example.com", "verify", time.Hour)
	broken.set(func(t *reconTarget) { t.listErr = errors.New("target unreachable") })
	verify.set(func(t *reconTarget) { t.verifyErr = errors.New("verify timed out") })

	rep, err := e.svc.Reconcile(context.Background())
	if err == nil {
		t.Fatal("Reconcile succeeded with a failing target")
	}
	for _, want := range []string{"reconcile " + e.res("list") + ": list: target unreachable", "reconcile " + e.res("verify") + ": verify " + v.ID + ": verify timed out"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if len(rep.Errors) != 2 {
		t.Errorf("report errors = %v, want 2", rep.Errors)
	}
	if got, want := driftIDs(rep), []string{"orphan req_ghost2", "orphan req_ghost3"}; !slices.Equal(got, want) {
		t.Errorf("drift = %v, want %v", got, want)
	}
	if !broken.has("req_ghost1") || other.has("req_ghost2") || other.has("req_ghost3") {
		t.Errorf("ghost1 kept %v (want true), ghost2 kept %v, ghost3 kept %v (want false)", broken.has("req_ghost1"), other.has("req_ghost2"), other.has("req_ghost3"))
	}

	// A failed revoke is reported with its error, and tried again next run.
	broken.set(func(t *reconTarget) { t.listErr, t.revokeErr = nil, errors.New("permission denied") })
	rep, err = e.svc.Reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), "revoke orphaned access of req_ghost1: permission denied") {
		t.Fatalf("Reconcile error = %v", err)
	}
	var d *workflow.Drift
	for i := range rep.Drift {
		if rep.Drift[i].RequestID == "req_ghost1" {
			d = &rep.Drift[i]
		}
	}
	if d == nil || d.Revoked || d.Err == nil {
		t.Fatalf("drift of ghost1 = %+v", d)
	}
	evs, _ := e.store.ListAudit(context.Background(), jit.AuditFilter{RequestID: "req_ghost1", Action: jit.ActionDrift})
	if len(evs) != 1 || evs[0].Details["revoked"] != "false" || !strings.Contains(evs[0].Details["error"], "permission denied") {
		t.Errorf("ghost1 audit = %+v", evs)
	}
	broken.set(func(t *reconTarget) { t.revokeErr = nil })
	verify.set(func(t *reconTarget) { t.verifyErr = nil })
	rep = e.reconcile()
	if got, want := driftIDs(rep), []string{"orphan req_ghost1"}; !slices.Equal(got, want) || !rep.Drift[0].Revoked || broken.has("req_ghost1") {
		t.Errorf("third run drift = %+v", rep.Drift)
	}
}

// Access that lives in the store cannot be observed in a target: such
// providers are neither verified nor listed.
func TestReconcileSkipsStoreEnforced(t *testing.T) {
	e := newReconEnv(t)
	e.grant("alice@example.com", "store", time.Hour)
	rep := e.reconcile()
	if len(rep.Drift) != 0 || rep.Verified != 0 {
		t.Errorf("store-enforced grant: drift %v, verified %d", driftIDs(rep), rep.Verified)
	}
}

// A listing that names a request of another resource is not acted on: the
// revoke would go through the wrong resource's provider.
func TestReconcileIgnoresOtherResourcesRequests(t *testing.T) {
	e := newReconEnv(t)
	r := e.grant("alice@example.com", "list", time.Hour)
	e.target("list2").put(r.ID, "alice@example.com")
	e.clock.Add(24 * time.Hour)
	rep, err := e.svc.Reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the target lists request "+r.ID+", which is for resource "+e.res("list")) {
		t.Fatalf("Reconcile error = %v", err)
	}
	for _, d := range rep.Drift {
		if d.Resource == e.res("list2") {
			t.Errorf("drift on the other resource: %+v", d)
		}
	}
	if !e.target("list2").has(r.ID) {
		t.Error("the other resource's listing was acted on")
	}
}

func TestReconcileStopsWhenContextEnds(t *testing.T) {
	e := newReconEnv(t)
	e.target("list").put("req_ghost", "mallory@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.svc.Reconcile(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Reconcile with an ended context: %v", err)
	}
	if !e.target("list").has("req_ghost") {
		t.Error("Reconcile with an ended context revoked access")
	}
}

// The exec provider against a real script keeping its access in files: the
// whole path a deployment uses.
func TestReconcileExecTarget(t *testing.T) {
	e := newReconEnv(t)
	file := func(id string) string { return filepath.Join(e.state, "access-"+id) }
	exists := func(id string) bool {
		_, err := os.Stat(file(id))
		return err == nil
	}
	short := e.grant("alice@example.com", "exec", time.Hour)
	long := e.grant("alice@example.com", "exec", 2*time.Hour)
	e.clock.Add(time.Hour)
	e.runDue()
	if e.get(short.ID).Status != jit.StatusExpired || exists(short.ID) || !exists(long.ID) {
		t.Fatalf("after an hour: short %s (file %v), long file %v", e.get(short.ID).Status, exists(short.ID), exists(long.ID))
	}
	// The expired grant's access is restored from a backup, and access jit
	// never granted is created by hand.
	for id, user := range map[string]string{short.ID: "alice@example.com", "req_ghost": "mallory@example.com"} {
		if err := os.WriteFile(file(id), []byte(user), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Add(workflow.ReconcileGrace + time.Second)
	rep := e.reconcile()
	want := []string{"orphan " + short.ID, "orphan req_ghost"}
	slices.Sort(want)
	if got := driftIDs(rep); !slices.Equal(got, want) {
		t.Fatalf("drift = %v, want %v", got, want)
	}
	if exists(short.ID) || exists("req_ghost") || !exists(long.ID) {
		t.Fatalf("after reconcile: short %v, ghost %v, long %v", exists(short.ID), exists("req_ghost"), exists(long.ID))
	}
	calls, err := os.ReadFile(filepath.Join(e.state, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(calls), "revoke "+long.ID) || strings.Count(string(calls), "revoke req_ghost") != 1 ||
		strings.Count(string(calls), "revoke "+short.ID) != 2 {
		t.Errorf("target calls:\n%s", calls)
	}
	if e.get(long.ID).Status != jit.StatusActive {
		t.Errorf("the long grant is %s", e.get(long.ID).Status)
	}

	// The long grant's file is removed by hand: vanished.
	if err := os.Remove(file(long.ID)); err != nil {
		t.Fatal(err)
	}
	rep = e.reconcile()
	if got, want := driftIDs(rep), []string{"vanished " + long.ID}; !slices.Equal(got, want) {
		t.Errorf("drift = %v, want %v", got, want)
	}
	if got := e.driftMetric("orphan", "exec") + e.driftMetric("vanished", "exec"); got != 3 {
		t.Errorf("jit_drift_found_total for the exec resource = %v, want 3", got)
	}
}

// An exec integration without the list setting is verified grant by
// grant, and left access it cannot see is no error.
func TestReconcileExecWithoutListing(t *testing.T) {
	e := newReconEnv(t)
	kept := e.grant("alice@example.com", "execverify", time.Hour)
	gone := e.grant("erin@example.com", "execverify", time.Hour)
	if err := os.Remove(filepath.Join(e.vstate, "access-"+gone.ID)); err != nil {
		t.Fatal(err)
	}
	// Not listed, so not found: the reconciler cannot see it.
	if err := os.WriteFile(filepath.Join(e.vstate, "access-req_ghost"), []byte("mallory@example.com"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := e.reconcile()
	if got, want := driftIDs(rep), []string{"vanished " + gone.ID}; !slices.Equal(got, want) {
		t.Fatalf("drift = %v, want %v", got, want)
	}
	if rep.Verified != 2 || rep.Listed != 0 {
		t.Errorf("verified %d, listed %d; want 2, 0", rep.Verified, rep.Listed)
	}
	calls, _ := os.ReadFile(filepath.Join(e.vstate, "calls"))
	if strings.Contains(string(calls), "revoke") {
		t.Errorf("revokes sent:\n%s", calls)
	}
	if _, err := os.Stat(filepath.Join(e.vstate, "access-"+kept.ID)); err != nil {
		t.Errorf("the kept grant's access: %v", err)
	}
}
