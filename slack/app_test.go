package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// ephemeralText decodes a slash command's answer.
func ephemeralText(t *testing.T, body string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	if m["response_type"] != "ephemeral" {
		t.Errorf("answer is not ephemeral: %s", body)
	}
	return body
}

func viewErrors(t *testing.T, resp map[string]any) map[string]any {
	t.Helper()
	if resp["response_action"] != "errors" {
		t.Fatalf("view submission answer is %v, want errors", resp)
	}
	errs, _ := resp["errors"].(map[string]any)
	return errs
}

// The whole life of a request from Slack: asked for with /jit and the
// modal, approved with a click in the approvers' channel (after refused
// clicks), granted, extended, the extension denied, relinquished, asked
// for again; the approval message follows every change in place and the
// requester hears about each step.
func TestLifecycleFromSlack(t *testing.T) {
	e := newEnv(t)

	// Nothing yet.
	status, body := e.command("UALICE", "")
	if status != http.StatusOK {
		t.Fatalf("/jit: %d %s", status, body)
	}
	mustContain(t, "/jit", ephemeralText(t, body), "You have no pending or active access")

	// /jit request opens the modal with what alice may request.
	status, body = e.command("UALICE", "request")
	if status != http.StatusOK || body != "" {
		t.Fatalf("/jit request: %d %q, want 200 and no message", status, body)
	}
	v := e.slack.lastOpened()
	if v == nil || v.CallbackID != cbRequest || v.TriggerID != fmt.Sprintf("trigger-%d", e.trigger) {
		t.Fatalf("request modal not opened with the command's trigger: %+v", v)
	}
	modal, _ := json.Marshal(v.View)
	mustContain(t, "request modal", string(modal), `"value":"demo-app"`, `"value":"vault"`, `"value":"prod-app"`, `"block_id":"duration"`)
	mustNotContain(t, "request modal", string(modal), `"value":"sales-app"`, `"block_id":"access"`)

	// Choosing demo-app brings its access levels into the modal, keeping
	// what was typed.
	if st := e.chooseResource("UALICE", e.slack.view(v.ID), "demo-app", map[string]string{fDuration: "2h", fReason: "INC-9"}); st != http.StatusOK {
		t.Fatalf("choose resource: %d", st)
	}
	updated := e.slack.view(v.ID)
	modal, _ = json.Marshal(updated.View)
	mustContain(t, "updated modal", string(modal), `"block_id":"access"`, `"value":"admin"`, "At most 8h", "Must match ^INC-[0-9]+", "group sre")

	// A reason that does not match the rule is shown under the reason.
	_, resp := e.submit("UALICE", updated, map[string]string{fResource: "select:demo-app", fAccess: "select:user", fDuration: "2h", fReason: "because"})
	errs := viewErrors(t, resp)
	if _, ok := errs[fReason]; !ok || len(errs) != 1 {
		t.Errorf("errors = %v, want one under reason", errs)
	}
	// Too long is shown under the duration; not a duration, too.
	_, resp = e.submit("UALICE", updated, map[string]string{fResource: "select:demo-app", fDuration: "10h", fReason: "INC-9"})
	if errs := viewErrors(t, resp); errs[fDuration] == nil {
		t.Errorf("errors = %v, want one under duration", errs)
	}
	_, resp = e.submit("UALICE", updated, map[string]string{fResource: "select:demo-app", fDuration: "soon", fReason: "INC-9"})
	if errs := viewErrors(t, resp); errs[fDuration] == nil {
		t.Errorf("errors = %v, want one under duration", errs)
	}
	if n := len(e.requests()); n != 0 {
		t.Fatalf("%d requests filed by refused submissions", n)
	}

	// A good submission files the request and says so.
	_, resp = e.submit("UALICE", updated, map[string]string{fResource: "select:demo-app", fAccess: "select:admin", fDuration: "2h", fReason: "INC-9 <!channel> checkout errors"})
	if resp["response_action"] != "update" {
		t.Fatalf("submission answer %v, want update", resp)
	}
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.Requester != "alice@example.com" || req.Resource != "demo-app" || req.Access != "admin" || req.Duration != 2*time.Hour || req.Status != jit.StatusPending {
		t.Fatalf("filed request %+v", req)
	}
	done, _ := json.Marshal(resp["view"])
	mustContain(t, "confirmation", string(done), req.ID, "is filed")
	// The same submission delivered again (Slack signs each delivery
	// anew) files nothing more.
	e.clock.Advance(time.Second)
	_, resp = e.submit("UALICE", updated, map[string]string{fResource: "select:demo-app", fAccess: "select:admin", fDuration: "2h", fReason: "INC-9 <!channel> checkout errors"})
	if resp["response_action"] != "update" || len(e.requests()) != 1 {
		t.Fatalf("repeated submission: %v, %d requests", resp, len(e.requests()))
	}
	evs, err := e.store.ListAudit(context.Background(), jit.AuditFilter{RequestID: req.ID})
	if err != nil || len(evs) == 0 || evs[0].Source.Kind != "slack" || evs[0].Actor != "alice@example.com" {
		t.Fatalf("submit audit event %+v (%v), want source slack, actor alice", evs, err)
	}

	// The notification posts the approval message to demo-app's channel
	// and tells alice; a repeated delivery changes nothing.
	ns := e.deliver()
	msgs := e.slack.live(chDemo)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in %s, want 1", len(msgs), chDemo)
	}
	approval := msgs[0]
	mustContain(t, "approval message", unescaped(t, approval.Blocks), "alice@example.com", "demo-app", "admin", "2h", "engineers-demo-app",
		"INC-9 &lt;!channel&gt; checkout errors", "group sre", "Waiting for approval (0 of 1)", baseURL+"/requests/"+req.ID)
	mustNotContain(t, "approval message", unescaped(t, approval.Blocks), "<!channel>")
	if ids := actionIDs(buttons(t, approval.Blocks)); !slices.Equal(ids, []string{actApprove, actDeny, actOpen}) {
		t.Errorf("approval message buttons %v", ids)
	}
	dms := e.slack.live("DUALICE")
	if len(dms) != 1 {
		t.Fatalf("%d DMs to alice, want 1", len(dms))
	}
	mustContain(t, "filed DM", dms[0].Blocks, req.ID, "is filed", "1 approval(s) from group sre")
	for _, n := range ns {
		if err := e.app.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.slack.live(chDemo)) != 1 || len(e.slack.live("DUALICE")) != 1 || e.slack.count("chat.postMessage") != 2 {
		t.Fatalf("a repeated delivery posted again: %d posts", e.slack.count("chat.postMessage"))
	}

	// Clicks that must not approve: dave may not see it, alice may not
	// approve her own, an unknown Slack user is not anyone in jit.
	for _, c := range []struct{ user, want string }{
		{"UDAVE", "You can't approve request"},
		{"UALICE", "You can't approve request"},
		{"UGHOST", "I don't know who you are in jit"},
		{"UNOBODY", "I don't know who you are in jit"},
	} {
		status, _ := e.click(c.user, actApprove, req.ID, chDemo)
		if status != http.StatusOK {
			t.Fatalf("click by %s: %d", c.user, status)
		}
		got, _ := e.slack.lastResponse()
		mustContain(t, "answer to "+c.user, got, c.want, `"response_type":"ephemeral"`)
		if r := e.get(req.ID); r.Status != jit.StatusPending || len(r.Approvals) != 0 {
			t.Fatalf("click by %s changed the request: %s %v", c.user, r.Status, r.Approvals)
		}
	}

	// Bob approves, as himself and from Slack.
	e.click("UBOB", actApprove, req.ID, chDemo)
	got, _ := e.slack.lastResponse()
	mustContain(t, "approve answer", got, "You approved", "1 of 1", "Access is being granted")
	r := e.get(req.ID)
	if r.Status != jit.StatusApproved || !r.ApprovedBy("bob@example.com") {
		t.Fatalf("after bob's click: %s %v", r.Status, r.Approvals)
	}
	evs, _ = e.store.ListAudit(context.Background(), jit.AuditFilter{RequestID: req.ID, Action: jit.ActionApprove})
	if len(evs) != 1 || evs[0].Source.Kind != "slack" || evs[0].Actor != "bob@example.com" {
		t.Fatalf("approve audit events %+v", evs)
	}
	// A second click on the decided request does nothing, kindly.
	e.click("UBOB", actApprove, req.ID, chDemo)
	got, _ = e.slack.lastResponse()
	mustContain(t, "second click", got, "Nothing to do", "approved")
	if r := e.get(req.ID); len(r.Approvals) != 1 {
		t.Fatalf("second click added an approval: %v", r.Approvals)
	}

	// The message loses its buttons and says who approved; the grant
	// makes it active and alice hears until when, with what she can do.
	e.deliver()
	e.runDue()
	e.deliver()
	msgs = e.slack.live(chDemo)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the channel after approval, want the one, updated", len(msgs))
	}
	mustContain(t, "approved message", msgs[0].Blocks, "Approved by bob@example.com", "Active until")
	if bs := buttons(t, msgs[0].Blocks); len(bs) != 0 {
		t.Errorf("decided message still has buttons %v", actionIDs(bs))
	}
	dms = e.slack.live("DUALICE")
	last := dms[len(dms)-1]
	mustContain(t, "grant DM", last.Blocks, "is active until", "approved by bob@example.com")
	if ids := actionIDs(buttons(t, last.Blocks)); !slices.Equal(ids, []string{actRelinquish, actExtend, actOpen}) {
		t.Errorf("grant DM buttons %v", ids)
	}

	// /jit lists the active access.
	_, body = e.command("UALICE", "")
	mustContain(t, "/jit", body, req.ID, "Active until", actRelinquish, actExtend)

	// Extend from the DM: a modal, then a new linked request.
	e.click("UALICE", actExtend, req.ID, "DUALICE")
	ev := e.slack.lastOpened()
	if ev.CallbackID != cbExtend {
		t.Fatalf("extend click opened %q", ev.CallbackID)
	}
	_, resp = e.submit("UALICE", *ev, map[string]string{fDuration: "1h", fReason: "INC-9 still digging"})
	if resp["response_action"] != "update" {
		t.Fatalf("extend answer %v", resp)
	}
	ext := e.requests()[0]
	if ext.ExtendsID != req.ID || ext.Status != jit.StatusPending {
		t.Fatalf("extension %+v", ext)
	}
	e.deliver()
	msgs = e.slack.live(chDemo)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want a second for the extension", len(msgs))
	}
	mustContain(t, "extension message", msgs[1].Blocks, "Extension request", "Extends", req.ID)

	// Bob denies it: a modal asks why; no reason is refused under the
	// reason input.
	e.click("UBOB", actDeny, ext.ID, chDemo)
	dv := e.slack.lastOpened()
	if dv.CallbackID != cbDeny {
		t.Fatalf("deny click opened %q", dv.CallbackID)
	}
	_, resp = e.submit("UBOB", *dv, map[string]string{fReason: "  "})
	if errs := viewErrors(t, resp); errs[fReason] == nil {
		t.Errorf("errors %v, want the reason", errs)
	}
	// Someone who may not decide it is refused in the modal too.
	_, resp = e.submit("UDAVE", *dv, map[string]string{fReason: "no"})
	if errs := viewErrors(t, resp); !strings.Contains(fmt.Sprint(errs[fReason]), "You can't deny") {
		t.Errorf("errors %v, want dave refused", errs)
	}
	_, resp = e.submit("UBOB", *dv, map[string]string{fReason: "one hour is enough"})
	if resp["response_action"] != "update" {
		t.Fatalf("deny answer %v", resp)
	}
	if r := e.get(ext.ID); r.Status != jit.StatusDenied || r.EndReason != "one hour is enough" {
		t.Fatalf("extension after deny: %s %q", r.Status, r.EndReason)
	}
	e.deliver()
	msgs = e.slack.live(chDemo)
	mustContain(t, "denied message", msgs[1].Blocks, "Denied by bob@example.com", "one hour is enough")
	last = e.slack.live("DUALICE")[len(e.slack.live("DUALICE"))-1]
	mustContain(t, "deny DM", last.Blocks, "was denied by bob@example.com: one hour is enough")
	if ids := actionIDs(buttons(t, last.Blocks)); !slices.Equal(ids, []string{actRequestAgain}) {
		t.Errorf("deny DM buttons %v", ids)
	}
	// An old button on the decided extension: nothing to do.
	e.click("UFRANK", actApprove, ext.ID, chDemo)
	got, _ = e.slack.lastResponse()
	mustContain(t, "click on a denied request", got, "Nothing to do", "denied")
	e.click("UFRANK", actDeny, ext.ID, chDemo)
	got, _ = e.slack.lastResponse()
	mustContain(t, "deny click on a denied request", got, "Nothing to do", "denied")

	// Alice relinquishes from the DM; the access ends and she can ask
	// again with the request filled in.
	e.click("UALICE", actRelinquish, req.ID, "DUALICE")
	got, _ = e.slack.lastResponse()
	mustContain(t, "relinquish answer", got, "You relinquished")
	e.deliver()
	e.runDue()
	e.deliver()
	if r := e.get(req.ID); r.Status != jit.StatusRelinquished {
		t.Fatalf("after relinquish: %s", r.Status)
	}
	msgs = e.slack.live(chDemo)
	mustContain(t, "relinquished message", msgs[0].Blocks, "Relinquished by alice@example.com")
	last = e.slack.live("DUALICE")[len(e.slack.live("DUALICE"))-1]
	mustContain(t, "relinquish DM", last.Blocks, "was relinquished")
	e.click("UALICE", actRelinquish, req.ID, "DUALICE")
	got, _ = e.slack.lastResponse()
	mustContain(t, "second relinquish", got, "Nothing to do", "relinquished")

	e.click("UALICE", actRequestAgain, req.ID, "DUALICE")
	again := e.slack.lastOpened()
	if again.CallbackID != cbRequest {
		t.Fatalf("request again opened %q", again.CallbackID)
	}
	for block, want := range map[string]string{fResource: "demo-app", fAccess: "admin", fDuration: "2h", fReason: "INC-9 <!channel> checkout errors"} {
		if got := initial(again.View, block); got != want {
			t.Errorf("request again: %s is %q, want %q", block, got, want)
		}
	}
	if ms := e.slack.live(chDemo); len(ms) != 2 {
		t.Errorf("%d channel messages at the end, want 2", len(ms))
	}
}

// Two approvals needed: the same approver's second click is
// already_approved, answered kindly, and two clicks at once count once.
func TestDoubleClickApprovesOnce(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "vault", "")
	e.deliver()
	if ms := e.slack.live(chDefault); len(ms) != 1 {
		t.Fatalf("%d messages in the default channel, want 1", len(ms))
	}
	// Two clicks arrive at once (each a distinct signed request).
	var reqs []*http.Request
	for i := range 2 {
		b, _ := json.Marshal(e.clickPayload("UBOB", actApprove, req.ID, chDefault))
		body := url.Values{"payload": {string(b)}}.Encode()
		at := e.clock.Now().Add(-time.Duration(i) * time.Second)
		rq, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/interactions", strings.NewReader(body))
		rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rq.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(at.Unix()))
		rq.Header.Set("X-Slack-Signature", Sign([]byte(testSecret), at, []byte(body)))
		reqs = append(reqs, rq)
	}
	var wg sync.WaitGroup
	codes := make([]int, len(reqs))
	for i, rq := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.DefaultClient.Do(rq)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	e.app.bg.Wait()
	if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
		t.Fatalf("clicks answered %v", codes)
	}
	answers := []string{}
	e.slack.mu.Lock()
	for _, r := range e.slack.responses {
		b, _ := json.Marshal(r)
		answers = append(answers, string(b))
	}
	e.slack.mu.Unlock()
	if len(answers) != 2 {
		t.Fatalf("%d answers to two clicks", len(answers))
	}
	joined := strings.Join(answers, "\n")
	mustContain(t, "answers", joined, "You approved", "You have already approved")
	r := e.get(req.ID)
	if r.Status != jit.StatusPending || r.ApprovalCount() != 1 || len(r.Approvals) != 1 {
		t.Fatalf("after a double click: %s, approvals %v", r.Status, r.Approvals)
	}
	e.click("UBOB", actApprove, req.ID, chDefault)
	got, _ := e.slack.lastResponse()
	mustContain(t, "third click", got, "You have already approved")
	e.deliver()
	mustContain(t, "message", e.slack.live(chDefault)[0].Blocks, "Waiting for approval (1 of 2)", "Approved by bob@example.com")

	e.click("UFRANK", actApprove, req.ID, chDefault)
	got, _ = e.slack.lastResponse()
	mustContain(t, "frank's click", got, "You approved", "2 of 2")
	if r := e.get(req.ID); r.Status != jit.StatusApproved {
		t.Fatalf("after two approvers: %s", r.Status)
	}
}

// A step-up rule's Approve click approves nothing: it links to the web
// app's page of the request.
func TestStepUpRuleLinksToWebApp(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "prod-app", "")
	e.deliver()
	msg := e.slack.live(chDefault)[0]
	mustContain(t, "step-up message", msg.Blocks, "needs approval in the web app")
	e.click("UBOB", actApprove, req.ID, chDefault)
	got, _ := e.slack.lastResponse()
	mustContain(t, "step-up answer", got, "approved in the web app", baseURL+"/requests/"+req.ID)
	if r := e.get(req.ID); r.Status != jit.StatusPending || len(r.Approvals) != 0 {
		t.Fatalf("step-up click approved: %s %v", r.Status, r.Approvals)
	}
	// Deny still works from Slack.
	e.click("UBOB", actDeny, req.ID, chDefault)
	if v := e.slack.lastOpened(); v == nil || v.CallbackID != cbDeny {
		t.Fatalf("deny on a step-up request opened %+v", v)
	}
}

// Requests Slack did not sign, signed too long ago, or sent again, are
// refused with 401 and change nothing.
func TestUnsignedStaleAndReplayedRequestsAreRefused(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	payload := e.clickPayload("UBOB", actApprove, req.ID, chDemo)
	b, _ := json.Marshal(payload)
	body := url.Values{"payload": {string(b)}}.Encode()

	now := e.clock.Now()
	send := func(ts time.Time, sig string, header ...string) (int, string) {
		rq, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/interactions", strings.NewReader(body))
		rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rq.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(ts.Unix()))
		rq.Header.Set("X-Slack-Signature", sig)
		for i := 0; i+1 < len(header); i += 2 {
			rq.Header.Set(header[i], header[i+1])
		}
		return e.send(rq)
	}
	if st, b := send(now, Sign([]byte("not the secret"), now, []byte(body))); st != http.StatusUnauthorized || b != "" {
		t.Errorf("bad signature: %d %q", st, b)
	}
	stale := now.Add(-6 * time.Minute)
	if st, b := send(stale, Sign([]byte(testSecret), stale, []byte(body))); st != http.StatusUnauthorized || b != "" {
		t.Errorf("stale: %d %q", st, b)
	}
	if r := e.get(req.ID); len(r.Approvals) != 0 {
		t.Fatalf("a refused request approved: %v", r.Approvals)
	}
	// The genuine request works once; the same bytes again are refused.
	sig := Sign([]byte(testSecret), now, []byte(body))
	if st, _ := send(now, sig); st != http.StatusOK {
		t.Fatalf("genuine request: %d", st)
	}
	if r := e.get(req.ID); r.Status != jit.StatusApproved {
		t.Fatalf("genuine click did not approve: %s", r.Status)
	}
	_, before := e.slack.lastResponse()
	if st, b := send(now, sig, "X-Slack-Retry-Num", "1"); st != http.StatusUnauthorized || b != "" {
		t.Errorf("replay: %d %q", st, b)
	}
	if _, after := e.slack.lastResponse(); after != before {
		t.Error("a replayed request was answered")
	}
	// Paths and methods other than Slack's two are not served.
	rq, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/slack/commands", nil)
	if st, _ := e.send(rq); st != http.StatusNotFound {
		t.Errorf("GET /slack/commands: %d", st)
	}
}
