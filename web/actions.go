package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/workflow"
)

// notices are the confirmations an action leaves for the next page, by the
// key in its ?notice= parameter: fixed texts, so that nothing from the
// URL is shown but a request ID.
var notices = map[string]string{
	"submitted":    "Request filed:",
	"approved":     "You approved",
	"denied":       "You denied",
	"cancelled":    "You cancelled",
	"relinquished": "You relinquished",
	"revoked":      "You revoked",
	"extended":     "Extension requested:",
}

func noticeFrom(r *http.Request) *notice {
	q := r.URL.Query()
	text, ok := notices[q.Get("notice")]
	if !ok {
		return nil
	}
	id := q.Get("id")
	if !validID(id) {
		id = ""
	}
	return &notice{Text: text, ID: id}
}

// withNotice returns the local path ret with the notice parameters set.
func withNotice(ret, key, id string) string {
	u, err := url.Parse(safeReturn(ret))
	if err != nil {
		return "/"
	}
	q := u.Query()
	q.Set("notice", key)
	q.Set("id", id)
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.RequestURI()
}

// submit files a request from the Access page's form.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	form := requestForm{Open: true, Resource: strings.TrimSpace(f.Get("resource")), Access: strings.TrimSpace(f.Get("access")),
		Duration: strings.TrimSpace(f.Get("duration")), Reason: f.Get("reason"), Query: f.Get("query"),
		Target: strings.TrimSpace(f.Get("target")), SSHKey: strings.TrimSpace(f.Get("ssh_public_key"))}
	fail := func(err error) {
		if code := jit.ErrorCode(err); code == jit.ECodeInternal || code == jit.ECodeUnavailable {
			s.log.ErrorContext(r.Context(), "web submit failed", "code", code, "err", err.Error())
		}
		form.Errors = formErrorsFor(err, "resource", "access", "target", "ssh_public_key", "duration", "reason", "query")
		s.renderAccess(w, r, statusFor(jit.ErrorCode(err)), form, nil)
	}
	if form.Resource == "" {
		fail(jit.FieldErrorf("resource", jit.ECodeInvalid, "choose a resource"))
		return
	}
	d, err := policy.ParseDuration(form.Duration)
	if err != nil {
		fail(err)
		return
	}
	req, err := s.svc.Submit(r.Context(), workflow.SubmitInput{Resource: form.Resource, Access: form.Access, Duration: d,
		Reason: form.Reason, Query: form.Query, Target: form.Target, SSHPublicKey: form.SSHKey})
	if err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, withNotice("/", "submitted", req.ID), http.StatusSeeOther)
}

// act runs one action on a request (approve, deny, cancel, relinquish,
// revoke, extend) and goes back to the page it came from; a refusal is
// shown on that page next to the request's form.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if !validID(id) {
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "request %q not found", truncate(id, 128)))
		return
	}
	f := r.PostForm
	ctx := r.Context()
	values := map[string]string{"comment": f.Get("comment"), "reason": f.Get("reason"), "duration": strings.TrimSpace(f.Get("duration"))}
	var (
		res *jit.Request
		err error
		key string
	)
	switch action {
	case "approve":
		key = "approved"
		res, err = s.svc.Approve(ctx, id, f.Get("comment"))
	case "deny":
		key = "denied"
		res, err = s.svc.Deny(ctx, id, f.Get("reason"))
	case "cancel":
		key = "cancelled"
		res, err = s.svc.Cancel(ctx, id)
	case "relinquish":
		key = "relinquished"
		res, err = s.svc.Relinquish(ctx, id)
	case "revoke":
		key = "revoked"
		res, err = s.svc.Revoke(ctx, id, f.Get("reason"))
	case "extend":
		key = "extended"
		dur, derr := policy.ParseDuration(values["duration"])
		if derr != nil {
			err = derr
			break
		}
		res, err = s.svc.Extend(ctx, id, workflow.ExtendInput{Duration: dur, Reason: f.Get("reason")})
	default:
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "there is no action %q", truncate(action, 64)))
		return
	}
	ret := safeReturn(f.Get("return"))
	if err != nil {
		code := jit.ErrorCode(err)
		if code == jit.ECodeInternal || code == jit.ECodeUnavailable {
			s.log.ErrorContext(ctx, "web action failed", "action", action, "request", id, "code", code, "err", err.Error())
		}
		ae := &actionError{ID: id, Action: action, Errors: formErrorsFor(err, "comment", "reason", "duration"), Values: values}
		s.renderReturn(w, r, ret, statusFor(code), ae)
		return
	}
	http.Redirect(w, r, withNotice(ret, key, res.ID), http.StatusSeeOther)
}

// renderReturn renders the page at local path ret (as a GET of it would)
// with the failed action shown; the request's own page when ret is not one
// of the pages with request actions.
func (s *Server) renderReturn(w http.ResponseWriter, r *http.Request, ret string, status int, ae *actionError) {
	u, err := url.Parse(ret)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Del("notice")
	q.Del("id")
	u.RawQuery = q.Encode()
	g := r.Clone(r.Context())
	g.Method = http.MethodGet
	g.URL = u
	switch {
	case u.Path == "/":
		s.renderAccess(w, g, status, requestForm{Duration: "1h"}, ae)
	case u.Path == "/approvals":
		s.renderApprovals(w, g, status, ae)
	case u.Path == "/activity":
		s.renderActivity(w, g, status, ae)
	default:
		s.renderDetail(w, g, status, ae.ID, ae)
	}
}

// targets answers the request form's target field with the targets of a
// resource under a parent, as JSON ({"items": [...], "truncated": bool};
// {"error": message} with the refusal's status when refused), for the
// datalist the form's script fills.
func (s *Server) targets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	resp, err := s.svc.Targets(r.Context(), strings.TrimSpace(q.Get("resource")), q.Get("parent"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if err != nil {
		code := jit.ErrorCode(err)
		if code == jit.ECodeInternal || code == jit.ECodeUnavailable {
			s.log.ErrorContext(r.Context(), "web targets failed", "code", code, "err", err.Error())
		}
		w.WriteHeader(statusFor(code))
		_ = json.NewEncoder(w).Encode(map[string]string{"error": safeMessage(err)})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"items": resp.Targets, "truncated": resp.Truncated})
}
