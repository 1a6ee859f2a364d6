package mysql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// Dialect names, the values of the dialect setting.
const (
	DialectMariaDB = "mariadb"
	DialectMySQL   = "mysql"
)

// Names of the objects the provider keeps in guard_database. The version
// suffix lets a later release install a changed procedure next to the old
// one instead of altering a routine that pending events still call.
const (
	expireProcedure = "jit_expire_v1"
	// eventTimeFormat is how an event's AT time is written; the session
	// time zone is +00:00, so it is UTC.
	eventTimeFormat = "2006-01-02 15:04:05"
)

// statements builds the SQL text of one dialect. Every identifier goes
// through quoteIdent and every value through quoteString; nothing else
// from a request or a setting is written into a statement.
type statements struct {
	dialect string
}

func (s statements) mariadb() bool { return s.dialect == DialectMariaDB }

// createUser creates the account with its password and connection limit.
// The syntax is the same in both dialects.
func (s statements) createUser(a account, password string, maxConns int) (string, error) {
	return s.userStatement("CREATE USER ", a, password, maxConns)
}

// alterUser sets a new password (and the connection limit) on an account
// that a previous Grant of the same request created: the credential of
// that call was lost, so the retry issues a working one.
func (s statements) alterUser(a account, password string, maxConns int) (string, error) {
	return s.userStatement("ALTER USER ", a, password, maxConns)
}

func (s statements) userStatement(verb string, a account, password string, maxConns int) (string, error) {
	acc, err := a.sql()
	if err != nil {
		return "", err
	}
	pw, err := quoteString(password)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return verb + acc + " IDENTIFIED BY " + pw + " WITH MAX_USER_CONNECTIONS " + strconv.Itoa(maxConns), nil
}

// lockUser stops new logins to the account (MariaDB 10.4.2 and later,
// MySQL 5.7.6 and later; same syntax).
func (s statements) lockUser(a account) (string, error) {
	acc, err := a.sql()
	if err != nil {
		return "", err
	}
	return "ALTER USER IF EXISTS " + acc + " ACCOUNT LOCK", nil
}

// dropUser removes the account; a missing account is not an error.
func (s statements) dropUser(a account) (string, error) {
	acc, err := a.sql()
	if err != nil {
		return "", err
	}
	return "DROP USER IF EXISTS " + acc, nil
}

// kill ends one connection. The ID comes from the server's process list
// and is written as a decimal number.
func (s statements) kill(id uint64) string {
	return "KILL CONNECTION " + strconv.FormatUint(id, 10)
}

// grantDatabase grants database-wide privileges: GRANT SELECT, INSERT ON
// `db`.* TO 'u'@'h'. privileges come from the settings, checked against
// allowedPrivileges, and are keywords, not values.
func (s statements) grantDatabase(privileges []string, database string, a account) (string, error) {
	for _, p := range privileges {
		if !allowedPrivileges[p] {
			return "", fmt.Errorf("privilege %q is not one the provider grants", p)
		}
	}
	db, err := quoteGrantDatabase(database)
	if err != nil {
		return "", err
	}
	acc, err := a.sql()
	if err != nil {
		return "", err
	}
	return "GRANT " + strings.Join(privileges, ", ") + " ON " + db + ".* TO " + acc, nil
}

// quoteGrantDatabase renders the database of a database-level grant. The
// escaped pattern is limited to 64 characters like any name (the server
// refuses longer ones), so a long name with many underscores cannot be
// granted exactly; it is refused rather than granted as a wider pattern.
func quoteGrantDatabase(database string) (string, error) {
	if err := checkIdent(database); err != nil {
		return "", fmt.Errorf("database %q: %w", database, err)
	}
	q, err := quoteIdent(escapeGrantPattern(database))
	if err != nil {
		return "", fmt.Errorf("database %q, with its _, %% and \\ escaped for GRANT: %w", database, err)
	}
	return q, nil
}

// escapeGrantPattern escapes the database name of a database-level grant.
// There the name is a pattern: _ and % are wildcards and \ escapes them,
// so GRANT ... ON `jit_db`.* would also open jitXdb. Escaping \, _ and %
// makes the grant cover exactly the named database; MySQL 8 with
// partial_revokes ON reads the escaped forms as the same literal
// characters. Table-level grants take names literally and need none of
// this.
func escapeGrantPattern(database string) string {
	var b strings.Builder
	for _, r := range database {
		if r == '\\' || r == '_' || r == '%' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// grantTable grants one query-scoped privilege: GRANT UPDATE (`total`) ON
// `billing`.`orders` TO 'u'@'h'. The same in both dialects.
func (s statements) grantTable(p jit.Privilege, a account) (string, error) {
	if !scopedActions[p.Action] {
		return "", fmt.Errorf("action %q is not one a query-scoped grant can have", p.Action)
	}
	if len(p.Columns) > 0 && !columnActions[p.Action] {
		return "", fmt.Errorf("%s cannot be limited to columns", p.Action)
	}
	db, err := quoteIdent(p.Schema)
	if err != nil {
		return "", fmt.Errorf("database %q: %w", p.Schema, err)
	}
	tbl, err := quoteIdent(p.Table)
	if err != nil {
		return "", fmt.Errorf("table %q: %w", p.Table, err)
	}
	acc, err := a.sql()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("GRANT ")
	b.WriteString(p.Action)
	if len(p.Columns) > 0 {
		b.WriteString(" (")
		for i, c := range p.Columns {
			col, err := quoteIdent(c)
			if err != nil {
				return "", fmt.Errorf("column %q: %w", c, err)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(col)
		}
		b.WriteString(")")
	}
	b.WriteString(" ON " + db + "." + tbl + " TO " + acc)
	return b.String(), nil
}

// role renders a role name. In MariaDB a role has no host and is written
// as an identifier; in MySQL 8 a role is an account, written 'name'@'%'
// (the host a role gets when CREATE ROLE is given a bare name).
func (s statements) role(name string) (string, error) {
	if s.mariadb() {
		return quoteIdent(name)
	}
	return account{User: name, Host: "%"}.sql()
}

// grantRoles grants the level's roles and makes them the account's
// default roles, so that they are active from the first login.
//
// MariaDB: GRANT `r` TO 'u'@'h'; SET DEFAULT ROLE `r` FOR 'u'@'h' (one
// default role per account, so a level has at most one role there).
// MySQL 8: GRANT 'r'@'%', ... TO 'u'@'h'; SET DEFAULT ROLE 'r'@'%', ...
// TO 'u'@'h'.
func (s statements) grantRoles(roles []string, a account) ([]string, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	acc, err := a.sql()
	if err != nil {
		return nil, err
	}
	quoted := make([]string, 0, len(roles))
	for _, r := range roles {
		q, err := s.role(r)
		if err != nil {
			return nil, fmt.Errorf("role %q: %w", r, err)
		}
		quoted = append(quoted, q)
	}
	if s.mariadb() {
		if len(quoted) > 1 {
			return nil, fmt.Errorf("MariaDB accounts have one default role, got %d roles", len(quoted))
		}
		return []string{
			"GRANT " + quoted[0] + " TO " + acc,
			"SET DEFAULT ROLE " + quoted[0] + " FOR " + acc,
		}, nil
	}
	list := strings.Join(quoted, ", ")
	return []string{
		"GRANT " + list + " TO " + acc,
		"SET DEFAULT ROLE " + list + " TO " + acc,
	}, nil
}

// createEvent schedules the one-shot expiry event of an account. at is
// rounded up to a whole second (events have second precision, and the
// guard must not end access before its time) and written in UTC, the
// provider's session time zone, which the server stores with the event.
//
// MariaDB replaces an existing event atomically (CREATE OR REPLACE
// EVENT). MySQL 8 has no OR REPLACE for events, so it creates the event if
// it is missing and then sets its schedule and body with ALTER EVENT:
// there is never a moment without the event, as there would be between a
// DROP EVENT and a CREATE EVENT.
func (s statements) createEvent(guardDB string, a account, at time.Time) ([]string, error) {
	db, err := quoteIdent(guardDB)
	if err != nil {
		return nil, fmt.Errorf("guard database %q: %w", guardDB, err)
	}
	ev, err := quoteIdent(eventName(a.User))
	if err != nil {
		return nil, err
	}
	proc, err := quoteIdent(expireProcedure)
	if err != nil {
		return nil, err
	}
	user, err := quoteString(a.User)
	if err != nil {
		return nil, err
	}
	host, err := quoteString(a.Host)
	if err != nil {
		return nil, err
	}
	when, err := quoteString(eventTime(at))
	if err != nil {
		return nil, err
	}
	name := db + "." + ev
	schedule := " ON SCHEDULE AT " + when + " ON COMPLETION NOT PRESERVE"
	body := " DO CALL " + db + "." + proc + "(" + user + ", " + host + ")"
	const comment = " COMMENT 'jit: drops the account at the end of its access'"
	if s.mariadb() {
		return []string{"CREATE OR REPLACE EVENT " + name + schedule + comment + body}, nil
	}
	return []string{
		"CREATE EVENT IF NOT EXISTS " + name + schedule + comment + body,
		"ALTER EVENT " + name + schedule + " ENABLE" + body,
	}, nil
}

// eventTime renders t for an event's AT clause: UTC, rounded up to the
// second so that the event never fires before the access's end.
func eventTime(t time.Time) string {
	t = t.UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return t.Format(eventTimeFormat)
}

// dropEvent removes an account's expiry event.
func (s statements) dropEvent(guardDB string, user string) (string, error) {
	db, err := quoteIdent(guardDB)
	if err != nil {
		return "", fmt.Errorf("guard database %q: %w", guardDB, err)
	}
	ev, err := quoteIdent(eventName(user))
	if err != nil {
		return "", err
	}
	return "DROP EVENT IF EXISTS " + db + "." + ev, nil
}

// createGuardDatabase creates guard_database when it is missing.
func (s statements) createGuardDatabase(guardDB string) (string, error) {
	db, err := quoteIdent(guardDB)
	if err != nil {
		return "", fmt.Errorf("guard database %q: %w", guardDB, err)
	}
	return "CREATE DATABASE IF NOT EXISTS " + db, nil
}

// createExpireProcedure is the routine the expiry events call. It runs
// with the privileges of its definer (the admin account that created it):
//
//  1. ALTER USER ... ACCOUNT LOCK, so that no new session starts;
//  2. KILL CONNECTION for every session of the account in the process
//     list (a dropped account's open sessions would otherwise go on);
//  3. DROP USER IF EXISTS, then the kill loop once more for a session that
//     was still logging in during the first pass.
//
// Account names cannot be variables in ALTER USER or DROP USER, so those
// two are prepared from text built with QUOTE(); the routine stores the
// provider's sql_mode (without NO_BACKSLASH_ESCAPES), under which QUOTE()'s
// backslash escapes are read back as written. Error 1094 (unknown thread)
// is a session that ended by itself between the listing and the KILL.
// The body is valid in MariaDB 10.4+ and MySQL 8.
func (s statements) createExpireProcedure(guardDB string) (string, error) {
	db, err := quoteIdent(guardDB)
	if err != nil {
		return "", fmt.Errorf("guard database %q: %w", guardDB, err)
	}
	proc, err := quoteIdent(expireProcedure)
	if err != nil {
		return "", err
	}
	return "CREATE PROCEDURE " + db + "." + proc + `(IN p_user VARCHAR(80), IN p_host VARCHAR(255))
  MODIFIES SQL DATA
  SQL SECURITY DEFINER
  COMMENT 'jit: locks, disconnects and drops an account whose access has expired'
BEGIN
  DECLARE v_done INT DEFAULT 0;
  DECLARE v_id BIGINT UNSIGNED;
  DECLARE v_pass INT DEFAULT 0;
  DECLARE c_sessions CURSOR FOR
    SELECT ID FROM information_schema.PROCESSLIST
    WHERE CAST(USER AS BINARY) = CAST(p_user AS BINARY) AND ID <> CONNECTION_ID();
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  DECLARE CONTINUE HANDLER FOR 1094 BEGIN END;
  SET @jit_guard_stmt = CONCAT('ALTER USER IF EXISTS ', QUOTE(p_user), '@', QUOTE(p_host), ' ACCOUNT LOCK');
  PREPARE jit_guard_stmt FROM @jit_guard_stmt;
  EXECUTE jit_guard_stmt;
  DEALLOCATE PREPARE jit_guard_stmt;
  WHILE v_pass < 2 DO
    IF v_pass = 1 THEN
      SET @jit_guard_stmt = CONCAT('DROP USER IF EXISTS ', QUOTE(p_user), '@', QUOTE(p_host));
      PREPARE jit_guard_stmt FROM @jit_guard_stmt;
      EXECUTE jit_guard_stmt;
      DEALLOCATE PREPARE jit_guard_stmt;
    END IF;
    SET v_done = 0;
    OPEN c_sessions;
    kill_sessions: LOOP
      FETCH c_sessions INTO v_id;
      IF v_done = 1 THEN
        LEAVE kill_sessions;
      END IF;
      KILL CONNECTION v_id;
    END LOOP;
    CLOSE c_sessions;
    SET v_pass = v_pass + 1;
  END WHILE;
  SET @jit_guard_stmt = NULL;
END`, nil
}

// Read-only queries. They take their values as parameters.
const (
	// The session's own time zone and sql_mode are set on every
	// connection (see connectorConfig); these read server state.
	queryEventScheduler = "SELECT @@GLOBAL.event_scheduler"
	// User names are compared as bytes: information_schema compares
	// case-insensitively, and MySQL account names are case-sensitive.
	querySessions      = "SELECT ID FROM information_schema.PROCESSLIST WHERE CAST(USER AS BINARY) = CAST(? AS BINARY)"
	querySchemaExists  = "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
	queryRoutineExists = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ? AND ROUTINE_TYPE = 'PROCEDURE'"
	// The event was created with time zone +00:00; CONVERT_TZ makes the
	// answer UTC whatever zone an event was created with.
	queryEventTime   = "SELECT CONVERT_TZ(EXECUTE_AT, TIME_ZONE, '+00:00') FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?"
	queryTableExists = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?"
	queryColumns     = "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?"
)

// queryAccountExists asks whether an account exists. MariaDB 10.4+ keeps
// accounts in mysql.global_priv (mysql.user is a view over it); MySQL 8
// in mysql.user.
func (s statements) queryAccountExists() string {
	if s.mariadb() {
		return "SELECT COUNT(*) FROM mysql.global_priv WHERE User = ? AND Host = ?"
	}
	return "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?"
}
