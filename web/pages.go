package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/workflow"
)

// Status groups of the pages.
var (
	waitingStatuses = []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting}
	activeStatuses  = []jit.Status{jit.StatusActive, jit.StatusRevoking}
	openStatuses    = []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting, jit.StatusActive, jit.StatusRevoking}
	endedStatuses   = []jit.Status{jit.StatusExpired, jit.StatusRelinquished, jit.StatusRevoked, jit.StatusDenied,
		jit.StatusCancelled, jit.StatusLapsed, jit.StatusFailed}
)

// reqView is one request as a page shows it, with the actions the
// signed-in person may take on it: only those the service would accept.
type reqView struct {
	R             *jit.Request
	Requester     personView
	Left          string
	Approvals     []approvalView
	ApprovalsLeft int
	// CanApprove etc. mirror the service's checks, so that nobody is
	// shown a button the service would refuse.
	CanApprove, CanDeny, CanCancel, CanRelinquish, CanExtend, CanRevoke bool
	// Decision is the policy's decision on the request as it stands now
	// (the matched rule and its explanation), for approvers.
	Decision *policy.Decision
	// Failed is the action on this request that just failed, with its
	// errors and the values typed into its form.
	Failed *actionError
}

type approvalView struct {
	Who      personView
	Approved bool
	Comment  string
	At       time.Time
}

// actionError is an action on a request the service refused, to be shown
// next to that request's form.
type actionError struct {
	ID     string
	Action string
	Errors *formErrors
	Values map[string]string
}

// For returns the error about field of the failed action, or "".
func (a *actionError) For(action, field string) string {
	if a == nil || a.Action != action {
		return ""
	}
	return a.Errors.For(field)
}

// Value returns what was typed into field of the failed action.
func (a *actionError) Value(action, field string) string {
	if a == nil || a.Action != action {
		return ""
	}
	return a.Values[field]
}

// Message returns the failed action's summary, when it is that action.
func (a *actionError) Message(action string) string {
	if a == nil || a.Action != action {
		return ""
	}
	return a.Errors.Message
}

func (s *Server) view(p *policy.Policy, me jit.Identity, r *jit.Request, now time.Time, ae *actionError, decide bool) reqView {
	v := reqView{R: r, Requester: s.person(p, r.Requester)}
	if r.ExpiresAt != nil {
		v.Left = leftText(now, *r.ExpiresAt)
	}
	for _, a := range r.Approvals {
		v.Approvals = append(v.Approvals, approvalView{Who: s.person(p, a.Approver), Approved: a.Approved, Comment: a.Comment, At: a.At})
	}
	v.ApprovalsLeft = max(r.ApprovalsRequired-r.ApprovalCount(), 0)
	mine := me.Email == r.Requester
	approver := false
	if r.Status == jit.StatusPending || (r.Status == jit.StatusActive && !mine && !me.Admin) {
		approver = p.CheckApprover(me, r, now).OK
	}
	v.CanApprove = r.Status == jit.StatusPending && approver && !r.ApprovedBy(me.Email)
	v.CanDeny = r.Status == jit.StatusPending && approver
	v.CanCancel = mine && (r.Status == jit.StatusPending || r.Status == jit.StatusApproved)
	v.CanRelinquish = mine && r.Status == jit.StatusActive
	v.CanExtend = mine && r.Status == jit.StatusActive
	v.CanRevoke = r.Status == jit.StatusActive && (me.Admin || (!mine && approver))
	if decide {
		d := decisionFor(p, r)
		v.Decision = &d
	}
	if ae != nil && ae.ID == r.ID {
		v.Failed = ae
	}
	return v
}

// decisionFor decides r again as CheckApprover does (the requester as
// config knows them now with the groups they had at submit, at the submit
// time), for showing the rule and its explanation to approvers.
func decisionFor(p *policy.Policy, r *jit.Request) policy.Decision {
	requester := p.Identity(r.Requester)
	for _, g := range r.RequesterGroups {
		if !slices.Contains(requester.Groups, g) {
			requester.Groups = append(requester.Groups, g)
		}
	}
	return p.Decide(policy.RequestInput(requester, r))
}

func (s *Server) views(p *policy.Policy, me jit.Identity, rs []*jit.Request, ae *actionError, decide bool) []reqView {
	now := s.clock.Now()
	out := make([]reqView, len(rs))
	for i, r := range rs {
		out[i] = s.view(p, me, r, now, ae, decide)
	}
	return out
}

func me(r *http.Request) jit.Identity { return visitorFrom(r.Context()).id }

// ---- Access ----

type accessView struct {
	Pending, Active, History []reqView
	HistoryNext              string
	Offers                   []offerView
	Form                     requestForm
	Durations                []string
	// AllLevels are the levels of every offer, for the form without
	// script.
	AllLevels []string
}

// offerView is a resource the person may request, with what the form
// shows about it.
type offerView struct {
	policy.Offer
	TakesQuery    bool
	TakesTarget   bool
	TakesSSHKey   bool
	ApproversText string
}

type requestForm struct {
	Open                                                      bool
	Resource, Access, Duration, Reason, Query, Target, SSHKey string
	Errors                                                    *formErrors
	// Selected is the offer of Resource, when it is one.
	Selected *offerView
	Levels   []string
}

// durationChoices are suggested in the duration field, up to the rule's
// maximum.
var durationChoices = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour}

func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	form := requestForm{Resource: q.Get("resource"), Duration: "1h"}
	form.Open = form.Resource != ""
	s.renderAccess(w, r, http.StatusOK, form, nil)
}

func (s *Server) renderAccess(w http.ResponseWriter, r *http.Request, status int, form requestForm, ae *actionError) {
	ctx := r.Context()
	who := me(r)
	p := s.svc.Policy()
	list := func(sts []jit.Status, after string, limit int) (workflow.Page, error) {
		return s.svc.List(ctx, workflow.ListInput{Scope: workflow.ScopeMine, Statuses: sts, After: after, Limit: limit})
	}
	pending, err := list(waitingStatuses, "", 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	active, err := list(activeStatuses, "", 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	history, err := list(endedStatuses, r.URL.Query().Get("history"), 20)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	offers, err := s.svc.Offers(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	av := &accessView{
		Pending: s.views(p, who, pending.Items, ae, false), Active: s.views(p, who, active.Items, ae, false),
		History: s.views(p, who, history.Items, ae, false), HistoryNext: history.Next,
	}
	var longest time.Duration
	for _, o := range offers {
		ov := offerView{Offer: o, TakesQuery: takesQuery(p, o.Resource), TakesTarget: takesTarget(p, o.Resource), TakesSSHKey: takesSSHKey(p, o.Resource), ApproversText: approversText(o.Approvers)}
		av.Offers = append(av.Offers, ov)
		for _, l := range o.Access {
			if !slices.Contains(av.AllLevels, l) {
				av.AllLevels = append(av.AllLevels, l)
			}
		}
		if d, err := policy.ParseDuration(o.MaxDuration); err == nil && d > longest {
			longest = d
		}
	}
	for i := range av.Offers {
		if av.Offers[i].Resource == form.Resource {
			form.Selected = &av.Offers[i]
		}
	}
	form.Levels = av.AllLevels
	if form.Selected != nil {
		form.Levels = form.Selected.Access
		if d, err := policy.ParseDuration(form.Selected.MaxDuration); err == nil {
			longest = d
		}
	}
	for _, d := range durationChoices {
		if d <= longest {
			av.Durations = append(av.Durations, policy.FormatDuration(d))
		}
	}
	av.Form = form
	s.render(w, r, status, "access", &pageData{Title: "Access", Nav: "access", Live: true, Failed: ae, Path: "/" + keepQuery(r, "history"), Content: av})
}

// keepQuery returns "?k=v" of r's query for the named keys, or "".
func keepQuery(r *http.Request, names ...string) string {
	q := url.Values{}
	for _, n := range names {
		if v := r.URL.Query().Get(n); v != "" {
			q.Set(n, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// takesQuery reports whether a resource takes query-scoped requests: its
// provider scopes queries and its settings turn them on (the query
// setting of the postgres and mysql providers). The service decides in
// the end; a resource wrongly shown without the field only loses a hint.
func takesQuery(p *policy.Policy, resource string) bool {
	prov, ok := p.Provider(resource)
	if !ok {
		return false
	}
	if _, ok := provider.As[provider.Scoper](prov); !ok {
		return false
	}
	info, ok := p.Resource(resource)
	return ok && info.Settings["query"] != nil
}

// takesTarget reports whether a resource's requests name a target: its
// provider checks requests and lists targets to pick from (Kubernetes,
// Google Cloud).
func takesTarget(p *policy.Policy, resource string) bool {
	prov, ok := p.Provider(resource)
	if !ok {
		return false
	}
	_, ok = provider.As[provider.TargetLister](prov)
	return ok
}

// takesSSHKey reports whether a resource's grants are SSH certificates
// for the requester's key.
func takesSSHKey(p *policy.Policy, resource string) bool {
	prov, ok := p.Provider(resource)
	if !ok {
		return false
	}
	_, ok = provider.As[provider.CertificateAuthority](prov)
	return ok
}

// ---- Approvals ----

type approvalsView struct {
	Items []reqView
	Next  string
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request) {
	s.renderApprovals(w, r, http.StatusOK, nil)
}

func (s *Server) renderApprovals(w http.ResponseWriter, r *http.Request, status int, ae *actionError) {
	page, err := s.svc.List(r.Context(), workflow.ListInput{Scope: workflow.ScopePending, After: r.URL.Query().Get("after"), Limit: 50})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := page.Items
	if ae != nil && !slices.ContainsFunc(items, func(x *jit.Request) bool { return x.ID == ae.ID }) {
		// The request whose action failed may have left the list (someone
		// else decided it); show it with its error all the same.
		if x, err := s.svc.Get(r.Context(), ae.ID); err == nil {
			items = append([]*jit.Request{x}, items...)
		}
	}
	av := &approvalsView{Items: s.views(s.svc.Policy(), me(r), items, ae, true), Next: page.Next}
	s.render(w, r, status, "approvals", &pageData{Title: "Approvals", Nav: "approvals", Live: true, Failed: ae, Path: "/approvals" + keepQuery(r, "after"), Content: av})
}

// ---- Activity ----

type activityView struct {
	Items                    []reqView
	Next                     string
	Resource, Person, Status string
	Resources                []string
	Statuses                 []statusChoice
	Admin                    bool
	NextHref                 string
}

type statusChoice struct{ Value, Label string }

var activityStatuses = []statusChoice{
	{"open", "Pending and active"}, {"pending", "Pending"}, {"active", "Active"}, {"ended", "Ended"}, {"all", "All"},
}

func (s *Server) activity(w http.ResponseWriter, r *http.Request) {
	if who := me(r); !who.Admin && !s.svc.Policy().MayApprove(who) {
		// The page is for people who approve; the service would only
		// show such a person their own requests anyway.
		s.errorPage(w, r, http.StatusForbidden, jit.Errorf(jit.ECodeForbidden, "the activity page is for approvers and admins"))
		return
	}
	s.renderActivity(w, r, http.StatusOK, nil)
}

func (s *Server) renderActivity(w http.ResponseWriter, r *http.Request, status int, ae *actionError) {
	q := r.URL.Query()
	who := me(r)
	av := &activityView{Resource: strings.TrimSpace(q.Get("resource")), Person: strings.ToLower(strings.TrimSpace(q.Get("person"))),
		Status: q.Get("status"), Statuses: activityStatuses, Admin: who.Admin}
	in := workflow.ListInput{Scope: workflow.ScopeAll, Resource: av.Resource, Requester: av.Person, After: q.Get("after"), Limit: 50}
	switch av.Status {
	case "", "open":
		av.Status, in.Statuses = "open", openStatuses
	case "pending":
		in.Statuses = waitingStatuses
	case "active":
		in.Statuses = activeStatuses
	case "ended":
		in.Statuses = endedStatuses
	case "all":
	default:
		s.errorPage(w, r, http.StatusBadRequest, jit.FieldErrorf("status", jit.ECodeInvalid, "unknown status filter %q", av.Status))
		return
	}
	page, err := s.svc.List(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := s.svc.Policy()
	for _, res := range p.Resources() {
		av.Resources = append(av.Resources, res.Name)
	}
	av.Items = s.views(p, who, page.Items, ae, false)
	av.Next = page.Next
	filters := url.Values{}
	for k, v := range map[string]string{"resource": av.Resource, "person": av.Person, "status": av.Status} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	path := "/activity"
	if len(filters) > 0 {
		path += "?" + filters.Encode()
	}
	if page.Next != "" {
		filters.Set("after", page.Next)
		av.NextHref = "/activity?" + filters.Encode()
	}
	s.render(w, r, status, "activity", &pageData{Title: "Activity", Nav: "activity", Live: true, Failed: ae, Path: path + afterSuffix(path, q.Get("after")), Content: av})
}

func afterSuffix(path, after string) string {
	if after == "" {
		return ""
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return sep + "after=" + url.QueryEscape(after)
}

// ---- Request detail ----

type detailView struct {
	View     reqView
	Timeline []eventView
	// More says the timeline was cut at its page size.
	More bool
}

type eventView struct {
	E       jit.AuditEvent
	Actor   personView
	Details []kv
}

type kv struct{ K, V string }

// timelineLimit bounds the events shown for one request.
const timelineLimit = 500

func (s *Server) detail(w http.ResponseWriter, r *http.Request) {
	s.renderDetail(w, r, http.StatusOK, r.PathValue("id"), nil)
}

func (s *Server) renderDetail(w http.ResponseWriter, r *http.Request, status int, id string, ae *actionError) {
	if !validID(id) {
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "request %q not found", truncate(id, 128)))
		return
	}
	ctx := r.Context()
	req, err := s.svc.Get(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.svc.Audit(ctx, jit.AuditFilter{RequestID: id, Limit: timelineLimit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := s.svc.Policy()
	who := me(r)
	dv := &detailView{View: s.view(p, who, req, s.clock.Now(), ae, true), More: len(evs) == timelineLimit}
	dv.Timeline = s.eventViews(p, evs)
	s.render(w, r, status, "detail", &pageData{Title: "Request " + id, Live: true, LiveRequest: id, Failed: ae,
		Path: "/requests/" + url.PathEscape(id), Content: dv})
}

func (s *Server) eventViews(p *policy.Policy, evs []jit.AuditEvent) []eventView {
	out := make([]eventView, len(evs))
	for i, e := range evs {
		ev := eventView{E: e, Actor: s.person(p, e.Actor)}
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ev.Details = append(ev.Details, kv{k, e.Details[k]})
		}
		out[i] = ev
	}
	return out
}

// validID refuses IDs that cannot exist without asking the service.
func validID(id string) bool {
	return id != "" && len(id) <= 128 && !strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c > '~' || c == '/' })
}

// ---- Audit ----

type auditView struct {
	Events                        []eventView
	Request, Actor, Action, Since string
	Errors                        *formErrors
	NextHref, PrevHref            string
	ExportHref, VerifyHref        string
	Verify                        *verifyResult
	Actions                       []string
}

type verifyResult struct {
	OK       bool
	Checked  int64
	BrokenAt int64
	Problem  string
	HeadSeq  int64
	HeadHash string
	At       time.Time
}

// auditPageSize is how many events one page of /audit shows.
const auditPageSize = 50

// verifyMaxAge is how long a verification is shown before the page runs
// a new one by itself; the button runs one at any time.
const verifyMaxAge = 5 * time.Minute

var auditActions = []string{
	jit.ActionSubmit, jit.ActionApprove, jit.ActionDeny, jit.ActionCancel, jit.ActionLapse, jit.ActionAutoApprove,
	jit.ActionGrantStart, jit.ActionGrant, jit.ActionGrantRetry, jit.ActionGrantFailed, jit.ActionRelinquish,
	jit.ActionRevoke, jit.ActionExpire, jit.ActionRevokeDone, jit.ActionRevokeRetry, jit.ActionOverdue,
	jit.ActionExtend, jit.ActionPolicyReload, jit.ActionPolicyError, jit.ActionTokenCreate, jit.ActionKeyRegister, jit.ActionDrift,
}

// auditFilter reads the audit filters of r's query.
func auditFilter(r *http.Request) (jit.AuditFilter, *formErrors) {
	q := r.URL.Query()
	f := jit.AuditFilter{RequestID: strings.TrimSpace(q.Get("request")), Actor: strings.TrimSpace(q.Get("actor")),
		Action: strings.TrimSpace(q.Get("action"))}
	fe := &formErrors{Fields: map[string]string{}}
	if s := strings.TrimSpace(q.Get("since")); s != "" {
		t, ok := parseSince(s)
		if !ok {
			fe.Fields["since"] = "use a date and time like 2026-01-02T15:04 (UTC)"
		}
		f.Since = t
	}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			fe.Fields["after"] = "not a page of the log"
		}
		f.AfterSeq = n
	}
	if len(fe.Fields) > 0 {
		fe.Code, fe.Message = jit.ECodeInvalid, "check the filters"
		return f, fe
	}
	return f, nil
}

// parseSince reads a time as a datetime-local field sends it (taken as
// UTC), or RFC 3339, or a date.
func parseSince(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	who := me(r)
	if !who.Admin {
		s.errorPage(w, r, http.StatusForbidden, jit.Errorf(jit.ECodeForbidden, "only admins can read the whole audit log; a request's own page shows its timeline"))
		return
	}
	q := r.URL.Query()
	vr, err := s.verification(r.Context(), q.Get("verify") == "1")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, fe := auditFilter(r)
	av := &auditView{Request: f.RequestID, Actor: f.Actor, Action: f.Action, Since: strings.TrimSpace(q.Get("since")),
		Errors: fe, Actions: auditActions, Verify: vr}
	if fe != nil {
		s.render(w, r, http.StatusBadRequest, "audit", &pageData{Title: "Audit log", Nav: "audit", Content: av})
		return
	}
	filters := url.Values{}
	for k, v := range map[string]string{"request": av.Request, "actor": av.Actor, "action": av.Action, "since": av.Since} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	// Unfiltered, the log's sequence numbers have no gaps: the page opens
	// on the newest events (up to the head last verified, and whatever
	// followed), and can page back.
	whole := len(filters) == 0
	if whole && !q.Has("after") {
		f.AfterSeq = max(vr.HeadSeq-auditPageSize, 0)
	}
	f.Limit = auditPageSize
	evs, err := s.svc.Audit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	av.Events = s.eventViews(s.svc.Policy(), evs)
	av.ExportHref = "/audit/export"
	if len(filters) > 0 {
		av.ExportHref += "?" + filters.Encode()
	}
	page := func(after int64) string {
		v := url.Values{}
		for k := range filters {
			v.Set(k, filters.Get(k))
		}
		v.Set("after", strconv.FormatInt(after, 10))
		return "/audit?" + v.Encode()
	}
	if len(evs) == auditPageSize {
		av.NextHref = page(evs[len(evs)-1].Seq)
	}
	if whole && f.AfterSeq > 0 {
		av.PrevHref = page(max(f.AfterSeq-auditPageSize, 0))
	}
	v := url.Values{}
	for k := range filters {
		v.Set(k, filters.Get(k))
	}
	v.Set("verify", "1")
	av.VerifyHref = "/audit?" + v.Encode()
	s.render(w, r, http.StatusOK, "audit", &pageData{Title: "Audit log", Nav: "audit", Content: av})
}

// verification returns a recent verification of the chain, running one
// when asked or when the last is older than verifyMaxAge. The walk reads
// the whole log, so it is not repeated on every page view.
func (s *Server) verification(ctx context.Context, fresh bool) (*verifyResult, error) {
	s.verifyMu.Lock()
	last := s.lastVerify
	s.verifyMu.Unlock()
	now := s.clock.Now()
	if !fresh && last != nil && now.Sub(last.At) < verifyMaxAge {
		return last, nil
	}
	res, err := s.svc.VerifyAudit(ctx)
	if err != nil {
		return nil, err
	}
	vr := &verifyResult{OK: res.OK, Checked: res.Checked, BrokenAt: res.BrokenAt, Problem: res.Problem,
		HeadSeq: res.HeadSeq, HeadHash: res.HeadHash, At: now}
	s.verifyMu.Lock()
	s.lastVerify = vr
	s.verifyMu.Unlock()
	return vr, nil
}

// ---- Policy ----

type policyView struct {
	Resources []resourceView
	// Rules are every rule of the policy in plain words.
	Rules   []ruleView
	Explain explainForm
	Admin   bool
}

type resourceView struct {
	policy.ResourceInfo
	// Offer is what the viewer may request of it, nil when nothing.
	Offer *offerView
	// Rules says, rule by rule, how the policy decides a request of the
	// viewer for it (at its default level, for an hour).
	Rules []string
}

type explainForm struct {
	Asked                                  bool
	Resource, Access, Duration, Reason, As string
	Errors                                 *formErrors
	Decision                               *policy.Decision
	ApproversText                          string
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := s.svc.Policy()
	who := me(r)
	offers, err := s.svc.Offers(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pv := &policyView{Admin: who.Admin, Rules: ruleViews(p.Rules())}
	for _, res := range p.Resources() {
		rv := resourceView{ResourceInfo: res}
		// Settings may hold addresses and environment variable names;
		// the page shows what a requester needs, not how jit reaches
		// the target.
		rv.Settings = nil
		for _, o := range offers {
			if o.Resource == res.Name {
				rv.Offer = &offerView{Offer: o, TakesQuery: takesQuery(p, o.Resource), TakesTarget: takesTarget(p, o.Resource), TakesSSHKey: takesSSHKey(p, o.Resource), ApproversText: approversText(o.Approvers)}
			}
		}
		if d, err := s.svc.Explain(ctx, workflow.ExplainInput{Resource: res.Name}); err == nil {
			for _, line := range d.Explanation {
				// The first line restates the hypothetical request.
				if !strings.HasPrefix(line, "request: ") {
					rv.Rules = append(rv.Rules, line)
				}
			}
		}
		pv.Resources = append(pv.Resources, rv)
	}
	status := http.StatusOK
	q := r.URL.Query()
	ef := explainForm{Resource: strings.TrimSpace(q.Get("resource")), Access: strings.TrimSpace(q.Get("access")),
		Duration: strings.TrimSpace(q.Get("duration")), Reason: q.Get("reason"), As: strings.TrimSpace(q.Get("as"))}
	if ef.Resource != "" {
		ef.Asked = true
		in := workflow.ExplainInput{Resource: ef.Resource, Access: ef.Access, Reason: ef.Reason, As: ef.As}
		var err error
		if ef.Duration != "" {
			in.Duration, err = policy.ParseDuration(ef.Duration)
		}
		var d policy.Decision
		if err == nil {
			d, err = s.svc.Explain(ctx, in)
		}
		if err != nil {
			ef.Errors = formErrorsFor(err, "resource", "access", "duration", "reason", "as")
			if jit.ErrorCode(err) == jit.ECodeForbidden {
				ef.Errors.Fields["as"] = ef.Errors.Message
			}
			status = statusFor(jit.ErrorCode(err))
			if jit.ErrorCode(err) == jit.ECodeInternal || jit.ErrorCode(err) == jit.ECodeUnavailable {
				s.fail(w, r, err)
				return
			}
		} else {
			ef.Decision = &d
			ef.ApproversText = approversText(d.Approvers)
		}
	}
	if ef.Duration == "" {
		ef.Duration = "1h"
	}
	pv.Explain = ef
	s.render(w, r, status, "policy", &pageData{Title: "Policy", Nav: "policy", Content: pv})
}

// ruleView is one rule in plain words.
type ruleView struct {
	Name, Description   string
	Who, What, Approval string
	Conditions          []string
}

func ruleViews(rules []policy.RuleSummary) []ruleView {
	out := make([]ruleView, 0, len(rules))
	for _, r := range rules {
		v := ruleView{Name: r.Name, Description: r.Description}
		var who []string
		if r.Everyone {
			who = append(who, "everyone")
		}
		if len(r.Groups) > 0 {
			who = append(who, "members of "+strings.Join(r.Groups, ", "))
		}
		if len(r.Users) > 0 {
			who = append(who, strings.Join(r.Users, ", "))
		}
		v.Who = strings.Join(who, "; ")
		access := "any access level"
		if r.Access != nil {
			access = strings.Join(r.Access, " or ") + " access"
		}
		v.What = fmt.Sprintf("%s to %s for up to %s", access, strings.Join(r.Resources, ", "), policy.FormatDuration(r.MaxDuration))
		switch {
		case r.ReasonPattern != "":
			v.What += ", with a reason matching " + r.ReasonPattern
		case r.ReasonRequired:
			v.What += ", with a reason"
		}
		n := "approval"
		if r.Approvals != 1 {
			n = "approvals"
		}
		v.Approval = fmt.Sprintf("%d %s from %s", r.Approvals, n, approversText(r.Approvers))
		if r.SelfApproval {
			v.Approval += " (requesters may approve their own)"
		}
		if r.AutoApprove {
			auto := "approved automatically"
			if r.AutoApproveMax > 0 {
				auto += " for up to " + policy.FormatDuration(r.AutoApproveMax)
			}
			if r.AutoApproveOnCall != nil {
				auto += " while on call in " + r.AutoApproveOnCall.String()
			}
			if r.AutoApproveIf != "" {
				auto += " when " + r.AutoApproveIf
			}
			v.Approval = auto + "; otherwise " + v.Approval
		}
		if r.Condition != "" {
			v.Conditions = append(v.Conditions, r.Condition)
		}
		out = append(out, v)
	}
	return out
}
