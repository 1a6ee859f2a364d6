package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
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
// reason and one SRE's approval, vault with two SREs' approvals, and
// prod-app under a rule approved only in the web app; bob and frank are
// SREs; carol is an admin who approves nothing; dave (sales) may request
// sales-app only, approved by erin.
const testPolicy = `
server: {lapse_after: 24h}
admins: [carol@example.com]
identities:
  - {email: alice@example.com, name: Alice, groups: [engineering]}
  - {email: bob@example.com, name: Bob, groups: [sre]}
  - {email: frank@example.com, name: Frank, groups: [sre]}
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
  - name: vault
    provider: http
    settings: {host: vault.localhost, path_prefix: /}
    access: [reader]
  - name: prod-app
    provider: http
    settings: {host: prod.localhost, path_prefix: /}
    access: [user]
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
  - name: vault-two-sre
    requesters: {groups: [engineering]}
    resources: [vault]
    max_duration: 2h
    approvers: {groups: [sre]}
    approvals: 2
  - name: prod-step-up
    requesters: {groups: [engineering]}
    resources: [prod-app]
    max_duration: 1h
    approvers: {groups: [sre]}
  - name: sales-app
    requesters: {groups: [sales]}
    resources: [sales-app]
    max_duration: 2h
    approvers: {users: [erin@example.com]}
`

const (
	testToken  = "xoxb-test-token"
	testSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	testTeam   = "T1"
	chDemo     = "CDEMO"
	chDefault  = "CAPPROVALS"
	baseURL    = "https://jit.example.com"
)

// Slack users of the test workspace.
var testUsers = []fakeUser{
	{ID: "UALICE", Email: "alice@example.com"},
	{ID: "UBOB", Email: "Bob@Example.com"},
	{ID: "UFRANK", Email: "frank@example.com"},
	{ID: "UCAROL", Email: "carol@example.com"},
	{ID: "UDAVE", Email: "dave@example.com"},
	{ID: "UERIN", Email: "erin@example.com"},
	{ID: "UGHOST"}, // no email visible
	{ID: "UGONE", Email: "gone@example.com", Deleted: true},
	{ID: "UBOT", Email: "bot@example.com", Bot: true},
}

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

// env is the Slack app on a real workflow service and SQLite store,
// talking to a fake Slack Web API, served over a loopback listener.
type env struct {
	t       *testing.T
	svc     *workflow.Service
	store   *sqlite.Store
	clock   *testClock
	slack   *fakeSlack
	app     *App
	srv     *httptest.Server
	msgs    *MemoryStore
	cfg     Config
	lastSeq int64
	trigger int
}

func newEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	pol, err := policy.Parse("test.yaml", []byte(testPolicy))
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
	fs := newFakeSlack(t, testToken, testUsers...)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("JIT_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	msgs := NewMemoryStore()
	cfg := Config{
		BotToken: testToken, SigningSecret: testSecret, TeamID: testTeam,
		Channels: map[string]string{"demo-app": chDemo}, DefaultChannel: chDefault,
		BaseURL: baseURL, StepUpRules: []string{"prod-step-up"},
		Service: svc, Resolve: svc.ResolveIdentity, Messages: msgs,
		Clock: clk, Logger: logger, APIURL: fs.apiURL(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	app, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &env{t: t, svc: svc, store: st, clock: clk, slack: fs, app: app, srv: srv, msgs: msgs, cfg: cfg}
}

// post sends body to path signed as Slack signs it, at the clock's time,
// and waits for the work the app answers later.
func (e *env) post(path, body string, header ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("X-Slack-Signature", Sign([]byte(testSecret), now, []byte(body)))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) (int, string) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.app.bg.Wait()
	return resp.StatusCode, string(b)
}

// command runs the slash command as Slack user user.
func (e *env) command(user, text string) (int, string) {
	e.t.Helper()
	e.trigger++
	form := url.Values{"token": {"unused-verification-token"}, "team_id": {testTeam}, "team_domain": {"example"},
		"channel_id": {"CRANDOM"}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"command": {"/jit"}, "text": {text}, "response_url": {e.slack.responseURL()},
		"trigger_id": {fmt.Sprintf("trigger-%d", e.trigger)}, "api_app_id": {"A1"}}
	return e.post("/slack/commands", form.Encode())
}

// interact posts an interaction payload.
func (e *env) interact(payload map[string]any, header ...string) (int, string) {
	e.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post("/slack/interactions", url.Values{"payload": {string(b)}}.Encode(), header...)
}

// click is user clicking the button with actionID and value in a message
// of channel ch.
func (e *env) click(user, actionID, value, ch string) (int, string) {
	e.t.Helper()
	e.trigger++
	return e.interact(e.clickPayload(user, actionID, value, ch))
}

func (e *env) clickPayload(user, actionID, value, ch string) map[string]any {
	return map[string]any{
		"type": "block_actions", "team": map[string]any{"id": testTeam, "domain": "example"},
		"user":       map[string]any{"id": user, "team_id": testTeam},
		"api_app_id": "A1", "trigger_id": fmt.Sprintf("trigger-%d", e.trigger), "response_url": e.slack.responseURL(),
		"container": map[string]any{"type": "message", "channel_id": ch, "message_ts": "1770000000.000001"},
		"channel":   map[string]any{"id": ch},
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "b", "value": value,
			"action_ts": "1770000001.000001", "text": map[string]any{"type": "plain_text", "text": "x"}}},
	}
}

// state builds a view's state.values from block ID → value; a value for
// a select block is given as "select:VALUE".
func state(view fakeView, values map[string]string) map[string]any {
	out := map[string]any{}
	for block, v := range values {
		action := valueID
		if block == fResource {
			action = actResource
		}
		if sel, ok := strings.CutPrefix(v, "select:"); ok {
			out[block] = map[string]any{action: map[string]any{"type": "static_select",
				"selected_option": map[string]any{"value": sel, "text": map[string]any{"type": "plain_text", "text": sel}}}}
		} else {
			out[block] = map[string]any{action: map[string]any{"type": "plain_text_input", "value": v}}
		}
	}
	return out
}

// viewPayload is the view as Slack sends it back: what the app opened,
// with its ID, hash and the person's input.
func viewPayload(view fakeView, values map[string]string) map[string]any {
	v := map[string]any{}
	for k, x := range view.View {
		v[k] = x
	}
	v["id"], v["hash"], v["team_id"] = view.ID, view.Hash, testTeam
	v["state"] = map[string]any{"values": state(view, values)}
	return v
}

// submit submits view as user with the given input and returns Slack's
// view submission response.
func (e *env) submit(user string, view fakeView, values map[string]string) (int, map[string]any) {
	e.t.Helper()
	payload := map[string]any{"type": "view_submission", "team": map[string]any{"id": testTeam},
		"user": map[string]any{"id": user, "team_id": testTeam}, "api_app_id": "A1",
		"view": viewPayload(view, values)}
	status, body := e.interact(payload)
	var resp map[string]any
	if status == http.StatusOK && body != "" {
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			e.t.Fatalf("view submission answer is not JSON: %v\n%s", err, body)
		}
	}
	return status, resp
}

// chooseResource is user choosing a resource in the request modal.
func (e *env) chooseResource(user string, view fakeView, resource string, values map[string]string) int {
	e.t.Helper()
	e.trigger++
	payload := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": testTeam},
		"user": map[string]any{"id": user, "team_id": testTeam}, "api_app_id": "A1",
		"trigger_id": fmt.Sprintf("trigger-%d", e.trigger),
		"container":  map[string]any{"type": "view", "view_id": view.ID},
		"view":       viewPayload(view, values),
		"actions": []any{map[string]any{"type": "static_select", "action_id": actResource, "block_id": fResource,
			"selected_option": map[string]any{"value": resource, "text": map[string]any{"type": "plain_text", "text": resource}},
			"action_ts":       "1770000001.000001"}},
	}
	status, _ := e.interact(payload)
	return status
}

// notifications turns the audit events since the last call into
// notifications, the way the daemon's notification jobs carry them: one
// per state change of a request, with the request as stored.
func (e *env) notifications() []jit.Notification {
	e.t.Helper()
	evs, err := e.store.ListAudit(context.Background(), jit.AuditFilter{AfterSeq: e.lastSeq, Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []jit.Notification
	for _, ev := range evs {
		e.lastSeq = ev.Seq
		if ev.RequestID == "" {
			continue
		}
		r := e.get(ev.RequestID)
		out = append(out, jit.Notification{ID: fmt.Sprintf("n%d", ev.Seq), Action: ev.Action, Actor: ev.Actor,
			Reason: ev.Reason, At: ev.Time, Request: *r, Version: r.Version})
	}
	return out
}

// deliver hands every new notification to the app, as the notification
// jobs would.
func (e *env) deliver() []jit.Notification {
	e.t.Helper()
	ns := e.notifications()
	for _, n := range ns {
		if err := e.app.Notify(context.Background(), n); err != nil {
			e.t.Fatalf("notify %s %s: %v", n.Action, n.Request.ID, err)
		}
	}
	return ns
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
	return jit.WithSource(jit.WithIdentity(context.Background(), id), jit.Source{Kind: "cli"})
}

func (e *env) submitAs(email, resource, reason string) *jit.Request {
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

// requests returns every request, newest first.
func (e *env) requests() []*jit.Request {
	e.t.Helper()
	rs, err := e.store.ListRequests(context.Background(), jit.RequestFilter{Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
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
