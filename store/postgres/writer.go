package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
)

// Group commit.
//
// Every change that appends audit events locks the one audit_head row and
// holds it until its commit, WAL flush included, so the whole cluster
// commits such changes one at a time. So a replica's concurrent Applies
// queue, and whichever of them holds the writer slot runs everything queued,
// up to maxBatch changes, in one transaction: the head is locked once, all
// the batch's events are sealed after it in sequence, and the batch commits
// and flushes once.
//
// Each change keeps its own all-or-nothing outcome: in a batch of more than
// one, its request, approval, token, public key and credential are written
// inside a SAVEPOINT, and a change that fails (a stale version, a missing
// request, a taken token) is rolled back to it while the others go on. Its events, jobs and change
// notice are only written once every change's rows have been, for the
// changes that succeeded. Every caller returns only after the commit that
// holds its change (or the transaction's failure, which fails every change
// of the batch), so a successful Apply is exactly as durable as before, and
// NOTIFY, delivered at commit, tells of committed changes only.
//
// A batch is first tried in two pipelined round trips (pipeline.go); only
// when a change in it fails on its own is it rerun stepwise, savepoint by
// savepoint (runStepwise).
//
// Lock order. A batch locks the request rows (with the token keys, public
// key rows and credential rows) of its changes in request ID order, then
// the chain head, then job rows in key order. Every batch, in every
// replica, takes them in that order, and the other writers (ClaimJobs,
// RetryJob, RenewLease) lock job rows only, in a single statement that
// never waits while holding a lock another waits for, so concurrent
// batches queue rather than deadlock.

// maxBatch bounds how many changes share a transaction, which bounds how
// long a batch holds its locks. It stays below 64, the number of
// subtransactions a PostgreSQL backend tracks without overflowing to
// pg_subtrans.
const maxBatch = 48

// maxWriters is how many batches of one Store run at once. One: batches
// of one Store would only contend for the chain head (and more of them,
// from several replicas, make the queue on that row longer and the
// batches smaller); meanwhile the next batch gathers in the queue.
const maxWriters = 1

// An applyOp is one caller's change, queued for a batch.
type applyOp struct {
	c *jit.Change
	// extra, if set, runs after the change's rows inside its savepoint
	// (tests use it to make a batch's commit fail).
	extra func(ctx context.Context, tx pgx.Tx) error

	// Set by the batch before done is sent.
	events  []jit.AuditEvent // c.Events, sealed
	version int              // c.Request's stored version
	done    chan error       // buffered (1); receives the outcome
}

// Savepoint statements. Sent without arguments, so in one round trip each.
const (
	savepointQuery = `SAVEPOINT op`
	releaseQuery   = `RELEASE op`
	undoQuery      = `ROLLBACK TO op`
)

// write queues op, runs batches until op's has committed or failed, and
// returns op's outcome; on success it writes the stored version and sealed
// events back into op.c. Errors: op's own (nothing of it was written), the
// wrapped ctx error when ctx ends before a batch took op, or the batch
// transaction's (nothing of the batch was written).
func (s *Store) write(ctx context.Context, op *applyOp) error {
	op.done = make(chan error, 1)
	s.qmu.Lock()
	s.queue = append(s.queue, op)
	s.qmu.Unlock()
	err := s.await(ctx, op)
	if err != nil {
		return err
	}
	// Committed: report what was stored.
	copy(op.c.Events, op.events)
	if op.c.Request != nil {
		op.c.Request.Version = op.version
	}
	return nil
}

func (s *Store) await(ctx context.Context, op *applyOp) error {
	for {
		// Prefer a result that is in over taking a slot again.
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
				return mapWriteErr("apply change: wait for the writer", ctx.Err())
			}
			// A batch has taken op; its outcome is op's, and it comes
			// once the batch's transaction ends.
			return <-op.done
		case s.wsem <- struct{}{}:
			// Run what is queued (op, unless another batch took it, or
			// it lies beyond this batch and the loop runs again).
			s.runQueued()
			<-s.wsem
		}
	}
}

// dequeue removes op from the queue, reporting whether it was still there.
func (s *Store) dequeue(op *applyOp) bool {
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

// runQueued runs up to maxBatch queued changes in one transaction and
// delivers their outcomes. The caller holds a writer slot.
func (s *Store) runQueued() {
	s.qmu.Lock()
	n := min(len(s.queue), maxBatch)
	batch := make([]*applyOp, n)
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

// lockKey orders a batch's changes so that it locks request rows (and the
// credential rows keyed by the same IDs), token keys and public key rows
// in one global order.
func lockKey(c *jit.Change) [3]string {
	var k [3]string
	switch {
	case c.Request != nil:
		k[0] = c.Request.ID
	case c.Approval != nil:
		k[0] = c.Approval.RequestID
	case c.Credential != nil:
		k[0] = c.Credential.RequestID
	}
	if c.Token != nil {
		k[1] = c.Token.ID
	}
	if c.PublicKey != nil {
		k[2] = c.PublicKey.Email
	}
	return k
}

// batchTimeout bounds a batch's transaction, so that a database that stops
// answering fails the batch's callers (ECodeUnavailable) rather than
// holding them, whatever their own deadlines, until the connection breaks.
const batchTimeout = 30 * time.Second

// runBatch applies batch in one transaction and returns each change's
// outcome, in batch order. The batch's context is none of its callers': one
// caller going away would abort the statement running, hence the whole
// transaction, and fail the other callers' changes.
func (s *Store) runBatch(batch []*applyOp) []error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	errs := make([]error, len(batch))
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ka, kb := lockKey(batch[order[a]].c), lockKey(batch[order[b]].c)
		return slices.Compare(ka[:], kb[:]) < 0
	})
	if pipelinable(batch) {
		if done := s.runPipelined(ctx, batch, order, errs); done {
			return errs
		}
		// A change failed on its own: the stepwise path finds which,
		// and with what error, and writes the others.
		clear(errs)
		s.stepwise.Add(1)
	}
	return s.runStepwise(ctx, batch, order, errs)
}

// failAll sets every outcome to err and returns errs.
func failAll(errs []error, err error) []error {
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// runStepwise applies batch one change at a time inside one transaction,
// each change in its own savepoint, so that a change that fails is undone
// alone and gets its own error. order is the lock order.
func (s *Store) runStepwise(ctx context.Context, batch []*applyOp, order []int, errs []error) []error {
	failAll := func(err error) []error { return failAll(errs, err) }
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return failAll(mapWriteErr("apply change: begin", err))
	}
	// The rollback's error adds nothing: the batch has failed either way,
	// and a broken connection is discarded by the pool.
	rollback := func() { tx.Rollback(context.WithoutCancel(ctx)) }

	single := len(batch) == 1
	var ok []*applyOp   // the changes written so far, in lock order
	var settle []string // end the last change's savepoint
	for _, i := range order {
		op := batch[i]
		if !single {
			if _, err := tx.Exec(ctx, strings.Join(append(settle, savepointQuery), "; ")); err != nil {
				rollback()
				return failAll(mapWriteErr("apply change: savepoint", err))
			}
		}
		errs[i] = s.writeRows(ctx, tx, op)
		switch {
		case errs[i] == nil:
			ok = append(ok, op)
			if !single {
				settle = []string{releaseQuery}
			}
		case single:
			// Alone, the transaction is the change.
			rollback()
			return errs
		default:
			// Undone alone at the start of the next round trip.
			settle = []string{undoQuery, releaseQuery}
		}
	}

	b := &pgx.Batch{}
	switch {
	case len(settle) == 1:
		b.Queue(releaseQuery)
	case len(settle) > 1:
		// The transaction may be in the aborted state, in which a batch
		// cannot even prepare its statements: undo first, on its own.
		if _, err := tx.Exec(ctx, strings.Join(settle, "; ")); err != nil {
			rollback()
			return failAll(mapWriteErr("apply change: roll back to savepoint", err))
		}
	}
	if err := s.sealEvents(ctx, tx, b, ok); err != nil {
		rollback()
		return failAll(err)
	}
	s.queueJobs(b, ok)
	for _, op := range ok {
		if err := queueNotice(b, op.c, op.version); err != nil {
			rollback()
			return failAll(err)
		}
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			rollback()
			return failAll(mapWriteErr("apply change: write audit events and jobs", err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// Nothing was written. Every change gets the transaction's
		// error, also one that had failed on its own: that failure was
		// judged against writes that are now undone.
		rollback()
		return failAll(mapWriteErr("apply change: commit", err))
	}
	return errs
}

// sealEvents locks the chain head, sealing the events of ops after it in
// order into op.events, and queues their inserts and the head's move on b.
// Statements already on b (ending the last savepoint) go in the same round
// trip as the lock. Locking the head after every change's rows keeps it
// held for as short a time as possible: the final round trip and the
// commit.
func (s *Store) sealEvents(ctx context.Context, tx pgx.Tx, b *pgx.Batch, ops []*applyOp) error {
	n := 0
	for _, op := range ops {
		n += len(op.c.Events)
	}
	if n == 0 {
		return nil
	}
	var (
		prevSeq  int64
		prevHash string
	)
	b.Queue(lockHeadQuery).QueryRow(func(row pgx.Row) error { return row.Scan(&prevSeq, &prevHash) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return mapWriteErr("apply change: lock the audit chain head", err)
	}
	*b = pgx.Batch{}
	if err := sealAndQueue(b, ops, &prevSeq, &prevHash); err != nil {
		return err
	}
	b.Queue(moveHeadQuery, prevSeq, prevHash)
	return nil
}

// sealAndQueue seals the events of ops after the head (*seq, *hash) in
// order into op.events, moves the head to the last one, and queues their
// insert on b.
func sealAndQueue(b *pgx.Batch, ops []*applyOp, seq *int64, hash *string) error {
	var all []*jit.AuditEvent
	for _, op := range ops {
		op.events = make([]jit.AuditEvent, len(op.c.Events))
		copy(op.events, op.c.Events)
		for i := range op.events {
			op.events[i].Seal(*seq, *hash)
			*seq, *hash = op.events[i].Seq, op.events[i].Hash
			all = append(all, &op.events[i])
		}
	}
	return queueEvents(b, all)
}

// writeRows writes op's request, approval, token, public key and
// credential (and runs op.extra), recording the request's stored version
// in op.version. The caller undoes them on error.
func (s *Store) writeRows(ctx context.Context, tx pgx.Tx, op *applyOp) error {
	c := op.c
	if c.Request != nil {
		v, err := s.putRequest(ctx, tx, c.Request)
		if err != nil {
			return err
		}
		op.version = v
	}
	if a := c.Approval; a != nil {
		_, err := tx.Exec(ctx, insertApprovalQuery, a.RequestID, a.Approver, a.Approved, a.Comment, ts(a.At))
		if pgCode(err) == codeForeignKeyViolation {
			return jit.Errorf(jit.ECodeNotFound, "request %s not found", a.RequestID)
		} else if err != nil {
			return mapWriteErr("insert approval of "+a.RequestID, err)
		}
	}
	if t := c.Token; t != nil {
		created := t.CreatedAt
		if created.IsZero() {
			created = s.cfg.Clock.Now()
		}
		ct, err := tx.Exec(ctx, insertTokenQuery, t.ID, t.Email, t.Name, t.Hash, ts(created))
		if err != nil {
			return mapWriteErr("insert token "+t.ID, err)
		}
		if ct.RowsAffected() == 0 {
			return jit.Errorf(jit.ECodeConflict, "token %s or its hash already exists", t.ID)
		}
	}
	if k := c.PublicKey; k != nil {
		if _, err := tx.Exec(ctx, upsertPublicKeyQuery, k.Email, k.Key, ts(k.CreatedAt)); err != nil {
			return mapWriteErr("store public key of "+k.Email, err)
		}
	}
	if e := c.Credential; e != nil {
		_, err := tx.Exec(ctx, upsertCredentialQuery, e.RequestID, e.Recipient, e.Kind, e.Envelope, ts(e.CreatedAt))
		if pgCode(err) == codeForeignKeyViolation {
			return jit.Errorf(jit.ECodeNotFound, "request %s not found", e.RequestID)
		} else if err != nil {
			return mapWriteErr("store credential of "+e.RequestID, err)
		}
	}
	if op.extra != nil {
		return op.extra(ctx, tx)
	}
	return nil
}

// queueNotice queues the change notice of c, if it has one. NOTIFY is
// delivered at commit, and not at all on rollback. version is c.Request's
// stored version.
func queueNotice(b *pgx.Batch, c *jit.Change, version int) error {
	if c.Request == nil && len(c.Enqueue) == 0 {
		return nil
	}
	n := jit.ChangeNotice{Jobs: len(c.Enqueue) > 0}
	if c.Request != nil {
		n.RequestID = c.Request.ID
		n.Request, n.Version = c.Request, version
	}
	payload, err := json.Marshal(n)
	if err == nil && len(payload) > maxNoticeRequest {
		// Too long to carry the request (a long reason or query):
		// listeners read it from the store instead.
		n.Request, n.Version = nil, 0
		payload, err = json.Marshal(n)
	}
	if err != nil {
		return fmt.Errorf("postgres: encode change notice: %w", err)
	}
	b.Queue(notifyQuery, changesChannel, string(payload))
	return nil
}

// maxNoticeRequest bounds a notice that carries its request, below
// PostgreSQL's 8,000-byte limit on a NOTIFY payload.
const maxNoticeRequest = 7000
