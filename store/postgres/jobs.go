package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
)

// Limits of ClaimJobs and ListJobs.
const (
	MaxClaimLimit   = jit.MaxClaimLimit
	DefaultJobLimit = 100
	MaxJobLimit     = 1000
	// maxLastError bounds the stored error text of a failed attempt.
	maxLastError = 4096
)

const jobCols = `id, key, kind, request_id, run_at, attempt, last_error, lease_owner, lease_until, created_at, payload`

// claimQuery leases due jobs in one statement. The CTE picks the jobs
// claimable at $1 from the jobs_due index (a range scan over due_at <= $1
// that touches only claimable rows) and locks them; SKIP LOCKED passes over
// rows another claimer has locked, so claimers never wait for each other
// and never get the same job. A row whose lease another claimer committed
// after this statement began is re-checked once locked and dropped, as its
// due_at has moved past $1. The UPDATE returns rows in no set order, so the
// order of the pick comes back with them.
const claimQuery = `WITH due AS (
		SELECT id, due_at FROM jobs WHERE due_at <= $1
		ORDER BY due_at, run_at, id LIMIT $2
		FOR UPDATE SKIP LOCKED
	)
	UPDATE jobs AS j SET lease_owner = $3, lease_until = $4
	FROM due WHERE j.id = due.id
	RETURNING j.id, j.key, j.kind, j.request_id, j.run_at, j.attempt, j.last_error,
		j.lease_owner, j.lease_until, j.created_at, j.payload, due.due_at`

// retryQuery and renewQuery change the job only while owner holds it, and
// say in the same statement (one snapshot) whether the job exists, so that
// a miss is told apart without a second round trip.
const (
	retryQuery = `WITH upd AS (
			UPDATE jobs SET run_at = $1, attempt = attempt + 1, last_error = $2,
				lease_owner = '', lease_until = NULL
			WHERE id = $3 AND lease_owner = $4 RETURNING id
		)
		SELECT (SELECT count(*) FROM upd), EXISTS (SELECT 1 FROM jobs WHERE id = $3)`
	renewQuery = `WITH upd AS (
			UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 RETURNING id
		)
		SELECT (SELECT count(*) FROM upd), EXISTS (SELECT 1 FROM jobs WHERE id = $2)`
)

func scanJob(row pgx.Row, extra ...any) (jit.Job, error) {
	var (
		j              jit.Job
		kind           string
		runAt, created time.Time
		leaseUntil     *time.Time
	)
	dest := append([]any{&j.ID, &j.Key, &kind, &j.RequestID, &runAt, &j.Attempt, &j.LastError,
		&j.LeaseOwner, &leaseUntil, &created, &j.Payload}, extra...)
	if err := row.Scan(dest...); err != nil {
		return jit.Job{}, err
	}
	j.Kind = jit.JobKind(kind)
	j.RunAt = runAt.UTC()
	j.LeaseUntil = utc(leaseUntil)
	j.CreatedAt = created.UTC()
	return j, nil
}

// ClaimJobs leases to p.Owner, until p.Now+p.Lease, up to p.Limit jobs
// that are due at p.Now (RunAt <= p.Now) and whose lease is free or past.
// Jobs come earliest first by when they became claimable: RunAt, or the end
// of an abandoned lease when that is later (then by RunAt). Two claimers (in
// this process or another replica) never receive the same job while its
// lease runs. A claim may return fewer than p.Limit jobs while other
// claimers hold due jobs locked; the rest are there for the next claim.
//
// Errors: ECodeInvalid for an empty Owner, a zero Now, a Lease or Limit that
// is not positive, or a Limit above 1000.
func (s *Store) ClaimJobs(ctx context.Context, p jit.ClaimParams) ([]jit.Job, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	until := p.Now.Add(p.Lease).UTC().Truncate(time.Microsecond)
	rows, err := s.pool.Query(ctx, claimQuery, p.Now.UTC(), p.Limit, p.Owner, until)
	if err != nil {
		return nil, mapReadErr("claim jobs", err)
	}
	type claimed struct {
		job jit.Job
		due time.Time
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		var err error
		c.job, err = scanJob(row, &c.due)
		return c, err
	})
	if err != nil {
		return nil, mapReadErr("claim jobs", err)
	}
	sort.Slice(cs, func(a, b int) bool {
		x, y := cs[a], cs[b]
		if !x.due.Equal(y.due) {
			return x.due.Before(y.due)
		}
		if !x.job.RunAt.Equal(y.job.RunAt) {
			return x.job.RunAt.Before(y.job.RunAt)
		}
		return x.job.ID < y.job.ID
	})
	jobs := make([]jit.Job, len(cs))
	for i, c := range cs {
		jobs[i] = c.job
	}
	return jobs, nil
}

// RetryJob releases job id, leased to owner, for another run at runAt: it
// counts the failed attempt, records lastErr (cut to 4 KiB; the caller
// keeps secrets out of it) and clears the lease. Errors: ECodeInvalid for
// a zero runAt or empty owner, ECodeNotFound when the job no longer exists
// (it was completed), ECodeConflict when owner no longer holds its lease
// (another process took it over and must not lose it).
func (s *Store) RetryJob(ctx context.Context, id int64, owner string, runAt time.Time, lastErr string) error {
	if runAt.IsZero() || owner == "" {
		return jit.FieldErrorf("run_at", jit.ECodeInvalid, "retry of job %d needs an owner and a run time", id)
	}
	if len(lastErr) > maxLastError {
		// Cut on a byte count, then drop a rune the cut split.
		lastErr = strings.ToValidUTF8(lastErr[:maxLastError], "")
	}
	var (
		n      int
		exists bool
	)
	if err := s.pool.QueryRow(ctx, retryQuery, ts(runAt), lastErr, id, owner).Scan(&n, &exists); err != nil {
		return mapWriteErr(fmt.Sprintf("retry job %d", id), err)
	}
	return leaseMiss(id, owner, n, exists)
}

// RenewLease extends the lease owner holds on job id to until. Errors:
// ECodeInvalid for an empty owner or zero until, ECodeNotFound when the job
// is gone, ECodeConflict when another owner holds it (or nobody does).
// Renewing to the same time again is harmless.
func (s *Store) RenewLease(ctx context.Context, id int64, owner string, until time.Time) error {
	if owner == "" || until.IsZero() {
		return jit.Errorf(jit.ECodeInvalid, "renewing the lease of job %d needs an owner and a time", id)
	}
	var (
		n      int
		exists bool
	)
	if err := s.pool.QueryRow(ctx, renewQuery, ts(until), id, owner).Scan(&n, &exists); err != nil {
		return mapWriteErr(fmt.Sprintf("renew lease of job %d", id), err)
	}
	return leaseMiss(id, owner, n, exists)
}

// leaseMiss turns the result of retryQuery or renewQuery into the error
// the caller gets (nil when the job was changed).
func leaseMiss(id int64, owner string, changed int, exists bool) error {
	switch {
	case changed == 1:
		return nil
	case !exists:
		return jit.Errorf(jit.ECodeNotFound, "job %d not found", id)
	default:
		return jit.Errorf(jit.ECodeConflict, "job %d is no longer leased to %s", id, owner)
	}
}

// NextJobAt returns when the earliest job can next be claimed: its RunAt,
// or its lease deadline while a lease runs past RunAt. ok is false when
// there are no jobs. A time at or before now means "due now".
func (s *Store) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(due_at) FROM jobs`).Scan(&at); err != nil {
		return time.Time{}, false, mapReadErr("next job time", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return at.UTC(), true, nil
}

// ListJobs returns pending jobs of kind (every kind when kind is ""),
// earliest RunAt first. limit defaults to 100 when not positive and is
// capped at 1000.
func (s *Store) ListJobs(ctx context.Context, kind jit.JobKind, limit int) ([]jit.Job, error) {
	switch {
	case limit <= 0:
		limit = DefaultJobLimit
	case limit > MaxJobLimit:
		limit = MaxJobLimit
	}
	var (
		rows pgx.Rows
		err  error
	)
	if kind == "" {
		rows, err = s.pool.Query(ctx, `SELECT `+jobCols+` FROM jobs ORDER BY run_at, id LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+jobCols+` FROM jobs WHERE kind = $1 ORDER BY run_at, id LIMIT $2`, string(kind), limit)
	}
	if err != nil {
		return nil, mapReadErr("list jobs", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jit.Job, error) { return scanJob(row) })
	if err != nil {
		return nil, mapReadErr("list jobs", err)
	}
	return out, nil
}

// jobPayload is the value stored for a job's payload: NULL when it has
// none, so that an empty payload and a missing one read back alike (nil).
func jobPayload(p []byte) any {
	if len(p) == 0 {
		return nil
	}
	return p
}
