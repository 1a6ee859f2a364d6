package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jit/provider"
)

// memory is a correct in-process provider; the flaws switch on the
// misbehaviours the suite must catch.
type memory struct {
	mu     sync.Mutex
	grants map[string]int
	flaw   string
}

func (m *memory) key(id, user string) string {
	if m.flaw == "keyed-by-user" {
		return user
	}
	return id
}

func (m *memory) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if err := ctx.Err(); err != nil && m.flaw != "ignores-context" {
		return provider.GrantResponse{}, provider.NotApplied(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.key(req.RequestID, req.User)
	if m.flaw == "grant-not-idempotent" {
		m.grants[k]++
	} else {
		m.grants[k] = 1
	}
	return provider.GrantResponse{Handle: json.RawMessage(`{"k":"` + k + `"}`)}, nil
}

func (m *memory) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil && m.flaw != "ignores-context" {
		return provider.RevokeResponse{}, provider.NotApplied(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.key(req.RequestID, req.User)
	if m.grants[k] == 0 {
		if m.flaw == "revoke-unknown-fails" {
			return provider.RevokeResponse{}, errors.New("no such access")
		}
		return provider.RevokeResponse{}, nil
	}
	m.grants[k]--
	return provider.RevokeResponse{}, nil
}

func (m *memory) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil && m.flaw != "ignores-context" {
		return provider.VerifyResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.flaw == "verify-lies" {
		return provider.VerifyResponse{Present: true}, nil
	}
	return provider.VerifyResponse{Present: m.grants[m.key(req.RequestID, req.User)] > 0}, nil
}

func (m *memory) present(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.flaw == "keyed-by-user" {
		return m.grants["conformance@example.com"] > 0
	}
	return m.grants[id] > 0
}

func harness(m *memory) Harness {
	return Harness{
		New:      func(t *testing.T) provider.Provider { return m },
		Resource: "mem", Access: "rw",
		Present: func(t *testing.T, id string) bool { return m.present(id) },
	}
}

func TestCorrectProviderPasses(t *testing.T) {
	Run(t, harness(&memory{grants: map[string]int{}}))
}

func TestCorrectProviderPassesWithoutPresent(t *testing.T) {
	h := harness(&memory{grants: map[string]int{}})
	h.Present = nil
	Run(t, h)
}

const flawEnv = "JIT_PROVIDERTEST_FLAW"

// TestFlawedHelper runs the suite against a flawed provider; it does
// something only when started by TestSuiteCatchesFlaws.
func TestFlawedHelper(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("started by TestSuiteCatchesFlaws only")
	}
	h := harness(&memory{grants: map[string]int{}, flaw: flaw})
	if flaw == "claims-store-enforced" {
		h.StoreEnforced = true
	}
	Run(t, h)
}

// TestSuiteCatchesFlaws proves the suite can fail: each flawed provider
// must fail the named check. The suite runs in a child test process,
// because a failing subtest cannot be contained in this one.
func TestSuiteCatchesFlaws(t *testing.T) {
	tests := []struct {
		flaw  string
		check string
	}{
		{"grant-not-idempotent", "GrantTwiceIsOneAccess"},
		{"revoke-unknown-fails", "RevokeNeverGranted"},
		{"verify-lies", "VerifyUnknown"},
		{"keyed-by-user", "GrantsAreIndependent"},
		{"ignores-context", "CancelledContext"},
		{"claims-store-enforced", "StoreEnforcedAgrees"},
	}
	for _, tt := range tests {
		t.Run(tt.flaw, func(t *testing.T) {
			cmd := osexec.Command(os.Args[0], "-test.run=^TestFlawedHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), flawEnv+"="+tt.flaw)
			out, err := cmd.CombinedOutput()
			var exitErr *osexec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("the suite passed a provider with flaw %s (err %v):\n%s", tt.flaw, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestFlawedHelper/"+tt.check) {
				t.Errorf("flaw %s did not fail check %s:\n%s", tt.flaw, tt.check, out)
			}
		})
	}
}
