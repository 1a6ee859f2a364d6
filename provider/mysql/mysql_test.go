package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

// adminDSNEnv is the variable the providers under test read their admin
// DSN from (admin_dsn_env); each test sets it.
const adminDSNEnv = "JIT_MYSQL_PROVIDER_TEST_ADMIN_DSN"

// testDSN is the root DSN of the test server, from JIT_TEST_MYSQL_DSN.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("JIT_TEST_MYSQL_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("JIT_TEST_MYSQL_DSN is not set (CI=true): the MySQL provider tests need a MariaDB server")
		}
		t.Skip("set JIT_TEST_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/test) to run the MySQL provider tests")
	}
	return dsn
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testEnv is one test's share of the server: its own database with
// tables, its own guard database, and a tag that starts the name of
// every account it makes ("jit_<tag>_..."), so that cleanup drops exactly
// what the test made.
type testEnv struct {
	t     *testing.T
	dsn   string
	root  *sql.DB
	port  int
	tag   string
	db    string
	guard string

	mu      sync.Mutex
	users   map[string]bool
	dbs     []string
	roles   []string
	admins  []account
	clients []*sql.DB
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	dsn := testDSN(t)
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("JIT_TEST_MYSQL_DSN: %v", err)
	}
	cfg.ParseTime = true
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	root.SetMaxOpenConns(4)
	ctx := context.Background()
	if err := root.PingContext(ctx); err != nil {
		t.Fatalf("connecting to JIT_TEST_MYSQL_DSN: %v", err)
	}
	_, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		t.Fatalf("JIT_TEST_MYSQL_DSN address %q: %v", cfg.Addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	id := randHex(t, 4)
	e := &testEnv{
		t: t, dsn: dsn, root: root, port: port,
		tag:   "t" + id[:6],
		db:    "jit_test_" + id,
		guard: "jit_guard_test_" + id,
		users: map[string]bool{},
	}
	t.Cleanup(e.cleanup)
	// The expiry guard needs the event scheduler; the test server may have
	// it off. It is left on: other tests may rely on it too.
	var sched string
	e.must(root.QueryRowContext(ctx, "SELECT @@GLOBAL.event_scheduler").Scan(&sched))
	if !strings.EqualFold(sched, "ON") {
		e.exec("SET GLOBAL event_scheduler = ON")
	}
	e.createDatabase(e.db)
	t.Setenv(adminDSNEnv, dsn)
	return e
}

func (e *testEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) exec(stmt string, args ...any) {
	e.t.Helper()
	if _, err := e.root.ExecContext(context.Background(), stmt, args...); err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
}

func qi(t *testing.T, name string) string {
	t.Helper()
	q, err := quoteIdent(name)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func ql(t *testing.T, s string) string {
	t.Helper()
	q, err := quoteString(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// createDatabase makes a database with the tables the tests use.
func (e *testEnv) createDatabase(name string) {
	e.t.Helper()
	e.mu.Lock()
	e.dbs = append(e.dbs, name)
	e.mu.Unlock()
	db := qi(e.t, name)
	e.exec("CREATE DATABASE " + db)
	e.exec("CREATE TABLE " + db + ".orders (id INT AUTO_INCREMENT PRIMARY KEY, total INT, status VARCHAR(20))")
	e.exec("CREATE TABLE " + db + ".customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50))")
	e.exec("INSERT INTO " + db + ".orders (total, status) VALUES (10, 'new'), (20, 'paid')")
	e.exec("INSERT INTO " + db + ".customers (name) VALUES ('ada')")
}

// email is a requester whose account names start with the test's tag.
func (e *testEnv) email(suffix string) string { return e.tag + suffix + "@example.com" }

func (e *testEnv) track(user string) {
	e.mu.Lock()
	e.users[user] = true
	e.mu.Unlock()
}

func (e *testEnv) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range e.clients {
		_ = c.Close()
	}
	// Every account of the test: its tag's prefix, and the ones tracked
	// by name (a requester whose email has no usable local part).
	rows, err := e.root.QueryContext(ctx, "SELECT User, Host FROM mysql.global_priv WHERE User LIKE ?", "jit\\_"+e.tag+"%")
	var accounts []account
	if err == nil {
		for rows.Next() {
			var a account
			if rows.Scan(&a.User, &a.Host) == nil {
				accounts = append(accounts, a)
			}
		}
		rows.Close()
	} else {
		e.t.Errorf("cleanup: listing accounts: %v", err)
	}
	for u := range e.users {
		rows, err := e.root.QueryContext(ctx, "SELECT Host FROM mysql.global_priv WHERE User = ?", u)
		if err != nil {
			continue
		}
		for rows.Next() {
			var h string
			if rows.Scan(&h) == nil {
				accounts = append(accounts, account{User: u, Host: h})
			}
		}
		rows.Close()
	}
	accounts = append(accounts, e.admins...)
	for _, a := range accounts {
		if ids, err := sessionIDs(ctx, e.root, a.User); err == nil {
			for _, id := range ids {
				_, _ = e.root.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10))
			}
		}
		if acc, err := a.sql(); err == nil {
			if _, err := e.root.ExecContext(ctx, "DROP USER IF EXISTS "+acc); err != nil {
				e.t.Errorf("cleanup: dropping %s: %v", acc, err)
			}
		}
	}
	for _, r := range e.roles {
		if q, err := quoteIdent(r); err == nil {
			_, _ = e.root.ExecContext(ctx, "DROP ROLE IF EXISTS "+q)
		}
	}
	for _, db := range append(e.dbs, e.guard, e.guard+"_mysql", e.guard+"_lp") {
		if q, err := quoteIdent(db); err == nil {
			if _, err := e.root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+q); err != nil {
				e.t.Errorf("cleanup: dropping database %s: %v", db, err)
			}
		}
	}
	_ = e.root.Close()
}

func sessionIDs(ctx context.Context, db *sql.DB, user string) ([]uint64, error) {
	rows, err := db.QueryContext(ctx, querySessions, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// settings are the default settings of the test's resource; kv replace or
// (with a nil value) remove keys.
func (e *testEnv) settings(kv ...any) map[string]any {
	m := map[string]any{
		"admin_dsn_env":  adminDSNEnv,
		"host":           "127.0.0.1",
		"port":           e.port,
		"database":       e.db,
		"guard_database": e.guard,
		"levels": map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}},
			"write": map[string]any{"privileges": []any{"SELECT", "INSERT", "UPDATE", "DELETE"}},
		},
		"query": map[string]any{"databases": []any{e.db}},
	}
	return with(m, kv...)
}

func (e *testEnv) provider(settings map[string]any, access ...string) *Provider {
	e.t.Helper()
	if len(access) == 0 {
		access = []string{"read", "write"}
	}
	p, err := NewWithOptions(provider.Resource{Name: "billing-db", Type: Type, Settings: settings, Access: access}, Options{})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.t.Cleanup(func() { _ = p.Close() })
	return p
}

func (e *testEnv) grantReq(id, email, access string, expires time.Time) provider.GrantRequest {
	e.track(userName(id, email))
	return provider.GrantRequest{RequestID: id, User: email, Resource: "billing-db", Access: access, Reason: "test", ExpiresAt: expires}
}

// grant grants and fails the test on an error.
func (e *testEnv) grant(p *Provider, req provider.GrantRequest) provider.GrantResponse {
	e.t.Helper()
	e.track(userName(req.RequestID, req.User))
	resp, err := p.Grant(context.Background(), req)
	if err != nil {
		e.t.Fatalf("Grant(%s): %v", req.RequestID, err)
	}
	if resp.Credential == nil || resp.Credential.Kind != CredentialKind || len(resp.Credential.Data) == 0 {
		e.t.Fatalf("Grant(%s): no password credential: %+v", req.RequestID, resp.Credential)
	}
	return resp
}

func (e *testEnv) revoke(p *Provider, id, email string, h json.RawMessage) {
	e.t.Helper()
	if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: id, User: email, Resource: "billing-db", Handle: h}); err != nil {
		e.t.Fatalf("Revoke(%s): %v", id, err)
	}
}

// accounts lists the hosts of every account named user.
func (e *testEnv) hosts(user string) []string {
	e.t.Helper()
	rows, err := e.root.Query("SELECT Host FROM mysql.global_priv WHERE User = ? ORDER BY Host", user)
	e.must(err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		e.must(rows.Scan(&h))
		out = append(out, h)
	}
	e.must(rows.Err())
	return out
}

func (e *testEnv) exists(user string) bool { return len(e.hosts(user)) > 0 }

// tagAccounts lists every account of the test's tag as "user@host".
func (e *testEnv) tagAccounts() map[string]bool {
	e.t.Helper()
	rows, err := e.root.Query("SELECT User, Host FROM mysql.global_priv WHERE User LIKE ?", "jit\\_"+e.tag+"%")
	e.must(err)
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var u, h string
		e.must(rows.Scan(&u, &h))
		out[u+"@"+h] = true
	}
	e.must(rows.Err())
	return out
}

// mysqlClient runs the real mysql command-line client as the issued
// account, the password in MYSQL_PWD as a person's script would pass it.
func (e *testEnv) mysqlClient(cred *provider.Credential, database, stmt string) (string, error) {
	e.t.Helper()
	bin, err := exec.LookPath("mysql")
	if err != nil {
		if os.Getenv("CI") == "true" {
			e.t.Fatal("the mysql client is not on PATH (CI=true)")
		}
		e.t.Skip("the mysql client is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"--no-defaults", "--protocol=TCP", "--connect-timeout=10", "--batch", "--skip-column-names",
		"-h", cred.Info["host"], "-P", cred.Info["port"], "-u", cred.Info["user"]}
	if database != "" {
		args = append(args, database)
	}
	args = append(args, "-e", stmt)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MYSQL_PWD=" + string(cred.Data)}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openAs opens a database/sql connection pool as the issued account.
func (e *testEnv) openAs(user, password, database string) *sql.DB {
	e.t.Helper()
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", "127.0.0.1:"+strconv.Itoa(e.port), database
	cfg.Timeout = 10 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	e.must(err)
	e.mu.Lock()
	e.clients = append(e.clients, db)
	e.mu.Unlock()
	return db
}

func denied(out string) bool {
	return strings.Contains(out, "denied") || strings.Contains(out, "ERROR 1142") || strings.Contains(out, "ERROR 1143")
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return e.provider(e.settings()) },
		Resource: "billing-db", Access: "read", User: e.email(""),
		Present: func(t *testing.T, id string) bool {
			e.track(userName(id, e.email("")))
			return e.exists(userName(id, e.email("")))
		},
	})
}

// TestMySQLDialectOnMariaDB runs the conformance suite with the mysql
// dialect against MariaDB. It is not a test of MySQL 8: it shows that the
// statements the two dialects share, and the MySQL forms MariaDB also
// accepts (CREATE EVENT IF NOT EXISTS + ALTER EVENT, mysql.user), work.
// The MySQL-only forms (roles as 'name'@'%', SET DEFAULT ROLE ... TO) are
// checked as text in TestStatementsPerDialect.
func TestMySQLDialectOnMariaDB(t *testing.T) {
	e := newEnv(t)
	settings := e.settings("dialect", DialectMySQL, "guard_database", e.guard+"_mysql")
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return e.provider(settings) },
		Resource: "billing-db", Access: "write", User: e.email("m"),
		Present: func(t *testing.T, id string) bool {
			e.track(userName(id, e.email("m")))
			return e.exists(userName(id, e.email("m")))
		},
	})
	// And the MySQL event statements leave a working guard.
	p := e.provider(settings)
	exp := time.Now().Add(time.Hour)
	resp := e.grant(p, e.grantReq("mysql-dialect-1", e.email("m"), "write", exp))
	v, err := p.Verify(context.Background(), provider.VerifyRequest{RequestID: "mysql-dialect-1", User: e.email("m"), Handle: resp.Handle})
	if err != nil || !v.Present || v.ExpiresAt == nil || v.ExpiresAt.Format(eventTimeFormat) != eventTime(exp) {
		t.Fatalf("Verify = %+v, %v; want present, expiring at %s", v, err, eventTime(exp))
	}
	// A second grant goes through the ALTER EVENT path.
	exp2 := exp.Add(time.Hour)
	e.grant(p, e.grantReq("mysql-dialect-1", e.email("m"), "write", exp2))
	v, err = p.Verify(context.Background(), provider.VerifyRequest{RequestID: "mysql-dialect-1", User: e.email("m")})
	if err != nil || v.ExpiresAt == nil || v.ExpiresAt.Format(eventTimeFormat) != eventTime(exp2) {
		t.Fatalf("after a second grant, Verify = %+v, %v; want expiry %s", v, err, eventTime(exp2))
	}
}

func TestClientLoginAndLevels(t *testing.T) {
	e := newEnv(t)
	p := e.provider(e.settings())
	exp := time.Now().Add(time.Hour)

	read := e.grant(p, e.grantReq("login-read", e.email("r"), "read", exp))
	info := read.Credential.Info
	if info["dialect"] != DialectMariaDB || info["host"] != "127.0.0.1" || info["port"] != strconv.Itoa(e.port) ||
		info["database"] != e.db || info["user"] != userName("login-read", e.email("r")) {
		t.Errorf("credential info = %v", info)
	}
	var h account
	if err := json.Unmarshal(read.Handle, &h); err != nil || h.User != info["user"] || h.Host != "%" {
		t.Errorf("handle = %s (%v)", read.Handle, err)
	}
	if strings.Contains(string(read.Handle), string(read.Credential.Data)) {
		t.Error("the handle contains the password")
	}
	out, err := e.mysqlClient(read.Credential, e.db, "SELECT total FROM orders ORDER BY id")
	if err != nil || strings.Fields(out)[0] != "10" {
		t.Fatalf("SELECT under a read grant: %v: %s", err, out)
	}
	out, err = e.mysqlClient(read.Credential, e.db, "UPDATE orders SET total = 11 WHERE id = 1")
	if err == nil || !denied(out) {
		t.Fatalf("UPDATE under a read grant: err=%v, output %q; want a denied error", err, out)
	}
	// Another database is not readable.
	out, err = e.mysqlClient(read.Credential, "", "SELECT COUNT(*) FROM mysql.global_priv")
	if err == nil || !denied(out) {
		t.Fatalf("reading mysql.global_priv under a read grant: err=%v, output %q", err, out)
	}

	write := e.grant(p, e.grantReq("login-write", e.email("w"), "write", exp))
	out, err = e.mysqlClient(write.Credential, e.db, "UPDATE orders SET total = 11 WHERE id = 1")
	if err != nil {
		t.Fatalf("UPDATE under a write grant: %v: %s", err, out)
	}
	var total int
	e.must(e.root.QueryRow("SELECT total FROM " + qi(t, e.db) + ".orders WHERE id = 1").Scan(&total))
	if total != 11 {
		t.Errorf("total = %d after the UPDATE, want 11", total)
	}
	out, err = e.mysqlClient(write.Credential, e.db, "DROP TABLE customers")
	if err == nil || !denied(out) {
		t.Fatalf("DROP TABLE under a write grant: err=%v, output %q", err, out)
	}
}

func TestRoleLevel(t *testing.T) {
	e := newEnv(t)
	role := "jit_role_" + e.tag
	e.roles = append(e.roles, role)
	e.exec("CREATE ROLE " + qi(t, role))
	e.exec("GRANT SELECT ON " + qi(t, e.db) + ".customers TO " + qi(t, role))
	settings := e.settings("levels", map[string]any{
		"read":  map[string]any{"privileges": []any{"SELECT"}},
		"admin": map[string]any{"roles": []any{role}},
	})
	p := e.provider(settings, "read", "admin")
	resp := e.grant(p, e.grantReq("role-1", e.email(""), "admin", time.Now().Add(time.Hour)))
	// The role is the default role: no SET ROLE needed.
	out, err := e.mysqlClient(resp.Credential, e.db, "SELECT name FROM customers")
	if err != nil || strings.TrimSpace(out) != "ada" {
		t.Fatalf("SELECT through the default role: %v: %s", err, out)
	}
	out, err = e.mysqlClient(resp.Credential, e.db, "SELECT total FROM orders")
	if err == nil || !denied(out) {
		t.Fatalf("a table the role does not cover: err=%v, output %q", err, out)
	}
	e.revoke(p, "role-1", e.email(""), resp.Handle)
	if e.exists(resp.Credential.Info["user"]) {
		t.Fatal("the account survived Revoke")
	}
}

func TestQueryScoped(t *testing.T) {
	e := newEnv(t)
	other := e.db + "_other"
	e.createDatabase(other)
	p := e.provider(e.settings())
	ctx := context.Background()

	const stmt = "UPDATE orders SET total = 99 WHERE id = 2"
	scope, err := p.Scope(ctx, provider.ScopeRequest{Resource: "billing-db", Access: "write", Query: stmt})
	if err != nil {
		t.Fatalf("Scope: %v", err)
	}
	var sawUpdate bool
	for _, pr := range scope.Privileges {
		if pr.Schema != e.db || pr.Table != "orders" {
			t.Errorf("privilege %v is not on %s.orders", pr, e.db)
		}
		if pr.Action == "UPDATE" && len(pr.Columns) == 1 && pr.Columns[0] == "total" {
			sawUpdate = true
		}
	}
	if !sawUpdate {
		t.Fatalf("Scope(%q) = %v; want UPDATE (total) among them", stmt, scope.Privileges)
	}
	req := e.grantReq("scoped-1", e.email("q"), "read", time.Now().Add(time.Hour))
	req.Query, req.Privileges = stmt, scope.Privileges
	resp := e.grant(p, req)

	if out, err := e.mysqlClient(resp.Credential, e.db, stmt); err != nil {
		t.Fatalf("the scoped statement: %v: %s", err, out)
	}
	for _, s := range []string{
		"UPDATE orders SET status = 'x' WHERE id = 2", // another column
		"SELECT name FROM customers",                  // another table
		"DELETE FROM orders WHERE id = 2",             // another action
		"SELECT total FROM " + qi(t, other) + ".orders",
	} {
		out, err := e.mysqlClient(resp.Credential, e.db, s)
		if err == nil || !denied(out) {
			t.Errorf("%s under a scoped grant: err=%v, output %q; want denied", s, err, out)
		}
	}

	// Refusals.
	refused := map[string]string{
		"SELECT * FROM nosuchtable":                 "does not exist",
		"SELECT * FROM " + qi(t, other) + ".orders": "not open to query-scoped requests",
		"UPDATE orders SET nosuchcolumn = 1":        "nosuchcolumn",
		"DROP TABLE orders":                         "",
		"SELECT 1; DROP TABLE orders":               "",
	}
	for q, want := range refused {
		_, err := p.Scope(ctx, provider.ScopeRequest{Resource: "billing-db", Access: "write", Query: q})
		var se *provider.ScopeError
		if !errors.As(err, &se) {
			t.Errorf("Scope(%q) = %v; want a *provider.ScopeError", q, err)
			continue
		}
		if !strings.Contains(se.Reason, want) {
			t.Errorf("Scope(%q) reason %q; want it to mention %q", q, se.Reason, want)
		}
	}
	// A query never widens the level it is asked under.
	for q, want := range map[string]string{
		"UPDATE orders SET total = 1 WHERE id = 1": "does not grant",
		"SELECT * FROM orders":                     "",
	} {
		_, err := p.Scope(ctx, provider.ScopeRequest{Resource: "billing-db", Access: "read", Query: q})
		var se *provider.ScopeError
		switch {
		case want == "" && err != nil:
			t.Errorf("Scope(%q) under read = %v; want it allowed", q, err)
		case want != "" && (!errors.As(err, &se) || !strings.Contains(se.Reason, want)):
			t.Errorf("Scope(%q) under read = %v; want a refusal mentioning %q", q, err, want)
		}
	}
	// Without query settings, Scope refuses.
	plain := e.provider(e.settings("query", nil))
	_, err = plain.Scope(ctx, provider.ScopeRequest{Resource: "billing-db", Access: "write", Query: "SELECT * FROM orders"})
	var se *provider.ScopeError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "not enabled") {
		t.Errorf("Scope without query settings = %v; want a refusal saying it is not enabled", err)
	}
	// Nor does Grant take query-scoped privileges then, or privileges on
	// a database outside query.databases.
	req2 := e.grantReq("scoped-2", e.email("q"), "read", time.Now().Add(time.Hour))
	req2.Query, req2.Privileges = stmt, scope.Privileges
	if _, err := plain.Grant(ctx, req2); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("a query-scoped grant without query settings = %v; want a NotApplied refusal", err)
	}
	req2.Privileges = []jit.Privilege{{Action: "SELECT", Schema: other, Table: "orders"}}
	if _, err := p.Grant(ctx, req2); err == nil || !provider.IsNotApplied(err) {
		t.Errorf("a grant on a database outside query.databases = %v; want a NotApplied refusal", err)
	}
	if e.exists(userName("scoped-2", e.email("q"))) {
		t.Error("a refused grant created an account")
	}
}

func TestRevokeKillsSessions(t *testing.T) {
	e := newEnv(t)
	p := e.provider(e.settings())
	resp := e.grant(p, e.grantReq("kill-1", e.email("k"), "read", time.Now().Add(time.Hour)))
	user := resp.Credential.Info["user"]
	db := e.openAs(user, string(resp.Credential.Data), e.db)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("logging in as %s: %v", user, err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders").Scan(&n); err != nil {
		t.Fatalf("querying before revoke: %v", err)
	}

	e.revoke(p, "kill-1", e.email("k"), resp.Handle)

	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders").Scan(&n); err == nil {
		t.Fatal("the session opened before Revoke still runs queries")
	}
	if e.exists(user) {
		t.Fatal("the account survived Revoke")
	}
	fresh := e.openAs(user, string(resp.Credential.Data), e.db)
	err = fresh.PingContext(ctx)
	var me *gomysql.MySQLError
	// 1045 or, for an account that does not exist, 1698 in MariaDB.
	if !errors.As(err, &me) || (me.Number != 1045 && me.Number != 1698) {
		t.Fatalf("a new login after Revoke: %v; want access denied", err)
	}
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "kill-1", User: e.email("k"), Handle: resp.Handle})
	if err != nil || v.Present || v.ExpiresAt != nil {
		t.Fatalf("Verify after Revoke = %+v, %v", v, err)
	}
	var events int
	e.must(e.root.QueryRow("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", e.guard).Scan(&events))
	if events != 0 {
		t.Errorf("%d expiry events left after Revoke", events)
	}
}

// waitGone polls until user has no account, for up to 20 seconds.
func (e *testEnv) waitGone(user string) bool {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if !e.exists(user) {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	return !e.exists(user)
}

func TestExpiryGuard(t *testing.T) {
	e := newEnv(t)
	// A guard database whose name needs quoting everywhere, the CALL in
	// the event included.
	e.guard = "jit_g`'\\;-- é_" + e.tag
	p := e.provider(e.settings())
	exp := time.Now().Add(5 * time.Second)
	resp := e.grant(p, e.grantReq("guard-1", e.email("g"), "read", exp))
	user := resp.Credential.Info["user"]

	v, err := p.Verify(context.Background(), provider.VerifyRequest{RequestID: "guard-1", User: e.email("g"), Handle: resp.Handle})
	if err != nil || !v.Present || v.ExpiresAt == nil {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	if got := v.ExpiresAt.Format(eventTimeFormat); got != eventTime(exp) || v.ExpiresAt.Location() != time.UTC {
		t.Errorf("Verify.ExpiresAt = %v, want %s UTC", v.ExpiresAt, eventTime(exp))
	}
	db := e.openAs(user, string(resp.Credential.Data), e.db)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("logging in: %v", err)
	}
	defer conn.Close()
	if err := conn.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}

	// No Revoke: the event must end the access by itself.
	if !e.waitGone(user) {
		t.Fatalf("the account %s still exists 20s after its expiry (event scheduler running?)", user)
	}
	var one int
	if err := conn.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err == nil {
		t.Error("the session opened before expiry survived the expiry event")
	}
	out, err := e.mysqlClient(resp.Credential, e.db, "SELECT 1")
	if err == nil || !strings.Contains(out, "denied") {
		t.Errorf("login after expiry: err=%v, output %q; want access denied", err, out)
	}
	var events int
	e.must(e.root.QueryRow("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", e.guard).Scan(&events))
	if events != 0 {
		t.Errorf("the one-shot event was kept after it ran (%d events)", events)
	}
	// Revoke afterwards is still success.
	e.revoke(p, "guard-1", e.email("g"), resp.Handle)
}

func TestHostileInputs(t *testing.T) {
	e := newEnv(t)
	hostileDB := "jit_h`'\\;-- /*é*/_" + e.tag
	e.createDatabase(hostileDB)
	hostileLevel := "r'`; DROP USER 'root'@'%'; --"
	settings := e.settings(
		"database", hostileDB,
		"levels", map[string]any{
			hostileLevel: map[string]any{"privileges": []any{"SELECT"}},
			"write":      map[string]any{"privileges": []any{"UPDATE"}, "databases": []any{hostileDB, e.db}},
		},
		"query", map[string]any{"databases": []any{hostileDB}},
	)
	before := e.rootGrants()
	p, err := NewWithOptions(provider.Resource{Name: "db'; DROP DATABASE test; --", Type: Type, Settings: settings,
		Access: []string{hostileLevel, "write"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	exp := time.Now().Add(time.Hour)
	type grant struct{ id, email, access string }
	grants := []grant{
		{"req'; DROP USER 'root'@'127.0.0.1'; --", e.tag + "'; DROP TABLE orders; --@example.com", hostileLevel},
		{"req`; DROP DATABASE `test`", e.tag + "\\'\\\\@x", "write"},
		{"req\\'); SELECT SLEEP(10); --", e.tag + "/* */@x", hostileLevel},
		{"req\x00nul\n\r\x1a", e.tag + "ünï©ødé@x", "write"},
		{"req 漢字 😀 ‮", e.tag + "#@x", hostileLevel},
		{"'\"`\\", "'\"`\\@x", hostileLevel}, // no usable local part at all
	}
	want := map[string]bool{}
	for _, g := range grants {
		resp := e.grant(p, e.grantReq(g.id, g.email, g.access, exp))
		u := resp.Credential.Info["user"]
		if u != userName(g.id, g.email) || !userNameRE.MatchString(u) {
			t.Errorf("grant %q made account %q", g.id, u)
		}
		want[u+"@%"] = true
		// The account can read the hostile database, and nothing it was
		// not given.
		db := e.openAs(u, string(resp.Credential.Data), "")
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM " + qi(t, hostileDB) + ".orders").Scan(&n)
		if g.access == hostileLevel && (err != nil || n != 2) {
			t.Errorf("%s cannot read the hostile database: %v", u, err)
		}
		if g.access == "write" && err == nil {
			t.Errorf("%s (UPDATE only) could SELECT", u)
		}
	}
	// A query-scoped grant whose table and column names need quoting.
	oddTable, oddCol := "o`r'd\\e;r--s", "t`o'tal\\"
	e.exec("CREATE TABLE " + qi(t, hostileDB) + "." + qi(t, oddTable) + " (id INT PRIMARY KEY, " + qi(t, oddCol) + " INT, other INT)")
	sreq := e.grantReq("scoped'`\\", e.tag+"s@x", hostileLevel, exp)
	sreq.Query = "UPDATE ..."
	sreq.Privileges = []jit.Privilege{{Action: "UPDATE", Schema: hostileDB, Table: oddTable, Columns: []string{oddCol}}}
	sresp := e.grant(p, sreq)
	want[sresp.Credential.Info["user"]+"@%"] = true
	var colPrivs int
	e.must(e.root.QueryRow(`SELECT COUNT(*) FROM information_schema.COLUMN_PRIVILEGES
		WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ? AND PRIVILEGE_TYPE = 'UPDATE'`,
		"'"+sresp.Credential.Info["user"]+"'@'%'", hostileDB, oddTable, oddCol).Scan(&colPrivs))
	if colPrivs != 1 {
		t.Errorf("the column privilege on the hostile names was not granted exactly")
	}

	// A hostile host part is one account with exactly that host.
	hostileHost := "%'IDENTIFIED/**/BY'x';DROP/**/USER'root';--\\"
	hp, err := NewWithOptions(provider.Resource{Name: "h", Type: Type, Settings: with(e.settings(), "user_host", hostileHost),
		Access: []string{"read", "write"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Close()
	hresp := e.grant(hp, e.grantReq("host-1", e.email("h"), "read", exp))
	// Host names are kept in lower case.
	want[hresp.Credential.Info["user"]+"@"+strings.ToLower(hostileHost)] = true

	got := e.tagAccounts()
	for _, g := range grants {
		if u := userName(g.id, g.email); !strings.HasPrefix(u, "jit_"+e.tag+"_") {
			// The account whose requester has no local part is outside the
			// tag's prefix; look it up by name.
			for _, h := range e.hosts(u) {
				got[u+"@"+h] = true
			}
		}
	}
	for a := range want {
		if !got[a] {
			t.Errorf("account %q is missing", a)
		}
	}
	for a := range got {
		if !want[a] {
			t.Errorf("unexpected account %q", a)
		}
	}
	// Nothing else changed: root's accounts and grants, the test's
	// tables.
	if after := e.rootGrants(); after != before {
		t.Errorf("root's grants changed:\nbefore %s\nafter  %s", before, after)
	}
	for _, db := range []string{e.db, hostileDB} {
		var n int
		e.must(e.root.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('orders', 'customers')", db).Scan(&n))
		if n != 2 {
			t.Errorf("database %q has %d of its 2 tables", db, n)
		}
	}
	// Revoke removes them all, hostile host included.
	for _, g := range grants {
		e.revoke(p, g.id, g.email, nil)
	}
	e.revoke(p, sreq.RequestID, sreq.User, nil)
	e.revoke(hp, "host-1", e.email("h"), nil)
	if left := e.tagAccounts(); len(left) != 0 {
		t.Errorf("accounts left after Revoke: %v", left)
	}
}

// rootGrants describes every root account and its grants.
func (e *testEnv) rootGrants() string {
	e.t.Helper()
	rows, err := e.root.Query("SELECT Host FROM mysql.global_priv WHERE User = 'root' ORDER BY Host")
	e.must(err)
	var hosts []string
	for rows.Next() {
		var h string
		e.must(rows.Scan(&h))
		hosts = append(hosts, h)
	}
	rows.Close()
	var b strings.Builder
	for _, h := range hosts {
		b.WriteString("root@" + h + ":")
		grows, err := e.root.Query("SHOW GRANTS FOR 'root'@" + ql(e.t, h))
		e.must(err)
		for grows.Next() {
			var g string
			e.must(grows.Scan(&g))
			b.WriteString(" " + g)
		}
		grows.Close()
		b.WriteString("\n")
	}
	return b.String()
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	p := e.provider(e.settings())
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	req := e.grantReq("idem-1", e.email("i"), "read", exp)
	first := e.grant(p, req)
	second := e.grant(p, req)
	user := first.Credential.Info["user"]
	if hosts := e.hosts(user); len(hosts) != 1 {
		t.Fatalf("two grants of one request: accounts %v, want one", hosts)
	}
	if string(first.Handle) != string(second.Handle) {
		t.Errorf("handles differ: %s and %s", first.Handle, second.Handle)
	}
	// The second grant issued a new password; the first one no longer
	// works (its answer was lost, or the grant would not be repeated).
	if out, err := e.mysqlClient(second.Credential, e.db, "SELECT 1"); err != nil {
		t.Fatalf("the second credential: %v: %s", err, out)
	}
	if out, err := e.mysqlClient(first.Credential, e.db, "SELECT 1"); err == nil {
		t.Errorf("the first, replaced credential still logs in: %s", out)
	}
	e.revoke(p, "idem-1", req.User, second.Handle)
	e.revoke(p, "idem-1", req.User, second.Handle)
	e.revoke(p, "idem-1", req.User, nil)
	e.revoke(p, "never-granted", e.email("i"), nil)
	if e.exists(user) {
		t.Fatal("the account survived Revoke")
	}
	// A handle that does not name one of the provider's accounts is
	// refused rather than acted on.
	for _, h := range []string{`{"user":"root","host":"127.0.0.1"}`, `{"user":"jit_x'; --","host":"%"}`, `not json`} {
		if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "x", Handle: json.RawMessage(h)}); err == nil {
			t.Errorf("Revoke accepted the handle %s", h)
		}
	}
	if len(e.hosts("root")) == 0 {
		t.Fatal("root is gone")
	}
}

func TestConcurrentGrants(t *testing.T) {
	e := newEnv(t)
	p := e.provider(e.settings())
	exp := time.Now().Add(time.Hour)
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := e.grantReq(fmt.Sprintf("conc-%d", i), e.email(""), "write", exp)
			if _, err := p.Grant(context.Background(), req); err != nil {
				errs <- fmt.Errorf("grant %d: %w", i, err)
			}
		}(i)
	}
	// And ten concurrent grants of one request.
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Grant(context.Background(), e.grantReq("conc-same", e.email(""), "read", exp)); err != nil {
				errs <- fmt.Errorf("same-request grant: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(e.tagAccounts()); got != n+1 {
		t.Errorf("%d accounts after %d grants and 10 of one more request, want %d", got, n, n+1)
	}
	var events int
	e.must(e.root.QueryRow("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", e.guard).Scan(&events))
	if events != n+1 {
		t.Errorf("%d expiry events, want %d", events, n+1)
	}
	var wg2 sync.WaitGroup
	for i := 0; i < n; i++ {
		wg2.Add(1)
		go func(i int) {
			defer wg2.Done()
			if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: fmt.Sprintf("conc-%d", i), User: e.email("")}); err != nil {
				t.Errorf("revoke %d: %v", i, err)
			}
		}(i)
	}
	wg2.Wait()
	e.revoke(p, "conc-same", e.email(""), nil)
	if left := e.tagAccounts(); len(left) != 0 {
		t.Errorf("%d accounts left after revoking all", len(left))
	}
}

func TestNotApplied(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A server that refuses connections: nothing can have been applied.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv(adminDSNEnv, "root@tcp("+addr+")/")
	down := e.provider(e.settings())
	_, err = down.Grant(ctx, e.grantReq("na-1", e.email("n"), "read", time.Now().Add(time.Hour)))
	if err == nil || !provider.IsNotApplied(err) {
		t.Errorf("Grant against a closed port = %v; want a NotApplied error", err)
	}
	if _, err := down.Verify(ctx, provider.VerifyRequest{RequestID: "na-1", User: e.email("n")}); err == nil {
		t.Error("Verify against a closed port succeeded")
	}
	if _, err := down.Revoke(ctx, provider.RevokeRequest{RequestID: "na-1", User: e.email("n")}); err == nil {
		t.Error("Revoke against a closed port succeeded")
	}

	t.Setenv(adminDSNEnv, e.dsn)
	p := e.provider(e.settings())
	for name, req := range map[string]provider.GrantRequest{
		"past expiry":   e.grantReq("na-2", e.email("n"), "read", time.Now().Add(-time.Minute)),
		"no expiry":     e.grantReq("na-3", e.email("n"), "read", time.Time{}),
		"unknown level": e.grantReq("na-4", e.email("n"), "owner", time.Now().Add(time.Hour)),
	} {
		_, err := p.Grant(ctx, req)
		if err == nil || !provider.IsNotApplied(err) {
			t.Errorf("%s: Grant = %v; want a NotApplied error", name, err)
		}
		if e.exists(userName(req.RequestID, req.User)) {
			t.Errorf("%s: an account was created", name)
		}
	}
	// A statement that fails after CREATE USER (a role that does not
	// exist) leaves the outcome ambiguous, and the error does not carry
	// the password.
	bad := e.provider(e.settings("levels", map[string]any{
		"read":  map[string]any{"roles": []any{"jit_no_such_role_" + e.tag}},
		"write": map[string]any{"privileges": []any{"SELECT"}},
	}))
	_, err = bad.Grant(ctx, e.grantReq("na-5", e.email("n"), "read", time.Now().Add(time.Hour)))
	if err == nil || provider.IsNotApplied(err) {
		t.Errorf("a failure after CREATE USER = %v; want an ambiguous error", err)
	}
	if err != nil && strings.Contains(err.Error(), passwordTail) {
		t.Errorf("the error shows the password: %v", err)
	}
	if !e.exists(userName("na-5", e.email("n"))) {
		t.Error("the account CREATE USER made is not there; the test does not test what it says")
	}
	e.revoke(bad, "na-5", e.email("n"), nil)
	if e.exists(userName("na-5", e.email("n"))) {
		t.Error("Revoke after an ambiguous grant left the account")
	}
}

// TestSessionSettings checks that the provider's sessions run with the
// settings its SQL relies on, and that the quoting reads back exactly on
// the server.
func TestSessionSettings(t *testing.T) {
	e := newEnv(t)
	p := e.provider(e.settings())
	ctx := context.Background()
	var tz, mode, cs string
	e.must(p.db.QueryRowContext(ctx, "SELECT @@SESSION.time_zone, @@SESSION.sql_mode, @@SESSION.character_set_client").Scan(&tz, &mode, &cs))
	if tz != "+00:00" || strings.Contains(mode, "NO_BACKSLASH_ESCAPES") || cs != "utf8mb4" {
		t.Errorf("session: time_zone=%s sql_mode=%s character_set_client=%s", tz, mode, cs)
	}
	// The sql_mode expression removes NO_BACKSLASH_ESCAPES wherever it is
	// in the list, and only it.
	conn, err := e.root.Conn(ctx)
	e.must(err)
	defer conn.Close()
	for in, want := range map[string]string{
		"NO_BACKSLASH_ESCAPES":                                 "",
		"NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES":             "STRICT_TRANS_TABLES",
		"STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES":             "STRICT_TRANS_TABLES",
		"ANSI_QUOTES,NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES": "ANSI_QUOTES,STRICT_TRANS_TABLES",
		"STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO":       "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO",
	} {
		_, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?", in)
		e.must(err)
		_, err = conn.ExecContext(ctx, "SET SESSION sql_mode = "+sqlModeExpr)
		e.must(err)
		var got string
		e.must(conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&got))
		if got != want {
			t.Errorf("sql_mode %s became %s, want %s", in, got, want)
		}
	}

	// Literals read back unchanged in the provider's sessions, and stay one
	// literal even under NO_BACKSLASH_ESCAPES.
	nbe, err := e.root.Conn(ctx)
	e.must(err)
	defer nbe.Close()
	_, err = nbe.ExecContext(ctx, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES', NAMES utf8mb4")
	e.must(err)
	for _, s := range hostileStrings {
		lit := ql(t, s)
		var got string
		if err := p.db.QueryRowContext(ctx, "SELECT "+lit).Scan(&got); err != nil || got != s {
			t.Errorf("SELECT %s = %q, %v; want %q", lit, got, err, s)
		}
		var one, sentinel string
		if err := nbe.QueryRowContext(ctx, "SELECT "+lit+", 'sentinel'").Scan(&one, &sentinel); err != nil || sentinel != "sentinel" {
			t.Errorf("under NO_BACKSLASH_ESCAPES, %s is not one literal: %v", lit, err)
		}
	}
	// Identifiers, as column names.
	var cols []string
	var names []string
	for _, s := range hostileStrings {
		if checkDatabase(s) != nil {
			continue
		}
		cols = append(cols, qi(t, s)+" INT")
		names = append(names, s)
	}
	e.exec("CREATE TABLE " + qi(t, e.db) + ".odd (" + strings.Join(cols, ", ") + ")")
	rows, err := e.root.Query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'odd' ORDER BY ORDINAL_POSITION", e.db)
	e.must(err)
	var got []string
	for rows.Next() {
		var c string
		e.must(rows.Scan(&c))
		got = append(got, c)
	}
	rows.Close()
	if strings.Join(got, "\x01") != strings.Join(names, "\x01") {
		t.Errorf("column names read back as %q, want %q", got, names)
	}
}

// TestLeastPrivilegeAdmin runs the provider with an admin account that has
// only the privileges doc.go lists, so that the list is known to be enough
// on MariaDB.
func TestLeastPrivilegeAdmin(t *testing.T) {
	e := newEnv(t)
	e.guard += "_lp"
	role := "jit_role_lp_" + e.tag
	e.roles = append(e.roles, role)
	e.exec("CREATE ROLE " + qi(t, role))
	e.exec("GRANT SELECT ON " + qi(t, e.db) + ".customers TO " + qi(t, role))

	admin := account{User: "jit_" + e.tag + "_admin", Host: "%"}
	e.admins = append(e.admins, admin)
	adminSQL, err := admin.sql()
	e.must(err)
	pw := randHex(t, 16)
	db, guard := qi(t, e.db), qi(t, e.guard)
	for _, stmt := range []string{
		"CREATE USER " + adminSQL + " IDENTIFIED BY " + ql(t, pw),
		"GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO " + adminSQL,
		"GRANT SELECT ON mysql.global_priv TO " + adminSQL,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON " + db + ".* TO " + adminSQL + " WITH GRANT OPTION",
		"GRANT CREATE, EVENT, CREATE ROUTINE ON " + guard + ".* TO " + adminSQL,
	} {
		e.exec(stmt)
	}
	cfg, err := gomysql.ParseDSN(e.dsn)
	e.must(err)
	// The admin needs no default database.
	cfg.User, cfg.Passwd, cfg.DBName = admin.User, pw, ""
	t.Setenv(adminDSNEnv, cfg.FormatDSN())

	settings := e.settings("levels", map[string]any{
		"read":  map[string]any{"privileges": []any{"SELECT"}},
		"write": map[string]any{"privileges": []any{"SELECT", "INSERT", "UPDATE", "DELETE"}},
		"admin": map[string]any{"roles": []any{role}},
	})
	access := []string{"read", "write", "admin"}
	providertest.Run(t, providertest.Harness{
		New:      func(t *testing.T) provider.Provider { return e.provider(settings, access...) },
		Resource: "billing-db", Access: "write", User: e.email("l"),
		Present: func(t *testing.T, id string) bool {
			e.track(userName(id, e.email("l")))
			return e.exists(userName(id, e.email("l")))
		},
	})
	p := e.provider(settings, access...)
	ctx := context.Background()

	// A role level needs the role WITH ADMIN OPTION and, for SET DEFAULT
	// ROLE ... FOR another account, UPDATE on the mysql database.
	e.exec("GRANT " + qi(t, role) + " TO " + adminSQL + " WITH ADMIN OPTION")
	e.exec("GRANT UPDATE ON mysql.* TO " + adminSQL)
	rresp := e.grant(p, e.grantReq("lp-role", e.email("l"), "admin", time.Now().Add(time.Hour)))
	if out, err := e.mysqlClient(rresp.Credential, e.db, "SELECT name FROM customers"); err != nil {
		t.Errorf("role level with the least-privileged admin: %v: %s", err, out)
	}
	e.exec("REVOKE UPDATE ON mysql.* FROM " + adminSQL)
	// A query-scoped, column-level grant.
	scope, err := p.Scope(ctx, provider.ScopeRequest{Access: "write", Query: "UPDATE orders SET total = 1 WHERE id = 1"})
	e.must(err)
	sreq := e.grantReq("lp-scoped", e.email("l"), "read", time.Now().Add(time.Hour))
	sreq.Query, sreq.Privileges = "UPDATE orders SET total = 1 WHERE id = 1", scope.Privileges
	sresp := e.grant(p, sreq)
	if out, err := e.mysqlClient(sresp.Credential, e.db, sreq.Query); err != nil {
		t.Errorf("scoped grant with the least-privileged admin: %v: %s", err, out)
	}
	// Revoke kills another account's session.
	kresp := e.grant(p, e.grantReq("lp-kill", e.email("l"), "read", time.Now().Add(time.Hour)))
	kdb := e.openAs(kresp.Credential.Info["user"], string(kresp.Credential.Data), e.db)
	kconn, err := kdb.Conn(ctx)
	e.must(err)
	defer kconn.Close()
	e.must(kconn.PingContext(ctx))
	e.revoke(p, "lp-kill", e.email("l"), kresp.Handle)
	var one int
	if err := kconn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Error("the least-privileged admin's Revoke left a session running")
	}
	// The expiry event runs with the admin's privileges (its definer).
	gresp := e.grant(p, e.grantReq("lp-guard", e.email("l"), "read", time.Now().Add(5*time.Second)))
	gdb := e.openAs(gresp.Credential.Info["user"], string(gresp.Credential.Data), e.db)
	gconn, err := gdb.Conn(ctx)
	e.must(err)
	defer gconn.Close()
	e.must(gconn.PingContext(ctx))
	if !e.waitGone(gresp.Credential.Info["user"]) {
		t.Fatal("the expiry event defined by the least-privileged admin did not drop the account")
	}
	if err := gconn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Error("the expiry event defined by the least-privileged admin left a session running")
	}
}

func TestGuardModes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)

	// off: no guard database, no events, no expiry reported; the grant
	// does not need one.
	off := e.provider(e.settings("expiry_guard", GuardOff))
	resp := e.grant(off, e.grantReq("off-1", e.email("o"), "read", time.Time{}))
	v, err := off.Verify(ctx, provider.VerifyRequest{RequestID: "off-1", User: e.email("o"), Handle: resp.Handle})
	if err != nil || !v.Present || v.ExpiresAt != nil {
		t.Errorf("Verify with the guard off = %+v, %v; want present without expiry", v, err)
	}
	var n int
	e.must(e.root.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", e.guard).Scan(&n))
	if n != 0 {
		t.Error("the guard database was created with expiry_guard: off")
	}
	e.revoke(off, "off-1", e.email("o"), resp.Handle)

	// A guard database dropped by hand is put back by the next grant.
	p := e.provider(e.settings())
	e.grant(p, e.grantReq("mode-1", e.email("o"), "read", exp))
	e.exec("DROP DATABASE " + qi(t, e.guard))
	resp = e.grant(p, e.grantReq("mode-2", e.email("o"), "read", exp))
	v, err = p.Verify(ctx, provider.VerifyRequest{RequestID: "mode-2", User: e.email("o"), Handle: resp.Handle})
	if err != nil || v.ExpiresAt == nil || v.ExpiresAt.Format(eventTimeFormat) != eventTime(exp) {
		t.Errorf("after the guard database was dropped, Verify = %+v, %v", v, err)
	}
	var procs int
	e.must(e.root.QueryRow("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ?", e.guard, expireProcedure).Scan(&procs))
	if procs != 1 {
		t.Errorf("the expiry procedure was not put back (%d)", procs)
	}
	// The event of mode-1 went with the database: Verify says so.
	v, err = p.Verify(ctx, provider.VerifyRequest{RequestID: "mode-1", User: e.email("o")})
	if err != nil || !v.Present || v.ExpiresAt != nil {
		t.Errorf("Verify of a grant whose event was dropped = %+v, %v; want present without expiry", v, err)
	}
}
