package postgres

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/store/postgres/pgtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pendingRequest(id string) *jit.Request {
	return &jit.Request{ID: id, Requester: "alice@example.com", Resource: "demo", Access: "read",
		Duration: time.Hour, Reason: "test", Status: jit.StatusPending, CreatedAt: t0, UpdatedAt: t0}
}

func event(action, requestID string) jit.AuditEvent {
	return jit.AuditEvent{Time: t0, Actor: "alice@example.com", Action: action, RequestID: requestID}
}

// holdWriters takes every writer slot, so that writes queue until
// releaseWriters.
func holdWriters(s *Store) {
	for range cap(s.wsem) {
		s.wsem <- struct{}{}
	}
}

func releaseWriters(s *Store) {
	for range cap(s.wsem) {
		<-s.wsem
	}
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

// queueInOrder starts fns one at a time while every writer slot is held,
// each once the one before is queued, so that they queue in order and one
// batch takes them all when the slots are released. It returns their
// errors once all have returned.
func queueInOrder(t *testing.T, s *Store, fns ...func() error) []error {
	t.Helper()
	holdWriters(s)
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
	releaseWriters(s)
	wg.Wait()
	return errs
}

func auditActions(t *testing.T, s *Store) []string {
	t.Helper()
	evs, err := s.ListAudit(context.Background(), jit.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action+":"+ev.RequestID)
	}
	return actions
}

// TestBatchKeepsEachWriteAtomic commits changes that succeed and changes
// that fail (a statement refused by the server, a stale version, a
// duplicate) in one transaction: each failure writes nothing and leaves its
// change untouched, each success is stored and sees the changes before it
// in the batch, and the audit chain holds exactly the successes' events.
// A batch runs its changes in request ID order (the lock order).
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
		{Request: pendingRequest("B"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "B")},
			DeleteJobs: []string{"lapse:A"}},
		{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")},
			Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "A", t0.Add(time.Hour))}},
		{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")}},
		{Request: approved, Events: []jit.AuditEvent{event(jit.ActionApprove, "A")}},
		{Approval: &jit.Approval{RequestID: "ghost", Approver: "bob@example.com", Approved: true, At: t0},
			Events: []jit.AuditEvent{event(jit.ActionApprove, "ghost")}},
		{Token: token(), Events: []jit.AuditEvent{event(jit.ActionTokenCreate, "")}},
		{Token: token(), Events: []jit.AuditEvent{event(jit.ActionTokenCreate, "")}},
		{Request: stale, Events: []jit.AuditEvent{event(jit.ActionDeny, "A")}},
	}
	wantCodes := []string{"", "", jit.ECodeConflict, "", jit.ECodeNotFound, "", jit.ECodeConflict, jit.ECodeConflict}
	// In lock order: the token (no request), A's submit and approval, B.
	wantSeq := []int64{4, 2, 0, 3, 0, 1, 0, 0} // 0: the change's events stay unsealed
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
	if approved.Version != 2 || stale.Version != 1 || changes[0].Request.Version != 1 {
		t.Errorf("versions written back: approved %d (want 2), stale %d (want 1), B %d (want 1)",
			approved.Version, stale.Version, changes[0].Request.Version)
	}

	a, err := s.GetRequest(ctx, "A")
	if err != nil || a.Version != 2 || a.Status != jit.StatusApproved {
		t.Fatalf("request A = %+v, %v; want version 2, approved", a, err)
	}
	if _, err := s.GetRequest(ctx, "B"); err != nil {
		t.Fatalf("request B: %v", err)
	}
	if _, err := s.GetRequest(ctx, "ghost"); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("request ghost: %v, want not found", err)
	}
	if js, err := s.ListJobs(ctx, "", 0); err != nil || len(js) != 0 {
		t.Fatalf("jobs %+v, %v; want none (B's change, after A's, deleted A's)", js, err)
	}
	if _, err := s.TokenByHash(ctx, hash); err != nil {
		t.Fatalf("token: %v", err)
	}
	want := []string{jit.ActionTokenCreate + ":", jit.ActionSubmit + ":A", jit.ActionApprove + ":A", jit.ActionSubmit + ":B"}
	if got := auditActions(t, s); !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	// A later batch goes on from the batch's head.
	c := &jit.Change{Request: pendingRequest("C"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "C")}}
	if err := s.Apply(ctx, c); err != nil || c.Events[0].Seq != 5 {
		t.Fatalf("Apply C = %v, seq %d; want seq 5", err, c.Events[0].Seq)
	}
}

// TestBatchFailsWhole checks that when the batch's commit fails, no change
// of the batch survives, even those that had been written, every writer is
// told, nothing of them is announced, and the store goes on.
func TestBatchFailsWhole(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	// A deferred constraint is checked at commit: two equal rows make the
	// commit itself fail, after every change of the batch was written.
	if _, err := s.pool.Exec(ctx, `CREATE TABLE commit_trap (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		notices []jit.ChangeNotice
	)
	lctx, stop := context.WithCancel(ctx)
	listening := make(chan struct{})
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		s.listenOnce(lctx, func(n jit.ChangeNotice) {
			mu.Lock()
			notices = append(notices, n)
			mu.Unlock()
		}, func() { close(listening) })
	}()
	t.Cleanup(func() { stop(); <-listened })
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatal("listener did not connect")
	}

	changes := map[string]*jit.Change{}
	apply := func(id string) func() error {
		c := &jit.Change{Request: pendingRequest(id), Events: []jit.AuditEvent{event(jit.ActionSubmit, id)},
			Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, id, t0.Add(time.Hour))}}
		changes[id] = c
		return func() error { return s.Apply(ctx, c) }
	}
	trap := func() error {
		return s.write(ctx, &applyOp{c: &jit.Change{}, extra: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO commit_trap VALUES (1), (1)`)
			return err
		}})
	}
	errs := queueInOrder(t, s, apply("A"), trap, apply("B"))
	for i, err := range errs {
		if err == nil {
			t.Errorf("write %d succeeded in a failed commit", i)
		} else if code := jit.ErrorCode(err); code != jit.ECodeConflict {
			t.Errorf("write %d: %v, want the commit's unique violation (conflict)", i, err)
		}
	}
	for _, id := range []string{"A", "B"} {
		if _, err := s.GetRequest(ctx, id); jit.ErrorCode(err) != jit.ECodeNotFound {
			t.Errorf("request %s: %v, want not found", id, err)
		}
		if c := changes[id]; c.Request.Version != 0 || c.Events[0].Seq != 0 || c.Events[0].Hash != "" {
			t.Errorf("change %s written back after a failed commit: version %d, event %+v", id, c.Request.Version, c.Events[0])
		}
	}
	if js, err := s.ListJobs(ctx, "", 0); err != nil || len(js) != 0 {
		t.Fatalf("jobs %+v, %v; want none", js, err)
	}
	if got := auditActions(t, s); len(got) != 0 {
		t.Fatalf("audit %v, want empty", got)
	}
	// The store goes on, with the chain where it was.
	if err := apply("C")(); err != nil {
		t.Fatal(err)
	}
	if got := changes["C"].Events[0].Seq; got != 1 {
		t.Fatalf("C's submit at seq %d, want 1", got)
	}
	// Notices arrive in commit order: once C's is in, any of A's or B's
	// would have been too.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(notices)
		mu.Unlock()
		if slices.ContainsFunc(got, func(n jit.ChangeNotice) bool { return n.RequestID == "C" }) {
			if got[0].RequestID != "C" {
				t.Fatalf("notices %+v; want C's only", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notices %+v; C's never came", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQueuedWriteHonoursContext checks that a queued change whose context
// ends before a batch takes it is withdrawn and never written.
func TestQueuedWriteHonoursContext(t *testing.T) {
	s := openTest(t)
	holdWriters(s)
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
	releaseWriters(s)
	if _, err := s.GetRequest(context.Background(), "A"); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("request A: %v, want not found", err)
	}
}
