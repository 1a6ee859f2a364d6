package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "postgres"

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Closer   = (*Provider)(nil)
	_ provider.Scoper   = (*Provider)(nil)

	_ provider.CredentialIssuer = (*Provider)(nil)
)

// Handle kinds: how the user got its privileges.
const (
	kindLevel = "level" // membership of the level's group role
	kindQuery = "query" // direct grants of a query-scoped request
)

// Limits of the calls.
const (
	// maxAttempts bounds the retries of a transaction that PostgreSQL
	// aborted for a conflict a retry resolves (deadlock, serialization
	// failure, "tuple concurrently updated").
	maxAttempts = 5
	// sessionWait bounds how long Revoke waits for the sessions it
	// terminated to exit.
	sessionWait = 10 * time.Second
	// connectTimeout bounds one connection attempt when the admin DSN sets
	// none.
	connectTimeout = 10 * time.Second
	// applicationName is shown in pg_stat_activity for the admin
	// connections, unless the admin DSN sets one.
	applicationName = "jitd"
)

// Provider creates ephemeral PostgreSQL roles in one database. It is safe
// for concurrent use, and several providers (in one process or in several
// jitd replicas) may serve the same database at once: everything they must
// agree on is serialised by advisory locks in the database.
type Provider struct {
	cfg config

	mu     sync.Mutex
	pool   *pgxpool.Pool
	closed bool

	groupsMu sync.Mutex
	groups   map[string]*groupState
}

// groupState records that a group role was brought up to date by this
// provider. Its mutex makes concurrent grants of one level wait for a
// single sync rather than each run one.
type groupState struct {
	mu    sync.Mutex
	ready bool
}

// handle is GrantResponse.Handle: what Revoke and Verify need. It holds no
// secret.
type handle struct {
	User string `json:"user"`
	Kind string `json:"kind"`
}

// New builds the provider from r.Settings (see the package documentation
// for the settings). It validates them and returns every problem, each
// naming its key; it reads neither the admin DSN nor anything else outside
// the settings and never contacts the database, so that configuration can
// be checked offline. The DSN is read when the provider first connects.
func New(r provider.Resource) (provider.Provider, error) {
	cfg, err := parseConfig(r)
	if err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, groups: map[string]*groupState{}}, nil
}

// Grant creates the role of req.RequestID: a LOGIN role with a fresh random
// password, VALID UNTIL req.ExpiresAt and the connection limit of the
// settings, that is a member of the level's group role, or for a
// query-scoped request (req.Privileges set) holds exactly those privileges.
//
// It is idempotent: when the role of the request exists already (an
// earlier attempt whose outcome was lost), it is not created again but
// given a new password, expiry and the same privileges, and the new
// password is returned; the earlier one stops working. The credential is
// the only place the password exists: the server receives a SCRAM
// verifier.
//
// Errors: provider.NotApplied when the role certainly was not created or
// changed: the request is invalid, the admin DSN cannot be read, no
// connection could be made, or any statement failed before the
// transaction was committed (PostgreSQL rolls an uncommitted transaction
// back). An error while committing leaves the outcome unknown.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	what := fmt.Sprintf("postgres grant %q", req.RequestID)
	if err := ctx.Err(); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: not started: %w", what, err))
	}
	if err := checkRequest(req.RequestID, req.User); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	if req.ExpiresAt.IsZero() {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: the request has no expiry", what))
	}
	validUntil, err := quoteLiteral(req.ExpiresAt.UTC().Format("2006-01-02 15:04:05.999999-07"))
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: expiry: %w", what, err))
	}

	u := grantUser{
		name:       userName(req.RequestID, req.User),
		validUntil: validUntil,
		marker: marker{
			JIT: markUser, Database: p.cfg.database, Resource: p.cfg.resource,
			Access: req.Access, RequestID: req.RequestID, User: req.User,
		},
	}
	var group groupSpec
	var plan []tablePlan
	if len(req.Privileges) > 0 {
		if p.cfg.querySchemas == nil {
			return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: query-scoped requests are not enabled for resource %s (no query setting)", what, p.cfg.resource))
		}
		plan, err = planPrivileges(req.Privileges, p.cfg.querySchemas)
		if err != nil {
			return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
		}
		u.marker.Kind = kindQuery
		group = p.queryGroup()
	} else {
		lvl, ok := p.cfg.levels[req.Access]
		if !ok {
			return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: resource %s has no access level %q", what, p.cfg.resource, req.Access))
		}
		u.marker.Kind = kindLevel
		group = p.levelGroup(req.Access, lvl)
	}

	password, err := newPassword()
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	verifier, err := newVerifier(password, p.cfg.scramIterations)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	if u.verifier, err = quoteLiteral(verifier); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: verifier: %w", what, err))
	}

	pool, err := p.db()
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	// A group role found missing (dropped by hand since this provider
	// synced it) is synced again once.
	for attempt := 1; ; attempt++ {
		if err := p.ensureGroup(ctx, pool, group); err != nil {
			// Whatever became of the group role, the request's role was
			// not touched.
			return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: group role %s: %w", what, group.name, err))
		}
		maybe, err := p.inTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			if plan != nil {
				return p.grantQuery(ctx, tx, u, group.name, plan)
			}
			return p.grantLevel(ctx, tx, u, group.name)
		})
		if errors.Is(err, errGroupMissing) && attempt == 1 {
			p.forgetGroup(group.name)
			continue
		}
		if err != nil {
			err = fmt.Errorf("%s: role %s: %w", what, u.name, err)
			if !maybe {
				err = provider.NotApplied(err)
			}
			return provider.GrantResponse{}, err
		}
		break
	}

	kind := kindLevel
	if plan != nil {
		kind = kindQuery
	}
	h, _ := json.Marshal(handle{User: u.name, Kind: kind}) // two strings always encode
	info := map[string]string{
		"dialect":  "postgres",
		"host":     p.cfg.host,
		"port":     strconv.Itoa(p.cfg.port),
		"database": p.cfg.database,
		"user":     u.name,
	}
	if p.cfg.sslMode != "" {
		info["sslmode"] = p.cfg.sslMode
	}
	return provider.GrantResponse{
		Handle:     h,
		Credential: &provider.Credential{Kind: "password", Data: []byte(password), Info: info},
	}, nil
}

// grantUser is the role a Grant creates or refreshes. verifier and
// validUntil are already quoted literals.
type grantUser struct {
	name       string
	verifier   string
	validUntil string
	marker     marker
}

// errGroupMissing says the group role a user was to join does not exist.
var errGroupMissing = errors.New("the group role does not exist")

// grantLevel creates (or refreshes) u as a member of group.
func (p *Provider) grantLevel(ctx context.Context, tx pgx.Tx, u grantUser, group string) error {
	if err := advisoryLock(ctx, tx, userLock(u.name)); err != nil {
		return err
	}
	g, err := roleInfo(ctx, tx, group)
	if err != nil {
		return err
	}
	if !g.exists {
		return errGroupMissing
	}
	return p.upsertUser(ctx, tx, u, group)
}

// upsertUser creates u, a member of group, or when the request's role
// exists already gives it the new password and expiry. The role's
// attributes are spelt out, so that nothing depends on the defaults of
// CREATE ROLE.
func (p *Provider) upsertUser(ctx context.Context, tx pgx.Tx, u grantUser, group string) error {
	r, err := roleInfo(ctx, tx, u.name)
	if err != nil {
		return err
	}
	limit := strconv.Itoa(p.cfg.connectionLimit)
	if r.exists {
		if err := r.ownedBy(u.marker.RequestID); err != nil {
			return err
		}
		// Only what a grant sets: naming SUPERUSER, REPLICATION or
		// BYPASSRLS at all, even to deny them, needs a superuser. The
		// marker proves that jit created the role, without them.
		stmt := "ALTER ROLE " + ident(u.name) + " WITH LOGIN" +
			" CONNECTION LIMIT " + limit + " VALID UNTIL " + u.validUntil + " PASSWORD " + u.verifier
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("reset the existing role: %w", err)
		}
		if _, err := tx.Exec(ctx, "GRANT "+ident(group)+" TO "+ident(u.name)); err != nil {
			return fmt.Errorf("grant the group role: %w", err)
		}
		return nil
	}
	stmt := "CREATE ROLE " + ident(u.name) + " WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" +
		" CONNECTION LIMIT " + limit + " VALID UNTIL " + u.validUntil + " PASSWORD " + u.verifier +
		" IN ROLE " + ident(group)
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("create role: %w", err)
	}
	comment, err := quoteLiteral(u.marker.encode())
	if err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	if _, err := tx.Exec(ctx, "COMMENT ON ROLE "+ident(u.name)+" IS "+comment); err != nil {
		return fmt.Errorf("comment on role: %w", err)
	}
	return nil
}

// Revoke removes the role of req.RequestID, named by req.Handle or, when
// that is nil, derived from the request as Grant derives it. In order:
// ALTER ROLE ... NOLOGIN (committed at once, so no new session can start),
// every session of the role is terminated (pg_terminate_backend) and
// waited for, then in one transaction the role's objects are reassigned to
// the admin role, its privileges dropped (DROP OWNED) and the role dropped.
//
// It is idempotent: a role that does not exist (revoked already, or never
// granted) is success. A role of that name that jit did not create for
// this request is never touched; that is an error.
//
// Errors: provider.NotApplied when nothing was changed (no connection, or
// the first transaction failed before it committed). Any later error
// leaves the role unable to log in but possibly not dropped or with
// sessions left; a retry finishes the job.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	what := fmt.Sprintf("postgres revoke %q", req.RequestID)
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, provider.NotApplied(fmt.Errorf("%s: not started: %w", what, err))
	}
	name, err := targetRole(req.Handle, req.RequestID, req.User)
	if err != nil {
		return provider.RevokeResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	pool, err := p.db()
	if err != nil {
		return provider.RevokeResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	if err := p.revokeRole(ctx, pool, name, req.RequestID); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	return provider.RevokeResponse{}, nil
}

// revokeRole is Revoke for the role name of requestID; its errors follow
// Revoke's contract.
func (p *Provider) revokeRole(ctx context.Context, pool *pgxpool.Pool, name, requestID string) error {
	found := false
	maybe, err := p.inTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		if err := advisoryLock(ctx, tx, userLock(name)); err != nil {
			return err
		}
		r, err := roleInfo(ctx, tx, name)
		if err != nil || !r.exists {
			return err
		}
		if err := r.ownedBy(requestID); err != nil {
			return err
		}
		found = true
		if _, err := tx.Exec(ctx, "ALTER ROLE "+ident(name)+" WITH NOLOGIN"); err != nil {
			return fmt.Errorf("disable login: %w", err)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("role %s: %w", name, err)
		if !maybe {
			err = provider.NotApplied(err)
		}
		return err
	}
	if !found {
		return nil
	}
	// From here on the role cannot log in any more: no error below may
	// claim that nothing was done.
	if err := endSessions(ctx, pool, name); err != nil {
		return fmt.Errorf("role %s (login disabled): %w", name, err)
	}
	_, err = p.inTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		return dropUser(ctx, tx, name, requestID)
	})
	if err != nil {
		return fmt.Errorf("role %s (login disabled, sessions ended): %w", name, err)
	}
	return nil
}

// dropUser drops the user role name after taking the locks that its
// privileges' tables need.
func dropUser(ctx context.Context, tx pgx.Tx, name, requestID string) error {
	if err := advisoryLock(ctx, tx, userLock(name)); err != nil {
		return err
	}
	r, err := roleInfo(ctx, tx, name)
	if err != nil || !r.exists {
		return err
	}
	if err := r.ownedBy(requestID); err != nil {
		return err
	}
	// DROP OWNED revokes the role's table privileges, which rewrites each
	// table's ACL: lock them as the query-scoped grants do.
	if err := sharedLock(ctx, tx, aclLockKey); err != nil {
		return err
	}
	rels, err := relationsWithACLFor(ctx, tx, r.oid)
	if err != nil {
		return err
	}
	if err := lockRelations(ctx, tx, rels); err != nil {
		return err
	}
	return dropRole(ctx, tx, name, r)
}

// dropRole reassigns what role owns to the admin role, drops its
// privileges and drops it. REASSIGN OWNED and DROP OWNED need the
// privileges of the role; an admin role that is not a superuser gets them
// by granting itself membership first (its CREATEROLE allows that), which
// DROP ROLE removes again.
func dropRole(ctx context.Context, tx pgx.Tx, name string, r role) error {
	if !r.adminIsMember {
		if _, err := tx.Exec(ctx, "GRANT "+ident(name)+" TO CURRENT_USER"); err != nil {
			return fmt.Errorf("take membership to drop its objects: %w", err)
		}
	}
	for _, step := range []struct{ what, stmt string }{
		{"reassign owned objects", "REASSIGN OWNED BY " + ident(name) + " TO CURRENT_USER"},
		{"drop owned objects and privileges", "DROP OWNED BY " + ident(name)},
		{"drop role", "DROP ROLE " + ident(name)},
	} {
		if _, err := tx.Exec(ctx, step.stmt); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
	}
	return nil
}

// endSessions terminates every session of the role name, on any database
// of the server, and waits until they are gone. PostgreSQL checks a role's
// LOGIN (and VALID UNTIL) only when a session starts; ending the running
// ones is jit's job.
func endSessions(ctx context.Context, pool *pgxpool.Pool, name string) error {
	timeout := time.After(sessionWait)
	for {
		// pg_terminate_backend only signals; a session is gone once it no
		// longer shows in pg_stat_activity, so signal until none does.
		var signalled int
		err := pool.QueryRow(ctx, `
			SELECT count(pg_catalog.pg_terminate_backend(pid))
			FROM pg_catalog.pg_stat_activity
			WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()`, name).Scan(&signalled)
		if err != nil {
			return fmt.Errorf("terminate sessions: %w", err)
		}
		if signalled == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for sessions to end: %w", ctx.Err())
		case <-timeout:
			return fmt.Errorf("%d sessions still running %s after they were terminated", signalled, sessionWait)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Verify reports whether the role of the request exists, and its VALID
// UNTIL as ExpiresAt. It changes nothing. A role of that name that jit did
// not create for this request is an error, not a "present".
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	what := fmt.Sprintf("postgres verify %q", req.RequestID)
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	name, err := targetRole(req.Handle, req.RequestID, req.User)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	pool, err := p.db()
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	r, err := roleInfo(ctx, pool, name)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	if !r.exists {
		return provider.VerifyResponse{}, nil
	}
	if err := r.ownedBy(req.RequestID); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	resp := provider.VerifyResponse{Present: true}
	if r.validUntil.Valid && r.validUntil.InfinityModifier == pgtype.Finite {
		t := r.validUntil.Time.UTC()
		resp.ExpiresAt = &t
	}
	return resp, nil
}

// Close closes the provider's connections. Calls after Close fail.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.pool != nil {
		p.pool.Close()
		p.pool = nil
	}
	return nil
}

// targetRole returns the role a Revoke or Verify is about: the handle's,
// or derived from the request when there is no handle.
func targetRole(raw json.RawMessage, requestID, email string) (string, error) {
	if err := checkRequest(requestID, email); err != nil {
		return "", err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return userName(requestID, email), nil
	}
	var h handle
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", fmt.Errorf("handle is not a postgres handle: %w", err)
	}
	// The handle comes from the store; it may only ever name a jit role.
	if !userNamePattern.MatchString(h.User) {
		return "", fmt.Errorf("handle names no jit role (%q)", h.User)
	}
	return h.User, nil
}

// checkRequest refuses request IDs and emails that could not be recorded
// faithfully in the role's marker.
func checkRequest(requestID, email string) error {
	if requestID == "" {
		return errors.New("the request has no ID")
	}
	for what, s := range map[string]string{"request ID": requestID, "user": email} {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("the %s is not valid UTF-8 text", what)
		}
	}
	return nil
}

// db returns the connection pool, creating it on first use from the admin
// DSN. The DSN never appears in an error: only where it was read from.
func (p *Provider) db() (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("the provider is closed")
	}
	if p.pool != nil {
		return p.pool, nil
	}
	dsn, err := p.readDSN()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("the admin DSN (%s) is not a valid connection string", p.dsnSource())
	}
	if cfg.ConnConfig.Database != p.cfg.database {
		return nil, fmt.Errorf("the admin DSN (%s) names the database %q, but the setting database is %q", p.dsnSource(), cfg.ConnConfig.Database, p.cfg.database)
	}
	// Literals are quoted for UTF8 (see quoteLiteral), whatever the DSN
	// asks for.
	cfg.ConnConfig.RuntimeParams["client_encoding"] = "UTF8"
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("admin connection pool: %w", err)
	}
	p.pool = pool
	return pool, nil
}

func (p *Provider) readDSN() (string, error) {
	if p.cfg.dsnEnv != "" {
		v, ok := os.LookupEnv(p.cfg.dsnEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("the admin DSN: environment variable %s is not set or empty", p.cfg.dsnEnv)
		}
		return strings.TrimSpace(v), nil
	}
	b, err := os.ReadFile(p.cfg.dsnFile)
	if err != nil {
		// The error names the path, never the content.
		return "", fmt.Errorf("the admin DSN: %w", err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("the admin DSN: file %s is empty", p.cfg.dsnFile)
	}
	return dsn, nil
}

func (p *Provider) dsnSource() string {
	if p.cfg.dsnEnv != "" {
		return "environment variable " + p.cfg.dsnEnv
	}
	return "file " + p.cfg.dsnFile
}

// txFunc is the work of one transaction attempt.
type txFunc func(ctx context.Context, tx pgx.Tx) error

// inTx runs fn in a transaction and commits it, retrying the whole
// transaction (up to maxAttempts) when PostgreSQL aborted it for a
// conflict that a retry resolves. maybe reports, with an error, that the
// transaction may have committed; otherwise it certainly did not, because
// the error came before COMMIT was sent or the server refused the COMMIT.
func (p *Provider) inTx(ctx context.Context, pool *pgxpool.Pool, fn txFunc) (maybe bool, err error) {
	for attempt := 1; ; attempt++ {
		maybe, err = txOnce(ctx, pool, fn)
		if err == nil || maybe || attempt == maxAttempts || !retryable(err) {
			return maybe, err
		}
		// Back off a little, more each time, so that the transactions
		// that collided do not collide again.
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
		}
	}
}

func txOnce(ctx context.Context, pool *pgxpool.Pool, fn txFunc) (maybe bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	if err := fn(ctx, tx); err != nil {
		// A failed rollback closes the connection, which rolls back too.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = tx.Rollback(rctx)
		cancel()
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) || pgconn.SafeToRetry(err) {
			// The server answered COMMIT with an error (the transaction
			// was rolled back), or COMMIT was never sent.
			return false, fmt.Errorf("commit: %w", err)
		}
		return true, fmt.Errorf("commit (outcome unknown): %w", err)
	}
	return false, nil
}

// retryable reports whether PostgreSQL aborted a transaction for a
// conflict with another one, which running it again resolves.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "XX000":
		// Two transactions updated one catalogue row (a table's ACL).
		return strings.Contains(pgErr.Message, "tuple concurrently updated")
	}
	return false
}

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// role is what the catalogue says about one role.
type role struct {
	exists     bool
	oid        uint32
	validUntil pgtype.Timestamptz
	marker     marker
	marked     bool
	// adminIsMember: the admin role has the role's privileges (is a
	// member with INHERIT, or a superuser), as REASSIGN OWNED and DROP
	// OWNED require.
	adminIsMember bool
}

// roleInfo looks role name up, with its marker (comment).
func roleInfo(ctx context.Context, q querier, name string) (role, error) {
	var r role
	var comment *string
	err := q.QueryRow(ctx, `
		SELECT r.oid, r.rolvaliduntil, d.description,
		       pg_catalog.pg_has_role(CURRENT_USER, r.oid, 'USAGE')
		FROM pg_catalog.pg_roles r
		LEFT JOIN pg_catalog.pg_shdescription d
		       ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
		WHERE r.rolname = $1`, name).Scan(&r.oid, &r.validUntil, &comment, &r.adminIsMember)
	if errors.Is(err, pgx.ErrNoRows) {
		return role{}, nil
	}
	if err != nil {
		return role{}, fmt.Errorf("look up role: %w", err)
	}
	r.exists = true
	r.marker, r.marked = parseMarker(comment)
	return r, nil
}

// ownedBy checks that the role was created by jit for requestID.
func (r role) ownedBy(requestID string) error {
	if !r.marked || r.marker.JIT != markUser || r.marker.RequestID != requestID {
		return errors.New("a role of this name exists but jit did not create it for this request; it is left alone")
	}
	return nil
}

// advisoryLock takes a transaction-scoped exclusive advisory lock.
func advisoryLock(ctx context.Context, tx pgx.Tx, key int64) error {
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1)", key); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	return nil
}

// sharedLock takes a transaction-scoped shared advisory lock.
func sharedLock(ctx context.Context, tx pgx.Tx, key int64) error {
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock_shared($1)", key); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	return nil
}

// IssuesCredentials implements provider.CredentialIssuer: every grant
// returns the role's password.
func (p *Provider) IssuesCredentials() bool { return true }
