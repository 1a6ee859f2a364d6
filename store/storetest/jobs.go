package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func enqueue(t *testing.T, s jit.Store, jobs ...jit.Job) {
	t.Helper()
	apply(t, s, &jit.Change{Enqueue: jobs})
}

func claim(t *testing.T, s jit.Store, owner string, now time.Time, lease time.Duration, limit int) []jit.Job {
	t.Helper()
	js, err := s.ClaimJobs(context.Background(), jit.ClaimParams{Owner: owner, Now: now, Lease: lease, Limit: limit})
	if err != nil {
		t.Fatalf("ClaimJobs: %v", err)
	}
	return js
}

func onlyJob(t *testing.T, s jit.Store) jit.Job {
	t.Helper()
	js := listJobs(t, s)
	if len(js) != 1 {
		t.Fatalf("%d jobs %v, want exactly one", len(js), jobKeys(js))
	}
	return js[0]
}

func testJobUpsert(t *testing.T, s jit.Store) {
	key := jit.JobKey(jit.JobRevoke, "req-1")
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		name    string
		runAt   time.Duration
		wantRun time.Duration
	}{
		{"first enqueue", 10 * time.Minute, 10 * time.Minute},
		{"later time keeps the earlier", 20 * time.Minute, 10 * time.Minute},
		{"earlier time wins", 5 * time.Minute, 5 * time.Minute},
	}
	var id int64
	for _, st := range steps {
		enqueue(t, s, jit.NewJob(jit.JobRevoke, "req-1", at(st.runAt)))
		j := onlyJob(t, s)
		if !j.RunAt.Equal(micro(at(st.wantRun))) || j.Key != key || j.Kind != jit.JobRevoke || j.RequestID != "req-1" {
			t.Fatalf("%s: job %+v, want %s due %v", st.name, j, key, at(st.wantRun))
		}
		if id == 0 {
			id = j.ID
		} else if j.ID != id {
			t.Fatalf("%s: job ID changed from %d to %d", st.name, id, j.ID)
		}
	}

	// Failed attempts survive a merge.
	if js := claim(t, s, "w1", at(5*time.Minute), time.Minute, 10); len(js) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(js))
	}
	if err := s.RetryJob(context.Background(), id, "w1", at(30*time.Minute), "target unreachable"); err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		runAt, wantRun time.Duration
	}{{40 * time.Minute, 30 * time.Minute}, {15 * time.Minute, 15 * time.Minute}} {
		enqueue(t, s, jit.NewJob(jit.JobRevoke, "req-1", at(st.runAt)))
		j := onlyJob(t, s)
		if !j.RunAt.Equal(micro(at(st.wantRun))) || j.Attempt != 1 || j.LastError != "target unreachable" {
			t.Fatalf("after enqueue at +%v: %+v, want due +%v with attempt 1 and its error", st.runAt, j, st.wantRun)
		}
	}

	// Two keys in one change are two jobs; a job's CreatedAt is kept.
	other := jit.NewJob(jit.JobGrant, "req-2", at(time.Minute))
	other.CreatedAt = t0
	enqueue(t, s, other, jit.NewJob(jit.JobLapse, "req-3", at(time.Hour)))
	js := listJobs(t, s)
	if keys := jobKeys(js); !slices.Equal(keys, []string{"grant:req-2", key, "lapse:req-3"}) {
		t.Fatalf("jobs = %v", keys)
	}
	if !js[0].CreatedAt.Equal(micro(t0)) {
		t.Fatalf("CreatedAt = %v, want %v", js[0].CreatedAt, micro(t0))
	}
}

func testDeleteJobs(t *testing.T, s jit.Store) {
	enqueue(t, s, jit.NewJob(jit.JobGrant, "a", t0), jit.NewJob(jit.JobGrant, "b", t0), jit.NewJob(jit.JobLapse, "c", t0))
	// A missing key is not an error.
	apply(t, s, &jit.Change{DeleteJobs: []string{"grant:a", "grant:missing", "lapse:c"}})
	if keys := jobKeys(listJobs(t, s)); !slices.Equal(keys, []string{"grant:b"}) {
		t.Fatalf("jobs = %v, want [grant:b]", keys)
	}
	// Deletes apply before enqueues, so one change can replace a job with
	// a later one (completing a job and scheduling its successor).
	apply(t, s, &jit.Change{DeleteJobs: []string{"grant:b"}, Enqueue: []jit.Job{jit.NewJob(jit.JobGrant, "b", t0.Add(time.Hour))}})
	if j := onlyJob(t, s); !j.RunAt.Equal(micro(t0.Add(time.Hour))) {
		t.Fatalf("replaced job due %v, want %v", j.RunAt, t0.Add(time.Hour))
	}
	// A claimed job can be deleted (completed).
	js := claim(t, s, "w1", t0.Add(time.Hour), time.Minute, 1)
	apply(t, s, &jit.Change{DeleteJobs: []string{js[0].Key}})
	if js := listJobs(t, s); len(js) != 0 {
		t.Fatalf("jobs %v after completing the last", jobKeys(js))
	}
}

func testClaimJobs(t *testing.T, s jit.Store) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// Enqueued out of time order.
	enqueue(t, s,
		jit.NewJob(jit.JobRevoke, "d", at(time.Minute)),
		jit.NewJob(jit.JobGrant, "b", at(-time.Minute)),
		jit.NewJob(jit.JobLapse, "c", at(0)),
		jit.NewJob(jit.JobGrant, "a", at(-2*time.Minute)),
	)
	const lease = 30 * time.Second
	steps := []struct {
		name  string
		owner string
		now   time.Duration
		limit int
		want  []string
	}{
		{"earliest first, up to the limit", "w1", 0, 2, []string{"grant:a", "grant:b"}},
		{"due now counts, leased and future do not", "w2", 0, 10, []string{"lapse:c"}},
		{"leases still run", "w2", 10 * time.Second, 10, nil},
		{"a lease ends at its deadline", "w3", lease, 2, []string{"grant:a", "grant:b"}},
		{"the rest of the expired leases", "w3", lease, 10, []string{"lapse:c"}},
		{"expired leases and a newly due job, by run time", "w1", time.Minute, 10,
			[]string{"grant:a", "grant:b", "lapse:c", "revoke:d"}},
	}
	for _, st := range steps {
		got := claim(t, s, st.owner, at(st.now), lease, st.limit)
		if keys := jobKeys(got); !slices.Equal(keys, st.want) {
			t.Fatalf("%s: claimed %v, want %v", st.name, keys, st.want)
		}
		for _, j := range got {
			if j.LeaseOwner != st.owner || !j.LeaseUntil.Equal(micro(at(st.now+lease))) || j.ID == 0 {
				t.Fatalf("%s: claimed %+v, want lease to %s until %v", st.name, j, st.owner, at(st.now+lease))
			}
		}
	}
	// The leases are stored, not only returned.
	for _, j := range listJobs(t, s) {
		if j.LeaseOwner == "" || j.LeaseUntil.IsZero() {
			t.Fatalf("job %s lost its lease: %+v", j.Key, j)
		}
	}
}

func testClaimJobsBadInput(t *testing.T, s jit.Store) {
	enqueue(t, s, jit.NewJob(jit.JobGrant, "a", t0))
	ok := jit.ClaimParams{Owner: "w1", Now: t0, Lease: time.Minute, Limit: 10}
	tests := []struct {
		name   string
		change func(p *jit.ClaimParams)
	}{
		{"no owner", func(p *jit.ClaimParams) { p.Owner = "" }},
		{"no time", func(p *jit.ClaimParams) { p.Now = time.Time{} }},
		{"no lease", func(p *jit.ClaimParams) { p.Lease = 0 }},
		{"negative lease", func(p *jit.ClaimParams) { p.Lease = -time.Second }},
		{"no limit", func(p *jit.ClaimParams) { p.Limit = 0 }},
		{"negative limit", func(p *jit.ClaimParams) { p.Limit = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.change(&p)
			_, err := s.ClaimJobs(context.Background(), p)
			wantCode(t, tc.name, err, jit.ECodeInvalid)
			if j := onlyJob(t, s); j.LeaseOwner != "" {
				t.Fatalf("refused claim leased %+v", j)
			}
		})
	}
	if js := claim(t, s, ok.Owner, ok.Now, ok.Lease, ok.Limit); len(js) != 1 {
		t.Fatalf("valid claim got %d jobs, want 1", len(js))
	}
}

// testConcurrentClaims has claimers race over one set of due jobs: every
// job is claimed exactly once.
func testConcurrentClaims(t *testing.T, s jit.Store) {
	const jobs, claimers = 200, 8
	var all []jit.Job
	for i := 0; i < jobs; i++ {
		all = append(all, jit.NewJob(jit.JobGrant, fmt.Sprintf("req-%03d", i), t0.Add(-time.Duration(i)*time.Second)))
	}
	enqueue(t, s, all...)
	got := make([][]int64, claimers)
	errs := runConcurrently(claimers, func(i int) error {
		// A store that hands out leased jobs again would loop forever.
		for rounds := 0; ; rounds++ {
			if rounds > jobs {
				return fmt.Errorf("claiming does not end after %d rounds", rounds)
			}
			js, err := s.ClaimJobs(context.Background(), jit.ClaimParams{
				Owner: fmt.Sprintf("w%d", i), Now: t0, Lease: time.Hour, Limit: 7,
			})
			if err != nil {
				return err
			}
			if len(js) == 0 {
				return nil
			}
			for _, j := range js {
				got[i] = append(got[i], j.ID)
			}
		}
	})
	if err := joinErrs(errs); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	for i, idsOf := range got {
		for _, id := range idsOf {
			if w, dup := seen[id]; dup {
				t.Fatalf("job %d claimed by both w%d and w%d", id, w, i)
			}
			seen[id] = i
		}
	}
	if len(seen) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(seen), jobs)
	}
	owners := map[int64]string{}
	for _, j := range listJobs(t, s) {
		owners[j.ID] = j.LeaseOwner
	}
	for id, w := range seen {
		if owners[id] != fmt.Sprintf("w%d", w) {
			t.Fatalf("job %d stored lease owner %q, claimed by w%d", id, owners[id], w)
		}
	}
}

func testRetryJob(t *testing.T, s jit.Store) {
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	enqueue(t, s, jit.NewJob(jit.JobGrant, "req-1", at(0)))
	id := claim(t, s, "w1", at(0), time.Minute, 1)[0].ID

	owner := "w1"
	for attempt := 1; attempt <= 2; attempt++ {
		next := at(time.Duration(attempt) * 5 * time.Minute)
		msg := fmt.Sprintf("attempt %d: connection refused", attempt)
		// Someone who does not hold the lease cannot release it.
		wantCode(t, "RetryJob by another owner", s.RetryJob(ctx, id, "intruder", next, msg), jit.ECodeConflict)
		if err := s.RetryJob(ctx, id, owner, next, msg); err != nil {
			t.Fatalf("RetryJob: %v", err)
		}
		j := onlyJob(t, s)
		if j.Attempt != attempt || j.LastError != msg || !j.RunAt.Equal(micro(next)) ||
			j.LeaseOwner != "" || !j.LeaseUntil.IsZero() {
			t.Fatalf("after retry %d: %+v", attempt, j)
		}
		if js := claim(t, s, "w2", next.Add(-time.Microsecond), time.Minute, 1); len(js) != 0 {
			t.Fatalf("retried job claimed before its time: %+v", js)
		}
		js := claim(t, s, "w2", next, time.Minute, 1)
		if len(js) != 1 || js[0].ID != id || js[0].Attempt != attempt {
			t.Fatalf("claim at the retry time = %+v, want job %d at attempt %d", js, id, attempt)
		}
		owner = "w2"
	}

	wantCode(t, "RetryJob of a missing job", s.RetryJob(ctx, id+1000, "w2", at(time.Hour), "x"), jit.ECodeNotFound)
	wantCode(t, "RetryJob without a time", s.RetryJob(ctx, id, "w2", time.Time{}, "x"), jit.ECodeInvalid)
	apply(t, s, &jit.Change{DeleteJobs: []string{jit.JobKey(jit.JobGrant, "req-1")}})
	wantCode(t, "RetryJob of a completed job", s.RetryJob(ctx, id, "w2", at(time.Hour), "x"), jit.ECodeNotFound)
}

func testRenewLease(t *testing.T, s jit.Store) {
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	enqueue(t, s, jit.NewJob(jit.JobRevoke, "req-1", at(0)))
	id := claim(t, s, "w1", at(0), time.Minute, 1)[0].ID

	// A renewed lease keeps the job from other claimers past the first
	// deadline.
	if err := s.RenewLease(ctx, id, "w1", at(3*time.Minute)); err != nil {
		t.Fatalf("RenewLease: %v", err)
	}
	if js := claim(t, s, "w2", at(2*time.Minute), time.Minute, 1); len(js) != 0 {
		t.Fatalf("job with a renewed lease claimed by another owner: %+v", js)
	}
	if at, ok, err := s.NextJobAt(ctx); err != nil || !ok || !at.Equal(micro(t0.Add(3*time.Minute))) {
		t.Fatalf("NextJobAt after renewal = %v %v %v, want the renewed deadline", at, ok, err)
	}
	// Once it runs out, another owner takes the job and the old owner can
	// no longer renew it.
	js := claim(t, s, "w2", at(3*time.Minute), time.Minute, 1)
	if len(js) != 1 || js[0].ID != id {
		t.Fatalf("claim after the renewed lease ran out = %+v", js)
	}
	wantCode(t, "RenewLease by a former owner", s.RenewLease(ctx, id, "w1", at(10*time.Minute)), jit.ECodeConflict)
	if err := s.RenewLease(ctx, id, "w2", at(5*time.Minute)); err != nil {
		t.Fatalf("RenewLease by the new owner: %v", err)
	}
	apply(t, s, &jit.Change{DeleteJobs: []string{jit.JobKey(jit.JobRevoke, "req-1")}})
	wantCode(t, "RenewLease of a completed job", s.RenewLease(ctx, id, "w2", at(6*time.Minute)), jit.ECodeNotFound)
}

func testNextJobAt(t *testing.T, s jit.Store) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	check := func(what string, want time.Time, wantOK bool) {
		t.Helper()
		got, ok, err := s.NextJobAt(context.Background())
		if err != nil {
			t.Fatalf("%s: NextJobAt: %v", what, err)
		}
		if ok != wantOK || (ok && !got.Equal(micro(want))) {
			t.Fatalf("%s: NextJobAt = %v, %v; want %v, %v", what, got, ok, micro(want), wantOK)
		}
	}
	check("no jobs", time.Time{}, false)
	enqueue(t, s, jit.NewJob(jit.JobRevoke, "x", at(10*time.Minute)), jit.NewJob(jit.JobLapse, "y", at(5*time.Minute)))
	check("earliest run time", at(5*time.Minute), true)
	claim(t, s, "w1", at(5*time.Minute), 20*time.Minute, 10)
	check("a leased job counts at its lease deadline", at(10*time.Minute), true)
	claim(t, s, "w1", at(10*time.Minute), time.Minute, 10)
	check("the earlier lease deadline", at(11*time.Minute), true)
	apply(t, s, &jit.Change{DeleteJobs: []string{"revoke:x", "lapse:y"}})
	check("all done", time.Time{}, false)
}

func testListJobs(t *testing.T, s jit.Store) {
	ctx := context.Background()
	enqueue(t, s,
		jit.NewJob(jit.JobGrant, "g", t0.Add(2*time.Minute)),
		jit.NewJob(jit.JobRevoke, "r1", t0.Add(time.Minute)),
		jit.NewJob(jit.JobLapse, "l", t0.Add(3*time.Minute)),
		jit.NewJob(jit.JobRevoke, "r0", t0),
	)
	tests := []struct {
		kind  jit.JobKind
		limit int
		want  []string
	}{
		{"", 0, []string{"revoke:r0", "revoke:r1", "grant:g", "lapse:l"}},
		{"", 2, []string{"revoke:r0", "revoke:r1"}},
		{jit.JobRevoke, 0, []string{"revoke:r0", "revoke:r1"}},
		{jit.JobGrant, 10, []string{"grant:g"}},
		{"unknown", 10, nil},
	}
	for _, tc := range tests {
		js, err := s.ListJobs(ctx, tc.kind, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if keys := jobKeys(js); !slices.Equal(keys, tc.want) {
			t.Fatalf("ListJobs(%q, %d) = %v, want %v", tc.kind, tc.limit, keys, tc.want)
		}
	}
	// Leased jobs are still pending and listed.
	claim(t, s, "w1", t0.Add(time.Hour), time.Minute, 10)
	js, err := s.ListJobs(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.IsSortedFunc(js, func(a, b jit.Job) int { return a.RunAt.Compare(b.RunAt) })
	if len(js) != 4 || !sorted {
		t.Fatalf("ListJobs after claiming = %v, want all 4 by run time", jobKeys(js))
	}
}

// testJobPayload checks that a job's payload is stored as given and comes
// back from ListJobs and ClaimJobs; that no payload (nil or empty) comes
// back empty; and that a merge keeps the first job's payload, as it keeps
// the rest of the row.
func testJobPayload(t *testing.T, s jit.Store) {
	ctx := context.Background()
	first := []byte(`{"sink":"chat","text":"grant ready ✓","n":1}`)
	withPayload := func(j jit.Job, p []byte) jit.Job { j.Payload = p; return j }
	notify := withPayload(jit.Job{Key: "notify:chat:n-1", Kind: jit.JobNotify, RunAt: t0.Add(2 * time.Minute)}, first)
	enqueue(t, s,
		notify,
		jit.NewJob(jit.JobGrant, "req-nil", t0),
		withPayload(jit.NewJob(jit.JobLapse, "req-empty", t0.Add(time.Minute)), []byte{}),
	)
	want := map[string][]byte{notify.Key: first, "grant:req-nil": nil, "lapse:req-empty": nil}
	check := func(what string, js []jit.Job) {
		t.Helper()
		if len(js) != len(want) {
			t.Fatalf("%s: jobs %v, want %d", what, jobKeys(js), len(want))
		}
		for _, j := range js {
			w, ok := want[j.Key]
			if !ok {
				t.Fatalf("%s: unexpected job %s", what, j.Key)
			}
			if !bytes.Equal(j.Payload, w) {
				t.Errorf("%s: job %s payload %q, want %q", what, j.Key, j.Payload, w)
			}
		}
	}
	check("listed", listJobs(t, s))

	// A merge moves the job earlier but keeps its payload; so does one
	// that brings none.
	enqueue(t, s, withPayload(notify, []byte(`{"sink":"chat","text":"other","n":2}`)))
	notify.RunAt = t0.Add(time.Minute)
	enqueue(t, s, withPayload(notify, nil))
	js, err := s.ListJobs(ctx, jit.JobNotify, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || !js[0].RunAt.Equal(micro(notify.RunAt)) {
		t.Fatalf("after merges: %+v, want one notify job due %v", js, notify.RunAt)
	}
	check("listed after merges", listJobs(t, s))
	check("claimed", claim(t, s, "w1", t0.Add(time.Hour), time.Minute, 10))

	// A payload given to a job enqueued again after its deletion is the
	// new one: only a merge keeps the old.
	second := []byte(`{"sink":"chat","text":"again","n":3}`)
	apply(t, s, &jit.Change{DeleteJobs: []string{notify.Key}, Enqueue: []jit.Job{withPayload(notify, second)}})
	want[notify.Key] = second
	check("listed after replace", listJobs(t, s))
}
