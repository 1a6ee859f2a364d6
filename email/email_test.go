package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var (
	t0      = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	expires = t0.Add(90 * time.Minute)
	names   = map[string]string{"alice@example.com": "Alice Liddell", "bob@example.com": "Bob"}
)

const baseURL = "https://jit.example.com"

// config is a Config for server ts with the approvers bob, carol and the
// requester alice (whom the notifier must leave out).
func config(ts *testServer) Config {
	return Config{
		Addr:      ts.addr,
		From:      "jit <jit@example.com>",
		Username:  testUser,
		Password:  testPassword,
		TLSConfig: ts.tlsConfig(),
		BaseURL:   baseURL + "/",
		ApproverEmails: func(r jit.Request) []string {
			return []string{"bob@example.com", "carol@example.com", "Alice@example.com", "bob@example.com"}
		},
		DisplayName: func(email string) string { return names[email] },
		Clock:       fixedClock{t0},
		Timeout:     10 * time.Second,
	}
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pending() jit.Request {
	return jit.Request{
		ID: "0196a4b2-7c1e-7000-8000-000000000001", Requester: "alice@example.com",
		Resource: "prod-db", Access: "read", Duration: 90 * time.Minute,
		Reason: "INC-4312: customer 881 cannot log in", Approvers: []string{"group:sre"},
		Status: jit.StatusPending, Rule: "prod-read", ApprovalsRequired: 1,
		CreatedAt: t0, UpdatedAt: t0, LapsesAt: t0.Add(24 * time.Hour),
	}
}

func notification(action string, r jit.Request, actor, reason string) jit.Notification {
	return jit.Notification{ID: r.ID + ":2:" + action, Action: action, Actor: actor, Reason: reason, At: t0, Request: r, Version: 2}
}

// parsed is a received message taken apart.
type parsed struct {
	header     mail.Header
	rawHeader  string
	subject    string
	text, html string
	envelopeTo []string
}

func parse(t *testing.T, m received) parsed {
	t.Helper()
	raw := string(m.Data)
	if strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") {
		t.Errorf("message has bare LF line endings:\n%s", raw)
	}
	for _, l := range strings.Split(raw, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line of %d characters (RFC 5322 allows 998)", len(l))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	p := parsed{header: msg.Header, rawHeader: raw[:strings.Index(raw, "\r\n\r\n")], envelopeTo: m.To}
	p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	if v := msg.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part encoding %q", cte)
		}
		ct := part.Header.Get("Content-Type")
		types = append(types, ct)
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatal(err)
		}
		switch ct {
		case "text/plain; charset=utf-8":
			p.text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html; charset=utf-8":
			p.html = string(body)
		}
	}
	if strings.Join(types, ",") != "text/plain; charset=utf-8,text/html; charset=utf-8" {
		t.Errorf("parts %v, want plain text then HTML", types)
	}
	return p
}

// byRecipient maps each message to its one envelope recipient.
func byRecipient(t *testing.T, msgs []received) map[string]parsed {
	t.Helper()
	out := map[string]parsed{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("message to %v; want one recipient per message", m.To)
		}
		if _, dup := out[m.To[0]]; dup {
			t.Fatalf("two messages to %s", m.To[0])
		}
		out[m.To[0]] = parse(t, m)
	}
	return out
}

func recipients(msgs []received) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To...)
	}
	sort.Strings(out)
	return out
}

var messageIDRe = regexp.MustCompile(`^<[0-9a-f]{40}@example\.com>$`)

func TestApprovalNeeded(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	r := pending()
	r.Query = "UPDATE orders SET total = 0 WHERE id = 7"
	r.Privileges = []jit.Privilege{{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}}}
	r.Target, r.TargetSummary = "deployments.apps/default/web", "get, list, watch on deployments.apps web"
	if err := n.Notify(context.Background(), notification(jit.ActionSubmit, r, r.Requester, r.Reason)); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages()
	if got := strings.Join(recipients(msgs), ","); got != "bob@example.com,carol@example.com" {
		t.Fatalf("recipients %s; want bob and carol (not the requester, each once)", got)
	}
	all := byRecipient(t, msgs)
	for _, m := range msgs {
		if m.From != "jit@example.com" {
			t.Errorf("envelope sender %q", m.From)
		}
	}
	bob := all["bob@example.com"]
	if got := bob.header.Get("From"); got != `"jit" <jit@example.com>` {
		t.Errorf("From %q", got)
	}
	if got := bob.header.Get("To"); got != `"Bob" <bob@example.com>` {
		t.Errorf("To %q", got)
	}
	if got := all["carol@example.com"].header.Get("To"); got != "<carol@example.com>" {
		t.Errorf("To %q", got)
	}
	if want := "Approval needed: Alice Liddell asks for read on prod-db for 1h30m"; bob.subject != want {
		t.Errorf("Subject %q, want %q", bob.subject, want)
	}
	date, err := bob.header.Date()
	if err != nil || !date.Equal(t0) {
		t.Errorf("Date %q (%v), want the clock's %v", bob.header.Get("Date"), err, t0)
	}
	if id := bob.header.Get("Message-ID"); !messageIDRe.MatchString(id) {
		t.Errorf("Message-ID %q", id)
	}
	if bob.header.Get("Message-ID") == all["carol@example.com"].header.Get("Message-ID") {
		t.Error("two recipients got the same Message-ID")
	}
	if got := bob.header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted %q", got)
	}
	link := baseURL + "/requests/" + r.ID
	for _, part := range []string{bob.text, bob.html} {
		mustContain(t, "body", part, "Alice Liddell (alice@example.com)", "prod-db", "1h30m", "INC-4312: customer 881 cannot log in",
			"UPDATE orders SET total = 0 WHERE id = 7", "UPDATE on public.orders (total)", "prod-read", link,
			"deployments.apps/default/web", "get, list, watch on deployments.apps web")
	}
	mustContain(t, "text part", bob.text, "A request needs your approval", "Review the request: "+link, "Query:\n    UPDATE orders")
	mustContain(t, "HTML part", bob.html, `<a href="`+link+`"`, "<pre", "<li>UPDATE on public.orders (total)</li>")
}

func TestExtensionApproval(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	r := pending()
	r.ID = "0196a4b2-7c1e-7000-8000-000000000002"
	r.ExtendsID = "0196a4b2-7c1e-7000-8000-000000000001"
	r.Duration = time.Hour
	if err := n.Notify(context.Background(), notification(jit.ActionExtend, r, r.Requester, r.Reason)); err != nil {
		t.Fatal(err)
	}
	all := byRecipient(t, ts.messages())
	if len(all) != 2 {
		t.Fatalf("%d messages, want 2 (bob, carol)", len(all))
	}
	bob := all["bob@example.com"]
	if want := "Approval needed: Alice Liddell asks to extend read on prod-db by 1h"; bob.subject != want {
		t.Errorf("Subject %q, want %q", bob.subject, want)
	}
	mustContain(t, "text part", bob.text, baseURL+"/requests/"+r.ExtendsID, baseURL+"/requests/"+r.ID)
}

func TestRequesterOutcomes(t *testing.T) {
	ended := t0.Add(30 * time.Minute)
	active := func(mod func(r *jit.Request)) jit.Request {
		r := pending()
		r.Status = jit.StatusActive
		r.Approvals = []jit.Approval{{RequestID: r.ID, Approver: "bob@example.com", Approved: true, At: t0}}
		g, e := t0, expires
		r.GrantedAt, r.ExpiresAt = &g, &e
		if mod != nil {
			mod(&r)
		}
		return r
	}
	link := baseURL + "/requests/" + pending().ID
	tests := []struct {
		name    string
		n       jit.Notification
		subject string
		body    []string
	}{
		{"granted after approval", notification(jit.ActionGrant, active(nil), jit.SystemActor, ""),
			"Access granted: read on prod-db until 2026-03-01 11:30 UTC",
			[]string{"approved by Bob (bob@example.com)", "active until 2026-03-01 11:30 UTC", link}},
		{"granted automatically", notification(jit.ActionGrant, active(func(r *jit.Request) {
			r.AutoApproved, r.ApprovalsRequired, r.Approvals = true, 0, nil
		}), jit.SystemActor, ""),
			"Access granted: read on prod-db until 2026-03-01 11:30 UTC",
			[]string{"approved automatically by rule prod-read", "2026-03-01 11:30 UTC"}},
		{"denied", notification(jit.ActionDeny, func() jit.Request {
			r := pending()
			r.Status, r.EndedBy, r.EndReason, r.EndedAt = jit.StatusDenied, "bob@example.com", "use the read replica", &ended
			return r
		}(), "bob@example.com", "use the read replica"),
			"Request denied: read on prod-db",
			[]string{"denied by Bob (bob@example.com)", "use the read replica", link}},
		{"grant failed", notification(jit.ActionGrantFailed, func() jit.Request {
			r := pending()
			r.Status, r.EndedBy, r.EndReason = jit.StatusFailed, jit.SystemActor, "role \"alice\" does not exist"
			return r
		}(), jit.SystemActor, "role \"alice\" does not exist"),
			"Access could not be granted: read on prod-db",
			[]string{"What went wrong", `role "alice" does not exist`}},
		{"revoked", notification(jit.ActionRevokeDone, active(func(r *jit.Request) {
			r.Status, r.EndedBy, r.EndReason, r.EndedAt = jit.StatusRevoked, "carol@example.com", "incident closed", &ended
		}), jit.SystemActor, ""),
			"Access revoked: read on prod-db",
			[]string{"revoked by carol@example.com", "incident closed", "2026-03-01 10:30 UTC"}},
		{"expired", notification(jit.ActionRevokeDone, active(func(r *jit.Request) {
			r.Status, r.EndedBy, r.EndReason, r.EndedAt = jit.StatusExpired, jit.SystemActor, "access expired", &expires
		}), jit.SystemActor, ""),
			"Access expired: read on prod-db",
			[]string{"expired at 2026-03-01 11:30 UTC"}},
		{"relinquished", notification(jit.ActionRevokeDone, active(func(r *jit.Request) {
			r.Status, r.EndedBy, r.EndedAt = jit.StatusRelinquished, "alice@example.com", &ended
		}), jit.SystemActor, ""),
			"Access relinquished: read on prod-db",
			[]string{"given up early"}},
		{"lapsed", notification(jit.ActionLapse, func() jit.Request {
			r := pending()
			r.Status, r.EndedBy, r.EndReason = jit.StatusLapsed, jit.SystemActor, "no decision before 2026-03-02T10:00:00Z"
			return r
		}(), jit.SystemActor, ""),
			"Request lapsed: read on prod-db",
			[]string{"lapsed", "2026-03-02 10:00 UTC"}},
		{"reminder", notification(jit.ActionRemind, active(nil), jit.SystemActor, ""),
			"Access ends soon: read on prod-db at 2026-03-01 11:30 UTC",
			[]string{"Your access to read on prod-db ends at 2026-03-01 11:30 UTC; extend it at " + link}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, serverOpts{mode: TLSStartTLS})
			n := newNotifier(t, config(ts))
			if err := n.Notify(context.Background(), tc.n); err != nil {
				t.Fatal(err)
			}
			msgs := ts.messages()
			if got := strings.Join(recipients(msgs), ","); got != "alice@example.com" {
				t.Fatalf("recipients %q, want only the requester", got)
			}
			m := byRecipient(t, msgs)["alice@example.com"]
			if m.subject != tc.subject {
				t.Errorf("Subject %q, want %q", m.subject, tc.subject)
			}
			if got := m.header.Get("To"); got != `"Alice Liddell" <alice@example.com>` {
				t.Errorf("To %q", got)
			}
			mustContain(t, "text part", m.text, tc.body...)
			mustContain(t, "HTML part", m.html, link)
			for _, s := range tc.body {
				mustContain(t, "HTML part", m.html, strings.ReplaceAll(s, `"`, "&#34;"))
			}
		})
	}
}

func TestNoEmailForOtherActions(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	approved := pending()
	approved.Status, approved.AutoApproved = jit.StatusApproved, true
	revoking := pending()
	revoking.Status = jit.StatusRevoking
	e := expires
	revoking.ExpiresAt = &e
	failed := pending()
	failed.Status = jit.StatusFailed
	cancelled := pending()
	cancelled.Status = jit.StatusCancelled
	for _, nt := range []jit.Notification{
		notification(jit.ActionApprove, pending(), "bob@example.com", ""),
		notification(jit.ActionAutoApprove, approved, jit.SystemActor, ""),
		notification(jit.ActionSubmit, approved, "alice@example.com", ""), // approved at once: told at grant
		notification(jit.ActionCancel, cancelled, "alice@example.com", ""),
		notification(jit.ActionGrantStart, pending(), jit.SystemActor, ""),
		notification(jit.ActionGrant, revoking, jit.SystemActor, ""), // revoked at once: told when gone
		notification(jit.ActionRevoke, revoking, "carol@example.com", "done"),
		notification(jit.ActionExpire, revoking, jit.SystemActor, ""),
		notification(jit.ActionRelinquish, revoking, "alice@example.com", ""),
		notification(jit.ActionRevokeDone, failed, jit.SystemActor, "cleanup after a failed grant"),
		notification(jit.ActionRemind, failed, jit.SystemActor, ""),
		notification(jit.ActionOverdue, revoking, jit.SystemActor, ""),
		notification(jit.ActionPolicyReload, pending(), jit.SystemActor, ""),
	} {
		if err := n.Notify(context.Background(), nt); err != nil {
			t.Errorf("%s: %v", nt.Action, err)
		}
	}
	if got := ts.sessionCount(); got != 0 {
		t.Errorf("%d SMTP sessions for notifications that concern nobody by email", got)
	}
	if msgs := ts.messages(); len(msgs) != 0 {
		t.Errorf("%d messages sent", len(msgs))
	}
}

func TestHostileTextIsEscaped(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	r := pending()
	r.Reason = "<script>alert('x')</script>\r\nBcc: mallory@example.com\r\n\r\n<b>urgent</b> & \"now\"\x1b[31m"
	r.Query = "SELECT '</pre><img src=x onerror=alert(1)>' FROM t"
	r.Rule = `<a href="javascript:alert(1)">rule</a>`
	if err := n.Notify(context.Background(), notification(jit.ActionSubmit, r, r.Requester, r.Reason)); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages()
	if got := strings.Join(recipients(msgs), ","); got != "bob@example.com,carol@example.com" {
		t.Fatalf("recipients %s", got)
	}
	for _, m := range byRecipient(t, msgs) {
		if strings.Contains(strings.ToLower(m.rawHeader), "mallory") || m.header.Get("Bcc") != "" {
			t.Errorf("reason text reached the headers:\n%s", m.rawHeader)
		}
		for _, bad := range []string{"<script", "<img", "<b>", `href="javascript`, "\x1b"} {
			if strings.Contains(m.html, bad) {
				t.Errorf("HTML part contains %q unescaped:\n%s", bad, m.html)
			}
		}
		mustContain(t, "HTML part", m.html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", "&lt;b&gt;urgent&lt;/b&gt; &amp; &#34;now&#34;",
			"&lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;", "&lt;a href=&#34;javascript:alert(1)&#34;&gt;rule&lt;/a&gt;")
		// In the plain text, the reason's lines stay indented under
		// their label: they cannot pass for lines of the message.
		mustContain(t, "text part", m.text, "Reason:\n    <script>alert('x')</script>\n    Bcc: mallory@example.com\n    \n    <b>urgent</b> & \"now\"[31m\n")
		if strings.Contains(m.text, "\x1b") {
			t.Error("text part keeps a terminal escape")
		}
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	for _, mod := range []func(r *jit.Request){
		func(r *jit.Request) { r.Resource = "prod-db\r\nBcc: mallory@example.com" },
		func(r *jit.Request) { r.Access = "read\nSubject: hi" },
		func(r *jit.Request) { r.Requester = "alice@example.com\r\nBcc: mallory@example.com" },
	} {
		r := pending()
		mod(&r)
		for _, action := range []string{jit.ActionSubmit, jit.ActionLapse} {
			r := r
			if action == jit.ActionLapse {
				r.Status = jit.StatusLapsed
			}
			err := n.Notify(context.Background(), notification(action, r, r.Requester, ""))
			var perm *jit.PermanentError
			if !errors.As(err, &perm) {
				t.Errorf("%s with %q/%q/%q: %v; want a permanent error", action, r.Requester, r.Resource, r.Access, err)
			}
		}
	}
	if got := ts.sessionCount(); got != 0 {
		t.Errorf("%d SMTP sessions; nothing should be sent", got)
	}
}

func TestBadApproverAddresses(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	cfg := config(ts)
	cfg.ApproverEmails = func(jit.Request) []string {
		return []string{"bob@example.com", "carol@example.com\r\nBcc: mallory@example.com", "Dan <dan@example.com>", ""}
	}
	n := newNotifier(t, cfg)
	err := n.Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	var perm *jit.PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("got %v; want a permanent error naming the bad addresses", err)
	}
	if got := strings.Join(recipients(ts.messages()), ","); got != "bob@example.com" {
		t.Errorf("recipients %q; bob should still get his", got)
	}

	cfg.ApproverEmails = func(jit.Request) []string { return []string{"alice@example.com"} }
	n = newNotifier(t, cfg)
	err = n.Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "no approver") {
		t.Errorf("only the requester as approver: %v; want a permanent error", err)
	}
}

func TestMessageIDStableAcrossSends(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	nt := notification(jit.ActionSubmit, pending(), "alice@example.com", "")
	// Two notifiers stand for two replicas, or one before and after a
	// restart: both send, with the same Message-IDs.
	for i := 0; i < 2; i++ {
		if err := newNotifier(t, config(ts)).Notify(context.Background(), nt); err != nil {
			t.Fatal(err)
		}
	}
	other := nt
	other.ID = nt.Request.ID + ":3:" + jit.ActionSubmit
	if err := newNotifier(t, config(ts)).Notify(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages()
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6", len(msgs))
	}
	ids := map[string][]string{}
	for _, m := range msgs {
		p := parse(t, m)
		ids[m.To[0]] = append(ids[m.To[0]], p.header.Get("Message-ID"))
	}
	for to, got := range ids {
		if got[0] != got[1] {
			t.Errorf("%s: Message-ID %s then %s for the same notification", to, got[0], got[1])
		}
		if got[2] == got[0] {
			t.Errorf("%s: notification %s and %s share Message-ID %s", to, nt.ID, other.ID, got[0])
		}
	}
	if ids["bob@example.com"][0] == ids["carol@example.com"][0] {
		t.Error("bob and carol share a Message-ID")
	}
}

func TestRetryGoesOnlyToTheMissing(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	nt := notification(jit.ActionSubmit, pending(), "alice@example.com", "")
	ts.refuse("carol@example.com", 451)
	err := n.Notify(context.Background(), nt)
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("a 451 for carol gave %v; want a plain (retryable) error", err)
	}
	if got := strings.Join(recipients(ts.messages()), ","); got != "bob@example.com" {
		t.Fatalf("first attempt reached %q; want bob", got)
	}
	ts.refuse("carol@example.com", 0)
	if err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages()
	if got := strings.Join(recipients(msgs), ","); got != "bob@example.com,carol@example.com" {
		t.Fatalf("after the retry: %q; want bob once and carol once", got)
	}
	// A notification delivered in full is not sent again.
	if err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	if got := len(ts.messages()); got != 2 {
		t.Errorf("%d messages after a repeat; want 2", got)
	}
}

func TestRefusedRecipientIsPermanent(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	ts.refuse("carol@example.com", 550)
	err := n.Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	var perm *jit.PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("a 550 for carol gave %v; want a permanent error", err)
	}
	mustContain(t, "error", err.Error(), "carol@example.com", "550")
	if got := strings.Join(recipients(ts.messages()), ","); got != "bob@example.com" {
		t.Errorf("recipients %q; bob should still get his", got)
	}

	// The same for the requester's outcome.
	ts.refuse("alice@example.com", 550)
	r := pending()
	r.Status, r.EndReason = jit.StatusLapsed, "no decision"
	err = n.Notify(context.Background(), notification(jit.ActionLapse, r, jit.SystemActor, ""))
	if !errors.As(err, &perm) {
		t.Errorf("a 550 for the requester gave %v; want a permanent error", err)
	}
}

func TestTLSRequired(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSNone, noAuth: true})
	nt := notification(jit.ActionSubmit, pending(), "alice@example.com", "")

	cfg := config(ts)
	cfg.Username, cfg.Password = "", ""
	err := newNotifier(t, cfg).Notify(context.Background(), nt)
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("server without STARTTLS: %v; want a plain error about STARTTLS", err)
	}
	cfg.TLS = TLSImplicit
	if err := newNotifier(t, cfg).Notify(context.Background(), nt); err == nil {
		t.Fatal("implicit TLS to a plain-text server succeeded")
	}
	if got := len(ts.messages()); got != 0 {
		t.Fatalf("%d messages sent without TLS", got)
	}

	cfg.TLS = TLSNone
	if err := newNotifier(t, cfg).Notify(context.Background(), nt); err != nil {
		t.Fatalf("TLS none to a loopback relay: %v", err)
	}
	if got := strings.Join(recipients(ts.messages()), ","); got != "bob@example.com,carol@example.com" {
		t.Errorf("recipients %q", got)
	}
}

func TestImplicitTLS(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSImplicit})
	cfg := config(ts)
	cfg.TLS = TLSImplicit
	if err := newNotifier(t, cfg).Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", "")); err != nil {
		t.Fatal(err)
	}
	if got := len(ts.messages()); got != 2 {
		t.Errorf("%d messages, want 2", got)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	cfg := config(ts)
	cfg.TLSConfig = nil // the system's roots do not know the test CA
	err := newNotifier(t, cfg).Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	if err == nil {
		t.Fatal("sent to a server whose certificate is not trusted")
	}
	if got := len(ts.messages()); got != 0 {
		t.Errorf("%d messages", got)
	}
}

func TestWrongPassword(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	cfg := config(ts)
	cfg.Password = "not-the-Passw0rd"
	err := newNotifier(t, cfg).Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("wrong password: %v; want a plain error (fixing the configuration makes retries succeed)", err)
	}
	mustContain(t, "error", err.Error(), "authenticate", "535")
	if strings.Contains(err.Error(), cfg.Password) {
		t.Errorf("error shows the password: %v", err)
	}
	if got := len(ts.messages()); got != 0 {
		t.Errorf("%d messages", got)
	}

	// No credentials at all: the server refuses the sender.
	cfg.Username, cfg.Password = "", ""
	err = newNotifier(t, cfg).Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	if err == nil || errors.As(err, &perm) {
		t.Errorf("without AUTH: %v; want a plain error", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := config(&testServer{addr: addr})
	err = newNotifier(t, cfg).Notify(context.Background(), notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	var perm *jit.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Errorf("nothing listening: %v; want a plain error", err)
	}
}

func TestCancelledContext(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newNotifier(t, config(ts)).Notify(ctx, notification(jit.ActionSubmit, pending(), "alice@example.com", ""))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v; want context.Canceled", err)
	}
}

func TestNonASCIISubject(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	cfg := config(ts)
	cfg.DisplayName = func(email string) string {
		if email == "alice@example.com" {
			return "Zoë Ærøskøbing"
		}
		return ""
	}
	n := newNotifier(t, cfg)
	r := pending()
	r.Resource = "données-production-" + strings.Repeat("très-longue-", 4) + "base"
	r.Access = "lecture"
	if err := n.Notify(context.Background(), notification(jit.ActionSubmit, r, r.Requester, "")); err != nil {
		t.Fatal(err)
	}
	m := byRecipient(t, ts.messages())["carol@example.com"]
	want := "Approval needed: Zoë Ærøskøbing asks for lecture on " + r.Resource + " for 1h30m"
	if m.subject != want {
		t.Errorf("Subject %q, want %q", m.subject, want)
	}
	for _, l := range strings.Split(m.rawHeader, "\r\n") {
		if !isASCII(l) {
			t.Errorf("header line is not ASCII: %q", l)
		}
		if len(l) > headerLineWidth && strings.Contains(l, " ") {
			t.Errorf("header line of %d characters not folded: %q", len(l), l)
		}
	}
	if !strings.Contains(m.rawHeader, "=?utf-8?q?Approval_needed:_Zo=C3=AB") {
		t.Errorf("Subject is not Q-encoded:\n%s", m.rawHeader)
	}
	mustContain(t, "text part", m.text, "Zoë Ærøskøbing (alice@example.com)", r.Resource)

}

func TestValidate(t *testing.T) {
	ok := Config{
		Addr: "smtp.example.com:587", From: "jit@example.com", Username: "u", Password: "Hunter2-Secret",
		BaseURL: baseURL, ApproverEmails: func(jit.Request) []string { return nil },
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(c *Config)
		want []string
	}{
		{"empty", func(c *Config) { *c = Config{} }, []string{"Addr is required", "From is required", "BaseURL is required", "ApproverEmails is required"}},
		{"bad addr", func(c *Config) { c.Addr = "smtp.example.com" }, []string{"not host:port"}},
		{"bad port", func(c *Config) { c.Addr = "smtp.example.com:99999" }, []string{"invalid port"}},
		{"bad from", func(c *Config) { c.From = "jit" }, []string{"From"}},
		{"from with newline", func(c *Config) { c.From = "jit@example.com\r\nBcc: x@example.com" }, []string{"line break"}},
		{"user without password", func(c *Config) { c.Password = "" }, []string{"Username and Password"}},
		{"unknown tls", func(c *Config) { c.TLS = "ssl" }, []string{`TLS "ssl"`}},
		{"none off loopback", func(c *Config) { c.TLS, c.Username, c.Password = TLSNone, "", "" }, []string{"only allowed for a relay on a loopback", "smtp.example.com"}},
		{"none with auth", func(c *Config) { c.TLS, c.Addr = TLSNone, "127.0.0.1:25" }, []string{"need TLS"}},
		{"base url", func(c *Config) { c.BaseURL = "jit.example.com" }, []string{"BaseURL"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"Timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			mustContain(t, "error", err.Error(), tc.want...)
			if c.Password != "" && strings.Contains(err.Error(), c.Password) {
				t.Errorf("error shows the password: %v", err)
			}
			if _, err := New(c); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:25", "[::1]:25", "localhost:1025"} {
		c := ok
		c.TLS, c.Addr, c.Username, c.Password = TLSNone, addr, "", ""
		if err := c.Validate(); err != nil {
			t.Errorf("TLS none on %s: %v", addr, err)
		}
	}
}

func TestName(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	var n jit.Notifier = newNotifier(t, config(ts))
	if n.Name() != "email" {
		t.Errorf("Name %q", n.Name())
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m", 8 * time.Hour: "8h",
		90 * time.Second: "1m30s", 45 * time.Second: "45s", 25*time.Hour + 5*time.Second: "25h0m5s",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDeliveredMemoryIsBounded(t *testing.T) {
	ts := startServer(t, serverOpts{mode: TLSStartTLS})
	n := newNotifier(t, config(ts))
	for i := 0; i < maxRemembered; i++ {
		n.sent[fmt.Sprint("old-", i)] = t0.Add(-rememberFor - time.Minute)
	}
	n.remember("new")
	if len(n.sent) != 1 {
		t.Errorf("%d remembered; entries older than %v should be forgotten", len(n.sent), rememberFor)
	}
	// "new" and these fill the memory; one more must push out the oldest.
	for i := 0; i < maxRemembered-1; i++ {
		n.sent[fmt.Sprint("recent-", i)] = t0.Add(-time.Duration(i+1) * time.Second)
	}
	n.remember("newer")
	if len(n.sent) != maxRemembered {
		t.Errorf("%d remembered; want at most %d", len(n.sent), maxRemembered)
	}
	if _, ok := n.sent["newer"]; !ok {
		t.Error("the newest delivery was forgotten")
	}
	if _, ok := n.sent[fmt.Sprint("recent-", maxRemembered-2)]; ok {
		t.Error("the oldest delivery was kept")
	}
}
