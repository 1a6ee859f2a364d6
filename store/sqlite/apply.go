package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/internal/privileges"
	"github.com/jitaccess/jit/store/internal/subject"
)

// The statements of Apply, prepared once (see stmtCache).
const (
	insertRequestQuery = `INSERT INTO requests (` + requestCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (id) DO NOTHING`
	// The fields fixed at submit are conditions, not assignments: an
	// approval is bound to them (invariant 1), so an update that would
	// change one matches no row and is refused.
	updateRequestQuery = `UPDATE requests SET
			requester_groups = ?, approvers = ?, status = ?, rule = ?, approvals_required = ?,
			auto_approved = ?, updated_at = ?, lapses_at = ?, granted_at = ?, expires_at = ?,
			ended_at = ?, ended_by = ?, end_reason = ?, end_status = ?, handle = ?,
			version = version + 1
		WHERE id = ? AND version = ?
			AND requester = ? AND resource = ? AND access = ? AND duration_ns = ?
			AND reason = ? AND extends_id = ? AND query = ? AND privileges = ? AND subject = ?`
	insertApprovalQuery = `INSERT INTO approvals (request_id, approver, approved, comment, at)
		VALUES (?, ?, ?, ?, ?)`
	insertEventQuery = `INSERT INTO audit (seq, time, actor, action, request_id, reason,
			source_kind, source_ip, source_ua, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	deleteJobQuery = `DELETE FROM jobs WHERE key = ?`
	// A merge keeps the existing row (its ID, attempts, last error, lease
	// and payload) and only moves it earlier.
	upsertJobQuery = `INSERT INTO jobs (key, kind, request_id, run_at, attempt, last_error,
			lease_owner, lease_until, created_at, payload)
		VALUES (?, ?, ?, ?, ?, ?, '', NULL, ?, ?)
		ON CONFLICT (key) DO UPDATE SET run_at = min(jobs.run_at, excluded.run_at)`
	insertTokenQuery = `INSERT INTO tokens (id, email, name, hash, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	// A person has one public key; registering another replaces it.
	upsertPublicKeyQuery = `INSERT INTO public_keys (email, public_key, created_at) VALUES (?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET public_key = excluded.public_key, created_at = excluded.created_at`
	// A request has one credential: a grant that runs again issues a new
	// one, which replaces the old.
	upsertCredentialQuery = `INSERT INTO credentials (request_id, recipient, kind, envelope, created_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (request_id) DO UPDATE SET recipient = excluded.recipient, kind = excluded.kind,
			envelope = excluded.envelope, created_at = excluded.created_at`
)

// Apply commits c in one transaction: the request (inserted when its
// Version is 0, else updated only if the stored version still equals
// Version), the approval, the audit events (sealed onto the chain), job
// deletions and then job enqueues (so a change may replace a job by
// deleting and enqueueing its key), the token, the public key (replacing
// its person's earlier one) and the credential (replacing its request's
// earlier one).
//
// On success c.Request.Version is the stored version and c.Events hold
// their sealed Seq, PrevHash and Hash. On any error nothing is written and
// c is unchanged. Changes applied concurrently may share one transaction and
// commit (see writer.go); each stays all-or-nothing, and Apply returns only
// once its change is committed.
//
// Errors:
//   - ECodeInvalid when c is malformed (checked before anything is written);
//     this includes an update that would change a field fixed at submit
//     (requester, resource, access, duration, reason, extends_id, query,
//     privileges), and a credential that is not an encrypted envelope.
//   - ECodeConflict when a request with c.Request.ID already exists (insert),
//     the stored version differs from c.Request.Version (update), or the
//     token's ID or hash is taken.
//   - ECodeNotFound when the request to update, the approval's request or
//     the credential's request does not exist.
//   - Anything else is internal.
func (s *Store) Apply(ctx context.Context, c *jit.Change) error {
	if err := c.Validate(); err != nil {
		return err
	}
	// Work on copies so that a failed write leaves c untouched.
	events := make([]jit.AuditEvent, len(c.Events))
	var version int
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, head *chainHead) error {
		copy(events, c.Events)
		var err error
		if c.Request != nil {
			if version, err = s.putRequest(ctx, tx, c.Request); err != nil {
				return err
			}
		}
		if c.Approval != nil {
			if err := s.insertApproval(ctx, tx, c); err != nil {
				return err
			}
		}
		if *head, err = s.appendEvents(ctx, tx, *head, events); err != nil {
			return err
		}
		for _, key := range c.DeleteJobs {
			if _, err := s.ws.txExec(ctx, tx, deleteJobQuery, key); err != nil {
				return fmt.Errorf("sqlite: delete job %s: %w", key, err)
			}
		}
		for _, j := range c.Enqueue {
			if err := s.upsertJob(ctx, tx, j); err != nil {
				return err
			}
		}
		if c.Token != nil {
			if err := s.insertToken(ctx, tx, c.Token); err != nil {
				return err
			}
		}
		if k := c.PublicKey; k != nil {
			if _, err := s.ws.txExec(ctx, tx, upsertPublicKeyQuery, k.Email, k.Key, k.CreatedAt.UnixMicro()); err != nil {
				return fmt.Errorf("sqlite: store public key of %s: %w", k.Email, err)
			}
		}
		if e := c.Credential; e != nil {
			if err := s.putCredential(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	}, func() {
		// Committed: report what was stored.
		copy(c.Events, events)
		if c.Request != nil {
			c.Request.Version = version
		}
	})
}

// putRequest inserts or updates r and returns its new stored version.
func (s *Store) putRequest(ctx context.Context, tx *sql.Tx, r *jit.Request) (int, error) {
	groups, err := jsonText("requester_groups", r.RequesterGroups)
	if err != nil {
		return 0, err
	}
	approvers, err := jsonText("approvers", r.Approvers)
	if err != nil {
		return 0, err
	}
	privs, err := privileges.Encode(r.Privileges)
	if err != nil {
		return 0, fmt.Errorf("sqlite: request %s: %w", r.ID, err)
	}
	subj, err := subject.Encode(r)
	if err != nil {
		return 0, fmt.Errorf("sqlite: request %s: %w", r.ID, err)
	}
	handle := any(nil)
	if len(r.Handle) > 0 {
		handle = r.Handle
	}
	if r.Version == 0 {
		res, err := s.ws.txExec(ctx, tx, insertRequestQuery,
			r.ID, r.Requester, r.Resource, r.Access, int64(r.Duration), r.Reason, r.ExtendsID,
			groups, approvers, string(r.Status), r.Rule, r.ApprovalsRequired, boolInt(r.AutoApproved),
			r.CreatedAt.UnixMicro(), micros(r.UpdatedAt), micros(r.LapsesAt),
			microsPtr(r.GrantedAt), microsPtr(r.ExpiresAt), microsPtr(r.EndedAt),
			r.EndedBy, r.EndReason, string(r.EndStatus), handle, r.Query, privs, subj)
		if err != nil {
			return 0, fmt.Errorf("sqlite: insert request %s: %w", r.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("sqlite: insert request %s: %w", r.ID, err)
		} else if n == 0 {
			return 0, jit.Errorf(jit.ECodeConflict, "request %s already exists", r.ID)
		}
		return 1, nil
	}

	// An update that would change a field fixed at submit matches no row
	// and is explained below.
	res, err := s.ws.txExec(ctx, tx, updateRequestQuery,
		groups, approvers, string(r.Status), r.Rule, r.ApprovalsRequired,
		boolInt(r.AutoApproved), micros(r.UpdatedAt), micros(r.LapsesAt),
		microsPtr(r.GrantedAt), microsPtr(r.ExpiresAt), microsPtr(r.EndedAt),
		r.EndedBy, r.EndReason, string(r.EndStatus), handle,
		r.ID, r.Version,
		r.Requester, r.Resource, r.Access, int64(r.Duration), r.Reason, r.ExtendsID, r.Query, privs, subj)
	if err != nil {
		return 0, fmt.Errorf("sqlite: update request %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: update request %s: %w", r.ID, err)
	}
	if n == 1 {
		return r.Version + 1, nil
	}
	return 0, s.explainUpdateMiss(ctx, tx, r, privs, subj)
}

// explainUpdateMiss says why an update matched no row. privs is the
// stored form of r.Privileges, and subj of r's subject, the update compared.
func (s *Store) explainUpdateMiss(ctx context.Context, tx *sql.Tx, r *jit.Request, privs, subj string) error {
	var (
		version                                            int
		requester, resource, access, reason, extend, query string
		storedPrivs, storedSubj                            string
		duration                                           int64
	)
	// Rare (a conflict or a refused update), so not worth a cached
	// statement.
	err := tx.QueryRowContext(ctx, `SELECT version, requester, resource, access, duration_ns, reason, extends_id,
			query, privileges, subject
		FROM requests WHERE id = ?`, r.ID).Scan(&version, &requester, &resource, &access, &duration, &reason, &extend,
		&query, &storedPrivs, &storedSubj)
	if errors.Is(err, sql.ErrNoRows) {
		return jit.Errorf(jit.ECodeNotFound, "request %s not found", r.ID)
	} else if err != nil {
		return fmt.Errorf("sqlite: update request %s: %w", r.ID, err)
	}
	if version != r.Version {
		return jit.Errorf(jit.ECodeConflict, "request %s changed concurrently (version %d, stored %d)", r.ID, r.Version, version)
	}
	for _, f := range []struct {
		name string
		same bool
	}{
		{"requester", requester == r.Requester},
		{"resource", resource == r.Resource},
		{"access", access == r.Access},
		{"duration", duration == int64(r.Duration)},
		{"reason", reason == r.Reason},
		{"extends_id", extend == r.ExtendsID},
		{"query", query == r.Query},
		{"privileges", storedPrivs == privs},
		{"target", storedSubj == subj},
	} {
		if !f.same {
			return jit.FieldErrorf(f.name, jit.ECodeInvalid, "request %s: %s is fixed at submit and cannot change", r.ID, f.name)
		}
	}
	return fmt.Errorf("sqlite: update request %s matched no row", r.ID)
}

// putCredential stores e, replacing its request's earlier credential.
func (s *Store) putCredential(ctx context.Context, tx *sql.Tx, e *jit.CredentialEnvelope) error {
	_, err := s.ws.txExec(ctx, tx, upsertCredentialQuery, e.RequestID, e.Recipient, e.Kind, e.Envelope, e.CreatedAt.UnixMicro())
	if isForeignKeyViolation(err) {
		return jit.Errorf(jit.ECodeNotFound, "request %s not found", e.RequestID)
	} else if err != nil {
		return fmt.Errorf("sqlite: store credential of %s: %w", e.RequestID, err)
	}
	return nil
}

func (s *Store) insertApproval(ctx context.Context, tx *sql.Tx, c *jit.Change) error {
	a := c.Approval
	_, err := s.ws.txExec(ctx, tx, insertApprovalQuery, a.RequestID, a.Approver, boolInt(a.Approved), a.Comment, a.At.UnixMicro())
	if isForeignKeyViolation(err) {
		return jit.Errorf(jit.ECodeNotFound, "request %s not found", a.RequestID)
	} else if err != nil {
		return fmt.Errorf("sqlite: insert approval of %s: %w", a.RequestID, err)
	}
	return nil
}

// appendEvents seals events onto the chain after head, inserts them and
// returns the new head. The events are sealed in place.
func (s *Store) appendEvents(ctx context.Context, tx *sql.Tx, head chainHead, events []jit.AuditEvent) (chainHead, error) {
	if len(events) == 0 {
		return head, nil
	}
	for attempt := 0; ; attempt++ {
		h := head
		for i := range events {
			events[i].Seal(h.seq, h.hash)
			h = chainHead{seq: events[i].Seq, hash: events[i].Hash}
		}
		err := s.insertEvent(ctx, tx, &events[0])
		if isPrimaryKeyViolation(err) && attempt == 0 {
			// Another process appended since the head was cached. This
			// transaction holds the write lock, so the head read now is
			// current; reseal from it.
			if head, err = loadHead(ctx, tx); err != nil {
				return chainHead{}, err
			}
			continue
		} else if err != nil {
			return chainHead{}, err
		}
		for i := 1; i < len(events); i++ {
			if err := s.insertEvent(ctx, tx, &events[i]); err != nil {
				return chainHead{}, err
			}
		}
		return h, nil
	}
}

func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, ev *jit.AuditEvent) error {
	details, err := detailsText(ev.Details)
	if err != nil {
		return err
	}
	_, err = s.ws.txExec(ctx, tx, insertEventQuery,
		ev.Seq, ev.Time.UnixMicro(), ev.Actor, ev.Action, ev.RequestID, ev.Reason,
		ev.Source.Kind, ev.Source.IP, ev.Source.UserAgent, details, ev.PrevHash, ev.Hash)
	if err != nil {
		return fmt.Errorf("sqlite: append audit event %d (%s): %w", ev.Seq, ev.Action, err)
	}
	return nil
}

// upsertJob enqueues j; when its key exists, one job remains, due at the
// earlier time, with its attempts, lease and payload kept.
func (s *Store) upsertJob(ctx context.Context, tx *sql.Tx, j jit.Job) error {
	created := j.CreatedAt
	if created.IsZero() {
		created = s.cfg.Clock.Now()
	}
	_, err := s.ws.txExec(ctx, tx, upsertJobQuery,
		j.Key, string(j.Kind), j.RequestID, j.RunAt.UnixMicro(), j.Attempt, j.LastError, created.UnixMicro(), jobPayload(j.Payload))
	if err != nil {
		return fmt.Errorf("sqlite: enqueue job %s: %w", j.Key, err)
	}
	return nil
}

func (s *Store) insertToken(ctx context.Context, tx *sql.Tx, t *jit.Token) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = s.cfg.Clock.Now()
	}
	res, err := s.ws.txExec(ctx, tx, insertTokenQuery,
		t.ID, t.Email, t.Name, t.Hash, created.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: insert token %s: %w", t.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: insert token %s: %w", t.ID, err)
	} else if n == 0 {
		return jit.Errorf(jit.ECodeConflict, "token %s or its hash already exists", t.ID)
	}
	return nil
}
