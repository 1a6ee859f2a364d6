// Package provider defines the contract between jit and the systems it grants
// access in. Providers are the only code that touches targets.
//
// The shape follows HashiCorp Vault's database plugin interface and Go's
// database/sql/driver: one request struct in, one response struct out, a
// small required interface (Grant, Revoke, Verify) and optional capabilities
// as separate interfaces found by type assertion. Implementations register a
// Factory by type name.
package provider

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jitaccess/jit"
)

// Resource is the configuration of one resource as the provider sees it.
type Resource struct {
	// Name is the resource's name in the policy.
	Name string
	// Type is the provider type name ("http", "webhook", ...).
	Type string
	// Settings are the provider-specific settings from jit.yaml.
	Settings map[string]any
	// Access lists the access level names the policy defines for it.
	Access []string
}

// Factory builds a provider for one resource. It validates the settings and
// returns an error naming the offending setting when they are wrong; it must
// not contact the target (config validation runs offline).
type Factory func(r Resource) (Provider, error)

// GrantRequest asks for access to be created.
type GrantRequest struct {
	// RequestID is the idempotency key: granting the same RequestID twice
	// creates the access once.
	RequestID string
	// User is the requester's email.
	User     string
	Resource string
	Access   string
	Reason   string
	// ExpiresAt is when the access must end. Providers whose target can
	// enforce expiry by itself must make it do so.
	ExpiresAt time.Time
	// Query and Privileges are set for a query-scoped request: the grant
	// is exactly Privileges (derived from Query by the provider's Scoper
	// at submit and approved as such), not the access level's privileges.
	Query      string
	Privileges []jit.Privilege
	// Target narrows the access to part of the resource, in the
	// provider's own syntax (a Kubernetes namespace or object:
	// "deployments/default/web"). It was checked at submit by the
	// provider's Checker and approved as such; "" means the whole
	// resource as the access level describes it.
	Target string
	// SSHPublicKey is the requester's SSH public key in authorized_keys
	// form, for providers that certify it (SSH certificates). It was
	// checked at submit and approved as part of the request.
	SSHPublicKey string
}

// GrantResponse describes the created access.
type GrantResponse struct {
	// Handle is what Revoke and Verify need to find the access again. It is
	// stored; it must not contain a secret.
	Handle json.RawMessage
	// Credential, if the target issues one (a password, a certificate), is
	// for the requester only. It is never logged or stored in plain text.
	Credential *Credential
}

// Credential is a secret issued to the requester.
type Credential struct {
	// Kind says how to read Data ("password", "ssh-certificate", ...).
	Kind string
	// Data is the secret itself.
	Data []byte
	// Info is non-secret connection information (host, user name...).
	Info map[string]string
}

// RevokeRequest asks for access to be removed.
type RevokeRequest struct {
	RequestID string
	User      string
	Resource  string
	Access    string
	// Handle is GrantResponse.Handle, or nil when the grant's outcome is
	// unknown (a grant that failed ambiguously is revoked to be sure).
	Handle json.RawMessage
	// Target is GrantRequest.Target.
	Target string
	// ExpiresAt is GrantRequest.ExpiresAt: when the access would have
	// ended by itself (zero when the grant never completed).
	ExpiresAt time.Time
}

// RevokeResponse is empty today; it exists so that fields can be added.
type RevokeResponse struct{}

// VerifyRequest asks whether access exists in the target.
type VerifyRequest struct {
	RequestID string
	User      string
	Resource  string
	Access    string
	Handle    json.RawMessage
	// Target is GrantRequest.Target.
	Target string
}

// VerifyResponse says what the target holds.
type VerifyResponse struct {
	// Present is true when the access exists in the target.
	Present bool
	// ExpiresAt is the expiry the target itself enforces, when it has one.
	ExpiresAt *time.Time
}

// Provider creates and removes access in one kind of target.
type Provider interface {
	// Grant creates the access. It is idempotent: a second call with the same
	// RequestID succeeds without creating a second access. An error wrapped
	// with NotApplied means the target certainly did nothing and the call may
	// simply be retried; any other error leaves the outcome unknown and the
	// caller reconciles with Verify or Revoke.
	Grant(ctx context.Context, req GrantRequest) (GrantResponse, error)
	// Revoke removes the access and, where the target allows, ends live
	// sessions that use it. It is idempotent: revoking access that is
	// already gone (or was never created) succeeds.
	Revoke(ctx context.Context, req RevokeRequest) (RevokeResponse, error)
	// Verify reports whether the access exists. It has no side effects.
	Verify(ctx context.Context, req VerifyRequest) (VerifyResponse, error)
}

// Closer is an optional capability: providers holding connections release
// them in Close when the policy that configured them is replaced.
type Closer interface {
	Close() error
}

// Router is an optional capability of providers that guard HTTP routes
// (forward-auth). Match reports whether a request to host and path is for
// this provider's resource; Route describes the route ("" host for any
// host, "*.example.com" for a wildcard) so that when several resources
// match, the most specific one is chosen.
type Router interface {
	Match(host, path string) bool
	Route() (host, pathPrefix string)
}

// Scoper is an optional capability of database providers: Scope parses a
// query with the target's own SQL grammar and derives exactly the table
// privileges it needs. It may read the target's catalogue (to refuse
// unknown tables) but changes nothing. A query that cannot be scoped
// exactly (DDL, COPY, a function with side effects, an unknown table) is
// refused with a *ScopeError; it is never widened to something broader.
type Scoper interface {
	Scope(ctx context.Context, req ScopeRequest) (ScopeResponse, error)
}

// ScopeRequest asks for the privileges a query needs.
type ScopeRequest struct {
	Resource string
	// Access is the access level the request is for. The derived
	// privileges must lie within what that level grants (its actions and
	// schemas); a query needing more is refused, never widened.
	Access string
	Query  string
}

// ScopeResponse lists the privileges, sorted and merged (one entry per
// action and table).
type ScopeResponse struct {
	Privileges []jit.Privilege
}

// ScopeError is a query refused by a Scoper. Reason is safe to show to the
// requester ("statement 2: CREATE TABLE cannot be scoped to table
// privileges").
type ScopeError struct {
	Reason string
}

func (e *ScopeError) Error() string { return "query cannot be scoped: " + e.Reason }
