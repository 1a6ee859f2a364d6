// Package sqlite is the embedded jit.Store: one SQLite file in WAL mode,
// opened with the pure Go driver modernc.org/sqlite.
//
// SQLite allows one writer at a time. The store keeps two connection pools:
// a single write connection whose transactions begin IMMEDIATE (they take
// the write lock up front, so a transaction never fails halfway by trying to
// upgrade a read lock), guarded by an in-process semaphore so that writers in
// this process queue instead of spinning on SQLITE_BUSY; and a pool of
// read-only connections that read concurrently from WAL snapshots.
//
// Three things keep the single writer fast (see their files): writes queued
// together commit in one transaction, each in its own savepoint (writer.go);
// the WAL is checkpointed beside the writer rather than inside a commit
// (checkpoint.go); and every statement is prepared once (stmts.go).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/internal/migrations"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ jit.Store = (*Store)(nil)

// Config says where the database lives and how to run it. The zero value of
// every field but Path takes its default.
type Config struct {
	// Path is the database file. Its parent directory is created (0700) and
	// the file is created readable by its owner only (0600) when missing.
	Path string
	// Clock stamps rows the caller did not date (a job's or token's
	// CreatedAt, a migration's applied time). Default jit.SystemClock.
	Clock jit.Clock
	// BusyTimeout is how long a connection waits for another process's lock
	// before failing with SQLITE_BUSY. Default 5s.
	BusyTimeout time.Duration
	// MaxReadConns bounds the pool of read connections. Default 4.
	MaxReadConns int
	// CheckpointPages is how many pages this store's commits append to the
	// WAL before a background checkpoint copies the WAL into the database
	// file (see checkpointer). Default 1000, SQLite's own threshold.
	CheckpointPages int
}

// Defaults used by Config.
const (
	DefaultBusyTimeout     = 5 * time.Second
	DefaultMaxReadConns    = 4
	DefaultCheckpointPages = 1000
)

// withDefaults returns c with defaults filled in, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		return c, errors.New("sqlite: Path is required")
	}
	if c.Path == ":memory:" || strings.HasPrefix(c.Path, "file:") {
		// The store opens two pools on the same database, which an
		// in-memory database cannot share, and URI names would let query
		// parameters in the path override the pragmas set here.
		return c, fmt.Errorf("sqlite: Path %q must be a plain file path", c.Path)
	}
	if strings.ContainsRune(c.Path, '?') {
		// The driver splits the DSN at the first '?'.
		return c, fmt.Errorf("sqlite: Path %q must not contain '?'", c.Path)
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	switch {
	case c.BusyTimeout == 0:
		c.BusyTimeout = DefaultBusyTimeout
	case c.BusyTimeout < time.Millisecond:
		return c, fmt.Errorf("sqlite: BusyTimeout %v must be at least 1ms", c.BusyTimeout)
	}
	switch {
	case c.MaxReadConns == 0:
		c.MaxReadConns = DefaultMaxReadConns
	case c.MaxReadConns < 0:
		return c, fmt.Errorf("sqlite: MaxReadConns %d must not be negative", c.MaxReadConns)
	}
	switch {
	case c.CheckpointPages == 0:
		c.CheckpointPages = DefaultCheckpointPages
	case c.CheckpointPages < 0:
		return c, fmt.Errorf("sqlite: CheckpointPages %d must not be negative", c.CheckpointPages)
	}
	return c, nil
}

// chainHead is the last event of the audit chain.
type chainHead struct {
	seq  int64
	hash string
}

// Store is a jit.Store on one SQLite file. It is safe for concurrent use,
// and several Stores (in one process or several) may share one file: the
// write lock serialises them and the audit chain stays contiguous.
type Store struct {
	cfg Config
	w   *sql.DB // one connection; transactions BEGIN IMMEDIATE
	r   *sql.DB // read-only connections
	// ws and rs hold the prepared statements of w and r.
	ws, rs *stmtCache
	// ckpt checkpoints the WAL off the write path (nil until the store is
	// open).
	ckpt *checkpointer

	// wsem serialises write transactions in this process (a channel rather
	// than a mutex so that waiting honours the context). It also guards head.
	wsem chan struct{}
	// queue holds the writes waiting for a transaction (see write).
	qmu   sync.Mutex
	queue []*writeOp
	// head caches the chain's last seq and hash so that appending an event
	// needs no read. Another process appending to the same file makes it
	// stale; the insert then hits the seq primary key and the head is
	// reloaded inside the (locked) transaction.
	head chainHead

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database at path with default
// settings and brings its schema up to date. It is OpenConfig with only
// Path set.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenConfig(ctx, Config{Path: path})
}

// OpenConfig opens (creating if needed) the database cfg describes and
// applies any migrations it lacks. Opening an up-to-date database again
// changes nothing. Errors: an invalid cfg, a database whose schema is newer
// than this build knows, or any I/O failure.
func OpenConfig(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: resolve %s: %w", cfg.Path, err)
	}
	cfg.Path = path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	// Create the file ourselves so that it is private: the database holds
	// token hashes and the audit log. SQLite gives the -wal and -shm files
	// the permissions of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}

	s := &Store{cfg: cfg, wsem: make(chan struct{}, 1)}
	s.w, err = sql.Open("sqlite", dsn(cfg, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	s.ws = newStmtCache(s.w)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	// The read pool opens after the migrations so that its first connection
	// finds the file already in WAL mode.
	s.r, err = sql.Open("sqlite", dsn(cfg, false))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(cfg.MaxReadConns)
	// Idle read connections stay open (no lifetime limit either), so that
	// the statements prepared on them stay prepared.
	s.r.SetMaxIdleConns(cfg.MaxReadConns)
	s.rs = newStmtCache(s.r)
	if s.head, err = loadHead(ctx, s.w); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ws.prepare(ctx, writeQueries...); err != nil {
		s.Close()
		return nil, err
	}
	// The checkpointer's connection is a read connection: a checkpoint
	// needs no write access to rows, and it cannot then change any. Its
	// lock waits are bounded by restartWait (see checkpointer).
	ccfg := cfg
	ccfg.BusyTimeout = restartWait
	cdb, err := sql.Open("sqlite", dsn(ccfg, false))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	cdb.SetMaxOpenConns(1)
	s.ckpt = startCheckpointer(cdb, s.wsem, cfg.CheckpointPages)
	return s, nil
}

// writeQueries are the statements of write transactions. They are
// prepared when the store opens, because the write pool's one connection is
// busy inside a transaction (see stmtCache).
var writeQueries = []string{
	insertRequestQuery, updateRequestQuery, insertApprovalQuery, insertEventQuery,
	deleteJobQuery, upsertJobQuery, insertTokenQuery, upsertPublicKeyQuery, upsertCredentialQuery,
	claimSelectQuery, leaseQuery, retryQuery, renewQuery, leaseOwnerQuery,
	savepointQuery, releaseQuery, rollbackToQuery,
	insertRecordQuery, updateRecordQuery, recordExistsQuery, deleteRecordsQuery,
}

// dsn returns the driver DSN. The pragmas are DSN parameters so that every
// connection a pool opens gets them, not only the first.
func dsn(cfg Config, write bool) string {
	q := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10) + ")",
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		// NORMAL is durable in WAL mode except for the last transactions
		// before a power loss, and avoids an fsync per commit.
		"_pragma=synchronous(NORMAL)",
	}
	if write {
		// Commits do not checkpoint; the checkpointer does, off the
		// write path.
		q = append(q, "_txlock=immediate", "_pragma=wal_autocheckpoint(0)")
	} else {
		q = append(q, "_query_only=1")
	}
	return cfg.Path + "?" + strings.Join(q, "&")
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.rs.queryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.ckpt != nil {
			errs = append(errs, s.ckpt.close())
		}
		// Statements first: a connection closes only once its statements
		// are finalized.
		if s.rs != nil {
			errs = append(errs, s.rs.close(), s.r.Close())
		}
		errs = append(errs, s.ws.close(), s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// lockWrite takes the in-process write semaphore, or fails when ctx ends
// first.
func (s *Store) lockWrite(ctx context.Context) error {
	select {
	case s.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sqlite: wait for write lock: %w", ctx.Err())
	}
}

func (s *Store) unlockWrite() { <-s.wsem }

// inWriteTx runs fn in an IMMEDIATE transaction on the write connection and
// commits it when fn succeeds. The caller holds the write semaphore.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	if s.ckpt != nil {
		s.ckpt.committed(ctx, s.w)
	}
	return nil
}

// writeAlone is inWriteTx under the write semaphore, outside the batches of
// write (for migrations).
func (s *Store) writeAlone(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.lockWrite(ctx); err != nil {
		return err
	}
	defer s.unlockWrite()
	return s.inWriteTx(ctx, fn)
}

// inReadTx runs fn in a read transaction, so that its queries see one
// snapshot (a request and its approvals as of the same commit).
func (s *Store) inReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

func loadHead(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (chainHead, error) {
	var h chainHead
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&h.seq, &h.hash)
	if errors.Is(err, sql.ErrNoRows) {
		return chainHead{}, nil
	} else if err != nil {
		return chainHead{}, fmt.Errorf("sqlite: read audit chain head: %w", err)
	}
	return h, nil
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
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	ms := make([]migration, len(loaded))
	for i, m := range loaded {
		ms[i] = migration{version: m.Version, name: m.Name, sql: m.SQL}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction together with its schema_migrations row, so that a failure
// leaves the database at the last complete version. Each transaction
// re-checks under the write lock whether its migration is applied, so two
// processes opening one new file apply it once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := embeddedMigrations()
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errors.New("sqlite: no embedded migrations")
	}
	if err := s.writeAlone(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`)
		return err
	}); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	var newest sql.NullInt64
	if err := s.w.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if known := ms[len(ms)-1].version; newest.Valid && newest.Int64 > int64(known) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this build knows (%d)", newest.Int64, known)
	}
	for _, m := range ms {
		err := s.writeAlone(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, s.cfg.Clock.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

// sqliteCode returns the extended SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isPrimaryKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
