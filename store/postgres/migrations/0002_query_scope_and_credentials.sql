-- Query-scoped requests, and credentials delivered encrypted.
--
-- query and privileges are fixed at submit, like requester or reason: an
-- approval is bound to exactly them. Requests stored before this migration
-- asked for no query and no privileges. Constant defaults, so adding the
-- columns rewrites no rows.
ALTER TABLE requests
    ADD COLUMN query      text  NOT NULL DEFAULT '',
    ADD COLUMN privileges jsonb NOT NULL DEFAULT '[]'; -- array of privileges

-- Each person's public key (an age recipient), to which the credentials
-- issued for them are encrypted. Registering a key again replaces it.
CREATE TABLE public_keys (
    email      text        PRIMARY KEY,
    public_key text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- The credential a grant issued, as an armored age file encrypted to the
-- requester's public key: the store never holds it in the clear. A grant
-- that runs again replaces it.
CREATE TABLE credentials (
    request_id text        PRIMARY KEY REFERENCES requests (id),
    recipient  text        NOT NULL,
    kind       text        NOT NULL,
    envelope   text        NOT NULL,
    created_at timestamptz NOT NULL
);
