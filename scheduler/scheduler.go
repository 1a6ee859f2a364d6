// Package scheduler runs durable jobs (grant, revoke, lapse) when they are
// due. It claims due jobs from the store with a lease, runs them on a
// bounded pool of workers and sleeps until the next job is due or it is
// woken, so its cost grows with the jobs that are due, not with the number
// of requests ever made.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/metrics"
)

// Handler runs one job. It returns nil when it recorded the job's outcome
// (deleted or rescheduled it); an error makes the scheduler reschedule the
// job with its default backoff.
type Handler func(ctx context.Context, j jit.Job) error

// Config configures a Scheduler.
type Config struct {
	Store   jit.Store
	Handler Handler
	// Owner names this process in job leases (default host-pid-random).
	Owner string
	// Clock defaults to jit.SystemClock.
	Clock  jit.Clock
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics *metrics.Metrics
	// Workers is the number of jobs run at once (default 16).
	Workers int
	// Lease is how long a claimed job is reserved for this process
	// (default 30s). It is renewed while the job runs, so it need not
	// outlast the slowest provider call; a crashed process's jobs are
	// claimed again about one lease after the crash.
	Lease time.Duration
	// MaxSleep bounds the sleep between looks at the store, which picks up
	// jobs enqueued by other processes (default 2s).
	MaxSleep time.Duration
	// RetryDelay is the delay after a handler error (default 5s).
	RetryDelay time.Duration
}

func (c *Config) validate() error {
	if c.Store == nil || c.Handler == nil {
		return errors.New("scheduler: Store and Handler are required")
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.MaxSleep <= 0 {
		c.MaxSleep = 2 * time.Second
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 5 * time.Second
	}
	return nil
}

// Scheduler claims and runs due jobs.
type Scheduler struct {
	cfg  Config
	wake chan struct{}
	sem  chan struct{}
	wg   sync.WaitGroup
}

// New returns a Scheduler; call Run to start it.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg, wake: make(chan struct{}, 1), sem: make(chan struct{}, cfg.Workers)}, nil
}

// Wake makes the scheduler look for due jobs now. It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends, then waits for running jobs.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.wg.Wait()
	for ctx.Err() == nil {
		n, full, err := s.claimAndRun(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("claim jobs", "err", err)
		}
		if n > 0 && full && err == nil {
			continue // every free worker got a job: there may be more due
		}
		// Fewer due jobs than free workers: none is left due now. The
		// sleep looks up the next one (and ends at once if one came due
		// or a wake-up arrived meanwhile), which spares a claim that
		// would find nothing.
		s.sleep(ctx, err != nil)
	}
}

// claimAndRun claims as many due jobs as there are free workers and
// starts them; it returns how many it started and whether that was one
// per free worker.
func (s *Scheduler) claimAndRun(ctx context.Context) (int, bool, error) {
	// Wait for at least one free worker before claiming, so that claimed
	// jobs never sit leased while nothing runs them.
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
	free := 1
	for free < s.cfg.Workers {
		select {
		case s.sem <- struct{}{}:
			free++
			continue
		default:
		}
		break
	}
	jobs, err := s.cfg.Store.ClaimJobs(ctx, jit.ClaimParams{Owner: s.cfg.Owner, Now: s.cfg.Clock.Now(), Lease: s.cfg.Lease, Limit: free})
	for i := len(jobs); i < free; i++ {
		<-s.sem
	}
	if err != nil {
		return 0, false, err
	}
	for _, j := range jobs {
		s.wg.Add(1)
		go func(j jit.Job) {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.run(ctx, j)
		}(j)
	}
	return len(jobs), len(jobs) == free, nil
}

func (s *Scheduler) run(ctx context.Context, j jit.Job) {
	start := s.cfg.Clock.Now()
	if m := s.cfg.Metrics; m != nil {
		m.JobLatency.WithLabelValues(string(j.Kind)).Observe(start.Sub(j.RunAt).Seconds())
	}
	outcome := "ok"
	stop := s.keepLease(ctx, j)
	err := s.safeHandle(ctx, j)
	stop()
	if err != nil {
		outcome = "error"
		if ctx.Err() != nil {
			// Shutting down: leave the job leased; its lease runs out and
			// it is claimed again.
			return
		}
		s.cfg.Logger.Error("job failed; will retry", "job", j.ID, "kind", j.Kind, "request", j.RequestID, "attempt", j.Attempt+1, "err", err)
		if rerr := s.cfg.Store.RetryJob(context.WithoutCancel(ctx), j.ID, s.cfg.Owner, s.cfg.Clock.Now().Add(s.cfg.RetryDelay), err.Error()); rerr != nil {
			s.cfg.Logger.Error("reschedule job", "job", j.ID, "err", rerr)
		}
	}
	if m := s.cfg.Metrics; m != nil {
		m.JobDuration.WithLabelValues(string(j.Kind), outcome).Observe(s.cfg.Clock.Now().Sub(start).Seconds())
	}
}

// keepLease renews j's lease every third of the lease period while the
// job runs, so that a slow provider call is not taken over by another
// process, while a crashed process's jobs are free again within one lease.
// It returns a function that stops the renewals.
func (s *Scheduler) keepLease(ctx context.Context, j jit.Job) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := s.cfg.Store.RenewLease(ctx, j.ID, s.cfg.Owner, s.cfg.Clock.Now().Add(s.cfg.Lease))
				switch jit.ErrorCode(err) {
				case "":
				case jit.ECodeNotFound:
					return // the job finished
				default:
					s.cfg.Logger.Warn("could not renew job lease; another process may take the job over", "job", j.ID, "kind", j.Kind, "err", err)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// safeHandle runs the handler, turning a panic into an error so that one
// bad job cannot stop the scheduler.
func (s *Scheduler) safeHandle(ctx context.Context, j jit.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job panicked: %v", p)
		}
	}()
	return s.cfg.Handler(ctx, j)
}

// sleep waits until the next job is due, a wake-up, or MaxSleep.
func (s *Scheduler) sleep(ctx context.Context, afterError bool) {
	d := s.cfg.MaxSleep
	if !afterError {
		if at, ok, err := s.cfg.Store.NextJobAt(ctx); err == nil && ok {
			if until := at.Sub(s.cfg.Clock.Now()); until < d {
				d = until
			}
		}
	}
	if d <= 0 {
		// Due now but nothing was claimable (all workers busy or the job is
		// leased elsewhere): yield briefly instead of spinning.
		d = 5 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.wake:
	case <-t.C:
	}
}
