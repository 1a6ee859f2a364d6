package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// A change committed through one Store is announced to the listeners of
// every Store on the database; a change that rolls back is not.
func TestListenChanges(t *testing.T) {
	dsn := newDatabase(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notices := make(chan jit.ChangeNotice, 16)
	listening := make(chan error, 1)
	go func() { listening <- b.ListenChanges(ctx, func(n jit.ChangeNotice) { notices <- n }) }()

	now := time.Now().UTC()
	r := &jit.Request{ID: "req-1", Requester: "alice@example.com", Resource: "db", Access: "read", Duration: time.Hour,
		Reason: "x", Status: jit.StatusPending, CreatedAt: now, UpdatedAt: now, LapsesAt: now.Add(time.Hour)}
	// LISTEN is set up asynchronously: announce until the listener hears.
	deadline := time.Now().Add(10 * time.Second)
	for heard := false; !heard; {
		if time.Now().After(deadline) {
			t.Fatal("no change notice arrived")
		}
		if err := a.Apply(ctx, &jit.Change{Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "warm-up", now.Add(time.Hour))}}); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-notices:
			heard = n.Jobs
		case <-time.After(100 * time.Millisecond):
		}
	}
	for len(notices) > 0 {
		<-notices
	}

	if err := a.Apply(ctx, &jit.Change{Request: r, Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, r.ID, r.LapsesAt)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notices:
		if n.RequestID != r.ID || !n.Jobs {
			t.Fatalf("notice %+v, want request %s with jobs", n, r.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the insert was not announced")
	}

	// A stale update conflicts and rolls back: nothing is announced.
	stale := *r
	stale.Version = 0
	stale.Status = jit.StatusCancelled
	if err := a.Apply(ctx, &jit.Change{Request: &stale}); jit.ErrorCode(err) != jit.ECodeConflict {
		t.Fatalf("stale insert: %v", err)
	}
	r.Status = jit.StatusCancelled
	if err := a.Apply(ctx, &jit.Change{Request: r}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notices:
		if n.RequestID != r.ID || n.Jobs {
			t.Fatalf("after a rolled-back and a committed update: %+v, want the update only", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the update was not announced")
	}
	select {
	case n := <-notices:
		t.Fatalf("unexpected notice %+v (the rolled-back change?)", n)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-listening; err != context.Canceled {
		t.Fatalf("ListenChanges ended with %v, want context.Canceled", err)
	}
}
