package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/gcp"
	"github.com/jitaccess/jit/provider/gcp/gcptest"
)

// gcpServer is the Google Cloud stand-in the "gcp-e2e" provider type
// talks to: the gcp provider with its clients pointed at a test server
// speaking the APIs' wire format (no cloud is reachable from tests).
var gcpServer *gcptest.Server

func init() {
	provider.Register("gcp-e2e", func(r provider.Resource) (provider.Provider, error) {
		return gcp.NewWithOptions(r, gcp.Options{ClientOptions: gcpServer.ClientOptions()})
	})
}

const cloudPolicy = `
admins: [carol@example.com]
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: carol@example.com, groups: [security]}
resources:
  - name: gcp-prod
    provider: gcp-e2e
    settings: {scope: projects/shop-prod, discover_eligible: true}
    access: [activate]
rules:
  - name: gcp-self-activation
    requesters: {everyone: true}
    resources: [gcp-prod]
    max_duration: 2h
    reason: {required: true}
    condition: '"gcp:self-activation" in labels'
    auto_approve: true
  - name: gcp-multi-party
    requesters: {everyone: true}
    resources: [gcp-prod]
    max_duration: 1h
    reason: {required: true}
    condition: '"gcp:multi-party" in labels'
    approvers: {peers: true}
`

// TestGoogleCloudEligibleRoles walks through Google Cloud access as
// Google's Just-In-Time Access does it, through jitd: a person's eligible
// roles are discovered and listed, a self-activation role is activated at
// once, a multi-party role waits for a peer (another holder of the same
// eligible binding) and no one else, the binding the cloud holds ends at
// expiry by its own condition, and relinquishing removes it.
func TestGoogleCloudEligibleRoles(t *testing.T) {
	gcpServer = gcptest.NewServer()
	t.Cleanup(gcpServer.Close)
	gcpServer.AddOrganization("1")
	gcpServer.AddProject("shop-prod", "1001", "organizations/1")
	eligible := func(role, expr string, members ...string) {
		gcpServer.AddBinding("projects/shop-prod", gcptest.Binding{Role: role, Members: members,
			Condition: &gcptest.Condition{Expression: expr, Title: "Eligible for JIT access"}})
	}
	eligible("roles/compute.viewer", gcp.SelfActivationExpression, "user:alice@example.com")
	eligible("roles/storage.objectAdmin", gcp.MultiPartyExpression, "user:alice@example.com", "user:bob@example.com")

	ctx := context.Background()
	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(cloudPolicy)})
	alice, bob, carol := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob), newClient(t, srv, jitdtest.Carol)

	targets, err := alice.Targets(ctx, "gcp-prod", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"projects/shop-prod:roles/compute.viewer", "projects/shop-prod:roles/storage.objectAdmin"} {
		if !slices.Contains(targets.Items, want) {
			t.Errorf("alice's targets %v lack %s", targets.Items, want)
		}
	}

	// Self-activation: approved by the rule and granted in the cloud.
	self, err := alice.Submit(ctx, client.SubmitRequest{Resource: "gcp-prod", Access: "activate", Duration: "1h",
		Reason: "INC-7", Target: "roles/compute.viewer"})
	if err != nil {
		t.Fatal(err)
	}
	if self.Target != "projects/shop-prod:roles/compute.viewer" || !slices.Equal(self.Labels, []string{"gcp:self-activation"}) || !self.AutoApproved {
		t.Fatalf("self-activation: target %q labels %v auto %v", self.Target, self.Labels, self.AutoApproved)
	}
	active := waitStatus(t, alice, self.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	holds := func(role string, at time.Time) bool {
		ok, err := gcpServer.Effective("projects/shop-prod", "user:alice@example.com", role, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !holds("roles/compute.viewer", time.Now()) || holds("roles/compute.viewer", active.ExpiresAt.Add(time.Second)) {
		t.Fatal("the activation is not effective now, or still effective after its expiry")
	}

	// Multi-party: the peers are the other holders of the binding.
	mp, err := alice.Submit(ctx, client.SubmitRequest{Resource: "gcp-prod", Access: "activate", Duration: "30m",
		Reason: "restore a bucket", Target: "projects/shop-prod:roles/storage.objectAdmin"})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Status != jit.StatusPending || !slices.Equal(mp.Peers, []string{"bob@example.com"}) || mp.Rule != "gcp-multi-party" {
		t.Fatalf("multi-party: status %s peers %v rule %s", mp.Status, mp.Peers, mp.Rule)
	}
	_, err = carol.Approve(ctx, mp.ID, "")
	wantCode(t, err, jit.ECodeNotApprover)
	if _, err := bob.Approve(ctx, mp.ID, "ok"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, mp.ID, jit.StatusActive, jit.StatusPending, jit.StatusApproved, jit.StatusGranting)
	if !holds("roles/storage.objectAdmin", time.Now()) {
		t.Fatal("the approved multi-party activation is not effective")
	}

	// Not eligible, or a privileged role: refused at submit.
	for _, target := range []string{"roles/compute.admin", "roles/owner"} {
		_, err := alice.Submit(ctx, client.SubmitRequest{Resource: "gcp-prod", Access: "activate", Duration: "30m", Reason: "x", Target: target})
		wantCode(t, err, jit.ECodeRefused)
	}

	// Relinquishing removes the binding before its expiry.
	if _, err := alice.Relinquish(ctx, self.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, self.ID, jit.StatusRelinquished, jit.StatusActive, jit.StatusRevoking)
	if holds("roles/compute.viewer", time.Now()) {
		t.Fatal("the relinquished activation is still effective")
	}
}
