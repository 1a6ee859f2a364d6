package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jit"
)

// The pipelined path.
//
// The stepwise path (runStepwise) needs two round trips per change — its
// savepoint and its rows — before the chain head is locked, and more after.
// On two cores shared by PostgreSQL and jitd every round trip is a pair of
// context switches, and they, not the statements, dominate a batch. So a
// batch is first tried in two round trips: one pipeline with BEGIN, every
// change's rows (in lock order) and the head lock; then, with the events
// sealed in Go after the head, one pipeline with the events, the head's
// move, the jobs, the notices and COMMIT. The head is held for that last
// round trip and the commit's flush only.
//
// A change that fails on its own (a stale version, a missing request, a
// taken token) cannot be undone alone in a pipeline, so when any does, the
// transaction is rolled back before anything was sealed and the batch is
// run again stepwise, which gives each change its own outcome. Failures are
// rare (optimistic-concurrency conflicts), so the common batch costs two
// round trips however many changes it holds.

// pipelinable reports whether batch can take the pipelined path: test
// hooks (applyOp.extra) need a transaction to run in between.
func pipelinable(batch []*applyOp) bool {
	for _, op := range batch {
		if op.extra != nil {
			return false
		}
	}
	return true
}

// errStepwise marks a pipeline in which a change failed on its own.
var errStepwise = errors.New("a change failed on its own")

// runPipelined tries batch in two round trips, as described above. It
// returns false, with nothing written, when a change failed on its own
// and the batch must be run stepwise; otherwise it has set errs (all nil on
// commit, or all the transaction's error).
func (s *Store) runPipelined(ctx context.Context, batch []*applyOp, order []int, errs []error) bool {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		failAll(errs, mapWriteErr("apply change: connect", err))
		return true
	}
	// The pool discards a connection left inside a transaction (after a
	// failure below that the rollback could not end), so a broken
	// session is never reused.
	defer conn.Release()
	rollback := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Exec(rctx, "ROLLBACK")
	}

	ops := make([]*applyOp, len(order))
	for k, i := range order {
		ops[k] = batch[i]
	}
	events := 0
	for _, op := range ops {
		events += len(op.c.Events)
	}

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	now := s.cfg.Clock.Now()
	for _, op := range ops {
		if err := queueRows(b, op.c, now); err != nil {
			// The change cannot be written (nothing has been sent): the
			// stepwise path gives it its own error.
			return false
		}
	}
	if events > 0 {
		b.Queue(lockHeadQuery)
	}
	var prevSeq int64
	var prevHash string
	err = readRows(conn.SendBatch(ctx, b), ops, events > 0, &prevSeq, &prevHash)
	switch {
	case errors.Is(err, errStepwise):
		rollback()
		return false
	case err != nil:
		rollback()
		failAll(errs, mapWriteErr("apply change: write requests", err))
		return true
	}

	b = &pgx.Batch{}
	if err := sealAndQueue(b, ops, &prevSeq, &prevHash); err != nil {
		rollback()
		failAll(errs, err)
		return true
	}
	if events > 0 {
		b.Queue(moveHeadQuery, prevSeq, prevHash)
	}
	s.queueJobs(b, ops)
	for _, op := range ops {
		if err := queueNotice(b, op.c, op.version); err != nil {
			rollback()
			failAll(errs, err)
			return true
		}
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		// Nothing was written, unless the connection was lost while
		// committing (mapWriteErr says unavailable then, and a read
		// after reconnecting tells).
		rollback()
		failAll(errs, mapWriteErr("apply change: commit", err))
		return true
	}
	return true
}

// queueRows queues c's request, approval, token, public key and
// credential writes; a token without a creation time is created now. It
// fails, having queued a part of them, only when the request cannot be
// encoded.
func queueRows(b *pgx.Batch, c *jit.Change, now time.Time) error {
	if c.Request != nil {
		query, args, err := requestWrite(c.Request)
		if err != nil {
			return err
		}
		b.Queue(query, args...)
	}
	if a := c.Approval; a != nil {
		b.Queue(insertApprovalQuery, a.RequestID, a.Approver, a.Approved, a.Comment, ts(a.At))
	}
	if t := c.Token; t != nil {
		created := t.CreatedAt
		if created.IsZero() {
			created = now
		}
		b.Queue(insertTokenQuery, t.ID, t.Email, t.Name, t.Hash, ts(created))
	}
	if k := c.PublicKey; k != nil {
		b.Queue(upsertPublicKeyQuery, k.Email, k.Key, ts(k.CreatedAt))
	}
	if e := c.Credential; e != nil {
		b.Queue(upsertCredentialQuery, e.RequestID, e.Recipient, e.Kind, e.Envelope, ts(e.CreatedAt))
	}
	return nil
}

// readRows reads the results of the first pipeline: BEGIN, each op's rows
// (recording its new version), and the head when lockHead. It returns
// errStepwise when a change failed on its own (a row not written, or a
// statement refused by PostgreSQL), and other errors (the connection's)
// as they are.
func readRows(br pgx.BatchResults, ops []*applyOp, lockHead bool, seq *int64, hash *string) (err error) {
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	own := func(err error) error {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && !Unreachable(err) {
			switch pgCode(err) {
			case codeSerializationFailure, codeDeadlockDetected:
				// Not the change's own failure: the batch's.
				return err
			}
			return errStepwise
		}
		return err
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	for _, op := range ops {
		c := op.c
		if c.Request != nil {
			ct, err := br.Exec()
			if err != nil {
				return own(err)
			}
			if ct.RowsAffected() != 1 {
				return errStepwise
			}
			op.version = c.Request.Version + 1
		}
		if c.Approval != nil {
			if _, err := br.Exec(); err != nil {
				return own(err)
			}
		}
		if c.Token != nil {
			ct, err := br.Exec()
			if err != nil {
				return own(err)
			}
			if ct.RowsAffected() != 1 {
				return errStepwise
			}
		}
		// An upsert writes its one row unless refused (a credential of
		// a request that does not exist breaks its foreign key).
		if c.PublicKey != nil {
			if _, err := br.Exec(); err != nil {
				return own(err)
			}
		}
		if c.Credential != nil {
			if _, err := br.Exec(); err != nil {
				return own(err)
			}
		}
	}
	if lockHead {
		if err := br.QueryRow().Scan(seq, hash); err != nil {
			return err
		}
	}
	return nil
}
