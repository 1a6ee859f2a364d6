package sqlscope

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

type scopeFunc func(query, defaultSchema string) ([]jit.Privilege, error)

func render(ps []jit.Privilege) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func runCases(t *testing.T, scope scopeFunc, def string, cases []scopeCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			got, err := scope(c.query, def)
			if c.err != "" {
				if err == nil {
					t.Fatalf("got %v, want error containing %q", render(got), c.err)
				}
				var se *provider.ScopeError
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T) is not a *provider.ScopeError", err, err)
				}
				if !containsAny(se.Reason, strings.Split(c.err, "|")) {
					t.Fatalf("reason %q does not contain %q", se.Reason, c.err)
				}
				if got != nil {
					t.Errorf("refusal returned privileges %v", render(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(render(got), c.want) {
				t.Fatalf("got  %q\nwant %q", render(got), c.want)
			}
			checkInvariants(t, got)
		})
	}
}

// checkInvariants checks what every successful result must satisfy.
func checkInvariants(t *testing.T, ps []jit.Privilege) {
	t.Helper()
	if len(ps) == 0 {
		t.Fatal("success with no privileges")
	}
	for i, p := range ps {
		if _, ok := actionOrder[p.Action]; !ok {
			t.Fatalf("privilege %d has action %q", i, p.Action)
		}
		if p.Table == "" || p.Schema == "" {
			t.Fatalf("privilege %d has an empty schema or table: %+v", i, p)
		}
		if p.Columns != nil && len(p.Columns) == 0 {
			t.Fatalf("privilege %d has empty non-nil columns", i)
		}
		for j := 1; j < len(p.Columns); j++ {
			if p.Columns[j-1] >= p.Columns[j] {
				t.Fatalf("privilege %d columns not sorted and unique: %q", i, p.Columns)
			}
		}
		if p.Action == actionDelete && len(p.Columns) > 0 {
			t.Fatalf("DELETE with columns: %+v", p)
		}
		if i > 0 && !privLess(ps[i-1], p) {
			t.Fatalf("privileges not sorted and unique at %d: %v", i, render(ps))
		}
	}
}

func TestPostgres(t *testing.T) {
	runCases(t, Postgres, "public", pgCases)
}

func TestMySQL(t *testing.T) {
	runCases(t, MySQL, "shop", mysqlCases)
}

func TestPrivilegeShape(t *testing.T) {
	got, err := Postgres(`UPDATE orders SET total = 1 WHERE id = 3`, "public")
	if err != nil {
		t.Fatal(err)
	}
	want := []jit.Privilege{
		{Action: "SELECT", Schema: "public", Table: "orders"},
		{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	got, err = MySQL(`INSERT INTO orders VALUES (1)`, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if want := []jit.Privilege{{Action: "INSERT", Schema: "shop", Table: "orders"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v (whole table is nil Columns)", got, want)
	}
}

func TestDefaultSchema(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope scopeFunc
		query string
		def   string
		want  []string
		err   string
	}{
		{"pg other default", Postgres, `SELECT * FROM orders JOIN public.items ON true`, "app",
			[]string{"SELECT on app.orders", "SELECT on public.items"}, ""},
		{"pg no default", Postgres, `SELECT * FROM orders`, "", nil, "has no schema and no default schema is configured"},
		{"pg no default qualified", Postgres, `SELECT * FROM app.orders`, "", []string{"SELECT on app.orders"}, ""},
		{"pg system default", Postgres, `SELECT * FROM orders`, "pg_catalog", nil, "system catalogue"},
		{"mysql no default", MySQL, `SELECT * FROM orders`, "", nil, "has no database and no default database is configured"},
		{"mysql system default", MySQL, `SELECT * FROM user`, "mysql", nil, "system database"},
		{"mysql other default", MySQL, `DELETE FROM orders`, "app", []string{"DELETE on app.orders"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.scope(tc.query, tc.def)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error containing %q", render(got), err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(render(got), tc.want) {
				t.Fatalf("got %q, want %q", render(got), tc.want)
			}
		})
	}
}

func TestErrorMessageIsBounded(t *testing.T) {
	// A refusal names what the requester wrote, but a long or
	// control-character name must not flood the message.
	long := strings.Repeat("f", 1000)
	_, err := Postgres(`SELECT "`+long+"\n"+`"(1) FROM orders`, "public")
	if err == nil {
		t.Fatal("unknown function accepted")
	}
	if len(err.Error()) > 200 || strings.ContainsRune(err.Error(), '\n') {
		t.Fatalf("unbounded message: %q", err.Error())
	}
}

func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range pgCases[:20] {
				if _, err := Postgres(c.query, "public"); err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
			}
			for _, c := range mysqlCases[:20] {
				if _, err := MySQL(c.query, "shop"); err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestStmtName(t *testing.T) {
	for in, want := range map[string]string{
		"CreateTableStmt":          "CREATE TABLE",
		"*ast.AlterDatabaseStmt":   "ALTER DATABASE",
		"Node_CreateExtensionStmt": "CREATE EXTENSION",
		"Flush":                    "FLUSH",
	} {
		if got := stmtName(in); got != want {
			t.Errorf("stmtName(%q) = %q, want %q", in, got, want)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
