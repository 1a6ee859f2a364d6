// Package web serves jit's browser interface: server-rendered pages
// (html/template) with one embedded stylesheet and one small script, for
// requesting access, approving, watching and revoking access, reading a
// request's timeline and the audit log, and reading the policy. Every
// action goes through the workflow service with the signed-in identity in
// the context, so the web app enforces exactly what the API enforces.
//
// People sign in through a trusted proxy (an Authenticator that accepts the
// request), through an identity provider (Login), or on a development
// server through a switcher of demo users. The session is a signed cookie;
// every form carries a CSRF token; pages are served with a strict
// Content-Security-Policy. Pages follow changes live through server-sent
// events fed by the service's change subscription.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/workflow"
)

// Service is what the web app needs of the control plane;
// *workflow.Service is one. The caller's identity and the action's source
// are in the context (jit.WithIdentity, jit.WithSource) and every method
// checks authorisation itself. Errors that are *jit.Error are shown with
// their code and message; any other error is logged and shown as internal.
type Service interface {
	// Offers lists what the caller may request. Read-only.
	Offers(ctx context.Context) ([]policy.Offer, error)
	// Submit files a request; refusals are *jit.Error with the field they
	// concern. Not idempotent: each call files a new request.
	Submit(ctx context.Context, in workflow.SubmitInput) (*jit.Request, error)
	// Approve records the caller's approval; a second approval by the
	// same person is already_approved.
	Approve(ctx context.Context, id, comment string) (*jit.Request, error)
	// Deny ends a pending request (reason required); invalid_state once
	// it is no longer pending.
	Deny(ctx context.Context, id, reason string) (*jit.Request, error)
	// Cancel ends the caller's own pending or approved request;
	// invalid_state afterwards.
	Cancel(ctx context.Context, id string) (*jit.Request, error)
	// Relinquish ends the caller's own active access; invalid_state
	// afterwards.
	Relinquish(ctx context.Context, id string) (*jit.Request, error)
	// Revoke ends someone's active access (admins, approvers; reason
	// required); invalid_state afterwards.
	Revoke(ctx context.Context, id, reason string) (*jit.Request, error)
	// Extend files a new request linked to the caller's active one. Not
	// idempotent.
	Extend(ctx context.Context, id string, in workflow.ExtendInput) (*jit.Request, error)
	// Targets lists the targets of a resource the caller may request,
	// under parent; not_found for a resource they may not request.
	// Read-only.
	Targets(ctx context.Context, resource, parent string) (provider.ListTargetsResponse, error)
	// Get returns a request the caller may see, else not_found. Read-only.
	Get(ctx context.Context, id string) (*jit.Request, error)
	// List returns one page of requests the caller may see. Read-only.
	List(ctx context.Context, in workflow.ListInput) (workflow.Page, error)
	// Explain decides a hypothetical request; explaining for someone else
	// is forbidden to non-admins. Read-only.
	Explain(ctx context.Context, in workflow.ExplainInput) (policy.Decision, error)
	// Audit returns audit events (all for admins, else of one visible
	// request; forbidden otherwise). Read-only.
	Audit(ctx context.Context, f jit.AuditFilter) ([]jit.AuditEvent, error)
	// VerifyAudit walks the whole chain (admins; forbidden otherwise).
	// Read-only; a broken chain is a result, not an error.
	VerifyAudit(ctx context.Context) (audit.Result, error)
	// SubscribeChanges returns a subscription to the IDs of changed
	// requests; the caller closes it. It cannot fail.
	SubscribeChanges() *workflow.Subscription
	// ChangeMark marks the changes so far; SubscribeChangesSince also says
	// whether any came after the mark. They cannot fail.
	ChangeMark() string
	SubscribeChangesSince(mark string) (*workflow.Subscription, bool)
	// Policy returns the policy in force (read to show what buttons the
	// service would accept, never to decide an action).
	Policy() *policy.Policy
}

var _ Service = (*workflow.Service)(nil)

// Authenticator establishes who sent a request from credentials the
// request carries (a trusted proxy's identity assertion). It has the same
// shape and contract as jithttp.Authenticator, so the API's authenticators
// can be passed as they are: ok=false with a nil error means the request
// carries no credentials this authenticator handles; an error means they
// are its and are not valid (an error wrapping a *jit.Error with code
// unavailable means they could not be checked now).
type Authenticator interface {
	Authenticate(r *http.Request) (jit.Identity, bool, error)
}

// Login signs people in through an identity provider.
type Login interface {
	// Start sends the browser to the provider; returnTo is a local path to come back to.
	// It answers the request itself (a redirect, or an error page when
	// the provider cannot be reached) and may be called any number of
	// times.
	Start(w http.ResponseWriter, r *http.Request, returnTo string)
	// Finish handles the provider's redirect to /auth/callback and returns who signed in.
	// It may set or clear its own cookies but writes no body; an error
	// means nobody signed in (a *jit.Error's message is shown, anything
	// else is logged and a generic message shown). A callback cannot be
	// finished twice: the provider's code is good once.
	Finish(w http.ResponseWriter, r *http.Request) (email string, groups []string, returnTo string, err error)
}

// Resolver turns a signed-in email (and the groups the identity provider
// asserted) into an Identity; workflow.Service.ResolveIdentity is one. via
// says how the identity was established.
type Resolver func(email string, groups []string, via string) jit.Identity

// MinSessionKeyLen is the shortest Config.SessionKey accepted.
const MinSessionKeyLen = 32

// DefaultSessionTTL is how long a session lasts after sign-in.
const DefaultSessionTTL = 12 * time.Hour

// Config configures a Server.
type Config struct {
	// Service is the control plane (required).
	Service Service
	// SessionKey signs session cookies and CSRF tokens (HMAC-SHA256); at
	// least MinSessionKeyLen bytes. Replicas behind one load balancer need
	// the same key, or a session made on one is refused by the others;
	// changing it signs everyone out.
	SessionKey []byte
	// Authenticators are asked in order on every request; the first that
	// accepts it decides who is signed in, without a login page (a trusted
	// proxy's identity assertion).
	Authenticators []Authenticator
	// Login, if set, signs people in through an identity provider.
	Login Login
	// LoginName is the provider's name on the sign-in button ("Sign in
	// with NAME"); default "single sign-on".
	LoginName string
	// Resolve turns the email of a Login or development sign-in into an
	// identity, again on every request, so that group and admin changes
	// in the policy apply at once. Required with Login or DevUsers.
	Resolve Resolver
	// DevUsers, when set, makes this a development server: the sign-in
	// page offers these people to sign in as, without a password, to
	// visitors on loopback only, and every page says it is a development
	// server.
	DevUsers []string
	// SecureCookies marks cookies Secure even when a request did not
	// arrive over TLS (TLS terminated by a proxy in front). Requests over
	// TLS, or forwarded with X-Forwarded-Proto: https, get Secure cookies
	// anyway.
	SecureCookies bool
	// TrustedOrigins are origins ("https://jit.example.com") besides the
	// request's own host whose cross-origin form posts are accepted (a
	// proxy that rewrites Host).
	TrustedOrigins []string
	// SessionTTL is how long a session lasts (default 12h).
	SessionTTL time.Duration
	// Heartbeat is the interval of comments on the live-update stream,
	// which keep proxies from closing it as idle (default 25s).
	Heartbeat time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock defaults to jit.SystemClock.
	Clock jit.Clock
}

// Validate reports every problem with c, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.Service == nil {
		errs = append(errs, errors.New("Service is required"))
	}
	if len(c.SessionKey) < MinSessionKeyLen {
		errs = append(errs, fmt.Errorf("SessionKey has %d bytes; at least %d are needed (generate it with a CSPRNG, e.g. head -c 32 /dev/urandom | base64)",
			len(c.SessionKey), MinSessionKeyLen))
	}
	for i, a := range c.Authenticators {
		if a == nil {
			errs = append(errs, fmt.Errorf("Authenticators[%d] is nil", i))
		}
	}
	if c.Login != nil && c.Resolve == nil {
		errs = append(errs, errors.New("Resolve is required with Login (it turns the signed-in email into an identity)"))
	}
	if len(c.DevUsers) > 0 && c.Resolve == nil {
		errs = append(errs, errors.New("Resolve is required with DevUsers"))
	}
	for i, u := range c.DevUsers {
		if a, err := mail.ParseAddress(u); err != nil || a.Address != u {
			errs = append(errs, fmt.Errorf("DevUsers[%d] %q is not a plain email address", i, u))
		}
	}
	for i, o := range c.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("TrustedOrigins[%d] %q is not an origin like https://jit.example.com", i, o))
		}
	}
	if c.SessionTTL < 0 {
		errs = append(errs, fmt.Errorf("SessionTTL %v must not be negative", c.SessionTTL))
	}
	if c.Heartbeat < 0 {
		errs = append(errs, fmt.Errorf("Heartbeat %v must not be negative", c.Heartbeat))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("web config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 25 * time.Second
	}
	if strings.TrimSpace(c.LoginName) == "" {
		c.LoginName = "single sign-on"
	}
	return c
}

// Server is the web app's HTTP handler.
type Server struct {
	cfg    Config
	svc    Service
	log    *slog.Logger
	clock  jit.Clock
	keys   keys
	pages  *pages
	assets *assets
	cop    *http.CrossOriginProtection
	mux    *http.ServeMux

	// done is closed by Shutdown: live-update streams end.
	done     chan struct{}
	doneOnce sync.Once

	verifyMu   sync.Mutex
	lastVerify *verifyResult
}

// New validates cfg, applies defaults, parses the templates and builds the
// routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	pg, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	as, err := loadAssets()
	if err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(strings.TrimSuffix(o, "/")); err != nil {
			return nil, fmt.Errorf("web config: trusted origin %q: %w", o, err)
		}
	}
	s := &Server{
		cfg: cfg, svc: cfg.Service, log: cfg.Logger, clock: cfg.Clock,
		keys: deriveKeys(cfg.SessionKey), pages: pg, assets: as, cop: cop,
		mux: http.NewServeMux(), done: make(chan struct{}),
	}
	s.routes()
	return s, nil
}

// Handler returns the handler serving every page of the web app.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Shutdown ends the live-update streams, which would otherwise keep
// http.Server.Shutdown waiting; it is meant for
// http.Server.RegisterOnShutdown and may be called more than once.
func (s *Server) Shutdown() { s.doneOnce.Do(func() { close(s.done) }) }

// auth says what a route needs of the visitor.
type auth int

const (
	// public: anyone (sign-in pages, assets).
	public auth = iota
	// signedIn: a signed-in person; others are sent to /login.
	signedIn
	// signedInAPI: a signed-in person; others get 401 (streams, exports).
	signedInAPI
)

func (s *Server) routes() {
	handle := func(pattern string, a auth, h http.HandlerFunc) {
		s.mux.Handle(pattern, s.chain(a, h))
	}
	handle("GET /{$}", signedIn, s.access)
	handle("POST /requests", signedIn, s.submit)
	handle("GET /targets", signedInAPI, s.targets)
	handle("GET /requests/{id}", signedIn, s.detail)
	handle("POST /requests/{id}/{action}", signedIn, s.act)
	handle("GET /approvals", signedIn, s.approvals)
	handle("GET /activity", signedIn, s.activity)
	handle("GET /audit", signedIn, s.auditPage)
	handle("GET /audit/export", signedInAPI, s.auditExport)
	handle("GET /policy", signedIn, s.policyPage)
	handle("GET /events", signedInAPI, s.events)
	handle("GET /login", public, s.loginPage)
	handle("POST /login/dev", public, s.devLogin)
	handle("GET /auth/start", public, s.authStart)
	handle("GET /auth/callback", public, s.authCallback)
	handle("POST /logout", public, s.logout)
	handle("GET /static/{name}", public, s.static)
}

// serve answers requests no route matches with the app's own 404 and 405
// pages rather than the mux's plain text.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.chain(public, func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(r); allow != "" {
			w.Header().Set("Allow", allow)
			s.errorPage(w, r, http.StatusMethodNotAllowed, jit.Errorf(jit.ECodeInvalid, "method %s is not allowed here", r.Method))
			return
		}
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "there is no page %s", r.URL.Path))
	}).ServeHTTP(w, r)
}

// allowed returns the methods the mux serves r's path with, or "".
func (s *Server) allowed(r *http.Request) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// chain wraps h: security headers, panic recovery, request log, source,
// identity, and for POST the cross-origin and CSRF checks.
func (s *Server) chain(a auth, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.clock.Now()
		rec := &recorder{ResponseWriter: w}
		securityHeaders(rec.Header())
		// Taken before the handler reads anything, so that the page's
		// stream learns of a change made while the page was being built.
		v := &visitor{mark: s.svc.ChangeMark()}
		ctx := context.WithValue(r.Context(), visitorKey{}, v)
		ctx = jit.WithSource(ctx, sourceOf(r))
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic in web handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if !rec.wrote {
					s.errorPage(rec, r, http.StatusInternalServerError, fmt.Errorf("panic: %v", p))
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			// Never the query string: it may carry an OIDC code.
			s.log.Log(r.Context(), logLevelFor(r), "web request", "method", r.Method, "path", r.URL.Path,
				"status", status, "identity", v.id.Email, "duration", s.clock.Now().Sub(start))
		}()

		if err := s.identify(r, v); err != nil {
			if a == public {
				// A bad credential does not stop anyone from reading the
				// sign-in page, which says what went wrong.
				v.authErr = err
			} else {
				s.errorPage(rec, r, statusFor(jit.ErrorCode(err)), err)
				return
			}
		}
		if a != public && !v.signedIn() {
			if a == signedInAPI || r.Method != http.MethodGet {
				s.errorPage(rec, r, http.StatusUnauthorized, jit.Errorf(jit.ECodeUnauthenticated, "sign in first"))
				return
			}
			http.Redirect(rec, r, "/login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if v.signedIn() {
			r = r.WithContext(jit.WithIdentity(r.Context(), v.id))
		}
		if r.Method == http.MethodPost {
			if err := s.checkPost(rec, r, v); err != nil {
				s.log.InfoContext(r.Context(), "web post refused", "path", r.URL.Path, "identity", v.id.Email, "err", err.Error())
				s.errorPage(rec, r, http.StatusForbidden, jit.Errorf(jit.ECodeForbidden,
					"this form has expired or did not come from this site; reload the page and try again"))
				return
			}
		}
		h(rec, r)
	})
}

func logLevelFor(r *http.Request) slog.Level {
	if strings.HasPrefix(r.URL.Path, "/static/") || r.Header.Get("X-Jit-Live") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// securityHeaders are set on every answer: a strict CSP (no inline script
// or style anywhere, no framing, forms only to this site), no sniffing,
// no referrer to other sites, no caching of pages that show access.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// contentSecurityPolicy is the policy of every page.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// recorder remembers the status written through it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes for
// the event stream).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
