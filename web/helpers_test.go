package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"

	// The forward-auth provider: grants are rows in the store, so
	// requests become active without a target.
	_ "github.com/jitaccess/jit/provider/http"
)

// testPolicy: alice (engineering) requests demo-app with a ticket-numbered
// reason and one SRE's approval; bob (sre) approves; carol is an admin and
// approves nothing; dave (sales) may request sales-app only, approved by
// erin.
const testPolicy = `
server: {lapse_after: 24h}
admins: [carol@example.com]
identities:
  - {email: alice@example.com, name: Alice, groups: [engineering]}
  - {email: bob@example.com, name: Bob, groups: [sre]}
  - {email: carol@example.com, name: Carol, groups: [security]}
  - {email: dave@example.com, groups: [sales]}
  - {email: erin@example.com, groups: [sales-leads]}
resources:
  - name: demo-app
    description: Demo internal web app
    provider: http
    settings: {host: demo.localhost, path_prefix: /}
    access: [{name: user}, {name: admin}]
    default_access: user
  - name: sales-app
    provider: http
    settings: {host: sales.localhost, path_prefix: /}
    access: [user]
rules:
  - name: engineers-demo-app
    description: Engineers use the demo app with an SRE's approval.
    requesters: {groups: [engineering]}
    resources: [demo-app]
    max_duration: 8h
    reason: {required: true, pattern: "^INC-[0-9]+"}
    approvers: {groups: [sre]}
  - name: sales-app
    requesters: {groups: [sales]}
    resources: [sales-app]
    max_duration: 2h
    approvers: {users: [erin@example.com]}
`

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a web app on a real workflow service and SQLite store, served
// over a loopback listener.
type env struct {
	t     *testing.T
	svc   *workflow.Service
	store *sqlite.Store
	clock *testClock
	web   *Server
	srv   *httptest.Server
	cfg   Config
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvWithPolicy(t, testPolicy, opts...)
}

// newEnvWithPolicy is newEnv on the policy src.
func newEnvWithPolicy(t *testing.T, src string, opts ...envOption) *env {
	t.Helper()
	pol, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	svc, err := workflow.New(workflow.Config{Store: st, Policy: policy.NewHolder(pol), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("JIT_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := Config{
		Service: svc, SessionKey: []byte("0123456789abcdef0123456789abcdef-test"), Resolve: svc.ResolveIdentity,
		DevUsers: []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com"},
		Logger:   logger, Clock: clk, Heartbeat: time.Hour,
	}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	srv.Config.RegisterOnShutdown(w.Shutdown)
	t.Cleanup(func() { w.Shutdown(); srv.Close() })
	return &env{t: t, svc: svc, store: st, clock: clk, web: w, srv: srv, cfg: cfg}
}

// runDue runs every job due now, as the scheduler would.
func (e *env) runDue() {
	e.t.Helper()
	for range 20 {
		jobs, err := e.store.ClaimJobs(context.Background(), jit.ClaimParams{Owner: "test", Now: e.clock.Now(), Lease: time.Minute, Limit: 10})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			if err := e.svc.RunJob(context.Background(), j); err != nil {
				e.t.Fatalf("run job %s: %v", j.Key, err)
			}
		}
	}
	e.t.Fatal("jobs keep coming")
}

// as is a context acting as email, as the API would build it.
func (e *env) as(email string) context.Context {
	id := e.svc.ResolveIdentity(email, nil, "test")
	return jit.WithSource(jit.WithIdentity(context.Background(), id), jit.Source{Kind: "cli", IP: "127.0.0.1"})
}

// submit files a request for email through the service (as the CLI would).
func (e *env) submit(email, resource, reason string) *jit.Request {
	e.t.Helper()
	r, err := e.svc.Submit(e.as(email), workflow.SubmitInput{Resource: resource, Duration: time.Hour, Reason: reason})
	if err != nil {
		e.t.Fatalf("submit: %v", err)
	}
	return r
}

func (e *env) get(id string) *jit.Request {
	e.t.Helper()
	r, err := e.store.GetRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// browser is one visitor with a cookie jar; it does not follow redirects,
// so that tests see them.
type browser struct {
	e      *env
	c      *http.Client
	header http.Header
}

type page struct {
	status int
	header http.Header
	body   string
	// location is the redirect target, when there is one.
	location string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, header: http.Header{}, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body), location: resp.Header.Get("Location")}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser would from one of the app's pages
// (with the Origin header of the site).
func (b *browser) post(path string, form url.Values, headers ...string) page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from the forms of a page.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("GET %s (%d) has no CSRF field", path, p.status)
	}
	return m[1]
}

// signIn signs the browser in through the development switcher.
func (e *env) signIn(email string) *browser {
	e.t.Helper()
	b := e.browser()
	tok := b.csrf("/login")
	p := b.post("/login/dev", url.Values{"csrf": {tok}, "email": {email}, "return": {"/"}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		e.t.Fatalf("dev sign-in as %s: %d %s\n%s", email, p.status, p.location, p.body)
	}
	return b
}

// act posts an action form of a request page with the browser's token.
func (b *browser) act(id, action string, fields ...string) page {
	b.e.t.Helper()
	form := url.Values{"csrf": {b.csrf("/requests/" + id)}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	return b.post("/requests/"+id+"/"+action, form)
}

// section returns the HTML of the element with the given id attribute up
// to the next section of the page, for assertions about one part.
func section(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	if j := strings.Index(rest[1:], "<section"); j >= 0 {
		return rest[:j+1]
	}
	return rest
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q\n--- body ---\n%s", what, w, body)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			t.Errorf("%s contains %q\n--- body ---\n%s", what, w, body)
		}
	}
}
