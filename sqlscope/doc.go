// Package sqlscope derives, from a SQL query a person wants to run, exactly
// the table privileges the query needs, so that a database user can be
// granted those and nothing more for a query-scoped request. It backs the
// provider.Scoper capability of the PostgreSQL and MySQL providers.
//
// Postgres parses with the PostgreSQL server's own grammar (libpg_query);
// MySQL parses with a MySQL grammar (TiDB's parser). Both walk the syntax
// tree and return one jit.Privilege per (action, schema, table), columns
// merged, sorted by schema, table, then SELECT, INSERT, UPDATE, DELETE.
//
// # What is derived
//
//   - Every table read (FROM, JOIN, subqueries anywhere, UNION/INTERSECT/
//     EXCEPT, LATERAL, CTE bodies, INSERT ... SELECT, UPDATE ... FROM,
//     DELETE ... USING) gets table-level SELECT. A CTE name is not a table
//     where its WITH is in scope.
//   - INSERT gets INSERT on the named columns (the whole table when none
//     are named).
//   - UPDATE gets UPDATE on the SET columns; DELETE gets DELETE.
//   - The written table also gets SELECT when the statement reads its
//     columns (WHERE, SET expressions, RETURNING, join conditions), which
//     is how both servers check reads. A column whose table cannot be told
//     without the catalogue (unqualified, in a statement with several
//     tables) counts as a read of the written table: granting too little
//     would only make the query fail.
//   - PostgreSQL: ON CONFLICT with a conflict target (columns or ON
//     CONSTRAINT) reads the target; DO UPDATE adds UPDATE on its SET
//     columns, and reading EXCLUDED counts as reading the target.
//   - MySQL/MariaDB: ON DUPLICATE KEY UPDATE gives UPDATE on the inserted
//     and the SET columns and SELECT on the table; REPLACE gives INSERT and
//     DELETE; a multi-table UPDATE gives UPDATE on each table it sets and
//     SELECT on the others; a multi-table DELETE gives DELETE on each table
//     deleted from and SELECT on every table in it. These follow what the
//     server checks, verified by the package's tests against a live server.
//   - Several statements are merged; transaction control needs nothing.
//     EXPLAIN, with or without ANALYZE, needs what its statement needs.
//
// # What is refused
//
// A query that cannot be scoped exactly is refused with a
// *provider.ScopeError naming the statement and the reason: DDL of every
// kind, GRANT/REVOKE, COPY, LOAD DATA, SELECT INTO and INTO OUTFILE,
// CREATE TABLE AS, LOCK, SET/RESET/SHOW, CALL/DO, LISTEN/NOTIFY,
// VACUUM/ANALYZE, PREPARE/EXECUTE, cursors, MERGE, two-phase commit, row
// locking (FOR UPDATE/FOR SHARE, which needs more than SELECT), system
// catalogues (pg_catalog, pg_* schemas and information_schema; mysql,
// information_schema, performance_schema and sys), MySQL executable
// comments and optimizer hints, variables, and every function, operator
// or cast target not on an allowlist of built-ins known to be free of side
// effects. Names containing invisible or control characters are refused
// so that what an approver reads is what is granted. Queries are capped
// at MaxQueryBytes.
//
// The rule throughout is never to widen: when the scoper is unsure what a
// construct does, it refuses rather than grant something broader than the
// query needs. What it cannot see is left to the server, which still
// checks every privilege: triggers, column defaults (a nextval default
// needs USAGE on its sequence), schema USAGE (PostgreSQL), and
// user-defined overloads of allowed function or operator names for
// argument types the built-ins do not take.
package sqlscope
