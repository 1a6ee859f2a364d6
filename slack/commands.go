package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/workflow"
)

// Texts shown to people jit cannot serve.
const (
	unknownPersonText = "I don't know who you are in jit: your Slack account has no email that jit can see. Ask your Slack or jit admin."
	tryAgainText      = "jit could not do that right now. Please try again in a moment."
)

// reply is an answer to a slash command or a message for a response URL.
type reply struct {
	ResponseType    string        `json:"response_type,omitempty"`
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
	ReplaceOriginal bool          `json:"replace_original,omitempty"`
}

func ephemeral(text string, blocks ...slack.Block) reply {
	if len(blocks) == 0 {
		blocks = []slack.Block{section(text)}
	}
	return reply{ResponseType: "ephemeral", Text: text, Blocks: blocks}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// command answers the /jit slash command. Slack waits three seconds for
// the answer, which is an ephemeral message to the person who typed it.
func (a *App) command(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f := r.PostForm
	if f.Get("ssl_check") == "1" {
		// Slack checking the certificate: no command to run.
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, _, err := a.identify(r.Context(), f.Get("team_id"), f.Get("user_id"))
	if err != nil {
		writeJSON(w, a.identifyFailure(r.Context(), err, f.Get("user_id")))
		return
	}
	args := strings.Fields(f.Get("text"))
	sub := ""
	if len(args) > 0 {
		sub = strings.ToLower(args[0])
	}
	switch sub {
	case "", "list", "ls":
		writeJSON(w, a.myAccess(ctx))
	case "help":
		writeJSON(w, ephemeral(helpText))
	case "approvals", "pending":
		writeJSON(w, a.myApprovals(ctx))
	case "request", "req":
		resource := ""
		if len(args) > 1 {
			resource = args[1]
		}
		if rep, ok := a.openRequestModal(ctx, f.Get("trigger_id"), requestForm{Resource: resource, Duration: "1h"}); !ok {
			writeJSON(w, rep)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeJSON(w, ephemeral("I don't know `"+esc(truncate(sub, 40))+"`.\n"+helpText))
	}
}

// identifyFailure is the answer to someone jit cannot identify.
func (a *App) identifyFailure(ctx context.Context, err error, userID string) reply {
	if errors.Is(err, errUnknownUser) {
		a.log.InfoContext(ctx, "slack user unknown to jit", "slack_user", userID)
		return ephemeral(unknownPersonText)
	}
	a.log.ErrorContext(ctx, "slack user lookup failed", "slack_user", userID, "err", err)
	return ephemeral(tryAgainText)
}

// listLimit is how many requests a list in Slack shows.
const listLimit = 20

// myAccess lists the caller's requests that are still open.
func (a *App) myAccess(ctx context.Context) reply {
	page, err := a.svc.List(ctx, workflow.ListInput{Scope: workflow.ScopeMine, Limit: listLimit,
		Statuses: []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting, jit.StatusActive, jit.StatusRevoking}})
	if err != nil {
		return a.errorReply(ctx, "list", "", err)
	}
	text, blocks := a.listMessage(page.Items, page.Next != "")
	return ephemeral(text, blocks...)
}

// myApprovals lists the requests waiting for the caller's decision.
func (a *App) myApprovals(ctx context.Context) reply {
	page, err := a.svc.List(ctx, workflow.ListInput{Scope: workflow.ScopePending, Limit: listLimit})
	if err != nil {
		return a.errorReply(ctx, "list approvals", "", err)
	}
	text, blocks := a.approvalsMessage(page.Items, page.Next != "")
	return ephemeral(text, blocks...)
}

// errorReply turns a refusal into words for the person who clicked or
// typed; internal errors are logged and answered with "try again".
func (a *App) errorReply(ctx context.Context, action, id string, err error) reply {
	return ephemeral(a.errorText(ctx, action, id, err))
}

func (a *App) errorText(ctx context.Context, action, id string, err error) string {
	ref := "this request"
	if id != "" {
		ref = "request " + link(a.requestURL(id), id)
	}
	switch code := jit.ErrorCode(err); code {
	case jit.ECodeAlreadyApproved:
		return "You have already approved " + ref + ". Nothing more to do."
	case jit.ECodeNotApprover, jit.ECodeSelfApproval:
		return "You can't " + verbOf(action) + " " + ref + ": " + esc(jit.ErrorMessage(err))
	case jit.ECodeNotFound:
		if action == "approve" || action == "deny" {
			// The service hides a request from those who may not decide
			// it, exactly as if it did not exist.
			return "You can't " + action + " " + ref + ": you are not one of its approvers."
		}
		return "jit has no " + ref + " that you can see."
	case jit.ECodeInvalidState:
		if id != "" {
			if r, gerr := a.svc.Get(ctx, id); gerr == nil {
				return "Nothing to do: " + ref + " is " + string(r.Status) + " (" + statusWords(r) + ")."
			}
		}
		return "Nothing to do: " + esc(jit.ErrorMessage(err))
	case jit.ECodeInternal, jit.ECodeUnavailable, jit.ECodeConflict:
		a.log.ErrorContext(ctx, "slack action failed", "action", action, "request", id, "code", code, "err", err)
		return tryAgainText
	default:
		return esc(jit.ErrorMessage(err))
	}
}

// respond sends rep through a response URL (for buttons, where Slack
// takes no answer in the HTTP response).
func (a *App) respond(ctx context.Context, responseURL string, rep reply) {
	if responseURL == "" {
		return
	}
	if !a.responseURLAllowed(responseURL) {
		a.log.WarnContext(ctx, "slack response url is not Slack's; not answered")
		return
	}
	if rep.ResponseType == "" {
		rep.ResponseType = "ephemeral"
	}
	b := slack.Blocks{BlockSet: rep.Blocks}
	msg := &slack.WebhookMessage{Text: rep.Text, ResponseType: rep.ResponseType, ReplaceOriginal: rep.ReplaceOriginal}
	if len(rep.Blocks) > 0 {
		msg.Blocks = &b
	}
	if err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, a.http, msg); err != nil {
		a.log.WarnContext(ctx, "slack response url failed", "err", err)
	}
}

func verbOf(action string) string {
	if action == "deny" {
		return "deny"
	}
	return "approve"
}

// responseURLAllowed reports whether u is a Slack response URL (or on the
// test API of Config.APIURL). The URL comes from a verified payload; the
// check keeps jitd from posting anywhere else even if the signing secret
// leaked.
func (a *App) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" && (host == "slack.com" || strings.HasSuffix(host, ".slack.com") ||
		host == "slack-gov.com" || strings.HasSuffix(host, ".slack-gov.com")) {
		return true
	}
	if a.cfg.APIURL != "" {
		api, err := url.Parse(a.cfg.APIURL)
		return err == nil && u.Scheme == api.Scheme && strings.EqualFold(u.Host, api.Host)
	}
	return false
}
