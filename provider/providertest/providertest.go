// Package providertest is the conformance suite every provider passes. A
// provider's tests call Run against a real target (a database, an HTTP
// receiver, a script keeping state in files); the suite checks the contract
// of provider.Provider: idempotent grant and revoke keyed by the request ID,
// independent grants, a Verify without side effects, calls that fail
// promptly on a cancelled context and, for providers that implement
// provider.Lister, a listing that matches what was granted and revoked.
package providertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

// Harness describes the provider under test and its target.
type Harness struct {
	// New builds a fresh provider for the resource. It is called once per
	// check; it should register its own cleanup with t.
	New func(t *testing.T) provider.Provider
	// Resource, Access and User are put in every request.
	Resource, Access, User string
	// Target and SSHPublicKey, when set, are put in every request too
	// (as provider.CheckRequest would have accepted them).
	Target, SSHPublicKey string
	// StoreEnforced says that the provider keeps no access in a target
	// (jit's store is the source of truth, see provider.StoreEnforced).
	// Presence checks are then skipped and only the idempotency and
	// no-error contracts are checked. It must agree with what the provider
	// reports through provider.IsStoreEnforced.
	StoreEnforced bool
	// Present, when set, asks the target directly whether access for
	// requestID exists, independently of the provider's Verify.
	Present func(t *testing.T, requestID string) bool
}

// hangLimit bounds how long a call with a cancelled context may take before
// the suite reports it as hanging. It is a guard against a stuck test, not
// a performance assertion: a correct provider returns at once.
const hangLimit = 30 * time.Second

// Run runs the conformance checks as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("providertest: Harness.New is required")
	}
	if h.User == "" {
		h.User = "conformance@example.com"
	}
	s := &suite{h: h}
	t.Run("StoreEnforcedAgrees", s.storeEnforcedAgrees)
	t.Run("GrantThenVerify", s.grantThenVerify)
	t.Run("GrantTwiceIsOneAccess", s.grantTwice)
	t.Run("RevokeIsIdempotent", s.revokeIdempotent)
	t.Run("RevokeNeverGranted", s.revokeNeverGranted)
	t.Run("GrantsAreIndependent", s.independent)
	t.Run("VerifyUnknown", s.verifyUnknown)
	t.Run("CancelledContext", s.cancelled)
	t.Run("ListMatchesGrants", s.listMatches)
}

type suite struct{ h Harness }

// requestID returns an ID unique across runs, because targets (a shared
// database server) may outlive one test process.
func requestID(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random request ID: %v", err)
	}
	return "req_conf_" + hex.EncodeToString(b[:])
}

func (s *suite) grantReq(id string) provider.GrantRequest {
	return provider.GrantRequest{
		RequestID: id, User: s.h.User, Resource: s.h.Resource, Access: s.h.Access,
		Reason: "conformance test", Target: s.h.Target, SSHPublicKey: s.h.SSHPublicKey,
		// Whole seconds, because several targets (certificates, SQL
		// VALID UNTIL) store expiry at that precision.
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second),
	}
}

func (s *suite) revokeReq(id string, handle json.RawMessage) provider.RevokeRequest {
	return provider.RevokeRequest{RequestID: id, User: s.h.User, Resource: s.h.Resource, Access: s.h.Access, Handle: handle, Target: s.h.Target}
}

func (s *suite) verifyReq(id string, handle json.RawMessage) provider.VerifyRequest {
	return provider.VerifyRequest{RequestID: id, User: s.h.User, Resource: s.h.Resource, Access: s.h.Access, Handle: handle, Target: s.h.Target}
}

// grant grants id and registers a revoke at cleanup, so that a failing
// check leaves nothing behind in a shared target.
func (s *suite) grant(t *testing.T, p provider.Provider, id string) provider.GrantResponse {
	t.Helper()
	resp, err := p.Grant(context.Background(), s.grantReq(id))
	t.Cleanup(func() {
		if _, err := p.Revoke(context.Background(), s.revokeReq(id, resp.Handle)); err != nil {
			t.Errorf("cleanup: revoke %s: %v", id, err)
		}
	})
	if err != nil {
		t.Fatalf("Grant(%s): %v", id, err)
	}
	if resp.Handle != nil && !json.Valid(resp.Handle) {
		t.Fatalf("Grant(%s) handle is not valid JSON: %q", id, resp.Handle)
	}
	return resp
}

func (s *suite) revoke(t *testing.T, p provider.Provider, id string, handle json.RawMessage) {
	t.Helper()
	if _, err := p.Revoke(context.Background(), s.revokeReq(id, handle)); err != nil {
		t.Fatalf("Revoke(%s): %v", id, err)
	}
}

// expect checks, unless access is store-enforced, that Verify and Present
// both say want for id.
func (s *suite) expect(t *testing.T, p provider.Provider, id string, handle json.RawMessage, want bool, when string) {
	t.Helper()
	resp, err := p.Verify(context.Background(), s.verifyReq(id, handle))
	if err != nil {
		t.Fatalf("%s: Verify(%s): %v", when, id, err)
	}
	if s.h.StoreEnforced {
		return
	}
	if resp.Present != want {
		t.Errorf("%s: Verify(%s).Present = %v, want %v", when, id, resp.Present, want)
	}
	if want && resp.ExpiresAt != nil && resp.ExpiresAt.IsZero() {
		t.Errorf("%s: Verify(%s).ExpiresAt is set but zero", when, id)
	}
	if s.h.Present != nil {
		if got := s.h.Present(t, id); got != want {
			t.Errorf("%s: the target says present = %v for %s, want %v", when, got, id, want)
		}
	}
}

func (s *suite) storeEnforcedAgrees(t *testing.T) {
	p := s.h.New(t)
	if got := provider.IsStoreEnforced(p); got != s.h.StoreEnforced {
		t.Errorf("provider.IsStoreEnforced = %v, but Harness.StoreEnforced = %v", got, s.h.StoreEnforced)
	}
}

func (s *suite) grantThenVerify(t *testing.T) {
	p := s.h.New(t)
	id := requestID(t)
	s.expect(t, p, id, nil, false, "before grant")
	resp := s.grant(t, p, id)
	s.expect(t, p, id, resp.Handle, true, "after grant")
	// Verify has no side effects: asking again changes nothing.
	s.expect(t, p, id, resp.Handle, true, "after a second verify")
}

func (s *suite) grantTwice(t *testing.T) {
	p := s.h.New(t)
	id := requestID(t)
	first := s.grant(t, p, id)
	second := s.grant(t, p, id)
	s.expect(t, p, id, first.Handle, true, "after two grants (first handle)")
	s.expect(t, p, id, second.Handle, true, "after two grants (second handle)")
	// A single revoke must leave nothing: had the second grant created a
	// second access, one would remain.
	s.revoke(t, p, id, second.Handle)
	s.expect(t, p, id, second.Handle, false, "after one revoke of a twice-granted request")
}

func (s *suite) revokeIdempotent(t *testing.T) {
	p := s.h.New(t)
	id := requestID(t)
	resp := s.grant(t, p, id)
	s.revoke(t, p, id, resp.Handle)
	s.expect(t, p, id, resp.Handle, false, "after revoke")
	s.revoke(t, p, id, resp.Handle)
	s.expect(t, p, id, resp.Handle, false, "after a second revoke")
	// A revoke without the handle (the grant's outcome was unknown) is also
	// success when the access is gone.
	s.revoke(t, p, id, nil)
}

func (s *suite) revokeNeverGranted(t *testing.T) {
	p := s.h.New(t)
	id := requestID(t)
	s.revoke(t, p, id, nil)
	s.expect(t, p, id, nil, false, "after revoking a request never granted")
}

func (s *suite) independent(t *testing.T) {
	p := s.h.New(t)
	a, b := requestID(t), requestID(t)
	ra := s.grant(t, p, a)
	rb := s.grant(t, p, b)
	s.expect(t, p, a, ra.Handle, true, "after granting a and b")
	s.expect(t, p, b, rb.Handle, true, "after granting a and b")
	s.revoke(t, p, a, ra.Handle)
	s.expect(t, p, a, ra.Handle, false, "after revoking a")
	s.expect(t, p, b, rb.Handle, true, "b after revoking a")
}

func (s *suite) verifyUnknown(t *testing.T) {
	p := s.h.New(t)
	id := requestID(t)
	resp, err := p.Verify(context.Background(), s.verifyReq(id, nil))
	if err != nil {
		t.Fatalf("Verify of an unknown request: %v", err)
	}
	if resp.Present {
		t.Errorf("Verify of an unknown request: Present = true")
	}
}

func (s *suite) cancelled(t *testing.T) {
	p := s.h.New(t)
	id := requestID(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Grant", func() error { _, err := p.Grant(ctx, s.grantReq(id)); return err }},
		{"Verify", func() error { _, err := p.Verify(ctx, s.verifyReq(id, nil)); return err }},
		{"Revoke", func() error { _, err := p.Revoke(ctx, s.revokeReq(id, nil)); return err }},
	}
	// Whatever happens, leave nothing behind.
	t.Cleanup(func() {
		if _, err := p.Revoke(context.Background(), s.revokeReq(id, nil)); err != nil {
			t.Errorf("cleanup: revoke %s: %v", id, err)
		}
	})
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s with a cancelled context succeeded; want an error", c.name)
			} else if strings.TrimSpace(err.Error()) == "" {
				t.Errorf("%s with a cancelled context: error has no message", c.name)
			}
		case <-time.After(hangLimit):
			t.Fatalf("%s with a cancelled context did not return within %s", c.name, hangLimit)
		}
	}
	// A call refused because its context had ended must not have created
	// anything in the target.
	if !s.h.StoreEnforced && s.h.Present != nil && s.h.Present(t, id) {
		t.Errorf("Grant with a cancelled context created access in the target")
	}
}

// listed returns the listing of p's target as a map by request ID,
// checking that every entry names its request.
func (s *suite) listed(t *testing.T, l provider.Lister, when string) map[string]provider.ListedGrant {
	t.Helper()
	resp, err := l.List(context.Background(), provider.ListRequest{Resource: s.h.Resource})
	if err != nil {
		t.Fatalf("%s: List: %v", when, err)
	}
	out := make(map[string]provider.ListedGrant, len(resp.Grants))
	for i, g := range resp.Grants {
		if g.RequestID == "" {
			t.Errorf("%s: List entry %d has no request ID: %+v", when, i, g)
		}
		if g.ExpiresAt != nil && g.ExpiresAt.IsZero() {
			t.Errorf("%s: List entry %s has an expiry that is set but zero", when, g.RequestID)
		}
		out[g.RequestID] = g
	}
	return out
}

// listMatches checks a Lister against grants and revokes. Other access in
// a shared target may be listed too; only the requests made here are
// judged.
func (s *suite) listMatches(t *testing.T) {
	p := s.h.New(t)
	l, ok := provider.As[provider.Lister](p)
	if !ok {
		t.Skip("the provider does not implement provider.Lister")
	}
	if _, err := l.List(context.Background(), provider.ListRequest{Resource: s.h.Resource}); errors.Is(err, provider.ErrListUnsupported) {
		t.Skipf("listing is not enabled: %v", err)
	}
	a, b, never := requestID(t), requestID(t), requestID(t)
	ra := s.grant(t, p, a)
	s.grant(t, p, b)
	got := s.listed(t, l, "after granting a and b")
	for _, id := range []string{a, b} {
		g, ok := got[id]
		if !ok {
			t.Errorf("after granting a and b: %s is not listed", id)
			continue
		}
		if g.User != s.h.User {
			t.Errorf("after granting a and b: %s is listed for user %q, want %q", id, g.User, s.h.User)
		}
	}
	if _, ok := got[never]; ok {
		t.Errorf("a request never granted (%s) is listed", never)
	}
	s.revoke(t, p, a, ra.Handle)
	got = s.listed(t, l, "after revoking a")
	if _, ok := got[a]; ok {
		t.Errorf("after revoking a: %s is still listed", a)
	}
	if _, ok := got[b]; !ok {
		t.Errorf("after revoking a: %s (not revoked) is no longer listed", b)
	}
	// Listing has no side effects: b is still there.
	s.expect(t, p, b, nil, true, "after two listings")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { _, err := l.List(ctx, provider.ListRequest{Resource: s.h.Resource}); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("List with a cancelled context succeeded; want an error")
		}
	case <-time.After(hangLimit):
		t.Fatalf("List with a cancelled context did not return within %s", hangLimit)
	}
}
