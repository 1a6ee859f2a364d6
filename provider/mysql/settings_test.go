package mysql

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jit/provider"
)

const (
	settingsDSNEnv   = "JIT_MYSQL_SETTINGS_TEST_DSN"
	settingsPassword = "s3cret-admin-pw"
)

func baseSettings() map[string]any {
	return map[string]any{
		"admin_dsn_env": settingsDSNEnv,
		"host":          "db.internal",
		"database":      "billing",
		"levels": map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}, "databases": []any{"billing"}},
			"write": map[string]any{"privileges": []any{"select", "INSERT", "update", "DELETE"}},
			"admin": map[string]any{"roles": []any{"billing_admin"}},
		},
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
			continue
		}
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func withLevels(m map[string]any, levels map[string]any) map[string]any {
	m["levels"] = levels
	return m
}

func TestSettings(t *testing.T) {
	t.Setenv(settingsDSNEnv, "admin:"+settingsPassword+"@tcp(127.0.0.1:3306)/")
	dsnFile := filepath.Join(t.TempDir(), "admin.dsn")
	if err := os.WriteFile(dsnFile, []byte("admin:"+settingsPassword+"@tcp(db:3306)/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badDSNFile := filepath.Join(t.TempDir(), "bad.dsn")
	if err := os.WriteFile(badDSNFile, []byte("admin:"+settingsPassword+"@tcp(db:3306"), 0o600); err != nil {
		t.Fatal(err)
	}
	access := []string{"read", "write", "admin"}
	cases := []struct {
		name     string
		settings map[string]any
		access   []string
		// wantKeys are the keys of the expected problems; none means valid.
		wantKeys []string
	}{
		{name: "valid", settings: baseSettings()},
		{name: "dsn file", settings: with(baseSettings(), "admin_dsn_env", nil, "admin_dsn_file", dsnFile)},
		{name: "mysql dialect", settings: with(baseSettings(), "dialect", "mysql")},
		{name: "all options", settings: with(baseSettings(), "port", 3307, "user_host", "10.0.%", "max_user_connections", 2,
			"guard_database", "ops_guard", "expiry_guard", "best_effort", "query", map[string]any{"databases": []any{"billing"}})},
		{name: "guard off", settings: with(baseSettings(), "expiry_guard", "off")},
		{name: "unknown dialect", settings: with(baseSettings(), "dialect", "postgres"), wantKeys: []string{"dialect"}},
		{name: "both dsn", settings: with(baseSettings(), "admin_dsn_file", dsnFile), wantKeys: []string{"admin_dsn_env"}},
		{name: "no dsn", settings: with(baseSettings(), "admin_dsn_env", nil), wantKeys: []string{"admin_dsn_env"}},
		{name: "dsn env unset", settings: with(baseSettings(), "admin_dsn_env", "JIT_MYSQL_SETTINGS_TEST_UNSET"), wantKeys: []string{"admin_dsn_env"}},
		{name: "dsn file missing", settings: with(baseSettings(), "admin_dsn_env", nil, "admin_dsn_file", "/nonexistent/x.dsn"), wantKeys: []string{"admin_dsn_file"}},
		{name: "dsn file invalid", settings: with(baseSettings(), "admin_dsn_env", nil, "admin_dsn_file", badDSNFile), wantKeys: []string{"admin_dsn_file"}},
		{name: "no host", settings: with(baseSettings(), "host", nil), wantKeys: []string{"host"}},
		{name: "host with space", settings: with(baseSettings(), "host", "db internal"), wantKeys: []string{"host"}},
		{name: "bad port", settings: with(baseSettings(), "port", 70000), wantKeys: []string{"port"}},
		{name: "port string", settings: with(baseSettings(), "port", "3306"), wantKeys: []string{"port"}},
		{name: "no database", settings: with(baseSettings(), "database", nil), wantKeys: []string{"database"}},
		{name: "database with NUL", settings: with(baseSettings(), "database", "bill\x00ing"), wantKeys: []string{"database"}},
		{name: "database too long", settings: with(baseSettings(), "database", strings.Repeat("d", 65)), wantKeys: []string{"database"}},
		{name: "database too long to grant on", settings: with(baseSettings(), "database", strings.Repeat("a_", 32)), wantKeys: []string{"levels.write.privileges"}},
		{name: "level database too long to grant on", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}, "databases": []any{strings.Repeat("%", 40)}},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"r"}},
		}), wantKeys: []string{"levels.read.databases"}},
		{name: "user_host with @", settings: with(baseSettings(), "user_host", "a@b"), wantKeys: []string{"user_host"}},
		{name: "empty user_host", settings: with(baseSettings(), "user_host", ""), wantKeys: []string{"user_host"}},
		{name: "user_host with newline", settings: with(baseSettings(), "user_host", "a\nb"), wantKeys: []string{"user_host"}},
		{name: "zero connections", settings: with(baseSettings(), "max_user_connections", 0), wantKeys: []string{"max_user_connections"}},
		{name: "bad guard database", settings: with(baseSettings(), "guard_database", "g "), wantKeys: []string{"guard_database"}},
		{name: "bad expiry_guard", settings: with(baseSettings(), "expiry_guard", "maybe"), wantKeys: []string{"expiry_guard"}},
		{name: "unknown key", settings: with(baseSettings(), "pasword", "x"), wantKeys: []string{"pasword"}},
		{name: "no levels", settings: with(baseSettings(), "levels", nil), wantKeys: []string{"levels"}},
		{name: "levels not a map", settings: with(baseSettings(), "levels", []any{"read"}), wantKeys: []string{"levels"}},
		{name: "level missing", settings: baseSettings(), access: []string{"read", "write", "admin", "owner"}, wantKeys: []string{"levels"}},
		{name: "level not an access", settings: baseSettings(), access: []string{"read", "write"}, wantKeys: []string{"levels.admin"}},
		{name: "level not a map", settings: withLevels(baseSettings(), map[string]any{"read": "SELECT", "write": map[string]any{"privileges": []any{"SELECT"}}, "admin": map[string]any{"roles": []any{"r"}}}),
			wantKeys: []string{"levels.read"}},
		{name: "privilege not allowed", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT", "DROP"}},
			"write": map[string]any{"privileges": []any{"ALL PRIVILEGES"}},
			"admin": map[string]any{"roles": []any{"r"}},
		}), wantKeys: []string{"levels.read.privileges", "levels.write.privileges"}},
		{name: "privileges as a string", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": "SELECT"},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"r"}},
		}), wantKeys: []string{"levels.read.privileges", "levels.read.privileges"}},
		{name: "empty level", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"r"}},
		}), wantKeys: []string{"levels.read.privileges"}},
		{name: "unknown level key", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}, "tables": []any{"orders"}},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"r"}},
		}), wantKeys: []string{"levels.read.tables"}},
		{name: "databases without privileges", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"r"}, "databases": []any{"billing"}},
		}), wantKeys: []string{"levels.admin.databases"}},
		{name: "bad level database", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}, "databases": []any{"ok", ""}},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"r"}},
		}), wantKeys: []string{"levels.read.databases"}},
		{name: "two roles on MariaDB", settings: withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"a", "b"}},
		}), wantKeys: []string{"levels.admin.roles"}},
		{name: "two roles on MySQL", settings: with(withLevels(baseSettings(), map[string]any{
			"read":  map[string]any{"privileges": []any{"SELECT"}},
			"write": map[string]any{"privileges": []any{"SELECT"}},
			"admin": map[string]any{"roles": []any{"a", "b"}},
		}), "dialect", "mysql")},
		{name: "query without databases", settings: with(baseSettings(), "query", map[string]any{}), wantKeys: []string{"query.databases"}},
		{name: "query unknown key", settings: with(baseSettings(), "query", map[string]any{"databases": []any{"billing"}, "tables": []any{"x"}}), wantKeys: []string{"query.tables"}},
		{name: "query not a map", settings: with(baseSettings(), "query", true), wantKeys: []string{"query"}},
		{name: "several problems at once", settings: with(baseSettings(), "host", nil, "port", 0, "dialect", "oracle"), wantKeys: []string{"dialect", "host", "port"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acc := c.access
			if acc == nil {
				acc = access
			}
			p, err := New(provider.Resource{Name: "billing-db", Type: Type, Settings: c.settings, Access: acc})
			if len(c.wantKeys) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = p.(*Provider).Close()
				return
			}
			if err == nil {
				_ = p.(*Provider).Close()
				t.Fatalf("New accepted the settings; want problems with %v", c.wantKeys)
			}
			if strings.Contains(err.Error(), settingsPassword) {
				t.Fatalf("the error shows the admin password: %v", err)
			}
			var keys []string
			for _, e := range leafErrors(err) {
				var se *provider.SettingError
				if !errors.As(e, &se) {
					t.Fatalf("problem %v is not a *provider.SettingError", e)
				}
				keys = append(keys, se.Key)
			}
			if !sameKeys(keys, c.wantKeys) {
				t.Errorf("problems with %v, want %v: %v", keys, c.wantKeys, err)
			}
		})
	}
}

func sameKeys(got, want []string) bool {
	g := map[string]int{}
	for _, k := range got {
		g[k]++
	}
	w := map[string]int{}
	for _, k := range want {
		w[k]++
	}
	// Each wanted key must be there; a key may be reported more than once
	// (two bad elements of one list).
	for k := range w {
		if g[k] == 0 {
			return false
		}
	}
	for k := range g {
		if w[k] == 0 {
			return false
		}
	}
	return true
}

func TestSettingsDecoded(t *testing.T) {
	t.Setenv(settingsDSNEnv, "admin:"+settingsPassword+"@tcp(127.0.0.1:3306)/x?sql_mode=%27NO_BACKSLASH_ESCAPES%27&charset=gbk&multiStatements=true")
	p, err := NewWithOptions(provider.Resource{
		Name: "billing-db", Type: Type, Access: []string{"read", "write", "admin"},
		Settings: with(baseSettings(), "user_host", "DB.Example.COM", "query", map[string]any{"databases": []any{"billing", "reports"}}),
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := p.cfg
	if c.dialect != DialectMariaDB || c.port != DefaultPort || c.maxConns != DefaultMaxUserConnections ||
		c.guardDB != DefaultGuardDatabase || c.guard != GuardRequired || c.userHost != "db.example.com" {
		t.Errorf("defaults: %+v", c)
	}
	wantLevels := map[string]level{
		"read":  {privileges: []string{"SELECT"}, databases: []string{"billing"}},
		"write": {privileges: []string{"SELECT", "INSERT", "UPDATE", "DELETE"}, databases: []string{"billing"}},
		"admin": {roles: []string{"billing_admin"}},
	}
	if !reflect.DeepEqual(c.levels, wantLevels) {
		t.Errorf("levels = %+v, want %+v", c.levels, wantLevels)
	}
	if !c.queryScope || !reflect.DeepEqual(c.queryDBs, []string{"billing", "reports"}) {
		t.Errorf("query = %v %v", c.queryScope, c.queryDBs)
	}
	// The connection's character set, sql_mode, time zone and statement
	// mode are the provider's, whatever the DSN says.
	cc, err := connectorConfig(c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cc.MultiStatements || !cc.ParseTime || cc.Collation != "utf8mb4_general_ci" {
		t.Errorf("connector config: multiStatements=%v parseTime=%v collation=%s", cc.MultiStatements, cc.ParseTime, cc.Collation)
	}
	if cc.Params["time_zone"] != "'+00:00'" || cc.Params["sql_mode"] != sqlModeExpr {
		t.Errorf("session parameters: %v", cc.Params)
	}
	if _, ok := cc.Params["charset"]; ok {
		t.Errorf("the DSN's charset survived: %v", cc.Params)
	}
	if !strings.Contains(cc.FormatDSN(), "charset=utf8mb4") {
		t.Errorf("the connection does not use utf8mb4")
	}
}
