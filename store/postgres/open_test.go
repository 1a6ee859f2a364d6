package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/postgres"
)

// appliedMigrations returns the versions recorded in schema_migrations and
// when each was applied.
func appliedMigrations(t *testing.T, dsn string) ([]int, []time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var (
		versions []int
		times    []time.Time
	)
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
		times = append(times, at)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return versions, times
}

func exec(t *testing.T, dsn, sql string) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// TestConcurrentOpenMigratesOnce starts several replicas at once on a new
// database: the advisory lock makes one of them apply the migrations and
// the others find them applied. Without it, the losers of the race would
// fail on tables that already exist.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := newDatabase(t)
	want, err := postgres.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = postgres.Open(context.Background(), dsn)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	got, applied := appliedMigrations(t, dsn)
	if !slices.Equal(got, want) {
		t.Fatalf("schema_migrations holds %v, want each of %v once", got, want)
	}
	// Every replica works on the one schema.
	for i, s := range stores {
		c := &jit.Change{Events: []jit.AuditEvent{{Time: time.Unix(1, 0), Actor: "system", Action: jit.ActionPolicyReload}}}
		if err := s.Apply(context.Background(), c); err != nil {
			t.Fatalf("replica %d: Apply: %v", i, err)
		}
		if c.Events[0].Seq != int64(i+1) {
			t.Fatalf("replica %d appended at seq %d, want %d", i, c.Events[0].Seq, i+1)
		}
	}

	// Opening again applies nothing.
	openStore(t, dsn)
	again, appliedAgain := appliedMigrations(t, dsn)
	if !slices.Equal(again, want) || !slices.EqualFunc(applied, appliedAgain, time.Time.Equal) {
		t.Fatalf("reopening changed schema_migrations: %v %v, was %v %v", again, appliedAgain, got, applied)
	}
}

// TestOpenRefusesNewerSchema: a build must not run on a schema a newer
// build migrated, whose meaning it does not know.
func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := newDatabase(t)
	openStore(t, dsn).Close()
	if err := exec(t, dsn, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(context.Background(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a schema newer than this build")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Fatalf("error %q does not name the stored version", err)
	}
}

// TestOpenErrorsHideTheDSN: the DSN may hold a password, and errors end up
// in logs.
func TestOpenErrorsHideTheDSN(t *testing.T) {
	const secret = "s3cret-Pa55word"
	server := serverURL(t)
	missingDB := withDatabase(t, server, "jit_test_does_not_exist_"+fmt.Sprint(time.Now().UnixNano()))
	withSecret := func(dsn string) string {
		return strings.Replace(dsn, "://postgres@", "://postgres:"+secret+"@", 1)
	}
	tests := []struct {
		name string
		cfg  postgres.Config
		want string
	}{
		{"unparsable URL", postgres.Config{DSN: "postgres://jit:" + secret + "@db:notaport/jit"}, "not a valid connection string"},
		{"unparsable key=value", postgres.Config{DSN: "host=db password='" + secret}, "not a valid connection string"},
		{"nothing listening", postgres.Config{DSN: "postgres://jit:" + secret + "@127.0.0.1:1/jit?sslmode=disable", ConnectTimeout: 5 * time.Second}, "connect"},
		{"missing database", postgres.Config{DSN: withSecret(missingDB)}, "connect"},
		{"empty DSN", postgres.Config{}, "DSN is required"},
		{"negative pool size", postgres.Config{DSN: server, MaxConns: -1}, "MaxConns"},
		{"negative connect timeout", postgres.Config{DSN: server, ConnectTimeout: -time.Second}, "ConnectTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.OpenConfig(context.Background(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("OpenConfig succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestClaimUsesDueIndex: claiming must be a range scan of jobs_due, so that
// its cost grows with the jobs due, not with all jobs. Sequential scans are
// disabled for the check because on a tiny table a scan is cheaper and the
// planner would rightly pick it.
func TestClaimUsesDueIndex(t *testing.T) {
	dsn := newDatabase(t)
	openStore(t, dsn)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN `+postgres.ClaimQuery, time.Now(), 10, "w", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "Index Scan using jobs_due on jobs") || !strings.Contains(plan, "Index Cond: (due_at <=") {
		t.Fatalf("claim does not range-scan jobs_due:\n%s", plan)
	}
}

// TestAuditAppendOnly: a mistaken UPDATE, DELETE or TRUNCATE of the audit
// log fails.
func TestAuditAppendOnly(t *testing.T) {
	dsn := newDatabase(t)
	s := openStore(t, dsn)
	c := &jit.Change{Events: []jit.AuditEvent{{Time: time.Unix(1, 0), Actor: "system", Action: jit.ActionPolicyReload}}}
	if err := s.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE audit SET actor = 'mallory'`,
		`DELETE FROM audit`,
		`TRUNCATE audit`,
	} {
		err := exec(t, dsn, sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: error %v, want the append-only refusal", sql, err)
		}
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// TestClockStampsUndatedRows: rows the caller did not date take the
// configured clock's time, not the wall clock's.
func TestClockStampsUndatedRows(t *testing.T) {
	dsn := newDatabase(t)
	now := time.Date(2040, 1, 2, 3, 4, 5, 678912345, time.UTC)
	s, err := postgres.OpenConfig(context.Background(), postgres.Config{DSN: dsn, Clock: fixedClock{now}, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	plain, hash, err := jit.NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	c := &jit.Change{
		Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, "req-1", now.Add(time.Hour))},
		Token:   &jit.Token{ID: "tok-1", Email: "alice@example.com", Hash: hash},
	}
	if err := s.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	want := now.Truncate(time.Microsecond)
	js, err := s.ListJobs(ctx, "", 0)
	if err != nil || len(js) != 1 || !js[0].CreatedAt.Equal(want) {
		t.Fatalf("jobs %+v (err %v), want one created at %v", js, err, want)
	}
	tok, err := s.TokenByHash(ctx, jit.HashToken(plain))
	if err != nil || !tok.CreatedAt.Equal(want) {
		t.Fatalf("token %+v (err %v), want created at %v", tok, err, want)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
