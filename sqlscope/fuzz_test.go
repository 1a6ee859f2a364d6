package sqlscope

import (
	"errors"
	"testing"

	"github.com/jitaccess/jit/provider"
)

// fuzzScope checks what must hold for any input: no panic, and either a
// *provider.ScopeError with a non-empty, bounded, single-line reason and
// no privileges, or a non-empty sorted privilege list of known actions on
// named tables.
func fuzzScope(t *testing.T, scope scopeFunc, def, query string) {
	privs, err := scope(query, def)
	if err != nil {
		var se *provider.ScopeError
		if !errors.As(err, &se) {
			t.Fatalf("error %v (%T) is not a *provider.ScopeError", err, err)
		}
		if se.Reason == "" {
			t.Fatal("empty refusal reason")
		}
		if len(se.Reason) > 400 {
			t.Fatalf("refusal reason is %d bytes long", len(se.Reason))
		}
		for _, r := range se.Reason {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in refusal reason %q", se.Reason)
			}
		}
		if privs != nil {
			t.Fatalf("refusal returned privileges %v", render(privs))
		}
		return
	}
	checkInvariants(t, privs)
}

// addSeeds seeds both fuzzers with every table case of both dialects
// except the very long ones (length and nesting limits), which the table
// tests cover and which would slow each mutation down a hundredfold.
func addSeeds(f *testing.F) {
	for _, cases := range [][]scopeCase{pgCases, mysqlCases} {
		for _, c := range cases {
			if len(c.query) <= 4096 {
				f.Add(c.query)
			}
		}
	}
}

func FuzzPostgres(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, query string) {
		fuzzScope(t, Postgres, "public", query)
	})
}

func FuzzMySQL(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, query string) {
		fuzzScope(t, MySQL, "shop", query)
	})
}
