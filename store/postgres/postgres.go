// Package postgres is the jit.Store for several replicas: PostgreSQL,
// through a github.com/jackc/pgx/v5 connection pool.
//
// Everything a replica must agree on with the others is decided by the
// database, never by state held in the process:
//
//   - Apply runs in a READ COMMITTED transaction, which it shares with the
//     other Applies queued in the same Store at the time (group commit, see
//     writer.go), each in its own savepoint. A request is updated with
//     UPDATE ... WHERE id = $1 AND version = $2, so of two writers that read
//     one version exactly one wins (the other waits for the row lock, then
//     finds a newer version and gets ECodeConflict).
//   - The audit chain's head (last seq and hash) lives in a one-row table,
//     audit_head. A transaction that appends events locks that row with
//     SELECT ... FOR UPDATE, seals its events after it and moves it before
//     committing, so appends from every replica form one contiguous chain;
//     a batch of Applies takes that lock once for all of them.
//   - ClaimJobs leases due jobs with SELECT ... FOR UPDATE SKIP LOCKED, so
//     claimers never wait for each other and never receive the same job.
//   - Migrations run under a session advisory lock, so replicas starting at
//     once apply each migration once.
//
// Locks are always taken in one order (request rows by ID with their
// tokens, public keys and credentials, the chain head, job rows by key), so
// concurrent Applies queue rather than deadlock.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ jit.Store = (*Store)(nil)

// Defaults used by Config.
const (
	DefaultMaxConns        = 10
	DefaultConnectTimeout  = 10 * time.Second
	DefaultApplicationName = "jitd"
)

// migrationLockKey is the key of the session advisory lock held while
// migrating. Advisory locks are scoped to one database, so the key only has
// to be distinct from other advisory locks taken in jit's database.
const migrationLockKey int64 = 0x6a69745f6d696772 // "jit_migr"

// Config says which database to use and how to run the pool. The zero value
// of every field but DSN takes its default.
type Config struct {
	// DSN is a libpq connection string, as a URL
	// ("postgres://jit@db:5432/jit?sslmode=verify-full") or key=value
	// pairs. It may hold a password, so it never appears in errors or
	// logs.
	DSN string
	// Clock stamps rows the caller did not date (a job's or token's
	// CreatedAt, a migration's applied time). Default jit.SystemClock.
	Clock jit.Clock
	// MaxConns bounds the connection pool. Default 10.
	MaxConns int32
	// ConnectTimeout bounds establishing one connection, when the DSN sets
	// no connect_timeout. Default 10s.
	ConnectTimeout time.Duration
	// ApplicationName is reported to the server (pg_stat_activity), when
	// the DSN sets no application_name. Default "jitd".
	ApplicationName string
	// Logger receives warnings about lost listening connections. Default
	// discards them.
	Logger *slog.Logger
}

// withDefaults returns c with defaults filled in, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	if strings.TrimSpace(c.DSN) == "" {
		return c, errors.New("postgres: DSN is required")
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	switch {
	case c.MaxConns == 0:
		c.MaxConns = DefaultMaxConns
	case c.MaxConns < 0:
		return c, fmt.Errorf("postgres: MaxConns %d must not be negative", c.MaxConns)
	}
	switch {
	case c.ConnectTimeout == 0:
		c.ConnectTimeout = DefaultConnectTimeout
	case c.ConnectTimeout < 0:
		return c, fmt.Errorf("postgres: ConnectTimeout %v must not be negative", c.ConnectTimeout)
	}
	if c.ApplicationName == "" {
		c.ApplicationName = DefaultApplicationName
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Store is a jit.Store on one PostgreSQL database. It is safe for
// concurrent use, and any number of Stores (in one process or in several
// replicas) may share one database.
type Store struct {
	cfg  Config
	pool *pgxpool.Pool

	closeOnce sync.Once

	// Group commit (see writer.go): queued changes, and one slot per
	// batch that may run at once.
	qmu   sync.Mutex
	queue []*applyOp
	wsem  chan struct{}
	// stepwise counts batches that took the stepwise path after a
	// change failed in the pipelined one (tests read it).
	stepwise atomic.Int64
}

// Open connects to the database dsn names with default settings and brings
// its schema up to date. It is OpenConfig with only DSN set.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenConfig(ctx, Config{DSN: dsn})
}

// OpenConfig connects to the database cfg describes, checks that it
// answers, and applies any migrations it lacks. Opening an up-to-date
// database again changes nothing, and several processes may open one
// database at once (the migrations are applied once). Errors: an invalid
// cfg or DSN, an unreachable database, a database whose schema is newer than
// this build knows, or a failed migration. No error holds the DSN.
func OpenConfig(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// The parser's message quotes the connection string (with the
		// password masked only on a best-effort basis), so none of it
		// is passed on.
		return nil, errors.New("postgres: DSN is not a valid connection string (not shown: it may hold a password)")
	}
	pcfg.MaxConns = cfg.MaxConns
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = cfg.ApplicationName
	}
	// Stored times are compared and returned in UTC whatever the server's
	// default time zone.
	pcfg.ConnConfig.RuntimeParams["timezone"] = "UTC"

	s := &Store{cfg: cfg, wsem: make(chan struct{}, maxWriters)}
	if err := migrate(ctx, pcfg.ConnConfig, cfg.Clock); err != nil {
		return nil, err
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	if err := s.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping reports whether the database answers a query on the store's schema.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return mapReadErr("ping", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned. It
// is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// migration is one embedded schema change, named NNNN_description.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func embeddedMigrations() ([]migration, error) {
	loaded, err := migrations.Load(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	ms := make([]migration, len(loaded))
	for i, m := range loaded {
		ms[i] = migration{version: m.Version, name: m.Name, sql: m.SQL}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction together with its schema_migrations row, so that a failure
// leaves the database at the last complete version.
//
// It runs on a connection of its own holding a session advisory lock, so
// that replicas starting at once migrate one after the other: the first
// applies what is missing, the others then find nothing to do. The lock
// goes with the connection, which is closed at the end whatever happens, so
// a failure cannot leave it held.
func migrate(ctx context.Context, ccfg *pgx.ConnConfig, clock jit.Clock) error {
	ms, err := embeddedMigrations()
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("postgres: take the migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL
		)`); err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	known := ms[len(ms)-1].version
	for _, v := range versions {
		if int(v) > known {
			return fmt.Errorf("postgres: database schema version %d is newer than this build knows (%d)", v, known)
		}
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: sent over the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, clock.Now().UTC())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: apply migration %s: %w", m.name, err)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("postgres: release the migration lock: %w", err)
	}
	return nil
}

// SQLSTATE codes the store tells apart.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// mapWriteErr turns a lost or refused connection into ECodeUnavailable,
// the failures of a write that another writer caused (a duplicate key, a
// serialization failure or deadlock, which PostgreSQL resolves by aborting
// one side) into ECodeConflict, and wraps anything else with what was being
// done. *jit.Error values pass through.
func mapWriteErr(what string, err error) error {
	var je *jit.Error
	if err == nil || errors.As(err, &je) {
		return err
	}
	if Unreachable(err) {
		// Checked first: a connection lost at commit is not a conflict,
		// and the caller learns to retry later rather than at once.
		return unreachable(what, err)
	}
	switch pgCode(err) {
	case codeUniqueViolation:
		return jit.Errorf(jit.ECodeConflict, "%s: a concurrent change wrote the same key", what)
	case codeSerializationFailure, codeDeadlockDetected:
		return jit.Errorf(jit.ECodeConflict, "%s: conflicted with a concurrent change; retry", what)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// Times are stored at microseconds, the precision of timestamptz and of
// audit hashes; a zero time.Time is stored as NULL and read back as the
// zero time, so that "unset" survives a round trip.

// ts returns t for a timestamptz parameter, or nil (NULL) when t is zero.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// utc returns a scanned nullable time in UTC, the zero time for NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
