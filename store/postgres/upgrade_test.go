package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/postgres/pgtest"
)

// TestUpgradeKeepsRequests opens a database written before requests had a
// query and privileges: its requests read back without them, and can still
// be updated (what was stored counts as no query and no privileges, the
// same as an update that passes none).
func TestUpgradeKeepsRequests(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const before = 2 // the migration that added the query and privileges
	for _, m := range ms {
		if m.version >= before {
			break
		}
		if _, err := conn.Exec(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO requests (id, requester, resource, access, duration_ns, reason, extends_id,
			requester_groups, approvers, status, rule, approvals_required, auto_approved, created_at,
			ended_by, end_reason, end_status, version)
		VALUES ('req-old', 'alice@example.com', 'demo', 'read', 3600000000000, 'INC-1', '', '{}', '{group:sre}',
			'pending', 'engineers', 1, false, $1, '', '', '', 1)`, t0); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetRequest(ctx, "req-old")
	if err != nil {
		t.Fatal(err)
	}
	if r.Query != "" || r.Privileges != nil || r.Requester != "alice@example.com" {
		t.Fatalf("request after the upgrade = %+v", r)
	}
	r.Status = jit.StatusApproved
	if err := s.Apply(ctx, &jit.Change{Request: r}); err != nil {
		t.Fatalf("update after the upgrade: %v", err)
	}
	if got, err := s.GetRequest(ctx, "req-old"); err != nil || got.Version != 2 || got.Status != jit.StatusApproved {
		t.Fatalf("request after the update = %+v, %v", got, err)
	}
}
