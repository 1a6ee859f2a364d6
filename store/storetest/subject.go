package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// testSubjectRoundTrip stores a request with a target, an SSH key, labels
// and peers: every read returns them as submitted, updates that keep them
// succeed, and an update that changes any of them is refused as a change
// of the target, which is fixed at submit.
func testSubjectRoundTrip(t *testing.T, s jit.Store) {
	ctx := context.Background()
	r := newRequest("req-target", "alice@example.com", "prod-k8s", jit.StatusPending, t0)
	r.Target = "deployments.apps/default/nginx-deployment"
	r.TargetSummary = `get, list, watch on deployments.apps "nginx-deployment" in namespace default`
	r.SSHPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk1 alice@laptop"
	r.Labels = []string{"gcp:multi-party"}
	r.Peers = []string{"bob@example.com", "carol@example.com"}
	r.PeersFromTarget = true
	plain := newRequest("req-untargeted", "alice@example.com", "prod-k8s", jit.StatusPending, t0.Add(time.Second))
	insert(t, s, r, plain)
	want := r.Clone()
	want.Version = 1
	sameRequest(t, "GetRequest", want, get(t, s, r.ID))
	if got := get(t, s, plain.ID); got.Target != "" || got.SSHPublicKey != "" || got.Labels != nil || got.Peers != nil {
		t.Fatalf("request without a target reads back with %+v", got)
	}
	list, err := s.ListRequests(ctx, jit.RequestFilter{Requester: r.Requester})
	if err != nil || len(list) != 2 || list[1].ID != r.ID {
		t.Fatalf("ListRequests = %v, %v", ids(list), err)
	}
	sameRequest(t, "ListRequests", want, list[1])

	for name, change := range map[string]func(*jit.Request){
		"target":            func(u *jit.Request) { u.Target = "deployments.apps/default/other" },
		"summary":           func(u *jit.Request) { u.TargetSummary = "everything" },
		"ssh key":           func(u *jit.Request) { u.SSHPublicKey = "ssh-ed25519 AAAAother mallory" },
		"labels":            func(u *jit.Request) { u.Labels = []string{"gcp:self-activation"} },
		"peers":             func(u *jit.Request) { u.Peers = append(u.Peers, "mallory@example.com") },
		"peers from target": func(u *jit.Request) { u.PeersFromTarget = false },
	} {
		u := want.Clone()
		u.Status, u.UpdatedAt = jit.StatusApproved, t0.Add(time.Minute)
		change(u)
		err := s.Apply(ctx, &jit.Change{Request: u, Events: []jit.AuditEvent{newEvent(jit.ActionApprove, r.ID, u.UpdatedAt)}})
		wantField(t, "update changing the "+name, err, "target")
	}
	sameRequest(t, "GetRequest after refused updates", want, get(t, s, r.ID))

	granted := t0.Add(time.Minute)
	expires := granted.Add(time.Hour)
	upd := want.Clone()
	upd.Status, upd.GrantedAt, upd.ExpiresAt, upd.UpdatedAt = jit.StatusActive, &granted, &expires, granted
	apply(t, s, &jit.Change{Request: upd, Events: []jit.AuditEvent{newEvent(jit.ActionGrant, r.ID, granted)}})
	active, err := s.FindActive(ctx, r.Requester, r.Resource, granted)
	if err != nil {
		t.Fatal(err)
	}
	upd.Version = 2
	sameRequest(t, "FindActive", upd, active)
}
