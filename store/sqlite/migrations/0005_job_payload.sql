-- A job's own data (JSON), for kinds that need more than a request ID.
-- NULL when the job has none, as every job stored before this migration.
-- A STRICT table takes a BLOB column; ADD COLUMN of a nullable column
-- without a default rewrites no rows.
ALTER TABLE jobs ADD COLUMN payload BLOB;
