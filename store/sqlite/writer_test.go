package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
)

func pendingRequest(id string) *jit.Request {
	return &jit.Request{ID: id, Requester: "alice@example.com", Resource: "demo", Access: "read",
		Duration: time.Hour, Reason: "test", Status: jit.StatusPending, CreatedAt: t0, UpdatedAt: t0}
}

func event(action, requestID string) jit.AuditEvent {
	return jit.AuditEvent{Time: t0, Actor: "alice@example.com", Action: action, RequestID: requestID}
}

// waitQueued waits until n writes are queued.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.qmu.Lock()
		got := len(s.queue)
		s.qmu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
		runtime.Gosched()
	}
}

// queueInOrder starts fns one at a time while the write semaphore is held,
// each once the one before is queued, so that they queue in order and one
// batch takes them all when the semaphore is released. It returns their
// errors once all have returned.
func queueInOrder(t *testing.T, s *Store, fns ...func() error) []error {
	t.Helper()
	if err := s.lockWrite(context.Background()); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
		waitQueued(t, s, i+1)
	}
	s.unlockWrite()
	wg.Wait()
	return errs
}

// TestBatchKeepsEachWriteAtomic commits writes that succeed and writes that
// fail in one transaction: each failure writes nothing and leaves its
// change untouched, each success is stored and sees the writes queued
// before it, and the audit chain holds exactly the successes' events.
func TestBatchKeepsEachWriteAtomic(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	_, hash, _ := jit.NewTokenSecret()
	token := func() *jit.Token { return &jit.Token{ID: "t1", Email: "alice@example.com", Hash: hash} }
	approved := pendingRequest("A")
	approved.Version, approved.Status = 1, jit.StatusApproved
	stale := pendingRequest("A")
	stale.Version, stale.Status = 1, jit.StatusDenied
	changes := []*jit.Change{
		{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")},
			Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "A", t0.Add(time.Hour))}},
		{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")}},
		{Request: approved, Events: []jit.AuditEvent{event(jit.ActionApprove, "A")}},
		{Approval: &jit.Approval{RequestID: "ghost", Approver: "bob@example.com", Approved: true, At: t0},
			Events: []jit.AuditEvent{event(jit.ActionApprove, "ghost")}},
		{Token: token(), Events: []jit.AuditEvent{event(jit.ActionTokenCreate, "")}},
		{Token: token(), Events: []jit.AuditEvent{event(jit.ActionTokenCreate, "")}},
		{Request: stale, Events: []jit.AuditEvent{event(jit.ActionDeny, "A")}},
		{Request: pendingRequest("B"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "B")},
			DeleteJobs: []string{"lapse:A"}},
	}
	wantCodes := []string{"", jit.ECodeConflict, "", jit.ECodeNotFound, "", jit.ECodeConflict, jit.ECodeConflict, ""}
	wantSeq := []int64{1, 0, 2, 0, 3, 0, 0, 4} // 0: the change's events stay unsealed
	var fns []func() error
	for _, c := range changes {
		fns = append(fns, func() error { return s.Apply(ctx, c) })
	}
	errs := queueInOrder(t, s, fns...)
	for i, err := range errs {
		if code := jit.ErrorCode(err); code != wantCodes[i] || (code == "" && err != nil) {
			t.Errorf("change %d: %v, want code %q", i, err, wantCodes[i])
		}
		if got := changes[i].Events[0].Seq; got != wantSeq[i] {
			t.Errorf("change %d: event seq %d, want %d", i, got, wantSeq[i])
		}
	}
	if approved.Version != 2 || stale.Version != 1 {
		t.Errorf("versions written back: approved %d (want 2), stale %d (want 1)", approved.Version, stale.Version)
	}

	a, err := s.GetRequest(ctx, "A")
	if err != nil || a.Version != 2 || a.Status != jit.StatusApproved {
		t.Fatalf("request A = %+v, %v; want version 2, approved", a, err)
	}
	if _, err := s.GetRequest(ctx, "B"); err != nil {
		t.Fatalf("request B: %v", err)
	}
	if js, err := s.ListJobs(ctx, "", 0); err != nil || len(js) != 0 {
		t.Fatalf("jobs %+v, %v; want none (B's change deleted A's)", js, err)
	}
	if _, err := s.TokenByHash(ctx, hash); err != nil {
		t.Fatalf("token: %v", err)
	}
	evs, err := s.ListAudit(ctx, jit.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action+":"+ev.RequestID)
	}
	want := []string{jit.ActionSubmit + ":A", jit.ActionApprove + ":A", jit.ActionTokenCreate + ":", jit.ActionSubmit + ":B"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit %v, want %v", actions, want)
	}
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	if s.head.seq != 4 {
		t.Fatalf("cached head at %d, want 4", s.head.seq)
	}
}

// TestBatchFailsWhole checks that when the transaction itself is lost, no
// write of the batch survives, even one that ran before the loss, and that
// every writer is told: nothing may run outside the transaction.
func TestBatchFailsWhole(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	apply := func(id string) func() error {
		return func() error {
			return s.Apply(ctx, &jit.Change{Request: pendingRequest(id), Events: []jit.AuditEvent{event(jit.ActionSubmit, id)}})
		}
	}
	// As SQLite does on some I/O errors: the transaction is rolled back
	// under the batch's feet.
	lose := func() error {
		return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
			_, err := tx.ExecContext(ctx, "ROLLBACK")
			return err
		}, nil)
	}
	errs := queueInOrder(t, s, apply("A"), lose, apply("B"))
	for i, err := range errs {
		if err == nil {
			t.Errorf("write %d succeeded in a lost transaction", i)
		}
	}
	for _, id := range []string{"A", "B"} {
		if _, err := s.GetRequest(ctx, id); jit.ErrorCode(err) != jit.ECodeNotFound {
			t.Errorf("request %s: %v, want not found", id, err)
		}
	}
	if s.head != (chainHead{}) {
		t.Fatalf("head moved to %+v", s.head)
	}
	// The store goes on.
	if err := apply("C")(); err != nil {
		t.Fatal(err)
	}
	if evs, err := s.ListAudit(ctx, jit.AuditFilter{}); err != nil || len(evs) != 1 || evs[0].Seq != 1 {
		t.Fatalf("audit %+v, %v; want C's submit at seq 1", evs, err)
	}
}

// TestQueuedWriteHonoursContext checks that a queued write whose context
// ends before a transaction takes it is withdrawn and never written.
func TestQueuedWriteHonoursContext(t *testing.T) {
	s := openTest(t)
	if err := s.lockWrite(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Apply(ctx, &jit.Change{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")}})
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %v, want context.Canceled", err)
	}
	waitQueued(t, s, 0)
	s.unlockWrite()
	if _, err := s.GetRequest(context.Background(), "A"); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("request A: %v, want not found", err)
	}
}
