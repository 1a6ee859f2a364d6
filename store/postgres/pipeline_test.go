package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
)

// TestPipelinedBatch checks that a batch of changes that all succeed is
// written by the pipelined path (no stepwise rerun), with its events sealed
// in lock order, versions written back and jobs stored; and that a batch
// with a failing change is rerun stepwise.
func TestPipelinedBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	_, hash, _ := jit.NewTokenSecret()
	changes := []*jit.Change{
		{Request: pendingRequest("B"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "B")},
			Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "B", t0.Add(time.Hour))}},
		{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A"), event(jit.ActionApprove, "A")}},
		{Token: &jit.Token{ID: "t1", Email: "alice@example.com", Hash: hash}, Events: []jit.AuditEvent{event(jit.ActionTokenCreate, "")}},
	}
	var fns []func() error
	for _, c := range changes {
		fns = append(fns, func() error { return s.Apply(ctx, c) })
	}
	for i, err := range queueInOrder(t, s, fns...) {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	if n := s.stepwise.Load(); n != 0 {
		t.Fatalf("%d stepwise reruns, want 0", n)
	}
	// Lock order: the token (no request ID), A, B.
	if got := []int64{changes[2].Events[0].Seq, changes[1].Events[0].Seq, changes[1].Events[1].Seq, changes[0].Events[0].Seq}; !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("seqs %v, want 1..4 in lock order", got)
	}
	if changes[0].Request.Version != 1 || changes[1].Request.Version != 1 {
		t.Fatalf("versions %d, %d; want 1", changes[0].Request.Version, changes[1].Request.Version)
	}
	if js, err := s.ListJobs(ctx, "", 0); err != nil || len(js) != 1 || js[0].RequestID != "B" {
		t.Fatalf("jobs %+v, %v; want B's lapse", js, err)
	}
	if tok, err := s.TokenByHash(ctx, hash); err != nil || tok.CreatedAt.IsZero() {
		t.Fatalf("token %+v, %v; want it stored with a creation time", tok, err)
	}
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}

	// A stale version in the next batch: the batch is rerun stepwise, the
	// stale change alone fails.
	stale := pendingRequest("A")
	stale.Version, stale.Status = 5, jit.StatusDenied
	next := []*jit.Change{
		{Request: stale, Events: []jit.AuditEvent{event(jit.ActionDeny, "A")}},
		{Request: pendingRequest("C"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "C")}},
	}
	errs := queueInOrder(t, s, func() error { return s.Apply(ctx, next[0]) }, func() error { return s.Apply(ctx, next[1]) })
	if jit.ErrorCode(errs[0]) != jit.ECodeConflict || errs[1] != nil {
		t.Fatalf("errors %v; want a conflict, then success", errs)
	}
	if n := s.stepwise.Load(); n != 1 {
		t.Fatalf("%d stepwise reruns, want 1", n)
	}
	if next[1].Events[0].Seq != 5 || next[0].Events[0].Seq != 0 {
		t.Fatalf("seqs %d, %d; want 0 (not written) and 5", next[0].Events[0].Seq, next[1].Events[0].Seq)
	}
}

// TestPipelinedCommitFails checks that when the second pipeline of a batch
// fails (here a job row the database refuses), no change of the batch is
// written, each caller gets the error, and the chain head did not move.
func TestPipelinedCommitFails(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.pool.Exec(ctx, `ALTER TABLE jobs ADD CONSTRAINT trap CHECK (request_id <> 'TRAP')`); err != nil {
		t.Fatal(err)
	}
	changes := []*jit.Change{
		{Request: pendingRequest("A"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")}},
		{Request: pendingRequest("TRAP"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "TRAP")},
			Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "TRAP", t0.Add(time.Hour))}},
	}
	errs := queueInOrder(t, s, func() error { return s.Apply(ctx, changes[0]) }, func() error { return s.Apply(ctx, changes[1]) })
	for i, err := range errs {
		if err == nil {
			t.Errorf("change %d succeeded in a failed batch", i)
		}
		if changes[i].Request.Version != 0 || changes[i].Events[0].Hash != "" {
			t.Errorf("change %d written back after a failed batch", i)
		}
	}
	if got := auditActions(t, s); len(got) != 0 {
		t.Fatalf("audit %v, want empty", got)
	}
	if _, err := s.GetRequest(ctx, "A"); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("request A: %v, want not found", err)
	}
	c := &jit.Change{Request: pendingRequest("B"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "B")}}
	if err := s.Apply(ctx, c); err != nil || c.Events[0].Seq != 1 {
		t.Fatalf("Apply B = %v at seq %d; want seq 1", err, c.Events[0].Seq)
	}
}

// TestPipelinedCredentials checks that public keys, credentials and the
// query and privileges of requests are written by the pipelined path, and
// that a batch in which a credential's request is missing, or an update
// changes a request's query, is rerun stepwise with each change getting
// its own outcome.
func TestPipelinedCredentials(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	envelope := func(n string) string {
		return "-----BEGIN AGE ENCRYPTED FILE-----\n" + n + "\n-----END AGE ENCRYPTED FILE-----\n"
	}
	credential := func(id, n string) *jit.CredentialEnvelope {
		return &jit.CredentialEnvelope{RequestID: id, Recipient: "age1x", Kind: "password", Envelope: envelope(n), CreatedAt: t0}
	}
	scoped := pendingRequest("B")
	scoped.Query = "UPDATE public.orders SET total = 0 WHERE id = 7"
	scoped.Privileges = []jit.Privilege{{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}}}
	aliceKey := &jit.PublicKey{Email: "alice@example.com", Key: "age1alice", CreatedAt: t0}
	first := []*jit.Change{
		{Request: pendingRequest("A"), Credential: credential("A", "one"), Events: []jit.AuditEvent{event(jit.ActionSubmit, "A")}},
		{PublicKey: aliceKey, Events: []jit.AuditEvent{event(jit.ActionKeyRegister, "")}},
		{Request: scoped, Events: []jit.AuditEvent{event(jit.ActionSubmit, "B")}},
	}
	apply := func(cs ...*jit.Change) []error {
		var fns []func() error
		for _, c := range cs {
			fns = append(fns, func() error { return s.Apply(ctx, c) })
		}
		return queueInOrder(t, s, fns...)
	}
	for i, err := range apply(first...) {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	// The query-scoped request is updated with its privileges as stored,
	// and A's credential replaced, in a second pipelined batch.
	approved := scoped.Clone()
	approved.Status = jit.StatusApproved
	second := []*jit.Change{
		{Request: approved, Events: []jit.AuditEvent{event(jit.ActionApprove, "B")}},
		{Credential: credential("A", "two")},
	}
	for i, err := range apply(second...) {
		if err != nil {
			t.Fatalf("second batch, change %d: %v", i, err)
		}
	}
	if n := s.stepwise.Load(); n != 0 {
		t.Fatalf("%d stepwise reruns, want 0", n)
	}
	if got, err := s.GetRequest(ctx, "B"); err != nil || got.Query != scoped.Query ||
		!slices.EqualFunc(got.Privileges, scoped.Privileges, func(a, b jit.Privilege) bool {
			return a.Action == b.Action && a.Schema == b.Schema && a.Table == b.Table && slices.Equal(a.Columns, b.Columns)
		}) || got.Version != 2 || got.Status != jit.StatusApproved {
		t.Fatalf("request B = %+v, %v", got, err)
	}
	if e, err := s.Credential(ctx, "A"); err != nil || e.Envelope != envelope("two") {
		t.Fatalf("credential of A = %+v, %v; want the second", e, err)
	}
	if k, err := s.PublicKey(ctx, aliceKey.Email); err != nil || k.Key != aliceKey.Key {
		t.Fatalf("public key = %+v, %v", k, err)
	}

	// A credential of a missing request and an update that changes a
	// query fail alone; the change between them is written.
	changedQuery := approved.Clone()
	changedQuery.Query = "DELETE FROM public.orders"
	bobKey := &jit.PublicKey{Email: "bob@example.com", Key: "age1bob", CreatedAt: t0}
	third := []*jit.Change{
		{Credential: credential("ghost", "x"), PublicKey: bobKey, Events: []jit.AuditEvent{event(jit.ActionGrant, "ghost")}},
		{Credential: credential("A", "three"), Events: []jit.AuditEvent{event(jit.ActionGrant, "A")}},
		{Request: changedQuery, Events: []jit.AuditEvent{event(jit.ActionGrant, "B")}},
	}
	errs := apply(third...)
	if jit.ErrorCode(errs[0]) != jit.ECodeNotFound || errs[1] != nil || jit.ErrorCode(errs[2]) != jit.ECodeInvalid {
		t.Fatalf("errors %v; want not found, success, invalid", errs)
	}
	var je *jit.Error
	if !errors.As(errs[2], &je) || je.Field != "query" {
		t.Fatalf("error %v does not name the query", errs[2])
	}
	if n := s.stepwise.Load(); n != 1 {
		t.Fatalf("%d stepwise reruns, want 1", n)
	}
	if _, err := s.PublicKey(ctx, bobKey.Email); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("public key of the failed change: %v, want not found", err)
	}
	if e, err := s.Credential(ctx, "A"); err != nil || e.Envelope != envelope("three") {
		t.Fatalf("credential of A = %+v, %v; want the third", e, err)
	}
	// In lock order: the change without a request first.
	if got := auditActions(t, s); !slices.Equal(got, []string{
		"key_register:", "submit:A", "submit:B", "approve:B", "grant:A"}) {
		t.Fatalf("audit %v", got)
	}
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
}
