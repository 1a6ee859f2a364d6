package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// newPublicKey returns public key number n of email, created at at.
func newPublicKey(email string, n int, at time.Time) *jit.PublicKey {
	return &jit.PublicKey{Email: email, Key: fmt.Sprintf("age1examplekey%dxq7z", n), CreatedAt: at}
}

// newCredential returns envelope number n for requestID, created at at.
// The store keeps the envelope as it is given, so it need not decrypt:
// only its armor matters (Change.Validate refuses anything else).
func newCredential(requestID string, n int, at time.Time) *jit.CredentialEnvelope {
	return &jit.CredentialEnvelope{
		RequestID: requestID, Recipient: fmt.Sprintf("age1examplekey%dxq7z", n), Kind: "password",
		Envelope:  fmt.Sprintf("-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3Yx%d\n-----END AGE ENCRYPTED FILE-----\n", n),
		CreatedAt: at,
	}
}

func samePublicKey(t *testing.T, what string, want *jit.PublicKey, got *jit.PublicKey, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got.Email != want.Email || got.Key != want.Key || !got.CreatedAt.Equal(micro(want.CreatedAt)) ||
		got.CreatedAt.Location() != time.UTC {
		t.Fatalf("%s = %+v, want %+v (created at microseconds, in UTC)", what, got, want)
	}
}

func sameCredential(t *testing.T, what string, want *jit.CredentialEnvelope, got *jit.CredentialEnvelope, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got.RequestID != want.RequestID || got.Recipient != want.Recipient || got.Kind != want.Kind ||
		got.Envelope != want.Envelope || !got.CreatedAt.Equal(micro(want.CreatedAt)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("%s = %+v, want %+v (created at microseconds, in UTC)", what, got, want)
	}
}

// testQueryRoundTrip stores a query-scoped request: every read returns
// its query and privileges (columns in order) as submitted, and updates
// keep them.
func testQueryRoundTrip(t *testing.T, s jit.Store) {
	ctx := context.Background()
	r := newRequest("req-q", "alice@example.com", "orders-db", jit.StatusPending, t0)
	r.Query = "UPDATE public.orders SET total = 0, note = 'refund: ünïcode ''quoted''' WHERE id = 7;\n-- why"
	r.Privileges = []jit.Privilege{
		{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total", "note"}},
		{Action: "SELECT", Schema: "public", Table: "orders", Columns: []string{"note", "id", "total"}},
		{Action: "DELETE", Schema: "Sales Data", Table: `odd "name"; --`},
	}
	plain := newRequest("req-plain", "alice@example.com", "orders-db", jit.StatusPending, t0.Add(time.Second))
	insert(t, s, r, plain)
	want := r.Clone()
	want.Version = 1
	sameRequest(t, "GetRequest", want, get(t, s, r.ID))
	if got := get(t, s, plain.ID); got.Query != "" || len(got.Privileges) != 0 {
		t.Fatalf("request without a query reads back with query %q and privileges %+v", got.Query, got.Privileges)
	}

	list, err := s.ListRequests(ctx, jit.RequestFilter{Requester: r.Requester})
	if err != nil || len(list) != 2 || list[1].ID != r.ID {
		t.Fatalf("ListRequests = %v, %v", ids(list), err)
	}
	sameRequest(t, "ListRequests", want, list[1])

	// Approved and granted, the request keeps what was asked for.
	upd := want.Clone()
	granted := t0.Add(time.Minute)
	expires := granted.Add(time.Hour)
	upd.Status, upd.GrantedAt, upd.ExpiresAt, upd.UpdatedAt = jit.StatusActive, &granted, &expires, granted
	apply(t, s, &jit.Change{Request: upd, Events: []jit.AuditEvent{newEvent(jit.ActionGrant, r.ID, granted)}})
	active, err := s.FindActive(ctx, r.Requester, r.Resource, granted)
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, "FindActive", upd, active)
}

// testEmptyPrivileges: nil and empty privileges (or columns) are the same
// thing, so an update that passes one where the other was stored changes
// nothing fixed at submit.
func testEmptyPrivileges(t *testing.T, s jit.Store) {
	a := newRequest("req-a", "alice@example.com", "db", jit.StatusPending, t0)
	a.Privileges = []jit.Privilege{}
	b := newRequest("req-b", "alice@example.com", "db", jit.StatusPending, t0)
	b.Privileges = []jit.Privilege{{Action: "SELECT", Schema: "public", Table: "t", Columns: []string{}}}
	insert(t, s, a, b)
	if got := get(t, s, a.ID); len(got.Privileges) != 0 {
		t.Fatalf("empty privileges read back as %+v", got.Privileges)
	}
	if got := get(t, s, b.ID); len(got.Privileges) != 1 || len(got.Privileges[0].Columns) != 0 {
		t.Fatalf("privilege without columns read back as %+v", got.Privileges)
	}
	ua := a.Clone()
	ua.Privileges, ua.Status = nil, jit.StatusApproved
	apply(t, s, &jit.Change{Request: ua})
	ub := b.Clone()
	ub.Privileges[0].Columns, ub.Status = nil, jit.StatusApproved
	apply(t, s, &jit.Change{Request: ub})
	sameRequest(t, "after update", ub, get(t, s, b.ID))
}

func testPublicKeys(t *testing.T, s jit.Store) {
	ctx := context.Background()
	const alice, bob = "alice@example.com", "bob@example.com"
	_, err := s.PublicKey(ctx, alice)
	wantCode(t, "PublicKey before any is stored", err, jit.ECodeNotFound)

	k1 := newPublicKey(alice, 1, t0)
	apply(t, s, &jit.Change{PublicKey: k1, Events: []jit.AuditEvent{newEvent(jit.ActionKeyRegister, "", t0)}})
	got, err := s.PublicKey(ctx, alice)
	samePublicKey(t, "PublicKey", k1, got, err)
	_, err = s.PublicKey(ctx, bob)
	wantCode(t, "PublicKey of someone else", err, jit.ECodeNotFound)

	// A new key replaces the old one; another person's is their own.
	k2 := newPublicKey(alice, 2, t0.Add(time.Hour))
	k3 := newPublicKey(bob, 3, t0.Add(2*time.Hour))
	apply(t, s, &jit.Change{PublicKey: k2, Events: []jit.AuditEvent{newEvent(jit.ActionKeyRegister, "", t0.Add(time.Hour))}})
	apply(t, s, &jit.Change{PublicKey: k3})
	got, err = s.PublicKey(ctx, alice)
	samePublicKey(t, "PublicKey after replacing it", k2, got, err)
	got, err = s.PublicKey(ctx, bob)
	samePublicKey(t, "another person's PublicKey", k3, got, err)

	// Storing the same key again changes nothing.
	apply(t, s, &jit.Change{PublicKey: k2})
	got, err = s.PublicKey(ctx, alice)
	samePublicKey(t, "PublicKey stored twice", k2, got, err)
	evs := allAudit(t, s)
	checkChain(t, evs)
	if len(evs) != 2 {
		t.Fatalf("audit has %d events, want 2", len(evs))
	}
}

func testCredentials(t *testing.T, s jit.Store) {
	ctx := context.Background()
	r := newRequest("req-1", "alice@example.com", "db", jit.StatusGranting, t0)
	insert(t, s, r)
	for _, id := range []string{r.ID, "req-ghost"} {
		_, err := s.Credential(ctx, id)
		wantCode(t, "Credential of "+id+" before any is stored", err, jit.ECodeNotFound)
	}

	// The grant stores the credential with the request's new state.
	upd := r.Clone()
	granted := t0.Add(time.Minute)
	expires := granted.Add(time.Hour)
	upd.Status, upd.GrantedAt, upd.ExpiresAt = jit.StatusActive, &granted, &expires
	e1 := newCredential(r.ID, 1, granted)
	apply(t, s, &jit.Change{Request: upd, Credential: e1, Events: []jit.AuditEvent{newEvent(jit.ActionGrant, r.ID, granted)}})
	got, err := s.Credential(ctx, r.ID)
	sameCredential(t, "Credential", e1, got, err)

	// A grant that runs again replaces it.
	e2 := newCredential(r.ID, 2, granted.Add(time.Minute))
	e2.Kind = "token"
	apply(t, s, &jit.Change{Credential: e2})
	got, err = s.Credential(ctx, r.ID)
	sameCredential(t, "Credential after replacing it", e2, got, err)

	// A change may insert a request together with its credential.
	r2 := newRequest("req-2", "bob@example.com", "db", jit.StatusActive, t0)
	e3 := newCredential(r2.ID, 3, t0)
	apply(t, s, &jit.Change{Request: r2, Credential: e3})
	got, err = s.Credential(ctx, r2.ID)
	sameCredential(t, "Credential stored with its request", e3, got, err)
	got, err = s.Credential(ctx, r.ID)
	sameCredential(t, "another request's Credential", e2, got, err)
	if got := get(t, s, r.ID); got.Version != 2 || got.Status != jit.StatusActive {
		t.Fatalf("request after its credential was replaced: version %d, status %s", got.Version, got.Status)
	}
}

// testCredentialAllOrNothing: a credential whose request does not exist is
// refused with ECodeNotFound and nothing of its change is written; a
// credential in a change refused for another reason is not written either.
func testCredentialAllOrNothing(t *testing.T, s jit.Store) {
	ctx := context.Background()
	const alice = "alice@example.com"
	r := newRequest("req-1", alice, "db", jit.StatusGranting, t0)
	insert(t, s, r)
	k := newPublicKey(alice, 1, t0)
	apply(t, s, &jit.Change{PublicKey: k})
	before := get(t, s, r.ID)

	upd := r.Clone()
	upd.Status = jit.StatusActive
	_, hash, err := jit.NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	c := &jit.Change{
		Request:    upd,
		Approval:   &jit.Approval{RequestID: r.ID, Approver: "bob@example.com", Approved: true, At: t0},
		Events:     []jit.AuditEvent{newEvent(jit.ActionGrant, r.ID, t0.Add(time.Minute))},
		Enqueue:    []jit.Job{jit.NewJob(jit.JobRevoke, r.ID, t0.Add(time.Hour))},
		Token:      &jit.Token{ID: "tok-1", Email: alice, Name: "ci", Hash: hash, CreatedAt: t0},
		PublicKey:  newPublicKey(alice, 2, t0.Add(time.Minute)),
		Credential: newCredential("req-ghost", 1, t0.Add(time.Minute)),
	}
	wantCode(t, "credential of a missing request", s.Apply(ctx, c), jit.ECodeNotFound)
	if upd.Version != 1 || c.Events[0].Seq != 0 || c.Events[0].Hash != "" {
		t.Fatalf("failed Apply changed its input: version %d, event %+v", upd.Version, c.Events[0])
	}
	sameRequest(t, "request after the refused change", before, get(t, s, r.ID))
	if evs := allAudit(t, s); len(evs) != 1 {
		t.Fatalf("audit has %d events, want 1", len(evs))
	}
	if js := listJobs(t, s); len(js) != 0 {
		t.Fatalf("jobs %v written by a refused change", jobKeys(js))
	}
	if _, err := s.TokenByHash(ctx, hash); jit.ErrorCode(err) != jit.ECodeNotFound {
		t.Fatalf("token of a refused change written (err %v)", err)
	}
	got, err := s.PublicKey(ctx, alice)
	samePublicKey(t, "public key after a refused change", k, got, err)
	for _, id := range []string{"req-ghost", r.ID} {
		_, err := s.Credential(ctx, id)
		wantCode(t, "Credential of "+id+" after a refused change", err, jit.ECodeNotFound)
	}

	// The same change for the right request goes through whole.
	c.Credential.RequestID = r.ID
	apply(t, s, c)
	if upd.Version != 2 {
		t.Fatalf("Version = %d, want 2", upd.Version)
	}
	gotCred, err := s.Credential(ctx, r.ID)
	sameCredential(t, "Credential", c.Credential, gotCred, err)
	got, err = s.PublicKey(ctx, alice)
	samePublicKey(t, "public key", c.PublicKey, got, err)

	// A credential in a change that loses on its request's version is
	// dropped with it.
	stale := before.Clone()
	stale.Status = jit.StatusFailed
	later := newCredential(r.ID, 9, t0.Add(time.Hour))
	wantCode(t, "stale update with a credential",
		s.Apply(ctx, &jit.Change{Request: stale, Credential: later}), jit.ECodeConflict)
	gotCred, err = s.Credential(ctx, r.ID)
	sameCredential(t, "Credential after a refused replacement", c.Credential, gotCred, err)
}

// testConcurrentCredentials races changes storing credentials and public
// keys, half of them for requests that do not exist: each change stands
// alone whatever runs beside it (stores that batch changes must undo a
// failed one alone).
func testConcurrentCredentials(t *testing.T, s jit.Store) {
	ctx := context.Background()
	const writers = 24
	id := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("req-%d", i)
		}
		return fmt.Sprintf("missing-%d", i)
	}
	email := func(i int) string { return fmt.Sprintf("user-%d@example.com", i) }
	for i := 0; i < writers; i += 2 {
		insert(t, s, newRequest(id(i), email(i), "db", jit.StatusGranting, t0))
	}
	errs := runConcurrently(writers, func(i int) error {
		at := t0.Add(time.Duration(i) * time.Second)
		return s.Apply(ctx, &jit.Change{
			Credential: newCredential(id(i), i, at),
			PublicKey:  newPublicKey(email(i), i, at),
			Events:     []jit.AuditEvent{newEvent(jit.ActionGrant, id(i), at)},
		})
	})
	for i, err := range errs {
		at := t0.Add(time.Duration(i) * time.Second)
		cred, cerr := s.Credential(ctx, id(i))
		key, kerr := s.PublicKey(ctx, email(i))
		if i%2 == 0 {
			if err != nil {
				t.Fatalf("change %d: %v, want success", i, err)
			}
			sameCredential(t, fmt.Sprint("credential ", i), newCredential(id(i), i, at), cred, cerr)
			samePublicKey(t, fmt.Sprint("public key ", i), newPublicKey(email(i), i, at), key, kerr)
			continue
		}
		wantCode(t, fmt.Sprint("change ", i), err, jit.ECodeNotFound)
		wantCode(t, fmt.Sprint("credential of failed change ", i), cerr, jit.ECodeNotFound)
		wantCode(t, fmt.Sprint("public key of failed change ", i), kerr, jit.ECodeNotFound)
	}
	evs := allAudit(t, s)
	checkChain(t, evs)
	if want := writers/2 + writers/2; len(evs) != want {
		t.Fatalf("chain has %d events, want %d (the submits and the successful grants)", len(evs), want)
	}
}
