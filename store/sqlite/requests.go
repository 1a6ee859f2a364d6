package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/internal/privileges"
	"github.com/jitaccess/jit/store/internal/subject"
)

// Limits of ListRequests.
const (
	DefaultRequestLimit = jit.DefaultRequestLimit
	MaxRequestLimit     = jit.MaxRequestLimit
)

const requestCols = `id, requester, resource, access, duration_ns, reason, extends_id,
	requester_groups, approvers, status, rule, approvals_required, auto_approved,
	created_at, updated_at, lapses_at, granted_at, expires_at, ended_at,
	ended_by, end_reason, end_status, handle, query, privileges, subject, version`

// Queries whose plans a test checks (they must use an index).
const (
	findActiveQuery = `SELECT ` + requestCols + ` FROM requests
		WHERE requester = ? AND resource = ? AND status = 'active' AND expires_at > ?
		ORDER BY created_at DESC, id DESC LIMIT 1`
)

// approvalCols are the columns of an approval joined to its request. They
// are NULL in the one row of a request without approvals.
const approvalCols = `a.approver, a.approved, a.comment, a.at`

// Reads of one request with its approvals are one statement each: a single
// SELECT reads one snapshot, so the request and its approvals are as of the
// same commit without the BEGIN and ROLLBACK of an explicit read
// transaction. The approvals come in (at, id) order straight from the
// approvals_request index.
var (
	getRequestQuery = `SELECT ` + qualify("r", requestCols) + `, ` + approvalCols + `
		FROM requests AS r LEFT JOIN approvals AS a ON a.request_id = r.id
		WHERE r.id = ? ORDER BY a.at, a.id`
	findActiveWithApprovalsQuery = `SELECT ` + qualify("r", requestCols) + `, ` + approvalCols + `
		FROM (` + findActiveQuery + `) AS r LEFT JOIN approvals AS a ON a.request_id = r.id
		ORDER BY a.at, a.id`
	// approvalsQuery reads the approvals of a list of requests, passed as
	// one JSON array so that a single prepared statement serves any number.
	approvalsQuery = `SELECT request_id, approver, approved, comment, at FROM approvals
		WHERE request_id IN (SELECT value FROM json_each(?)) ORDER BY at, id`
	cursorQuery = `SELECT created_at FROM requests WHERE id = ?`
)

// qualify prefixes each column of the comma-separated list cols with alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

type rowScanner interface{ Scan(dest ...any) error }

// requestRow holds the stored columns of one request, as scanned.
type requestRow struct {
	r                                 jit.Request
	durationNS                        int64
	groups, approvers                 string
	status, endStatus                 string
	autoApproved                      int
	created                           int64
	updated, lapses, granted, expires sql.NullInt64
	ended                             sql.NullInt64
	handle                            []byte
	privileges                        []byte
	subject                           []byte
}

// dest returns scan destinations in requestCols order.
func (x *requestRow) dest() []any {
	r := &x.r
	return []any{&r.ID, &r.Requester, &r.Resource, &r.Access, &x.durationNS, &r.Reason, &r.ExtendsID,
		&x.groups, &x.approvers, &x.status, &r.Rule, &r.ApprovalsRequired, &x.autoApproved,
		&x.created, &x.updated, &x.lapses, &x.granted, &x.expires, &x.ended,
		&r.EndedBy, &r.EndReason, &x.endStatus, &x.handle, &r.Query, &x.privileges, &x.subject, &r.Version}
}

// request decodes the scanned columns into a new request with no
// approvals.
func (x *requestRow) request() (*jit.Request, error) {
	r := x.r
	var err error
	r.Duration = time.Duration(x.durationNS)
	if r.RequesterGroups, err = parseStrings("requester_groups", x.groups); err != nil {
		return nil, err
	}
	if r.Approvers, err = parseStrings("approvers", x.approvers); err != nil {
		return nil, err
	}
	if r.Privileges, err = privileges.Decode(x.privileges); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := subject.Decode(x.subject, &r); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.Status = jit.Status(x.status)
	r.EndStatus = jit.Status(x.endStatus)
	r.AutoApproved = x.autoApproved != 0
	r.CreatedAt = time.UnixMicro(x.created).UTC()
	r.UpdatedAt = fromMicros(x.updated)
	r.LapsesAt = fromMicros(x.lapses)
	r.GrantedAt = fromMicrosPtr(x.granted)
	r.ExpiresAt = fromMicrosPtr(x.expires)
	r.EndedAt = fromMicrosPtr(x.ended)
	if len(x.handle) > 0 {
		// Scan gives *[]byte a fresh copy each time, so a later row does
		// not overwrite it.
		r.Handle = x.handle
	}
	r.Approvals = []jit.Approval{}
	return &r, nil
}

func scanRequest(sc rowScanner) (*jit.Request, error) {
	var x requestRow
	if err := sc.Scan(x.dest()...); err != nil {
		return nil, err
	}
	return x.request()
}

// scanRequestWithApprovals reads the rows of getRequestQuery or
// findActiveWithApprovalsQuery: one request, repeated once per approval
// (or once with NULL approval columns). It returns nil when there are no
// rows.
func scanRequestWithApprovals(rows *sql.Rows) (*jit.Request, error) {
	defer rows.Close()
	var (
		x        requestRow
		approver sql.NullString
		approved sql.NullInt64
		comment  sql.NullString
		at       sql.NullInt64
		r        *jit.Request
	)
	dest := append(x.dest(), &approver, &approved, &comment, &at)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if r == nil {
			var err error
			if r, err = x.request(); err != nil {
				return nil, err
			}
		}
		if at.Valid {
			r.Approvals = append(r.Approvals, jit.Approval{
				RequestID: r.ID, Approver: approver.String, Approved: approved.Int64 != 0,
				Comment: comment.String, At: time.UnixMicro(at.Int64).UTC(),
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return r, rows.Close()
}

// loadApprovals fills in the approvals of rs, ordered by time.
func (s *Store) loadApprovals(ctx context.Context, tx *sql.Tx, rs []*jit.Request) error {
	if len(rs) == 0 {
		return nil
	}
	byID := make(map[string]*jit.Request, len(rs))
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		byID[r.ID] = r
		ids = append(ids, r.ID)
	}
	idList, err := jsonText("request IDs", ids)
	if err != nil {
		return err
	}
	rows, err := s.rs.txQuery(ctx, tx, approvalsQuery, idList)
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
	rows, err := s.rs.query(ctx, getRequestQuery, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get request %s: %w", id, err)
	}
	r, err := scanRequestWithApprovals(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get request %s: %w", id, err)
	}
	if r == nil {
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
	}
	return r, nil
}

// ListRequests returns requests newest first by (CreatedAt, ID), with their
// approvals. f.Limit defaults to 50 and is capped at 1000. f.After is the ID
// of the last request of the previous page. Errors: ECodeInvalid for a
// negative limit, an unknown status or an After that names no request.
func (s *Store) ListRequests(ctx context.Context, f jit.RequestFilter) ([]*jit.Request, error) {
	limit, statuses, err := f.Check()
	if err != nil {
		return nil, err
	}
	// Check drops repeated statuses, so that the query text takes one of
	// a bounded set of shapes and its prepared statement is cached.
	q, args := listRequestsSQL(f, statuses)
	// Prepare before the read transaction takes its connection (see
	// stmtCache).
	if err := s.rs.prepare(ctx, q, cursorQuery, approvalsQuery); err != nil {
		return nil, err
	}
	var out []*jit.Request
	err = s.inReadTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		args := args[:len(args):len(args)] // appends below copy, never share
		if f.After != "" {
			// Resolve the cursor to its position, so that the page
			// continues after it even when requests share a creation time.
			var created int64
			err := s.rs.txQueryRow(ctx, tx, cursorQuery, f.After).Scan(&created)
			if errors.Is(err, sql.ErrNoRows) {
				return jit.FieldErrorf("after", jit.ECodeInvalid, "cursor %q names no request", f.After)
			} else if err != nil {
				return fmt.Errorf("sqlite: resolve cursor: %w", err)
			}
			args = append(args, created, created, f.After)
		}
		args = append(args, limit)
		rows, err := s.rs.txQuery(ctx, tx, q, args...)
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
		return s.loadApprovals(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listRequestsSQL returns the query of ListRequests for f with statuses
// (f.Statuses without repeats) and its arguments, less those that follow
// (the cursor's creation time twice and ID when f.After is set, then the
// limit).
func listRequestsSQL(f jit.RequestFilter, statuses []jit.Status) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.Requester != "" {
		where = append(where, "requester = ?")
		args = append(args, f.Requester)
	}
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	if len(statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(statuses))+")")
		for _, st := range statuses {
			args = append(args, string(st))
		}
	}
	if f.ExtendsID != "" {
		// The second term lets SQLite use the partial requests_extends
		// index (it cannot know a bound value is not '').
		where = append(where, "extends_id = ? AND extends_id != ''")
		args = append(args, f.ExtendsID)
	}
	if f.ExpiresBefore != nil {
		where = append(where, "expires_at < ?")
		args = append(args, f.ExpiresBefore.UnixMicro())
	}
	if f.ExpiresAfter != nil {
		where = append(where, "expires_at > ?")
		args = append(args, f.ExpiresAfter.UnixMicro())
	}
	if f.After != "" {
		// The cursor's creation time is read in the same transaction as
		// the page.
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
	}
	q := `SELECT ` + requestCols + ` FROM requests`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY created_at DESC, id DESC LIMIT ?", args
}

// FindActive returns requester's newest active request on resource whose
// ExpiresAt is after now, or nil (and no error) when there is none.
func (s *Store) FindActive(ctx context.Context, requester, resource string, now time.Time) (*jit.Request, error) {
	rows, err := s.rs.query(ctx, findActiveWithApprovalsQuery, requester, resource, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: find active request: %w", err)
	}
	r, err := scanRequestWithApprovals(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find active request: %w", err)
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
	rows, err := s.rs.query(ctx, `SELECT status, count(*) FROM requests GROUP BY status`)
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
