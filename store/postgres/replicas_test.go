package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.UTC)

// runWorkers runs fn(i) for i in [0, n) at once and returns their errors
// joined.
func runWorkers(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(i); err != nil {
				errs[i] = fmt.Errorf("worker %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// TestReplicas has two stores on one database (two replicas), each with
// several goroutines, submit requests (appending to the audit chain and
// enqueueing jobs) while others claim and complete jobs. The chain must
// come out as one contiguous, intact chain (audit.Verify), and no job may
// be handed to two claimers.
func TestReplicas(t *testing.T) {
	dsn := newDatabase(t)
	replicas := []jit.Store{openStore(t, dsn), openStore(t, dsn)}
	ctx := context.Background()

	const (
		writersPerReplica  = 4
		requestsPerWriter  = 15
		claimersPerReplica = 3
	)
	totalJobs := len(replicas) * writersPerReplica * requestsPerWriter

	var (
		mu      sync.Mutex
		claimed = map[int64]string{} // job ID -> claimer
		done    = make(chan struct{})
	)
	nWriters := len(replicas) * writersPerReplica
	var writersWG sync.WaitGroup
	writersWG.Add(nWriters)
	go func() {
		writersWG.Wait()
		close(done)
	}()
	// Writers and claimers all start together; claimers keep going until
	// the writers are done and nothing due is left.
	err := runWorkers(nWriters+len(replicas)*claimersPerReplica, func(i int) error {
		if i < nWriters {
			s := replicas[i%len(replicas)]
			defer writersWG.Done()
			for n := range requestsPerWriter {
				id := fmt.Sprintf("req-%d-%d", i, n)
				at := t0.Add(time.Duration(n) * time.Second)
				r := &jit.Request{ID: id, Requester: fmt.Sprintf("user%d@example.com", i), Resource: "demo",
					Access: "read", Duration: time.Hour, Reason: "INC-1", Status: jit.StatusApproved,
					Rule: "auto", AutoApproved: true, CreatedAt: at}
				err := s.Apply(ctx, &jit.Change{
					Request: r,
					Events: []jit.AuditEvent{
						{Time: at, Actor: r.Requester, Action: jit.ActionSubmit, RequestID: id, Source: jit.Source{Kind: "cli"}},
						{Time: at, Actor: jit.SystemActor, Action: jit.ActionAutoApprove, RequestID: id, Source: jit.SystemSource},
					},
					Enqueue: []jit.Job{jit.NewJob(jit.JobGrant, id, at)},
				})
				if err != nil {
					return fmt.Errorf("submit %s: %w", id, err)
				}
			}
			return nil
		}
		c := i - nWriters
		s := replicas[c%len(replicas)]
		owner := fmt.Sprintf("replica-%d/claimer-%d", c%len(replicas), c)
		for rounds := 0; ; {
			if rounds > totalJobs {
				return fmt.Errorf("claiming does not end after %d rounds", rounds)
			}
			// Read before claiming: an empty claim after the writers
			// finished means every job has been claimed.
			writersDone := isClosed(done)
			js, err := s.ClaimJobs(ctx, jit.ClaimParams{Owner: owner, Now: t0.Add(time.Hour), Lease: time.Hour, Limit: 3})
			if err != nil {
				return err
			}
			if len(js) == 0 {
				if writersDone {
					return nil
				}
				continue
			}
			rounds++
			mu.Lock()
			for _, j := range js {
				if other, dup := claimed[j.ID]; dup {
					mu.Unlock()
					return fmt.Errorf("job %d (%s) claimed by both %s and %s", j.ID, j.Key, other, owner)
				}
				claimed[j.ID] = owner
			}
			mu.Unlock()
			// Complete the jobs: delete them, record the grant.
			for _, j := range js {
				err := s.Apply(ctx, &jit.Change{
					DeleteJobs: []string{j.Key},
					Events: []jit.AuditEvent{{Time: t0.Add(time.Hour), Actor: jit.SystemActor, Action: jit.ActionGrant,
						RequestID: j.RequestID, Source: jit.SystemSource, Details: map[string]string{"by": owner}}},
				})
				if err != nil {
					return fmt.Errorf("complete %s: %w", j.Key, err)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != totalJobs {
		t.Fatalf("%d jobs claimed, want %d", len(claimed), totalJobs)
	}
	for i, s := range replicas {
		res, err := audit.Verify(ctx, s)
		if err != nil {
			t.Fatalf("replica %d: Verify: %v", i, err)
		}
		// Two events per request and one per completed job.
		if want := int64(3 * totalJobs); !res.OK || res.Checked != want {
			t.Fatalf("replica %d: Verify = %+v, want an intact chain of %d events", i, res, want)
		}
		if js, err := s.ListJobs(ctx, "", 0); err != nil || len(js) != 0 {
			t.Fatalf("replica %d: jobs left %v (err %v)", i, js, err)
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestJobKeyLockOrder has changes without events (so not serialised by the
// chain head) delete and enqueue overlapping job keys in clashing orders
// at once. Job rows are locked in key order whatever order a change lists
// them in, so none deadlocks: PostgreSQL would abort one side of a
// deadlock, which would surface here as a conflict.
func TestJobKeyLockOrder(t *testing.T) {
	dsn := newDatabase(t)
	replicas := []jit.Store{openStore(t, dsn), openStore(t, dsn)}
	ctx := context.Background()
	keys := []string{"a", "b", "c", "d", "e"}
	err := runWorkers(8, func(w int) error {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		s := replicas[w%2]
		for i := range 30 {
			perm := rng.Perm(len(keys))
			c := &jit.Change{DeleteJobs: []string{jit.JobKey(jit.JobGrant, keys[perm[0]])}}
			for _, k := range perm[1:] {
				c.Enqueue = append(c.Enqueue, jit.NewJob(jit.JobGrant, keys[k], t0.Add(time.Duration(i)*time.Second)))
			}
			if err := s.Apply(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
