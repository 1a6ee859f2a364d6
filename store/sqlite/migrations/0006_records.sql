-- Small versioned records that integrations keep (the Slack app's message
-- positions), by namespace and key. rev starts at 1 and grows by one with
-- each write; writers compare it to detect a concurrent write. updated_at is
-- the store's clock at the last write (Unix microseconds), for housekeeping.
CREATE TABLE records (
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    rev        INTEGER NOT NULL CHECK (rev > 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) STRICT;

-- DeleteRecords: the stale records of one namespace.
CREATE INDEX records_updated ON records (namespace, updated_at);
