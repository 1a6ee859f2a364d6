package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/workflow"
)

// interaction answers Slack's interactivity requests: clicks on buttons
// and selects (block_actions) and modal submissions (view_submission).
func (a *App) interaction(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(r.PostForm.Get("payload")), &cb); err != nil {
		a.log.WarnContext(r.Context(), "slack interaction payload unreadable", "err", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	team := cb.Team.ID
	if team == "" {
		team = cb.User.TeamID
	}
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		a.blockActions(w, r, team, cb)
	case slack.InteractionTypeViewSubmission:
		a.viewSubmission(w, r, team, cb)
	default:
		// view_closed and the kinds jit does not use: acknowledged.
		w.WriteHeader(http.StatusOK)
	}
}

// blockActions handles a click. Slack wants the HTTP answer within three
// seconds and takes no message in it: actions that open a modal do so
// first (their trigger expires in three seconds), the others are answered
// at once and carried out afterwards, their outcome sent to the response
// URL as a message only the clicker sees.
func (a *App) blockActions(w http.ResponseWriter, r *http.Request, team string, cb slack.InteractionCallback) {
	if len(cb.ActionCallback.BlockActions) == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	act := cb.ActionCallback.BlockActions[0]
	id := strings.TrimSpace(act.Value)
	switch act.ActionID {
	case actApprove, actCancel, actRelinquish:
		w.WriteHeader(http.StatusOK)
		a.later(r.Context(), func(ctx context.Context) {
			ctx, _, err := a.identify(ctx, team, cb.User.ID)
			if err != nil {
				a.respond(ctx, cb.ResponseURL, a.identifyFailure(ctx, err, cb.User.ID))
				return
			}
			var rep reply
			switch act.ActionID {
			case actApprove:
				rep = a.approve(ctx, id)
			case actCancel:
				rep = a.cancel(ctx, id)
			case actRelinquish:
				rep = a.relinquish(ctx, id)
			}
			a.respond(ctx, cb.ResponseURL, rep)
		})
		return
	case actDeny, actExtend, actRequestAgain, actResource:
		ctx, _, err := a.identify(r.Context(), team, cb.User.ID)
		if err != nil {
			w.WriteHeader(http.StatusOK)
			a.later(r.Context(), func(ctx context.Context) {
				a.respond(ctx, cb.ResponseURL, a.identifyFailure(ctx, err, cb.User.ID))
			})
			return
		}
		var rep reply
		var ok bool
		switch act.ActionID {
		case actDeny:
			rep, ok = a.openDeny(ctx, cb.TriggerID, id)
		case actExtend:
			rep, ok = a.openExtend(ctx, cb.TriggerID, id)
		case actRequestAgain:
			rep, ok = a.openRequestAgain(ctx, cb.TriggerID, id)
		case actResource:
			a.resourceChosen(ctx, cb, act)
			ok = true
		}
		w.WriteHeader(http.StatusOK)
		if !ok {
			a.later(r.Context(), func(ctx context.Context) { a.respond(ctx, cb.ResponseURL, rep) })
		}
	default:
		// actOpen is a link button: Slack opens the page and tells the
		// app, which has nothing to do.
		w.WriteHeader(http.StatusOK)
	}
}

// approve is the Approve button: the service decides whether the clicker
// may approve (a click by anyone else is refused there). For a step-up
// rule the click approves nothing and links to the web app instead.
func (a *App) approve(ctx context.Context, id string) reply {
	req, err := a.svc.Get(ctx, id)
	if err != nil {
		return a.errorReply(ctx, "approve", id, err)
	}
	if a.stepUp(req) {
		return ephemeral(fmt.Sprintf("Requests under rule *%s* are approved in the web app, after signing in there: %s",
			esc(req.Rule), link(a.requestURL(id), "open "+id)))
	}
	res, err := a.svc.Approve(ctx, id, "")
	if err != nil {
		return a.errorReply(ctx, "approve", id, err)
	}
	text := fmt.Sprintf("You approved %s (%d of %d approvals).", link(a.requestURL(id), id), res.ApprovalCount(), res.ApprovalsRequired)
	if res.Status != jit.StatusPending {
		text += " Access is being granted."
	}
	return ephemeral(text)
}

func (a *App) cancel(ctx context.Context, id string) reply {
	res, err := a.svc.Cancel(ctx, id)
	if err != nil {
		return a.errorReply(ctx, "cancel", id, err)
	}
	return ephemeral(fmt.Sprintf("You cancelled %s for %s.", link(a.requestURL(id), id), what(res)))
}

func (a *App) relinquish(ctx context.Context, id string) reply {
	res, err := a.svc.Relinquish(ctx, id)
	if err != nil {
		return a.errorReply(ctx, "relinquish", id, err)
	}
	return ephemeral(fmt.Sprintf("You relinquished your access to %s (%s); it is being removed.", what(res), link(a.requestURL(id), id)))
}

// openDeny opens the modal asking an approver why they deny.
func (a *App) openDeny(ctx context.Context, triggerID, id string) (reply, bool) {
	req, err := a.svc.Get(ctx, id)
	if err != nil {
		return a.errorReply(ctx, "deny", id, err), false
	}
	if req.Status != jit.StatusPending {
		return ephemeral(fmt.Sprintf("Nothing to do: %s is %s (%s).", link(a.requestURL(id), id), req.Status, statusWords(req))), false
	}
	if _, err := a.api.OpenViewContext(ctx, triggerID, denyModal(req)); err != nil {
		a.log.ErrorContext(ctx, "slack views.open failed", "err", err)
		return ephemeral(tryAgainText), false
	}
	return reply{}, true
}

// openExtend opens the modal asking how much longer.
func (a *App) openExtend(ctx context.Context, triggerID, id string) (reply, bool) {
	req, err := a.svc.Get(ctx, id)
	if err != nil {
		return a.errorReply(ctx, "extend", id, err), false
	}
	if req.Status != jit.StatusActive {
		return ephemeral(fmt.Sprintf("Nothing to extend: %s is %s (%s).", link(a.requestURL(id), id), req.Status, statusWords(req))), false
	}
	if _, err := a.api.OpenViewContext(ctx, triggerID, extendModal(req)); err != nil {
		a.log.ErrorContext(ctx, "slack views.open failed", "err", err)
		return ephemeral(tryAgainText), false
	}
	return reply{}, true
}

// openRequestAgain opens the request modal filled in like request id.
func (a *App) openRequestAgain(ctx context.Context, triggerID, id string) (reply, bool) {
	req, err := a.svc.Get(ctx, id)
	if err != nil {
		return a.errorReply(ctx, "request again", id, err), false
	}
	return a.openRequestModal(ctx, triggerID, requestForm{Resource: req.Resource, Access: req.Access,
		Duration: policy.FormatDuration(req.Duration), Reason: req.Reason, Query: req.Query})
}

// resourceChosen updates the request modal for the chosen resource: its
// access levels, limits and whether it takes a query. What was typed in
// the other inputs is kept.
func (a *App) resourceChosen(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	if cb.View.ID == "" || cb.View.CallbackID != cbRequest {
		return
	}
	offers, err := a.svc.Offers(ctx)
	if err != nil {
		a.log.ErrorContext(ctx, "slack request modal: offers", "err", err)
		return
	}
	st := cb.View.State
	f := requestForm{Offers: offers, Resource: act.SelectedOption.Value, Access: stateValue(st, fAccess),
		Duration: stateValue(st, fDuration), Reason: stateValue(st, fReason), Query: stateValue(st, fQuery)}
	if _, err := a.api.UpdateViewContext(ctx, requestModal(f), "", cb.View.Hash, cb.View.ID); err != nil {
		// hash_conflict: the modal changed meanwhile (another choice);
		// the later update wins.
		a.log.WarnContext(ctx, "slack views.update failed", "err", err)
	}
}

// viewSubmission handles a submitted modal. The answer, in the HTTP
// response, either shows errors under the inputs (response_action
// "errors", from the refusal's field) or replaces the modal with what
// became of it.
func (a *App) viewSubmission(w http.ResponseWriter, r *http.Request, team string, cb slack.InteractionCallback) {
	fallback := map[string]string{cbRequest: fResource, cbDeny: fReason, cbExtend: fDuration}[cb.View.CallbackID]
	if fallback == "" {
		writeJSON(w, slack.NewClearViewSubmissionResponse())
		return
	}
	ctx, _, err := a.identify(r.Context(), team, cb.User.ID)
	if err != nil {
		msg := unknownPersonText
		if !errors.Is(err, errUnknownUser) {
			a.log.ErrorContext(ctx, "slack user lookup failed", "slack_user", cb.User.ID, "err", err)
			msg = tryAgainText
		}
		writeJSON(w, slack.NewErrorsViewSubmissionResponse(map[string]string{fallback: msg}))
		return
	}
	resp := a.views.do(cb.View.ID, func() *slack.ViewSubmissionResponse {
		switch cb.View.CallbackID {
		case cbRequest:
			return a.submitRequest(ctx, cb.View)
		case cbDeny:
			return a.submitDeny(ctx, cb.View)
		default:
			return a.submitExtend(ctx, cb.View)
		}
	})
	writeJSON(w, resp)
}

func (a *App) submitRequest(ctx context.Context, v slack.View) *slack.ViewSubmissionResponse {
	st := v.State
	in := workflow.SubmitInput{Resource: stateValue(st, fResource), Access: stateValue(st, fAccess),
		Reason: stateValue(st, fReason), Query: stateValue(st, fQuery)}
	if in.Resource == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{fResource: "Choose a resource."})
	}
	d, err := policy.ParseDuration(stateValue(st, fDuration))
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(a.fieldErrors(ctx, "submit", "", err, v, fDuration))
	}
	in.Duration = d
	req, err := a.svc.Submit(ctx, in)
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(a.fieldErrors(ctx, "submit", "", err, v, fResource))
	}
	text := fmt.Sprintf("Request %s for %s is filed.", link(a.requestURL(req.ID), req.ID), what(req))
	if req.Status == jit.StatusPending {
		text += fmt.Sprintf(" It needs %d approval(s) from %s; I'll message you when it is decided.",
			req.ApprovalsRequired, esc(approverWords(req.Approvers)))
	} else {
		text += " It was approved automatically; access is being granted."
	}
	return slack.NewUpdateViewSubmissionResponse(doneModal("Request filed", text))
}

func (a *App) submitDeny(ctx context.Context, v slack.View) *slack.ViewSubmissionResponse {
	id := v.PrivateMetadata
	req, err := a.svc.Deny(ctx, id, stateValue(v.State, fReason))
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(a.fieldErrors(ctx, "deny", id, err, v, fReason))
	}
	return slack.NewUpdateViewSubmissionResponse(doneModal("Request denied",
		fmt.Sprintf("You denied %s: %s for %s.", link(a.requestURL(id), id), esc(req.Requester), what(req))))
}

func (a *App) submitExtend(ctx context.Context, v slack.View) *slack.ViewSubmissionResponse {
	id := v.PrivateMetadata
	d, err := policy.ParseDuration(stateValue(v.State, fDuration))
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(a.fieldErrors(ctx, "extend", id, err, v, fDuration))
	}
	ext, err := a.svc.Extend(ctx, id, workflow.ExtendInput{Duration: d, Reason: stateValue(v.State, fReason)})
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(a.fieldErrors(ctx, "extend", id, err, v, fDuration))
	}
	text := fmt.Sprintf("Extension %s of %s is filed.", link(a.requestURL(ext.ID), ext.ID), link(a.requestURL(id), id))
	if ext.Status == jit.StatusPending {
		text += fmt.Sprintf(" It needs %d approval(s) from %s.", ext.ApprovalsRequired, esc(approverWords(ext.Approvers)))
	} else {
		text += " It was approved automatically."
	}
	return slack.NewUpdateViewSubmissionResponse(doneModal("Extension filed", text))
}
