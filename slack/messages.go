package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
)

// Action IDs of the buttons and selects jit puts in messages and modals.
// They are part of the messages already posted, so they never change.
const (
	actApprove      = "jit_approve"
	actDeny         = "jit_deny"
	actCancel       = "jit_cancel"
	actRelinquish   = "jit_relinquish"
	actExtend       = "jit_extend"
	actRequestAgain = "jit_request_again"
	actOpen         = "jit_open"
	// actResource is the resource select of the request modal; choosing
	// one updates the modal with that resource's access levels.
	actResource = "jit_resource"
)

// Slack's limits: a section's text, a button's text, an option's text.
const (
	maxSectionText = 3000
	maxButtonText  = 75
	maxOptionText  = 75
)

// esc makes s safe inside mrkdwn: Slack reads <...> as links and
// mentions (<!channel>), and & starts an entity.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// quote renders free text (a reason) as a mrkdwn block quote.
func quote(s string) string {
	lines := strings.Split(esc(truncate(strings.TrimSpace(s), 1500)), "\n")
	return ">" + strings.Join(lines, "\n>")
}

// when renders t as Slack's date token, which each reader sees in their
// own time zone, with UTC as the fallback text.
func when(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(truncate(s, maxSectionText)), nil, nil)
}

func contextLine(s string) *slack.ContextBlock {
	return slack.NewContextBlock("", mrkdwn(truncate(s, maxSectionText)))
}

func button(actionID, value, text string, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(truncate(text, maxButtonText)))
	if style != "" {
		b = b.WithStyle(style)
	}
	return b
}

// link is a mrkdwn link; the URL is ours, the label escaped.
func link(url, label string) string { return "<" + url + "|" + esc(label) + ">" }

// approverWords says who may approve, in words.
func approverWords(as []string) string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		switch {
		case a == "peers":
			out = append(out, "peers")
		case strings.HasPrefix(a, "group:"):
			out = append(out, "group "+strings.TrimPrefix(a, "group:"))
		case strings.HasPrefix(a, "user:"):
			out = append(out, strings.TrimPrefix(a, "user:"))
		default:
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return "nobody (approved automatically)"
	}
	return strings.Join(out, ", ")
}

// what says what r asks for: "demo-app (user) for 1h".
func what(r *jit.Request) string {
	s := "*" + esc(r.Resource) + "*"
	if r.Access != "" {
		s += " (" + esc(r.Access) + ")"
	}
	return s + " for " + policy.FormatDuration(r.Duration)
}

// byWhom is " by X" for a person, "" for jit itself.
func byWhom(actor string) string {
	if actor == "" || actor == jit.SystemActor {
		return ""
	}
	return " by " + esc(actor)
}

func withReason(s, reason string) string {
	if reason = strings.TrimSpace(reason); reason != "" {
		return s + ": " + esc(truncate(reason, 500))
	}
	return s
}

// statusWords says where r is, in words.
func statusWords(r *jit.Request) string {
	switch r.Status {
	case jit.StatusPending:
		return fmt.Sprintf("Waiting for approval (%d of %d)", r.ApprovalCount(), r.ApprovalsRequired)
	case jit.StatusApproved:
		return "Approved; access is being granted"
	case jit.StatusGranting:
		return "Access is being granted"
	case jit.StatusActive:
		if r.ExpiresAt != nil {
			return "Active until " + when(*r.ExpiresAt)
		}
		return "Active"
	case jit.StatusRevoking:
		return withReason("Ending"+byWhom(r.EndedBy), r.EndReason) + "; access is being removed"
	case jit.StatusExpired:
		return "Expired"
	case jit.StatusRelinquished:
		return "Relinquished" + byWhom(r.EndedBy)
	case jit.StatusRevoked:
		return withReason("Revoked"+byWhom(r.EndedBy), r.EndReason)
	case jit.StatusDenied:
		return withReason("Denied"+byWhom(r.EndedBy), r.EndReason)
	case jit.StatusCancelled:
		return withReason("Cancelled"+byWhom(r.EndedBy), r.EndReason)
	case jit.StatusLapsed:
		return "Lapsed: nobody decided in time"
	case jit.StatusFailed:
		return withReason("Failed", r.EndReason)
	}
	return string(r.Status)
}

// approvalMessage is the message in the approvers' channel: what is asked
// and why, who may approve, where the request stands, and while it is
// pending the Approve and Deny buttons.
func (a *App) approvalMessage(r *jit.Request) (string, []slack.Block) {
	title := "Access request"
	if r.ExtendsID != "" {
		title = "Extension request"
	}
	text := fmt.Sprintf("%s: %s asks for %s", title, esc(r.Requester), what(r))
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(title)),
		section(fmt.Sprintf("*%s* asks for %s", esc(r.Requester), what(r))),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*Request*\n" + link(a.requestURL(r.ID), r.ID)),
			mrkdwn("*Rule*\n" + esc(r.Rule)),
			mrkdwn(fmt.Sprintf("*Approvers*\n%s (%d of %d)", esc(approverWords(r.Approvers)), r.ApprovalCount(), r.ApprovalsRequired)),
			mrkdwn("*Status*\n" + truncate(statusWords(r), 1900)),
		}, nil),
	}
	if r.ExtendsID != "" {
		blocks = append(blocks, contextLine("Extends "+link(a.requestURL(r.ExtendsID), r.ExtendsID)))
	}
	if strings.TrimSpace(r.Reason) != "" {
		blocks = append(blocks, section("*Reason*\n"+quote(r.Reason)))
	} else {
		blocks = append(blocks, section("*Reason*\n_none given_"))
	}
	if r.Target != "" {
		t := "*Target*\n`" + esc(truncate(strings.ReplaceAll(r.Target, "`", "'"), 500)) + "`"
		if r.TargetSummary != "" {
			t += "\n" + esc(truncate(r.TargetSummary, 1500))
		}
		blocks = append(blocks, section(t))
	}
	if r.SSHPublicKey != "" {
		blocks = append(blocks, section("*SSH key*\n`"+esc(jit.SSHKeyFingerprint(r.SSHPublicKey))+"`"))
	}
	if r.Query != "" {
		q := strings.ReplaceAll(truncate(r.Query, 2500), "```", "` ` `")
		blocks = append(blocks, section("*Query*\n```"+esc(q)+"```"))
	}
	if len(r.Privileges) > 0 {
		ps := make([]string, len(r.Privileges))
		for i, p := range r.Privileges {
			ps[i] = "• " + esc(p.String())
		}
		blocks = append(blocks, section("*Privileges*\n"+strings.Join(ps, "\n")))
	}
	var decided []string
	for _, ap := range r.Approvals {
		line := "Approved by " + esc(ap.Approver)
		if !ap.Approved {
			line = "Denied by " + esc(ap.Approver)
		}
		if c := strings.TrimSpace(ap.Comment); c != "" {
			line += ": " + esc(truncate(c, 300))
		}
		decided = append(decided, line+" · "+when(ap.At))
	}
	if len(decided) > 0 {
		blocks = append(blocks, contextLine(strings.Join(decided, "\n")))
	}
	if r.Status == jit.StatusPending {
		approve := button(actApprove, r.ID, "Approve", slack.StylePrimary)
		deny := button(actDeny, r.ID, "Deny", slack.StyleDanger)
		open := button(actOpen, r.ID, "Open in jit", "")
		open.URL = a.requestURL(r.ID)
		blocks = append(blocks, slack.NewActionBlock("jit_decide", approve, deny, open))
		if a.stepUp(r) {
			blocks = append(blocks, contextLine("Rule *"+esc(r.Rule)+"* needs approval in the web app: Approve leads there."))
		}
	}
	return text, blocks
}

// dm is a direct message to a requester.
type dm struct {
	text   string
	blocks []slack.Block
}

// requesterDM is the message telling the requester about n, or false when
// n is nothing they need to hear about (their approval message in the
// channel is updated in any case).
func (a *App) requesterDM(n jit.Notification) (dm, bool) {
	r := &n.Request
	ref := link(a.requestURL(r.ID), r.ID)
	open := button(actOpen, r.ID, "Open in jit", "")
	open.URL = a.requestURL(r.ID)
	again := button(actRequestAgain, r.ID, "Request again", "")
	var text string
	var buttons []slack.BlockElement
	switch n.Action {
	case jit.ActionSubmit, jit.ActionExtend:
		kind := "request"
		if r.ExtendsID != "" {
			kind = "extension request"
		}
		switch r.Status {
		case jit.StatusPending:
			text = fmt.Sprintf("Your %s %s for %s is filed. It needs %d approval(s) from %s.",
				kind, ref, what(r), r.ApprovalsRequired, esc(approverWords(r.Approvers)))
			buttons = []slack.BlockElement{button(actCancel, r.ID, "Cancel request", ""), open}
		case jit.StatusApproved:
			text = fmt.Sprintf("Your %s %s for %s was approved automatically; access is being granted.", kind, ref, what(r))
		default:
			return dm{}, false
		}
	case jit.ActionGrant:
		if r.Status != jit.StatusActive || r.ExpiresAt == nil {
			return dm{}, false
		}
		by := "automatically"
		var approvers []string
		for _, ap := range r.Approvals {
			if ap.Approved {
				approvers = append(approvers, esc(ap.Approver))
			}
		}
		if len(approvers) > 0 {
			by = "by " + strings.Join(approvers, ", ")
		}
		text = fmt.Sprintf("Your access to %s is active until %s (approved %s, %s).", what(r), when(*r.ExpiresAt), by, ref)
		buttons = []slack.BlockElement{button(actRelinquish, r.ID, "Relinquish", ""), button(actExtend, r.ID, "Extend", ""), open}
	case jit.ActionDeny:
		text = withReason(fmt.Sprintf("Your request %s for %s was denied%s", ref, what(r), byWhom(n.Actor)), n.Reason) + "."
		buttons = []slack.BlockElement{again}
	case jit.ActionGrantFailed:
		text = withReason(fmt.Sprintf("jit could not grant your access %s to %s", ref, what(r)), firstNonEmpty(n.Reason, r.EndReason)) + "."
		buttons = []slack.BlockElement{again, open}
	case jit.ActionLapse:
		text = fmt.Sprintf("Your request %s for %s lapsed: nobody decided in time.", ref, what(r))
		buttons = []slack.BlockElement{again}
	case jit.ActionCancel:
		if n.Actor == r.Requester {
			return dm{}, false
		}
		text = withReason(fmt.Sprintf("Your request %s for %s was cancelled%s", ref, what(r), byWhom(n.Actor)), n.Reason) + "."
		buttons = []slack.BlockElement{again}
	case jit.ActionExpire:
		text = fmt.Sprintf("Your access %s to %s expired.", ref, what(r))
		buttons = []slack.BlockElement{again}
	case jit.ActionRelinquish:
		text = fmt.Sprintf("Your access %s to %s was relinquished%s.", ref, what(r), byWhom(n.Actor))
		buttons = []slack.BlockElement{again}
	case jit.ActionRevoke:
		text = withReason(fmt.Sprintf("Your access %s to %s was revoked%s", ref, what(r), byWhom(n.Actor)), n.Reason) + "."
		buttons = []slack.BlockElement{again}
	case jit.ActionRemind:
		if r.ExpiresAt == nil {
			return dm{}, false
		}
		text = fmt.Sprintf("Your access %s to %s expires %s.", ref, what(r), when(*r.ExpiresAt))
		buttons = []slack.BlockElement{button(actExtend, r.ID, "Extend", slack.StylePrimary), button(actRelinquish, r.ID, "Relinquish now", "")}
	default:
		return dm{}, false
	}
	blocks := []slack.Block{section(text)}
	if r.Reason != "" && (n.Action == jit.ActionSubmit || n.Action == jit.ActionExtend) {
		blocks = append(blocks, contextLine("Reason: "+esc(truncate(r.Reason, 500))))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("jit_dm", buttons...))
	}
	return dm{text: text, blocks: blocks}, true
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// listMessage is the answer to a bare /jit: the caller's requests that
// are still open, each with what can be done about it.
func (a *App) listMessage(reqs []*jit.Request, more bool) (string, []slack.Block) {
	if len(reqs) == 0 {
		text := "You have no pending or active access. `/jit request` asks for some."
		return text, []slack.Block{section(text)}
	}
	text := "Your pending and active access:"
	blocks := []slack.Block{section("*" + text + "*")}
	for _, r := range reqs {
		line := fmt.Sprintf("%s %s — %s", link(a.requestURL(r.ID), r.ID), what(r), statusWords(r))
		blocks = append(blocks, section(line))
		switch r.Status {
		case jit.StatusActive:
			blocks = append(blocks, slack.NewActionBlock("", button(actRelinquish, r.ID, "Relinquish", ""), button(actExtend, r.ID, "Extend", "")))
		case jit.StatusPending, jit.StatusApproved:
			blocks = append(blocks, slack.NewActionBlock("", button(actCancel, r.ID, "Cancel request", "")))
		}
	}
	if more {
		blocks = append(blocks, contextLine("There are more; the web app lists them all: "+link(a.baseURL+"/", a.baseURL)))
	}
	return text, blocks
}

// approvalsMessage is the answer to /jit approvals: requests waiting for
// the caller's decision.
func (a *App) approvalsMessage(reqs []*jit.Request, more bool) (string, []slack.Block) {
	if len(reqs) == 0 {
		text := "Nothing is waiting for your approval."
		return text, []slack.Block{section(text)}
	}
	text := "Waiting for your approval:"
	blocks := []slack.Block{section("*" + text + "*")}
	for _, r := range reqs {
		line := fmt.Sprintf("%s *%s* asks for %s", link(a.requestURL(r.ID), r.ID), esc(r.Requester), what(r))
		if strings.TrimSpace(r.Reason) != "" {
			line += "\n" + quote(truncate(r.Reason, 300))
		}
		blocks = append(blocks, section(line), slack.NewActionBlock("",
			button(actApprove, r.ID, "Approve", slack.StylePrimary), button(actDeny, r.ID, "Deny", slack.StyleDanger)))
	}
	if more {
		blocks = append(blocks, contextLine("There are more: "+link(a.baseURL+"/approvals", "approvals in the web app")))
	}
	return text, blocks
}

const helpText = "*jit* gives you time-limited access, approved by the right people.\n" +
	"• `/jit` — your pending and active access\n" +
	"• `/jit request [resource]` — ask for access\n" +
	"• `/jit approvals` — requests waiting for your approval\n" +
	"• `/jit help` — this help"
