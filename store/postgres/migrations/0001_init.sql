-- Initial schema. Times are timestamptz, which PostgreSQL keeps at
-- microsecond precision: the audit hash covers times at microseconds, so what
-- is stored is exactly what was hashed. Nullable times are NULL when unset.

CREATE TABLE requests (
    id                 text        PRIMARY KEY,
    requester          text        NOT NULL,
    resource           text        NOT NULL,
    access             text        NOT NULL,
    duration_ns        bigint      NOT NULL,
    reason             text        NOT NULL,
    extends_id         text        NOT NULL,
    requester_groups   text[]      NOT NULL,
    approvers          text[]      NOT NULL,
    status             text        NOT NULL,
    rule               text        NOT NULL,
    approvals_required integer     NOT NULL,
    auto_approved      boolean     NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz,
    lapses_at          timestamptz,
    granted_at         timestamptz,
    expires_at         timestamptz,
    ended_at           timestamptz,
    ended_by           text        NOT NULL,
    end_reason         text        NOT NULL,
    end_status         text        NOT NULL,
    handle             bytea,
    version            integer     NOT NULL CHECK (version > 0)
);

-- Listing everything newest first, and paging by (created_at, id).
CREATE INDEX requests_created ON requests (created_at, id);
-- "My requests", newest first.
CREATE INDEX requests_requester_created ON requests (requester, created_at, id);
-- Status filters (pending reviews, active access, with ExpiresBefore) and
-- CountRequests.
CREATE INDEX requests_status ON requests (status, created_at, id);
-- FindActive: a request is active once in its life, so a partial index
-- changes twice per request instead of at every status change.
CREATE INDEX requests_active ON requests (requester, resource, created_at, id) WHERE status = 'active';
-- The extensions of a request; few requests are extensions.
CREATE INDEX requests_extends ON requests (extends_id, created_at, id) WHERE extends_id <> '';

CREATE TABLE approvals (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id text        NOT NULL REFERENCES requests (id),
    approver   text        NOT NULL,
    approved   boolean     NOT NULL,
    comment    text        NOT NULL,
    at         timestamptz NOT NULL
);

CREATE INDEX approvals_request ON approvals (request_id, at, id);

-- The hash-chained audit log. seq is the chain position; rows are only ever
-- appended.
CREATE TABLE audit (
    seq         bigint      PRIMARY KEY CHECK (seq > 0),
    time        timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    request_id  text        NOT NULL,
    reason      text        NOT NULL,
    source_kind text        NOT NULL,
    source_ip   text        NOT NULL,
    source_ua   text        NOT NULL,
    details     jsonb,      -- object of strings, NULL when empty
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL
);

CREATE INDEX audit_request ON audit (request_id, seq);
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_action ON audit (action, seq);

-- The head of the chain: one row, the last event's seq and hash. A
-- transaction that appends events locks it (SELECT ... FOR UPDATE), seals
-- its events after it and moves it, all before commit. The row lock
-- serialises appends from every connection and every replica, so the chain
-- stays one chain; a transaction that rolls back leaves the head where it
-- was.
CREATE TABLE audit_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint  NOT NULL,
    hash text    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (true, 0, '');

-- The application never changes or removes audit rows. These triggers turn
-- a mistaken UPDATE, DELETE or TRUNCATE into an error; they do not stop a
-- superuser (who can drop them), which is what the hash chain is for.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END
$$;

CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Durable jobs. An identity column is never reused: a worker that still
-- holds the ID of a finished job must not touch a newer one.
--
-- due_at is when the job can next be claimed: its run_at, or the end of its
-- lease while a lease runs past run_at. A job is claimable at t exactly when
-- due_at <= t (run_at <= t and the lease is free or past), so claiming is a
-- range scan of the jobs_due index that touches only claimable rows, and
-- NextJobAt is min(due_at), one index lookup. Ties (such as leases that
-- ended together) go by run_at.
CREATE TABLE jobs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text        NOT NULL UNIQUE,
    kind        text        NOT NULL,
    request_id  text        NOT NULL,
    run_at      timestamptz NOT NULL,
    attempt     integer     NOT NULL CHECK (attempt >= 0),
    last_error  text        NOT NULL,
    lease_owner text        NOT NULL,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL,
    due_at      timestamptz NOT NULL
        GENERATED ALWAYS AS (GREATEST(run_at, COALESCE(lease_until, run_at))) STORED
);

CREATE INDEX jobs_due ON jobs (due_at, run_at, id);
CREATE INDEX jobs_run ON jobs (run_at, id);

-- API tokens: only the SHA-256 of a token is stored.
CREATE TABLE tokens (
    id         text        PRIMARY KEY,
    email      text        NOT NULL,
    name       text        NOT NULL,
    hash       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
