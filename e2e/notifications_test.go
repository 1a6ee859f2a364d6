package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/webhooks"
)

// TestWebhookNotifications configures a webhook in jit.yaml and follows a
// request through its lifecycle: every change arrives at the receiver as
// a signed JSON event, the receiver's outage is ridden out by retries, and
// the Slack endpoints are served (refusing unsigned requests).
func TestWebhookNotifications(t *testing.T) {
	secret := strings.Repeat("s", 40)
	var (
		mu     sync.Mutex
		events []webhooks.Event
		fail   = 1 // the first delivery fails: retried
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhooks.Verify([]byte(secret), r.Header.Get(webhooks.HeaderTimestamp), r.Header.Get(webhooks.HeaderSignature), body, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var ev webhooks.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("event: %v", err)
		}
		events = append(events, ev)
	}))
	defer recv.Close()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	t.Setenv("JIT_E2E_SLACK_TOKEN", "xoxb-test-token")
	t.Setenv("JIT_E2E_SLACK_SIGNING", "8f742231b10e8888abcd99yyyzzz85a5")
	policy := fmt.Sprintf(`
server:
  base_url: http://127.0.0.1:8080
  notifications:
    webhooks:
      - {name: siem, url: %q, secret_file: %q}
    slack:
      bot_token_env: JIT_E2E_SLACK_TOKEN
      signing_secret_env: JIT_E2E_SLACK_SIGNING
      default_channel: C0123ABCD
identities:
  - {email: alice@example.com, groups: [engineering]}
  - {email: bob@example.com, groups: [sre]}
resources:
  - {name: demo-app, provider: http, settings: {host: demo.localhost}, access: [user]}
rules:
  - name: engineers
    requesters: {groups: [engineering]}
    resources: [demo-app]
    max_duration: 1h
    approvers: {groups: [sre]}
`, recv.URL, secretFile)
	srv := jitdtest.Start(t, jitdtest.Options{Policy: []byte(policy)})
	ctx := context.Background()
	alice, bob := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob)
	r, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "30m", Reason: "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Approve(ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	if _, err := alice.Relinquish(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, r.ID, jit.StatusRelinquished, jit.StatusActive, jit.StatusRevoking)

	want := []string{"request.submitted", "request.approved", "access.granted", "access.relinquished", "access.removed"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got := map[string]bool{}
		for _, ev := range events {
			if ev.Request.ID == r.ID {
				got[ev.Type] = true
			}
		}
		n := len(events)
		mu.Unlock()
		missing := []string{}
		for _, w := range want {
			if !got[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook events missing %v (got %d events)", missing, n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The Slack endpoints are served and refuse unsigned requests.
	resp, err := http.Post(srv.URL+"/slack/commands", "application/x-www-form-urlencoded", strings.NewReader("command=/jit"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned slash command: %d, want 401", resp.StatusCode)
	}
}
