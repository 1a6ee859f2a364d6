package workflow_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/workflow"
)

// recorder is a notification sink that records what it is told and fails
// its first few deliveries.
type recorder struct {
	name      string
	mu        sync.Mutex
	got       []jit.Notification
	failFirst int
	permanent bool
	calls     int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(ctx context.Context, n jit.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failFirst {
		if r.permanent {
			return jit.Permanent(errors.New("recipient unknown"))
		}
		return errors.New("sink down")
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, n.Action)
	}
	return out
}

// TestNotifications checks that every notifiable change is told to every
// sink once, in the change's own transaction, with the request as stored;
// that a failing sink is retried with backoff without resending to the
// others; that a permanent failure is dropped; and that active access gets
// a reminder before it expires, which is dropped if the access ended.
func TestNotifications(t *testing.T) {
	slackSink := &recorder{name: "slack"}
	mail := &recorder{name: "email", failFirst: 2}
	hook := &recorder{name: "webhook:siem", failFirst: 1, permanent: true}
	e := newEnvWith(t, func(c *workflow.Config) {
		c.Notifiers = []jit.Notifier{slackSink, mail, hook}
		c.RemindBefore = 10 * time.Minute
	})
	r := e.submit("alice@example.com", workflow.SubmitInput{Duration: 30 * time.Minute, Reason: "look"})
	e.runDue() // grant, and the notifications of submit/auto-approve/grant
	want := []string{jit.ActionSubmit, jit.ActionAutoApprove, jit.ActionGrant}
	if got := slackSink.actions(); !slices.Equal(got, want) {
		t.Fatalf("slack got %v, want %v", got, want)
	}
	for _, n := range slackSink.got {
		if n.Request.ID != r.ID || n.ID == "" || n.Version == 0 {
			t.Fatalf("notification %+v", n)
		}
	}
	if g := slackSink.got[2]; g.Request.Status != jit.StatusActive || g.Request.ExpiresAt == nil || len(g.Request.Handle) != 0 {
		t.Fatalf("grant notification carries %+v", g.Request)
	}
	// The email sink failed its first two deliveries: they wait for their
	// backoff; nothing was sent twice to slack meanwhile.
	if got := mail.actions(); len(got) != 1 {
		t.Fatalf("email got %v before its retries", got)
	}
	for range 5 {
		e.clock.Add(2 * time.Second)
		e.runDue()
	}
	// Retried deliveries arrive out of order (Version orders them).
	if got := mail.actions(); !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("email got %v after retries, want %v", got, want)
	}
	if got := slackSink.actions(); len(got) != 3 {
		t.Fatalf("slack got %v; retries of another sink resent to it", got)
	}
	// The webhook's first failure was permanent: that one notification
	// is dropped, the others arrive.
	if got := hook.actions(); len(got) != 2 {
		t.Fatalf("webhook got %v, want the two after the dropped one", got)
	}

	// The reminder comes 10 minutes before the end.
	e.clock.Add(19 * time.Minute)
	e.runDue()
	if got := slackSink.actions(); slices.Contains(got, jit.ActionRemind) {
		t.Fatal("reminded too early")
	}
	e.clock.Add(time.Minute)
	e.runDue()
	if got := slackSink.actions(); !slices.Contains(got, jit.ActionRemind) {
		t.Fatalf("no reminder 10 minutes before expiry: %v", got)
	}

	// A relinquished grant's pending reminder is dropped.
	r2 := e.submit("erin@example.com", workflow.SubmitInput{Duration: 30 * time.Minute, Reason: "look"})
	e.runDue()
	if _, err := e.svc.Relinquish(as("erin@example.com"), r2.ID); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	e.clock.Add(25 * time.Minute)
	e.runDue()
	var reminders int
	for _, n := range slackSink.got {
		if n.Request.ID == r2.ID && n.Action == jit.ActionRemind {
			reminders++
		}
	}
	if reminders != 0 {
		t.Fatal("a reminder was sent for relinquished access")
	}
	if js, err := e.store.ListJobs(context.Background(), jit.JobNotify, 0); err != nil || len(js) != 0 {
		t.Fatalf("notify jobs left: %+v, %v", js, err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
