package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
)

// Callback IDs of jit's modals.
const (
	cbRequest = "jit_request"
	cbDeny    = "jit_deny"
	cbExtend  = "jit_extend"
)

// Block IDs of the modals' inputs; a refusal's field names one of them.
// Each input's element has the action ID "value".
const (
	fResource = "resource"
	fAccess   = "access"
	fDuration = "duration"
	fReason   = "reason"
	fQuery    = "query"
	valueID   = "value"
)

// maxOptions is the most options a Slack static select holds.
const maxOptions = 100

// requestForm is what the request modal shows and holds.
type requestForm struct {
	Offers                                    []policy.Offer
	Resource, Access, Duration, Reason, Query string
}

func (f requestForm) offer() (policy.Offer, bool) {
	for _, o := range f.Offers {
		if o.Resource == f.Resource {
			return o, true
		}
	}
	return policy.Offer{}, false
}

// isDatabase reports whether a resource's requests may carry a query.
func isDatabase(o policy.Offer) bool { return o.Provider == "postgres" || o.Provider == "mysql" }

// requestModal builds the modal to ask for access: the resource (of what
// policy lets the person request), then, once a resource is chosen, its
// access levels, the duration, the reason and, for databases, the query.
func requestModal(f requestForm) slack.ModalViewRequest {
	var opts []*slack.OptionBlockObject
	var initial *slack.OptionBlockObject
	for i, o := range f.Offers {
		if i == maxOptions {
			break
		}
		var desc *slack.TextBlockObject
		if o.Description != "" {
			desc = plain(truncate(o.Description, maxOptionText))
		}
		opt := slack.NewOptionBlockObject(o.Resource, plain(truncate(o.Resource, maxOptionText)), desc)
		opts = append(opts, opt)
		if o.Resource == f.Resource {
			initial = opt
		}
	}
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a resource"), actResource, opts...)
	sel.InitialOption = initial
	resource := slack.NewInputBlock(fResource, plain("Resource"), nil, sel)
	// Choosing a resource updates the modal with its access levels.
	resource.DispatchAction = true
	blocks := []slack.Block{resource}

	o, chosen := f.offer()
	if chosen {
		var hint []string
		if o.Description != "" {
			hint = append(hint, o.Description)
		}
		hint = append(hint, "Approved by "+approverWords(o.Approvers)+".")
		if !o.ApprovalRequired {
			hint[len(hint)-1] = "Approved automatically."
		}
		blocks = append(blocks, contextLine(esc(strings.Join(hint, " "))))
		if len(o.Access) > 0 {
			var aopts []*slack.OptionBlockObject
			var ainit *slack.OptionBlockObject
			want := f.Access
			if want == "" {
				want = o.DefaultAccess
			}
			for i, lvl := range o.Access {
				if i == maxOptions {
					break
				}
				opt := slack.NewOptionBlockObject(lvl, plain(truncate(lvl, maxOptionText)), nil)
				aopts = append(aopts, opt)
				if lvl == want || len(o.Access) == 1 {
					ainit = opt
				}
			}
			asel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose an access level"), valueID, aopts...)
			asel.InitialOption = ainit
			ab := slack.NewInputBlock(fAccess, plain("Access level"), nil, asel)
			ab.Optional = o.DefaultAccess != "" || len(o.Access) == 1
			blocks = append(blocks, ab)
		}
	} else {
		blocks = append(blocks, contextLine("Choose a resource to see its access levels and who approves."))
	}

	dur := slack.NewPlainTextInputBlockElement(plain("1h"), valueID)
	dur.InitialValue = f.Duration
	durHint := "For example 30m, 1h or 2h30m."
	if chosen && o.MaxDuration != "" {
		if d, err := time.ParseDuration(o.MaxDuration); err == nil {
			durHint += " At most " + policy.FormatDuration(d) + "."
		}
	}
	blocks = append(blocks, slack.NewInputBlock(fDuration, plain("Duration"), plain(durHint), dur))

	reason := slack.NewPlainTextInputBlockElement(plain("Why do you need it? A ticket, an incident…"), valueID)
	reason.Multiline = true
	reason.MaxLength = 2000
	reason.InitialValue = f.Reason
	var reasonHint *slack.TextBlockObject
	if chosen && o.ReasonPattern != "" {
		reasonHint = plain(truncate("Must match "+o.ReasonPattern, 150))
	}
	rb := slack.NewInputBlock(fReason, plain("Reason"), reasonHint, reason)
	rb.Optional = !(chosen && o.ReasonRequired)
	blocks = append(blocks, rb)

	if !chosen || isDatabase(o) {
		q := slack.NewPlainTextInputBlockElement(plain("SELECT … (only for databases that scope access to a query)"), valueID)
		q.Multiline = true
		q.MaxLength = 3000
		q.InitialValue = f.Query
		qb := slack.NewInputBlock(fQuery, plain("SQL query"),
			plain("Optional: asks for exactly the privileges this query needs."), q)
		qb.Optional = true
		blocks = append(blocks, qb)
	}
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: cbRequest,
		Title: plain("Request access"), Submit: plain("Request"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: blocks},
	}
}

// openRequestModal opens the request modal for the caller; when it cannot
// (nothing to request, an unknown resource, Slack refused), ok is false
// and the reply says why.
func (a *App) openRequestModal(ctx context.Context, triggerID string, f requestForm) (reply, bool) {
	offers, err := a.svc.Offers(ctx)
	if err != nil {
		return a.errorReply(ctx, "offers", "", err), false
	}
	if len(offers) == 0 {
		return ephemeral("No rule lets you request anything in jit."), false
	}
	f.Offers = offers
	if f.Resource != "" {
		if _, ok := f.offer(); !ok {
			return ephemeral("You can't request `" + esc(truncate(f.Resource, 80)) + "`. `/jit request` shows what you can."), false
		}
	} else if len(offers) == 1 {
		f.Resource = offers[0].Resource
	}
	if _, err := a.api.OpenViewContext(ctx, triggerID, requestModal(f)); err != nil {
		a.log.ErrorContext(ctx, "slack views.open failed", "err", err)
		return ephemeral(tryAgainText), false
	}
	return reply{}, true
}

// denyModal asks an approver why they deny request r.
func denyModal(r *jit.Request) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("Why? The requester reads this."), valueID)
	reason.Multiline = true
	reason.MaxLength = 2000
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: cbDeny, PrivateMetadata: r.ID,
		Title: plain("Deny request"), Submit: plain("Deny"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(fmt.Sprintf("Deny *%s*'s request %s for %s?", esc(r.Requester), esc(r.ID), what(r))),
			slack.NewInputBlock(fReason, plain("Reason"), nil, reason),
		}},
	}
}

// extendModal asks for more time on active access r.
func extendModal(r *jit.Request) slack.ModalViewRequest {
	dur := slack.NewPlainTextInputBlockElement(plain("1h"), valueID)
	dur.InitialValue = "1h"
	reason := slack.NewPlainTextInputBlockElement(plain("Why do you need more time?"), valueID)
	reason.Multiline = true
	reason.MaxLength = 2000
	rb := slack.NewInputBlock(fReason, plain("Reason"), nil, reason)
	rb.Optional = true
	head := fmt.Sprintf("Extend your access to %s", what(r))
	if r.ExpiresAt != nil {
		head += ", now ending " + when(*r.ExpiresAt)
	}
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: cbExtend, PrivateMetadata: r.ID,
		Title: plain("Extend access"), Submit: plain("Extend"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(head + ". The extension is a new request, approved like any other."),
			slack.NewInputBlock(fDuration, plain("More time"), plain("For example 30m or 1h."), dur),
			rb,
		}},
	}
}

// doneModal replaces a submitted modal with what became of it.
func doneModal(title, text string) *slack.ModalViewRequest {
	return &slack.ModalViewRequest{
		Type: slack.VTModal, Title: plain(title), Close: plain("Done"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{section(text)}},
	}
}

// stateValue reads an input's value from a view's state: the text typed,
// or the option chosen.
func stateValue(st *slack.ViewState, block string) string {
	if st == nil {
		return ""
	}
	v, ok := st.Values[block][valueID]
	if !ok {
		v, ok = st.Values[block][actResource]
	}
	if !ok {
		return ""
	}
	if v.SelectedOption.Value != "" {
		return v.SelectedOption.Value
	}
	return v.Value
}

// fieldByCode is the input a refusal is about when it does not say.
var fieldByCode = map[string]string{
	jit.ECodeUnknownResource:   fResource,
	jit.ECodeNotAllowed:        fResource,
	jit.ECodeKeyRequired:       fResource,
	jit.ECodeUnknownAccess:     fAccess,
	jit.ECodeInvalidDur:        fDuration,
	jit.ECodeDurationTooLong:   fDuration,
	jit.ECodeJustificationNeed: fReason,
	jit.ECodeJustificationBad:  fReason,
	jit.ECodeReasonNeeded:      fReason,
	jit.ECodeQueryRefused:      fQuery,
}

// fieldErrors maps a refusal onto the modal's inputs in Slack's
// response_action "errors" form: the error's own field, or the field its
// code concerns, or else fallback (an input every such modal has).
func (a *App) fieldErrors(ctx context.Context, action, id string, err error, view slack.View, fallback string) map[string]string {
	blocks := map[string]bool{}
	for _, b := range view.Blocks.BlockSet {
		if ib, ok := b.(*slack.InputBlock); ok {
			blocks[ib.BlockID] = true
		}
	}
	field := ""
	var je *jit.Error
	if errors.As(err, &je) {
		field = je.Field
	}
	if !blocks[field] {
		field = fieldByCode[jit.ErrorCode(err)]
	}
	if !blocks[field] {
		field = fallback
	}
	msg := a.errorText(ctx, action, id, err)
	if jit.ErrorCode(err) == jit.ECodeKeyRequired {
		msg = "This resource issues a password encrypted to your key: run `jit login` once to register one, then try again."
	}
	// Slack shows plain text under the input; links and escapes would be
	// shown raw.
	msg = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(unlink(msg))
	return map[string]string{field: truncate(msg, 500)}
}

// unlink turns mrkdwn links <url|label> into their label.
func unlink(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "<")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], ">")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		inner := s[i+1 : i+j]
		if k := strings.LastIndex(inner, "|"); k >= 0 {
			inner = inner[k+1:]
		}
		b.WriteString(inner)
		s = s[i+j+1:]
	}
}

// viewOnce makes a view's submission take effect once: Slack may deliver
// a submission again (a retry after a slow answer), and a second Submit
// would file a second request. The first submission's answer is kept for
// a while and given to repeats; a repeat arriving while the first runs
// waits for it. It lives in the process, like the Verifier's memory.
type viewOnce struct {
	clock jit.Clock
	mu    sync.Mutex
	done  map[string]*viewResult
}

type viewResult struct {
	ready chan struct{}
	resp  *slack.ViewSubmissionResponse
	until time.Time
}

func newViewOnce(clock jit.Clock) *viewOnce {
	return &viewOnce{clock: clock, done: map[string]*viewResult{}}
}

// do runs fn once per key (while its answer is remembered) and returns
// its answer. Answers that are errors are not remembered: correcting a
// field and submitting again must work.
func (v *viewOnce) do(key string, fn func() *slack.ViewSubmissionResponse) *slack.ViewSubmissionResponse {
	v.mu.Lock()
	now := v.clock.Now()
	for k, r := range v.done {
		if r.resp != nil && now.After(r.until) {
			delete(v.done, k)
		}
	}
	if r, ok := v.done[key]; ok && key != "" {
		v.mu.Unlock()
		<-r.ready
		if r.resp != nil {
			return r.resp
		}
		return fn()
	}
	r := &viewResult{ready: make(chan struct{})}
	if key != "" {
		v.done[key] = r
	}
	v.mu.Unlock()
	resp := fn()
	v.mu.Lock()
	if resp.ResponseAction == slack.RAErrors {
		delete(v.done, key)
	} else {
		r.resp, r.until = resp, now.Add(15*time.Minute)
	}
	v.mu.Unlock()
	close(r.ready)
	return resp
}
