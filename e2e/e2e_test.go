// Package e2e drives a real jitd (HTTP API on a random port, SQLite store,
// scheduler, policy watcher) through the Go client, as people and proxies
// would.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/daemon"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/store/postgres/pgtest"
)

// onEachStore runs test against a jitd on SQLite and one on PostgreSQL
// (skipped without JIT_TEST_POSTGRES_URL, failed without it in CI).
func onEachStore(t *testing.T, test func(t *testing.T, srv *jitdtest.Server)) {
	t.Run("sqlite", func(t *testing.T) { test(t, jitdtest.Start(t, jitdtest.Options{})) })
	t.Run("postgres", func(t *testing.T) {
		test(t, jitdtest.Start(t, jitdtest.Options{Postgres: pgtest.NewDatabase(t)}))
	})
}

func newClient(t *testing.T, srv *jitdtest.Server, token string) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL, client.WithToken(token), client.WithSource("cli"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if jit.ErrorCode(err) != code {
		t.Fatalf("want error code %s, got %v", code, err)
	}
}

// waitStatus long-polls until the request leaves the given statuses.
func waitStatus(t *testing.T, c *client.Client, id string, want jit.Status, while ...jit.Status) *jit.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		r, err := c.Wait(ctx, id, while, 5*time.Second)
		if err != nil {
			t.Fatalf("wait for %s: %v", id, err)
		}
		if r.Status == want {
			return r
		}
		isWhile := false
		for _, s := range while {
			isWhile = isWhile || r.Status == s
		}
		if !isWhile {
			t.Fatalf("request %s is %s (%s), want %s", id, r.Status, r.EndReason, want)
		}
	}
}

// TestWalkthrough is the README's walkthrough: alice requests, her own
// approval is refused, bob approves, the forward-auth endpoint answers 200
// for alice and 403 for others, alice relinquishes, it answers 403 again,
// and the audit chain verifies.
func TestWalkthrough(t *testing.T) { onEachStore(t, walkthrough) }

func walkthrough(t *testing.T, srv *jitdtest.Server) {
	ctx := context.Background()
	alice, bob, carol := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob), newClient(t, srv, jitdtest.Carol)

	r, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "1h", Reason: "INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != jit.StatusPending || r.Access != "user" || r.Requester != "alice@example.com" {
		t.Fatalf("submitted request: %+v", r)
	}

	_, err = alice.Approve(ctx, r.ID, "")
	wantCode(t, err, jit.ECodeSelfApproval)
	_, err = carol.Approve(ctx, r.ID, "")
	wantCode(t, err, jit.ECodeNotApprover)

	ok, _, err := alice.Authz(ctx, "demo-app")
	if err != nil || ok {
		t.Fatalf("authz before approval: ok=%v err=%v", ok, err)
	}

	pending, err := bob.List(ctx, client.ListOptions{Scope: "pending"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending.Items) != 1 || pending.Items[0].ID != r.ID {
		t.Fatalf("bob's pending list: %+v", pending.Items)
	}
	if _, err := bob.Approve(ctx, r.ID, "go ahead"); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Approve(ctx, r.ID, "again")
	wantCode(t, err, jit.ECodeInvalidState)

	active := waitStatus(t, alice, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	if active.ExpiresAt == nil || active.ExpiresAt.Sub(*active.GrantedAt) > time.Hour || active.ExpiresAt.Sub(*active.GrantedAt) < time.Hour-time.Second {
		t.Fatalf("active request expiry: %+v", active)
	}

	ok, res, err := alice.Authz(ctx, "demo-app")
	if err != nil || !ok || res.RequestID != r.ID {
		t.Fatalf("authz for alice while active: ok=%v res=%+v err=%v", ok, res, err)
	}
	for _, other := range []*client.Client{bob, carol} {
		if ok, _, err := other.Authz(ctx, "demo-app"); err != nil || ok {
			t.Fatalf("authz for someone else: ok=%v err=%v", ok, err)
		}
	}
	// The proxy form: nginx auth_request passes the original URL.
	if code := proxyAuthz(t, srv.URL, jitdtest.Alice, "http://demo.localhost/orders?x=1"); code != http.StatusOK {
		t.Fatalf("proxy-style authz for alice: %d", code)
	}
	if code := proxyAuthz(t, srv.URL, jitdtest.Alice, "http://other.localhost/"); code != http.StatusForbidden {
		t.Fatalf("proxy-style authz for an unguarded host: %d", code)
	}
	if code := proxyAuthz(t, srv.URL, "", "http://demo.localhost/"); code != http.StatusUnauthorized {
		t.Fatalf("proxy-style authz without identity: %d", code)
	}

	_, err = bob.Relinquish(ctx, r.ID)
	wantCode(t, err, jit.ECodeForbidden)
	if _, err := alice.Relinquish(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	// Access ends at relinquish, before the revoke job has even run.
	if ok, _, err := alice.Authz(ctx, "demo-app"); err != nil || ok {
		t.Fatalf("authz after relinquish: ok=%v err=%v", ok, err)
	}
	done := waitStatus(t, alice, r.ID, jit.StatusRelinquished, jit.StatusRevoking)
	if done.EndedBy != "alice@example.com" {
		t.Fatalf("ended by %q", done.EndedBy)
	}

	evs, err := alice.Audit(ctx, client.AuditOptions{Request: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs.Items {
		actions = append(actions, e.Action)
	}
	want := []string{"submit", "approve", "grant_start", "grant", "relinquish", "revoke_done"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit actions %v, want %v", actions, want)
	}
	if evs.Items[0].Source.Kind != "cli" || evs.Items[0].Source.IP == "" {
		t.Fatalf("audit source not recorded: %+v", evs.Items[0].Source)
	}
	_, err = alice.VerifyAudit(ctx)
	wantCode(t, err, jit.ECodeForbidden)
	vr, err := carol.VerifyAudit(ctx)
	if err != nil || !vr.OK || vr.Checked < int64(len(want)) {
		t.Fatalf("audit verify: %+v %v", vr, err)
	}
}

func proxyAuthz(t *testing.T, base, token, original string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/authz", nil)
	req.Header.Set("X-Original-URL", original)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBadInputChangesNothing sends each kind of bad input and checks that
// it gets its specific code and that no request or audit event appears.
func TestBadInputChangesNothing(t *testing.T) { onEachStore(t, badInputChangesNothing) }

func badInputChangesNothing(t *testing.T, srv *jitdtest.Server) {
	ctx := context.Background()
	alice, bob := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob)
	cases := []struct {
		name string
		in   client.SubmitRequest
		code string
	}{
		{"unknown resource", client.SubmitRequest{Resource: "nope", Duration: "1h", Reason: "x"}, jit.ECodeUnknownResource},
		{"unknown access", client.SubmitRequest{Resource: "demo-app", Access: "root", Duration: "1h", Reason: "x"}, jit.ECodeUnknownAccess},
		{"too long", client.SubmitRequest{Resource: "demo-app", Duration: "9h", Reason: "x"}, jit.ECodeDurationTooLong},
		{"unparseable duration", client.SubmitRequest{Resource: "demo-app", Duration: "soon", Reason: "x"}, jit.ECodeInvalidDur},
		{"no reason", client.SubmitRequest{Resource: "demo-app", Duration: "1h"}, jit.ECodeJustificationNeed},
	}
	for _, tc := range cases {
		_, err := alice.Submit(ctx, tc.in)
		if !client.IsCode(err, tc.code) {
			t.Errorf("%s: want %s, got %v", tc.name, tc.code, err)
		}
	}
	// bob (sre) is not a requester under any rule.
	_, err := bob.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "1h", Reason: "x"})
	wantCode(t, err, jit.ECodeNotAllowed)

	for _, body := range []struct{ json, code string }{
		{`{"resource":"demo-app",`, jit.ECodeMalformedJSON},
		{`{"resource":"demo-app","duration":"1h","reason":"x","colour":"red"}`, jit.ECodeUnknownField},
		{`{"resource":"demo-app","duration":"1h","reason":"` + strings.Repeat("x", 70<<10) + `"}`, jit.ECodeTooLarge},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/requests", bytes.NewBufferString(body.json))
		req.Header.Set("Authorization", "Bearer "+jitdtest.Alice)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") || resp.StatusCode < 400 {
			t.Errorf("bad body %q: status %d, content type %s", body.code, resp.StatusCode, ct)
		}
	}

	page, err := alice.List(ctx, client.ListOptions{Scope: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Fatalf("bad input created requests: %+v", page.Items)
	}
	evs, err := srv.Store.ListAudit(ctx, jit.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Fatalf("bad input wrote audit events: %+v", evs)
	}

	// Deny without a reason, and deciding a request that is not pending.
	r, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "30m", Reason: "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.Deny(ctx, r.ID, "")
	wantCode(t, err, jit.ECodeReasonNeeded)
	if _, err := alice.Cancel(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	_, err = bob.Approve(ctx, r.ID, "")
	wantCode(t, err, jit.ECodeInvalidState)
	got, err := alice.Get(ctx, r.ID)
	if err != nil || got.Status != jit.StatusCancelled || len(got.Approvals) != 0 {
		t.Fatalf("after refused actions: %+v %v", got, err)
	}
}

// TestDenyExtendAndRevoke covers deny, extension and admin revoke.
func TestDenyExtendAndRevoke(t *testing.T) { onEachStore(t, denyExtendAndRevoke) }

func denyExtendAndRevoke(t *testing.T, srv *jitdtest.Server) {
	ctx := context.Background()
	alice, bob, carol := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob), newClient(t, srv, jitdtest.Carol)

	r1, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "1h", Reason: "INC-7"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := bob.Deny(ctx, r1.ID, "use staging")
	if err != nil || d.Status != jit.StatusDenied || d.EndReason != "use staging" {
		t.Fatalf("deny: %+v %v", d, err)
	}

	r2, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "1h", Reason: "INC-8"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Approve(ctx, r2.ID, ""); err != nil {
		t.Fatal(err)
	}
	a := waitStatus(t, alice, r2.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)

	ext, err := alice.Extend(ctx, r2.ID, "30m", "INC-8 still going")
	if err != nil {
		t.Fatal(err)
	}
	if ext.ExtendsID != r2.ID || ext.Status != jit.StatusPending || ext.ID == r2.ID {
		t.Fatalf("extension: %+v", ext)
	}
	if _, err := bob.Approve(ctx, ext.ID, ""); err != nil {
		t.Fatal(err)
	}
	e := waitStatus(t, alice, ext.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	if want := a.ExpiresAt.Add(30 * time.Minute); !e.ExpiresAt.Equal(want) {
		t.Fatalf("extension expires at %s, want the original's expiry + 30m = %s", e.ExpiresAt, want)
	}

	_, err = alice.Revoke(ctx, r2.ID, "x")
	wantCode(t, err, jit.ECodeForbidden)
	_, err = carol.Revoke(ctx, r2.ID, "")
	wantCode(t, err, jit.ECodeReasonNeeded)
	if _, err := carol.Revoke(ctx, r2.ID, "incident closed"); err != nil {
		t.Fatal(err)
	}
	rv := waitStatus(t, alice, r2.ID, jit.StatusRevoked, jit.StatusRevoking)
	if rv.EndedBy != "carol@example.com" || rv.EndReason != "incident closed" {
		t.Fatalf("revoked: %+v", rv)
	}
	// Revoking access ends its extension too.
	ev := waitStatus(t, alice, ext.ID, jit.StatusRevoked, jit.StatusActive, jit.StatusRevoking)
	if ev.EndedBy != jit.SystemActor || !strings.Contains(ev.EndReason, "incident closed") {
		t.Fatalf("extension ended by %q for %q", ev.EndedBy, ev.EndReason)
	}
	if ok, _, err := alice.Authz(ctx, "demo-app"); err != nil || ok {
		t.Fatalf("authz after revoking access and its extension: ok=%v err=%v", ok, err)
	}
}

// TestExtensionsCannotExceedTheRuleMaximum: an extension is judged on the
// time it leaves the requester with, so chaining them stays within the
// rule's max_duration (8h in the demo policy) from now.
func TestExtensionsCannotExceedTheRuleMaximum(t *testing.T) {
	onEachStore(t, extensionsCannotExceedTheRuleMaximum)
}

func extensionsCannotExceedTheRuleMaximum(t *testing.T, srv *jitdtest.Server) {
	ctx := context.Background()
	alice, bob := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob)
	r, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "2h", Reason: "INC-9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Approve(ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)
	_, err = alice.Extend(ctx, r.ID, "7h", "INC-9")
	wantCode(t, err, jit.ECodeDurationTooLong)
	if msg := err.Error(); !strings.Contains(msg, "extending by 7h") || !strings.Contains(msg, "at most 8h") {
		t.Fatalf("extension refusal does not explain the total: %s", msg)
	}
	if _, err := alice.Extend(ctx, r.ID, "5h", "INC-9"); err != nil {
		t.Fatalf("an extension within the maximum: %v", err)
	}
	// Relinquishing ends the pending extension as well.
	if _, err := alice.Relinquish(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	page, err := alice.List(ctx, client.ListOptions{Scope: "mine", Statuses: []jit.Status{jit.StatusPending}})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("pending after relinquish: %+v %v", page, err)
	}
}

// TestPolicyReloadRevokesDisallowedGrants changes the policy file under a
// running jitd: an invalid file is refused and the old policy stays; a
// valid one that no longer lets alice use demo-app revokes her grant.
func TestPolicyReloadRevokesDisallowedGrants(t *testing.T) {
	onEachStore(t, policyReloadRevokesDisallowedGrants)
}

func policyReloadRevokesDisallowedGrants(t *testing.T, srv *jitdtest.Server) {
	ctx := context.Background()
	alice, bob := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Bob)
	r, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "1h", Reason: "INC-9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Approve(ctx, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, alice, r.ID, jit.StatusActive, jit.StatusApproved, jit.StatusGranting)

	srv.WritePolicy(t, []byte("rules: [this is not valid"))
	waitAudit(t, srv, jit.ActionPolicyError)
	if got, _ := alice.Get(ctx, r.ID); got.Status != jit.StatusActive {
		t.Fatalf("an invalid policy changed an active grant: %s", got.Status)
	}

	srv.WritePolicy(t, bytes.ReplaceAll(daemon.DemoPolicy, []byte("requesters: {groups: [engineering]}"), []byte("requesters: {groups: [nobody]}")))
	rv := waitStatus(t, alice, r.ID, jit.StatusRevoked, jit.StatusActive, jit.StatusRevoking)
	if rv.EndedBy != jit.SystemActor || !strings.Contains(rv.EndReason, "no longer allowed") {
		t.Fatalf("revoked by %q for %q", rv.EndedBy, rv.EndReason)
	}
	waitAudit(t, srv, jit.ActionPolicyReload)
}

func waitAudit(t *testing.T, srv *jitdtest.Server, action string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := srv.Store.ListAudit(context.Background(), jit.AuditFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s audit event", action)
}

// TestAuditVerifyFindsTampering edits the SQLite file behind jitd's back.
func TestAuditVerifyFindsTampering(t *testing.T) {
	srv := jitdtest.Start(t, jitdtest.Options{})
	ctx := context.Background()
	alice, carol := newClient(t, srv, jitdtest.Alice), newClient(t, srv, jitdtest.Carol)
	for i := 0; i < 3; i++ {
		if _, err := alice.Submit(ctx, client.SubmitRequest{Resource: "demo-app", Duration: "1h", Reason: "INC-1"}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(srv.Dir, "jit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The store refuses updates of audit rows with a trigger; someone with
	// write access to the file can drop it, which the hash chain catches.
	if _, err := db.Exec(`DROP TRIGGER audit_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET reason = 'nothing to see' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	res, err := carol.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.BrokenAt != 2 {
		t.Fatalf("tampering not found: %+v", res)
	}
	var _ audit.Result = res
}
