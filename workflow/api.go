package workflow

import (
	"time"

	"github.com/jitaccess/jit"
)

// SubmitInput is a new request as a person files it. The requester is the
// identity in the context.
type SubmitInput struct {
	Resource string
	// Access may be empty where the resource has one level or a default.
	Access   string
	Duration time.Duration
	Reason   string
	// Query, for a database resource whose provider scopes queries, asks
	// for exactly the privileges this SQL needs (within Access).
	Query string
	// Target narrows the request to part of the resource, in its
	// provider's syntax (a Kubernetes object, a Google Cloud role); only
	// resources whose provider checks requests take one.
	Target string
	// SSHPublicKey is the key an SSH certificate is to be issued for.
	SSHPublicKey string
}

// ExtendInput asks for more time on an active (or approved) request.
type ExtendInput struct {
	Duration time.Duration
	Reason   string
}

// Scope selects which requests List returns.
type Scope string

const (
	// ScopeMine is the caller's own requests.
	ScopeMine Scope = "mine"
	// ScopePending is requests waiting for the caller's review.
	ScopePending Scope = "pending"
	// ScopeActive is the caller's active requests (every active request
	// for admins when Requester is "*").
	ScopeActive Scope = "active"
	// ScopeAll is every request the caller may see: admins see all,
	// others see their own and those they may approve.
	ScopeAll Scope = "all"
)

// ListInput filters List.
type ListInput struct {
	Scope     Scope
	Statuses  []jit.Status
	Resource  string
	Requester string
	// After is the cursor from a previous page.
	After string
	// Limit defaults to 50 and is capped at 500.
	Limit int
}

// Page is one page of requests; Next is the cursor of the following page,
// empty on the last.
type Page struct {
	Items []*jit.Request `json:"items"`
	Next  string         `json:"next,omitempty"`
}

// ExplainInput asks why a request would or would not be allowed.
type ExplainInput struct {
	Resource string
	Access   string
	Duration time.Duration
	Reason   string
	// As is the email to explain for; empty means the caller. Explaining
	// for someone else needs admin or approver rights.
	As string
}

// AuthzInput is a forward-auth check. Either Resource names the resource,
// or Host and Path are matched against resources' routes.
type AuthzInput struct {
	Resource string
	Host     string
	Path     string
}

// AuthzResult is the outcome of a forward-auth check.
type AuthzResult struct {
	Allowed   bool       `json:"allowed"`
	Resource  string     `json:"resource,omitempty"`
	RequestID string     `json:"request_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Reason says why not, when not allowed.
	Reason string `json:"reason,omitempty"`
}
