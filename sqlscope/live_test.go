package sqlscope

// The live tests check the scoper against the servers' own privilege
// checks: each query the table tests accept is run by a role or user
// granted exactly the derived privileges (it must run), and, for
// liveExact cases, once more without each privilege in turn (the server
// must refuse it). Every run happens in a transaction that is rolled
// back.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/postgres/pgtest"
)

const envMySQL = "JIT_TEST_MYSQL_DSN"

func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// errDenied marks a run the server refused for lack of privilege.
var errDenied = errors.New("permission denied")

// liveRunner runs a query with exactly the given privileges. It returns
// nil when the query ran, an error wrapping errDenied when the server
// refused it for lack of privilege, and any other error otherwise.
type liveRunner func(t *testing.T, privs []jit.Privilege, query string) error

func checkLive(t *testing.T, scope scopeFunc, def string, cases []scopeCase, fixQuery func(string) string, run liveRunner) {
	for _, c := range cases {
		if c.err != "" || c.live == liveSkip {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			q := fixQuery(c.query)
			privs, err := scope(q, def)
			if err != nil {
				t.Fatalf("scope: %v", err)
			}
			if err := run(t, privs, q); err != nil {
				t.Fatalf("with %q the query does not run: %v", render(privs), err)
			}
			if c.live != liveExact {
				return
			}
			for i := range privs {
				fewer := append(append([]jit.Privilege(nil), privs[:i]...), privs[i+1:]...)
				err := run(t, fewer, q)
				if !errors.Is(err, errDenied) {
					t.Errorf("without %q the query is not refused (error %v): the privilege is not needed", privs[i].String(), err)
				}
			}
		})
	}
}

func TestLivePostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, pgSchemaSQL); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	role := randomName(t, "sqlscope_")
	roleID := pgx.Identifier{role}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+roleID+" NOLOGIN"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		// The database (and with it the role's privileges in it) is
		// dropped after this; drop what the role holds here first.
		if _, err := conn.Exec(ctx, "DROP OWNED BY "+roleID+"; DROP ROLE "+roleID); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	// Schema USAGE is not a table privilege; a provider grants it with
	// the table privileges.
	if _, err := conn.Exec(ctx, "GRANT USAGE ON SCHEMA public, sales TO "+roleID); err != nil {
		t.Fatalf("grant usage: %v", err)
	}
	run := func(t *testing.T, privs []jit.Privilege, query string) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		defer func() {
			if err := tx.Rollback(ctx); err != nil {
				t.Fatalf("rollback: %v", err)
			}
		}()
		for _, p := range privs {
			if _, err := tx.Exec(ctx, pgGrantSQL(p, role)); err != nil {
				t.Fatalf("grant %s: %v", p, err)
			}
		}
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+roleID); err != nil {
			t.Fatalf("set role: %v", err)
		}
		_, err = tx.Exec(ctx, query)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42501" {
			return fmt.Errorf("%w: %s", errDenied, pe.Message)
		}
		return err
	}
	checkLive(t, Postgres, "public", pgCases, func(q string) string { return q }, run)
}

func pgGrantSQL(p jit.Privilege, role string) string {
	cols := ""
	if len(p.Columns) > 0 {
		quoted := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			quoted[i] = pgx.Identifier{c}.Sanitize()
		}
		cols = " (" + strings.Join(quoted, ", ") + ")"
	}
	return fmt.Sprintf("GRANT %s%s ON TABLE %s TO %s", p.Action, cols,
		pgx.Identifier{p.Schema, p.Table}.Sanitize(), pgx.Identifier{role}.Sanitize())
}

func myQuote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func myString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

func TestLiveMySQL(t *testing.T) {
	dsn := os.Getenv(envMySQL)
	if dsn == "" {
		msg := "set " + envMySQL + " (e.g. root@tcp(127.0.0.1:3306)/test) to run the MySQL tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", envMySQL, err)
	}
	cfg.MultiStatements = true
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	adminExec := func(q string) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db := randomName(t, "sqlscope_")
	sales := db + "_sales"
	user := randomName(t, "sqlscope_")
	account := myString(user) + "@'%'"
	password := randomName(t, "pw")
	t.Cleanup(func() {
		for _, q := range []string{"DROP USER IF EXISTS " + account, "DROP DATABASE IF EXISTS " + myQuote(db), "DROP DATABASE IF EXISTS " + myQuote(sales)} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	adminExec("CREATE DATABASE " + myQuote(db) + " CHARACTER SET utf8mb4")
	adminExec("CREATE DATABASE " + myQuote(sales))
	adminExec("USE " + myQuote(db) + "; " + mysqlSchemaSQL)
	adminExec("USE " + myQuote(sales) + "; " + mysqlSalesSchemaSQL)
	adminExec("CREATE USER " + account + " IDENTIFIED BY " + myString(password))
	// A connection (and USE) needs some privilege in the database. SHOW
	// VIEW is one that no DML statement checks.
	useDB := "GRANT SHOW VIEW ON " + myQuote(db) + ".* TO " + account
	adminExec(useDB)

	ucfg := cfg.Clone()
	ucfg.User, ucfg.Passwd, ucfg.DBName = user, password, db
	userDB, err := sql.Open("mysql", ucfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { userDB.Close() })
	// One connection, so that BEGIN and ROLLBACK enclose the query.
	uconn, err := userDB.Conn(ctx)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { uconn.Close() })

	run := func(t *testing.T, privs []jit.Privilege, query string) error {
		// REVOKE ALL also covers column privileges; grants take effect on
		// the user's open connection at its next statement.
		adminExec("REVOKE ALL PRIVILEGES, GRANT OPTION FROM " + account)
		adminExec(useDB)
		for _, p := range privs {
			adminExec(myGrantSQL(p, account))
		}
		if _, err := uconn.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatalf("begin: %v", err)
		}
		_, err := uconn.ExecContext(ctx, query)
		if _, rerr := uconn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			t.Fatalf("rollback: %v", rerr)
		}
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1142 || me.Number == 1143) {
			return fmt.Errorf("%w: %s", errDenied, me.Message)
		}
		return err
	}
	fix := strings.NewReplacer("`shop`.", myQuote(db)+".", "shop.", myQuote(db)+".", "sales.", myQuote(sales)+".")
	checkLive(t, MySQL, db, mysqlCases, fix.Replace, run)
}

func myGrantSQL(p jit.Privilege, account string) string {
	cols := ""
	if len(p.Columns) > 0 {
		quoted := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			quoted[i] = myQuote(c)
		}
		cols = " (" + strings.Join(quoted, ", ") + ")"
	}
	return fmt.Sprintf("GRANT %s%s ON %s.%s TO %s", p.Action, cols, myQuote(p.Schema), myQuote(p.Table), account)
}

// TestLiveAllowlistsAreBuiltIn checks that every allowlisted PostgreSQL
// function and type name is a pg_catalog one on the test server. A name
// pg_catalog lacks would resolve through search_path to whatever a schema
// defines under it, which is exactly what the allowlist must not admit.
func TestLiveAllowlistsAreBuiltIn(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	for _, tc := range []struct {
		list  map[string]bool
		query string
	}{
		{pgFunctions, `SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = $1 AND pronamespace = 'pg_catalog'::regnamespace)`},
		{pgTypes, `SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = $1 AND typnamespace = 'pg_catalog'::regnamespace)`},
	} {
		for name := range tc.list {
			var ok bool
			if err := conn.QueryRow(ctx, tc.query, name).Scan(&ok); err != nil {
				t.Fatalf("look up %s: %v", name, err)
			}
			if !ok {
				t.Errorf("%s is not in pg_catalog", name)
			}
		}
	}
}
