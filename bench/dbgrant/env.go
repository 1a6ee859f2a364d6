package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/credential"
	"github.com/jitaccess/jit/internal/daemon"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider/postgres"
)

// Names the policy and the scratch database use.
const (
	resourceName = "bench-db"
	accessLevel  = "read"
	// dsnEnv is the variable the resource's admin_dsn_env names; it is set
	// in this process only, to the scratch database's DSN.
	dsnEnv     = "JIT_DBGRANT_ADMIN_DSN"
	adminEmail = "admin@dbgrant.example"
)

// env is one jitd (in this process, on SQLite in a temporary folder) whose
// postgres resource points at a scratch database on the -dsn server,
// requesters with tokens and registered age keys, an admin, and a direct
// connection to the scratch database for the floor and for checks.
type env struct {
	dir        string
	policyPath string
	serverDSN  string
	dbName     string
	dbDSN      string
	// runID is unique per run; the floor's roles are named after it so
	// that a run never touches another run's roles.
	runID  string
	d      *daemon.Daemon
	users  []string
	people []*client.Client // people[i] authenticates as users[i]
	admin  *client.Client
	// keys[i] is the age identity users[i] registered; it opens the
	// credentials issued to them.
	keys []*age.X25519Identity
	// db is a connection to the scratch database for setup, role counts
	// and cleanup; floor runs the floor's statements on its own
	// connection, so that the two never queue on each other.
	db    *pgx.Conn
	floor *pgx.Conn
	// floorGroup holds the level's privileges for the floor's roles, as
	// the provider's group role does for its users.
	floorGroup string
	dbCreated  bool
}

// startEnv creates the scratch database, starts jitd and registers users.
// On error it removes what it created.
func startEnv(ctx context.Context, serverDSN string, users int) (e *env, err error) {
	e = &env{serverDSN: serverDSN}
	defer func() {
		if err != nil {
			if cerr := e.close(); cerr != nil {
				fmt.Fprintln(os.Stderr, "dbgrant: cleanup:", cerr)
			}
			e = nil
		}
	}()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return e, err
	}
	e.runID = hex.EncodeToString(b)
	if err := e.createDatabase(ctx); err != nil {
		return e, err
	}
	if e.dir, err = os.MkdirTemp("", "jit-dbgrant-"); err != nil {
		return e, err
	}
	cfg, err := pgx.ParseConfig(e.dbDSN)
	if err != nil {
		return e, errors.New("parse the scratch database DSN")
	}
	for i := 0; i < users; i++ {
		e.users = append(e.users, fmt.Sprintf("u%03d@dbgrant.example", i))
	}
	e.policyPath = filepath.Join(e.dir, "jit.yaml")
	// The credential's sslmode is the one -dsn asks for, so that a
	// credential opened by the benchmark connects as -dsn does.
	u, _ := url.Parse(e.dbDSN)
	pol := policyYAML(e.users, cfg.Host, cfg.Port, e.dbName, u.Query().Get("sslmode"))
	if err := os.WriteFile(e.policyPath, pol, 0o600); err != nil {
		return e, err
	}
	// The provider reads its admin DSN from this variable when it first
	// connects; the DSN never goes into the policy file.
	if err := os.Setenv(dsnEnv, e.dbDSN); err != nil {
		return e, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	e.d, err = daemon.Start(ctx, daemon.Options{PolicyPath: e.policyPath, Addr: "127.0.0.1:0", DataDir: e.dir, Logger: log})
	if err != nil {
		return e, fmt.Errorf("start jitd: %w", err)
	}
	for _, u := range e.users {
		c, err := e.newClient(ctx, u, 16)
		if err != nil {
			return e, err
		}
		e.people = append(e.people, c)
		// Credentials are sealed to the requester's key; without one a
		// submit is refused.
		id, err := credential.GenerateIdentity()
		if err != nil {
			return e, err
		}
		if _, err := c.RegisterPublicKey(ctx, id.Recipient().String()); err != nil {
			return e, fmt.Errorf("register the public key of %s: %w", u, err)
		}
		e.keys = append(e.keys, id)
	}
	// The admin revokes with many calls in flight: it gets a large idle
	// pool so that its connections are reused rather than re-dialled.
	if e.admin, err = e.newClient(ctx, adminEmail, 256); err != nil {
		return e, err
	}
	return e, nil
}

// newClient stores an API token for email and returns a client using it.
func (e *env) newClient(ctx context.Context, email string, idle int) (*client.Client, error) {
	plain, hash, err := jit.NewTokenSecret()
	if err != nil {
		return nil, err
	}
	tok := &jit.Token{ID: "tok_" + hash[:12], Email: email, Hash: hash, CreatedAt: time.Now().UTC()}
	if err := e.d.Store.Apply(ctx, &jit.Change{Token: tok}); err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = idle
	return client.New(e.d.URL, client.WithToken(plain), client.WithHTTPClient(&http.Client{Transport: t}))
}

// policyYAML is the policy: the bench users may take the read level of the
// postgres resource for up to an hour, approved by the rule itself; the
// admin may revoke anything. Writes are not rate limited, since the
// benchmark's clients write far faster than people do.
func policyYAML(users []string, host string, port uint16, database, sslmode string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  rate_limit: {writes_per_minute: -1}
admins: [%s]
identities:
  - {email: %s}
`, adminEmail, adminEmail)
	for _, u := range users {
		fmt.Fprintf(&b, "  - {email: %s, groups: [bench]}\n", u)
	}
	ssl := ""
	if sslmode != "" {
		ssl = fmt.Sprintf("      sslmode: %q\n", sslmode)
	}
	fmt.Fprintf(&b, `resources:
  - name: %s
    provider: postgres
    settings:
      admin_dsn_env: %s
      host: %q
      port: %d
      database: %s
%s      levels:
        %s: {privileges: [SELECT], schemas: [public]}
    access: [%s]
rules:
  - name: bench
    requesters: {groups: [bench]}
    resources: [%s]
    access: [%s]
    max_duration: 1h
    reason: {required: true}
    auto_approve: true
`, resourceName, dsnEnv, host, port, database, ssl, accessLevel, accessLevel, resourceName, accessLevel)
	return []byte(b.String())
}

// createDatabase creates the scratch database with two tables, the floor's
// group role with the level's privileges, and the connections to it.
func (e *env) createDatabase(ctx context.Context) error {
	u, err := url.Parse(e.serverDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The DSN may hold a password: it is not repeated.
		return errors.New("-dsn must be a postgres:// URL (not shown: it may hold a password)")
	}
	e.dbName = "jit_dbgrant_" + e.runID
	conn, err := pgx.Connect(ctx, e.serverDSN)
	if err != nil {
		return fmt.Errorf("connect to the PostgreSQL server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{e.dbName}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", e.dbName, err)
	}
	e.dbCreated = true
	u.Path = "/" + e.dbName
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	e.dbDSN = u.String()

	if e.db, err = pgx.Connect(ctx, e.dbDSN); err != nil {
		return fmt.Errorf("connect to %s: %w", e.dbName, err)
	}
	if e.floor, err = pgx.Connect(ctx, e.dbDSN); err != nil {
		return fmt.Errorf("connect to %s: %w", e.dbName, err)
	}
	// Two small tables, so that the level's group role has real
	// privileges to hold (its ACL entries are what GRANT and DROP OWNED
	// touch).
	e.floorGroup = e.floorPrefix() + "g"
	g := pgx.Identifier{e.floorGroup}.Sanitize()
	for _, stmt := range []string{
		`CREATE TABLE orders (id serial PRIMARY KEY, customer int NOT NULL, total numeric(10,2), status text)`,
		`CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, 100) i`,
		`INSERT INTO orders (customer, total, status) SELECT 1 + i % 100, i, 'open' FROM generate_series(1, 1000) i`,
		// The floor's group role, made the way the provider makes a
		// level's: NOLOGIN, USAGE on the schema, the privileges on every
		// table of it.
		`CREATE ROLE ` + g + ` WITH NOLOGIN INHERIT`,
		`GRANT USAGE ON SCHEMA public TO ` + g,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ` + g,
	} {
		if _, err := e.db.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("prepare %s: %w", e.dbName, err)
		}
	}
	return nil
}

// floorPrefix starts the name of every role the floor creates. It does
// not start with "jit_", so that the floor's roles are never mistaken for
// the provider's.
func (e *env) floorPrefix() string { return "dbgrant_" + e.runID + "_" }

// countRoles returns how many roles the provider created for the scratch
// database still exist: users only, or users and group roles. Roles are
// recognised by the marker (a JSON comment) the provider puts on each,
// which names the database; other runs on the server are not counted.
func (e *env) countRoles(ctx context.Context, usersOnly bool) (int, error) {
	kind := `"jit":"`
	if usersOnly {
		kind = `"jit":"user"`
	}
	var n int
	err := e.db.QueryRow(ctx, `
		SELECT count(*) FROM pg_catalog.pg_roles r
		JOIN pg_catalog.pg_shdescription d
		  ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
		WHERE pg_catalog.starts_with(r.rolname, 'jit_')
		  AND pg_catalog.strpos(d.description, $1) > 0
		  AND pg_catalog.strpos(d.description, $2) > 0`,
		`"database":`+strconv.Quote(e.dbName), kind).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the provider's roles: %w", err)
	}
	return n, nil
}

// close stops jitd, drops every role the provider and the floor created
// (postgres.Teardown, then a check that none is left) and the scratch
// database, and removes the temporary folder. It runs on errors and
// interrupts too, with its own time limit.
func (e *env) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var errs []error
	if e.d != nil {
		// First, so that no grant job creates a role after the teardown.
		if err := e.d.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop jitd: %w", err))
		}
	}
	if e.policyPath != "" && e.dbDSN != "" {
		if err := e.teardown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if e.db != nil {
		if err := e.dropFloorRoles(ctx); err != nil {
			errs = append(errs, err)
		}
		if n, err := e.countRoles(ctx, false); err != nil {
			errs = append(errs, err)
		} else if n > 0 {
			errs = append(errs, fmt.Errorf("%d roles of database %s are left after the teardown", n, e.dbName))
		}
		e.db.Close(ctx)
	}
	if e.floor != nil {
		e.floor.Close(ctx)
	}
	if e.dbCreated {
		if err := e.dropDatabase(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
	return errors.Join(errs...)
}

// teardown drops the provider's roles with a provider built from the same
// policy file (jitd's own provider was closed with jitd): Teardown finds
// them by their markers.
func (e *env) teardown(ctx context.Context) error {
	pol, err := policy.Load(e.policyPath)
	if err != nil {
		return fmt.Errorf("load the policy for the teardown: %w", err)
	}
	defer pol.Close()
	prov, ok := pol.Provider(resourceName)
	if !ok {
		return fmt.Errorf("the policy has no resource %s", resourceName)
	}
	n, err := postgres.Teardown(ctx, prov)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "dbgrant: teardown dropped %d roles\n", n)
	return nil
}

// dropFloorRoles drops the floor's roles: normally only its group role is
// left, the users having been dropped after each sample. DROP OWNED
// removes the group's privileges in the scratch database first.
func (e *env) dropFloorRoles(ctx context.Context) error {
	rows, err := e.db.Query(ctx, `SELECT rolname FROM pg_catalog.pg_roles WHERE pg_catalog.starts_with(rolname, $1) ORDER BY rolname <> $2, rolname`,
		e.floorPrefix(), e.floorGroup)
	if err != nil {
		return fmt.Errorf("list the floor's roles: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list the floor's roles: %w", err)
	}
	var errs []error
	// Users before the group role they are members of (the ORDER BY puts
	// the group first; walk backwards).
	for i := len(names) - 1; i >= 0; i-- {
		r := pgx.Identifier{names[i]}.Sanitize()
		if _, err := e.db.Exec(ctx, "DROP OWNED BY "+r+"; DROP ROLE "+r); err != nil {
			errs = append(errs, fmt.Errorf("drop the floor's role %s: %w", names[i], err))
		}
	}
	return errors.Join(errs...)
}

func (e *env) dropDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.serverDSN)
	if err != nil {
		return fmt.Errorf("connect to drop database %s: %w", e.dbName, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{e.dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", e.dbName, err)
	}
	return nil
}
