package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"seq > " + arg(f.AfterSeq)}
	if f.RequestID != "" {
		where = append(where, "request_id = "+arg(f.RequestID))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(f.Since.UTC()))
	}
	q := `SELECT seq, time, actor, action, request_id, reason,
			source_kind, source_ip, source_ua, details, prev_hash, hash
		FROM audit WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq LIMIT ` + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapReadErr("list audit", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jit.AuditEvent, error) {
		var (
			ev      jit.AuditEvent
			at      time.Time
			details []byte
		)
		if err := row.Scan(&ev.Seq, &at, &ev.Actor, &ev.Action, &ev.RequestID, &ev.Reason,
			&ev.Source.Kind, &ev.Source.IP, &ev.Source.UserAgent, &details, &ev.PrevHash, &ev.Hash); err != nil {
			return ev, err
		}
		ev.Time = at.UTC()
		if details != nil {
			if err := json.Unmarshal(details, &ev.Details); err != nil {
				return ev, fmt.Errorf("decode details of audit event %d: %w", ev.Seq, err)
			}
		}
		return ev, nil
	})
	if err != nil {
		return nil, mapReadErr("list audit", err)
	}
	return out, nil
}

// detailsJSON encodes audit details for the jsonb column; an empty map is
// NULL (the hash does not tell nil from empty either).
func detailsJSON(d map[string]string) (any, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode audit details: %w", err)
	}
	return string(b), nil
}
