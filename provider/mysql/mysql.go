package mysql

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "mysql"

// CredentialKind is the Kind of the credential Grant issues.
const CredentialKind = "password"

// Connection pool limits. Every call takes one connection for its whole
// run; a few are enough for the grants and revokes of one resource, and
// the bound keeps jitd from using up the server's max_connections.
const (
	maxOpenConns    = 8
	maxIdleConns    = 2
	connMaxIdleTime = time.Minute
	// dialTimeout bounds connecting when the DSN sets no timeout, so that
	// a server that does not answer fails the call instead of hanging it.
	dialTimeout = 10 * time.Second
	// setupLockTimeout is how long a replica waits (in seconds) for another
	// one that is installing the guard routine.
	setupLockTimeout = 30
)

// MySQL error numbers the provider reacts to.
const (
	errNoSuchThread = 1094 // ER_NO_SUCH_THREAD: KILL of a session that has ended
	errCannotUser   = 1396 // ER_CANNOT_USER: CREATE USER of an existing account
	errBadDB        = 1049 // ER_BAD_DB_ERROR: unknown database
)

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider         = (*Provider)(nil)
	_ provider.Closer           = (*Provider)(nil)
	_ provider.Scoper           = (*Provider)(nil)
	_ provider.CredentialIssuer = (*Provider)(nil)
)

// Provider creates one MySQL or MariaDB account per grant. It is safe for
// concurrent use.
type Provider struct {
	resource string
	cfg      *config
	stmts    statements
	db       *sql.DB
	clock    jit.Clock

	// guardMu serialises the installation of the guard routine within
	// this process; GET_LOCK does it across replicas.
	guardMu sync.Mutex
}

// Options are what New cannot read from the settings. The zero value is the
// production configuration.
type Options struct {
	// Clock tells whether a grant's expiry has passed (default
	// jit.SystemClock).
	Clock jit.Clock
}

// New builds the provider from r.Settings (see the package documentation
// for the settings). It reads the admin DSN from its environment variable
// or file but never connects: connections are opened by the first call.
// Errors name the offending setting and never contain the DSN.
func New(r provider.Resource) (provider.Provider, error) {
	return NewWithOptions(r, Options{})
}

// NewWithOptions is New with options.
func NewWithOptions(r provider.Resource, o Options) (*Provider, error) {
	cfg, err := parseSettings(r)
	if err != nil {
		return nil, err
	}
	connCfg, err := connectorConfig(cfg.dsn)
	if err != nil {
		return nil, &provider.SettingError{Key: dsnKey(r), Err: err}
	}
	connector, err := gomysql.NewConnector(connCfg)
	if err != nil {
		return nil, &provider.SettingError{Key: dsnKey(r), Err: errors.New("the DSN cannot be used")}
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	p := &Provider{resource: r.Name, cfg: cfg, stmts: statements{dialect: cfg.dialect}, db: db, clock: o.Clock}
	if p.clock == nil {
		p.clock = jit.SystemClock{}
	}
	return p, nil
}

func dsnKey(r provider.Resource) string {
	if _, ok := r.Settings["admin_dsn_file"]; ok {
		return "admin_dsn_file"
	}
	return "admin_dsn_env"
}

// sqlModeExpr is the session's sql_mode: the server's, without
// NO_BACKSLASH_ESCAPES (sql_mode is a comma-separated list; the commas
// around it make the mode match only as a whole word).
const sqlModeExpr = "TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))"

// connectorConfig fixes the parts of the admin connection that the SQL
// built here depends on, whatever the DSN says:
//   - utf8mb4 as the connection character set, because quoteString's
//     backslash escapes are only sound in a character set where no
//     multi-byte character contains the byte of a backslash or a quote;
//   - a session without NO_BACKSLASH_ESCAPES, for the same escapes;
//   - the session time zone +00:00, so that event times written in UTC
//     mean UTC, whatever the server's time zone;
//   - no multi-statements, so that no text could ever run as a second
//     statement;
//   - DATETIME values read as UTC times.
func connectorConfig(dsn *gomysql.Config) (*gomysql.Config, error) {
	if dsn == nil {
		return nil, errors.New("no DSN")
	}
	c := dsn.Clone()
	if err := c.Apply(gomysql.Charset("utf8mb4", "utf8mb4_general_ci")); err != nil {
		return nil, err
	}
	params := map[string]string{}
	for k, v := range c.Params {
		switch strings.ToLower(k) {
		case "time_zone", "sql_mode", "character_set_client", "character_set_connection", "names", "charset":
			// Set below or by Charset; a second value would race it.
		default:
			params[k] = v
		}
	}
	params["time_zone"] = "'+00:00'"
	params["sql_mode"] = sqlModeExpr
	c.Params = params
	c.MultiStatements = false
	c.ParseTime = true
	c.Loc = time.UTC
	if c.Timeout == 0 {
		c.Timeout = dialTimeout
	}
	return c, nil
}

// Close releases the provider's connections. It is safe to call more than
// once.
func (p *Provider) Close() error { return p.db.Close() }

// IssuesCredentials implements provider.CredentialIssuer: every grant
// returns the account's password.
func (p *Provider) IssuesCredentials() bool { return true }

// handle is the stored GrantResponse.Handle.
type handle = account

// accountFor finds the account of a request: the handle's when there is
// one (it is checked to be a name this provider makes), else the one
// derived from the request ID and the requester.
func (p *Provider) accountFor(requestID, user string, h json.RawMessage) (account, error) {
	if len(h) == 0 || string(h) == "null" {
		if requestID == "" {
			return account{}, errors.New("the request has no ID and no handle")
		}
		return account{User: userName(requestID, user), Host: p.cfg.userHost}, nil
	}
	var a handle
	if err := json.Unmarshal(h, &a); err != nil {
		return account{}, fmt.Errorf("the handle is not this provider's: %w", err)
	}
	if !userNameRE.MatchString(a.User) {
		return account{}, errors.New("the handle names an account this provider does not make")
	}
	if err := checkUserHost(a.Host); err != nil {
		return account{}, fmt.Errorf("the handle's host %w", err)
	}
	return a, nil
}

// session is one call's connection. It tracks whether a statement that
// could have changed access has been sent, which decides whether an error
// is NotApplied.
type session struct {
	conn    *sql.Conn
	changed bool
}

func (p *Provider) open(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database server: %w", err)
	}
	return &session{conn: conn}, nil
}

func (s *session) close() { _ = s.conn.Close() }

// exec runs a statement that may change access. It is counted as sent
// unless the driver proves it was not (driver.ErrBadConn is returned only
// when nothing was written to the connection).
func (s *session) exec(ctx context.Context, stmt string) error {
	before := s.changed
	s.changed = true
	if _, err := s.conn.ExecContext(ctx, stmt); err != nil {
		if !before && errors.Is(err, driver.ErrBadConn) {
			s.changed = false
		}
		return err
	}
	return nil
}

// execSetup runs a statement that changes no access (installing the guard
// routine, starting the event scheduler): a grant that fails after it did
// nothing a retry or a revoke has to care about.
func (s *session) execSetup(ctx context.Context, stmt string) error {
	_, err := s.conn.ExecContext(ctx, stmt)
	return err
}

// fail wraps err as NotApplied when nothing that changes access was sent.
func (s *session) fail(err error) error {
	if s == nil || !s.changed {
		return provider.NotApplied(err)
	}
	return err
}

// Grant schedules the request's expiry event, then creates its account
// (or, for a request granted before, gives the account a new password) and
// grants it the level's privileges and roles, or exactly req.Privileges
// for a query-scoped request. The event comes first so that there is
// never an account without its guard.
//
// Idempotent: the account name is derived from the request ID, so a second
// call finds the same account; it returns a new password (the first
// call's answer was lost, or it would not be repeated), and re-granting
// the same privileges changes nothing.
//
// Errors: NotApplied when nothing that creates access reached the server
// (the connection failed, the request or the server's event scheduler
// was refused by the checks before the first such statement); any other
// error leaves the outcome unknown and is reconciled with Verify or Revoke.
// Errors never contain the password.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if req.RequestID == "" {
		return provider.GrantResponse{}, provider.NotApplied(errors.New("mysql grant: the request has no ID"))
	}
	plan, err := p.plan(req)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("mysql grant %q: %w", req.RequestID, err))
	}
	password, err := newPassword()
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("mysql grant %q: %w", req.RequestID, err))
	}
	createUser, err := p.stmts.createUser(plan.account, password, p.cfg.maxConns)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("mysql grant %q: %w", req.RequestID, err))
	}
	alterUser, err := p.stmts.alterUser(plan.account, password, p.cfg.maxConns)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("mysql grant %q: %w", req.RequestID, err))
	}

	s, err := p.open(ctx)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("mysql grant %q: %w", req.RequestID, err))
	}
	defer s.close()

	if p.cfg.guard != GuardOff {
		if err := p.checkScheduler(ctx, s); err != nil {
			return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: %w", req.RequestID, err))
		}
		if err := p.ensureGuard(ctx, s); err != nil {
			return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: installing the expiry guard in %s: %w", req.RequestID, p.cfg.guardDB, err))
		}
		for _, stmt := range plan.event {
			if err := s.exec(ctx, stmt); err != nil {
				return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: creating the expiry event: %w", req.RequestID, err))
			}
		}
		// An expiry that passed while the statements ran makes the server
		// drop the event as soon as it is created (note 1588): there
		// would be an account without a guard.
		if _, ok, err := p.eventTime(ctx, s.conn, plan.account.User); err != nil {
			return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: reading back the expiry event: %w", req.RequestID, err))
		} else if !ok {
			return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: the server did not keep the expiry event (is the expiry %s in the past?)", req.RequestID, req.ExpiresAt.UTC().Format(time.RFC3339)))
		}
	}

	exists, err := p.accountExists(ctx, s.conn, plan.account)
	if err != nil {
		return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: looking up the account: %w", req.RequestID, err))
	}
	if exists {
		err = s.exec(ctx, alterUser)
	} else {
		err = s.exec(ctx, createUser)
		var me *gomysql.MySQLError
		if errors.As(err, &me) && me.Number == errCannotUser {
			// A concurrent grant of the same request created it.
			err = s.exec(ctx, alterUser)
		}
	}
	if err != nil {
		return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: creating account %s: %w", req.RequestID, plan.account.User, scrub(err, password)))
	}
	for _, stmt := range plan.grants {
		if err := s.exec(ctx, stmt); err != nil {
			return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: %s: %w", req.RequestID, firstWords(stmt), err))
		}
	}

	h, err := json.Marshal(handle(plan.account))
	if err != nil {
		return provider.GrantResponse{}, s.fail(fmt.Errorf("mysql grant %q: encoding the handle: %w", req.RequestID, err))
	}
	return provider.GrantResponse{
		Handle: h,
		Credential: &provider.Credential{
			Kind: CredentialKind,
			Data: []byte(password),
			Info: map[string]string{
				"dialect":  p.cfg.dialect,
				"host":     p.cfg.host,
				"port":     strconv.Itoa(p.cfg.port),
				"database": p.cfg.database,
				"user":     plan.account.User,
			},
		},
	}, nil
}

// grantPlan is what a Grant will run, built before connecting so that a
// request that cannot be granted fails without touching the server.
type grantPlan struct {
	account account
	event   []string
	grants  []string
}

func (p *Provider) plan(req provider.GrantRequest) (grantPlan, error) {
	pl := grantPlan{account: account{User: userName(req.RequestID, req.User), Host: p.cfg.userHost}}
	if p.cfg.guard != GuardOff {
		if req.ExpiresAt.IsZero() {
			return pl, errors.New("the request has no expiry, which the expiry guard needs")
		}
		if !req.ExpiresAt.After(p.clock.Now()) {
			return pl, fmt.Errorf("the expiry %s has passed", req.ExpiresAt.UTC().Format(time.RFC3339))
		}
		ev, err := p.stmts.createEvent(p.cfg.guardDB, pl.account, req.ExpiresAt)
		if err != nil {
			return pl, err
		}
		pl.event = ev
	}
	if len(req.Privileges) > 0 || req.Query != "" {
		grants, err := p.scopedGrants(req, pl.account)
		if err != nil {
			return pl, err
		}
		pl.grants = grants
		return pl, nil
	}
	lv, ok := p.cfg.levels[req.Access]
	if !ok {
		return pl, fmt.Errorf("access level %q is not defined for resource %s", req.Access, p.resource)
	}
	if len(lv.privileges) > 0 {
		for _, db := range lv.databases {
			g, err := p.stmts.grantDatabase(lv.privileges, db, pl.account)
			if err != nil {
				return pl, err
			}
			pl.grants = append(pl.grants, g)
		}
	}
	roles, err := p.stmts.grantRoles(lv.roles, pl.account)
	if err != nil {
		return pl, err
	}
	pl.grants = append(pl.grants, roles...)
	return pl, nil
}

// scopedGrants checks a query-scoped request's privileges against the
// settings and renders one GRANT per privilege.
func (p *Provider) scopedGrants(req provider.GrantRequest, a account) ([]string, error) {
	if !p.cfg.queryScope {
		return nil, fmt.Errorf("query-scoped requests are not enabled for resource %s", p.resource)
	}
	if len(req.Privileges) == 0 {
		return nil, errors.New("the query-scoped request has no privileges")
	}
	var out []string
	for _, priv := range req.Privileges {
		if priv.Schema == "" {
			priv.Schema = p.cfg.database
		}
		if !p.queryDatabase(priv.Schema) {
			return nil, fmt.Errorf("%s: database %q is not open to query-scoped requests", priv, priv.Schema)
		}
		g, err := p.stmts.grantTable(priv, a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", priv, err)
		}
		out = append(out, g)
	}
	return out, nil
}

func (p *Provider) queryDatabase(db string) bool {
	for _, d := range p.cfg.queryDBs {
		if d == db {
			return true
		}
	}
	return false
}

// passwordTail is appended to every password so that it has an upper-case
// letter, a lower-case letter, a digit and a punctuation character, which
// password-validation plugins (MariaDB's simple_password_check, MySQL's
// validate_password) require by default; the strength is in the 32 random
// bytes before it.
const passwordTail = ".Jt7"

// newPassword returns 32 random bytes in URL-safe base64 (no quote or
// backslash, nothing a shell or a DSN would read specially).
func newPassword() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]) + passwordTail, nil
}

// scrub removes the password from an error, should a server ever echo a
// statement back.
func scrub(err error, password string) error {
	if err == nil || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "<password>"))
}

// firstWords names a statement in an error without its account or values:
// "GRANT SELECT ON `billing`.*".
func firstWords(stmt string) string {
	if i := strings.Index(stmt, " TO "); i >= 0 {
		return stmt[:i]
	}
	if i := strings.Index(stmt, " FOR "); i >= 0 {
		return stmt[:i]
	}
	return stmt
}

// checkScheduler makes sure the event scheduler runs. When it is OFF, jit
// tries to start it (which needs SUPER, or SYSTEM_VARIABLES_ADMIN in
// MySQL 8); when that fails, expiry_guard decides.
func (p *Provider) checkScheduler(ctx context.Context, s *session) error {
	var state string
	if err := s.conn.QueryRowContext(ctx, queryEventScheduler).Scan(&state); err != nil {
		return fmt.Errorf("reading @@event_scheduler: %w", err)
	}
	state = strings.ToUpper(state)
	if state == "ON" || state == "1" {
		return nil
	}
	var cause error
	if state == "DISABLED" {
		cause = errors.New("the server was started with event_scheduler=DISABLED, which cannot be changed while it runs")
	} else if err := s.execSetup(ctx, "SET GLOBAL event_scheduler = ON"); err != nil {
		cause = fmt.Errorf("turning it on failed: %w", err)
	} else {
		return nil
	}
	if p.cfg.guard == GuardBestEffort {
		return nil
	}
	return fmt.Errorf("the expiry guard needs the event scheduler, which is %s on the server (%v); "+
		"fix: set event_scheduler=ON in the server's configuration (or grant the admin account the SUPER privilege so that jit can turn it on), "+
		"or set expiry_guard: best_effort or off for resource %s", state, cause, p.resource)
}

// ensureGuard installs guard_database and the expiry routine when they
// are missing. It looks every time (one read of information_schema), so
// that a guard database dropped by hand is put back by the next grant
// instead of leaving events that call nothing. Replicas starting together
// take a named server lock (GET_LOCK) so that only one creates the
// routine.
func (p *Provider) ensureGuard(ctx context.Context, s *session) error {
	has, err := p.hasRoutine(ctx, s.conn)
	if err != nil || has {
		return err
	}
	p.guardMu.Lock()
	defer p.guardMu.Unlock()
	var n int
	if err := s.conn.QueryRowContext(ctx, querySchemaExists, p.cfg.guardDB).Scan(&n); err != nil {
		return fmt.Errorf("looking up the database: %w", err)
	}
	if n == 0 {
		stmt, err := p.stmts.createGuardDatabase(p.cfg.guardDB)
		if err != nil {
			return err
		}
		if err := s.execSetup(ctx, stmt); err != nil {
			return fmt.Errorf("creating the database: %w", err)
		}
	}
	lockName := setupLockName(p.cfg.guardDB)
	var got sql.NullInt64
	if err := s.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", lockName, setupLockTimeout).Scan(&got); err != nil {
		return fmt.Errorf("taking the setup lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("another jit replica held the setup lock for %ds", setupLockTimeout)
	}
	defer func() {
		// A lock left held would stay with the pooled connection: release
		// it even when ctx has ended, and discard the connection when
		// that fails.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var released sql.NullInt64
		if err := s.conn.QueryRowContext(rctx, "SELECT RELEASE_LOCK(?)", lockName).Scan(&released); err != nil {
			_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if has, err = p.hasRoutine(ctx, s.conn); err != nil {
		return err
	}
	if has {
		return nil
	}
	stmt, err := p.stmts.createExpireProcedure(p.cfg.guardDB)
	if err != nil {
		return err
	}
	if err := s.execSetup(ctx, stmt); err != nil {
		return fmt.Errorf("creating procedure %s: %w", expireProcedure, err)
	}
	return nil
}

func (p *Provider) hasRoutine(ctx context.Context, conn *sql.Conn) (bool, error) {
	var n int
	if err := conn.QueryRowContext(ctx, queryRoutineExists, p.cfg.guardDB, expireProcedure).Scan(&n); err != nil {
		return false, fmt.Errorf("looking up procedure %s: %w", expireProcedure, err)
	}
	return n > 0, nil
}

// setupLockName is the GET_LOCK name guarding the routine's installation
// in one guard database. Lock names are limited to 64 characters, so a
// long database name is hashed.
func setupLockName(guardDB string) string {
	sum := sha256.Sum256([]byte(guardDB))
	return "jit_guard_setup_" + hex.EncodeToString(sum[:12])
}

// querier is what both *sql.DB and *sql.Conn offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (p *Provider) accountExists(ctx context.Context, q querier, a account) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, p.stmts.queryAccountExists(), a.User, a.Host).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// eventTime reads the scheduled time of an account's expiry event.
func (p *Provider) eventTime(ctx context.Context, q querier, user string) (time.Time, bool, error) {
	var at sql.NullTime
	err := q.QueryRowContext(ctx, queryEventTime, p.cfg.guardDB, eventName(user)).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	if !at.Valid {
		// The event exists but its time could not be converted (a named
		// time zone without the server's time zone tables).
		return time.Time{}, true, nil
	}
	return at.Time.UTC(), true, nil
}

// Revoke removes the request's account: it locks it (no new login), kills
// its sessions, drops it, kills again any session that was logging in
// meanwhile, and drops its expiry event. A nil handle is the account
// derived from the request ID and user.
//
// Idempotent: every step is a no-op for an account that is gone, so
// revoking twice, or revoking a request never granted, succeeds.
// Errors: the access may still exist; the caller retries.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	a, err := p.accountFor(req.RequestID, req.User, req.Handle)
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
	}
	lock, err := p.stmts.lockUser(a)
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
	}
	drop, err := p.stmts.dropUser(a)
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
	}
	s, err := p.open(ctx)
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
	}
	defer s.close()
	if err := s.exec(ctx, lock); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: locking account %s: %w", req.RequestID, a.User, err)
	}
	if err := p.killSessions(ctx, s, a.User); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
	}
	if err := s.exec(ctx, drop); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: dropping account %s: %w", req.RequestID, a.User, err)
	}
	if err := p.killSessions(ctx, s, a.User); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
	}
	if p.cfg.guard != GuardOff {
		stmt, err := p.stmts.dropEvent(p.cfg.guardDB, a.User)
		if err != nil {
			return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: %w", req.RequestID, err)
		}
		var me *gomysql.MySQLError
		if err := s.exec(ctx, stmt); err != nil && !(errors.As(err, &me) && me.Number == errBadDB) {
			return provider.RevokeResponse{}, fmt.Errorf("mysql revoke %q: dropping the expiry event: %w", req.RequestID, err)
		}
	}
	return provider.RevokeResponse{}, nil
}

// killSessions ends every session of user. MySQL keeps a dropped
// account's sessions open, so this is what ends live access.
func (p *Provider) killSessions(ctx context.Context, s *session, user string) error {
	rows, err := s.conn.QueryContext(ctx, querySessions, user)
	if err != nil {
		return fmt.Errorf("listing the sessions of %s: %w", user, err)
	}
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("listing the sessions of %s: %w", user, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("listing the sessions of %s: %w", user, err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing the sessions of %s: %w", user, err)
	}
	for _, id := range ids {
		err := s.exec(ctx, p.stmts.kill(id))
		var me *gomysql.MySQLError
		if err != nil && !(errors.As(err, &me) && me.Number == errNoSuchThread) {
			return fmt.Errorf("killing session %d of %s: %w", id, user, err)
		}
	}
	return nil
}

// Verify reports whether the request's account exists (a locked account
// still counts: a revoke has not finished) and, when the expiry event
// exists, the time it will drop the account. It changes nothing.
// Errors: nothing may be concluded; the caller asks again later.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	a, err := p.accountFor(req.RequestID, req.User, req.Handle)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("mysql verify %q: %w", req.RequestID, err)
	}
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("mysql verify %q: %w", req.RequestID, err)
	}
	present, err := p.accountExists(ctx, p.db, a)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("mysql verify %q: looking up account %s: %w", req.RequestID, a.User, err)
	}
	resp := provider.VerifyResponse{Present: present}
	if !present || p.cfg.guard == GuardOff {
		return resp, nil
	}
	at, ok, err := p.eventTime(ctx, p.db, a.User)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("mysql verify %q: reading the expiry event: %w", req.RequestID, err)
	}
	if ok && !at.IsZero() {
		resp.ExpiresAt = &at
	}
	return resp, nil
}
