package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit/policy"
)

func TestParseClients(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "8": {8}, "8, 32": {8, 32}} {
		got, err := parseClients(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseClients(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "x", "8,", "-1"} {
		if _, err := parseClients(in); err == nil {
			t.Errorf("parseClients(%q) succeeded; want an error", in)
		}
	}
}

func TestValidateRefusesOtherResources(t *testing.T) {
	cfg := config{resource: "mysql", n: 1, dsn: "postgres://x/y", duration: time.Second, revokeN: 1, lifetime: time.Second}
	if err := cfg.validate(); err == nil {
		t.Fatal("-resource mysql was accepted")
	}
	cfg.resource = "postgres"
	if err := cfg.validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p50, p99, mx := quantiles(ds)
	if p50 != 50 || p99 != 99 || mx != 100 {
		t.Fatalf("quantiles of 1..100 ms = %v, %v, %v; want 50, 99, 100", p50, p99, mx)
	}
	if a, b, c := quantiles(nil); a != 0 || b != 0 || c != 0 {
		t.Fatalf("quantiles(nil) = %v, %v, %v", a, b, c)
	}
}

// TestPolicyLoads checks that the generated policy is one jitd accepts,
// with the postgres provider's settings valid (checked offline).
func TestPolicyLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jit.yaml")
	if err := os.WriteFile(path, policyYAML([]string{"u000@dbgrant.example", "u001@dbgrant.example"}, "127.0.0.1", 5432, "jit_dbgrant_x", "disable"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(path)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	defer p.Close()
	if _, ok := p.Provider(resourceName); !ok {
		t.Fatalf("no provider for %s", resourceName)
	}
	if !p.IsAdmin(adminEmail, nil) {
		t.Fatalf("%s is not an admin", adminEmail)
	}
}

// TestRunCleansUp runs both modes briefly against a real server and
// checks that the run's scratch database and every role it made are gone
// afterwards.
func TestRunCleansUp(t *testing.T) {
	dsn := os.Getenv("JIT_TEST_POSTGRES_URL")
	if dsn == "" {
		msg := "JIT_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	cfg := config{resource: "postgres", n: 3, dsn: dsn, duration: 500 * time.Millisecond, revokeN: 5, lifetime: 2 * time.Second}
	e, err := startEnv(ctx, dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			e.close()
		}
	}()
	if err := e.checkCredential(ctx); err != nil {
		t.Fatal(err)
	}
	seq, err := sequential(ctx, e, cfg)
	if err != nil {
		t.Fatalf("sequential: %v", err)
	}
	if seq.JitP50Ms <= 0 || seq.FloorP50Ms <= 0 || seq.RevokeLagGrants != 3 || seq.NotExpired != 0 {
		t.Fatalf("sequential result: %+v", seq)
	}
	tp, err := throughput(ctx, e, cfg, 2)
	if err != nil {
		t.Fatalf("throughput: %v", err)
	}
	if tp.Grants == 0 || tp.RolesBefore != 5 || tp.RolesAfter != 0 {
		t.Fatalf("throughput result: %+v", tp)
	}
	// A grant left active is dropped by the teardown.
	if _, err := grant(ctx, e.people[0], "1h"); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := e.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dbs, roles int
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1),
		(SELECT count(*) FROM pg_catalog.pg_roles r
		 LEFT JOIN pg_catalog.pg_shdescription d
		   ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
		 WHERE pg_catalog.starts_with(r.rolname, $2)
		    OR pg_catalog.strpos(d.description, $3) > 0)`,
		e.dbName, e.floorPrefix(), `"database":"`+e.dbName+`"`).Scan(&dbs, &roles)
	if err != nil {
		t.Fatal(err)
	}
	if dbs != 0 || roles != 0 {
		t.Fatalf("after close: %d scratch databases and %d roles of the run are left", dbs, roles)
	}
}
