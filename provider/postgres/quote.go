package postgres

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// quoteLiteral renders s as a PostgreSQL string constant, for the utility
// statements (CREATE ROLE, ALTER ROLE, COMMENT) that take no bind
// parameters. A quote is doubled. A string with a backslash is written as
// an escape string (E'...') with the backslash doubled too, so that the
// result means s whatever standard_conforming_strings is set to. The
// connection's client_encoding is UTF8 (the pool sets it), so no byte of a
// multi-byte character can be taken for a quote or a backslash.
//
// Strings PostgreSQL cannot hold are refused rather than altered: invalid
// UTF-8, and NUL.
func quoteLiteral(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("literal is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("literal contains a NUL byte")
	}
	if strings.IndexByte(s, '\\') >= 0 {
		return "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `'`, `''`) + "'", nil
	}
	return "'" + strings.ReplaceAll(s, `'`, `''`) + "'", nil
}

// ident quotes one identifier (a role, schema, table or column name).
// Names are checked for NUL before they get here: Sanitize would drop it
// and so name another object.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// qualified quotes schema.name.
func qualified(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }
