package mysql

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/jitaccess/jit/provider"
)

// Defaults of the settings.
const (
	DefaultPort               = 3306
	DefaultUserHost           = "%"
	DefaultMaxUserConnections = 5
	DefaultGuardDatabase      = "jit_guard"
)

// Values of the expiry_guard setting.
const (
	// GuardRequired (the default): every grant gets an expiry event and
	// the event scheduler must be running; Grant fails otherwise.
	GuardRequired = "required"
	// GuardBestEffort: every grant gets an expiry event, but a stopped
	// event scheduler (which jit could not start) does not stop the grant.
	GuardBestEffort = "best_effort"
	// GuardOff: no events; expiry is enforced by jit's scheduler alone.
	GuardOff = "off"
)

// allowedPrivileges are the database-level privileges an access level may
// list. They let people read and change data and run existing routines, but
// not change the schema, other accounts or the server (no ALL, CREATE,
// DROP, ALTER, GRANT OPTION, FILE, SUPER...): a level that needs more is
// better served by an existing role (roles:), which the database's owners
// define and review.
var allowedPrivileges = map[string]bool{
	"SELECT":                  true,
	"INSERT":                  true,
	"UPDATE":                  true,
	"DELETE":                  true,
	"EXECUTE":                 true,
	"SHOW VIEW":               true,
	"CREATE TEMPORARY TABLES": true,
}

// scopedActions are the actions a query-scoped privilege may have, and
// columnActions those of them MySQL can limit to columns.
var (
	scopedActions = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true}
	columnActions = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true}
)

// level is one access level: database-wide privileges on some databases,
// and existing roles.
type level struct {
	privileges []string
	databases  []string
	roles      []string
}

// config is the decoded settings of one resource.
type config struct {
	dialect string
	// dsn is the admin connection; it holds a password and is never
	// printed.
	dsn        *gomysql.Config
	host       string
	port       int
	database   string
	userHost   string
	maxConns   int
	guardDB    string
	guard      string
	levels     map[string]level
	queryDBs   []string
	queryScope bool
}

// parseSettings decodes and checks r.Settings. It reads the admin DSN from
// its variable or file but contacts nothing. Every problem is a
// *provider.SettingError naming its key (nested keys as
// "levels.read.privileges"); none contains the DSN.
func parseSettings(r provider.Resource) (*config, error) {
	s := provider.NewSettings(r.Settings)
	c := &config{}
	var nested []error
	nestedErr := func(key, format string, args ...any) {
		nested = append(nested, &provider.SettingError{Key: key, Err: fmt.Errorf(format, args...)})
	}

	c.dialect = s.String("dialect", false)
	switch c.dialect {
	case "":
		c.dialect = DialectMariaDB
	case DialectMariaDB, DialectMySQL:
	default:
		s.Errorf("dialect", "must be %q or %q, got %q", DialectMariaDB, DialectMySQL, c.dialect)
	}

	hasEnv, hasFile := s.Has("admin_dsn_env"), s.Has("admin_dsn_file")
	dsnEnv := s.String("admin_dsn_env", hasEnv)
	dsnFile := s.String("admin_dsn_file", hasFile)
	switch {
	case hasEnv && hasFile:
		s.Errorf("admin_dsn_env", "give only one of admin_dsn_env and admin_dsn_file")
	case !hasEnv && !hasFile:
		s.Errorf("admin_dsn_env", "one of admin_dsn_env and admin_dsn_file is required")
	case dsnEnv != "":
		v, ok := os.LookupEnv(dsnEnv)
		if !ok {
			s.Errorf("admin_dsn_env", "environment variable %s is not set", dsnEnv)
		} else if cfg, err := parseDSN(v); err != nil {
			s.Errorf("admin_dsn_env", "environment variable %s: %v", dsnEnv, err)
		} else {
			c.dsn = cfg
		}
	case dsnFile != "":
		b, err := os.ReadFile(dsnFile)
		if err != nil {
			// The error names the path, never the content.
			s.Errorf("admin_dsn_file", "cannot read the DSN: %v", err)
		} else if cfg, err := parseDSN(string(b)); err != nil {
			s.Errorf("admin_dsn_file", "file %s: %v", dsnFile, err)
		} else {
			c.dsn = cfg
		}
	}

	c.host = s.String("host", true)
	if c.host != "" && strings.ContainsFunc(c.host, isSpaceOrControl) {
		s.Errorf("host", "must not contain spaces or control characters")
	}
	c.port = s.Int("port", DefaultPort)
	if c.port < 1 || c.port > 65535 {
		s.Errorf("port", "must be between 1 and 65535, got %d", c.port)
	}
	c.database = s.String("database", true)
	if c.database != "" {
		if err := checkDatabase(c.database); err != nil {
			s.Errorf("database", "%v", err)
		}
	}
	c.userHost = DefaultUserHost
	if s.Has("user_host") {
		c.userHost = s.String("user_host", true)
		if err := checkUserHost(c.userHost); err != nil {
			s.Errorf("user_host", "%v", err)
		}
		// Host names are case-insensitive and servers store them in lower
		// case; keeping the lower-case form makes the account found again.
		c.userHost = strings.ToLower(c.userHost)
	}
	c.maxConns = s.Int("max_user_connections", DefaultMaxUserConnections)
	if c.maxConns < 1 {
		s.Errorf("max_user_connections", "must be at least 1, got %d", c.maxConns)
	}
	c.guardDB = DefaultGuardDatabase
	if s.Has("guard_database") {
		c.guardDB = s.String("guard_database", true)
		if err := checkDatabase(c.guardDB); err != nil {
			s.Errorf("guard_database", "%v", err)
		}
	}
	c.guard = s.String("expiry_guard", false)
	switch c.guard {
	case "":
		c.guard = GuardRequired
	case GuardRequired, GuardBestEffort, GuardOff:
	default:
		s.Errorf("expiry_guard", "must be %q, %q or %q, got %q", GuardRequired, GuardBestEffort, GuardOff, c.guard)
	}

	// levels and query are maps of maps, which provider.Settings has no
	// accessor for: Has marks the key as known, and the value is decoded
	// here with a Settings of its own, whose problems get the key's path
	// as a prefix.
	c.levels = map[string]level{}
	if !s.Has("levels") {
		s.Errorf("levels", "is required: a map from each access level to its privileges and roles")
	} else if m, ok := provider.AsMap(r.Settings["levels"]); !ok {
		s.Errorf("levels", "must be a map from access level names to {privileges, databases, roles}, got %s", kind(r.Settings["levels"]))
	} else {
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			key := "levels." + name
			lm, ok := provider.AsMap(m[name])
			if !ok {
				nestedErr(key, "must be a map with privileges, databases and roles, got %s", kind(m[name]))
				c.levels[name] = level{}
				continue
			}
			l, errs := parseLevel(lm, c)
			for _, e := range errs {
				nested = append(nested, provider.Nested(key, e)...)
			}
			c.levels[name] = l
		}
	}
	access := map[string]bool{}
	for _, a := range r.Access {
		access[a] = true
		if _, ok := c.levels[a]; !ok && s.Has("levels") {
			nestedErr("levels", "access level %q of resource %q has no entry", a, r.Name)
		}
	}
	for _, name := range sortedLevelNames(c.levels) {
		if !access[name] {
			nestedErr("levels."+name, "is not an access level of resource %q (its levels: %s)", r.Name, strings.Join(r.Access, ", "))
		}
	}

	if s.Has("query") {
		qm, ok := provider.AsMap(r.Settings["query"])
		if !ok {
			s.Errorf("query", "must be a map with databases, got %s", kind(r.Settings["query"]))
		} else {
			qs := provider.NewSettings(qm)
			c.queryDBs = qs.StringList("databases", true)
			for _, db := range c.queryDBs {
				if err := checkDatabase(db); err != nil {
					qs.Errorf("databases", "%q: %v", db, err)
				}
			}
			nested = append(nested, provider.Nested("query", qs.Err())...)
			c.queryScope = true
		}
	}

	if err := errors.Join(append([]error{s.Err()}, nested...)...); err != nil {
		return nil, err
	}
	return c, nil
}

// parseLevel decodes one access level.
func parseLevel(m map[string]any, c *config) (level, []error) {
	s := provider.NewSettings(m)
	var l level
	privs := s.StringList("privileges", false)
	seen := map[string]bool{}
	for _, p := range privs {
		norm := strings.ToUpper(strings.Join(strings.Fields(p), " "))
		if !allowedPrivileges[norm] {
			s.Errorf("privileges", "%q is not a privilege jit grants (allowed: %s)", p, strings.Join(allowedList(), ", "))
			continue
		}
		if !seen[norm] {
			seen[norm] = true
			l.privileges = append(l.privileges, norm)
		}
	}
	if s.Has("databases") {
		l.databases = s.StringList("databases", true)
		for _, db := range l.databases {
			if err := checkGrantDatabase(db); err != nil {
				s.Errorf("databases", "%q: %v", db, err)
			}
		}
		if len(privs) == 0 {
			s.Errorf("databases", "needs privileges: databases say where the level's privileges apply")
		}
	} else if c.database != "" && len(privs) > 0 {
		l.databases = []string{c.database}
		if checkDatabase(c.database) == nil {
			if err := checkGrantDatabase(c.database); err != nil {
				s.Errorf("privileges", "they apply to database %q (the database setting): %v", c.database, err)
			}
		}
	}
	l.roles = s.StringList("roles", false)
	for _, r := range l.roles {
		if err := checkRole(r, c.dialect); err != nil {
			s.Errorf("roles", "%q: %v", r, err)
		}
	}
	if c.dialect == DialectMariaDB && len(l.roles) > 1 {
		s.Errorf("roles", "MariaDB gives an account one default role, so a level can have one role (make a role that holds the others)")
	}
	if len(privs) == 0 && len(l.roles) == 0 {
		s.Errorf("privileges", "a level needs privileges, roles or both")
	}
	return l, leafErrors(s.Err())
}

// parseDSN parses a go-sql-driver DSN. Its errors never quote the DSN,
// which holds the admin password.
func parseDSN(dsn string) (*gomysql.Config, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return nil, errors.New("the DSN is empty")
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("is not a valid DSN (expected user:password@tcp(host:port)/[database][?params])")
	}
	if cfg.User == "" {
		return nil, errors.New("the DSN names no user")
	}
	return cfg, nil
}

// checkDatabase checks a database name from the settings.
func checkDatabase(name string) error {
	if err := checkIdent(name); err != nil {
		return err
	}
	// The server refuses names that end with a space character.
	if strings.TrimRightFunc(name, unicode.IsSpace) != name {
		return errors.New("name ends with a space character")
	}
	return nil
}

// checkGrantDatabase checks a database that database-level privileges
// are granted on.
func checkGrantDatabase(name string) error {
	if err := checkDatabase(name); err != nil {
		return err
	}
	if _, err := quoteGrantDatabase(name); err != nil {
		return errors.New("the name is too long to grant on exactly: with each _, % and \\ escaped it exceeds 64 characters")
	}
	return nil
}

// checkRole checks a role name.
func checkRole(name, dialect string) error {
	if dialect == DialectMySQL {
		// A MySQL 8 role is an account: its name is a user name.
		if !utf8.ValidString(name) || name == "" {
			return errors.New("must be a non-empty UTF-8 name")
		}
		if n := utf8.RuneCountInString(name); n > maxUserLen {
			return fmt.Errorf("is %d characters long; MySQL role names have at most %d", n, maxUserLen)
		}
		if strings.ContainsRune(name, 0) {
			return errors.New("contains a NUL character")
		}
		return nil
	}
	return checkIdent(name)
}

// checkUserHost checks the host part of created accounts: a host name, an
// IP address, a pattern with % and _, or an address with a netmask.
func checkUserHost(h string) error {
	if len(h) > 255 {
		return fmt.Errorf("is %d characters long; the limit is 255", len(h))
	}
	if strings.ContainsFunc(h, isSpaceOrControl) {
		return errors.New("must not contain spaces or control characters")
	}
	if !utf8.ValidString(h) {
		return errors.New("is not valid UTF-8")
	}
	// MariaDB refuses an @ in the host part ("Malformed hostname").
	if strings.ContainsRune(h, '@') {
		return errors.New("must not contain @")
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func allowedList() []string {
	out := make([]string, 0, len(allowedPrivileges))
	for p := range allowedPrivileges {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func sortedLevelNames(m map[string]level) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// kind names the kind of a decoded value without echoing it.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any, map[any]any:
		return "a map"
	case int, int64, uint64, float64:
		return "a number"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}
