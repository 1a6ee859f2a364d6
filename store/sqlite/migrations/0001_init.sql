-- Initial schema. Times are INTEGER unix microseconds (UTC): the audit hash
-- covers times at microsecond precision, so storing exactly that keeps what
-- was hashed and what is read back identical. Nullable times are NULL when
-- unset. STRICT tables make SQLite refuse values of the wrong type instead of
-- silently converting them.

CREATE TABLE requests (
    id                 TEXT    PRIMARY KEY,
    requester          TEXT    NOT NULL,
    resource           TEXT    NOT NULL,
    access             TEXT    NOT NULL,
    duration_ns        INTEGER NOT NULL,
    reason             TEXT    NOT NULL,
    extends_id         TEXT    NOT NULL,
    requester_groups   TEXT    NOT NULL, -- JSON array
    approvers          TEXT    NOT NULL, -- JSON array
    status             TEXT    NOT NULL,
    rule               TEXT    NOT NULL,
    approvals_required INTEGER NOT NULL,
    auto_approved      INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER,
    lapses_at          INTEGER,
    granted_at         INTEGER,
    expires_at         INTEGER,
    ended_at           INTEGER,
    ended_by           TEXT    NOT NULL,
    end_reason         TEXT    NOT NULL,
    end_status         TEXT    NOT NULL,
    handle             BLOB,
    version            INTEGER NOT NULL
) STRICT;

-- Listing everything newest first, and paging by (created_at, id).
CREATE INDEX requests_created ON requests (created_at, id);
-- "My requests", newest first.
CREATE INDEX requests_requester_created ON requests (requester, created_at, id);
-- Status filters (pending reviews, active access) and CountRequests.
CREATE INDEX requests_status ON requests (status, created_at, id);
-- FindActive: one requester, one resource, status active, newest.
CREATE INDEX requests_active ON requests (requester, resource, status, created_at, id);
-- ExpiresBefore (overdue and expiring access).
CREATE INDEX requests_expires ON requests (expires_at);

CREATE TABLE approvals (
    id         INTEGER PRIMARY KEY,
    request_id TEXT    NOT NULL REFERENCES requests (id),
    approver   TEXT    NOT NULL,
    approved   INTEGER NOT NULL,
    comment    TEXT    NOT NULL,
    at         INTEGER NOT NULL
) STRICT;

CREATE INDEX approvals_request ON approvals (request_id, at, id);

-- The hash-chained audit log. seq is the chain position; rows are only ever
-- appended.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    source_kind TEXT    NOT NULL,
    source_ip   TEXT    NOT NULL,
    source_ua   TEXT    NOT NULL,
    details     TEXT,             -- JSON object, NULL when empty
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_request ON audit (request_id, seq);
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_action ON audit (action, seq);
CREATE INDEX audit_time ON audit (time);

-- The application never changes or removes audit rows. These triggers turn
-- a mistaken UPDATE or DELETE into an error; they do not stop someone with
-- write access to the file (who can drop them), which is what the hash
-- chain is for.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

-- Durable jobs. AUTOINCREMENT so that an ID is never reused: a worker that
-- still holds the ID of a finished job must not touch a newer one.
--
-- due_at is when the job can next be claimed: its run_at, or the end of its
-- lease while a lease runs past run_at. A job is claimable at t exactly when
-- due_at <= t (run_at <= t and the lease is free or past), so claiming is a
-- range scan of the jobs_due index that touches only claimable rows, and
-- NextJobAt is min(due_at), one index lookup. Ties (such as leases that
-- ended together) go by run_at.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    run_at      INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    last_error  TEXT    NOT NULL,
    lease_owner TEXT    NOT NULL,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL
        GENERATED ALWAYS AS (max(run_at, coalesce(lease_until, run_at))) STORED
) STRICT;

CREATE INDEX jobs_due ON jobs (due_at, run_at, id);
CREATE INDEX jobs_run ON jobs (run_at, id);
CREATE INDEX jobs_kind_run ON jobs (kind, run_at, id);

-- API tokens: only the SHA-256 of a token is stored.
CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    email      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;
