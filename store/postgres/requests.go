package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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

// selectRequests reads requests (alias r) with their approvals, aggregated
// per request in (at, id) order by a lateral subquery. One statement reads
// one snapshot, so a request and its approvals are as of the same commit;
// and the subquery runs only for the rows the LIMIT keeps.
var selectRequests = `SELECT ` + qualify("r", requestCols) + `,
		ap.approver, ap.approved, ap.comment, ap.at
	FROM requests AS r
	LEFT JOIN LATERAL (
		SELECT array_agg(a.approver ORDER BY a.at, a.id) AS approver,
			array_agg(a.approved ORDER BY a.at, a.id) AS approved,
			array_agg(a.comment ORDER BY a.at, a.id) AS comment,
			array_agg(a.at ORDER BY a.at, a.id) AS at
		FROM approvals AS a WHERE a.request_id = r.id
	) AS ap ON true`

// qualify prefixes each column of the comma-separated list cols with alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// scanRequest reads one row of selectRequests.
func scanRequest(row pgx.Row) (*jit.Request, error) {
	var (
		r                                        jit.Request
		durationNS                               int64
		status, endStatus                        string
		created                                  time.Time
		updated, lapses, granted, expires, ended *time.Time
		handle, privs, subj                      []byte
		approver, comment                        []string
		approved                                 []bool
		at                                       []time.Time
	)
	err := row.Scan(&r.ID, &r.Requester, &r.Resource, &r.Access, &durationNS, &r.Reason, &r.ExtendsID,
		&r.RequesterGroups, &r.Approvers, &status, &r.Rule, &r.ApprovalsRequired, &r.AutoApproved,
		&created, &updated, &lapses, &granted, &expires, &ended,
		&r.EndedBy, &r.EndReason, &endStatus, &handle, &r.Query, &privs, &subj, &r.Version,
		&approver, &approved, &comment, &at)
	if err != nil {
		return nil, err
	}
	r.Duration = time.Duration(durationNS)
	if r.Privileges, err = privileges.Decode(privs); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	if err := subject.Decode(subj, &r); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	r.Status = jit.Status(status)
	r.EndStatus = jit.Status(endStatus)
	r.CreatedAt = created.UTC()
	r.UpdatedAt = utc(updated)
	r.LapsesAt = utc(lapses)
	r.GrantedAt = utcPtr(granted)
	r.ExpiresAt = utcPtr(expires)
	r.EndedAt = utcPtr(ended)
	if len(handle) > 0 {
		r.Handle = handle
	}
	if len(approver) != len(approved) || len(approver) != len(comment) || len(approver) != len(at) {
		return nil, fmt.Errorf("approvals of %s: columns of different lengths", r.ID)
	}
	r.Approvals = make([]jit.Approval, len(approver))
	for i := range approver {
		r.Approvals[i] = jit.Approval{RequestID: r.ID, Approver: approver[i], Approved: approved[i],
			Comment: comment[i], At: at[i].UTC()}
	}
	return &r, nil
}

// queryRequests runs a selectRequests query and reads every row.
func (s *Store) queryRequests(ctx context.Context, q string, args ...any) ([]*jit.Request, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*jit.Request, error) { return scanRequest(row) })
}

// GetRequest returns the request with its approvals (oldest first). Errors:
// ECodeNotFound when there is no such request.
func (s *Store) GetRequest(ctx context.Context, id string) (*jit.Request, error) {
	rs, err := s.queryRequests(ctx, selectRequests+` WHERE r.id = $1`, id)
	if err != nil {
		return nil, mapReadErr("get request "+id, err)
	}
	if len(rs) == 0 {
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s not found", id)
	}
	return rs[0], nil
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
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Requester != "" {
		where = append(where, "r.requester = "+arg(f.Requester))
	}
	if f.Resource != "" {
		where = append(where, "r.resource = "+arg(f.Resource))
	}
	if len(statuses) > 0 {
		where = append(where, "r.status = ANY("+arg(statusStrings(statuses))+")")
	}
	if f.ExtendsID != "" {
		// The second term lets the planner use the partial
		// requests_extends index.
		where = append(where, "r.extends_id = "+arg(f.ExtendsID)+" AND r.extends_id <> ''")
	}
	if f.ExpiresBefore != nil {
		where = append(where, "r.expires_at < "+arg(f.ExpiresBefore.UTC()))
	}
	if f.ExpiresAfter != nil {
		where = append(where, "r.expires_at > "+arg(f.ExpiresAfter.UTC()))
	}
	if f.After != "" {
		// Resolve the cursor to its position, so that the page continues
		// after it even when requests share a creation time. Requests
		// are never deleted and their creation time never changes, so
		// the position read here is the one the page query sees.
		var created time.Time
		err := s.pool.QueryRow(ctx, `SELECT created_at FROM requests WHERE id = $1`, f.After).Scan(&created)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, jit.FieldErrorf("after", jit.ECodeInvalid, "cursor %q names no request", f.After)
		} else if err != nil {
			return nil, mapReadErr("resolve cursor", err)
		}
		where = append(where, "(r.created_at, r.id) < ("+arg(created)+", "+arg(f.After)+")")
	}
	q := selectRequests
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY r.created_at DESC, r.id DESC LIMIT " + arg(limit)
	rs, err := s.queryRequests(ctx, q, args...)
	if err != nil {
		return nil, mapReadErr("list requests", err)
	}
	return rs, nil
}

// findActiveQuery is served by the partial requests_active index.
var findActiveQuery = selectRequests + `
	WHERE r.requester = $1 AND r.resource = $2 AND r.status = 'active' AND r.expires_at > $3
	ORDER BY r.created_at DESC, r.id DESC LIMIT 1`

// FindActive returns requester's newest active request on resource whose
// ExpiresAt is after now, or nil (and no error) when there is none.
func (s *Store) FindActive(ctx context.Context, requester, resource string, now time.Time) (*jit.Request, error) {
	rs, err := s.queryRequests(ctx, findActiveQuery, requester, resource, now.UTC())
	if err != nil {
		return nil, mapReadErr("find active request", err)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return rs[0], nil
}

// CountRequests returns the number of requests in each status. Every known
// status is present, with 0 when no request has it, so that a gauge set from
// the map drops to zero when the last request leaves a status.
func (s *Store) CountRequests(ctx context.Context) (map[jit.Status]int, error) {
	out := make(map[jit.Status]int, len(jit.AllStatuses))
	for _, st := range jit.AllStatuses {
		out[st] = 0
	}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM requests GROUP BY status`)
	if err != nil {
		return nil, mapReadErr("count requests", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, mapReadErr("count requests", err)
		}
		out[jit.Status(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, mapReadErr("count requests", err)
	}
	return out, nil
}

func statusStrings(ss []jit.Status) []string {
	out := make([]string, len(ss))
	for i, st := range ss {
		out[i] = string(st)
	}
	return out
}
