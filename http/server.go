// Package jithttp serves jit's JSON API (docs/api.md): requests and their
// lifecycle, policy explanations, the audit log, the forward-auth endpoint
// for reverse proxies, health, readiness and metrics. It authenticates
// callers, records where each action came from, rate-limits writes per
// identity, and maps jit error codes to HTTP statuses and RFC 9457 problem
// documents.
package jithttp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/workflow"
)

// Service is what the API needs of the control plane. The caller's identity
// and the action's source are in the context (jit.WithIdentity,
// jit.WithSource). Errors that are *jit.Error are shown to the caller with
// their code; any other error is logged and answered 500 internal.
type Service interface {
	Whoami(ctx context.Context) (jit.Identity, error)
	Offers(ctx context.Context) ([]policy.Offer, error)
	Submit(ctx context.Context, in workflow.SubmitInput) (*jit.Request, error)
	Approve(ctx context.Context, id, comment string) (*jit.Request, error)
	Deny(ctx context.Context, id, reason string) (*jit.Request, error)
	Cancel(ctx context.Context, id string) (*jit.Request, error)
	Relinquish(ctx context.Context, id string) (*jit.Request, error)
	Revoke(ctx context.Context, id, reason string) (*jit.Request, error)
	Extend(ctx context.Context, id string, in workflow.ExtendInput) (*jit.Request, error)
	Get(ctx context.Context, id string) (*jit.Request, error)
	Wait(ctx context.Context, id string, while []jit.Status, timeout time.Duration) (*jit.Request, error)
	List(ctx context.Context, in workflow.ListInput) (workflow.Page, error)
	Explain(ctx context.Context, in workflow.ExplainInput) (policy.Decision, error)
	Audit(ctx context.Context, f jit.AuditFilter) ([]jit.AuditEvent, error)
	VerifyAudit(ctx context.Context) (audit.Result, error)
	Authz(ctx context.Context, in workflow.AuthzInput) (workflow.AuthzResult, error)
	Ready(ctx context.Context) error
	RegisterPublicKey(ctx context.Context, key string) (*jit.PublicKey, error)
	PublicKey(ctx context.Context) (*jit.PublicKey, error)
	Credential(ctx context.Context, id string) (*jit.CredentialEnvelope, error)
	Targets(ctx context.Context, resource, parent string) (provider.ListTargetsResponse, error)
	Kubeconfig(ctx context.Context, resource string) ([]byte, error)
	HostOffers(ctx context.Context, host string) ([]workflow.HostOffer, error)
	AuthorityKey(ctx context.Context, resource string) (string, error)
	RevocationList(ctx context.Context, resource string) ([]byte, error)
}

var _ Service = (*workflow.Service)(nil)

// DefaultMaxBodyBytes is the largest request body accepted by default.
const DefaultMaxBodyBytes = 64 << 10

// Config configures a Server.
type Config struct {
	// Service is the control plane (required).
	Service Service
	// Authenticators are asked in order; the first that claims a request
	// decides who sent it (at least one is required).
	Authenticators []Authenticator
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics defaults to a new, separate registry.
	Metrics *metrics.Metrics
	// WritesPerMinute limits POSTs per identity; <= 0 disables the limit.
	WritesPerMinute int
	// Burst is how many writes may come at once (default WritesPerMinute).
	Burst int
	// Clock defaults to jit.SystemClock.
	Clock jit.Clock
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.New()
	}
	if c.Clock == nil {
		c.Clock = jit.SystemClock{}
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.WritesPerMinute > 0 && c.Burst <= 0 {
		c.Burst = c.WritesPerMinute
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Service == nil {
		errs = append(errs, errors.New("service is required"))
	}
	if len(c.Authenticators) == 0 {
		errs = append(errs, errors.New("at least one authenticator is required"))
	}
	for i, a := range c.Authenticators {
		if a == nil {
			errs = append(errs, fmt.Errorf("authenticator %d is nil", i))
		}
		switch a := a.(type) {
		case TokenAuth:
			if a.Store == nil {
				errs = append(errs, fmt.Errorf("authenticator %d (TokenAuth) has no store", i))
			}
		case ProxyJWT:
			if a.Verifier == nil {
				errs = append(errs, fmt.Errorf("authenticator %d (ProxyJWT) has no verifier", i))
			}
		}
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d must not be negative", c.MaxBodyBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("http config: %w", err)
	}
	return nil
}

// Server is the API's HTTP handler.
type Server struct {
	svc     Service
	auths   []Authenticator
	log     *slog.Logger
	metrics *metrics.Metrics
	clock   jit.Clock
	maxBody int64
	limiter *limiters
	mux     *http.ServeMux
	krls    krlCache
}

// New validates cfg, applies defaults and builds the routes.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		svc: cfg.Service, auths: cfg.Authenticators, log: cfg.Logger, metrics: cfg.Metrics,
		clock: cfg.Clock, maxBody: cfg.MaxBodyBytes, mux: http.NewServeMux(),
	}
	if cfg.WritesPerMinute > 0 {
		s.limiter = newLimiters(cfg.WritesPerMinute, cfg.Burst)
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern(), s.chain(rt))
	}
	return s, nil
}

// Handler returns the handler serving every route.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// route is one endpoint. The table from routes() registers the handlers
// and is what the OpenAPI test checks the document against.
type route struct {
	// Method is the HTTP method; "" accepts any (forward-auth).
	Method string
	// Path is a net/http pattern path ("/api/v1/requests/{id}").
	Path string
	// Name identifies the endpoint in code and tests.
	Name string
	// Auth: the endpoint needs an identity.
	Auth bool
	// NoLimit exempts a POST from the write rate limit.
	NoLimit bool
	Handler http.Handler
}

// pattern is the ServeMux pattern, also the route's metrics label.
func (rt route) pattern() string {
	if rt.Method == "" {
		return rt.Path
	}
	return rt.Method + " " + rt.Path
}

func (s *Server) routes() []route {
	api := func(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := f(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	return []route{
		{Method: "GET", Path: "/healthz", Name: "healthz", Handler: http.HandlerFunc(s.healthz)},
		{Method: "GET", Path: "/readyz", Name: "readyz", Handler: api(s.readyz)},
		{Method: "GET", Path: "/metrics", Name: "metrics", Handler: promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})},
		{Method: "GET", Path: "/api/v1/openapi.json", Name: "openapi", Handler: http.HandlerFunc(serveOpenAPI)},
		{Method: "GET", Path: "/api/v1/whoami", Name: "whoami", Auth: true, Handler: api(s.whoami)},
		{Method: "GET", Path: "/api/v1/resources", Name: "resources", Auth: true, Handler: api(s.resources)},
		{Method: "GET", Path: "/api/v1/resources/{name}/targets", Name: "targets", Auth: true, Handler: api(s.targets)},
		{Method: "GET", Path: "/api/v1/resources/{name}/kubeconfig", Name: "kubeconfig", Auth: true, Handler: api(s.kubeconfig)},
		{Method: "GET", Path: "/api/v1/ssh", Name: "ssh-hosts", Auth: true, Handler: api(s.sshHosts)},
		// The CA key and the revocation list are public: sshd hosts fetch
		// them without signing in, and neither holds a secret.
		{Method: "GET", Path: "/api/v1/ssh/{name}/ca.pub", Name: "ssh-ca", Handler: api(s.sshCA)},
		{Method: "GET", Path: "/api/v1/ssh/{name}/krl", Name: "ssh-krl", Handler: api(s.sshKRL)},
		{Method: "POST", Path: "/api/v1/requests", Name: "submit", Auth: true, Handler: api(s.submit)},
		{Method: "GET", Path: "/api/v1/requests", Name: "list", Auth: true, Handler: api(s.list)},
		{Method: "GET", Path: "/api/v1/requests/{id}", Name: "get", Auth: true, Handler: api(s.get)},
		{Method: "POST", Path: "/api/v1/requests/{id}/approve", Name: "approve", Auth: true, Handler: api(s.approve)},
		{Method: "POST", Path: "/api/v1/requests/{id}/deny", Name: "deny", Auth: true, Handler: api(s.deny)},
		{Method: "POST", Path: "/api/v1/requests/{id}/cancel", Name: "cancel", Auth: true, Handler: api(s.cancel)},
		{Method: "POST", Path: "/api/v1/requests/{id}/relinquish", Name: "relinquish", Auth: true, Handler: api(s.relinquish)},
		{Method: "POST", Path: "/api/v1/requests/{id}/revoke", Name: "revoke", Auth: true, Handler: api(s.revoke)},
		{Method: "POST", Path: "/api/v1/requests/{id}/extend", Name: "extend", Auth: true, Handler: api(s.extend)},
		{Method: "GET", Path: "/api/v1/requests/{id}/credential", Name: "credential", Auth: true, Handler: api(s.credential)},
		{Method: "GET", Path: "/api/v1/me/public-key", Name: "public-key", Auth: true, Handler: api(s.publicKey)},
		{Method: "PUT", Path: "/api/v1/me/public-key", Name: "public-key-put", Auth: true, Handler: api(s.putPublicKey)},
		{Method: "GET", Path: "/api/v1/policy/explain", Name: "explain", Auth: true, Handler: api(s.explain)},
		{Method: "GET", Path: "/api/v1/audit", Name: "audit", Auth: true, Handler: api(s.audit)},
		{Method: "GET", Path: "/api/v1/audit/verify", Name: "audit-verify", Auth: true, Handler: api(s.auditVerify)},
		// Forward-auth: proxies send their own method (nginx GET, Traefik
		// the original one); checks are reads and are never rate-limited.
		{Method: "", Path: "/api/v1/authz", Name: "authz", Auth: true, NoLimit: true, Handler: api(s.authz)},
	}
}

// chain wraps a route's handler in the middleware, outermost first:
// logging and metrics, panic recovery, source, authentication, write rate
// limit.
func (s *Server) chain(rt route) http.Handler {
	h := rt.Handler
	if rt.Auth {
		if (rt.Method == http.MethodPost || rt.Method == http.MethodPut) && !rt.NoLimit {
			h = s.rateLimit(h)
		}
		h = s.authenticate(h)
	}
	h = s.withSource(h)
	h = s.recoverer(h)
	return s.observe(rt.pattern(), h)
}

// unmatched is the metrics label of requests no route matches.
const unmatched = "unmatched"

// serve dispatches to the mux, answering requests that match no route
// with problem documents rather than the mux's plain text.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.observe(unmatched, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Ask the mux what it would answer (404, or 405 with Allow).
		probe := &probeWriter{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeProblem(w, r, Problem{Type: ProblemType, Title: http.StatusText(http.StatusMethodNotAllowed),
				Status: http.StatusMethodNotAllowed, Code: jit.ECodeInvalid, Instance: r.URL.Path,
				Detail: fmt.Sprintf("method %s is not allowed here (allowed: %s)", r.Method, allow)})
			return
		}
		s.writeError(w, r, jit.Errorf(jit.ECodeNotFound, "no endpoint %s", r.URL.Path))
	})).ServeHTTP(w, r)
}

// probeWriter captures what the mux's fallback handler would answer.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// The document is public and only changes with a release.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Ready(r.Context()); err != nil {
		// The cause goes to the log (writeError logs unavailable errors
		// with their full text), not to the unauthenticated caller.
		return fmt.Errorf("not ready: %w: %v", jit.Errorf(jit.ECodeUnavailable, "the store does not answer"), err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
	return nil
}
