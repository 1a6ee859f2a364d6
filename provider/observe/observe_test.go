package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

const (
	credentialData = "TOPSECRET-credential-data-b64"
	handleMarker   = "HANDLE-MARKER-42"
)

// memory is an in-process target: grants held in a map, each issuing a
// credential. fail, when set, makes every call return that error.
type memory struct {
	mu     sync.Mutex
	grants map[string]bool
	fail   error
}

func newMemory() *memory { return &memory{grants: map[string]bool{}} }

func (m *memory) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.GrantResponse{}, provider.NotApplied(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return provider.GrantResponse{}, m.fail
	}
	m.grants[req.RequestID] = true
	return provider.GrantResponse{
		Handle:     json.RawMessage(`{"id":"` + handleMarker + `"}`),
		Credential: &provider.Credential{Kind: "password", Data: []byte(credentialData), Info: map[string]string{"user": "jit_x"}},
	}, nil
}

func (m *memory) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, provider.NotApplied(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return provider.RevokeResponse{}, m.fail
	}
	delete(m.grants, req.RequestID)
	return provider.RevokeResponse{}, nil
}

func (m *memory) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return provider.VerifyResponse{}, m.fail
	}
	return provider.VerifyResponse{Present: m.grants[req.RequestID]}, nil
}

func (m *memory) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.grants[id]
}

// router adds the optional capabilities to memory.
type router struct{ *memory }

func (router) Match(host, path string) bool     { return host == "demo.localhost" }
func (router) Route() (host, pathPrefix string) { return "demo.localhost", "/" }
func (router) StoreEnforced() bool              { return false }
func (router) Close() error                     { return nil }

func TestConformanceThroughWrapper(t *testing.T) {
	mem := newMemory()
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			return Wrap(mem, "memory", slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), metrics.New())
		},
		Resource: "db", Access: "read",
		Present: func(t *testing.T, id string) bool { return mem.has(id) },
	})
}

// logLines parses the JSON log lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogsNeverContainCredentialsOrHandles(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := Wrap(newMemory(), "memory", log, nil)
	ctx := context.Background()
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	resp, err := p.Grant(ctx, provider.GrantRequest{RequestID: "req_1", User: "alice@example.com", Resource: "db", Access: "read", Reason: "INC-1", ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Credential == nil || string(resp.Credential.Data) != credentialData {
		t.Fatal("the credential did not pass through the wrapper")
	}
	if _, err := p.Verify(ctx, provider.VerifyRequest{RequestID: "req_1", User: "alice@example.com", Resource: "db", Access: "read", Handle: resp.Handle}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_1", User: "alice@example.com", Resource: "db", Access: "read", Handle: resp.Handle}); err != nil {
		t.Fatal(err)
	}

	out := buf.String()
	for _, secret := range []string{credentialData, handleMarker, "jit_x"} {
		if strings.Contains(out, secret) {
			t.Errorf("log output contains %q:\n%s", secret, out)
		}
	}
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3:\n%s", len(lines), out)
	}
	wantOps := []string{"grant", "verify", "revoke"}
	for i, l := range lines {
		want := map[string]any{
			"msg": "provider call", "level": "INFO", "provider": "memory", "op": wantOps[i],
			"request_id": "req_1", "user": "alice@example.com", "resource": "db", "access": "read", "outcome": "ok",
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, l[k], v)
			}
		}
		if _, ok := l["duration"]; !ok {
			t.Errorf("line %d has no duration", i)
		}
		if _, ok := l["error"]; ok {
			t.Errorf("line %d has an error attribute on success", i)
		}
	}
	if lines[0]["credential_kind"] != "password" || lines[0]["expires_at"] != "2030-01-01T00:00:00Z" {
		t.Errorf("grant line = %v", lines[0])
	}
	if lines[1]["present"] != true {
		t.Errorf("verify line = %v", lines[1])
	}
}

func TestOutcomes(t *testing.T) {
	boom := errors.New("target exploded")
	tests := []struct {
		name    string
		fail    error
		outcome string
		level   string
	}{
		{"ok", nil, OutcomeOK, "INFO"},
		{"not applied", provider.NotApplied(boom), OutcomeNotApplied, "WARN"},
		{"ambiguous", boom, OutcomeError, "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			m := metrics.New()
			mem := newMemory()
			mem.fail = tt.fail
			p := Wrap(mem, "memory", slog.New(slog.NewJSONHandler(&buf, nil)), m)
			ctx := context.Background()
			_, gerr := p.Grant(ctx, provider.GrantRequest{RequestID: "r"})
			_, rerr := p.Revoke(ctx, provider.RevokeRequest{RequestID: "r"})
			_, verr := p.Verify(ctx, provider.VerifyRequest{RequestID: "r"})
			for _, err := range []error{gerr, rerr, verr} {
				// Errors pass through unchanged.
				if err != tt.fail {
					t.Errorf("err = %v, want %v", err, tt.fail)
				}
			}
			for _, l := range logLines(t, &buf) {
				if l["outcome"] != tt.outcome || l["level"] != tt.level {
					t.Errorf("log %v: want outcome %s at %s", l, tt.outcome, tt.level)
				}
				if tt.fail != nil && l["error"] != "target exploded" {
					t.Errorf("log %v: want the error text", l)
				}
			}
			for _, op := range []string{OpGrant, OpRevoke, OpVerify} {
				if got := counter(t, m, op, tt.outcome); got != 1 {
					t.Errorf("jit_provider_calls_total{op=%s,outcome=%s} = %v, want 1", op, tt.outcome, got)
				}
				if got := histogramCount(t, m, op); got != 1 {
					t.Errorf("jit_provider_call_duration_seconds{op=%s} count = %d, want 1", op, got)
				}
			}
		})
	}
}

// counter reads jit_provider_calls_total for type "memory".
func counter(t *testing.T, m *metrics.Metrics, op, outcome string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "jit_provider_calls_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == "memory" && labels["op"] == op && labels["outcome"] == outcome {
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func histogramCount(t *testing.T, m *metrics.Metrics, op string) uint64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "jit_provider_call_duration_seconds" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == "memory" && labels["op"] == op {
				return metric.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestUnwrapReachesCapabilities(t *testing.T) {
	inner := router{newMemory()}
	once := Wrap(inner, "memory", nil, nil)
	twice := Wrap(once, "memory", nil, nil)
	for name, p := range map[string]provider.Provider{"once": once, "twice": twice} {
		if _, ok := p.(provider.Router); ok {
			t.Errorf("%s: the wrapper itself claims to be a Router", name)
		}
		if got := Unwrap(p); got != provider.Provider(inner) {
			t.Errorf("%s: Unwrap = %T", name, got)
		}
		if r, ok := provider.As[provider.Router](p); !ok || !r.Match("demo.localhost", "/") {
			t.Errorf("%s: provider.As[Router] did not find the inner router", name)
		}
		if _, ok := provider.As[provider.Closer](p); !ok {
			t.Errorf("%s: provider.As[Closer] did not find the inner closer", name)
		}
		if _, ok := provider.As[provider.StoreEnforced](p); !ok {
			t.Errorf("%s: provider.As[StoreEnforced] did not find it", name)
		}
	}
	plain := newMemory()
	if Unwrap(plain) != provider.Provider(plain) {
		t.Error("Unwrap of an unwrapped provider must return it")
	}
}

func TestNilLoggerAndMetrics(t *testing.T) {
	p := Wrap(newMemory(), "memory", nil, nil)
	if _, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: "r"}); err != nil {
		t.Fatal(err)
	}
}
