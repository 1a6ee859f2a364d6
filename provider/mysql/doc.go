// Package mysql is the provider for MySQL 8 and MariaDB (type "mysql"). For
// every approved request it creates a database account of its own, with a
// random password and exactly the approved privileges, and drops it when
// the access ends.
//
// # Settings
//
//	provider: mysql
//	settings:
//	  dialect: mariadb                  # or mysql (MySQL 8); default mariadb
//	  admin_dsn_env: BILLING_DB_ADMIN_DSN   # exactly one of admin_dsn_env and
//	  admin_dsn_file: /etc/jit/billing.dsn  # admin_dsn_file: a go-sql-driver DSN
//	  host: db.internal                 # what people connect to (required)
//	  port: 3306                        # default 3306
//	  database: billing                 # required: where levels apply by default
//	  user_host: "%"                    # host part of created accounts (default "%")
//	  max_user_connections: 5           # default 5
//	  guard_database: jit_guard         # holds the expiry events (default jit_guard)
//	  expiry_guard: required            # required | best_effort | off
//	  levels:
//	    read:  {privileges: [SELECT], databases: [billing]}
//	    write: {privileges: [SELECT, INSERT, UPDATE, DELETE]}  # databases default to [database]
//	    admin: {roles: [billing_admin]} # existing roles, granted and made default
//	  query: {databases: [billing]}     # optional: enables query-scoped requests
//
// Every access level of the resource needs an entry under levels, and every
// entry must be an access level. A level has privileges (on each of its
// databases), roles, or both. The privileges a level may list are SELECT,
// INSERT, UPDATE, DELETE, EXECUTE, SHOW VIEW and CREATE TEMPORARY TABLES:
// reading and changing data and running existing routines, nothing that
// changes the schema, other accounts or the server. A level that needs more
// names a role that the database's owners define. MariaDB gives an account
// one default role, so there a level has at most one role; with
// dialect: mysql a role name means the role 'name'@'%'.
//
// The admin DSN is read when the policy is loaded (it is never logged or
// shown in an error); nothing connects until the first call. Whatever the
// DSN says, the provider's sessions use utf8mb4, a sql_mode without
// NO_BACKSLASH_ESCAPES, the time zone +00:00 and no multi-statements,
// because the SQL it writes depends on them. The DSN needs no database.
//
// # Accounts
//
// An account is named "jit_", the requester's email local part reduced to
// [a-z0-9_] and cut to 11 characters, "_", and 16 characters of a hash of
// the request ID: at most 32 characters, the MySQL 8 limit, used for
// MariaDB too. The name depends only on the request, so Revoke and Verify
// find the account without the stored handle ({"user", "host"}), and
// nothing else from a request reaches SQL: identifiers are backquoted
// (backquotes doubled), values are string literals (quotes doubled,
// backslashes and control characters escaped), database names of
// database-level grants have their _ and % wildcards escaped so that a
// grant covers exactly the named database. The password is 32 random
// bytes in URL-safe base64 plus a fixed ".Jt7", which satisfies the default
// rules of password-validation plugins. The credential is Kind "password"
// with Info dialect, host, port, database and user.
//
// A grant runs, on one connection:
//
//	CREATE OR REPLACE EVENT `jit_guard`.`expire_<user>` ON SCHEDULE AT '<expiry, UTC>'
//	    ON COMPLETION NOT PRESERVE DO CALL `jit_guard`.`jit_expire_v1`('<user>', '<host>')
//	CREATE USER '<user>'@'<host>' IDENTIFIED BY '<password>' WITH MAX_USER_CONNECTIONS 5
//	GRANT SELECT ON `billing`.* TO '<user>'@'<host>'
//	GRANT `billing_admin` TO ...; SET DEFAULT ROLE `billing_admin` FOR ...
//
// (with dialect: mysql, CREATE EVENT IF NOT EXISTS then ALTER EVENT, roles
// written 'name'@'%', and SET DEFAULT ROLE ... TO). The event comes first,
// so an account never exists without its guard. Granting a request again
// sets a new password on the existing account and returns it. A
// query-scoped request is granted exactly its privileges, column by column
// where it names columns (GRANT UPDATE (`total`) ON `billing`.`orders`),
// on tables in query.databases only.
//
// Revoke locks the account (ALTER USER ... ACCOUNT LOCK), kills each of its
// sessions found in information_schema.PROCESSLIST (KILL CONNECTION: a
// dropped account's open sessions would otherwise go on), drops it (DROP
// USER IF EXISTS), kills again any session that was still logging in, and
// drops the event. Verify reports the account present while it exists in
// mysql.global_priv (MariaDB) or mysql.user (MySQL), and its expiry as the
// event's scheduled time.
//
// # What the database enforces by itself
//
// Neither MariaDB nor MySQL 8 has PostgreSQL's VALID UNTIL: an account has
// no end time of its own (PASSWORD EXPIRE INTERVAL counts whole days and
// only forces a password change). The provider therefore gives every grant
// an expiry guard in the target: a one-shot event in guard_database,
// scheduled at the expiry, that calls the procedure jit_expire_v1, which
// locks the account, kills its sessions, drops it and kills once more. It
// runs in the server, so access ends at its time even when jitd is down,
// as long as the server's event scheduler runs. In both dialects the
// server also enforces max_user_connections and, once locked, refuses new
// logins. Events are not run on replicas (they replicate disabled); the
// DROP USER the primary runs is what replicates.
//
// The event scheduler is OFF by default in MariaDB and ON by default in
// MySQL 8. Before each grant the provider reads @@GLOBAL.event_scheduler
// and, when it is OFF, tries SET GLOBAL event_scheduler = ON. expiry_guard
// says what happens when the scheduler does not run:
//
//   - required (default): Grant fails, nothing created (the error is
//     NotApplied and names the fix: event_scheduler=ON in the server's
//     configuration, or the SUPER privilege for jit's admin account).
//   - best_effort: the grant and its event are made anyway; the event
//     fires once the scheduler runs; until then only jit's scheduler
//     ends the access.
//   - off: no events and no guard database; jit's scheduler alone ends
//     the access. For admin accounts that may not create events.
//
// guard_database and the procedure are created by the first grant that
// finds them missing, under GET_LOCK so that replicas of jitd do not race.
// The event and the procedure run with the privileges of their definer,
// the admin account: if that account is dropped, pending guards fail.
//
// # The admin account
//
// The account of the admin DSN needs, on MariaDB 10.11 (checked by the
// tests, which run the provider with exactly these):
//
//	GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO jit;   -- accounts; see and kill their sessions
//	GRANT SELECT ON mysql.global_priv TO jit;                     -- Verify
//	GRANT SELECT, INSERT, UPDATE, DELETE ON `billing`.* TO jit WITH GRANT OPTION;
//	                                -- every privilege the levels (and query-scoped grants) give, on each database
//	GRANT CREATE, EVENT, CREATE ROUTINE ON `jit_guard`.* TO jit;  -- CREATE only while jit_guard does not exist
//
// and for levels with roles, each role WITH ADMIN OPTION (GRANT
// billing_admin TO jit WITH ADMIN OPTION) plus UPDATE ON mysql.*, which
// MariaDB requires for SET DEFAULT ROLE ... FOR another account (and which
// lets the account change any grant: prefer privileges in levels where
// that matters). Starting a stopped event scheduler needs SUPER. The
// procedure's creator gets EXECUTE on it automatically when
// automatic_sp_privileges is ON (the default); otherwise also grant
// EXECUTE ON `jit_guard`.*.
//
// On MySQL 8 (from the MySQL 8.0 reference manual, not run here): CREATE
// USER, PROCESS and CONNECTION_ADMIN globally, SELECT ON mysql.user, the
// levels' privileges WITH GRANT OPTION, CREATE, EVENT and CREATE ROUTINE on
// guard_database, each role WITH ADMIN OPTION (or ROLE_ADMIN; SET DEFAULT
// ROLE for other accounts is covered by CREATE USER), and
// SYSTEM_VARIABLES_ADMIN only to let jit start the event scheduler. New
// MySQL 8 accounts use caching_sha2_password: clients connecting without
// TLS need the server's RSA key (mysql --get-server-public-key).
package mysql
