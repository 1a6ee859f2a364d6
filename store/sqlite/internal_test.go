package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// queryPlan returns the detail lines of EXPLAIN QUERY PLAN for q.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return out
}

// TestQueryPlans holds the scheduler's scale promise: with 10,000 due jobs
// in the table, claiming a batch and finding the next due time are index
// searches (a range of jobs_due read in order, stopping at the limit), not
// table scans or sorts. The lookups of the request paths are checked too.
func TestQueryPlans(t *testing.T) {
	s := openTest(t)
	var jobs []jit.Job
	for i := 0; i < 10000; i++ {
		jobs = append(jobs, jit.NewJob(jit.JobRevoke, fmt.Sprintf("req-%d", i), t0.Add(-time.Duration(i)*time.Second)))
	}
	if err := s.Apply(context.Background(), &jit.Change{Enqueue: jobs}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		query string
		args  []any
		want  []string // every step: no second pass such as "USE TEMP B-TREE FOR ORDER BY" unless listed
	}{
		{"claim", claimSelectQuery, []any{t0.UnixMicro(), 100}, []string{"SEARCH jobs USING INDEX jobs_due (due_at<?)"}},
		{"next job", nextJobQuery, nil, []string{"SEARCH jobs USING INDEX jobs_due"}},
		{"lease", leaseQuery, []any{"w", 1, "[1,2]"}, []string{
			"SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)", "LIST SUBQUERY 1", "SCAN json_each VIRTUAL TABLE INDEX 1:"}},
		{"find active", findActiveQuery, []any{"a", "b", t0.UnixMicro()},
			[]string{"SEARCH requests USING INDEX requests_active (requester=? AND resource=?)"}},
		{"find active with approvals", findActiveWithApprovalsQuery, []any{"a", "b", t0.UnixMicro()}, []string{
			"CO-ROUTINE r", "SEARCH requests USING INDEX requests_active (requester=? AND resource=?)", "SCAN r",
			"SEARCH a USING INDEX approvals_request (request_id=?) LEFT-JOIN",
			"USE TEMP B-TREE FOR ORDER BY"}}, // of the approvals of one request
		{"get request", getRequestQuery, []any{"a"}, []string{
			"SEARCH r USING INDEX sqlite_autoindex_requests_1 (id=?)",
			"SEARCH a USING INDEX approvals_request (request_id=?) LEFT-JOIN"}},
		{"approvals of a page", approvalsQuery, []any{`["a","b"]`}, []string{
			"SEARCH approvals USING INDEX approvals_request (request_id=?)", "LIST SUBQUERY 1",
			"SCAN json_each VIRTUAL TABLE INDEX 1:", "USE TEMP B-TREE FOR ORDER BY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if plan := queryPlan(t, s.r, tc.query, tc.args...); !slices.Equal(plan, tc.want) {
				t.Fatalf("plan %q, want %q", plan, tc.want)
			}
		})
	}
	// And the claim really takes the earliest jobs from the 10,000.
	got, err := s.ClaimJobs(context.Background(), jit.ClaimParams{Owner: "w", Now: t0, Lease: time.Minute, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "revoke:req-9999" || got[2].Key != "revoke:req-9997" {
		t.Fatalf("claimed %+v", got)
	}
}

// TestEveryIndexIsUsed checks that each index serves at least one query the
// store runs: every index costs every write of its table a page, so one no
// query uses is pure cost. The queries are the store's statements and the
// shapes ListRequests and ListAudit build.
func TestEveryIndexIsUsed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	queries := map[string][]any{}
	add := func(q string, args ...any) {
		// Arguments not given bind NULL, which does not change the plan:
		// SQLite plans before it sees bound values.
		for len(args) < strings.Count(q, "?") {
			args = append(args, nil)
		}
		queries[q] = args
	}
	for _, q := range append(writeQueries, nextJobQuery, findActiveQuery, findActiveWithApprovalsQuery,
		getRequestQuery, approvalsQuery, cursorQuery, listJobsQuery, listKindQuery) {
		add(q)
	}
	before := t0
	for _, f := range []jit.RequestFilter{
		{}, {Requester: "a"}, {Resource: "b"}, {Statuses: []jit.Status{jit.StatusActive}},
		{Statuses: []jit.Status{jit.StatusActive, jit.StatusRevoking}, ExpiresBefore: &before},
		{Requester: "a", After: "r1"},
		{ExtendsID: "r1", Statuses: []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusActive}},
	} {
		q, args := listRequestsSQL(f, f.Statuses)
		add(q, args...)
	}
	for _, f := range []jit.AuditFilter{{}, {RequestID: "r"}, {Actor: "a"}, {Action: "x"}, {Since: t0}} {
		q, args := listAuditSQL(f, 100)
		add(q, args...)
	}
	used := map[string]bool{}
	for q, args := range queries {
		for _, step := range queryPlan(t, s.w, q, args...) {
			if _, rest, ok := strings.Cut(step, " INDEX "); ok {
				name, _, _ := strings.Cut(rest, " ")
				used[name] = true
			}
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if !used[name] {
			t.Errorf("index %s is used by no query", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no indexes")
	}
}

// TestHeadCache checks that the cached chain head follows committed events
// and does not move when a change fails after its events were sealed.
func TestHeadCache(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	ev := func(action string) jit.AuditEvent {
		return jit.AuditEvent{Time: t0, Actor: "a@example.com", Action: action, Source: jit.Source{Kind: "cli"}}
	}
	c := &jit.Change{Events: []jit.AuditEvent{ev(jit.ActionSubmit), ev(jit.ActionApprove)}}
	if err := s.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if want := (chainHead{seq: 2, hash: c.Events[1].Hash}); s.head != want {
		t.Fatalf("head %+v, want %+v", s.head, want)
	}
	_, hash, _ := jit.NewTokenSecret()
	tok := &jit.Token{ID: "t1", Email: "a@example.com", Hash: hash}
	if err := s.Apply(ctx, &jit.Change{Token: tok}); err != nil {
		t.Fatal(err)
	}
	before := s.head
	// The duplicate token fails after the event is inserted.
	err := s.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{ev(jit.ActionTokenCreate)}, Token: tok})
	if jit.ErrorCode(err) != jit.ECodeConflict {
		t.Fatalf("duplicate token: %v", err)
	}
	if s.head != before {
		t.Fatalf("head moved to %+v on a failed change", s.head)
	}
	// A reopened store starts from the stored head.
	s.Close()
	s2, err := Open(ctx, s.cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.head != before {
		t.Fatalf("reopened head %+v, want %+v", s2.head, before)
	}
}

// TestPragmasOnEveryConnection checks that the settings reach every pooled
// connection, not only the first one.
func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "5000"}
	check := func(name string, conn *sql.Conn, queryOnly, autoCheckpoint string) {
		t.Helper()
		for p, v := range want {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != v {
				t.Fatalf("%s: PRAGMA %s = %s, want %s", name, p, got, v)
			}
		}
		var got string
		if err := conn.QueryRowContext(ctx, "PRAGMA query_only").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != queryOnly {
			t.Fatalf("%s: query_only = %s, want %s", name, got, queryOnly)
		}
		// Commits on the write connection never checkpoint; the
		// checkpointer does (see checkpointer).
		if err := conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != autoCheckpoint {
			t.Fatalf("%s: wal_autocheckpoint = %s, want %s", name, got, autoCheckpoint)
		}
	}
	// Hold every read connection at once, so that each is a distinct one.
	var conns []*sql.Conn
	for i := 0; i < s.cfg.MaxReadConns; i++ {
		c, err := s.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		check(fmt.Sprintf("read connection %d", i), c, "1", "1000")
		c.Close()
	}
	w, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("write connection", w, "0", "0")
	w.Close()
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "jit.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	countApplied := func(s *Store) int {
		t.Helper()
		var n int
		if err := s.r.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := countApplied(s); n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
	s.Close()

	// Reopening applies nothing again.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if n := countApplied(s); n != len(ms) {
		t.Fatalf("%d migrations recorded after reopen, want %d", n, len(ms))
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s.Close()

	// A database from a newer build is refused, untouched.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	newer := ms[len(ms)-1].version + 1
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', 0)`, newer); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d is newer", newer)) {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(context.Background(), filepath.Join(dir, "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "jit.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Fatalf("%s has mode %v, want %v", path, got, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no path", Config{}, "Path is required"},
		{"memory", Config{Path: ":memory:"}, "plain file path"},
		{"uri", Config{Path: "file:" + filepath.Join(dir, "a.db")}, "plain file path"},
		{"query in path", Config{Path: filepath.Join(dir, "a.db?_pragma=foreign_keys(0)")}, "must not contain '?'"},
		{"tiny busy timeout", Config{Path: filepath.Join(dir, "a.db"), BusyTimeout: time.Microsecond}, "BusyTimeout"},
		{"negative read conns", Config{Path: filepath.Join(dir, "a.db"), MaxReadConns: -1}, "MaxReadConns"},
		{"negative checkpoint pages", Config{Path: filepath.Join(dir, "a.db"), CheckpointPages: -1}, "CheckpointPages"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenConfig(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenConfig(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("refused configs created files: %v", entries)
	}
}

// TestClockStampsUndated checks that rows the caller did not date take the
// configured clock's time.
func TestClockStampsUndated(t *testing.T) {
	ctx := context.Background()
	s, err := OpenConfig(ctx, Config{Path: filepath.Join(t.TempDir(), "jit.db"), Clock: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, hash, _ := jit.NewTokenSecret()
	err = s.Apply(ctx, &jit.Change{
		Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "r1", t0.Add(time.Hour))},
		Token:   &jit.Token{ID: "t1", Email: "a@example.com", Hash: hash},
	})
	if err != nil {
		t.Fatal(err)
	}
	js, err := s.ListJobs(ctx, "", 0)
	if err != nil || len(js) != 1 || !js[0].CreatedAt.Equal(t0) {
		t.Fatalf("jobs %+v, %v: want CreatedAt %v", js, err, t0)
	}
	tok, err := s.TokenByHash(ctx, hash)
	if err != nil || !tok.CreatedAt.Equal(t0) {
		t.Fatalf("token %+v, %v: want CreatedAt %v", tok, err, t0)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// TestAuditAppendOnly checks that the schema itself refuses to change or
// remove audit rows through SQL.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	err := s.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{{Time: t0, Actor: "a", Action: jit.ActionSubmit}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit SET reason = 'x'`, `DELETE FROM audit`} {
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
			_, err := tx.ExecContext(ctx, q)
			return err
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: %v, want append-only error", q, err)
		}
	}
}

// TestWriteWaitHonoursContext checks that a writer queued behind another
// gives up when its context ends.
func TestWriteWaitHonoursContext(t *testing.T) {
	s := openTest(t)
	if err := s.lockWrite(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.unlockWrite()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Apply(ctx, &jit.Change{Events: []jit.AuditEvent{{Time: t0, Actor: "a", Action: jit.ActionSubmit}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context while the write lock is held: %v", err)
	}
}
