package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

const (
	testSecret  = "s3cr3t-webhook-key-0123456789abcdef"
	headerToken = "Bearer header-token-abcdef-987654321"
)

// wireDoc is the documented wire format, written out here independently
// of the provider's own encoding so that a change to it fails a test.
type wireDoc struct {
	Action    string          `json:"action"`
	RequestID string          `json:"request_id"`
	User      string          `json:"user"`
	Resource  string          `json:"resource"`
	Access    string          `json:"access"`
	Reason    string          `json:"reason"`
	ExpiresAt *time.Time      `json:"expires_at"`
	Handle    json.RawMessage `json:"handle"`
}

// call is one request as the receiver saw it.
type call struct {
	header http.Header
	body   []byte
	doc    wireDoc
}

// receiver is a webhook receiver as an operator would write one: it checks
// signatures with VerifySignature, rejects replays outside the window,
// deduplicates on Idempotency-Key and keeps grants keyed by request ID.
type receiver struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server

	mu     sync.Mutex
	grants map[string]wireDoc
	calls  []call
	// override, when set, answers instead of the normal logic (after the
	// signature check).
	override http.HandlerFunc
}

func newReceiver(t *testing.T, tlsServer bool) *receiver {
	r := &receiver{t: t, secret: []byte(testSecret), grants: map[string]wireDoc{}}
	if tlsServer {
		r.srv = httptest.NewTLSServer(r)
	} else {
		r.srv = httptest.NewServer(r)
	}
	t.Cleanup(r.srv.Close)
	return r
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/hook" {
		http.Error(w, "want POST /hook", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	// The receiver's own clock: the real one, as in production.
	err = VerifySignature(rc.secret, req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature), body, time.Now(), time.Minute)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var doc wireDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		http.Error(w, "bad document: "+err.Error(), http.StatusBadRequest)
		return
	}
	wantKey := doc.RequestID + ":" + doc.Action
	if doc.Action == "list" {
		wantKey = ""
	}
	if got, want := req.Header.Get(HeaderIdempotencyKey), wantKey; got != want {
		http.Error(w, fmt.Sprintf("Idempotency-Key %q, want %q", got, want), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.calls = append(rc.calls, call{header: req.Header.Clone(), body: body, doc: doc})
	override := rc.override
	rc.mu.Unlock()
	if override != nil {
		override(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch doc.Action {
	case "grant":
		if _, ok := rc.grants[doc.RequestID]; !ok {
			rc.grants[doc.RequestID] = doc
		}
		json.NewEncoder(w).Encode(map[string]any{"handle": map[string]string{"grant": doc.RequestID}})
	case "revoke":
		delete(rc.grants, doc.RequestID)
		w.WriteHeader(http.StatusNoContent)
	case "verify":
		g, ok := rc.grants[doc.RequestID]
		json.NewEncoder(w).Encode(map[string]any{"present": ok, "expires_at": g.ExpiresAt})
	case "list":
		grants := []map[string]any{}
		for id, g := range rc.grants {
			grants = append(grants, map[string]any{"request_id": id, "user": g.User, "access": g.Access, "expires_at": g.ExpiresAt})
		}
		json.NewEncoder(w).Encode(map[string]any{"grants": grants})
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (rc *receiver) has(id string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, ok := rc.grants[id]
	return ok
}

func (rc *receiver) lastCall(t *testing.T) call {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.calls) == 0 {
		t.Fatal("the receiver got no call")
	}
	return rc.calls[len(rc.calls)-1]
}

func (rc *receiver) setOverride(h http.HandlerFunc) {
	rc.mu.Lock()
	rc.override = h
	rc.mu.Unlock()
}

// secretFile writes secret to a file and returns its path.
func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func newProvider(t *testing.T, url string, extra map[string]any, o Options) *Provider {
	t.Helper()
	settings := map[string]any{"url": url, "secret_file": secretFile(t, testSecret)}
	for k, v := range extra {
		settings[k] = v
	}
	p, err := NewWithOptions(provider.Resource{Name: "custom", Type: Type, Settings: settings}, o)
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// noSecret fails when err's text contains a secret.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{testSecret, headerToken, "other-secret-value-42"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error contains a secret: %v", err)
		}
	}
}

func grantReq(id string) provider.GrantRequest {
	return provider.GrantRequest{RequestID: id, User: "alice@example.com", Resource: "custom",
		Access: "admin", Reason: "INC-42", ExpiresAt: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}
}

func TestConformance(t *testing.T) {
	rc := newReceiver(t, false)
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			return newProvider(t, rc.srv.URL+"/hook", map[string]any{"list": true}, Options{})
		},
		Resource: "custom", Access: "admin", User: "alice@example.com",
		Present: func(t *testing.T, id string) bool { return rc.has(id) },
	})
}

func TestConformanceTLS(t *testing.T) {
	rc := newReceiver(t, true)
	pool := x509.NewCertPool()
	pool.AddCert(rc.srv.Certificate())
	opts := Options{TLSConfig: rc.srv.Client().Transport.(*http.Transport).TLSClientConfig}
	opts.TLSConfig.RootCAs = pool
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			return newProvider(t, rc.srv.URL+"/hook", nil, opts)
		},
		Resource: "custom", Access: "admin",
		Present: func(t *testing.T, id string) bool { return rc.has(id) },
	})
}

func TestWireFormat(t *testing.T) {
	rc := newReceiver(t, false)
	now := time.Now().Truncate(time.Second)
	p := newProvider(t, rc.srv.URL+"/hook?tenant=a", map[string]any{
		"headers": map[string]any{"Authorization": headerToken, "X-Team": "sre", "x-retries": 3},
	}, Options{Clock: fixedClock{now}})
	ctx := context.Background()

	resp, err := p.Grant(ctx, grantReq("req_wire"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Handle) != `{"grant":"req_wire"}` {
		t.Errorf("handle = %s", resp.Handle)
	}
	c := rc.lastCall(t)
	wantHeaders := map[string]string{
		"Content-Type":       "application/json",
		"User-Agent":         "jit-webhook/1",
		"Idempotency-Key":    "req_wire:grant",
		"X-Jit-Timestamp":    fmt.Sprint(now.Unix()),
		"X-Jit-Signature":    Sign([]byte(testSecret), fmt.Sprint(now.Unix()), c.body),
		"Authorization":      headerToken,
		"X-Team":             "sre",
		"X-Retries":          "3",
		"X-Jit-Not-A-Header": "",
	}
	for name, want := range wantHeaders {
		if got := c.header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	want := wireDoc{Action: "grant", RequestID: "req_wire", User: "alice@example.com", Resource: "custom",
		Access: "admin", Reason: "INC-42", Handle: json.RawMessage("null")}
	exp := grantReq("").ExpiresAt
	want.ExpiresAt = &exp
	if c.doc.ExpiresAt == nil || !c.doc.ExpiresAt.Equal(exp) {
		t.Errorf("expires_at = %v, want %v", c.doc.ExpiresAt, exp)
	}
	got := c.doc
	got.ExpiresAt = want.ExpiresAt
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("document = %+v\nwant %+v", got, want)
	}
	// Every member is present, including the null ones.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"action", "request_id", "user", "resource", "access", "reason", "expires_at", "handle"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("member %q missing from %s", k, c.body)
		}
	}

	// The handle comes back on revoke and verify.
	if _, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_wire", Handle: resp.Handle}); err != nil {
		t.Fatal(err)
	}
	if c := rc.lastCall(t); string(c.doc.Handle) != `{"grant":"req_wire"}` || c.header.Get("Idempotency-Key") != "req_wire:verify" {
		t.Errorf("verify sent handle %s, key %q", c.doc.Handle, c.header.Get("Idempotency-Key"))
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_wire", Handle: resp.Handle}); err != nil {
		t.Fatal(err)
	}
	if c := rc.lastCall(t); string(c.doc.Handle) != `{"grant":"req_wire"}` || c.doc.Action != "revoke" || c.doc.ExpiresAt != nil {
		t.Errorf("revoke sent %+v", c.doc)
	}
}

func TestVerifyExpiresAt(t *testing.T) {
	rc := newReceiver(t, false)
	p := newProvider(t, rc.srv.URL+"/hook", nil, Options{})
	ctx := context.Background()
	if _, err := p.Grant(ctx, grantReq("req_exp")); err != nil {
		t.Fatal(err)
	}
	v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_exp"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Present || v.ExpiresAt == nil || !v.ExpiresAt.Equal(grantReq("").ExpiresAt) {
		t.Errorf("Verify = %+v, want present with the grant's expiry", v)
	}
}

func TestBadSignatureIsRejected(t *testing.T) {
	rc := newReceiver(t, false)
	rc.secret = []byte("other-secret-value-42")
	p := newProvider(t, rc.srv.URL+"/hook", nil, Options{})
	_, err := p.Grant(context.Background(), grantReq("req_badsig"))
	if err == nil {
		t.Fatal("grant signed with the wrong secret succeeded")
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("error = %v; want the 401 and the receiver's reason", err)
	}
	if provider.IsNotApplied(err) {
		t.Error("a non-2xx answer must not be reported as not applied")
	}
	if rc.has("req_badsig") {
		t.Error("the receiver accepted a bad signature")
	}
	noSecret(t, err)
}

func TestReplayWindow(t *testing.T) {
	rc := newReceiver(t, false)
	tests := []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"current", 0, true},
		{"slightly behind", -30 * time.Second, true},
		{"stale", -10 * time.Minute, false},
		{"from the future", 10 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, rc.srv.URL+"/hook", nil, Options{Clock: fixedClock{time.Now().Add(tt.offset)}})
			id := "req_replay_" + strings.ReplaceAll(tt.name, " ", "_")
			_, err := p.Grant(context.Background(), grantReq(id))
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "outside the allowed window") {
				t.Fatalf("err = %v; want the receiver to refuse the timestamp", err)
			}
			if rc.has(id) {
				t.Error("a call outside the window was applied")
			}
			noSecret(t, err)
		})
	}
}

func TestTimeoutIsAmbiguous(t *testing.T) {
	rc := newReceiver(t, false)
	// The receiver never answers; it returns once the caller gives up.
	rc.setOverride(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	p := newProvider(t, rc.srv.URL+"/hook", map[string]any{"timeout": "50ms"}, Options{})
	_, err := p.Grant(context.Background(), grantReq("req_slow"))
	if err == nil {
		t.Fatal("want a timeout error")
	}
	if provider.IsNotApplied(err) {
		t.Errorf("a timeout must leave the outcome unknown, got not applied: %v", err)
	}
	if !strings.Contains(err.Error(), "no answer within 50ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	noSecret(t, err)
}

func TestNon2xxAnswers(t *testing.T) {
	long := "BEGIN" + strings.Repeat("x", 2000) + "END"
	tests := []struct {
		name     string
		status   int
		body     string
		location string
		want     []string
		notWant  []string
	}{
		{"server error", 500, long, "", []string{"500 Internal Server Error", "BEGIN", "truncated"}, []string{"END"}},
		{"not found", 404, "no such grant", "", []string{"404 Not Found", "no such grant"}, nil},
		{"redirect not followed", 307, "", "http://127.0.0.1:1/elsewhere", []string{"307"}, nil},
		{"control characters quoted", 502, "line1\nline2\x1b[31m", "", []string{`line1\nline2\x1b[31m`}, nil},
	}
	rc := newReceiver(t, false)
	p := newProvider(t, rc.srv.URL+"/hook", nil, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.setOverride(func(w http.ResponseWriter, r *http.Request) {
				if tt.location != "" {
					w.Header().Set("Location", tt.location)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			for _, call := range []func() error{
				func() error { _, err := p.Grant(context.Background(), grantReq("req_non2xx")); return err },
				func() error {
					_, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "req_non2xx"})
					return err
				},
				func() error {
					_, err := p.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_non2xx"})
					return err
				},
			} {
				err := call()
				if err == nil {
					t.Fatal("want an error")
				}
				if provider.IsNotApplied(err) {
					t.Errorf("non-2xx reported as not applied: %v", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				for _, w := range tt.notWant {
					if strings.Contains(err.Error(), w) {
						t.Errorf("error contains %q (body not truncated): %.100s...", w, err)
					}
				}
				if len(err.Error()) > 1024 {
					t.Errorf("error is %d bytes long", len(err.Error()))
				}
				noSecret(t, err)
			}
		})
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		op   string
		body string
		want string
	}{
		{"grant answers text", "grant", "OK", "not a JSON object"},
		{"grant handle too big", "grant", `{"handle":"` + strings.Repeat("h", 9000) + `"}`, "more than the"},
		{"grant body too big", "grant", `{"handle":"` + strings.Repeat("h", 70000) + `"}`, "body over"},
		{"verify answers nothing", "verify", "", "empty"},
		{"verify without present", "verify", `{"exists":true}`, `no "present"`},
		{"verify present as string", "verify", `{"present":"yes"}`, "invalid JSON"},
		{"verify bad expiry", "verify", `{"present":true,"expires_at":"soon"}`, "RFC 3339"},
	}
	rc := newReceiver(t, false)
	p := newProvider(t, rc.srv.URL+"/hook", nil, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.setOverride(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) })
			var err error
			if tt.op == "grant" {
				_, err = p.Grant(context.Background(), grantReq("req_bad_answer"))
			} else {
				_, err = p.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_bad_answer"})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if provider.IsNotApplied(err) {
				t.Error("an unreadable 2xx answer must leave the outcome unknown")
			}
		})
	}
}

func TestConnectionRefusedIsNotApplied(t *testing.T) {
	// A port that was free a moment ago; nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := newProvider(t, "http://"+addr+"/hook?token=query-secret", map[string]any{
		"headers": map[string]any{"Authorization": headerToken},
	}, Options{})
	calls := map[string]func() error{
		"grant": func() error { _, err := p.Grant(context.Background(), grantReq("req_refused")); return err },
		"revoke": func() error {
			_, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "req_refused"})
			return err
		},
		"verify": func() error {
			_, err := p.Verify(context.Background(), provider.VerifyRequest{RequestID: "req_refused"})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if !provider.IsNotApplied(err) {
			t.Errorf("%s: err = %v; want not applied", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "query-secret") {
			t.Errorf("%s: error shows the URL's query: %v", name, err)
		}
		noSecret(t, err)
	}
}

func TestNeverConnected(t *testing.T) {
	timeoutErr := &net.OpError{Op: "dial", Net: "tcp", Err: &timeoutError{}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, true},
		{"dns not found", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}, true},
		{"bare dns error", &net.DNSError{Err: "no such host", IsNotFound: true}, true},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", IsTimeout: true}, false},
		{"dial timeout", timeoutErr, false},
		{"read after connect", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false},
		{"write after connect", &net.OpError{Op: "write", Net: "tcp", Err: errors.New("broken pipe")}, false},
		{"eof", io.ErrUnexpectedEOF, false},
		{"deadline", context.DeadlineExceeded, false},
		{"wrapped refused", fmt.Errorf("x: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), true},
	}
	for _, tt := range tests {
		if got := neverConnected(tt.err); got != tt.want {
			t.Errorf("%s: neverConnected = %v, want %v", tt.name, got, tt.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestNewValidation(t *testing.T) {
	file := secretFile(t, testSecret)
	emptyFile := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	t.Setenv("JIT_TEST_WEBHOOK_SECRET", testSecret)
	t.Setenv("JIT_TEST_WEBHOOK_EMPTY", " ")
	base := func(kv ...any) map[string]any {
		m := map[string]any{"url": "https://hooks.example.com/jit", "secret_file": file}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name     string
		settings map[string]any
		key      string
		msg      string
	}{
		{"missing url", base("url", nil), "url", "is required"},
		{"ftp url", base("url", "ftp://x.example/hook"), "url", "scheme must be http or https"},
		{"relative url", base("url", "/hook"), "url", "scheme must be"},
		{"no host", base("url", "http:///hook"), "url", "has no host"},
		{"credentials in url", base("url", "https://user:"+testSecret+"@x.example/"), "url", "must not contain credentials"},
		{"both secrets", base("secret_env", "JIT_TEST_WEBHOOK_SECRET"), "secret_file", "only one of"},
		{"no secret", base("secret_file", nil), "secret_file", "is required"},
		{"missing secret file", base("secret_file", "/nonexistent/jit-secret"), "secret_file", "cannot read the secret"},
		{"empty secret file", base("secret_file", emptyFile), "secret_file", "is empty"},
		{"unset env", base("secret_file", nil, "secret_env", "JIT_TEST_WEBHOOK_UNSET_VAR"), "secret_env", "is not set"},
		{"empty env", base("secret_file", nil, "secret_env", "JIT_TEST_WEBHOOK_EMPTY"), "secret_env", "is empty"},
		{"bare number timeout", base("timeout", 10), "timeout", "with a unit"},
		{"unitless timeout", base("timeout", "10"), "timeout", "missing unit"},
		{"reserved header", base("headers", map[string]any{"Content-Type": "text/plain"}), "headers", "set by jit"},
		{"jit header", base("headers", map[string]any{"x-jit-signature": "v1=00"}), "headers", "set by jit"},
		{"bad header name", base("headers", map[string]any{"X Team": "a"}), "headers", "invalid character"},
		{"header injection", base("headers", map[string]any{"X-Team": "a\r\nX-Evil: " + testSecret}), "headers", "line break"},
		{"unknown setting", base("secret", testSecret), "secret", "unknown setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(provider.Resource{Name: "custom", Type: Type, Settings: tt.settings})
			if err == nil {
				t.Fatal("want an error")
			}
			var se *provider.SettingError
			if !errors.As(err, &se) || se.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v; want setting %q with %q", err, tt.key, tt.msg)
			}
			noSecret(t, err)
		})
	}

	// The environment variable form works and gives the same signatures.
	rc := newReceiver(t, false)
	p, err := New(provider.Resource{Name: "custom", Type: Type, Settings: map[string]any{
		"url": rc.srv.URL + "/hook", "secret_env": "JIT_TEST_WEBHOOK_SECRET",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Grant(context.Background(), grantReq("req_env")); err != nil {
		t.Fatalf("grant with secret_env: %v", err)
	}
	// Registered under its type.
	if _, err := provider.New(provider.Resource{Name: "c", Type: "webhook", Settings: base()}); err != nil {
		t.Fatalf("provider.New: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("k")
	body := []byte(`{"action":"grant"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := "1800000000"
	good := Sign(secret, ts, body)
	other := Sign([]byte("old"), ts, body)
	tests := []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", secret, ts, good, body, now, time.Minute, nil},
		{"valid among several", secret, ts, other + "," + good, body, now, time.Minute, nil},
		{"valid with spaces and other schemes", secret, ts, "v0=zz, " + good, body, now, time.Minute, nil},
		{"upper-case hex", secret, ts, "v1=" + strings.ToUpper(strings.TrimPrefix(good, "v1=")), body, now, time.Minute, nil},
		{"wrong secret", []byte("x"), ts, good, body, now, time.Minute, ErrMismatch},
		{"tampered body", secret, ts, good, []byte(`{"action":"revoke"}`), now, time.Minute, ErrMismatch},
		{"timestamp not bound", secret, "1800000001", good, body, now.Add(time.Second), time.Minute, ErrMismatch},
		{"stale", secret, ts, good, body, now.Add(61 * time.Second), time.Minute, ErrStale},
		{"edge of window", secret, ts, good, body, now.Add(60 * time.Second), time.Minute, nil},
		{"future", secret, ts, good, body, now.Add(-61 * time.Second), time.Minute, ErrStale},
		{"default tolerance keeps 4m", secret, ts, good, body, now.Add(4 * time.Minute), 0, nil},
		{"default tolerance refuses 6m", secret, ts, good, body, now.Add(6 * time.Minute), 0, ErrStale},
		{"no secret", nil, ts, good, body, now, time.Minute, ErrNoSecret},
		{"timestamp not a number", secret, "yesterday", good, body, now, time.Minute, ErrMalformed},
		{"negative timestamp", secret, "-5", good, body, now, time.Minute, ErrMalformed},
		{"no v1 entry", secret, ts, "v2=abcd", body, now, time.Minute, ErrMalformed},
		{"empty signature", secret, ts, "", body, now, time.Minute, ErrMalformed},
		{"bad hex", secret, ts, "v1=zz", body, now, time.Minute, ErrMalformed},
		{"short mac", secret, ts, "v1=abcd", body, now, time.Minute, ErrMalformed},
		{"stale and wrong reports mismatch", []byte("x"), ts, good, body, now.Add(time.Hour), time.Minute, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.ts, tt.sig, tt.body, tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(good, "v1=")) {
				t.Errorf("error shows the expected MAC: %v", err)
			}
		})
	}
}

func TestSignKnownAnswer(t *testing.T) {
	// HMAC-SHA256("secret", "1700000000.{}"), computed independently with
	// `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`.
	const want = "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
	if got := Sign([]byte("secret"), "1700000000", []byte("{}")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
