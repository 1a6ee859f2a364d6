package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var sendTime = time.Date(2026, 3, 1, 9, 30, 7, 0, time.UTC)

// delivery is one POST as a receiver saw it.
type delivery struct {
	header http.Header
	body   []byte
	event  Event
}

// receiver is an endpoint as an operator would write one: it verifies the
// signature with Verify (at the sender's clock, which the test controls),
// decodes the event and answers with status.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret []byte
	now    time.Time

	mu     sync.Mutex
	got    []delivery
	status []int // answers in turn; the last one repeats; empty = 200
}

func newReceiver(t *testing.T, status ...int) *receiver {
	rc := &receiver{t: t, secret: testSecret, now: sendTime, status: status}
	rc.srv = httptest.NewServer(rc)
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusMethodNotAllowed)
		return
	}
	rc.mu.Lock()
	now := rc.now
	rc.mu.Unlock()
	if err := Verify(rc.secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		http.Error(w, "bad event: "+err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, event: ev})
	code := http.StatusOK
	if len(rc.status) > 0 {
		code = rc.status[0]
		if len(rc.status) > 1 {
			rc.status = rc.status[1:]
		}
	}
	rc.mu.Unlock()
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d", code)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func (rc *receiver) types() []string {
	var out []string
	for _, d := range rc.deliveries() {
		out = append(out, d.event.Type)
	}
	return out
}

func endpointFor(name string, rc *receiver, actions ...string) Endpoint {
	return Endpoint{Name: name, URL: rc.srv.URL + "/events", Secret: testSecret, Actions: actions}
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = fixedClock{sendTime}
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

const handleMarker = "handle-marker-7f3a"

// goldenNotification is a fully populated notification, with times in a
// zone other than UTC and a handle that must never be sent.
func goldenNotification() jit.Notification {
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2026, 3, 1, 10, 30, 5, 123456000, cet)
	expires := at.Add(time.Hour)
	return jit.Notification{
		ID: "req_01J9ZK3V6M:4:grant", Action: jit.ActionGrant, Actor: jit.SystemActor, At: at,
		Version: 4,
		Request: jit.Request{
			ID: "req_01J9ZK3V6M", Requester: "alice@example.com", Resource: "orders-db", Access: "write",
			Duration: time.Hour, Reason: "INC-42: refunds < 0 & totals wrong",
			Query: "UPDATE public.orders SET total = 0 WHERE id = 42",
			Privileges: []jit.Privilege{
				{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}},
				{Action: "SELECT", Schema: "public", Table: "orders", Columns: []string{"id"}},
			},
			RequesterGroups:   []string{"eng"},
			Approvers:         []string{"group:sre"},
			Status:            jit.StatusActive,
			Rule:              "db-write",
			ApprovalsRequired: 1,
			Approvals: []jit.Approval{{RequestID: "req_01J9ZK3V6M", Approver: "bob@example.com", Approved: true,
				Comment: "ok", At: time.Date(2026, 3, 1, 9, 29, 40, 0, time.UTC)}},
			CreatedAt: time.Date(2026, 3, 1, 9, 28, 0, 0, time.UTC),
			UpdatedAt: at,
			LapsesAt:  time.Date(2026, 3, 2, 9, 28, 0, 0, time.UTC),
			GrantedAt: &at,
			ExpiresAt: &expires,
			Handle:    []byte(`{"role":"` + handleMarker + `"}`),
			Version:   4,
		},
	}
}

// goldenEvent is the exact document of goldenNotification, written out by
// hand. docs/events.md shows the same document.
const goldenEvent = `{
  "schema": "jit.event/v1",
  "id": "req_01J9ZK3V6M:4:grant",
  "type": "access.granted",
  "action": "grant",
  "occurred_at": "2026-03-01T09:30:05.123456Z",
  "actor": "system",
  "reason": "",
  "request": {
    "id": "req_01J9ZK3V6M",
    "requester": "alice@example.com",
    "resource": "orders-db",
    "access": "write",
    "status": "active",
    "duration_seconds": 3600,
    "reason": "INC-42: refunds < 0 & totals wrong",
    "extends_id": "",
    "query": "UPDATE public.orders SET total = 0 WHERE id = 42",
    "privileges": [
      {"action": "UPDATE", "schema": "public", "table": "orders", "columns": ["total"]},
      {"action": "SELECT", "schema": "public", "table": "orders", "columns": ["id"]}
    ],
    "target": "",
    "target_summary": "",
    "ssh_key_fingerprint": "",
    "labels": [],
    "rule": "db-write",
    "approvers": ["group:sre"],
    "approvals_required": 1,
    "auto_approved": false,
    "approvals": [
      {"approver": "bob@example.com", "approved": true, "comment": "ok", "at": "2026-03-01T09:29:40Z"}
    ],
    "created_at": "2026-03-01T09:28:00Z",
    "lapses_at": "2026-03-02T09:28:00Z",
    "granted_at": "2026-03-01T09:30:05.123456Z",
    "expires_at": "2026-03-01T10:30:05.123456Z",
    "ended_at": null,
    "ended_by": "",
    "end_reason": ""
  },
  "version": 4
}`

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}

func TestEventGolden(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", rc)}})
	if err := n.Notify(context.Background(), goldenNotification()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	if want := compact(t, goldenEvent); string(got[0].body) != want {
		t.Errorf("body\n got %s\nwant %s", got[0].body, want)
	}
	if bytes.Contains(got[0].body, []byte(handleMarker)) || bytes.Contains(got[0].body, []byte("handle")) {
		t.Errorf("the body carries the handle: %s", got[0].body)
	}
	if bytes.Contains(got[0].body, []byte(`"eng"`)) {
		t.Errorf("the body carries the requester's groups: %s", got[0].body)
	}
}

// An unset list is [] and an unset time null, never missing, so that a
// receiver needs no special case.
func TestEventEmptyRequest(t *testing.T) {
	n := jit.Notification{ID: "req_x:1:submit", Action: jit.ActionSubmit, Actor: "alice@example.com",
		At: sendTime, Request: jit.Request{ID: "req_x", Status: jit.StatusPending}, Version: 1}
	body, err := encode(n)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	req := m["request"].(map[string]any)
	for _, k := range []string{"privileges", "approvers", "approvals"} {
		if v, ok := req[k].([]any); !ok || len(v) != 0 {
			t.Errorf("request.%s = %#v, want []", k, req[k])
		}
	}
	for _, k := range []string{"created_at", "lapses_at", "granted_at", "expires_at", "ended_at"} {
		if v, ok := req[k]; !ok || v != nil {
			t.Errorf("request.%s = %#v (present %v), want null", k, v, ok)
		}
	}
	if len(req) != 26 || len(m) != 9 {
		t.Errorf("event has %d members and request %d, want 9 and 26: %s", len(m), len(req), body)
	}
}

// The example in docs/events.md must be what is sent.
func TestDocsExampleMatches(t *testing.T) {
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	if !ok {
		t.Fatal("docs/events.md has no ```json block")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/events.md: unterminated ```json block")
	}
	if got, want := compact(t, example), compact(t, goldenEvent); got != want {
		t.Errorf("docs example\n got %s\nwant %s", got, want)
	}
}

func TestEventTypes(t *testing.T) {
	want := map[string]string{
		jit.ActionSubmit:      "request.submitted",
		jit.ActionExtend:      "request.extension_submitted",
		jit.ActionApprove:     "request.approved",
		jit.ActionAutoApprove: "request.auto_approved",
		jit.ActionDeny:        "request.denied",
		jit.ActionCancel:      "request.cancelled",
		jit.ActionLapse:       "request.lapsed",
		jit.ActionGrantStart:  "access.granting",
		jit.ActionGrant:       "access.granted",
		jit.ActionGrantRetry:  "access.grant_retrying",
		jit.ActionGrantFailed: "request.failed",
		jit.ActionRelinquish:  "access.relinquished",
		jit.ActionRevoke:      "access.revoked",
		jit.ActionExpire:      "access.expired",
		jit.ActionRevokeDone:  "access.removed",
		jit.ActionRevokeRetry: "access.revoke_retrying",
		jit.ActionOverdue:     "access.revoke_overdue",
		jit.ActionDrift:       "access.drift",
		jit.ActionRemind:      "access.expiring",
		// Actions that never concern a request, and one yet to come.
		jit.ActionPolicyReload: TypeChanged,
		jit.ActionTokenCreate:  TypeChanged,
		"frobnicate":           TypeChanged,
	}
	seen := map[string]string{}
	for action, typ := range want {
		if got := EventType(action); got != typ {
			t.Errorf("EventType(%q) = %q, want %q", action, got, typ)
		}
		if prev, dup := seen[typ]; dup && typ != TypeChanged {
			t.Errorf("actions %q and %q share the type %q", prev, action, typ)
		}
		seen[typ] = action
	}
	// The raw action travels with request.changed.
	n := goldenNotification()
	n.Action = "frobnicate"
	ev := NewEvent(n)
	if ev.Type != TypeChanged || ev.Action != "frobnicate" {
		t.Errorf("unknown action: type %q action %q", ev.Type, ev.Action)
	}
}

func TestDeliveryHeadersAndSignature(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", rc)}})
	note := goldenNotification()
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	d := rc.deliveries()[0]
	ts := d.header.Get(HeaderTimestamp)
	for h, want := range map[string]string{
		HeaderEventID:   note.ID,
		HeaderEventType: "access.granted",
		HeaderTimestamp: strconv.FormatInt(sendTime.Unix(), 10),
		"User-Agent":    UserAgent,
		HeaderSignature: Sign(testSecret, ts, d.body),
	} {
		if got := d.header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	sig := d.header.Get(HeaderSignature)
	if err := Verify(testSecret, ts, sig, d.body, sendTime.Add(4*time.Minute)); err != nil {
		t.Errorf("Verify within the window: %v", err)
	}
	tampered := bytes.Replace(d.body, []byte(`"write"`), []byte(`"admin"`), 1)
	if bytes.Equal(tampered, d.body) {
		t.Fatal("test did not tamper with the body")
	}
	checks := []struct {
		name   string
		secret []byte
		ts     string
		sig    string
		body   []byte
		now    time.Time
		want   error
	}{
		{"tampered body", testSecret, ts, sig, tampered, sendTime, ErrMismatch},
		{"other timestamp", testSecret, strconv.FormatInt(sendTime.Unix()+1, 10), sig, d.body, sendTime, ErrMismatch},
		{"other secret", []byte("another-secret-of-at-least-32-bytes!"), ts, sig, d.body, sendTime, ErrMismatch},
		{"stale", testSecret, ts, sig, d.body, sendTime.Add(Tolerance + time.Second), ErrStale},
		{"from the future", testSecret, ts, sig, d.body, sendTime.Add(-Tolerance - time.Second), ErrStale},
		{"no secret", nil, ts, sig, d.body, sendTime, ErrNoSecret},
		{"bad timestamp", testSecret, "yesterday", sig, d.body, sendTime, ErrMalformed},
		{"no v1 entry", testSecret, ts, "v0=abcd", d.body, sendTime, ErrMalformed},
		{"bad hex", testSecret, ts, "v1=zz", d.body, sendTime, ErrMalformed},
		{"rotation: old and new", testSecret, ts, "v0=x, " + Sign([]byte("old-secret-old-secret-old-secret!"), ts, d.body) + "," + sig, d.body, sendTime, nil},
	}
	for _, c := range checks {
		err := Verify(c.secret, c.ts, c.sig, c.body, c.now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), string(testSecret)) {
			t.Errorf("%s: error shows the secret", c.name)
		}
	}
}

// Every attempt of one notification sends the same body and event id, so
// that receivers can drop the duplicates; only the timestamp and signature
// are fresh.
func TestRetrySendsSameEvent(t *testing.T) {
	rc := newReceiver(t, http.StatusServiceUnavailable, http.StatusOK)
	clock := &fixedClock{sendTime}
	n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", rc)}, Clock: clock})
	note := goldenNotification()
	if err := n.Notify(context.Background(), note); err == nil {
		t.Fatal("first attempt answered 503 but Notify succeeded")
	}
	clock.t = sendTime.Add(time.Hour)
	rc.mu.Lock()
	rc.now = clock.t // the receiver's clock has moved on too
	rc.mu.Unlock()
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	d := rc.deliveries()
	if len(d) != 2 || !bytes.Equal(d[0].body, d[1].body) || d[0].header.Get(HeaderEventID) != d[1].header.Get(HeaderEventID) {
		t.Fatalf("attempts differ: %d deliveries", len(d))
	}
	if d[0].header.Get(HeaderTimestamp) == d[1].header.Get(HeaderTimestamp) {
		t.Error("the retry reused the first attempt's timestamp")
	}
}

func TestActionFilter(t *testing.T) {
	picky := newReceiver(t)
	unknown := newReceiver(t)
	all := newReceiver(t)
	n := newNotifier(t, Config{Endpoints: []Endpoint{
		endpointFor("picky", picky, jit.ActionGrant, "request.denied", "access.expiring"),
		endpointFor("unknown", unknown, TypeChanged),
		endpointFor("all", all),
	}})
	actions := []string{jit.ActionSubmit, jit.ActionGrant, jit.ActionDeny, jit.ActionRemind, "frobnicate"}
	for i, a := range actions {
		note := goldenNotification()
		note.Action, note.ID = a, fmt.Sprintf("req_01J9ZK3V6M:%d:%s", i, a)
		if err := n.Notify(context.Background(), note); err != nil {
			t.Fatalf("Notify %s: %v", a, err)
		}
		// A sink not selecting the action succeeds without sending.
		for _, s := range n.Sinks() {
			if err := s.Notify(context.Background(), note); err != nil {
				t.Fatalf("%s.Notify %s: %v", s.Name(), a, err)
			}
		}
	}
	twice := func(ts ...string) []string {
		var out []string
		for _, typ := range ts {
			out = append(out, typ, typ)
		}
		return out
	}
	if got, want := picky.types(), twice("access.granted", "request.denied", "access.expiring"); !slices.Equal(got, want) {
		t.Errorf("picky got %v, want %v", got, want)
	}
	if got, want := unknown.types(), twice(TypeChanged); !slices.Equal(got, want) {
		t.Errorf("unknown got %v, want %v", got, want)
	}
	if got := all.types(); len(got) != 2*len(actions) {
		t.Errorf("all got %v, want every action twice", got)
	}
}

func TestSinks(t *testing.T) {
	good := newReceiver(t)
	flaky := newReceiver(t, http.StatusBadGateway, http.StatusOK)
	n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", good), endpointFor("automation", flaky)}})
	if n.Name() != "webhook" {
		t.Errorf("Name = %q", n.Name())
	}
	sinks := n.Sinks()
	var names []string
	for _, s := range sinks {
		names = append(names, s.Name())
	}
	if want := []string{"webhook:siem", "webhook:automation"}; !slices.Equal(names, want) {
		t.Fatalf("sink names %v, want %v", names, want)
	}
	note := goldenNotification()
	if err := sinks[0].Notify(context.Background(), note); err != nil {
		t.Fatalf("siem sink: %v", err)
	}
	err := sinks[1].Notify(context.Background(), note)
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "webhook automation") {
		t.Fatalf("automation sink on 502: %v, want a retryable error naming the endpoint", err)
	}
	// The retry goes to the failed endpoint only.
	if err := sinks[1].Notify(context.Background(), note); err != nil {
		t.Fatalf("automation sink retry: %v", err)
	}
	if g, f := len(good.deliveries()), len(flaky.deliveries()); g != 1 || f != 2 {
		t.Errorf("deliveries: siem %d, automation %d; want 1 and 2", g, f)
	}
}

// The all-endpoints notifier is permanent only when every failure is, so
// that a permanent refusal by one endpoint cannot cancel another's retry.
func TestNotifyCombinesEndpoints(t *testing.T) {
	tests := []struct {
		a, b      int
		wantErr   bool
		permanent bool
	}{
		{200, 204, false, false},
		{200, 500, true, false},
		{404, 500, true, false},
		{404, 410, true, true},
		{200, 400, true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.a, tt.b), func(t *testing.T) {
			a, b := newReceiver(t, tt.a), newReceiver(t, tt.b)
			n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("a", a), endpointFor("b", b)}})
			err := n.Notify(context.Background(), goldenNotification())
			var perm *jit.PermanentError
			if (err != nil) != tt.wantErr || errors.As(err, &perm) != tt.permanent {
				t.Fatalf("Notify = %v; want error %v, permanent %v", err, tt.wantErr, tt.permanent)
			}
			if len(a.deliveries()) != 1 || len(b.deliveries()) != 1 {
				t.Errorf("each endpoint must get the event once")
			}
		})
	}
}

func TestStatusClassification(t *testing.T) {
	const (
		ok = iota
		retry
		permanent
	)
	tests := []struct {
		status int
		want   int
	}{
		{200, ok}, {201, ok}, {202, ok}, {204, ok}, {299, ok},
		{301, permanent}, {304, permanent},
		{400, permanent}, {401, permanent}, {403, permanent}, {404, permanent},
		{408, retry}, {410, permanent}, {413, permanent}, {422, permanent}, {429, retry},
		{500, retry}, {502, retry}, {503, retry}, {504, retry},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			rc := newReceiver(t, tt.status)
			n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", rc)}})
			err := n.Sinks()[0].Notify(context.Background(), goldenNotification())
			var perm *jit.PermanentError
			got := ok
			if errors.As(err, &perm) {
				got = permanent
			} else if err != nil {
				got = retry
			}
			if got != tt.want {
				t.Fatalf("status %d: Notify = %v, want class %d", tt.status, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tt.status)) {
				t.Errorf("error %q does not show the status", err)
			}
		})
	}
}

// A redirect is never followed, even by a client that would: the signed
// event must reach only the configured URL.
func TestRedirectNotFollowed(t *testing.T) {
	target := newReceiver(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL+"/events", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	follows := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	n := newNotifier(t, Config{HTTPClient: follows,
		Endpoints: []Endpoint{{Name: "siem", URL: redirector.URL + "/events", Secret: testSecret}}})
	err := n.Notify(context.Background(), goldenNotification())
	var perm *jit.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "307") {
		t.Fatalf("Notify through a redirect = %v, want a permanent error showing 307", err)
	}
	if got := len(target.deliveries()); got != 0 {
		t.Errorf("the redirect target got %d deliveries", got)
	}
	if follows.CheckRedirect(nil, nil) != nil {
		t.Error("New changed the caller's client")
	}
}

func TestHTTPSWithCallerClient(t *testing.T) {
	rc := &receiver{t: t, secret: testSecret, now: sendTime}
	rc.srv = httptest.NewTLSServer(rc)
	t.Cleanup(rc.srv.Close)
	ep := endpointFor("siem", rc)
	if !strings.HasPrefix(ep.URL, "https://") {
		t.Fatalf("URL %s", ep.URL)
	}
	// Without the server's CA the delivery fails, and is retried.
	plain := newNotifier(t, Config{Endpoints: []Endpoint{ep}})
	err := plain.Notify(context.Background(), goldenNotification())
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("untrusted certificate: %v, want a retryable error", err)
	}
	n := newNotifier(t, Config{Endpoints: []Endpoint{ep}, HTTPClient: rc.srv.Client()})
	if err := n.Notify(context.Background(), goldenNotification()); err != nil {
		t.Fatalf("Notify over https: %v", err)
	}
	if len(rc.deliveries()) != 1 {
		t.Fatal("no delivery")
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks the handler
	n := newNotifier(t, Config{Timeout: 50 * time.Millisecond,
		Endpoints: []Endpoint{{Name: "slow", URL: srv.URL, Secret: testSecret}}})
	err := n.Sinks()[0].Notify(context.Background(), goldenNotification())
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("Notify to a silent endpoint = %v, want a retryable timeout", err)
	}
}

func TestNetworkErrorAndCancelledContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	n := newNotifier(t, Config{Endpoints: []Endpoint{{Name: "gone", URL: "http://" + addr + "/events?token=query-secret-99", Secret: testSecret}}})
	err = n.Notify(context.Background(), goldenNotification())
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("Notify to a closed port = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "query-secret-99") || !strings.Contains(err.Error(), "/events?...") {
		t.Errorf("error %q must show the URL without its query", err)
	}

	rc := newReceiver(t)
	n = newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", rc)}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = n.Notify(ctx, goldenNotification())
	if err == nil || errors.As(err, &perm) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify with an ended context = %v, want a retryable error", err)
	}
	if len(rc.deliveries()) != 0 {
		t.Error("sent with an ended context")
	}
}

// Answers are read only up to a bound: an endless 2xx body still counts as
// delivered, the connection is dropped soon after the bound instead of
// draining the stream, and an error shows only the start of a refused body.
func TestAnswerReadBounded(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	var written atomic.Int64
	handlerDone := make(chan struct{})
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)
	n := newNotifier(t, Config{Timeout: 5 * time.Second, Endpoints: []Endpoint{{Name: "endless", URL: endless.URL, Secret: testSecret}}})
	if err := n.Notify(context.Background(), goldenNotification()); err != nil {
		t.Fatalf("endless 200 answer: %v", err)
	}
	<-handlerDone
	// What the server got to write is the bound plus the socket buffers of
	// both ends (a few MiB); reading until the timeout would be gigabytes.
	t.Logf("the server wrote %d KiB", written.Load()>>10)
	if w := written.Load(); w > 64<<20 {
		t.Errorf("the server wrote %d MiB before the connection was dropped", w>>20)
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(bytes.Repeat([]byte("e"), 1<<20))
	}))
	t.Cleanup(big.Close)
	n = newNotifier(t, Config{Endpoints: []Endpoint{{Name: "big", URL: big.URL, Secret: testSecret}}})
	err := n.Notify(context.Background(), goldenNotification())
	if err == nil || len(err.Error()) > 2*maxErrorBody || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("1 MiB error answer: %d-byte error %.100q...", len(err.Error()), err)
	}
}

func TestValidate(t *testing.T) {
	good := Endpoint{Name: "siem", URL: "https://siem.example.com/jit", Secret: testSecret}
	with := func(f func(*Endpoint)) Config {
		e := good
		f(&e)
		return Config{Endpoints: []Endpoint{e}}
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"https", with(func(*Endpoint) {}), ""},
		{"https with port and query", with(func(e *Endpoint) { e.URL = "https://10.0.0.5:8443/hook?team=sec" }), ""},
		{"http to 127.0.0.1", with(func(e *Endpoint) { e.URL = "http://127.0.0.1:9000/hook" }), ""},
		{"http to 127.0.0.2", with(func(e *Endpoint) { e.URL = "http://127.0.0.2/hook" }), ""},
		{"http to localhost", with(func(e *Endpoint) { e.URL = "http://localhost:9000/hook" }), ""},
		{"http to ::1", with(func(e *Endpoint) { e.URL = "http://[::1]:9000/hook" }), ""},
		{"filter by action and type", with(func(e *Endpoint) { e.Actions = []string{"grant", "access.expiring", TypeChanged} }), ""},
		{"http to a host", with(func(e *Endpoint) { e.URL = "http://siem.example.com/jit" }), "http is allowed only to a loopback address"},
		{"http to a private address", with(func(e *Endpoint) { e.URL = "http://10.0.0.5/jit" }), "http is allowed only to a loopback address"},
		{"http to a name that looks local", with(func(e *Endpoint) { e.URL = "http://127.0.0.1.nip.io/jit" }), "http is allowed only to a loopback address"},
		{"other scheme", with(func(e *Endpoint) { e.URL = "ftp://siem.example.com/" }), "scheme must be https"},
		{"no host", with(func(e *Endpoint) { e.URL = "https:///jit" }), "has no host"},
		{"credentials", with(func(e *Endpoint) { e.URL = "https://user:pw@siem.example.com/" }), "must not contain credentials"},
		{"fragment", with(func(e *Endpoint) { e.URL = "https://siem.example.com/#x" }), "fragment"},
		{"short secret", with(func(e *Endpoint) { e.Secret = testSecret[:31] }), "secret is 31 bytes, need at least 32"},
		{"no secret", with(func(e *Endpoint) { e.Secret = nil }), "secret is 0 bytes"},
		{"no name", with(func(e *Endpoint) { e.Name = "" }), "endpoint 0: name"},
		{"name with colon", with(func(e *Endpoint) { e.Name = "a:b" }), "name \"a:b\" must be"},
		{"unknown action", with(func(e *Endpoint) { e.Actions = []string{"access.grantd"} }), `"access.grantd" is neither`},
		{"no endpoints", Config{}, "no endpoints"},
		{"negative timeout", Config{Endpoints: []Endpoint{good}, Timeout: -time.Second}, "negative"},
		{"duplicate names", Config{Endpoints: []Endpoint{good, good}}, `"siem": name is used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(tt.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), string(testSecret[:16])) {
				t.Errorf("error shows the secret: %v", err)
			}
			if _, err := New(tt.cfg); err == nil {
				t.Error("New accepted what Validate refuses")
			}
		})
	}
}

// Printing a configuration, as a careless log line would, shows no secret.
func TestSecretNotFormatted(t *testing.T) {
	cfg := Config{Endpoints: []Endpoint{{Name: "siem", URL: "https://siem.example.com/?token=query-secret-99", Secret: testSecret}}}
	n := newNotifier(t, cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", cfg.Endpoints[0])} {
		if strings.Contains(s, string(testSecret)) || strings.Contains(s, fmt.Sprint(testSecret)) ||
			strings.Contains(s, fmt.Sprintf("%#v", testSecret)) || strings.Contains(s, "query-secret-99") {
			t.Errorf("formatted config shows the secret: %s", s)
		}
		if !strings.Contains(s, "redacted") {
			t.Errorf("formatted config %s does not use Endpoint.String", s)
		}
	}
	// The notifier keeps its own copy of the secret.
	cfg.Endpoints[0].Secret[0] ^= 0xff
	defer func() { cfg.Endpoints[0].Secret[0] ^= 0xff }()
	if n.endpoints[0].secret[0] == cfg.Endpoints[0].Secret[0] {
		t.Error("the notifier shares the caller's secret slice")
	}
}

func TestBadNotificationIsPermanent(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, Config{Endpoints: []Endpoint{endpointFor("siem", rc)}})
	for _, id := range []string{"", "req_1:1:grant\r\nX-Evil: 1"} {
		note := goldenNotification()
		note.ID = id
		err := n.Notify(context.Background(), note)
		var perm *jit.PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("id %q: Notify = %v, want permanent", id, err)
		}
	}
	if len(rc.deliveries()) != 0 {
		t.Error("a notification without a usable id was sent")
	}
}
