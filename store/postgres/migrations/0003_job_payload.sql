-- A job's own data (JSON), for kinds that need more than a request ID.
-- NULL when the job has none, as every job stored before this migration.
-- A nullable column without a default is added without rewriting rows.
-- bytea rather than jsonb: the store passes the bytes through as given.
ALTER TABLE jobs ADD COLUMN payload bytea;
