-- Small versioned records that integrations keep (the Slack app's message
-- positions), by namespace and key. rev starts at 1 and grows by one with
-- each write; writers compare it to detect a concurrent write. updated_at is
-- the store's clock at the last write, for housekeeping.
CREATE TABLE records (
    namespace  text        NOT NULL,
    key        text        NOT NULL,
    value      bytea       NOT NULL,
    rev        bigint      NOT NULL CHECK (rev > 0),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, key)
);

-- DeleteRecords: the stale records of one namespace.
CREATE INDEX records_updated ON records (namespace, updated_at);
