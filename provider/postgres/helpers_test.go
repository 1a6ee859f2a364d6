package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit/internal/pgserver"
	"github.com/jitaccess/jit/provider"
)

// envURL names the variable holding the DSN of the shared PostgreSQL
// server (a superuser; tests create their own databases and roles on it).
const envURL = "JIT_TEST_POSTGRES_URL"

// serverURL returns the shared server's DSN, skipping the test without
// one, except in CI (CI=true), where that is a failure.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" {
		msg := "set " + envURL + " (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run the PostgreSQL provider tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return u
}

// passwordServer starts a private PostgreSQL server on which every role
// but the superuser must log in with its password (scram-sha-256). The
// shared test server trusts every login, and with trust authentication
// PostgreSQL checks neither passwords nor VALID UNTIL, which the login
// tests are about. It returns the superuser's DSN.
func passwordServer(t *testing.T) string {
	t.Helper()
	srv := pgserver.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatalf("connect to the private server: %v", err)
	}
	defer conn.Close(ctx)
	var hba string
	if err := conn.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	path, err := quoteLiteral(hba)
	if err != nil {
		t.Fatal(err)
	}
	// The server (its OS user owns the file) rewrites its own pg_hba.conf.
	_, err = conn.Exec(ctx, `COPY (VALUES ('local all all trust'),
		('host all postgres 127.0.0.1/32 trust'),
		('host all all 127.0.0.1/32 scram-sha-256')) TO `+path)
	if err != nil {
		t.Fatalf("rewrite pg_hba.conf: %v", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The reload is asynchronous: wait until a wrong password is refused.
	probe := "probe_" + randomHex(t, 4)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+probe+" LOGIN PASSWORD 'right'"); err != nil {
		t.Fatal(err)
	}
	probeURL := withUser(t, srv.URL(), probe, "wrong", "postgres")
	for start := time.Now(); ; {
		c, err := pgx.Connect(ctx, probeURL)
		if err != nil {
			break
		}
		c.Close(ctx)
		if time.Since(start) > 30*time.Second {
			t.Fatal("the private server still accepts wrong passwords 30s after reloading pg_hba.conf")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, "DROP ROLE "+probe); err != nil {
		t.Fatal(err)
	}
	return srv.URL()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// withUser returns the server DSN (URL form) for user, password and
// database.
func withUser(t testing.TB, server, user, password, database string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", envURL)
	}
	if password == "" {
		u.User = url.User(user)
	} else {
		u.User = url.UserPassword(user, password)
	}
	u.Path = "/" + database
	q := u.Query()
	q.Del("dbname")
	q.Del("user")
	q.Del("password")
	u.RawQuery = q.Encode()
	return u.String()
}

// target is a database of its own on a test server, as an administrator
// would prepare it for jit: an admin role with the documented minimum
// (LOGIN, CREATEROLE, pg_signal_backend), owning the database and its
// tables, and an existing role for membership levels.
type target struct {
	server    string // superuser DSN
	host      string
	port      int
	db        string
	admin     string
	adminPass string
	member    string // an existing role, for levels with roles
}

// newTarget creates the database with public.orders(id serial, total
// int, status text) holding two rows and reporting.daily(day date, total
// int). At cleanup it drops the database, every role jit created for it
// (found by their markers) and the test's roles.
func newTarget(t *testing.T, server string) *target {
	t.Helper()
	ctx := context.Background()
	suffix := randomHex(t, 6)
	tg := &target{
		server:    server,
		db:        "jit_pgp_" + suffix,
		admin:     "jit_test_admin_" + suffix,
		adminPass: "adm-" + randomHex(t, 8),
		member:    "jit_test_member_" + suffix,
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	tg.host = u.Hostname()
	tg.port = 5432
	if p := u.Port(); p != "" {
		tg.port, _ = strconv.Atoi(p)
	}
	su := superuser(t, server)
	t.Cleanup(func() { tg.drop(t) })
	for _, stmt := range []string{
		"CREATE ROLE " + ident(tg.admin) + " LOGIN CREATEROLE PASSWORD '" + tg.adminPass + "'",
		"GRANT pg_signal_backend TO " + ident(tg.admin),
		"CREATE ROLE " + ident(tg.member) + " NOLOGIN",
		"CREATE DATABASE " + ident(tg.db) + " OWNER " + ident(tg.admin),
	} {
		if _, err := su.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	admin := tg.connect(t, tg.admin, tg.adminPass)
	for _, stmt := range []string{
		"CREATE TABLE public.orders (id serial PRIMARY KEY, total int, status text)",
		"INSERT INTO public.orders (total, status) VALUES (10, 'new'), (20, 'paid')",
		"CREATE SCHEMA reporting",
		"CREATE TABLE reporting.daily (day date, total int)",
		"INSERT INTO reporting.daily VALUES ('2026-01-01', 30)",
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return tg
}

// superuser connects to the server's maintenance database as the test
// server's superuser, closed at cleanup.
func superuser(t testing.TB, server string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), server)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// connect opens a connection to the target database, closed at cleanup.
func (tg *target) connect(t testing.TB, user, password string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), tg.dsn(t, user, password))
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", tg.db, user, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (tg *target) dsn(t testing.TB, user, password string) string {
	return withUser(t, tg.server, user, password, tg.db)
}

// super connects to the target database as the superuser.
func (tg *target) super(t testing.TB) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(tg.server)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	return tg.connect(t, u.User.Username(), password)
}

func (tg *target) drop(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, tg.server)
	if err != nil {
		t.Errorf("cleanup: connect: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(tg.db)+" WITH (FORCE)"); err != nil {
		t.Errorf("cleanup: drop database %s: %v", tg.db, err)
	}
	roles, err := jitRoles(ctx, conn, tg.db)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	// Users before groups; then the test's own roles.
	sort.Slice(roles, func(i, j int) bool { return roles[i].m.JIT == markUser && roles[j].m.JIT != markUser })
	names := make([]string, 0, len(roles)+2)
	for _, r := range roles {
		names = append(names, r.name)
	}
	names = append(names, tg.member, tg.admin)
	for _, n := range names {
		// Sessions of ephemeral users may be open on other databases.
		conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", n)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(n)); err != nil {
			t.Errorf("cleanup: drop role %s: %v", n, err)
		}
	}
}

type markedRole struct {
	name string
	m    marker
}

// jitRoles lists the roles whose marker names database db, read straight
// from the catalogue.
func jitRoles(ctx context.Context, conn *pgx.Conn, db string) ([]markedRole, error) {
	rows, err := conn.Query(ctx, `
		SELECT r.rolname, d.description FROM pg_roles r
		JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	var out []markedRole
	var name string
	var comment *string
	_, err = pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		if m, ok := parseMarker(comment); ok && m.Database == db {
			out = append(out, markedRole{name, m})
		}
		return nil
	})
	return out, err
}

// rolesOf returns the users jit created for requestID in tg's database.
func (tg *target) rolesOf(t testing.TB, requestID string) []string {
	t.Helper()
	conn := superuser(t, tg.server)
	roles, err := jitRoles(context.Background(), conn, tg.db)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range roles {
		if r.m.JIT == markUser && r.m.RequestID == requestID {
			out = append(out, r.name)
		}
	}
	return out
}

// baseSettings are the settings of the examples in the package
// documentation, pointed at tg. The admin DSN is in a file.
func (tg *target) baseSettings(t testing.TB) map[string]any {
	t.Helper()
	f := filepath.Join(t.TempDir(), "admin.dsn")
	if err := os.WriteFile(f, []byte(tg.dsn(t, tg.admin, tg.adminPass)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"admin_dsn_file": f,
		"host":           tg.host,
		"port":           tg.port,
		"database":       tg.db,
		"sslmode":        "disable",
		"levels": map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"public", "reporting"}},
			"write": map[string]any{"privileges": []any{"SELECT", "INSERT", "UPDATE", "DELETE"}, "schemas": []any{"public"}},
			"admin": map[string]any{"roles": []any{tg.member}},
		},
		"query": map[string]any{"schemas": []any{"public"}},
	}
}

var baseAccess = []string{"read", "write", "admin"}

// newProvider builds a provider for tg, closed at cleanup.
func (tg *target) newProvider(t testing.TB, settings map[string]any, access ...string) *Provider {
	t.Helper()
	if settings == nil {
		settings = tg.baseSettings(t)
	}
	if access == nil {
		access = baseAccess
	}
	p, err := New(provider.Resource{Name: "orders", Type: Type, Settings: settings, Access: access})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.(*Provider).Close() })
	return p.(*Provider)
}

// grantReq is a grant of access for an hour.
func grantReq(id, access string) provider.GrantRequest {
	return provider.GrantRequest{
		RequestID: id, User: "alice@example.com", Resource: "orders", Access: access,
		Reason:    "test",
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond),
	}
}

func revokeReq(g provider.GrantRequest, h []byte) provider.RevokeRequest {
	return provider.RevokeRequest{RequestID: g.RequestID, User: g.User, Resource: g.Resource, Access: g.Access, Handle: h}
}

// grant grants req and revokes it at cleanup.
func grant(t testing.TB, p *Provider, req provider.GrantRequest) provider.GrantResponse {
	t.Helper()
	resp, err := p.Grant(context.Background(), req)
	t.Cleanup(func() {
		if _, err := p.Revoke(context.Background(), revokeReq(req, resp.Handle)); err != nil {
			t.Errorf("cleanup: revoke %s: %v", req.RequestID, err)
		}
	})
	if err != nil {
		t.Fatalf("Grant(%q): %v", req.RequestID, err)
	}
	if resp.Credential == nil {
		t.Fatalf("Grant(%q) returned no credential", req.RequestID)
	}
	return resp
}

// psql runs sql with the real psql client logged in with cred, and
// returns its output (stdout and stderr).
func psql(t testing.TB, cred *provider.Credential, sql string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		msg := "the psql client is not on PATH"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(bin, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Env = append(os.Environ(),
		"PGHOST="+cred.Info["host"],
		"PGPORT="+cred.Info["port"],
		"PGDATABASE="+cred.Info["database"],
		"PGUSER="+cred.Info["user"],
		"PGPASSWORD="+string(cred.Data),
		"PGSSLMODE="+cred.Info["sslmode"],
		"PGCONNECT_TIMEOUT=10",
		"PGAPPNAME=jit-test",
	)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// mustPsql runs sql and fails the test when psql fails.
func mustPsql(t testing.TB, cred *provider.Credential, sql string) string {
	t.Helper()
	out, err := psql(t, cred, sql)
	if err != nil {
		t.Fatalf("psql as %s: %s: %v\n%s", cred.Info["user"], sql, err, out)
	}
	return out
}

// psqlFails runs sql, expecting psql to fail with an output containing
// want.
func psqlFails(t testing.TB, cred *provider.Credential, sql, want string) {
	t.Helper()
	out, err := psql(t, cred, sql)
	var exitErr *exec.ExitError
	if err == nil {
		t.Fatalf("psql as %s: %s succeeded (%q); want a failure with %q", cred.Info["user"], sql, out, want)
	}
	if !errors.As(err, &exitErr) {
		t.Fatalf("psql did not run: %v", err)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("psql as %s: %s failed with %q; want %q", cred.Info["user"], sql, out, want)
	}
}
