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

// Limits of ListRequests.
const (
	DefaultRequestLimit = 50
	MaxRequestLimit     = 1000
)

const requestCols = `id, requester, resource, access, duration_ns, reason, extends_id,
	requester_groups, approvers, status, rule, approvals_required, auto_approved,
	created_at, updated_at, lapses_at, granted_at, expires_at, ended_at,
	ended_by, end_reason, end_status, handle, version`

// Queries whose plans a test checks (they must use an index).
const (
	findActiveQuery = `SELECT ` + requestCols + ` FROM requests
		WHERE requester = ? AND resource = ? AND status = 'active' AND expires_at > ?
		ORDER BY created_at DESC, id DESC LIMIT 1`
)

type rowScanner interface{ Scan(dest ...any) error }

func scanRequest(sc rowScanner) (*jit.Request, error) {
	var (
		r                                 jit.Request
		durationNS                        int64
		groups, approvers                 string
		status, endStatus                 string
		autoApproved                      int
		created                           int64
		updated, lapses, granted, expires sql.NullInt64
		ended                             sql.NullInt64
		handle                            []byte
	)
	err := sc.Scan(&r.ID, &r.Requester, &r.Resource, &r.Access, &durationNS, &r.Reason, &r.ExtendsID,
		&groups, &approvers, &status, &r.Rule, &r.ApprovalsRequired, &autoApproved,
		&created, &updated, &lapses, &granted, &expires, &ended,
		&r.EndedBy, &r.EndReason, &endStatus, &handle, &r.Version)
	if err != nil {
		return nil, err
	}
	r.Duration = time.Duration(durationNS)
	if r.RequesterGroups, err = parseStrings("requester_groups", groups); err != nil {
		return nil, err
	}
	if r.Approvers, err = parseStrings("approvers", approvers); err != nil {
		return nil, err
	}
	r.Status = jit.Status(status)
	r.EndStatus = jit.Status(endStatus)
	r.AutoApproved = autoApproved != 0
	r.CreatedAt = time.UnixMicro(created).UTC()
	r.UpdatedAt = fromMicros(updated)
	r.LapsesAt = fromMicros(lapses)
	r.GrantedAt = fromMicrosPtr(granted)
	r.ExpiresAt = fromMicrosPtr(expires)
	r.EndedAt = fromMicrosPtr(ended)
	if len(handle) > 0 {
		r.Handle = handle
	}
	r.Approvals = []jit.Approval{}
	return &r, nil
}

// loadApprovals fills in the approvals of rs, ordered by time.
func loadApprovals(ctx context.Context, tx *sql.Tx, rs []*jit.Request) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[string]*jit.Request, len(rs))
	args := make([]any, 0, len(rs))
	for _, r := range rs {
		byID[r.ID] = r
		args = append(args, r.ID)
	}
	q := `SELECT request_id, approver, approved, comment, at FROM approvals
		WHERE request_id IN (` + placeholders(len(args)) + `) ORDER BY at, id`
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: read approvals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a        jit.Approval
			approved int
			at       int64
		)
		if err := rows.Scan(&a.RequestID, &a.Approver, &approved, &a.Comment, &at); err != nil {
			return fmt.Errorf("sqlite: read approvals: %w", err)
		}
		a.Approved = approved != 0
		a.At = time.UnixMicro(at).UTC()
		r := byID[a.RequestID]
		r.Approvals = append(r.Approvals, a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read approvals: %w", err)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// GetRequest returns the request with its approvals (oldest first). Errors:
// ECodeNotFound when there is no such request.
func (s *Store) GetRequest(ctx context.Context, id string) (*jit.Request, error) {
	var r *jit.Request
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
		} else if err != nil {
			return fmt.Errorf("sqlite: get request %s: %w", id, err)
		}
		return loadApprovals(ctx, tx, []*jit.Request{r})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// ListRequests returns requests newest first by (CreatedAt, ID), with their
// approvals. f.Limit defaults to 50 and is capped at 1000. f.After is the ID
// of the last request of the previous page. Errors: ECodeInvalid for a
// negative limit, an unknown status or an After that names no request.
func (s *Store) ListRequests(ctx context.Context, f jit.RequestFilter) ([]*jit.Request, error) {
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, jit.FieldErrorf("limit", jit.ECodeInvalid, "limit %d must not be negative", limit)
	case limit == 0:
		limit = DefaultRequestLimit
	case limit > MaxRequestLimit:
		limit = MaxRequestLimit
	}
	for _, st := range f.Statuses {
		if !st.Valid() {
			return nil, jit.FieldErrorf("status", jit.ECodeInvalid, "unknown status %q", st)
		}
	}
	var out []*jit.Request
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var where []string
		var args []any
		if f.Requester != "" {
			where = append(where, "requester = ?")
			args = append(args, f.Requester)
		}
		if f.Resource != "" {
			where = append(where, "resource = ?")
			args = append(args, f.Resource)
		}
		if len(f.Statuses) > 0 {
			where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
			for _, st := range f.Statuses {
				args = append(args, string(st))
			}
		}
		if f.ExpiresBefore != nil {
			where = append(where, "expires_at < ?")
			args = append(args, f.ExpiresBefore.UnixMicro())
		}
		if f.After != "" {
			// Resolve the cursor to its position, so that the page
			// continues after it even when requests share a creation time.
			var created int64
			err := tx.QueryRowContext(ctx, `SELECT created_at FROM requests WHERE id = ?`, f.After).Scan(&created)
			if errors.Is(err, sql.ErrNoRows) {
				return jit.FieldErrorf("after", jit.ECodeInvalid, "cursor %q names no request", f.After)
			} else if err != nil {
				return fmt.Errorf("sqlite: resolve cursor: %w", err)
			}
			where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
			args = append(args, created, created, f.After)
		}
		q := `SELECT ` + requestCols + ` FROM requests`
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		q += " ORDER BY created_at DESC, id DESC LIMIT ?"
		args = append(args, limit)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("sqlite: list requests: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRequest(rows)
			if err != nil {
				return fmt.Errorf("sqlite: list requests: %w", err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: list requests: %w", err)
		}
		return loadApprovals(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindActive returns requester's newest active request on resource whose
// ExpiresAt is after now, or nil (and no error) when there is none.
func (s *Store) FindActive(ctx context.Context, requester, resource string, now time.Time) (*jit.Request, error) {
	var r *jit.Request
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, findActiveQuery, requester, resource, now.UnixMicro()))
		if errors.Is(err, sql.ErrNoRows) {
			r = nil
			return nil
		} else if err != nil {
			return fmt.Errorf("sqlite: find active request: %w", err)
		}
		return loadApprovals(ctx, tx, []*jit.Request{r})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// CountRequests returns the number of requests in each status. Every known
// status is present, with 0 when no request has it, so that a gauge set from
// the map drops to zero when the last request leaves a status.
func (s *Store) CountRequests(ctx context.Context) (map[jit.Status]int, error) {
	out := make(map[jit.Status]int, len(jit.AllStatuses))
	for _, st := range jit.AllStatuses {
		out[st] = 0
	}
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM requests GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count requests: %w", err)
		}
		out[jit.Status(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count requests: %w", err)
	}
	return out, nil
}
