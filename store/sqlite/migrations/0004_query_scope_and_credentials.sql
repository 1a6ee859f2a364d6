-- Query-scoped requests, and credentials delivered encrypted.
--
-- query and privileges are fixed at submit, like requester or reason: an
-- approval is bound to exactly them. Requests stored before this migration
-- asked for no query and no privileges.
ALTER TABLE requests ADD COLUMN query TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN privileges TEXT NOT NULL DEFAULT '[]'; -- JSON array

-- Each person's public key (an age recipient), to which the credentials
-- issued for them are encrypted. Registering a key again replaces it.
CREATE TABLE public_keys (
    email      TEXT    PRIMARY KEY,
    public_key TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The credential a grant issued, as an armored age file encrypted to the
-- requester's public key: the store never holds it in the clear. A grant
-- that runs again replaces it.
CREATE TABLE credentials (
    request_id TEXT    PRIMARY KEY REFERENCES requests (id),
    recipient  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    envelope   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
