package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// The SQL each dialect generates, written out in full. The MariaDB text is
// also run against a real server by the integration tests; the MySQL 8
// text follows the MySQL 8.0 reference manual (CREATE USER, ALTER USER,
// GRANT, SET DEFAULT ROLE, CREATE EVENT, ALTER EVENT, KILL) and the parts
// it shares with MariaDB run there too (TestMySQLDialectOnMariaDB).
func TestStatementsPerDialect(t *testing.T) {
	a := account{User: "jit_alice_abcdefghijklmnop", Host: "%"}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	type gen func(s statements) ([]string, error)
	one := func(f func(s statements) (string, error)) gen {
		return func(s statements) ([]string, error) {
			out, err := f(s)
			return []string{out}, err
		}
	}
	cases := []struct {
		name           string
		gen            gen
		mariadb, mysql []string
	}{
		{
			name: "create user",
			gen: one(func(s statements) (string, error) {
				return s.createUser(a, "pw-x.Jt7", 5)
			}),
			mariadb: []string{"CREATE USER 'jit_alice_abcdefghijklmnop'@'%' IDENTIFIED BY 'pw-x.Jt7' WITH MAX_USER_CONNECTIONS 5"},
			mysql:   []string{"CREATE USER 'jit_alice_abcdefghijklmnop'@'%' IDENTIFIED BY 'pw-x.Jt7' WITH MAX_USER_CONNECTIONS 5"},
		},
		{
			name: "alter user",
			gen: one(func(s statements) (string, error) {
				return s.alterUser(a, "pw", 3)
			}),
			mariadb: []string{"ALTER USER 'jit_alice_abcdefghijklmnop'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 3"},
			mysql:   []string{"ALTER USER 'jit_alice_abcdefghijklmnop'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 3"},
		},
		{
			name:    "lock",
			gen:     one(func(s statements) (string, error) { return s.lockUser(a) }),
			mariadb: []string{"ALTER USER IF EXISTS 'jit_alice_abcdefghijklmnop'@'%' ACCOUNT LOCK"},
			mysql:   []string{"ALTER USER IF EXISTS 'jit_alice_abcdefghijklmnop'@'%' ACCOUNT LOCK"},
		},
		{
			name:    "drop",
			gen:     one(func(s statements) (string, error) { return s.dropUser(a) }),
			mariadb: []string{"DROP USER IF EXISTS 'jit_alice_abcdefghijklmnop'@'%'"},
			mysql:   []string{"DROP USER IF EXISTS 'jit_alice_abcdefghijklmnop'@'%'"},
		},
		{
			name:    "kill",
			gen:     one(func(s statements) (string, error) { return s.kill(18446744073709551615), nil }),
			mariadb: []string{"KILL CONNECTION 18446744073709551615"},
			mysql:   []string{"KILL CONNECTION 18446744073709551615"},
		},
		{
			name: "grant database",
			gen: one(func(s statements) (string, error) {
				return s.grantDatabase([]string{"SELECT", "SHOW VIEW", "CREATE TEMPORARY TABLES"}, "bill`ing", a)
			}),
			mariadb: []string{"GRANT SELECT, SHOW VIEW, CREATE TEMPORARY TABLES ON `bill``ing`.* TO 'jit_alice_abcdefghijklmnop'@'%'"},
			mysql:   []string{"GRANT SELECT, SHOW VIEW, CREATE TEMPORARY TABLES ON `bill``ing`.* TO 'jit_alice_abcdefghijklmnop'@'%'"},
		},
		{
			name: "grant database pattern",
			gen: one(func(s statements) (string, error) {
				return s.grantDatabase([]string{"SELECT"}, `jit_db%x\y`, a)
			}),
			mariadb: []string{"GRANT SELECT ON `jit\\_db\\%x\\\\y`.* TO 'jit_alice_abcdefghijklmnop'@'%'"},
			mysql:   []string{"GRANT SELECT ON `jit\\_db\\%x\\\\y`.* TO 'jit_alice_abcdefghijklmnop'@'%'"},
		},
		{
			name: "grant columns",
			gen: one(func(s statements) (string, error) {
				return s.grantTable(jit.Privilege{Action: "UPDATE", Schema: "billing", Table: "orders", Columns: []string{"total", "st`atus"}}, a)
			}),
			mariadb: []string{"GRANT UPDATE (`total`, `st``atus`) ON `billing`.`orders` TO 'jit_alice_abcdefghijklmnop'@'%'"},
			mysql:   []string{"GRANT UPDATE (`total`, `st``atus`) ON `billing`.`orders` TO 'jit_alice_abcdefghijklmnop'@'%'"},
		},
		{
			name: "grant table",
			gen: one(func(s statements) (string, error) {
				return s.grantTable(jit.Privilege{Action: "DELETE", Schema: "billing", Table: "orders"}, a)
			}),
			mariadb: []string{"GRANT DELETE ON `billing`.`orders` TO 'jit_alice_abcdefghijklmnop'@'%'"},
			mysql:   []string{"GRANT DELETE ON `billing`.`orders` TO 'jit_alice_abcdefghijklmnop'@'%'"},
		},
		{
			name: "roles",
			gen: func(s statements) ([]string, error) {
				return s.grantRoles([]string{"billing_admin"}, a)
			},
			mariadb: []string{
				"GRANT `billing_admin` TO 'jit_alice_abcdefghijklmnop'@'%'",
				"SET DEFAULT ROLE `billing_admin` FOR 'jit_alice_abcdefghijklmnop'@'%'",
			},
			mysql: []string{
				"GRANT 'billing_admin'@'%' TO 'jit_alice_abcdefghijklmnop'@'%'",
				"SET DEFAULT ROLE 'billing_admin'@'%' TO 'jit_alice_abcdefghijklmnop'@'%'",
			},
		},
		{
			name: "event",
			gen: func(s statements) ([]string, error) {
				return s.createEvent("jit_guard", a, at.Add(300*time.Millisecond))
			},
			mariadb: []string{
				"CREATE OR REPLACE EVENT `jit_guard`.`expire_jit_alice_abcdefghijklmnop` ON SCHEDULE AT '2030-01-02 03:04:06' ON COMPLETION NOT PRESERVE COMMENT 'jit: drops the account at the end of its access' DO CALL `jit_guard`.`jit_expire_v1`('jit_alice_abcdefghijklmnop', '%')",
			},
			mysql: []string{
				"CREATE EVENT IF NOT EXISTS `jit_guard`.`expire_jit_alice_abcdefghijklmnop` ON SCHEDULE AT '2030-01-02 03:04:06' ON COMPLETION NOT PRESERVE COMMENT 'jit: drops the account at the end of its access' DO CALL `jit_guard`.`jit_expire_v1`('jit_alice_abcdefghijklmnop', '%')",
				"ALTER EVENT `jit_guard`.`expire_jit_alice_abcdefghijklmnop` ON SCHEDULE AT '2030-01-02 03:04:06' ON COMPLETION NOT PRESERVE ENABLE DO CALL `jit_guard`.`jit_expire_v1`('jit_alice_abcdefghijklmnop', '%')",
			},
		},
		{
			name:    "drop event",
			gen:     one(func(s statements) (string, error) { return s.dropEvent("jit_guard", a.User) }),
			mariadb: []string{"DROP EVENT IF EXISTS `jit_guard`.`expire_jit_alice_abcdefghijklmnop`"},
			mysql:   []string{"DROP EVENT IF EXISTS `jit_guard`.`expire_jit_alice_abcdefghijklmnop`"},
		},
		{
			name:    "account exists",
			gen:     one(func(s statements) (string, error) { return s.queryAccountExists(), nil }),
			mariadb: []string{"SELECT COUNT(*) FROM mysql.global_priv WHERE User = ? AND Host = ?"},
			mysql:   []string{"SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?"},
		},
	}
	for _, c := range cases {
		for dialect, want := range map[string][]string{DialectMariaDB: c.mariadb, DialectMySQL: c.mysql} {
			got, err := c.gen(statements{dialect: dialect})
			if err != nil {
				t.Errorf("%s (%s): %v", c.name, dialect, err)
				continue
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s (%s):\ngot  %q\nwant %q", c.name, dialect, got, want)
			}
		}
	}
}

func TestStatementsRefuse(t *testing.T) {
	a := account{User: "jit_x_abcdefghijklmnop", Host: "%"}
	for _, dialect := range []string{DialectMariaDB, DialectMySQL} {
		s := statements{dialect: dialect}
		if _, err := s.grantDatabase([]string{"ALL PRIVILEGES"}, "db", a); err == nil {
			t.Errorf("%s: grantDatabase accepted ALL PRIVILEGES", dialect)
		}
		if _, err := s.grantDatabase([]string{"SELECT; DROP DATABASE db"}, "db", a); err == nil {
			t.Errorf("%s: grantDatabase accepted a privilege that is not a keyword", dialect)
		}
		if _, err := s.grantTable(jit.Privilege{Action: "DELETE", Schema: "db", Table: "t", Columns: []string{"c"}}, a); err == nil {
			t.Errorf("%s: grantTable accepted DELETE on columns", dialect)
		}
		if _, err := s.grantTable(jit.Privilege{Action: "DROP", Schema: "db", Table: "t"}, a); err == nil {
			t.Errorf("%s: grantTable accepted DROP", dialect)
		}
		if _, err := s.grantTable(jit.Privilege{Action: "SELECT", Schema: "db", Table: "bad\x00"}, a); err == nil {
			t.Errorf("%s: grantTable accepted a NUL in a table name", dialect)
		}
		if _, err := s.createUser(account{User: "u\xff", Host: "%"}, "pw", 1); err == nil {
			t.Errorf("%s: createUser accepted invalid UTF-8", dialect)
		}
	}
	if _, err := (statements{dialect: DialectMariaDB}).grantRoles([]string{"a", "b"}, a); err == nil {
		t.Error("MariaDB: two default roles were accepted")
	}
	got, err := (statements{dialect: DialectMySQL}).grantRoles([]string{"a", "b'c"}, a)
	if err != nil {
		t.Fatal(err)
	}
	want := "GRANT 'a'@'%', 'b''c'@'%' TO 'jit_x_abcdefghijklmnop'@'%'"
	if got[0] != want {
		t.Errorf("MySQL roles: %q, want %q", got[0], want)
	}
}

func TestEventTime(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[time.Time]string{
		base:                                 "2030-01-02 03:04:05",
		base.Add(time.Nanosecond):            "2030-01-02 03:04:06",
		base.Add(999 * time.Millisecond):     "2030-01-02 03:04:06",
		base.In(time.FixedZone("X", 5*3600)): "2030-01-02 03:04:05",
	}
	for in, want := range cases {
		if got := eventTime(in); got != want {
			t.Errorf("eventTime(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestExpireProcedureText(t *testing.T) {
	for _, dialect := range []string{DialectMariaDB, DialectMySQL} {
		got, err := statements{dialect: dialect}.createExpireProcedure("g`d")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"CREATE PROCEDURE `g``d`.`jit_expire_v1`(IN p_user VARCHAR(80), IN p_host VARCHAR(255))",
			"SQL SECURITY DEFINER",
			"ACCOUNT LOCK",
			"KILL CONNECTION v_id",
			"DROP USER IF EXISTS",
			"CONTINUE HANDLER FOR 1094",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: the procedure lacks %q", dialect, want)
			}
		}
		if strings.Contains(got, "DELIMITER") || strings.Contains(got, ";;") {
			t.Errorf("%s: the procedure is one statement for the protocol, without DELIMITER", dialect)
		}
	}
}
