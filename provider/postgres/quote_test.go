package postgres

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var literalSeeds = []string{
	"", "plain", "it's", "''", `\`, `\'`, `'\`, `\\'`, `E'x'`, `x'; DROP ROLE postgres; --`,
	"$$", "$x$ y $x$", "/* c */", "--", "\n\r\t", "ünïcødé 🎉", `\u0041`, `\x41`, `\0`,
	"SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5", "2026-01-02 03:04:05.123456+00",
}

// FuzzQuoteLiteral checks quoteLiteral against PostgreSQL's own parser
// (libpg_query): the literal must be one string constant whose value is
// the input, exactly, both as the operand of COMMENT ON ROLE (where it is
// used) and in a SELECT.
func FuzzQuoteLiteral(f *testing.F) {
	for _, s := range literalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, err := quoteLiteral(s)
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Fatalf("quoteLiteral(%q) accepted a string PostgreSQL cannot hold", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("quoteLiteral(%q): %v", s, err)
		}
		tree, err := pg_query.Parse("COMMENT ON ROLE r IS " + lit)
		if err != nil {
			t.Fatalf("COMMENT ON ROLE r IS %s does not parse: %v", lit, err)
		}
		if len(tree.Stmts) != 1 {
			t.Fatalf("COMMENT ON ROLE r IS %s parses as %d statements", lit, len(tree.Stmts))
		}
		c := tree.Stmts[0].Stmt.GetCommentStmt()
		if c == nil || c.Comment != s {
			t.Fatalf("COMMENT ON ROLE r IS %s: comment %q, want %q", lit, c.GetComment(), s)
		}
		tree, err = pg_query.Parse("SELECT " + lit + " AS v")
		if err != nil || len(tree.Stmts) != 1 {
			t.Fatalf("SELECT %s: %v", lit, err)
		}
		targets := tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()
		if len(targets) != 1 || targets[0].GetResTarget().GetVal().GetAConst().GetSval().GetSval() != s {
			t.Fatalf("SELECT %s does not select exactly %q", lit, s)
		}
	})
}

// TestQuoteLiteralOnServer sends the seeds to a real server, with
// standard_conforming_strings both on and off.
func TestQuoteLiteralOnServer(t *testing.T) {
	t.Parallel()
	conn := superuser(t, serverURL(t))
	ctx := context.Background()
	for _, scs := range []string{"on", "off"} {
		if _, err := conn.Exec(ctx, "SET standard_conforming_strings = "+scs); err != nil {
			t.Fatal(err)
		}
		for _, s := range literalSeeds {
			lit, err := quoteLiteral(s)
			if err != nil {
				t.Fatal(err)
			}
			// The literal is part of the statement text, as in the
			// utility statements; sent with the simple protocol, which
			// honours the setting.
			results, err := conn.PgConn().Exec(ctx, "SELECT "+lit).ReadAll()
			if err != nil {
				t.Fatalf("SELECT %s (standard_conforming_strings %s): %v", lit, scs, err)
			}
			if len(results) != 1 || len(results[0].Rows) != 1 {
				t.Fatalf("SELECT %s did not return one row", lit)
			}
			got := string(results[0].Rows[0][0])
			if got != s {
				t.Errorf("SELECT %s with standard_conforming_strings %s = %q, want %q", lit, scs, got, s)
			}
		}
	}
}
