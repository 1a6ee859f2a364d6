package postgres

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jitaccess/jit/provider"
)

// Defaults of the settings.
const (
	DefaultPort            = 5432
	DefaultConnectionLimit = 5
	// DefaultList leaves listing off (see config.list).
	DefaultList = false
)

// maxIdentifier is PostgreSQL's NAMEDATALEN-1: longer identifiers are
// silently truncated by the server, so a longer configured name would
// quietly mean another object.
const maxIdentifier = 63

// tablePrivileges are the privileges a level may hold on the tables of its
// schemas, as GRANT spells them.
var tablePrivileges = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// level is what one access level grants, through its group role.
type level struct {
	// privileges are granted on every table of every schema in schemas,
	// with USAGE on those schemas.
	privileges []string
	schemas    []string
	// roles are existing roles the group role is made a member of.
	roles []string
}

func (l level) has(priv string) bool {
	for _, p := range l.privileges {
		if p == priv {
			return true
		}
	}
	return false
}

// config is the decoded settings of one resource.
type config struct {
	resource        string
	dsnEnv          string
	dsnFile         string
	host            string
	port            int
	database        string
	sslMode         string
	connectionLimit int
	scramIterations int
	levels          map[string]level
	// querySchemas is nil when query-scoped requests are not enabled.
	querySchemas []string
	// list turns on provider.Lister. Off by default: the roles' markers
	// name the database and the resource but not the jit installation, so
	// two installations serving one database under the same resource name
	// would each take the other's roles for orphans.
	list bool
}

// parseConfig decodes and validates r.Settings. Every problem is a
// *provider.SettingError naming its key; nested keys are written with dots
// ("levels.read.privileges"). It reads no file or variable and contacts
// nothing.
func parseConfig(r provider.Resource) (config, error) {
	s := provider.NewSettings(r.Settings)
	c := config{resource: r.Name}
	var nested []error

	hasEnv, hasFile := s.Has("admin_dsn_env"), s.Has("admin_dsn_file")
	c.dsnEnv = s.String("admin_dsn_env", hasEnv)
	c.dsnFile = s.String("admin_dsn_file", hasFile)
	switch {
	case hasEnv && hasFile:
		s.Errorf("admin_dsn_file", "give only one of admin_dsn_env and admin_dsn_file")
	case !hasEnv && !hasFile:
		s.Errorf("admin_dsn_env", "one of admin_dsn_env and admin_dsn_file is required")
	case hasEnv && c.dsnEnv != "" && strings.ContainsAny(c.dsnEnv, "=\x00"):
		s.Errorf("admin_dsn_env", "is not a valid environment variable name")
	}

	c.host = s.String("host", true)
	c.port = s.Int("port", DefaultPort)
	if c.port < 1 || c.port > 65535 {
		s.Errorf("port", "must be between 1 and 65535, got %d", c.port)
	}
	c.database = s.String("database", true)
	if c.database != "" {
		if err := checkIdentifier(c.database); err != nil {
			s.Errorf("database", "%v", err)
		}
	}
	c.sslMode = s.String("sslmode", false)
	if c.sslMode != "" && !contains(sslModes, c.sslMode) {
		s.Errorf("sslmode", "must be one of %s, got %q", strings.Join(sslModes, ", "), c.sslMode)
	}
	c.scramIterations = s.Int("scram_iterations", DefaultSCRAMIterations)
	if c.scramIterations < 1 || c.scramIterations > 1_000_000 {
		s.Errorf("scram_iterations", "must be from 1 to 1000000, got %d", c.scramIterations)
	}
	c.list = s.Bool("list", DefaultList)
	c.connectionLimit = s.Int("connection_limit", DefaultConnectionLimit)
	if c.connectionLimit < 1 {
		s.Errorf("connection_limit", "must be at least 1, got %d", c.connectionLimit)
	}

	hasQuery := s.Has("query")
	if hasQuery {
		schemas, errs := parseQuery(r.Settings["query"])
		c.querySchemas = schemas
		nested = append(nested, errs...)
	}

	if s.Has("levels") {
		levels, errs := parseLevels(r.Settings["levels"], r.Access)
		c.levels = levels
		nested = append(nested, errs...)
	} else if len(r.Access) > 0 {
		s.Errorf("levels", "is required: the resource has the access levels %s", strings.Join(r.Access, ", "))
	} else if !hasQuery {
		s.Errorf("levels", "is required (or a query setting, for query-scoped requests only)")
	}
	return c, errors.Join(append([]error{s.Err()}, nested...)...)
}

// parseLevels decodes the levels map and checks it against the resource's
// access names: each must have a level and each level must be one.
func parseLevels(v any, access []string) (map[string]level, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return nil, []error{settingErr("levels", "must be a map of access level names to levels, got %s", describe(v))}
	}
	var errs []error
	levels := map[string]level{}
	for _, name := range sortedNames(m) {
		key := "levels." + name
		if !contains(access, name) {
			known := "none"
			if len(access) > 0 {
				known = strings.Join(access, ", ")
			}
			errs = append(errs, settingErr(key, "is not an access level of the resource (its access levels: %s)", known))
			continue
		}
		if err := checkName(name); err != nil {
			errs = append(errs, settingErr(key, "access level name %v", err))
			continue
		}
		l, lerrs := parseLevel(key, m[name])
		errs = append(errs, lerrs...)
		if len(lerrs) == 0 {
			levels[name] = l
		}
	}
	for _, name := range access {
		if _, ok := m[name]; !ok {
			errs = append(errs, settingErr("levels", "access level %q of the resource has no entry", name))
		}
	}
	return levels, errs
}

func parseLevel(key string, v any) (level, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return level{}, []error{settingErr(key, "must be a map with privileges and schemas, and/or roles; got %s", describe(v))}
	}
	s := provider.NewSettings(m)
	privs := s.StringList("privileges", false)
	schemas := s.StringList("schemas", false)
	roles := s.StringList("roles", false)
	var l level
	seen := map[string]bool{}
	for _, p := range privs {
		up := strings.ToUpper(strings.TrimSpace(p))
		if !contains(tablePrivileges, up) {
			s.Errorf("privileges", "%q is not one of %s (USAGE on the schemas is implied)", p, strings.Join(tablePrivileges, ", "))
			continue
		}
		if !seen[up] {
			seen[up] = true
			l.privileges = append(l.privileges, up)
		}
	}
	sort.Strings(l.privileges)
	l.schemas = identifiers(s, "schemas", schemas)
	l.roles = identifiers(s, "roles", roles)
	switch {
	case len(privs) > 0 && len(schemas) == 0:
		s.Errorf("schemas", "is required with privileges")
	case len(schemas) > 0 && len(privs) == 0:
		s.Errorf("privileges", "is required with schemas")
	case len(privs) == 0 && len(roles) == 0:
		s.Errorf("privileges", "a level needs privileges and schemas, or roles (or both)")
	}
	return l, provider.Nested(key, s.Err())
}

// parseQuery decodes the query map: {schemas: [...]}.
func parseQuery(v any) ([]string, []error) {
	m, ok := provider.AsMap(v)
	if !ok {
		return nil, []error{settingErr("query", "must be a map with schemas, got %s", describe(v))}
	}
	s := provider.NewSettings(m)
	schemas := identifiers(s, "schemas", s.StringList("schemas", true))
	if schemas == nil && s.Err() == nil {
		// Defensive: an allowlist must never be empty, or every scope
		// check would have nothing to compare with.
		s.Errorf("schemas", "must have at least one element")
	}
	return schemas, provider.Nested("query", s.Err())
}

// identifiers checks each name of a list of identifiers and returns them
// sorted and deduplicated.
func identifiers(s *provider.Settings, key string, names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if err := checkIdentifier(n); err != nil {
			s.Errorf(key, "%q: %v", n, err)
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// checkIdentifier refuses names PostgreSQL would not store as given. Any
// other character is fine: identifiers are always quoted.
func checkIdentifier(n string) error {
	if err := checkName(n); err != nil {
		return err
	}
	if len(n) > maxIdentifier {
		return fmt.Errorf("is longer than %d bytes (PostgreSQL would truncate it)", maxIdentifier)
	}
	return nil
}

// checkName refuses strings that cannot be names at all: empty, not
// UTF-8, or holding a NUL (which PostgreSQL cannot store).
func checkName(n string) error {
	switch {
	case n == "":
		return errors.New("is empty")
	case !utf8.ValidString(n):
		return errors.New("is not valid UTF-8")
	case strings.IndexByte(n, 0) >= 0:
		return errors.New("contains a NUL byte")
	}
	return nil
}

func settingErr(key, format string, args ...any) error {
	return &provider.SettingError{Key: key, Err: fmt.Errorf(format, args...)}
}

// describe names the kind of a decoded value without echoing it.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case int, int64, float64, uint64:
		return "a number"
	}
	return fmt.Sprintf("a value of type %T", v)
}

func sortedNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
