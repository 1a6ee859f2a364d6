package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/internal/privileges"
	"github.com/jitaccess/jit/store/internal/subject"
)

const (
	insertRequestQuery = `INSERT INTO requests (` + requestCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
			$20, $21, $22, $23, $24, $25, $26, 1)
		ON CONFLICT (id) DO NOTHING`
	// The fields fixed at submit are conditions, not assignments: an
	// approval is bound to them (invariant 1), so an update that would
	// change one matches no row and is refused.
	updateRequestQuery = `UPDATE requests SET
			requester_groups = $1, approvers = $2, status = $3, rule = $4, approvals_required = $5,
			auto_approved = $6, updated_at = $7, lapses_at = $8, granted_at = $9, expires_at = $10,
			ended_at = $11, ended_by = $12, end_reason = $13, end_status = $14, handle = $15,
			version = version + 1
		WHERE id = $16 AND version = $17
			AND requester = $18 AND resource = $19 AND access = $20 AND duration_ns = $21
			AND reason = $22 AND extends_id = $23 AND query = $24 AND privileges = $25 AND subject = $26`
	insertApprovalQuery = `INSERT INTO approvals (request_id, approver, approved, comment, at)
		VALUES ($1, $2, $3, $4, $5)`
	lockHeadQuery  = `SELECT seq, hash FROM audit_head FOR UPDATE`
	moveHeadQuery  = `UPDATE audit_head SET seq = $1, hash = $2`
	deleteJobQuery = `DELETE FROM jobs WHERE key = $1`
	// A merge keeps the existing row (its ID, attempts, last error, lease
	// and payload) and only moves it earlier.
	upsertJobQuery = `INSERT INTO jobs (key, kind, request_id, run_at, attempt, last_error,
			lease_owner, lease_until, created_at, payload)
		VALUES ($1, $2, $3, $4, $5, $6, '', NULL, $7, $8)
		ON CONFLICT (key) DO UPDATE SET run_at = LEAST(jobs.run_at, excluded.run_at)`
	insertTokenQuery = `INSERT INTO tokens (id, email, name, hash, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`
	// A person has one public key; registering another replaces it.
	upsertPublicKeyQuery = `INSERT INTO public_keys (email, public_key, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (email) DO UPDATE SET public_key = excluded.public_key, created_at = excluded.created_at`
	// A request has one credential: a grant that runs again issues a new
	// one, which replaces the old.
	upsertCredentialQuery = `INSERT INTO credentials (request_id, recipient, kind, envelope, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (request_id) DO UPDATE SET recipient = excluded.recipient, kind = excluded.kind,
			envelope = excluded.envelope, created_at = excluded.created_at`
)

// Apply commits c in one transaction: the request (inserted when its
// Version is 0, else updated only if the stored version still equals
// Version), the approval, the audit events (sealed onto the chain after
// its current head, read and locked inside the transaction), job deletions
// and then job enqueues (so a change may replace a job by deleting and
// enqueueing its key), the token, the public key (replacing its person's
// earlier one) and the credential (replacing its request's earlier one).
//
// Concurrent Applies on one Store share a transaction and its commit
// (group commit, see writer.go); each keeps this all-or-nothing contract,
// and Apply returns only once the transaction holding c has committed.
//
// On success c.Request.Version is the stored version and c.Events hold
// their sealed Seq, PrevHash and Hash. On any error nothing is written and
// c is unchanged. Apply is not idempotent: applying a change again inserts
// its events again (or fails with ECodeConflict on its request's version).
//
// Errors:
//   - ECodeInvalid when c is malformed (checked before anything is written);
//     this includes an update that would change a field fixed at submit
//     (requester, resource, access, duration, reason, extends_id, query,
//     privileges), and a credential that is not an encrypted envelope.
//   - ECodeConflict when a request with c.Request.ID already exists (insert),
//     the stored version differs from c.Request.Version (update), the
//     token's ID or hash is taken, or PostgreSQL aborted the transaction
//     because of a concurrent one (deadlock, serialization failure).
//   - ECodeNotFound when the request to update, the approval's request or
//     the credential's request does not exist.
//   - ECodeUnavailable when the database cannot be reached or the
//     connection is lost (see Unreachable). Nothing was written, except
//     when the connection was lost while committing: then the change may
//     have been committed whole, and a read after reconnecting tells.
//   - ctx's error, wrapped (ECodeUnavailable for a deadline), when ctx
//     ends before a batch took c; once a batch has taken c, Apply waits
//     for its outcome (at most 30s).
//   - Anything else is internal.
func (s *Store) Apply(ctx context.Context, c *jit.Change) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.write(ctx, &applyOp{c: c})
}

// queueJobs queues the job deletions and enqueues of ops, key by key in
// key order: for each key, the ops' deletions and enqueues of it in op
// order, each op's deletion before its enqueues. Per change this is
// "deletes before enqueues", and the result is that of applying the ops one
// after another; across keys, every transaction locks job rows in the same
// order, so two batches touching the same keys queue instead of
// deadlocking.
func (s *Store) queueJobs(b *pgx.Batch, ops []*applyOp) {
	type jobWrite struct {
		key string
		del bool
		job jit.Job
	}
	var writes []jobWrite
	for _, op := range ops {
		c := op.c
		del := make(map[string]bool, len(c.DeleteJobs))
		for _, k := range c.DeleteJobs {
			if !del[k] {
				writes = append(writes, jobWrite{key: k, del: true})
			}
			del[k] = true
		}
		for _, j := range c.Enqueue {
			writes = append(writes, jobWrite{key: j.Key, job: j})
		}
	}
	if len(writes) == 0 {
		return
	}
	// Stable: per key, ops stay in order and each op's deletion (queued
	// first above) stays before its enqueues.
	sort.SliceStable(writes, func(i, j int) bool { return writes[i].key < writes[j].key })
	now := s.cfg.Clock.Now()
	for _, w := range writes {
		if w.del {
			b.Queue(deleteJobQuery, w.key)
			continue
		}
		j := w.job
		created := j.CreatedAt
		if created.IsZero() {
			created = now
		}
		b.Queue(upsertJobQuery, j.Key, string(j.Kind), j.RequestID, ts(j.RunAt), j.Attempt, j.LastError, ts(created), jobPayload(j.Payload))
	}
}

// insertEventsQuery appends a batch's sealed events in one statement:
// each parameter is one column, as an array in chain order. One statement
// instead of one per event spares PostgreSQL a parse, bind and execute per
// event, which is most of what an insert costs it.
const insertEventsQuery = `INSERT INTO audit (seq, time, actor, action, request_id, reason,
		source_kind, source_ip, source_ua, details, prev_hash, hash)
	SELECT seq, time, actor, action, request_id, reason, source_kind, source_ip, source_ua,
		details::jsonb, prev_hash, hash
	FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
		AS e(seq, time, actor, action, request_id, reason, source_kind, source_ip, source_ua,
			details, prev_hash, hash)`

// queueEvents queues the insert of sealed events, in chain order.
func queueEvents(b *pgx.Batch, evs []*jit.AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	var (
		seqs                                = make([]int64, n)
		times                               = make([]time.Time, n)
		actors, actions, ids, reasons       = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		kinds, ips, uas, prevHashes, hashes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		details                             = make([]*string, n)
	)
	for i, ev := range evs {
		d, err := detailsJSON(ev.Details)
		if err != nil {
			return err
		}
		if s, ok := d.(string); ok {
			details[i] = &s
		}
		seqs[i], times[i] = ev.Seq, ev.Time.UTC().Truncate(time.Microsecond)
		actors[i], actions[i], ids[i], reasons[i] = ev.Actor, ev.Action, ev.RequestID, ev.Reason
		kinds[i], ips[i], uas[i] = ev.Source.Kind, ev.Source.IP, ev.Source.UserAgent
		prevHashes[i], hashes[i] = ev.PrevHash, ev.Hash
	}
	b.Queue(insertEventsQuery, seqs, times, actors, actions, ids, reasons, kinds, ips, uas, details, prevHashes, hashes)
	return nil
}

// requestWrite returns the statement and arguments that insert r (when
// its Version is 0) or update it; either affects exactly one row when it
// succeeds. The last two arguments are the stored forms of r.Privileges
// and of r's subject (its target fields).
func requestWrite(r *jit.Request) (string, []any, error) {
	var handle []byte
	if len(r.Handle) > 0 {
		handle = r.Handle
	}
	groups, approvers := nonNil(r.RequesterGroups), nonNil(r.Approvers)
	privs, err := privileges.Encode(r.Privileges)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: request %s: %w", r.ID, err)
	}
	subj, err := subject.Encode(r)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: request %s: %w", r.ID, err)
	}
	if r.Version == 0 {
		return insertRequestQuery, []any{
			r.ID, r.Requester, r.Resource, r.Access, int64(r.Duration), r.Reason, r.ExtendsID,
			groups, approvers, string(r.Status), r.Rule, r.ApprovalsRequired, r.AutoApproved,
			ts(r.CreatedAt), ts(r.UpdatedAt), ts(r.LapsesAt),
			tsPtr(r.GrantedAt), tsPtr(r.ExpiresAt), tsPtr(r.EndedAt),
			r.EndedBy, r.EndReason, string(r.EndStatus), handle, r.Query, privs, subj}, nil
	}
	return updateRequestQuery, []any{
		groups, approvers, string(r.Status), r.Rule, r.ApprovalsRequired,
		r.AutoApproved, ts(r.UpdatedAt), ts(r.LapsesAt),
		tsPtr(r.GrantedAt), tsPtr(r.ExpiresAt), tsPtr(r.EndedAt),
		r.EndedBy, r.EndReason, string(r.EndStatus), handle,
		r.ID, r.Version,
		r.Requester, r.Resource, r.Access, int64(r.Duration), r.Reason, r.ExtendsID, r.Query, privs, subj}, nil
}

// putRequest inserts or updates r and returns its new stored version.
func (s *Store) putRequest(ctx context.Context, tx pgx.Tx, r *jit.Request) (int, error) {
	query, args, err := requestWrite(r)
	if err != nil {
		return 0, err
	}
	ct, err := tx.Exec(ctx, query, args...)
	if r.Version == 0 {
		if err != nil {
			return 0, mapWriteErr("insert request "+r.ID, err)
		}
		if ct.RowsAffected() == 0 {
			return 0, jit.Errorf(jit.ECodeConflict, "request %s already exists", r.ID)
		}
		return 1, nil
	}
	if err != nil {
		return 0, mapWriteErr("update request "+r.ID, err)
	}
	if ct.RowsAffected() == 1 {
		return r.Version + 1, nil
	}
	return 0, explainUpdateMiss(ctx, tx, r, args[len(args)-2], args[len(args)-1])
}

// explainUpdateMiss says why an update matched no row. Under READ
// COMMITTED it reads the latest committed row, the one the update was
// checked against. privs is the stored form of r.Privileges the update
// compared, and is compared here the same way (as jsonb); subj is the
// stored form of r's subject, compared as text.
func explainUpdateMiss(ctx context.Context, tx pgx.Tx, r *jit.Request, privs, subj any) error {
	var (
		version                                            int
		requester, resource, access, reason, extend, query string
		samePrivs, sameSubj                                bool
		duration                                           int64
	)
	err := tx.QueryRow(ctx, `SELECT version, requester, resource, access, duration_ns, reason, extends_id,
			query, privileges = $2, subject = $3
		FROM requests WHERE id = $1`, r.ID, privs, subj).Scan(&version, &requester, &resource, &access, &duration, &reason, &extend,
		&query, &samePrivs, &sameSubj)
	if errors.Is(err, pgx.ErrNoRows) {
		return jit.Errorf(jit.ECodeNotFound, "request %s not found", r.ID)
	} else if err != nil {
		return mapReadErr("update request "+r.ID, err)
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
		{"privileges", samePrivs},
		{"target", sameSubj},
	} {
		if !f.same {
			return jit.FieldErrorf(f.name, jit.ECodeInvalid, "request %s: %s is fixed at submit and cannot change", r.ID, f.name)
		}
	}
	return fmt.Errorf("postgres: update request %s matched no row", r.ID)
}

// nonNil returns v, or an empty slice for nil, because a nil slice is sent
// as NULL and the array columns are NOT NULL.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
