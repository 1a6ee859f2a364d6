package mysql

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxIdentLen is the longest database, table, column or event name MySQL
// and MariaDB accept (in characters).
const maxIdentLen = 64

// quoteIdent quotes a database, table, column, event, routine or role name
// with backquotes, doubling any backquote inside, which is the only
// character with a meaning inside a backquoted identifier. Backquote
// quoting is not affected by sql_mode (ANSI_QUOTES changes only double
// quotes). Names the server cannot hold are refused rather than altered:
// NUL, characters outside the Basic Multilingual Plane (MySQL and MariaDB
// refuse them in identifiers), invalid UTF-8 (the connection is utf8mb4)
// and names longer than 64 characters.
func quoteIdent(name string) (string, error) {
	if err := checkIdent(name); err != nil {
		return "", err
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`", nil
}

// checkIdent reports why name cannot be a quoted identifier, or nil.
func checkIdent(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if !utf8.ValidString(name) {
		return errors.New("name is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > maxIdentLen {
		return fmt.Errorf("name is %d characters long, the limit is %d", n, maxIdentLen)
	}
	for _, r := range name {
		if r == 0 {
			return errors.New("name contains a NUL character")
		}
		if r > 0xFFFF {
			return fmt.Errorf("name contains %U, outside the characters MySQL allows in names", r)
		}
	}
	return nil
}

// quoteString renders s as a single-quoted SQL string literal. It is the
// only way a value enters a statement that cannot take parameters (CREATE
// USER, GRANT, CREATE EVENT...).
//
// A quote is doubled (two quotes are read as one with or without the
// NO_BACKSLASH_ESCAPES sql_mode, so a quote can never end the literal
// early whatever the mode); backslash, NUL, CR, LF and Ctrl-Z are
// escaped with a backslash as mysql_real_escape_string does. The provider's
// sessions always run without NO_BACKSLASH_ESCAPES and with the utf8mb4
// character set (see connectorConfig): under a multi-byte character set
// such as GBK or SJIS a byte inside a character could swallow an escaping
// backslash, which is why the character set is not left to the DSN.
// Invalid UTF-8 is refused, because the server would silently alter it.
func quoteString(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("value is not valid UTF-8")
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case 0x1a:
			b.WriteString(`\Z`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// account is a MySQL account name, 'user'@'host'.
type account struct {
	User string `json:"user"`
	Host string `json:"host"`
}

// sql renders the account as two string literals joined by @.
func (a account) sql() (string, error) {
	u, err := quoteString(a.User)
	if err != nil {
		return "", fmt.Errorf("account user: %w", err)
	}
	h, err := quoteString(a.Host)
	if err != nil {
		return "", fmt.Errorf("account host: %w", err)
	}
	return u + "@" + h, nil
}
