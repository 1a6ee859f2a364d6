package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/policy"
)

// Whoami returns the identity the server sees for this client's
// credentials (GET /whoami). It fails with code "unauthenticated" when the
// token is missing or wrong.
func (c *Client) Whoami(ctx context.Context) (jit.Identity, error) {
	var id jit.Identity
	err := c.call(ctx, http.MethodGet, "/whoami", nil, nil, &id)
	return id, err
}

// Resources lists what the caller may request (GET /resources).
func (c *Client) Resources(ctx context.Context) ([]policy.Offer, error) {
	var v struct {
		Items []policy.Offer `json:"items"`
	}
	if err := c.call(ctx, http.MethodGet, "/resources", nil, nil, &v); err != nil {
		return nil, err
	}
	return v.Items, nil
}

// SubmitRequest is the body of POST /requests.
type SubmitRequest struct {
	Resource string `json:"resource"`
	// Access may be empty where the resource has one level or a default.
	Access string `json:"access,omitempty"`
	// Duration is in Go notation ("1h", "30m"); the server parses and
	// checks it (code "invalid_duration", "duration_too_long").
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Query makes a query-scoped database request: the SQL statement the
	// requester wants to run. The server derives the table privileges from
	// it; they are what approvers see and what is granted.
	Query string `json:"query,omitempty"`
	// Target narrows the request to part of the resource, in its
	// provider's syntax ("deployments/default/web" for Kubernetes).
	Target string `json:"target,omitempty"`
	// SSHPublicKey is the key (authorized_keys form) an SSH certificate
	// is to be issued for.
	SSHPublicKey string `json:"ssh_public_key,omitempty"`
}

// Submit files a request for the caller (POST /requests) and returns it as
// stored. Each call files a new request: it is not idempotent.
func (c *Client) Submit(ctx context.Context, in SubmitRequest) (*jit.Request, error) {
	var r jit.Request
	if err := c.call(ctx, http.MethodPost, "/requests", nil, in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Scopes of List, as the API names them.
const (
	ScopeMine    = "mine"
	ScopePending = "pending"
	ScopeActive  = "active"
	ScopeAll     = "all"
)

// ListOptions filters List. Zero fields do not filter; an empty Scope is
// the server's default ("mine").
type ListOptions struct {
	Scope     string
	Statuses  []jit.Status
	Resource  string
	Requester string
	// Limit is the page size (server default 50, at most 500).
	Limit int
	// After is the Next cursor of the previous page.
	After string
}

// RequestPage is one page of requests; Next is the cursor of the
// following page, empty on the last.
type RequestPage struct {
	Items []*jit.Request `json:"items"`
	Next  string         `json:"next,omitempty"`
}

// List returns one page of requests (GET /requests), newest first.
func (c *Client) List(ctx context.Context, o ListOptions) (*RequestPage, error) {
	q := url.Values{}
	set(q, "scope", o.Scope)
	if len(o.Statuses) > 0 {
		s := make([]string, len(o.Statuses))
		for i, st := range o.Statuses {
			s[i] = string(st)
		}
		q.Set("status", strings.Join(s, ","))
	}
	set(q, "resource", o.Resource)
	set(q, "requester", o.Requester)
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	set(q, "after", o.After)
	var p RequestPage
	if err := c.call(ctx, http.MethodGet, "/requests", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Get returns one request the caller may see (GET /requests/{id}); code
// "not_found" when there is none.
func (c *Client) Get(ctx context.Context, id string) (*jit.Request, error) {
	return c.Wait(ctx, id, nil, 0)
}

// Wait is a long-poll on one request (GET /requests/{id}?wait=&while=): the
// server answers once the request's status is not in while, or when wait
// has passed (at most 60s; then with the current state). An empty while
// leaves the states to the server (those that change by themselves); a
// zero wait is a plain Get.
func (c *Client) Wait(ctx context.Context, id string, while []jit.Status, wait time.Duration) (*jit.Request, error) {
	p, err := requestPath(id, "")
	if err != nil {
		return nil, err
	}
	var q url.Values
	if wait > 0 {
		q = url.Values{"wait": {wait.String()}}
		if len(while) > 0 {
			s := make([]string, len(while))
			for i, st := range while {
				s[i] = string(st)
			}
			q.Set("while", strings.Join(s, ","))
		}
	}
	var r jit.Request
	if err := c.call(ctx, http.MethodGet, p, q, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PollWait is how long each long-poll of WaitFor asks the server to hold.
const PollWait = 30 * time.Second

// WaitFor long-polls request id until its status is not in while, calling
// progress (when not nil) with every state the server answers, and returns
// the final state. When ctx ends or a call fails first it returns the last
// state seen (nil if none) with the error.
func (c *Client) WaitFor(ctx context.Context, id string, while []jit.Status, progress func(*jit.Request)) (*jit.Request, error) {
	var last *jit.Request
	waitWhile := while
	for {
		r, err := c.Wait(ctx, id, waitWhile, PollWait)
		if err != nil {
			return last, err
		}
		last = r
		if progress != nil {
			progress(r)
		}
		if !slices.Contains(while, r.Status) {
			return r, nil
		}
		// Wake at the next change of status, so that progress sees each
		// step (pending → approved → granting → active), not only the end.
		waitWhile = []jit.Status{r.Status}
		if err := ctx.Err(); err != nil {
			return last, err
		}
	}
}

// Approve records the caller's approval of request id, with an optional
// comment (POST /requests/{id}/approve). Approving twice fails with
// "already_approved"; approving one's own request "self_approval" unless
// the rule allows it.
func (c *Client) Approve(ctx context.Context, id, comment string) (*jit.Request, error) {
	return c.action(ctx, id, "approve", struct {
		Comment string `json:"comment,omitempty"`
	}{comment})
}

// Deny ends a pending request (POST /requests/{id}/deny). The reason is
// required: an empty one fails with "reason_required" before any call.
func (c *Client) Deny(ctx context.Context, id, reason string) (*jit.Request, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, &jit.Error{Code: jit.ECodeReasonNeeded, Field: "reason", Message: "a deny needs a reason"}
	}
	return c.action(ctx, id, "deny", reasonBody{reason})
}

// Cancel ends the caller's own pending or approved request
// (POST /requests/{id}/cancel). Cancelling a request that has already ended
// fails with "invalid_state" and changes nothing.
func (c *Client) Cancel(ctx context.Context, id string) (*jit.Request, error) {
	return c.action(ctx, id, "cancel", struct{}{})
}

// Relinquish ends the caller's own active access early
// (POST /requests/{id}/relinquish). The answer is usually "revoking": the
// access is removed by a job; WaitFor shows the end. A request that is not
// active fails with "invalid_state".
func (c *Client) Relinquish(ctx context.Context, id string) (*jit.Request, error) {
	return c.action(ctx, id, "relinquish", struct{}{})
}

// Revoke ends someone's access (POST /requests/{id}/revoke). The reason is
// required: an empty one fails with "reason_required" before any call. A
// request that holds no access fails with "invalid_state".
func (c *Client) Revoke(ctx context.Context, id, reason string) (*jit.Request, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, &jit.Error{Code: jit.ECodeReasonNeeded, Field: "reason", Message: "a revoke needs a reason"}
	}
	return c.action(ctx, id, "revoke", reasonBody{reason})
}

// Extend files a new request linked to id for more time
// (POST /requests/{id}/extend) and returns the new request. duration is in
// Go notation ("30m"). Each call files a new request.
func (c *Client) Extend(ctx context.Context, id, duration, reason string) (*jit.Request, error) {
	return c.action(ctx, id, "extend", struct {
		Duration string `json:"duration"`
		Reason   string `json:"reason,omitempty"`
	}{duration, reason})
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (c *Client) action(ctx context.Context, id, action string, body any) (*jit.Request, error) {
	p, err := requestPath(id, action)
	if err != nil {
		return nil, err
	}
	var r jit.Request
	if err := c.call(ctx, http.MethodPost, p, nil, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ExplainOptions describes a hypothetical request for Explain.
type ExplainOptions struct {
	Resource string
	Access   string
	// Duration is in Go notation; empty leaves it to the server.
	Duration string
	Reason   string
	// As is the email to explain for; empty means the caller.
	As string
}

// Explain decides a hypothetical request without filing it
// (GET /policy/explain). A refusal is a Decision with Allowed false, not an
// error; errors are for calls the server could not answer (for example
// "forbidden" when explaining for someone else without the rights).
func (c *Client) Explain(ctx context.Context, o ExplainOptions) (policy.Decision, error) {
	q := url.Values{}
	set(q, "resource", o.Resource)
	set(q, "access", o.Access)
	set(q, "duration", o.Duration)
	set(q, "reason", o.Reason)
	set(q, "as", o.As)
	var d policy.Decision
	err := c.call(ctx, http.MethodGet, "/policy/explain", q, nil, &d)
	return d, err
}

// AuditOptions filters Audit. Zero fields do not filter.
type AuditOptions struct {
	Request string
	Actor   string
	Action  string
	Since   time.Time
	// After is the Next cursor of the previous page (a sequence number).
	After string
	Limit int
}

// AuditPage is one page of audit events in sequence order; Next is the
// cursor of the following page, empty on the last.
type AuditPage struct {
	Items []jit.AuditEvent `json:"items"`
	Next  string           `json:"next,omitempty"`
}

// UnmarshalJSON accepts the cursor as a string or as a number, since it is
// a sequence number.
func (p *AuditPage) UnmarshalJSON(b []byte) error {
	var v struct {
		Items []jit.AuditEvent `json:"items"`
		Next  json.RawMessage  `json:"next"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.Items, p.Next = v.Items, ""
	next := bytes.TrimSpace(v.Next)
	switch {
	case len(next) == 0 || string(next) == "null":
	case next[0] == '"':
		if err := json.Unmarshal(next, &p.Next); err != nil {
			return fmt.Errorf("audit page cursor: %w", err)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(next, &n); err != nil {
			return fmt.Errorf("audit page cursor: %w", err)
		}
		if n.String() != "0" {
			p.Next = n.String()
		}
	}
	return nil
}

// Audit returns one page of audit events (GET /audit). Admins see every
// event; others only the events of their own requests (Request set).
func (c *Client) Audit(ctx context.Context, o AuditOptions) (*AuditPage, error) {
	q := url.Values{}
	set(q, "request", o.Request)
	set(q, "actor", o.Actor)
	set(q, "action", o.Action)
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	set(q, "after", o.After)
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var p AuditPage
	if err := c.call(ctx, http.MethodGet, "/audit", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// VerifyAudit checks the whole audit chain on the server
// (GET /audit/verify, admins only). A broken chain is a Result with OK
// false, not an error.
func (c *Client) VerifyAudit(ctx context.Context) (audit.Result, error) {
	var r audit.Result
	err := c.call(ctx, http.MethodGet, "/audit/verify", nil, nil, &r)
	return r, err
}

// AuthzResult is the body of a forward-auth answer.
type AuthzResult struct {
	Allowed   bool       `json:"allowed"`
	Resource  string     `json:"resource,omitempty"`
	RequestID string     `json:"request_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Reason says why not, when not allowed.
	Reason string `json:"reason,omitempty"`
}

// Authz asks whether the caller has access to resource now (GET /authz).
// Allowed (200) and not allowed (403) are answers, not errors; anything
// else, including 401 for missing credentials, is an error.
func (c *Client) Authz(ctx context.Context, resource string) (bool, AuthzResult, error) {
	q := url.Values{}
	set(q, "resource", resource)
	resp, err := c.do(ctx, http.MethodGet, "/authz", q, nil)
	if err != nil {
		return false, AuthzResult{}, err
	}
	defer closeBody(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusForbidden:
	default:
		return false, AuthzResult{}, c.parseError(resp)
	}
	var v struct {
		AuthzResult
		// A 403 may come as a problem document instead of a result.
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	// An empty body is allowed: the status alone is the answer.
	if err := c.decode(resp, http.MethodGet, "/authz", &v); err != nil && !errors.Is(err, io.EOF) {
		return false, AuthzResult{}, err
	}
	res := v.AuthzResult
	// The status is authoritative; the body only adds detail.
	res.Allowed = resp.StatusCode == http.StatusOK
	if !res.Allowed && res.Reason == "" {
		res.Reason = v.Detail
	}
	return res.Allowed, res, nil
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}
