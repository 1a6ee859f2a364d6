package slack

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestMemoryStoreCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	rec, err := m.Get(ctx, "req_1")
	if err != nil || rec.Rev != 0 {
		t.Fatalf("empty store: %+v %v", rec, err)
	}
	rec.Channel, rec.TS = "C1", "1.1"
	if err := m.Put(ctx, "req_1", rec); err != nil {
		t.Fatal(err)
	}
	// The same write again is a conflict: rev moved on.
	if err := m.Put(ctx, "req_1", rec); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale put: %v, want ErrConflict", err)
	}
	got, _ := m.Get(ctx, "req_1")
	if got.Rev != 1 || got.TS != "1.1" {
		t.Fatalf("stored %+v", got)
	}
	// What the caller holds is a copy.
	got.Delivered = append(got.Delivered, "n1")
	again, _ := m.Get(ctx, "req_1")
	if len(again.Delivered) != 0 {
		t.Fatal("a read record aliases the stored one")
	}
	got.Delivered = []string{"n1"}
	if err := m.Put(ctx, "req_1", got); err != nil {
		t.Fatal(err)
	}
	if again, _ = m.Get(ctx, "req_1"); again.Rev != 2 || !slices.Equal(again.Delivered, []string{"n1"}) {
		t.Fatalf("stored %+v", again)
	}
}

// A notification delivered late, after newer ones, neither posts a stale
// approval message nor rolls an updated one back.
func TestNotifyOutOfOrder(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	submitted := e.notifications()
	if _, err := e.svc.Approve(e.as("bob@example.com"), req.ID, "ok"); err != nil {
		t.Fatal(err)
	}
	approved := e.notifications()
	// The approval arrives first: no message to update yet, and a
	// request no longer pending gets none.
	for _, n := range append(approved, submitted...) {
		if err := e.app.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if ms := e.slack.live(chDemo); len(ms) != 0 {
		t.Fatalf("a late filing notice posted %d approval messages for a decided request", len(ms))
	}

	// In order, then an old notice again: the message keeps the newest state.
	req2 := e.submitAs("alice@example.com", "demo-app", "INC-2")
	e.deliver()
	if _, err := e.svc.Approve(e.as("bob@example.com"), req2.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.deliver()
	ms := e.slack.live(chDemo)
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	updates := ms[0].Updates
	old := jit.Notification{ID: "old-submit", Action: jit.ActionSubmit, Request: *req2, Version: 1, At: req2.CreatedAt}
	if err := e.app.Notify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	ms = e.slack.live(chDemo)
	if ms[0].Updates != updates {
		t.Errorf("an old notification updated the message")
	}
	mustContain(t, "message", unescaped(t, ms[0].Blocks), "Approved by bob@example.com")
}

// What the notifier needs lives in the MessageStore: a new App on the
// same store (a restart, another replica) updates the message in place.
func TestNotifyAfterRestart(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	e.deliver()
	app2, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Deny(e.as("bob@example.com"), req.ID, "not today"); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.notifications() {
		if err := app2.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	ms := e.slack.live(chDemo)
	if len(ms) != 1 || ms[0].Updates != 1 {
		t.Fatalf("messages %+v, want the one updated once", ms)
	}
	mustContain(t, "message", unescaped(t, ms[0].Blocks), "Denied by bob@example.com: not today")
	rec, _ := e.msgs.Get(context.Background(), req.ID)
	if rec.Shown != rec.Version || rec.Version != e.get(req.ID).Version {
		t.Errorf("record %+v: shown %d, version %d, request version %d", rec, rec.Shown, rec.Version, e.get(req.ID).Version)
	}
}

// racingStore lets another delivery record its approval message between
// our read and our write, as two deliveries of one notification at once
// would.
type racingStore struct {
	*MemoryStore
	once  sync.Once
	other string
}

func (s *racingStore) Put(ctx context.Context, id string, rec MessageRecord) error {
	if rec.TS != "" && rec.TS != s.other {
		s.once.Do(func() {
			cur, _ := s.MemoryStore.Get(ctx, id)
			cur.Channel, cur.TS = rec.Channel, s.other
			_ = s.MemoryStore.Put(ctx, id, cur)
		})
	}
	return s.MemoryStore.Put(ctx, id, rec)
}

func TestNotifyConcurrentPostKeepsOneMessage(t *testing.T) {
	store := &racingStore{MemoryStore: NewMemoryStore()}
	e := newEnv(t, func(c *Config) { c.Messages = store })
	// The other delivery's message is in the channel too.
	store.other = "1770000000.999999"
	e.slack.mu.Lock()
	e.slack.messages = append(e.slack.messages, &fakeMessage{Channel: chDemo, TS: store.other, Text: "other"})
	e.slack.mu.Unlock()
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	e.deliver()
	ms := e.slack.live(chDemo)
	if len(ms) != 1 || ms[0].TS != store.other {
		t.Fatalf("live messages %+v, want only the one recorded first", ms)
	}
	rec, _ := store.Get(context.Background(), req.ID)
	if rec.TS != store.other {
		t.Fatalf("record points at %s", rec.TS)
	}
	if e.slack.count("chat.delete") != 1 {
		t.Errorf("chat.delete called %d times, want 1", e.slack.count("chat.delete"))
	}
}

func TestNotifyDirectMessages(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	e.deliver()
	if _, err := e.svc.Approve(e.as("bob@example.com"), req.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	e.deliver()
	active := e.get(req.ID)
	if active.Status != jit.StatusActive {
		t.Fatalf("status %s", active.Status)
	}
	// A reminder offers to extend.
	remind := jit.Notification{ID: "remind-1", Action: jit.ActionRemind, Request: *active, Version: active.Version, At: e.clock.Now()}
	if err := e.app.Notify(context.Background(), remind); err != nil {
		t.Fatal(err)
	}
	dms := e.slack.live("DUALICE")
	last := dms[len(dms)-1]
	mustContain(t, "reminder", last.Blocks, "expires")
	if ids := actionIDs(buttons(t, last.Blocks)); !slices.Equal(ids, []string{actExtend, actRelinquish}) {
		t.Errorf("reminder buttons %v", ids)
	}
	// Expiry: the scheduler ends it; alice hears once.
	e.clock.Advance(2 * time.Hour)
	e.runDue()
	ns := e.deliver()
	if e.get(req.ID).Status != jit.StatusExpired {
		t.Fatalf("status %s", e.get(req.ID).Status)
	}
	dms = e.slack.live("DUALICE")
	last = dms[len(dms)-1]
	mustContain(t, "expiry DM", last.Blocks, "expired")
	if ids := actionIDs(buttons(t, last.Blocks)); !slices.Equal(ids, []string{actRequestAgain}) {
		t.Errorf("expiry DM buttons %v", ids)
	}
	count := len(dms)
	for _, n := range ns {
		if err := e.app.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.slack.live("DUALICE")) != count {
		t.Error("a repeated notification sent another DM")
	}
	mustContain(t, "channel message", unescaped(t, e.slack.live(chDemo)[0].Blocks), "Expired")

	// A failed grant says what went wrong.
	failed := active.Clone()
	failed.Status, failed.EndReason = jit.StatusFailed, "target unreachable: connection refused"
	n := jit.Notification{ID: "failed-1", Action: jit.ActionGrantFailed, Actor: jit.SystemActor, Reason: failed.EndReason, Request: *failed, Version: failed.Version + 10}
	if err := e.app.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	dms = e.slack.live("DUALICE")
	mustContain(t, "failure DM", dms[len(dms)-1].Blocks, "could not grant", "target unreachable: connection refused")
}

func TestNotifyWithoutChannelOrSlackUser(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DefaultChannel = "" })
	// sales-app has no channel and there is no default: no approval
	// message, but dave hears.
	e.submitAs("dave@example.com", "sales-app", "")
	e.deliver()
	if n := e.slack.count("chat.postMessage"); n != 1 || len(e.slack.live("DUDAVE")) != 1 {
		t.Fatalf("posts %d, DMs to dave %d; want only the DM", n, len(e.slack.live("DUDAVE")))
	}
	// A requester Slack does not know: the approval message still goes
	// out, the DM is skipped, and the notification counts as delivered.
	e.slack.setUser(fakeUser{ID: "UALICE", Email: "alice-old@example.com"})
	req := e.submitAs("alice@example.com", "demo-app", "INC-3")
	e.deliver()
	if len(e.slack.live(chDemo)) != 1 || len(e.slack.live("DUALICE")) != 0 {
		t.Fatalf("channel %d, DMs %d", len(e.slack.live(chDemo)), len(e.slack.live("DUALICE")))
	}
	rec, _ := e.msgs.Get(context.Background(), req.ID)
	if len(rec.Delivered) != 1 {
		t.Errorf("delivered %v", rec.Delivered)
	}
}

func TestNotifyErrors(t *testing.T) {
	e := newEnv(t)
	e.submitAs("alice@example.com", "demo-app", "INC-1")
	ns := e.notifications()
	// A channel that does not exist cannot be fixed by retrying.
	e.slack.setFail("chat.postMessage", "channel_not_found")
	err := e.app.Notify(context.Background(), ns[0])
	var perm *jit.PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("channel_not_found: %v, want permanent", err)
	}
	// A bot not (yet) in the channel can: inviting it fixes the retry.
	e.slack.setFail("chat.postMessage", "not_in_channel")
	err = e.app.Notify(context.Background(), ns[0])
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("not_in_channel: %v, want a retryable error", err)
	}
	e.slack.setFail("chat.postMessage", "")
	if err := e.app.Notify(context.Background(), ns[0]); err != nil {
		t.Fatalf("retry after the bot was invited: %v", err)
	}
	if len(e.slack.live(chDemo)) != 1 {
		t.Fatal("no approval message after the retry")
	}
	// A message someone deleted is not a reason to fail forever.
	e.slack.mu.Lock()
	e.slack.messages[0].Deleted = true
	e.slack.mu.Unlock()
	req := e.requests()[0]
	if _, err := e.svc.Cancel(e.as("alice@example.com"), req.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.notifications() {
		if err := e.app.Notify(context.Background(), n); err != nil {
			t.Fatalf("update of a deleted message: %v", err)
		}
	}
	if err := e.app.Notify(context.Background(), jit.Notification{}); !errors.As(err, &perm) {
		t.Errorf("empty notification: %v, want permanent", err)
	}
}

// A persistent MessageStore keeps records as JSON: what the notifier
// renders from a record read back is what it rendered before.
func TestMessageRecordJSON(t *testing.T) {
	e := newEnv(t)
	r := e.submitAs("alice@example.com", "demo-app", "INC-1 <b>")
	if _, err := e.svc.Approve(e.as("bob@example.com"), r.ID, "fine"); err != nil {
		t.Fatal(err)
	}
	e.runDue()
	r = e.get(r.ID)
	rec := MessageRecord{Rev: 3, Channel: "C1", TS: "1.2", Version: r.Version, Request: r, Shown: r.Version - 1, Delivered: []string{"n1", "n2"}}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back MessageRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Rev = rec.Rev
	wantText, wantBlocks := e.app.approvalMessage(rec.Request)
	gotText, gotBlocks := e.app.approvalMessage(back.Request)
	wb, _ := json.Marshal(wantBlocks)
	gb, _ := json.Marshal(gotBlocks)
	if gotText != wantText || string(gb) != string(wb) {
		t.Errorf("rendered from JSON:\n%s\nwant\n%s", gb, wb)
	}
	if back.Channel != rec.Channel || back.TS != rec.TS || back.Version != rec.Version || back.Shown != rec.Shown || !slices.Equal(back.Delivered, rec.Delivered) {
		t.Errorf("record from JSON %+v, want %+v", back, rec)
	}
	if strings.Contains(string(b), `"handle"`) {
		t.Error("the record holds the grant handle")
	}
}

func TestCancelAndLapse(t *testing.T) {
	e := newEnv(t)
	if e.app.Name() != "slack" {
		t.Fatalf("Name() = %q", e.app.Name())
	}
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	e.deliver()
	dms := len(e.slack.live("DUALICE"))
	// alice cancels from the filed DM; she is not told what she did.
	e.click("UALICE", actCancel, req.ID, "DUALICE")
	got, _ := e.slack.lastResponse()
	mustContain(t, "cancel answer", got, "You cancelled")
	e.deliver()
	if r := e.get(req.ID); r.Status != "cancelled" {
		t.Fatalf("status %s", r.Status)
	}
	mustContain(t, "cancelled message", unescaped(t, e.slack.live(chDemo)[0].Blocks), "Cancelled by alice@example.com")
	if n := len(e.slack.live("DUALICE")); n != dms {
		t.Errorf("%d DMs after her own cancel, want %d", n, dms)
	}
	// Extending what is not active is answered, without a modal.
	opened := e.slack.count("views.open")
	e.click("UALICE", actExtend, req.ID, "DUALICE")
	got, _ = e.slack.lastResponse()
	mustContain(t, "extend answer", got, "Nothing to extend", "cancelled")
	if e.slack.count("views.open") != opened {
		t.Error("a modal was opened")
	}

	// Nobody decides the next one in time.
	req2 := e.submitAs("alice@example.com", "demo-app", "INC-2")
	e.deliver()
	e.clock.Advance(25 * time.Hour)
	e.runDue()
	e.deliver()
	if r := e.get(req2.ID); r.Status != "lapsed" {
		t.Fatalf("status %s", r.Status)
	}
	last := e.slack.live("DUALICE")[len(e.slack.live("DUALICE"))-1]
	mustContain(t, "lapse DM", last.Blocks, "lapsed: nobody decided in time")
	mustContain(t, "lapsed message", e.slack.live(chDemo)[1].Blocks, "Lapsed")
}

// Approvers see the query and the exact privileges a query-scoped
// request grants, and nothing in it can mention or link.
func TestApprovalMessageShowsQueryAndPrivileges(t *testing.T) {
	e := newEnv(t)
	r := &jit.Request{ID: "req_1", Requester: "alice@example.com", Resource: "orders-db", Access: "write",
		Duration: 30 * time.Minute, Reason: "INC-4 fix total\n<@U123> <https://evil.example|click>", Status: jit.StatusPending,
		Rule: "db-writes", ApprovalsRequired: 2, Approvers: []string{"group:dba", "user:erin@example.com", "peers"},
		Query: "UPDATE orders SET total = 1 WHERE id = 1 -- ```", Privileges: []jit.Privilege{
			{Action: "SELECT", Schema: "public", Table: "orders"},
			{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}}},
		Approvals: []jit.Approval{{Approver: "bob@example.com", Approved: true, Comment: "ok <!here>", At: e.clock.Now()}}}
	_, blocks := e.app.approvalMessage(r)
	b, _ := json.Marshal(blocks)
	s := unescaped(t, string(b))
	mustContain(t, "message", s, "UPDATE orders SET total = 1 WHERE id = 1", "SELECT on public.orders", "UPDATE on public.orders (total)",
		"30m", "group dba, erin@example.com, peers (1 of 2)", "Approved by bob@example.com: ok &lt;!here&gt;",
		"&lt;@U123&gt; &lt;https://evil.example|click&gt;")
	mustNotContain(t, "message", s, "<@U123>", "<!here>", "<https://evil.example")
}

// Approvers see a request's target, what it grants and the SSH key it
// certifies (by fingerprint), escaped like everything else.
func TestApprovalMessageShowsTargetAndKey(t *testing.T) {
	e := newEnv(t)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnCIsuQ3oO4jDwtvcRbqe5zJRQCbjGmJ0SwEUw25dd2 alice"
	r := &jit.Request{ID: "req_2", Requester: "alice@example.com", Resource: "prod-k8s", Access: "view",
		Duration: 30 * time.Minute, Reason: "INC-5", Status: jit.StatusPending, Rule: "k8s", ApprovalsRequired: 1,
		Approvers: []string{"group:sre"}, Target: "deployments.apps/default/web", TargetSummary: "get on <!here> web",
		SSHPublicKey: key}
	_, blocks := e.app.approvalMessage(r)
	b, _ := json.Marshal(blocks)
	s := unescaped(t, string(b))
	mustContain(t, "message", s, "deployments.apps/default/web", "get on &lt;!here&gt; web", jit.SSHKeyFingerprint(key))
	mustNotContain(t, "message", s, "<!here>", "AAAAC3NzaC1lZDI1NTE5AAAAIHnC")
}
