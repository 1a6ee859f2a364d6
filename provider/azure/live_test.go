package azure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

// TestLiveAzure grants, verifies and revokes a role against real Azure.
// It runs only when JIT_TEST_AZURE_TENANT_ID, JIT_TEST_AZURE_CLIENT_ID,
// JIT_TEST_AZURE_CLIENT_SECRET, JIT_TEST_AZURE_SCOPE and
// JIT_TEST_AZURE_PRINCIPAL_ID are set (JIT_TEST_AZURE_ROLE defaults to
// Reader); Azure cannot be reached from CI, so it is skipped there too.
// The principal receives the role for at most ten minutes.
func TestLiveAzure(t *testing.T) {
	vars := map[string]string{}
	for _, k := range []string{"JIT_TEST_AZURE_TENANT_ID", "JIT_TEST_AZURE_CLIENT_ID", "JIT_TEST_AZURE_CLIENT_SECRET", "JIT_TEST_AZURE_SCOPE", "JIT_TEST_AZURE_PRINCIPAL_ID"} {
		v := os.Getenv(k)
		if v == "" {
			t.Skipf("%s is not set: the live Azure test needs a tenant, an app registration and a scope (see docs/azure.md)", k)
		}
		vars[k] = v
	}
	role := os.Getenv("JIT_TEST_AZURE_ROLE")
	if role == "" {
		role = "Reader"
	}
	p, err := New(provider.Resource{Name: "live", Type: Type, Access: []string{"test"}, Settings: map[string]any{
		"tenant_id":         vars["JIT_TEST_AZURE_TENANT_ID"],
		"client_id":         vars["JIT_TEST_AZURE_CLIENT_ID"],
		"client_secret_env": "JIT_TEST_AZURE_CLIENT_SECRET",
		"scope":             vars["JIT_TEST_AZURE_SCOPE"],
		"roles":             map[string]any{"test": role},
		"principals":        map[string]any{"live-test@example.com": vars["JIT_TEST_AZURE_PRINCIPAL_ID"]},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "req_live_" + hex.EncodeToString(b[:])
	user := "live-test@example.com"
	if _, err := p.(provider.Checker).Check(ctx, provider.CheckRequest{User: user, Access: "test", Duration: 10 * time.Minute}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	g, err := p.Grant(ctx, provider.GrantRequest{RequestID: id, User: user, Access: "test", Reason: "jit live test", ExpiresAt: time.Now().Add(10 * time.Minute)})
	t.Cleanup(func() {
		if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: id, User: user, Access: "test", Handle: g.Handle}); err != nil {
			t.Errorf("cleanup revoke: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	// Azure's listings catch up with writes after a while.
	waitFor := func(want bool) {
		t.Helper()
		for {
			v, err := p.Verify(ctx, provider.VerifyRequest{RequestID: id, User: user, Access: "test", Handle: g.Handle})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.Present == want {
				if want && v.ExpiresAt == nil {
					t.Error("Verify reports no expiry")
				}
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("Verify never reported present = %v", want)
			case <-time.After(5 * time.Second):
			}
		}
	}
	waitFor(true)
	if _, err := p.Grant(ctx, provider.GrantRequest{RequestID: id, User: user, Access: "test", Reason: "jit live test", ExpiresAt: time.Now().Add(10 * time.Minute)}); err != nil {
		t.Fatalf("second Grant: %v", err)
	}
	if _, err := p.Revoke(ctx, provider.RevokeRequest{RequestID: id, User: user, Access: "test", Handle: g.Handle}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	waitFor(false)
}
