package mysql

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostileStrings are inputs meant to break out of a literal or an
// identifier.
var hostileStrings = []string{
	"",
	"plain",
	"'",
	"''",
	`\`,
	`\'`,
	`\\'`,
	"'; DROP USER 'root'@'%'; --",
	`x\'; DROP DATABASE test; -- `,
	"`",
	"``",
	"a`b",
	"`; DROP TABLE t; --",
	`"double" quotes`,
	"/* comment */ x",
	"-- comment\n",
	"# hash comment\r\n",
	"semi;colon",
	"nul\x00byte",
	"ctrl-z\x1a",
	"tab\tand\nnewline",
	"é ü ß 漢字 ‮rtl",
	"emoji 😀",
	"%_ wildcards",
	"€\\'", // a multi-byte character whose last byte would pair with a backslash in GBK
}

// unquoteString reads a MySQL single-quoted string literal the way the
// server does without NO_BACKSLASH_ESCAPES, and fails on anything after
// the closing quote: the literal must be exactly one token.
func unquoteString(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != '\'' {
		return "", errors.New("does not start with a quote")
	}
	var b strings.Builder
	i := 1
	for i < len(lit) {
		c := lit[i]
		switch {
		case c == '\\':
			if i+1 >= len(lit) {
				return "", errors.New("backslash at the end")
			}
			switch e := lit[i+1]; e {
			case '0':
				b.WriteByte(0)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 'Z':
				b.WriteByte(0x1a)
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			default:
				// \\, \', \" and any other character stand for
				// themselves (\% and \_ keep their backslash, which
				// quoteString never writes).
				b.WriteByte(e)
			}
			i += 2
		case c == '\'':
			if i+1 < len(lit) && lit[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			if i != len(lit)-1 {
				return "", errors.New("the literal ends before the text does")
			}
			return b.String(), nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", errors.New("unterminated literal")
}

// unquoteIdent reads a backquoted identifier and fails on anything after
// the closing backquote.
func unquoteIdent(q string) (string, error) {
	if len(q) < 2 || q[0] != '`' {
		return "", errors.New("does not start with a backquote")
	}
	var b strings.Builder
	for i := 1; i < len(q); i++ {
		if q[i] != '`' {
			b.WriteByte(q[i])
			continue
		}
		if i+1 < len(q) && q[i+1] == '`' {
			b.WriteByte('`')
			i++
			continue
		}
		if i != len(q)-1 {
			return "", errors.New("the identifier ends before the text does")
		}
		return b.String(), nil
	}
	return "", errors.New("unterminated identifier")
}

// checkQuoteString is the property of quoteString: valid UTF-8 comes back
// unchanged from the server's reading of the literal, and the literal
// holds no raw quote-breaking byte; anything else is refused.
func checkQuoteString(t *testing.T, s string) {
	lit, err := quoteString(s)
	if !utf8.ValidString(s) {
		if err == nil {
			t.Fatalf("quoteString(%q) accepted invalid UTF-8", s)
		}
		return
	}
	if err != nil {
		t.Fatalf("quoteString(%q): %v", s, err)
	}
	got, err := unquoteString(lit)
	if err != nil {
		t.Fatalf("quoteString(%q) = %s, which does not read back: %v", s, lit, err)
	}
	if got != s {
		t.Fatalf("quoteString(%q) = %s reads back as %q", s, lit, got)
	}
	// The same text read with NO_BACKSLASH_ESCAPES must still be one
	// literal: every quote inside is doubled.
	inner := lit[1 : len(lit)-1]
	if strings.Count(strings.ReplaceAll(inner, "''", ""), "'") != 0 {
		t.Fatalf("quoteString(%q) = %s has an undoubled quote", s, lit)
	}
	if strings.ContainsAny(inner, "\x00\n\r\x1a") {
		t.Fatalf("quoteString(%q) = %q has a raw control character", s, lit)
	}
}

func checkQuoteIdent(t *testing.T, s string) {
	q, err := quoteIdent(s)
	if err != nil {
		if checkIdent(s) == nil {
			t.Fatalf("quoteIdent(%q) refused a valid name: %v", s, err)
		}
		return
	}
	if !utf8.ValidString(s) || s == "" || strings.ContainsRune(s, 0) || utf8.RuneCountInString(s) > maxIdentLen ||
		strings.ContainsFunc(s, func(r rune) bool { return r > 0xFFFF }) {
		t.Fatalf("quoteIdent(%q) accepted a name the server cannot hold", s)
	}
	got, err := unquoteIdent(q)
	if err != nil {
		t.Fatalf("quoteIdent(%q) = %s does not read back: %v", s, q, err)
	}
	if got != s {
		t.Fatalf("quoteIdent(%q) = %s reads back as %q", s, q, got)
	}
}

func TestQuoteString(t *testing.T) {
	for _, s := range append(hostileStrings, "\xff\xfe invalid") {
		checkQuoteString(t, s)
	}
	cases := map[string]string{
		"":         "''",
		"a'b":      "'a''b'",
		`a\b`:      `'a\\b'`,
		"a\x00b":   `'a\0b'`,
		"line\n":   `'line\n'`,
		"`":        "'`'",
		`\'`:       `'\\'''`,
		"€\\'":     `'€\\'''`,
		"ctrl\x1a": `'ctrl\Z'`,
	}
	for in, want := range cases {
		if got, err := quoteString(in); err != nil || got != want {
			t.Errorf("quoteString(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	for _, s := range hostileStrings {
		checkQuoteIdent(t, s)
	}
	cases := map[string]string{
		"billing":  "`billing`",
		"a`b":      "`a``b`",
		"``":       "``````",
		"it's":     "`it's`",
		`back\sl`:  "`back\\sl`",
		"semi;--x": "`semi;--x`",
	}
	for in, want := range cases {
		if got, err := quoteIdent(in); err != nil || got != want {
			t.Errorf("quoteIdent(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "nul\x00", "\xff", "emoji 😀", strings.Repeat("x", 65)} {
		if q, err := quoteIdent(bad); err == nil {
			t.Errorf("quoteIdent(%q) = %s, want an error", bad, q)
		}
	}
	if _, err := quoteIdent(strings.Repeat("é", 64)); err != nil {
		t.Errorf("64 two-byte characters are a valid name: %v", err)
	}
}

func FuzzQuoteString(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkQuoteString(t, s) })
}

func FuzzQuoteIdent(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkQuoteIdent(t, s) })
}

func FuzzUserName(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s, s+"@example.com")
	}
	f.Fuzz(func(t *testing.T, id, email string) {
		u := userName(id, email)
		if !userNameRE.MatchString(u) || len(u) > maxUserLen {
			t.Fatalf("userName(%q, %q) = %q, not a name the provider makes", id, email, u)
		}
		if u != userName(id, email) {
			t.Fatal("userName is not deterministic")
		}
	})
}

func TestUserName(t *testing.T) {
	cases := []struct{ id, email, prefix string }{
		{"req1", "alice@example.com", "jit_alice_"},
		{"req1", "John.Doe+ops@example.com", "jit_john_doe_op_"},
		{"req1", "a'b\"c`d\\e;f@x", "jit_a_b_c_d_e_f_"},
		{"req1", "élodie@example.com", "jit_lodie_"},
		{"req1", "'\"`@x", "jit_"},
		{"req1", "nobody", "jit_nobody_"},
		{"req1", "a@b@c", "jit_a_b_"},
	}
	for _, c := range cases {
		u := userName(c.id, c.email)
		if !strings.HasPrefix(u, c.prefix) || !userNameRE.MatchString(u) {
			t.Errorf("userName(%q, %q) = %q, want prefix %q", c.id, c.email, u, c.prefix)
		}
		if len(u) > maxUserLen {
			t.Errorf("userName(%q, %q) = %q is longer than %d", c.id, c.email, u, maxUserLen)
		}
	}
	long := userName("req", "averyveryverylonglocalpart@example.com")
	if len(long) != maxUserLen {
		t.Errorf("a long local part gives %q (%d characters), want exactly %d", long, len(long), maxUserLen)
	}
	// Request IDs that reduce to the same text still give different names.
	if userName("a'b", "x@y") == userName("a_b", "x@y") || userName("r1", "x@y") == userName("r2", "x@y") {
		t.Error("different request IDs gave the same account name")
	}
	if userName("r1", "x@y") == userName("r1", "z@y") {
		// Not required for uniqueness, but the local part is meant to show.
		t.Error("the requester's local part does not appear in the name")
	}
}
