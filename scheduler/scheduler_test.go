package scheduler_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/scheduler"
	"github.com/jitaccess/jit/store/sqlite"
)

func openStore(t *testing.T) jit.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func enqueue(t *testing.T, st jit.Store, jobs ...jit.Job) {
	t.Helper()
	if err := st.Apply(context.Background(), &jit.Change{Enqueue: jobs}); err != nil {
		t.Fatal(err)
	}
}

// done completes a job the way workflow handlers do: by deleting it.
func done(ctx context.Context, st jit.Store, j jit.Job) error {
	return st.Apply(ctx, &jit.Change{DeleteJobs: []string{j.Key}})
}

func start(t *testing.T, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { s.Run(ctx); close(finished) }()
	t.Cleanup(func() { cancel(); <-finished })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunsDueJobsAndWaitsForFutureOnes(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	enqueue(t, st, jit.NewJob(jit.JobGrant, "due", now.Add(-time.Second)), jit.NewJob(jit.JobRevoke, "later", now.Add(time.Hour)))
	var mu sync.Mutex
	var ran []string
	start(t, scheduler.Config{Store: st, Handler: func(ctx context.Context, j jit.Job) error {
		mu.Lock()
		ran = append(ran, j.RequestID)
		mu.Unlock()
		return done(ctx, st, j)
	}})
	waitFor(t, "the due job", func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 1 })
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 1 || ran[0] != "due" {
		t.Fatalf("ran %v, want only the due job", ran)
	}
	jobs, _ := st.ListJobs(context.Background(), "", 10)
	if len(jobs) != 1 || jobs[0].RequestID != "later" {
		t.Fatalf("jobs left: %+v", jobs)
	}
}

// A job due shortly runs at its time without a wake-up, because the
// scheduler sleeps until the earliest due job rather than polling slowly.
func TestSleepsUntilNextDueJob(t *testing.T) {
	st := openStore(t)
	ran := make(chan time.Time, 1)
	s := start(t, scheduler.Config{Store: st, MaxSleep: time.Hour, Handler: func(ctx context.Context, j jit.Job) error {
		ran <- time.Now()
		return done(ctx, st, j)
	}})
	time.Sleep(20 * time.Millisecond) // let it go to sleep with no jobs
	due := time.Now().Add(300 * time.Millisecond)
	enqueue(t, st, jit.NewJob(jit.JobRevoke, "r", due))
	// Asleep for MaxSleep (an hour), it runs the job on time only if Wake
	// makes it look at the store and then sleep until the job is due.
	s.Wake()
	select {
	case at := <-ran:
		if at.Before(due) {
			t.Fatalf("job ran %s before it was due", due.Sub(at))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("job did not run")
	}
}

func TestHandlerErrorAndPanicAreRetried(t *testing.T) {
	st := openStore(t)
	enqueue(t, st, jit.NewJob(jit.JobGrant, "flaky", time.Now()))
	var calls atomic.Int32
	start(t, scheduler.Config{Store: st, RetryDelay: 10 * time.Millisecond, Handler: func(ctx context.Context, j jit.Job) error {
		switch calls.Add(1) {
		case 1:
			return errors.New("target busy")
		case 2:
			panic("bug in a handler")
		}
		return done(ctx, st, j)
	}})
	waitFor(t, "three runs", func() bool { return calls.Load() >= 3 })
	waitFor(t, "the job to be completed", func() bool {
		jobs, _ := st.ListJobs(context.Background(), "", 10)
		return len(jobs) == 0
	})
}

func TestRetryRecordsAttemptAndError(t *testing.T) {
	st := openStore(t)
	enqueue(t, st, jit.NewJob(jit.JobGrant, "x", time.Now()))
	failed := make(chan struct{}, 1)
	start(t, scheduler.Config{Store: st, RetryDelay: time.Hour, Handler: func(ctx context.Context, j jit.Job) error {
		failed <- struct{}{}
		return errors.New("connection refused")
	}})
	<-failed
	waitFor(t, "the retry to be recorded", func() bool {
		jobs, _ := st.ListJobs(context.Background(), "", 10)
		return len(jobs) == 1 && jobs[0].Attempt == 1 && jobs[0].LastError == "connection refused" && jobs[0].LeaseOwner == ""
	})
}

// A job that runs longer than its lease keeps it (renewals), so no other
// scheduler runs it at the same time.
func TestLongJobKeepsItsLease(t *testing.T) {
	st := openStore(t)
	enqueue(t, st, jit.NewJob(jit.JobRevoke, "slow", time.Now()))
	var running, runs atomic.Int32
	release := make(chan struct{})
	handler := func(ctx context.Context, j jit.Job) error {
		runs.Add(1)
		if running.Add(1) > 1 {
			t.Error("two schedulers ran the same job at once")
		}
		<-release
		running.Add(-1)
		return done(ctx, st, j)
	}
	lease := 300 * time.Millisecond
	start(t, scheduler.Config{Store: st, Owner: "a", Lease: lease, MaxSleep: 20 * time.Millisecond, Handler: handler})
	start(t, scheduler.Config{Store: st, Owner: "b", Lease: lease, MaxSleep: 20 * time.Millisecond, Handler: handler})
	waitFor(t, "the job to start", func() bool { return runs.Load() == 1 })
	time.Sleep(4 * lease) // several lease periods: renewals must keep it
	close(release)
	waitFor(t, "the job to finish", func() bool {
		jobs, _ := st.ListJobs(context.Background(), "", 10)
		return len(jobs) == 0
	})
	if n := runs.Load(); n != 1 {
		t.Fatalf("job ran %d times, want once", n)
	}
}

// The jobs of a scheduler that died (its lease is not renewed) are taken
// over once the lease runs out.
func TestAbandonedJobIsTakenOver(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	enqueue(t, st, jit.NewJob(jit.JobGrant, "orphan", now))
	claimed, err := st.ClaimJobs(context.Background(), jit.ClaimParams{Owner: "dead", Now: now, Lease: 200 * time.Millisecond, Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	ran := make(chan string, 1)
	start(t, scheduler.Config{Store: st, Owner: "alive", Handler: func(ctx context.Context, j jit.Job) error {
		ran <- j.RequestID
		return done(ctx, st, j)
	}})
	select {
	case id := <-ran:
		if id != "orphan" {
			t.Fatalf("ran %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("abandoned job was not taken over")
	}
}

func TestWorkersBoundConcurrency(t *testing.T) {
	st := openStore(t)
	var jobs []jit.Job
	for i := 0; i < 20; i++ {
		jobs = append(jobs, jit.NewJob(jit.JobRevoke, string(rune('a'+i)), time.Now()))
	}
	enqueue(t, st, jobs...)
	var running, peak, total atomic.Int32
	start(t, scheduler.Config{Store: st, Workers: 3, Handler: func(ctx context.Context, j jit.Job) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		total.Add(1)
		return done(ctx, st, j)
	}})
	waitFor(t, "all jobs", func() bool { return total.Load() == 20 })
	if p := peak.Load(); p > 3 {
		t.Fatalf("%d jobs ran at once with 3 workers", p)
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := scheduler.New(scheduler.Config{}); err == nil {
		t.Fatal("a scheduler without store and handler was accepted")
	}
}
