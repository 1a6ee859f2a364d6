package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func newToken(t *testing.T, id, email string) (plain string, tok *jit.Token) {
	t.Helper()
	plain, hash, err := jit.NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	return plain, &jit.Token{ID: id, Email: email, Name: "laptop", Hash: hash, CreatedAt: t0}
}

func testTokens(t *testing.T, s jit.Store) {
	ctx := context.Background()
	plain, tok := newToken(t, "tok-1", "alice@example.com")
	ev := newEvent(jit.ActionTokenCreate, "", t0)
	ev.Details = map[string]string{"token_id": "tok-1"}
	apply(t, s, &jit.Change{Token: tok, Events: []jit.AuditEvent{ev}})

	got, err := s.TokenByHash(ctx, jit.HashToken(plain))
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	if got.ID != tok.ID || got.Email != tok.Email || got.Name != tok.Name || got.Hash != tok.Hash ||
		!got.CreatedAt.Equal(micro(t0)) {
		t.Fatalf("TokenByHash = %+v, want %+v", got, tok)
	}

	// Looking a token up by its plain text, or by another token's hash,
	// finds nothing.
	_, other := newToken(t, "tok-x", "bob@example.com")
	for what, h := range map[string]string{"plain token": plain, "unknown hash": other.Hash, "empty": ""} {
		_, err := s.TokenByHash(ctx, h)
		wantCode(t, "TokenByHash of "+what, err, jit.ECodeNotFound)
	}

	// A second token with the same ID or hash is refused whole.
	_, sameID := newToken(t, "tok-1", "bob@example.com")
	sameHash := &jit.Token{ID: "tok-2", Email: "bob@example.com", Hash: tok.Hash, CreatedAt: t0}
	for what, dup := range map[string]*jit.Token{"same ID": sameID, "same hash": sameHash} {
		c := &jit.Change{Token: dup, Events: []jit.AuditEvent{newEvent(jit.ActionTokenCreate, "", t0.Add(time.Second))}}
		wantCode(t, "token with the "+what, s.Apply(ctx, c), jit.ECodeConflict)
	}
	if evs := allAudit(t, s); len(evs) != 1 {
		t.Fatalf("audit has %d events, want 1", len(evs))
	}
	// The refused changes failed after their events were sealed; the chain
	// must continue from the last stored event, not from theirs.
	apply(t, s, &jit.Change{Events: []jit.AuditEvent{newEvent(jit.ActionSubmit, "req-1", t0.Add(time.Minute))}})
	checkChain(t, allAudit(t, s))
	if got, err := s.TokenByHash(ctx, tok.Hash); err != nil || got.Email != "alice@example.com" {
		t.Fatalf("token after refused duplicates: %+v, %v", got, err)
	}
}
