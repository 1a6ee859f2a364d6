package jithttp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/workflow"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// call is one recorded Service call.
type call struct {
	Method   string
	Args     []any
	Identity jit.Identity
	Source   jit.Source
}

// recService is a Service that records its calls and answers with what the
// test set. It lets tests of the HTTP layer check what reached the service
// (and that bad input never does).
type recService struct {
	mu    sync.Mutex
	calls []call

	err      error // returned by every method when set
	panicMsg string
	req      *jit.Request
	page     workflow.Page
	events   []jit.AuditEvent
	offers   []policy.Offer
	decision policy.Decision
	authz    workflow.AuthzResult
	verify   audit.Result
	readyErr error
}

func (s *recService) record(ctx context.Context, method string, args ...any) error {
	id, _ := jit.IdentityFrom(ctx)
	s.mu.Lock()
	s.calls = append(s.calls, call{Method: method, Args: args, Identity: id, Source: jit.SourceFrom(ctx)})
	s.mu.Unlock()
	if s.panicMsg != "" {
		panic(s.panicMsg)
	}
	return s.err
}

func (s *recService) Calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

func (s *recService) request() *jit.Request {
	if s.req != nil {
		return s.req
	}
	return &jit.Request{ID: "req_1", Requester: "alice@example.com", Resource: "demo-app", Access: "user",
		Duration: time.Hour, Status: jit.StatusPending, CreatedAt: t0, UpdatedAt: t0, LapsesAt: t0.Add(24 * time.Hour)}
}

func (s *recService) Whoami(ctx context.Context) (jit.Identity, error) {
	if err := s.record(ctx, "Whoami"); err != nil {
		return jit.Identity{}, err
	}
	id, _ := jit.IdentityFrom(ctx)
	return id, nil
}

func (s *recService) Offers(ctx context.Context) ([]policy.Offer, error) {
	return s.offers, s.record(ctx, "Offers")
}

func (s *recService) reqOrErr(ctx context.Context, method string, args ...any) (*jit.Request, error) {
	if err := s.record(ctx, method, args...); err != nil {
		return nil, err
	}
	return s.request(), nil
}

func (s *recService) Submit(ctx context.Context, in workflow.SubmitInput) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Submit", in)
}
func (s *recService) Approve(ctx context.Context, id, comment string) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Approve", id, comment)
}
func (s *recService) Deny(ctx context.Context, id, reason string) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Deny", id, reason)
}
func (s *recService) Cancel(ctx context.Context, id string) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Cancel", id)
}
func (s *recService) Relinquish(ctx context.Context, id string) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Relinquish", id)
}
func (s *recService) Revoke(ctx context.Context, id, reason string) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Revoke", id, reason)
}
func (s *recService) Extend(ctx context.Context, id string, in workflow.ExtendInput) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Extend", id, in)
}
func (s *recService) Get(ctx context.Context, id string) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Get", id)
}
func (s *recService) Wait(ctx context.Context, id string, while []jit.Status, timeout time.Duration) (*jit.Request, error) {
	return s.reqOrErr(ctx, "Wait", id, while, timeout)
}
func (s *recService) List(ctx context.Context, in workflow.ListInput) (workflow.Page, error) {
	return s.page, s.record(ctx, "List", in)
}
func (s *recService) Explain(ctx context.Context, in workflow.ExplainInput) (policy.Decision, error) {
	return s.decision, s.record(ctx, "Explain", in)
}
func (s *recService) Audit(ctx context.Context, f jit.AuditFilter) ([]jit.AuditEvent, error) {
	return s.events, s.record(ctx, "Audit", f)
}
func (s *recService) VerifyAudit(ctx context.Context) (audit.Result, error) {
	return s.verify, s.record(ctx, "VerifyAudit")
}
func (s *recService) Authz(ctx context.Context, in workflow.AuthzInput) (workflow.AuthzResult, error) {
	return s.authz, s.record(ctx, "Authz", in)
}
func (s *recService) RegisterPublicKey(ctx context.Context, key string) (*jit.PublicKey, error) {
	if err := s.record(ctx, "RegisterPublicKey", key); err != nil {
		return nil, err
	}
	id, _ := jit.IdentityFrom(ctx)
	return &jit.PublicKey{Email: id.Email, Key: key, CreatedAt: t0}, nil
}

func (s *recService) PublicKey(ctx context.Context) (*jit.PublicKey, error) {
	if err := s.record(ctx, "PublicKey"); err != nil {
		return nil, err
	}
	id, _ := jit.IdentityFrom(ctx)
	return &jit.PublicKey{Email: id.Email, Key: "age1test", CreatedAt: t0}, nil
}

func (s *recService) Credential(ctx context.Context, id string) (*jit.CredentialEnvelope, error) {
	if err := s.record(ctx, "Credential", id); err != nil {
		return nil, err
	}
	return &jit.CredentialEnvelope{RequestID: id, Recipient: "age1test", Kind: "password",
		Envelope: "-----BEGIN AGE ENCRYPTED FILE-----\n...\n-----END AGE ENCRYPTED FILE-----\n", CreatedAt: t0}, nil
}

func (s *recService) Targets(ctx context.Context, resource, parent string) (provider.ListTargetsResponse, error) {
	if err := s.record(ctx, "Targets", resource, parent); err != nil {
		return provider.ListTargetsResponse{}, err
	}
	return provider.ListTargetsResponse{Targets: []string{"*", "default", "web"}}, nil
}

func (s *recService) Kubeconfig(ctx context.Context, resource string) ([]byte, error) {
	if err := s.record(ctx, "Kubeconfig", resource); err != nil {
		return nil, err
	}
	return []byte("apiVersion: v1\nkind: Config\n"), nil
}

func (s *recService) HostOffers(ctx context.Context, host string) ([]workflow.HostOffer, error) {
	if err := s.record(ctx, "HostOffers", host); err != nil {
		return nil, err
	}
	return []workflow.HostOffer{{Resource: "web-hosts", Access: []workflow.HostAccess{{Name: "deploy", Principals: []string{"deploy"}}}}}, nil
}

func (s *recService) AuthorityKey(ctx context.Context, resource string) (string, error) {
	if err := s.record(ctx, "AuthorityKey", resource); err != nil {
		return "", err
	}
	return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPl6 jit-ca", nil
}

func (s *recService) RevocationList(ctx context.Context, resource string) ([]byte, error) {
	if err := s.record(ctx, "RevocationList", resource); err != nil {
		return nil, err
	}
	return []byte("SSHKRL\n\x00"), nil
}

func (s *recService) Ready(ctx context.Context) error {
	_ = s.record(ctx, "Ready")
	return s.readyErr
}

// headerAuth trusts an X-Test-User header: it stands in for real
// authenticators in tests of everything behind authentication.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (jit.Identity, bool, error) {
	email := r.Header.Get("X-Test-User")
	if email == "" {
		return jit.Identity{}, false, nil
	}
	if email == "bad" {
		return jit.Identity{}, false, jit.Errorf(jit.ECodeUnauthenticated, "bad test credentials")
	}
	return jit.Identity{Email: email, Groups: []string{"engineering"}, Via: "test"}, true, nil
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type harness struct {
	t       *testing.T
	srv     *Server
	svc     *recService
	logs    *syncBuffer
	clock   *fakeClock
	metrics *metrics.Metrics
	h       http.Handler
}

func newHarness(t *testing.T, change ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, svc: &recService{}, logs: &syncBuffer{}, clock: &fakeClock{t: t0}, metrics: metrics.New()}
	cfg := Config{
		Service: h.svc, Authenticators: []Authenticator{headerAuth{}},
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: h.metrics, Clock: h.clock,
	}
	for _, c := range change {
		c(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.h = srv, srv.Handler()
	return h
}

// do sends a request as alice (unless headers say otherwise); headers are
// name, value pairs. A body is sent as application/json.
func (h *harness) do(method, target, body string, headers ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.RemoteAddr = "198.51.100.7:51234"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("X-Test-User", "alice@example.com")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	return w
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, w.Code, w.Body)
	}
	var p Problem
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	return p
}

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json (status %d, body %s)", ct, w.Code, w.Body)
	}
	if err := json.NewDecoder(w.Body).Decode(v); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

func httptestRequest(method, target, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
