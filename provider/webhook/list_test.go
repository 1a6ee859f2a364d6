package webhook

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

func TestListReportsGrantedAccess(t *testing.T) {
	rc := newReceiver(t, false)
	p := newProvider(t, rc.srv.URL+"/hook", listOn, Options{})
	ctx := context.Background()
	list := func() map[string]provider.ListedGrant {
		t.Helper()
		resp, err := p.List(ctx, provider.ListRequest{Resource: "custom"})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		out := map[string]provider.ListedGrant{}
		for _, g := range resp.Grants {
			out[g.RequestID] = g
		}
		return out
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("empty receiver lists %v", got)
	}
	c := rc.lastCall(t)
	if c.doc.Action != "list" || c.doc.Resource != "custom" || c.doc.RequestID != "" {
		t.Errorf("list document = %+v", c.doc)
	}
	if _, ok := c.header[HeaderIdempotencyKey]; ok {
		t.Errorf("a list carries Idempotency-Key %q; a receiver could answer it from a cache", c.header.Get(HeaderIdempotencyKey))
	}
	for _, id := range []string{"req_a", "req_b"} {
		if _, err := p.Grant(ctx, grantReq(id)); err != nil {
			t.Fatal(err)
		}
	}
	got := list()
	want := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	if a := got["req_a"]; len(got) != 2 || a.User != "alice@example.com" || a.Access != "admin" || a.ExpiresAt == nil || !a.ExpiresAt.Equal(want) {
		t.Fatalf("after two grants List = %+v", got)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: "req_a"}); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 1 || got["req_b"].RequestID != "req_b" {
		t.Errorf("after revoking req_a List = %v, want only req_b", got)
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"server error", http.StatusInternalServerError, "boom", "500 Internal Server Error"},
		{"not json", http.StatusOK, "hello", "not a JSON object"},
		{"no grants", http.StatusOK, "{}", `no "grants" array`},
		{"entry without id", http.StatusOK, `{"grants":[{"user":"a"}]}`, "grants[0] has no request_id"},
		{"empty", http.StatusOK, "", "list answer is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, false)
			rc.setOverride(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			p := newProvider(t, rc.srv.URL+"/hook", listOn, Options{})
			_, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("List error = %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "webhook list custom") {
				t.Errorf("error %q does not name the action and resource", err)
			}
			noSecret(t, err)
		})
	}
}

// A listing may be much bigger than the answer of one call; it has its own
// limit.
func TestListLargeAnswer(t *testing.T) {
	rc := newReceiver(t, false)
	var b strings.Builder
	b.WriteString(`{"grants":[`)
	for i := range 3000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"request_id":"req_` + strings.Repeat("x", 20) + strconv.Itoa(i) + `","user":"someone-with-a-long-name@example.com"}`)
	}
	b.WriteString(`]}`)
	body := b.String()
	if len(body) <= maxResponse {
		t.Fatalf("test answer is only %d bytes", len(body))
	}
	rc.setOverride(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) })
	p := newProvider(t, rc.srv.URL+"/hook", listOn, Options{})
	resp, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Grants) != 3000 {
		t.Errorf("listed %d grants, want 3000", len(resp.Grants))
	}
}

var listOn = map[string]any{"list": true}

// Listing is off unless configured, so that a receiver written before the
// "list" action existed is never sent one.
func TestListNeedsSetting(t *testing.T) {
	rc := newReceiver(t, false)
	p := newProvider(t, rc.srv.URL+"/hook", nil, Options{})
	_, err := p.List(context.Background(), provider.ListRequest{Resource: "custom"})
	if !errors.Is(err, provider.ErrListUnsupported) || !strings.Contains(err.Error(), "list: true") {
		t.Fatalf("List without the list setting: %v, want provider.ErrListUnsupported", err)
	}
	rc.mu.Lock()
	n := len(rc.calls)
	rc.mu.Unlock()
	if n != 0 {
		t.Errorf("the receiver got %d calls", n)
	}
}
