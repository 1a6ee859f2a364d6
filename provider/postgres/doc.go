// Package postgres is the provider for PostgreSQL databases (type
// "postgres"). For every approved request it creates an ephemeral login
// role with its own random password and exactly the approved privileges,
// and drops it when access ends.
//
// # Settings
//
//	provider: postgres
//	settings:
//	  admin_dsn_env: ORDERS_DB_ADMIN_DSN   # exactly one of admin_dsn_env and admin_dsn_file:
//	  admin_dsn_file: /etc/jit/orders.dsn  #   where the admin role's DSN is read, at first use
//	  host: db.internal        # what people connect to (required)
//	  port: 5432               # default 5432
//	  database: orders         # required; the admin DSN must name this database
//	  sslmode: require         # optional, passed on in the connection information
//	  connection_limit: 5      # per ephemeral role, default 5
//	  scram_iterations: 16     # of the password verifier, default 16
//	  list: false              # default false: see Listing
//	  levels:                  # one entry per access level of the resource
//	    read:  {privileges: [SELECT], schemas: [public, reporting]}
//	    write: {privileges: [SELECT, INSERT, UPDATE, DELETE], schemas: [public]}
//	    admin: {roles: [orders_admin]}
//	  query:                   # optional: enables query-scoped requests
//	    schemas: [public]
//
// A level grants privileges (SELECT, INSERT, UPDATE, DELETE, TRUNCATE,
// REFERENCES, TRIGGER) on every table, view and materialized view of its
// schemas, with USAGE on the schemas, and/or membership of existing roles.
// Every access level of the resource must have a level and every level
// must be an access level. The DSN is read when the provider first
// connects; it never appears in logs, errors or jit's store.
//
// # Roles
//
// A level's privileges are held by a group role that jit creates and owns
// (NOLOGIN, named jit_g_<hash>_<level>, the hash covering database,
// resource and level). Each provider instance brings it in line with the
// settings once, under an advisory lock so that replicas take turns:
// privileges beyond the settings are revoked, the configured ones granted
// (GRANT ... ON ALL TABLES IN SCHEMA), and default privileges set (ALTER
// DEFAULT PRIVILEGES FOR ROLE ... IN SCHEMA ...) for the roles whose
// future tables the admin role may cover: itself, and the owners of the
// schema and of its tables that it is a member of. Tables created later by
// other roles reach the group at the next sync, which every new provider
// instance does (a policy reload or a jitd restart). A level with INSERT
// also gets USAGE on the sequences that its tables' serial and identity
// columns use.
//
// The user of a level grant only becomes a member of the group role. This
// is deliberate: a table's ACL is stored in its pg_class row, and on
// PostgreSQL 15 GRANTs to more than about 2,440 distinct roles on one
// table fail with "row is too big"; concurrent GRANTs on one table
// moreover fail with "tuple concurrently updated" (XX000). Membership has
// neither limit.
//
// User names are "jit_", the requester's email local part (lower-cased,
// [a-z0-9_] only, at most 24 bytes) and 20 hex digits of SHA-256 of the
// request ID: unique per request, at most 63 bytes, readable in
// pg_stat_activity. Every role jit creates carries a JSON comment (COMMENT
// ON ROLE) naming its database, resource and, for users, request ID and
// requester; a role of the expected name without the matching comment is
// never used, changed or dropped. Note that role comments, like role
// names, are visible to every user of the server.
//
// The role is created with LOGIN, INHERIT, no other attribute, CONNECTION
// LIMIT connection_limit, VALID UNTIL the grant's expiry and as password a
// SCRAM-SHA-256 verifier computed by jit (scram_iterations iterations,
// default 16, and a 16-byte salt; see scram.go for why so few):
// the password, 32 random bytes in URL-safe base64, is never sent to the
// server and exists only in the credential returned to the requester. A
// statement log (log_statement = ddl) shows the verifier, not the
// password. Granting a request again (the outcome of the first attempt was
// lost) does not create a second role: it gives the existing one a new
// password and expiry and returns the new password.
//
// # Listing
//
// With list: true the provider implements provider.Lister: List reports
// every user role whose comment is jit's marker naming this database and
// resource and whose name is the one Grant derives from the marker's
// request ID and requester, with the marker's request ID, requester and
// level and the role's VALID UNTIL. Roles without that marker, whatever
// their names, are never listed. It is off by default because the marker
// names the database and the resource, not the jit installation: two
// installations serving one database under the same resource name would
// each revoke the other's roles as orphans.
//
// # Query-scoped requests
//
// With a query setting, Scope derives the privileges a query needs with
// PostgreSQL's own grammar (package sqlscope) and checks them against the
// catalogue: every table must exist in an allowed schema and every named
// column must exist. Grant then gives the user exactly those privileges,
// directly (GRANT UPDATE (total) ON TABLE public.orders ...), USAGE on
// the sequences that fill in defaults of tables it inserts into, and USAGE
// on the allowed schemas through a group role (jit_q_<hash>). These GRANTs
// go to the tables themselves, so at most about 2,440 query-scoped grants
// can be live on one table at once (see above); they are serialised per
// table by advisory locks.
//
// # Revoking
//
// Revoke sets NOLOGIN (committed at once), terminates the role's sessions
// on every database of the server and waits for them to end, then
// reassigns what the role owns to the admin role, drops its privileges
// (DROP OWNED) and drops it. Those two statements need the privileges of
// the role being dropped: an admin role that is not a superuser first
// grants itself membership of it (CREATEROLE allows that), which DROP
// ROLE removes again. REASSIGN OWNED and DROP OWNED act on the
// admin DSN's database only: should an ephemeral user have created
// objects in another database (possible only where PUBLIC may create
// there), DROP ROLE fails and Revoke reports it, with the role already
// unable to log in.
//
// # Setting up the admin role
//
// The admin DSN's role needs:
//
//   - LOGIN and CREATEROLE, to create, alter, comment on and drop roles and
//     to grant role memberships;
//   - the right to grant each level's privileges: ownership of the schemas
//     and tables, or the privileges and USAGE on the schemas WITH GRANT
//     OPTION (a GRANT without that right only warns; jit checks that every
//     grant took effect and reports what is missing);
//   - for levels with roles: on PostgreSQL 15, CREATEROLE suffices for
//     roles that are not superusers (superuser roles are refused); from
//     PostgreSQL 16, ADMIN OPTION on those roles;
//   - membership of pg_signal_backend (or superuser), to terminate the
//     sessions of the users it revokes.
//
// For example, with the application's tables owned by orders_owner:
//
//	CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD '...';
//	GRANT pg_signal_backend TO jit_admin;
//	GRANT orders_owner TO jit_admin;   -- may grant on its tables, and set
//	                                   -- default privileges for its new ones
//
// On PostgreSQL 15 and older, CREATEROLE lets a role alter and drop every
// role that is not a superuser, not only those it created, and grant
// itself their memberships: treat the admin DSN as a near-superuser
// credential. PostgreSQL 16 limits CREATEROLE to roles the holder has
// ADMIN OPTION on (which it gets on the roles it creates).
//
// This was measured and tested on PostgreSQL 15; PostgreSQL 16 changed
// how CREATEROLE and role memberships work (see above).
//
// The ephemeral users must log in with a password: pg_hba.conf must
// select scram-sha-256 (or md5) for them, from where people connect.
//
// # What PostgreSQL enforces by itself
//
// VALID UNTIL makes the server refuse new logins after the expiry even
// when jitd is down. It is checked only at password authentication (not
// for trust, peer or certificate logins) and only when a session starts:
// a session opened before the expiry keeps running. Sessions are ended by
// jit, at revoke. CONNECTION LIMIT bounds the user's concurrent sessions.
//
// # Errors
//
// Grant and Revoke wrap errors with provider.NotApplied when the database
// certainly was not changed: an invalid request, an unreadable admin DSN,
// no connection, or a failure before the transaction committed (an
// uncommitted transaction is rolled back). Transactions aborted for a
// conflict with another one (deadlock, serialization failure, "tuple
// concurrently updated") are retried a few times.
package postgres
