package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/cli"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/credential"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/internal/pgserver"
)

// passwordPostgres starts a private PostgreSQL server on which every role
// but the superuser logs in with its password (scram-sha-256): with the
// trust authentication of a test server, PostgreSQL checks neither
// passwords nor VALID UNTIL. It returns the superuser's URL.
func passwordPostgres(t *testing.T) *pgserver.Server {
	t.Helper()
	srv := pgserver.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var hba string
	if err := conn.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	// The server, whose OS user owns the file, rewrites its own pg_hba.conf.
	if _, err := conn.Exec(ctx, `COPY (VALUES ('local all all trust'),
		('host all postgres 127.0.0.1/32 trust'),
		('host all all 127.0.0.1/32 scram-sha-256')) TO `+quoteLiteral(hba)); err != nil {
		t.Fatalf("rewrite pg_hba.conf: %v", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The reload is asynchronous: wait until a wrong password is refused.
	if _, err := conn.Exec(ctx, "CREATE ROLE probe LOGIN PASSWORD 'right'"); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://probe:wrong@127.0.0.1:%d/postgres?sslmode=disable", srv.Port()))
		if err != nil {
			break
		}
		c.Close(ctx)
		if time.Since(start) > 30*time.Second {
			t.Fatal("the server still accepts wrong passwords after reloading pg_hba.conf")
		}
	}
	return srv
}

// quoteLiteral quotes a trusted test path as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

const databasePolicy = `
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
  - {email: carol@example.com, groups: [security]}
resources:
  - name: orders-db
    provider: postgres
    settings:
      admin_dsn_env: JIT_E2E_ORDERS_ADMIN_DSN
      host: 127.0.0.1
      port: %d
      database: orders
      levels:
        read:  {privileges: [SELECT], schemas: [public]}
        write: {privileges: [SELECT, INSERT, UPDATE, DELETE], schemas: [public]}
      query: {schemas: [public]}
    access: [read, write]
rules:
  - name: engineers-read
    requesters: {groups: [engineering]}
    resources: [orders-db]
    access: [read]
    max_duration: 1h
    approvers: {groups: [sre]}
    auto_approve: {max_duration: 1h}
  - name: engineers-write
    requesters: {groups: [engineering]}
    resources: [orders-db]
    access: [write]
    max_duration: 1h
    reason: {required: true}
    approvers: {groups: [sre]}
    approvals: 1
`

// TestDatabaseAccess walks through database access end to end: jitd on
// its embedded store with the postgres provider, a real PostgreSQL server
// that checks passwords, the real psql client, and the credential
// delivered only encrypted to the requester's key.
func TestDatabaseAccess(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("psql is not on PATH")
		}
		t.Skip("psql is not on PATH")
	}
	pg := passwordPostgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		"CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD 'admin-secret' IN ROLE pg_signal_backend",
		"CREATE DATABASE orders OWNER jit_admin",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	adminURL := fmt.Sprintf("postgres://jit_admin:admin-secret@127.0.0.1:%d/orders?sslmode=disable", pg.Port())
	db, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE TABLE orders (id serial PRIMARY KEY, total int, status text);
		INSERT INTO orders (total, status) VALUES (10, 'open'), (20, 'paid')`); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JIT_E2E_ORDERS_ADMIN_DSN", adminURL)

	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(fmt.Sprintf(databasePolicy, pg.Port()))})
	alice, bob := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob)

	// Without a public key, nothing can be delivered: refused at submit.
	_, err = alice.Submit(ctx, client.SubmitRequest{Resource: "orders-db", Access: "read", Duration: "30m"})
	wantCode(t, err, jit.ECodeKeyRequired)
	_, err = alice.RegisterPublicKey(ctx, "age1notakey")
	wantCode(t, err, jit.ECodeInvalidKey)
	id, err := credential.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.RegisterPublicKey(ctx, id.Recipient().String()); err != nil {
		t.Fatal(err)
	}

	// Read access, approved by the rule: psql reads and cannot write.
	r, err := alice.Submit(ctx, client.SubmitRequest{Resource: "orders-db", Access: "read", Duration: "30m"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	_, err = bob.Credential(ctx, r.ID)
	wantCode(t, err, jit.ECodeForbidden)
	cred := openCredential(t, alice, id, r.ID)
	if out, err := runPSQL(psql, cred, "SELECT total FROM orders WHERE id = 1"); err != nil || !strings.Contains(out, "10") {
		t.Fatalf("SELECT under read: %v: %s", err, out)
	}
	if out, err := runPSQL(psql, cred, "UPDATE orders SET total = 0"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("UPDATE under read: err=%v: %s; want permission denied", err, out)
	}
	// The store holds only the envelope.
	env, err := alice.Credential(ctx, r.ID)
	if err != nil || strings.Contains(env.Envelope, cred.Secret) {
		t.Fatalf("credential envelope: %v (holds the secret: %v)", err, err == nil && strings.Contains(env.Envelope, cred.Secret))
	}

	// A query that cannot be scoped, or needs more than the level, is
	// refused and files nothing.
	before, err := alice.List(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for q, access := range map[string]string{
		"DROP TABLE orders":                        "write",
		"SELECT pg_sleep(10) FROM orders":          "write",
		"UPDATE orders SET total = 1 WHERE id = 1": "read",
		"SELECT * FROM missing":                    "write",
	} {
		_, err := alice.Submit(ctx, client.SubmitRequest{Resource: "orders-db", Access: access, Duration: "30m", Reason: "fix", Query: q})
		wantCode(t, err, jit.ECodeQueryRefused)
	}
	after, err := alice.List(ctx, client.ListOptions{})
	if err != nil || len(after.Items) != len(before.Items) {
		t.Fatalf("refused queries filed requests: %d before, %d after (%v)", len(before.Items), len(after.Items), err)
	}

	// A query-scoped write: the approver sees the query and exactly its
	// privileges; the grant is exactly those.
	const fix = "UPDATE orders SET total = 15 WHERE id = 1"
	q, err := alice.Submit(ctx, client.SubmitRequest{Resource: "orders-db", Access: "write", Duration: "30m", Reason: "INC-7", Query: fix})
	if err != nil {
		t.Fatal(err)
	}
	seen, err := bob.Get(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	var privs []string
	for _, p := range seen.Privileges {
		privs = append(privs, p.String())
	}
	if seen.Query != fix || strings.Join(privs, "; ") != "SELECT on public.orders; UPDATE on public.orders (total)" {
		t.Fatalf("the approver sees query %q, privileges %q", seen.Query, privs)
	}
	if _, err := bob.Approve(ctx, q.ID, ""); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, q.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	qcred := openCredential(t, alice, id, q.ID)
	if qcred.Info["user"] == cred.Info["user"] {
		t.Fatal("two grants share one database user")
	}
	if out, err := runPSQL(psql, qcred, fix); err != nil {
		t.Fatalf("the approved statement: %v: %s", err, out)
	}
	for _, stmt := range []string{"UPDATE orders SET status = 'x' WHERE id = 1", "DELETE FROM orders"} {
		if out, err := runPSQL(psql, qcred, stmt); err == nil || !strings.Contains(out, "permission denied") {
			t.Fatalf("%s under the scoped grant: err=%v: %s; want permission denied", stmt, err, out)
		}
	}

	// Relinquishing ends the access: the next login fails, and the other
	// grant is untouched.
	if _, err := alice.Relinquish(ctx, q.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, q.ID, jit.StatusRelinquished, jit.StatusActive, jit.StatusRevoking)
	if out, err := runPSQL(psql, qcred, "SELECT 1"); err == nil || !strings.Contains(out, "authentication failed") {
		t.Fatalf("login after relinquish: err=%v: %s; want authentication failed", err, out)
	}
	_, err = alice.Credential(ctx, q.ID)
	wantCode(t, err, jit.ECodeNotActive)
	if out, err := runPSQL(psql, cred, "SELECT count(*) FROM orders"); err != nil {
		t.Fatalf("the read grant after the other ended: %v: %s", err, out)
	}

	// `jit psql` reuses the active read grant and runs the real psql with
	// the credential in its environment, opened with the key in the
	// user's config directory.
	cfg := t.TempDir()
	if err := credential.SaveIdentity(filepath.Join(cfg, "jit", "identity.txt"), id); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"JIT_SERVER": srv.URL, "JIT_TOKEN": jitdtest.Alice, "XDG_CONFIG_HOME": cfg, "HOME": cfg}
	var stdout, stderr bytes.Buffer
	code := cli.Run(ctx, cli.Options{
		Args:   []string{"psql", "orders-db", "--access", "read", "--reason", "check", "--", "-X", "-tA", "-c", "SELECT total FROM orders WHERE id = 2"},
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] },
	})
	if code != 0 || strings.TrimSpace(stdout.String()) != "20" || strings.Contains(stdout.String()+stderr.String(), cred.Secret) {
		t.Fatalf("jit psql: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if all, err := alice.List(ctx, client.ListOptions{}); err != nil || len(all.Items) != len(after.Items)+1 {
		t.Fatalf("jit psql filed a request instead of reusing the active grant (%v)", err)
	}
}

// openCredential fetches and decrypts the credential of request id.
func openCredential(t *testing.T, c *client.Client, id *age.X25519Identity, requestID string) jit.CredentialPayload {
	t.Helper()
	env, err := c.Credential(context.Background(), requestID)
	if err != nil {
		t.Fatalf("credential of %s: %v", requestID, err)
	}
	p, err := credential.Open(id, env.Envelope)
	if err != nil {
		t.Fatalf("open the credential of %s: %v", requestID, err)
	}
	if p.Kind != "password" || p.Secret == "" || p.Info["user"] == "" {
		t.Fatalf("credential of %s: kind %q, user %q", requestID, p.Kind, p.Info["user"])
	}
	return p
}

// runPSQL runs the real psql with the credential in its environment.
func runPSQL(psql string, p jit.CredentialPayload, stmt string) (string, error) {
	env, err := credential.Env(p)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(psql, "-X", "-v", "ON_ERROR_STOP=1", "-tA", "-c", stmt)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
