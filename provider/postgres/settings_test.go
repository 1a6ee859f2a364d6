package postgres

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jit/provider"
)

func validSettings() map[string]any {
	return map[string]any{
		"admin_dsn_env":    "ORDERS_DB_ADMIN_DSN",
		"host":             "db.internal",
		"port":             5432,
		"database":         "orders",
		"sslmode":          "require",
		"connection_limit": 3,
		"levels": map[string]any{
			"read":  map[string]any{"privileges": []any{"select"}, "schemas": []any{"public", "reporting"}},
			"write": map[string]any{"privileges": []any{"SELECT", "INSERT", "UPDATE", "DELETE"}, "schemas": []any{"public"}},
			"admin": map[string]any{"roles": []any{"orders_admin"}},
		},
		"query": map[string]any{"schemas": []any{"public"}},
	}
}

func TestSettingsValid(t *testing.T) {
	// The Factory reads no DSN: the variable need not exist.
	cfg, err := parseConfig(provider.Resource{Name: "orders", Settings: validSettings(), Access: []string{"read", "write", "admin"}})
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	want := map[string]level{
		"read":  {privileges: []string{"SELECT"}, schemas: []string{"public", "reporting"}},
		"write": {privileges: []string{"DELETE", "INSERT", "SELECT", "UPDATE"}, schemas: []string{"public"}},
		"admin": {roles: []string{"orders_admin"}},
	}
	if !reflect.DeepEqual(cfg.levels, want) {
		t.Errorf("levels = %+v, want %+v", cfg.levels, want)
	}
	if cfg.port != 5432 || cfg.connectionLimit != 3 || cfg.sslMode != "require" || !reflect.DeepEqual(cfg.querySchemas, []string{"public"}) {
		t.Errorf("config = %+v", cfg)
	}

	// Defaults, YAML's map[any]any, and a file instead of a variable.
	s := map[string]any{
		"admin_dsn_file": "/etc/jit/orders.dsn", "host": "db", "database": "orders",
		"levels": map[any]any{"read": map[any]any{"privileges": []any{"SELECT"}, "schemas": []any{"public"}}},
	}
	cfg, err = parseConfig(provider.Resource{Name: "orders", Settings: s, Access: []string{"read"}})
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if cfg.port != DefaultPort || cfg.connectionLimit != DefaultConnectionLimit || cfg.querySchemas != nil || cfg.sslMode != "" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestSettingsErrors(t *testing.T) {
	access := []string{"read", "write", "admin"}
	cases := []struct {
		name   string
		change func(m map[string]any)
		access []string
		key    string
		want   string
	}{
		{"no dsn", func(m map[string]any) { delete(m, "admin_dsn_env") }, nil, "admin_dsn_env", "required"},
		{"both dsn", func(m map[string]any) { m["admin_dsn_file"] = "/x" }, nil, "admin_dsn_file", "only one"},
		{"dsn env not a string", func(m map[string]any) { m["admin_dsn_env"] = 3 }, nil, "admin_dsn_env", "string"},
		{"bad env name", func(m map[string]any) { m["admin_dsn_env"] = "A=B" }, nil, "admin_dsn_env", "not a valid"},
		{"no host", func(m map[string]any) { delete(m, "host") }, nil, "host", "required"},
		{"bad port", func(m map[string]any) { m["port"] = 70000 }, nil, "port", "between"},
		{"port string", func(m map[string]any) { m["port"] = "5432" }, nil, "port", "integer"},
		{"no database", func(m map[string]any) { delete(m, "database") }, nil, "database", "required"},
		{"long database", func(m map[string]any) { m["database"] = strings.Repeat("d", 64) }, nil, "database", "63"},
		{"bad sslmode", func(m map[string]any) { m["sslmode"] = "on" }, nil, "sslmode", "one of"},
		{"bad limit", func(m map[string]any) { m["connection_limit"] = 0 }, nil, "connection_limit", "at least 1"},
		{"bad scram iterations", func(m map[string]any) { m["scram_iterations"] = 0 }, nil, "scram_iterations", "from 1 to 1000000"},
		{"unknown key", func(m map[string]any) { m["hots"] = "x" }, nil, "hots", "unknown"},
		{"list not a boolean", func(m map[string]any) { m["list"] = "yes" }, nil, "list", ""},
		{"no levels", func(m map[string]any) { delete(m, "levels") }, nil, "levels", "required"},
		{"levels not a map", func(m map[string]any) { m["levels"] = []any{"read"} }, nil, "levels", "map"},
		{"missing level", func(m map[string]any) { delete(m["levels"].(map[string]any), "admin") }, nil, "levels", `"admin"`},
		{"extra level", func(m map[string]any) {
			m["levels"].(map[string]any)["ops"] = map[string]any{"roles": []any{"x"}}
		}, nil, "levels.ops", "not an access level"},
		{"level not a map", func(m map[string]any) { m["levels"].(map[string]any)["read"] = "SELECT" }, nil, "levels.read", "map"},
		{"bad privilege", func(m map[string]any) {
			m["levels"].(map[string]any)["read"] = map[string]any{"privileges": []any{"ALL"}, "schemas": []any{"public"}}
		}, nil, "levels.read.privileges", "not one of"},
		{"privileges without schemas", func(m map[string]any) {
			m["levels"].(map[string]any)["read"] = map[string]any{"privileges": []any{"SELECT"}}
		}, nil, "levels.read.schemas", "required"},
		{"schemas without privileges", func(m map[string]any) {
			m["levels"].(map[string]any)["read"] = map[string]any{"schemas": []any{"public"}}
		}, nil, "levels.read.privileges", "required"},
		{"empty level", func(m map[string]any) { m["levels"].(map[string]any)["read"] = map[string]any{} }, nil, "levels.read.privileges", "needs"},
		{"unknown level key", func(m map[string]any) {
			m["levels"].(map[string]any)["admin"] = map[string]any{"roles": []any{"x"}, "role": "y"}
		}, nil, "levels.admin.role", "unknown"},
		{"empty role", func(m map[string]any) {
			m["levels"].(map[string]any)["admin"] = map[string]any{"roles": []any{""}}
		}, nil, "levels.admin.roles", "empty"},
		{"NUL in schema", func(m map[string]any) {
			m["levels"].(map[string]any)["read"] = map[string]any{"privileges": []any{"SELECT"}, "schemas": []any{"pub\x00lic"}}
		}, nil, "levels.read.schemas", "NUL"},
		{"roles not a list", func(m map[string]any) {
			m["levels"].(map[string]any)["admin"] = map[string]any{"roles": "x"}
		}, nil, "levels.admin.roles", "list"},
		{"query not a map", func(m map[string]any) { m["query"] = []any{"public"} }, nil, "query", "map"},
		{"query without schemas", func(m map[string]any) { m["query"] = map[string]any{} }, nil, "query.schemas", "required"},
		{"query unknown key", func(m map[string]any) {
			m["query"] = map[string]any{"schemas": []any{"public"}, "tables": []any{"x"}}
		}, nil, "query.tables", "unknown"},
		{"levels without access names", func(m map[string]any) {}, []string{}, "levels.read", "none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validSettings()
			c.change(m)
			a := access
			if c.access != nil {
				a = c.access
			}
			_, err := New(provider.Resource{Name: "orders", Type: Type, Settings: m, Access: a})
			if err == nil {
				t.Fatalf("New accepted the settings; want an error on %s", c.key)
			}
			var found bool
			for _, e := range flatten(err) {
				var se *provider.SettingError
				if !errors.As(e, &se) {
					t.Errorf("error %v is not a *provider.SettingError", e)
					continue
				}
				if se.Key == c.key && strings.Contains(se.Error(), c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("error %v; want one on key %q mentioning %q", err, c.key, c.want)
			}
		})
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
