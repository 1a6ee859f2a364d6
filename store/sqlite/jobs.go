package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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

// Queries whose plans a test checks: claiming and finding the next due job
// must be index range scans whose cost grows with the jobs due, not with
// the table.
const (
	claimSelectQuery = `SELECT ` + jobCols + ` FROM jobs WHERE due_at <= ? ORDER BY due_at, run_at, id LIMIT ?`
	nextJobQuery     = `SELECT min(due_at) FROM jobs`
)

// The other job statements, prepared once (see stmtCache).
const (
	// leaseQuery takes the claimed IDs as one JSON array, so that one
	// prepared statement serves a batch of any size.
	leaseQuery = `UPDATE jobs SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT value FROM json_each(?))`
	retryQuery = `UPDATE jobs SET run_at = ?, attempt = attempt + 1, last_error = ?,
			lease_owner = '', lease_until = NULL WHERE id = ? AND lease_owner = ?`
	renewQuery      = `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?`
	leaseOwnerQuery = `SELECT lease_owner FROM jobs WHERE id = ?`
	listJobsQuery   = `SELECT ` + jobCols + ` FROM jobs ORDER BY run_at, id LIMIT ?`
	listKindQuery   = `SELECT ` + jobCols + ` FROM jobs WHERE kind = ? ORDER BY run_at, id LIMIT ?`
)

func scanJob(sc rowScanner) (jit.Job, error) {
	var (
		j          jit.Job
		kind       string
		runAt      int64
		leaseUntil sql.NullInt64
		created    int64
	)
	if err := sc.Scan(&j.ID, &j.Key, &kind, &j.RequestID, &runAt, &j.Attempt, &j.LastError,
		&j.LeaseOwner, &leaseUntil, &created, &j.Payload); err != nil {
		return jit.Job{}, err
	}
	j.Kind = jit.JobKind(kind)
	j.RunAt = time.UnixMicro(runAt).UTC()
	j.LeaseUntil = fromMicros(leaseUntil)
	j.CreatedAt = time.UnixMicro(created).UTC()
	return j, nil
}

// ClaimJobs leases to p.Owner, until p.Now+p.Lease, up to p.Limit jobs
// that are due at p.Now (RunAt <= p.Now) and whose lease is free or past.
// Jobs come earliest first by when they became claimable: RunAt, or the end
// of an abandoned lease when that is later (then by RunAt). Two claimers (in this process or
// another) never receive the same job while its lease runs.
//
// Errors: ECodeInvalid for an empty Owner, a zero Now, a Lease or Limit that
// is not positive, or a Limit above 1000.
func (s *Store) ClaimJobs(ctx context.Context, p jit.ClaimParams) ([]jit.Job, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	until := p.Now.Add(p.Lease).UTC().Truncate(time.Microsecond)
	var jobs []jit.Job
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
		jobs = jobs[:0]
		rows, err := s.ws.txQuery(ctx, tx, claimSelectQuery, p.Now.UnixMicro(), p.Limit)
		if err != nil {
			return fmt.Errorf("sqlite: claim jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return fmt.Errorf("sqlite: claim jobs: %w", err)
			}
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: claim jobs: %w", err)
		}
		rows.Close()
		if len(jobs) == 0 {
			return nil
		}
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		idList, err := jsonText("job IDs", ids)
		if err != nil {
			return err
		}
		if _, err := s.ws.txExec(ctx, tx, leaseQuery, p.Owner, until.UnixMicro(), idList); err != nil {
			return fmt.Errorf("sqlite: lease jobs: %w", err)
		}
		for i := range jobs {
			jobs[i].LeaseOwner = p.Owner
			jobs[i].LeaseUntil = until
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
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
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
		return s.leasedUpdate(ctx, tx, "retry job", id, owner, retryQuery, runAt.UnixMicro(), lastErr, id, owner)
	}, nil)
}

// leasedUpdate runs an update that matches job id only while owner holds
// its lease; when it matches nothing it finds out why: the job is gone
// (ECodeNotFound) or leased to someone else (ECodeConflict).
func (s *Store) leasedUpdate(ctx context.Context, tx *sql.Tx, op string, id int64, owner, query string, args ...any) error {
	res, err := s.ws.txExec(ctx, tx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s %d: %w", op, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: %s %d: %w", op, id, err)
	} else if n == 1 {
		return nil
	}
	var holder string
	err = s.ws.txQueryRow(ctx, tx, leaseOwnerQuery, id).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return jit.Errorf(jit.ECodeNotFound, "job %d not found", id)
	} else if err != nil {
		return fmt.Errorf("sqlite: %s %d: %w", op, id, err)
	}
	return jit.Errorf(jit.ECodeConflict, "job %d is no longer leased to %s", id, owner)
}

// RenewLease extends the lease owner holds on job id to until. Errors:
// ECodeNotFound when the job is gone, ECodeConflict when another owner
// holds it (or nobody does).
func (s *Store) RenewLease(ctx context.Context, id int64, owner string, until time.Time) error {
	if owner == "" || until.IsZero() {
		return jit.Errorf(jit.ECodeInvalid, "renewing the lease of job %d needs an owner and a time", id)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
		return s.leasedUpdate(ctx, tx, "renew lease of job", id, owner, renewQuery,
			until.UTC().Truncate(time.Microsecond).UnixMicro(), id, owner)
	}, nil)
}

// NextJobAt returns when the earliest job can next be claimed: its RunAt,
// or its lease deadline while a lease runs past RunAt. ok is false when
// there are no jobs. A time at or before now means "due now".
func (s *Store) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.rs.queryRow(ctx, nextJobQuery).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next job time: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(at.Int64).UTC(), true, nil
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
		rows *sql.Rows
		err  error
	)
	if kind == "" {
		rows, err = s.rs.query(ctx, listJobsQuery, limit)
	} else {
		rows, err = s.rs.query(ctx, listKindQuery, string(kind), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	defer rows.Close()
	var out []jit.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
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
