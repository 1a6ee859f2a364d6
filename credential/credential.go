// Package credential keeps the credentials providers issue (the password of
// an ephemeral database user) readable by their requester only. jitd seals
// each credential to the requester's registered age X25519 public key
// (filippo.io/age, ASCII-armored) and stores only the sealed envelope; the
// CLI opens it with the private key that never leaves the requester's
// machine, and turns it into what database clients read: environment
// variables, command-line arguments or a connection URL.
package credential

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/jitaccess/jit"
)

// KindPassword is the CredentialPayload.Kind of a database password:
// Secret is the password, Info says where and as whom to connect.
const KindPassword = "password"

// Keys of CredentialPayload.Info for database credentials. All are
// non-secret.
const (
	// InfoDialect is DialectPostgres, DialectMySQL or DialectMariaDB.
	InfoDialect  = "dialect"
	InfoHost     = "host"
	InfoPort     = "port"
	InfoDatabase = "database"
	InfoUser     = "user"
	// InfoSSLMode is a libpq sslmode (disable, allow, prefer, require,
	// verify-ca, verify-full), PostgreSQL only.
	InfoSSLMode = "sslmode"
)

// Dialects of InfoDialect.
const (
	DialectPostgres = "postgres"
	DialectMySQL    = "mysql"
	DialectMariaDB  = "mariadb"
)

// ErrWrongKey is returned by Open when the envelope was encrypted to
// another key than the one given.
var ErrWrongKey = errors.New("this credential was encrypted to a different key; run `jit login` on the machine holding the key you registered, or ask for new access")

// Size limits. A credential is a password and a few lines of connection
// details; the limits keep a damaged or hostile envelope from costing more
// than a moment.
const (
	maxEnvelopeBytes = 1 << 20
	maxPayloadBytes  = 64 << 10
)

// Seal encrypts p as JSON to recipient (an age X25519 public key, checked
// with ParseRecipient) and returns the ASCII-armored age file. Each call
// uses fresh randomness, so sealing the same payload twice gives different
// envelopes. Errors never contain the secret.
func Seal(recipient string, p jit.CredentialPayload) (string, error) {
	r, err := ParseRecipient(recipient)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("sealing credential: encoding: %w", err)
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return "", fmt.Errorf("sealing credential: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return "", fmt.Errorf("sealing credential: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("sealing credential: %w", err)
	}
	if err := aw.Close(); err != nil {
		return "", fmt.Errorf("sealing credential: %w", err)
	}
	return buf.String(), nil
}

// Open decrypts an envelope made by Seal with id and decodes its payload.
// An envelope encrypted to another key fails with ErrWrongKey; a damaged
// or truncated one with an error saying so. Open never panics, whatever
// armored holds.
func Open(id *age.X25519Identity, armored string) (jit.CredentialPayload, error) {
	if id == nil {
		return jit.CredentialPayload{}, errors.New("opening credential: no key given")
	}
	if len(armored) > maxEnvelopeBytes {
		return jit.CredentialPayload{}, errors.New("opening credential: the envelope is too large")
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return jit.CredentialPayload{}, ErrWrongKey
		}
		return jit.CredentialPayload{}, fmt.Errorf("opening credential: the envelope is damaged: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxPayloadBytes+1))
	if err != nil {
		return jit.CredentialPayload{}, fmt.Errorf("opening credential: the envelope is damaged: %w", err)
	}
	if len(plain) > maxPayloadBytes {
		return jit.CredentialPayload{}, errors.New("opening credential: the payload is too large")
	}
	var p jit.CredentialPayload
	if err := json.Unmarshal(plain, &p); err != nil {
		// The JSON error could quote the plaintext: leave it out.
		return jit.CredentialPayload{}, errors.New("opening credential: the payload is not a credential")
	}
	return p, nil
}

// conn is a validated database credential.
type conn struct {
	dialect                                   string // DialectPostgres or DialectMySQL
	host, port, database, user, password, ssl string
}

var sslModes = map[string]bool{"disable": true, "allow": true, "prefer": true, "require": true, "verify-ca": true, "verify-full": true}

// hostRE is what a host may look like: a DNS name, an IPv4 address or an
// IPv6 address (without brackets). Anything else would be read differently
// by different clients.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9:]([A-Za-z0-9.\-_:%]*[A-Za-z0-9.])?$`)

// database reads p as a database credential and checks what clients will be
// given. Messages never contain the secret.
func database(p jit.CredentialPayload) (conn, error) {
	if p.Kind != KindPassword {
		return conn{}, fmt.Errorf("credential of kind %q is not a database password", p.Kind)
	}
	c := conn{
		host: p.Info[InfoHost], port: p.Info[InfoPort], database: p.Info[InfoDatabase],
		user: p.Info[InfoUser], password: p.Secret, ssl: p.Info[InfoSSLMode],
	}
	switch d := p.Info[InfoDialect]; d {
	case DialectPostgres, "postgresql":
		c.dialect = DialectPostgres
	case DialectMySQL, DialectMariaDB:
		c.dialect = DialectMySQL
	case "":
		return conn{}, errors.New("credential does not say which database it is for (no dialect)")
	default:
		return conn{}, fmt.Errorf("credential is for an unknown database dialect %q (known: postgres, mysql, mariadb)", d)
	}
	if c.host == "" || !hostRE.MatchString(c.host) {
		return conn{}, fmt.Errorf("credential has no valid host (%q)", c.host)
	}
	if c.user == "" {
		return conn{}, errors.New("credential has no user name")
	}
	if c.port != "" {
		if n, err := strconv.Atoi(c.port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != c.port {
			return conn{}, fmt.Errorf("credential has an invalid port %q", c.port)
		}
	}
	if c.ssl != "" {
		if c.dialect != DialectPostgres {
			return conn{}, errors.New("credential sets sslmode, which only PostgreSQL has")
		}
		if !sslModes[c.ssl] {
			return conn{}, fmt.Errorf("credential has an unknown sslmode %q", c.ssl)
		}
	}
	// Names are printed (in shell snippets, on terminals) and passed as
	// arguments: a control character in one is never legitimate.
	if strings.ContainsFunc(c.user+c.database, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return conn{}, errors.New("credential's user or database name contains a control character")
	}
	// A NUL cannot be passed in an environment variable; the client would
	// see a truncated password.
	if strings.ContainsRune(c.password, 0) {
		return conn{}, errors.New("credential's password contains a NUL character")
	}
	return c, nil
}

// Env returns the environment assignments ("NAME=value") a command-line
// client of p's dialect reads its connection from:
//
//   - postgres: PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, and
//     PGSSLMODE when Info["sslmode"] is set (psql, pg_dump and every libpq
//     program read these);
//   - mysql and mariadb: MYSQL_HOST, MYSQL_TCP_PORT and MYSQL_PWD. The
//     mysql client reads no user name or database from the environment:
//     ClientArgs returns them as arguments.
//
// Variables whose value is unknown (no port, no database) are left out.
// It fails for a credential that is not a database password, or whose
// dialect is missing or unknown.
func Env(p jit.CredentialPayload) ([]string, error) {
	c, err := database(p)
	if err != nil {
		return nil, err
	}
	var env []string
	add := func(k, v string) {
		if v != "" || k == "PGPASSWORD" || k == "MYSQL_PWD" {
			env = append(env, k+"="+v)
		}
	}
	switch c.dialect {
	case DialectPostgres:
		add("PGHOST", c.host)
		add("PGPORT", c.port)
		add("PGDATABASE", c.database)
		add("PGUSER", c.user)
		add("PGPASSWORD", c.password)
		add("PGSSLMODE", c.ssl)
	default:
		add("MYSQL_HOST", c.host)
		add("MYSQL_TCP_PORT", c.port)
		add("MYSQL_PWD", c.password)
	}
	return env, nil
}

// ClientArgs returns the command-line arguments the dialect's client needs
// besides Env: none for PostgreSQL (libpq reads everything from the
// environment); for MySQL and MariaDB "-h HOST [-P PORT] --protocol=TCP -u
// USER [-D DATABASE]" (TCP, because the client would otherwise use a local
// socket for "localhost" and ignore the port; -D rather than a positional
// name, so that no value can be read as an option). The password is never
// among them: it goes in the environment only.
func ClientArgs(p jit.CredentialPayload) ([]string, error) {
	c, err := database(p)
	if err != nil {
		return nil, err
	}
	if c.dialect == DialectPostgres {
		return nil, nil
	}
	args := []string{"-h", c.host}
	if c.port != "" {
		args = append(args, "-P", c.port)
	}
	args = append(args, "--protocol=TCP", "-u", c.user)
	if c.database != "" {
		args = append(args, "-D", c.database)
	}
	return args, nil
}

// Dialect returns the normalised dialect of a database credential:
// DialectPostgres, or DialectMySQL for MySQL and MariaDB alike.
func Dialect(p jit.CredentialPayload) (string, error) {
	c, err := database(p)
	if err != nil {
		return "", err
	}
	return c.dialect, nil
}

// URL returns p as a connection URL with the user name, password and
// database escaped: postgres://user:pass@host:port/db?sslmode=mode, or
// mysql://user:pass@host:port/db for MySQL and MariaDB. The URL holds the
// password: print it only for its owner.
func URL(p jit.CredentialPayload) (string, error) {
	c, err := database(p)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.user, c.password)}
	if c.dialect == DialectMySQL {
		u.Scheme = "mysql"
	}
	switch {
	case c.port != "":
		u.Host = net.JoinHostPort(c.host, c.port)
	case strings.Contains(c.host, ":"):
		u.Host = "[" + c.host + "]"
	default:
		u.Host = c.host
	}
	if c.database != "" {
		// RawPath keeps a "/" in the name escaped, so that it is not read
		// as a path separator.
		u.Path = "/" + c.database
		u.RawPath = "/" + url.PathEscape(c.database)
	}
	if c.ssl != "" {
		u.RawQuery = url.Values{"sslmode": {c.ssl}}.Encode()
	}
	return u.String(), nil
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
