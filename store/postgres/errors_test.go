package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/internal/pgserver"
	"github.com/jitaccess/jit/store/postgres"
)

func testRequest(id string, now time.Time) *jit.Request {
	return &jit.Request{ID: id, Requester: "alice@example.com", Resource: "db", Access: "read", Duration: time.Hour,
		Reason: "x", Status: jit.StatusPending, CreatedAt: now, UpdatedAt: now, LapsesAt: now.Add(time.Hour)}
}

func submit(r *jit.Request) *jit.Change {
	return &jit.Change{Request: r,
		Events:  []jit.AuditEvent{{Time: r.CreatedAt, Actor: r.Requester, Action: jit.ActionSubmit, RequestID: r.ID}},
		Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, r.ID, r.LapsesAt)}}
}

// A store whose server goes away answers every call with ECodeUnavailable
// (promptly, naming no password), writes nothing meanwhile, and works again
// on its own once the server is back.
func TestStoreSurvivesServerRestart(t *testing.T) {
	srv := pgserver.Start(t)
	// Trust authentication ignores the password; it is there to show that
	// errors never repeat it.
	const secret = "s3cret-pw"
	dsn := strings.Replace(srv.URL(), "postgres@", "postgres:"+secret+"@", 1)
	ctx := context.Background()
	s, err := postgres.OpenConfig(ctx, postgres.Config{DSN: dsn, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.Apply(ctx, submit(testRequest("before", now))); err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	// Bounded: a call must fail, not wait for the server to come back.
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(callCtx) }},
		{"GetRequest", func() error { _, err := s.GetRequest(callCtx, "before"); return err }},
		{"ListRequests", func() error { _, err := s.ListRequests(callCtx, jit.RequestFilter{}); return err }},
		{"FindActive", func() error { _, err := s.FindActive(callCtx, "alice@example.com", "db", now); return err }},
		{"CountRequests", func() error { _, err := s.CountRequests(callCtx); return err }},
		{"ListAudit", func() error { _, err := s.ListAudit(callCtx, jit.AuditFilter{}); return err }},
		{"TokenByHash", func() error { _, err := s.TokenByHash(callCtx, jit.HashToken("jit_x")); return err }},
		{"PublicKey", func() error { _, err := s.PublicKey(callCtx, "alice@example.com"); return err }},
		{"Credential", func() error { _, err := s.Credential(callCtx, "before"); return err }},
		{"ClaimJobs", func() error {
			_, err := s.ClaimJobs(callCtx, jit.ClaimParams{Owner: "o", Now: now.Add(2 * time.Hour), Lease: time.Minute, Limit: 10})
			return err
		}},
		{"NextJobAt", func() error { _, _, err := s.NextJobAt(callCtx); return err }},
		{"ListJobs", func() error { _, err := s.ListJobs(callCtx, "", 0); return err }},
		{"RenewLease", func() error { return s.RenewLease(callCtx, 1, "o", now) }},
		{"RetryJob", func() error { return s.RetryJob(callCtx, 1, "o", now, "x") }},
		{"Apply insert", func() error { return s.Apply(callCtx, submit(testRequest("during", now))) }},
	}
	for _, c := range calls {
		err := c.call()
		if jit.ErrorCode(err) != jit.ECodeUnavailable || jit.ErrorMessage(err) != postgres.UnreachableMessage {
			t.Errorf("%s while the server is down: %v, want %s %q", c.name, err, jit.ECodeUnavailable, postgres.UnreachableMessage)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %q holds the password", c.name, err)
		}
	}
	if callCtx.Err() != nil {
		t.Fatal("calls waited for the server instead of failing")
	}

	srv.Start(t)
	// The pool reconnects on its own; connections it held before the
	// restart may fail once each, as unavailable, and are replaced.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if code := jit.ErrorCode(err); code != jit.ECodeUnavailable {
			t.Fatalf("Ping after the restart: %v (code %s), want success or %s", err, code, jit.ECodeUnavailable)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not reconnect: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.GetRequest(ctx, "during"); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("the change refused while down was written: %v", err)
	}
	if _, err := s.GetRequest(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, submit(testRequest("after", now))); err != nil {
		t.Fatal(err)
	}
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK || res.Checked != 2 {
		t.Fatalf("audit chain after the restart: %+v %v, want 2 events verified", res, err)
	}
}
