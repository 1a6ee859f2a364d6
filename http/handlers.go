package jithttp

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/workflow"
)

const (
	// maxWait bounds a long poll, so that requests do not hold
	// connections (and server write timeouts) for long.
	maxWait = 60 * time.Second
	// defaultAuditLimit is the page size of /audit without limit.
	defaultAuditLimit = 100
)

// waitWhile is what a long poll waits out when while is not given: the
// states that change by themselves.
var waitWhile = []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting, jit.StatusRevoking}

// requestID returns the {id} path value. IDs that cannot exist are
// not_found without asking the service.
func requestID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(c rune) bool {
		return c <= ' ' || c > '~' || c == '/'
	}) {
		return "", jit.Errorf(jit.ECodeNotFound, "request %q not found", truncate(id, 128))
	}
	return id, nil
}

// noParams refuses a query string on endpoints that take none.
func noParams(r *http.Request) error {
	_, err := parseParams(r)
	return err
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	id, err := s.svc.Whoami(r.Context())
	if err != nil {
		return err
	}
	if id.Groups == nil {
		id.Groups = []string{}
	}
	writeJSON(w, http.StatusOK, id)
	return nil
}

func (s *Server) resources(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	offers, err := s.svc.Offers(r.Context())
	if err != nil {
		return err
	}
	if offers == nil {
		offers = []policy.Offer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": offers})
	return nil
}

type submitBody struct {
	Resource string `json:"resource"`
	Access   string `json:"access"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
	// Query asks for exactly the privileges this SQL needs.
	Query string `json:"query"`
	// Target narrows the request to part of the resource (a Kubernetes
	// object, a Google Cloud role), in its provider's syntax.
	Target string `json:"target"`
	// SSHPublicKey is the key an SSH certificate is issued for.
	SSHPublicKey string `json:"ssh_public_key"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	var b submitBody
	if err := s.decodeBody(w, r, &b); err != nil {
		return err
	}
	b.Resource = strings.TrimSpace(b.Resource)
	if b.Resource == "" {
		return jit.FieldErrorf("resource", jit.ECodeInvalid, "resource is required")
	}
	d, err := parseDuration("duration", b.Duration)
	if err != nil {
		return err
	}
	req, err := s.svc.Submit(r.Context(), workflow.SubmitInput{
		Resource: b.Resource, Access: strings.TrimSpace(b.Access), Duration: d, Reason: b.Reason, Query: b.Query,
		Target: b.Target, SSHPublicKey: b.SSHPublicKey,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/requests/"+url.PathEscape(req.ID))
	writeJSON(w, http.StatusCreated, req)
	return nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r, "scope", "status", "resource", "requester", "limit", "after")
	if err != nil {
		return err
	}
	in := workflow.ListInput{
		Scope: workflow.ScopeMine, Resource: p.str("resource"), Requester: p.str("requester"), After: p.str("after"),
	}
	if p.has("scope") {
		switch sc := workflow.Scope(p.str("scope")); sc {
		case workflow.ScopeMine, workflow.ScopePending, workflow.ScopeActive, workflow.ScopeAll:
			in.Scope = sc
		default:
			return jit.FieldErrorf("scope", jit.ECodeInvalid, "unknown scope %q (mine, pending, active, all)", p.v.Get("scope"))
		}
	}
	if in.Statuses, err = p.statuses("status"); err != nil {
		return err
	}
	if in.Limit, err = p.limit(50); err != nil {
		return err
	}
	page, err := s.svc.List(r.Context(), in)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []*jit.Request{}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	id, err := requestID(r)
	if err != nil {
		return err
	}
	p, err := parseParams(r, "wait", "while")
	if err != nil {
		return err
	}
	if !p.has("wait") {
		if p.has("while") {
			return jit.FieldErrorf("while", jit.ECodeInvalid, "while needs wait (how long to wait at most)")
		}
		req, err := s.svc.Get(r.Context(), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, req)
		return nil
	}
	wait, err := time.ParseDuration(p.str("wait"))
	if err != nil || wait <= 0 || wait > maxWait {
		return jit.FieldErrorf("wait", jit.ECodeInvalid, "wait must be a duration from 1s to 60s like \"30s\", not %q", p.v.Get("wait"))
	}
	while := waitWhile
	if p.has("while") {
		if while, err = p.statuses("while"); err != nil {
			return err
		}
	}
	req, err := s.svc.Wait(r.Context(), id, while, wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

// action handles the POST /requests/{id}/... endpoints that answer with
// the changed request: decode the body into dst, check it, call.
func (s *Server) action(w http.ResponseWriter, r *http.Request, dst any, call func(id string) (*jit.Request, error)) error {
	id, err := requestID(r)
	if err != nil {
		return err
	}
	if err := noParams(r); err != nil {
		return err
	}
	if err := s.decodeBody(w, r, dst); err != nil {
		return err
	}
	req, err := call(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

type commentBody struct {
	Comment string `json:"comment"`
}

type reasonBody struct {
	Reason string `json:"reason"`
}

type emptyBody struct{}

func requireReason(action, reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", jit.FieldErrorf("reason", jit.ECodeReasonNeeded, "a %s needs a reason", action)
	}
	return reason, nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) error {
	var b commentBody
	return s.action(w, r, &b, func(id string) (*jit.Request, error) {
		return s.svc.Approve(r.Context(), id, b.Comment)
	})
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	return s.action(w, r, &b, func(id string) (*jit.Request, error) {
		reason, err := requireReason("deny", b.Reason)
		if err != nil {
			return nil, err
		}
		return s.svc.Deny(r.Context(), id, reason)
	})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	return s.action(w, r, &emptyBody{}, func(id string) (*jit.Request, error) {
		return s.svc.Cancel(r.Context(), id)
	})
}

func (s *Server) relinquish(w http.ResponseWriter, r *http.Request) error {
	return s.action(w, r, &emptyBody{}, func(id string) (*jit.Request, error) {
		return s.svc.Relinquish(r.Context(), id)
	})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	return s.action(w, r, &b, func(id string) (*jit.Request, error) {
		reason, err := requireReason("revoke", b.Reason)
		if err != nil {
			return nil, err
		}
		return s.svc.Revoke(r.Context(), id, reason)
	})
}

type extendBody struct {
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

func (s *Server) extend(w http.ResponseWriter, r *http.Request) error {
	id, err := requestID(r)
	if err != nil {
		return err
	}
	if err := noParams(r); err != nil {
		return err
	}
	var b extendBody
	if err := s.decodeBody(w, r, &b); err != nil {
		return err
	}
	d, err := parseDuration("duration", b.Duration)
	if err != nil {
		return err
	}
	req, err := s.svc.Extend(r.Context(), id, workflow.ExtendInput{Duration: d, Reason: b.Reason})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/requests/"+url.PathEscape(req.ID))
	writeJSON(w, http.StatusCreated, req)
	return nil
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r, "resource", "access", "duration", "reason", "as")
	if err != nil {
		return err
	}
	in := workflow.ExplainInput{Resource: p.str("resource"), Access: p.str("access"), Reason: p.v.Get("reason"), As: p.str("as")}
	if in.Resource == "" {
		return jit.FieldErrorf("resource", jit.ECodeInvalid, "resource is required")
	}
	if in.Duration, err = p.duration("duration"); err != nil {
		return err
	}
	d, err := s.svc.Explain(r.Context(), in)
	if err != nil {
		return err
	}
	if d.Explanation == nil {
		d.Explanation = []string{}
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// auditPage is the answer of GET /audit.
type auditPage struct {
	Items []jit.AuditEvent `json:"items"`
	// Next is the seq to pass as after for the following page.
	Next string `json:"next,omitempty"`
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r, "request", "actor", "action", "since", "after", "limit")
	if err != nil {
		return err
	}
	f := jit.AuditFilter{RequestID: p.str("request"), Actor: p.str("actor"), Action: p.str("action")}
	if f.Since, err = p.time("since"); err != nil {
		return err
	}
	if f.AfterSeq, err = p.seq("after"); err != nil {
		return err
	}
	if f.Limit, err = p.limit(defaultAuditLimit); err != nil {
		return err
	}
	evs, err := s.svc.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	page := auditPage{Items: evs}
	if page.Items == nil {
		page.Items = []jit.AuditEvent{}
	}
	if len(evs) >= f.Limit {
		page.Next = strconv.FormatInt(evs[len(evs)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	res, err := s.svc.VerifyAudit(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// credential returns the caller's encrypted credential for an active
// request. It is an envelope only the requester's private key opens; it is
// still kept out of caches.
func (s *Server) credential(w http.ResponseWriter, r *http.Request) error {
	id, err := requestID(r)
	if err != nil {
		return err
	}
	if err := noParams(r); err != nil {
		return err
	}
	env, err := s.svc.Credential(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, env)
	return nil
}

func (s *Server) publicKey(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	k, err := s.svc.PublicKey(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

type publicKeyBody struct {
	PublicKey string `json:"public_key"`
}

func (s *Server) putPublicKey(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	var b publicKeyBody
	if err := s.decodeBody(w, r, &b); err != nil {
		return err
	}
	k, err := s.svc.RegisterPublicKey(r.Context(), b.PublicKey)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (s *Server) targets(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r, "parent")
	if err != nil {
		return err
	}
	resp, err := s.svc.Targets(r.Context(), r.PathValue("name"), p.str("parent"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": resp.Targets, "truncated": resp.Truncated})
	return nil
}

func (s *Server) kubeconfig(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	b, err := s.svc.Kubeconfig(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"kubeconfig": string(b)})
	return nil
}

func (s *Server) sshHosts(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r, "host")
	if err != nil {
		return err
	}
	if !p.has("host") {
		return jit.FieldErrorf("host", jit.ECodeInvalid, "host is required")
	}
	offers, err := s.svc.HostOffers(r.Context(), p.str("host"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": offers})
	return nil
}

func (s *Server) sshCA(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	key, err := s.svc.AuthorityKey(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = io.WriteString(w, strings.TrimSpace(key)+"\n")
	return err
}

func (s *Server) sshKRL(w http.ResponseWriter, r *http.Request) error {
	if err := noParams(r); err != nil {
		return err
	}
	krl, err := s.krls.get(r.Context(), r.PathValue("name"), s.clock.Now(), s.svc.RevocationList)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	// A cached list would keep a revoked certificate working.
	h.Set("Cache-Control", "no-store")
	_, err = w.Write(krl)
	return err
}
