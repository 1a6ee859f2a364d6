package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func testSurvivesReopen(t *testing.T, open ReopenOpener) {
	ctx := context.Background()
	s, reopen := open(t)
	r := newRequest("req-1", "alice@example.com", "demo", jit.StatusPending, t0)
	r.Query = "SELECT id FROM public.orders"
	r.Privileges = []jit.Privilege{{Action: "SELECT", Schema: "public", Table: "orders", Columns: []string{"id"}}}
	key := newPublicKey("alice@example.com", 1, t0)
	cred := newCredential(r.ID, 1, t0.Add(time.Minute))
	approval := jit.Approval{RequestID: r.ID, Approver: "bob@example.com", Approved: true, At: t0.Add(time.Minute)}
	plain, tok := newToken(t, "tok-1", "alice@example.com")
	insert(t, s, r)
	apply(t, s, &jit.Change{
		Request:  r,
		Approval: &approval,
		Events:   []jit.AuditEvent{newEvent(jit.ActionApprove, r.ID, t0.Add(time.Minute))},
		Enqueue:  []jit.Job{jit.NewJob(jit.JobGrant, r.ID, t0.Add(time.Minute))},
		Token:    tok,
	})
	apply(t, s, &jit.Change{PublicKey: key, Credential: cred})
	wantReq := get(t, s, r.ID)
	wantEvents := allAudit(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := reopen(t)
	sameRequest(t, "request after reopen", wantReq, get(t, s2, r.ID))
	if j := onlyJob(t, s2); j.Key != jit.JobKey(jit.JobGrant, r.ID) {
		t.Fatalf("job after reopen: %+v", j)
	}
	if _, err := s2.TokenByHash(ctx, jit.HashToken(plain)); err != nil {
		t.Fatalf("token after reopen: %v", err)
	}
	gotKey, err := s2.PublicKey(ctx, key.Email)
	samePublicKey(t, "public key after reopen", key, gotKey, err)
	gotCred, err := s2.Credential(ctx, r.ID)
	sameCredential(t, "credential after reopen", cred, gotCred, err)
	// The chain continues from where it was: the reopened store appends
	// after the last event, not at 1.
	c := &jit.Change{Events: []jit.AuditEvent{newEvent(jit.ActionGrantStart, r.ID, t0.Add(2*time.Minute))}}
	apply(t, s2, c)
	last := wantEvents[len(wantEvents)-1]
	if c.Events[0].Seq != last.Seq+1 || c.Events[0].PrevHash != last.Hash {
		t.Fatalf("first event after reopen: seq %d prev %q, want seq %d prev %q",
			c.Events[0].Seq, c.Events[0].PrevHash, last.Seq+1, last.Hash)
	}
	got := allAudit(t, s2)
	checkChain(t, got)
	for i := range wantEvents {
		if got[i].Hash != wantEvents[i].Hash {
			t.Fatalf("event %d changed across reopen", i+1)
		}
	}
	// The version survives too: a stale writer still loses.
	stale := wantReq.Clone()
	stale.Version = 1
	wantCode(t, "stale update after reopen", s2.Apply(ctx, &jit.Change{Request: stale}), jit.ECodeConflict)
}

// testTwoStoresOneChain has two stores on the same data append in turn
// and then at once: each must notice the other's events and keep one
// contiguous chain.
func testTwoStoresOneChain(t *testing.T, open ReopenOpener) {
	a, reopen := open(t)
	b := reopen(t)
	stores := []jit.Store{a, b}
	for i := 0; i < 6; i++ {
		c := &jit.Change{Events: []jit.AuditEvent{newEvent(jit.ActionSubmit, fmt.Sprintf("turn-%d", i), t0)}}
		apply(t, stores[i%2], c)
		if c.Events[0].Seq != int64(i+1) {
			t.Fatalf("turn %d got seq %d, want %d", i, c.Events[0].Seq, i+1)
		}
	}
	const perStore = 20
	errs := runConcurrently(2, func(w int) error {
		for i := 0; i < perStore; i++ {
			evs := []jit.AuditEvent{
				newEvent(jit.ActionSubmit, fmt.Sprintf("s%d-%d", w, i), t0),
				newEvent(jit.ActionAutoApprove, fmt.Sprintf("s%d-%d", w, i), t0),
			}
			if err := stores[w].Apply(context.Background(), &jit.Change{Events: evs}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := joinErrs(errs); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		evs := allAudit(t, s)
		checkChain(t, evs)
		if want := 6 + 2*2*perStore; len(evs) != want {
			t.Fatalf("chain has %d events, want %d", len(evs), want)
		}
	}
}

// testTwoStoresClaim has two stores on the same data claim at once: no
// job goes to both.
func testTwoStoresClaim(t *testing.T, open ReopenOpener) {
	a, reopen := open(t)
	b := reopen(t)
	const jobs = 100
	var all []jit.Job
	for i := 0; i < jobs; i++ {
		all = append(all, jit.NewJob(jit.JobRevoke, fmt.Sprintf("req-%d", i), t0))
	}
	enqueue(t, a, all...)
	stores := []jit.Store{a, b}
	claimed := make([][]string, 2)
	errs := runConcurrently(2, func(w int) error {
		for rounds := 0; ; rounds++ {
			if rounds > jobs {
				return fmt.Errorf("claiming does not end after %d rounds", rounds)
			}
			js, err := stores[w].ClaimJobs(context.Background(), jit.ClaimParams{
				Owner: fmt.Sprintf("replica-%d", w), Now: t0, Lease: time.Hour, Limit: 3,
			})
			if err != nil {
				return err
			}
			if len(js) == 0 {
				return nil
			}
			claimed[w] = append(claimed[w], jobKeys(js)...)
		}
	})
	if err := joinErrs(errs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, keys := range claimed {
		for _, k := range keys {
			if seen[k] {
				t.Fatalf("job %s claimed twice", k)
			}
			seen[k] = true
		}
	}
	if len(seen) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(seen), jobs)
	}
}
