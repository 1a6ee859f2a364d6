package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Group commit.
//
// Most of a write transaction's cost is its commit: every B-tree page the
// transaction changed is appended to the WAL (two system calls per page),
// and concurrent operations change many of the same pages (the tail of the
// audit table and its indexes, the jobs_due index, the newest requests). So
// writers queue their operations, and whichever writer holds the write
// semaphore runs everything queued, up to maxBatch operations, in one
// transaction and one commit.
//
// Each operation keeps its own all-or-nothing outcome: in a batch of more
// than one it runs inside a SAVEPOINT, and an operation that fails is
// rolled back to it while the others go on. Every writer returns only after
// the transaction holding its operation has committed (or failed), so a
// successful write is exactly as durable as before. Operations run in queue
// order, one after another inside the transaction, so the result is that of
// running them one at a time in that order.

// maxBatch bounds how many operations share a transaction, which bounds
// how long the semaphore is held at a time.
const maxBatch = 64

// A writeOp is one caller's write. fn performs it in tx; it may append to
// the audit chain after *head and then leaves the new head there. ctx is
// the batch's context, never cancelled: a statement interrupted inside a
// transaction can make SQLite roll back the whole transaction, which would
// fail the other callers' operations. committed, if set, runs after the
// commit, before the caller is told, to publish fn's results.
type writeOp struct {
	fn        func(ctx context.Context, tx *sql.Tx, head *chainHead) error
	committed func()
	done      chan error // buffered (1); receives the outcome
}

// Savepoint statements (prepared with the write statements).
const (
	savepointQuery  = `SAVEPOINT op`
	releaseQuery    = `RELEASE op`
	rollbackToQuery = `ROLLBACK TO op`
)

// write runs fn as one atomic write, batched with other writers' (see
// above), and returns its outcome. Errors: fn's error (nothing of fn was
// written), the wrapped ctx error when ctx ends before a transaction took
// the operation, or the transaction's error (nothing was written).
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, head *chainHead) error, committed func()) error {
	op := &writeOp{fn: fn, committed: committed, done: make(chan error, 1)}
	s.qmu.Lock()
	s.queue = append(s.queue, op)
	s.qmu.Unlock()
	for {
		// Prefer a result that is in over taking the semaphore again.
		select {
		case err := <-op.done:
			return err
		default:
		}
		select {
		case err := <-op.done:
			return err
		case <-ctx.Done():
			if s.dequeue(op) {
				return fmt.Errorf("sqlite: wait for write lock: %w", ctx.Err())
			}
			// A transaction has taken op; its outcome is op's, and it is
			// short.
			return <-op.done
		case s.wsem <- struct{}{}:
			// Run what is queued (op, unless an earlier batch took it, or
			// it lies beyond this batch and the loop runs again).
			s.runQueued()
			s.unlockWrite()
		}
	}
}

// dequeue removes op from the queue, reporting whether it was still there.
func (s *Store) dequeue(op *writeOp) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for i, q := range s.queue {
		if q == op {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// runQueued runs up to maxBatch queued operations in one transaction and
// delivers their outcomes. The caller holds the write semaphore.
func (s *Store) runQueued() {
	s.qmu.Lock()
	n := min(len(s.queue), maxBatch)
	batch := make([]*writeOp, n)
	copy(batch, s.queue)
	s.queue = append(s.queue[:0], s.queue[n:]...)
	s.qmu.Unlock()
	if n == 0 {
		return
	}
	errs := s.runBatch(batch)
	for i, op := range batch {
		op.done <- errs[i]
	}
}

// runBatch runs batch in one transaction and returns each operation's
// outcome. The caller holds the write semaphore.
func (s *Store) runBatch(batch []*writeOp) []error {
	ctx := context.Background()
	errs := make([]error, len(batch))
	head := s.head
	if len(batch) == 1 {
		// Alone, the transaction is the operation: no savepoint needed.
		err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
			return batch[0].fn(ctx, tx, &head)
		})
		if err == nil {
			s.commitBatch(batch, errs, head)
		}
		errs[0] = err
		return errs
	}
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		for i, op := range batch {
			if _, err := s.ws.txExec(ctx, tx, savepointQuery); err != nil {
				return fmt.Errorf("sqlite: savepoint: %w", err)
			}
			h := head
			if errs[i] = op.fn(ctx, tx, &h); errs[i] != nil {
				// Undo op alone. If SQLite already rolled back the whole
				// transaction (it does on some I/O errors), the savepoint
				// is gone and this fails, which ends the batch: nothing
				// runs outside the transaction.
				if _, err := s.ws.txExec(ctx, tx, rollbackToQuery); err != nil {
					return fmt.Errorf("sqlite: roll back to savepoint: %w", err)
				}
			} else {
				head = h
			}
			if _, err := s.ws.txExec(ctx, tx, releaseQuery); err != nil {
				return fmt.Errorf("sqlite: release savepoint: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		// Nothing was written. Every operation gets the transaction's
		// error, also one that had failed on its own: that failure was
		// judged against writes that are now undone.
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	s.commitBatch(batch, errs, head)
	return errs
}

// commitBatch publishes a committed batch: the new chain head and the
// results of the operations that succeeded.
func (s *Store) commitBatch(batch []*writeOp, errs []error, head chainHead) {
	s.head = head
	for i, op := range batch {
		if errs[i] == nil && op.committed != nil {
			op.committed()
		}
	}
}
