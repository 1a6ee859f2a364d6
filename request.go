package jit

import (
	"encoding/json"
	"time"
)

// Status is where a request is in its lifecycle.
//
//	pending ──approve×N──▶ approved ─▶ granting ─▶ active ─▶ revoking ─▶ expired | relinquished | revoked
//	   │ deny / cancel / lapse                  │ fails after retries ▶ failed
//	   ▼
//	denied | cancelled | lapsed
type Status string

// The lifecycle states. The string values are part of the API.
const (
	StatusPending      Status = "pending"
	StatusApproved     Status = "approved"
	StatusGranting     Status = "granting"
	StatusActive       Status = "active"
	StatusRevoking     Status = "revoking"
	StatusExpired      Status = "expired"
	StatusRelinquished Status = "relinquished"
	StatusRevoked      Status = "revoked"
	StatusDenied       Status = "denied"
	StatusCancelled    Status = "cancelled"
	StatusLapsed       Status = "lapsed"
	StatusFailed       Status = "failed"
)

// AllStatuses lists every status in lifecycle order.
var AllStatuses = []Status{
	StatusPending, StatusApproved, StatusGranting, StatusActive, StatusRevoking,
	StatusExpired, StatusRelinquished, StatusRevoked, StatusDenied, StatusCancelled,
	StatusLapsed, StatusFailed,
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range AllStatuses {
		if v == s {
			return true
		}
	}
	return false
}

// Terminal reports whether no further transition can happen from s.
func (s Status) Terminal() bool {
	switch s {
	case StatusExpired, StatusRelinquished, StatusRevoked, StatusDenied,
		StatusCancelled, StatusLapsed, StatusFailed:
		return true
	}
	return false
}

// HoldsAccess reports whether access may exist in the target in state s
// (it is being created, is live, or is being removed).
func (s Status) HoldsAccess() bool {
	return s == StatusGranting || s == StatusActive || s == StatusRevoking
}

// Request is one person's request for access to one resource at one access
// level for a duration. The fields that describe what was asked for
// (Requester, Resource, Access, Duration, Reason, ExtendsID) never change
// after submit: an approval is bound to exactly them (invariant 1).
type Request struct {
	ID        string        `json:"id"`
	Requester string        `json:"requester"`
	Resource  string        `json:"resource"`
	Access    string        `json:"access"`
	Duration  time.Duration `json:"-"`
	Reason    string        `json:"reason"`
	// ExtendsID links an extension to the request it extends.
	ExtendsID string `json:"extends_id,omitempty"`
	// Query, for a query-scoped database request, is the statement the
	// requester wants to run; Privileges are what the provider derived from
	// it at submit. Both are part of what approvers approve, and the grant
	// is exactly Privileges.
	Query      string      `json:"query,omitempty"`
	Privileges []Privilege `json:"privileges,omitempty"`
	// Target narrows the request to part of the resource, in its
	// provider's syntax ("deployments.apps/default/web" for a Kubernetes
	// object), in the canonical form the provider's check gave it at
	// submit; TargetSummary says in plain words what the grant would hold.
	// Both are part of what approvers approve.
	Target        string `json:"target,omitempty"`
	TargetSummary string `json:"target_summary,omitempty"`
	// SSHPublicKey is the requester's SSH public key (authorized_keys
	// form) that an SSH certificate is issued for; approvers approve that
	// key and no other.
	SSHPublicKey string `json:"ssh_public_key,omitempty"`
	// Labels and Peers are what the provider's check found in the target
	// about the requester's eligibility at submit (see
	// provider.CheckResponse): policy conditions see Labels, and a rule
	// whose approvers are peers takes Peers as this request's peers.
	Labels []string `json:"labels,omitempty"`
	Peers  []string `json:"peers,omitempty"`
	// PeersFromTarget is true when the target named the peers, so that an
	// empty Peers means no peer may approve.
	PeersFromTarget bool `json:"peers_from_target,omitempty"`
	// RequesterGroups are the requester's groups at submit; policy is
	// re-checked against them (merged with the groups config gives now).
	RequesterGroups []string `json:"requester_groups,omitempty"`
	// Approvers describes who may approve, as the rule said at submit
	// ("group:sre", "user:bob@example.com", "peers").
	Approvers []string `json:"approvers"`

	Status Status `json:"status"`
	// Rule is the policy rule that allowed the request at submit.
	Rule string `json:"rule"`
	// ApprovalsRequired is the number of distinct approvals the rule demanded
	// at submit; 0 means it was approved automatically.
	ApprovalsRequired int `json:"approvals_required"`
	// AutoApproved is true when the rule approved the request by itself.
	AutoApproved bool       `json:"auto_approved"`
	Approvals    []Approval `json:"approvals"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LapsesAt is when a still-pending request lapses.
	LapsesAt time.Time `json:"lapses_at"`
	// GrantedAt and ExpiresAt are set when the access becomes active.
	GrantedAt *time.Time `json:"granted_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	// EndedAt, EndedBy and EndReason describe how the request ended (deny,
	// cancel, revoke, failure, expiry...). While revoking, EndStatus is the
	// terminal status the request will take when the access is gone.
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	EndedBy   string     `json:"ended_by,omitempty"`
	EndReason string     `json:"end_reason,omitempty"`
	EndStatus Status     `json:"-"`

	// Handle is what the provider returned at grant, needed to revoke. It is
	// opaque JSON and never holds a secret.
	Handle []byte `json:"-"`
	// Version increases by one with every stored change; stores use it for
	// optimistic concurrency.
	Version int `json:"-"`
}

// Approval is one approver's decision on one request.
type Approval struct {
	RequestID string    `json:"request_id"`
	Approver  string    `json:"approver"`
	Approved  bool      `json:"approved"`
	Comment   string    `json:"comment,omitempty"`
	At        time.Time `json:"at"`
}

// ApprovedBy reports whether email has approved r.
func (r *Request) ApprovedBy(email string) bool {
	for _, a := range r.Approvals {
		if a.Approved && a.Approver == email {
			return true
		}
	}
	return false
}

// ApprovalCount is the number of distinct approvers who approved r.
func (r *Request) ApprovalCount() int {
	seen := map[string]bool{}
	for _, a := range r.Approvals {
		if a.Approved {
			seen[a.Approver] = true
		}
	}
	return len(seen)
}

// Clone returns a deep copy of r, so that pure transitions never alias the
// caller's slices.
func (r *Request) Clone() *Request {
	c := *r
	c.Approvals = append([]Approval(nil), r.Approvals...)
	if r.Privileges != nil {
		c.Privileges = make([]Privilege, len(r.Privileges))
		for i, p := range r.Privileges {
			p.Columns = append([]string(nil), p.Columns...)
			c.Privileges[i] = p
		}
	}
	c.Handle = append([]byte(nil), r.Handle...)
	c.Labels = append([]string(nil), r.Labels...)
	c.Peers = append([]string(nil), r.Peers...)
	if r.GrantedAt != nil {
		t := *r.GrantedAt
		c.GrantedAt = &t
	}
	if r.ExpiresAt != nil {
		t := *r.ExpiresAt
		c.ExpiresAt = &t
	}
	if r.EndedAt != nil {
		t := *r.EndedAt
		c.EndedAt = &t
	}
	return &c
}

// RequestFilter selects requests in Store.ListRequests. Zero fields do not
// filter. Results are ordered newest first.
type RequestFilter struct {
	Requester string
	Resource  string
	Statuses  []Status
	// ExpiresBefore, if set, keeps requests whose ExpiresAt is before it.
	ExpiresBefore *time.Time
	// ExpiresAfter, if set, keeps requests whose ExpiresAt is after it
	// (requests never granted have none and are left out).
	ExpiresAfter *time.Time
	// ExtendsID, if set, keeps the extensions of that request.
	ExtendsID string
	// After is an opaque cursor from a previous page (the last request ID).
	After string
	Limit int
}

// MarshalJSON adds the duration in Go notation ("1h0m0s") and in seconds to
// the request's JSON form.
func (r Request) MarshalJSON() ([]byte, error) {
	type plain Request
	// Lists are always arrays, never null, so that clients need no
	// special case.
	if r.Approvals == nil {
		r.Approvals = []Approval{}
	}
	if r.Approvers == nil {
		r.Approvers = []string{}
	}
	return json.Marshal(struct {
		plain
		Duration        string `json:"duration"`
		DurationSeconds int64  `json:"duration_seconds"`
	}{plain(r), r.Duration.String(), int64(r.Duration / time.Second)})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (r *Request) UnmarshalJSON(b []byte) error {
	type plain Request
	var v struct {
		plain
		DurationSeconds int64 `json:"duration_seconds"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Request(v.plain)
	r.Duration = time.Duration(v.DurationSeconds) * time.Second
	return nil
}
