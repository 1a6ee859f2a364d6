package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/sqlite"
)

var benchT0 = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func openBench(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "jit.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// submitChange is what a submit writes: the request, its audit event and
// its lapse job.
func submitChange(i int64) *jit.Change {
	id := fmt.Sprintf("req-%d", i)
	created := benchT0.Add(time.Duration(i) * time.Millisecond)
	return &jit.Change{
		Request: &jit.Request{
			ID: id, Requester: "alice@example.com", Resource: "prod-db", Access: "read",
			Duration: time.Hour, Reason: "INC-42", Approvers: []string{"group:sre"},
			Status: jit.StatusPending, Rule: "engineers", ApprovalsRequired: 1,
			CreatedAt: created, UpdatedAt: created, LapsesAt: created.Add(24 * time.Hour),
		},
		Events: []jit.AuditEvent{{
			Time: created, Actor: "alice@example.com", Action: jit.ActionSubmit, RequestID: id,
			Source:  jit.Source{Kind: "cli", IP: "192.0.2.1", UserAgent: "jit/1.0"},
			Details: map[string]string{"rule": "engineers"},
		}},
		Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, id, created.Add(24*time.Hour))},
	}
}

func BenchmarkApply(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		if err := s.Apply(ctx, submitChange(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyParallel(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Apply(ctx, submitChange(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyConcurrent32 is BenchmarkApplyParallel with 32 writers
// (the load of a busy server), whose commits the store can share.
func BenchmarkApplyConcurrent32(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Apply(ctx, submitChange(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetRequest reads one request with its approval, the most
// frequent read (every status poll).
func BenchmarkGetRequest(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	const stored = 1000
	for i := int64(1); i <= stored; i++ {
		c := submitChange(i)
		c.Approval = &jit.Approval{RequestID: c.Request.ID, Approver: "bob@example.com", Approved: true, At: c.Request.CreatedAt}
		if err := s.Apply(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		r, err := s.GetRequest(ctx, fmt.Sprintf("req-%d", i%stored+1))
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Approvals) != 1 {
			b.Fatalf("%d approvals, want 1", len(r.Approvals))
		}
	}
}

// BenchmarkClaimJobs claims batches of 100 from 10,000 due jobs. Each round
// runs after the previous round's leases ended, so all 10,000 stay due and
// every claim searches the full backlog.
func BenchmarkClaimJobs(b *testing.B) {
	const due, batch, lease = 10000, 100, time.Minute
	s := openBench(b)
	ctx := context.Background()
	jobs := make([]jit.Job, due)
	for i := range jobs {
		jobs[i] = jit.NewJob(jit.JobRevoke, fmt.Sprintf("req-%d", i), benchT0.Add(-time.Duration(i)*time.Second))
	}
	if err := s.Apply(ctx, &jit.Change{Enqueue: jobs}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	now := benchT0
	for b.Loop() {
		now = now.Add(2 * lease)
		got, err := s.ClaimJobs(ctx, jit.ClaimParams{Owner: "bench", Now: now, Lease: lease, Limit: batch})
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != batch {
			b.Fatalf("claimed %d jobs, want %d", len(got), batch)
		}
	}
}
