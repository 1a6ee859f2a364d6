package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// stmtCache keeps one prepared statement per distinct query text on one
// pool. Parsing and planning SQL costs more than running most of this
// store's statements, so each query is prepared once and reused: on the
// write pool (one connection) it is prepared once for good; on the read pool
// database/sql prepares it once per connection, on first use there.
//
// Preparing a statement through the pool borrows a connection, so get must
// never run while the caller holds one of the pool's connections (inside a
// transaction): with every connection held that waits forever. The tx
// methods therefore only look statements up. The write statements are
// prepared when the store opens; a read transaction gets its statements
// before it begins.
//
// Callers pass only queries from a bounded set (constants, or text built
// from a fixed number of optional clauses), so the cache needs no eviction.
type stmtCache struct {
	db *sql.DB

	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
	closed bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

var errStmtCacheClosed = errors.New("sqlite: store is closed")

// lookup returns the statement prepared for query, if any.
func (c *stmtCache) lookup(query string) (*sql.Stmt, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st, ok := c.stmts[query]
	return st, ok
}

// get returns the prepared statement for query, preparing it on first use.
// It may borrow a connection: see stmtCache.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.lookup(query); ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if c.closed {
		return nil, errStmtCacheClosed
	}
	// Preparing under the lock keeps two first uses from preparing the same
	// query twice; it happens once per query for the life of the store.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	c.stmts[query] = st
	return st, nil
}

// prepare prepares each of queries (outside any transaction).
func (c *stmtCache) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := c.get(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// close closes every statement. Later gets fail. It must run before the
// pool closes: SQLite cannot free a connection that still has statements.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(errs...)
}

// The tx methods run query in tx with its prepared statement, or, when
// query was not prepared beforehand, unprepared (correct, only slower: they
// cannot prepare it here without risking the wait described at stmtCache).

// txExec runs query in tx.
func (c *stmtCache) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := c.lookup(query); ok {
		// The transaction's handle is closed with tx; the statement
		// stays prepared on the connection.
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQuery runs query in tx.
func (c *stmtCache) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st, ok := c.lookup(query); ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// txQueryRow runs the single-row query in tx.
func (c *stmtCache) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := c.lookup(query); ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// query runs a cached query outside any explicit transaction (one
// statement reads one snapshot).
func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row. A preparation error is returned by Scan.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st, err := c.get(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
