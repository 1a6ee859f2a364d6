package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jitaccess/jit"
)

// Limits of ListAudit (jit.AuditFilter.Check applies them).
const (
	DefaultAuditLimit = jit.DefaultAuditLimit
	MaxAuditLimit     = jit.MaxAuditLimit
)

// ListAudit returns audit events matching f in Seq order. f.Limit defaults
// to 100 and is capped at 1000; page with f.AfterSeq set to the last Seq
// returned. Errors: ECodeInvalid for a negative limit or AfterSeq.
func (s *Store) ListAudit(ctx context.Context, f jit.AuditFilter) ([]jit.AuditEvent, error) {
	limit, err := f.Check()
	if err != nil {
		return nil, err
	}
	q, args := listAuditSQL(f, limit)
	rows, err := s.rs.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []jit.AuditEvent
	for rows.Next() {
		var (
			ev      jit.AuditEvent
			t       sql.NullInt64
			details sql.NullString
		)
		if err := rows.Scan(&ev.Seq, &t, &ev.Actor, &ev.Action, &ev.RequestID, &ev.Reason,
			&ev.Source.Kind, &ev.Source.IP, &ev.Source.UserAgent, &details, &ev.PrevHash, &ev.Hash); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		ev.Time = fromMicros(t)
		if ev.Details, err = parseDetails(details); err != nil {
			return nil, fmt.Errorf("sqlite: audit event %d: %w", ev.Seq, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

// listAuditSQL returns the query of ListAudit for f and limit, and its
// arguments. Its WHERE clause takes one of 16 shapes (four optional
// filters), so the statement cache stays small.
func listAuditSQL(f jit.AuditFilter, limit int) (string, []any) {
	where := []string{"seq > ?"}
	args := []any{f.AfterSeq}
	if f.RequestID != "" {
		where = append(where, "request_id = ?")
		args = append(args, f.RequestID)
	}
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	args = append(args, limit)
	return `SELECT seq, time, actor, action, request_id, reason,
			source_kind, source_ip, source_ua, details, prev_hash, hash
		FROM audit WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq LIMIT ?`, args
}
