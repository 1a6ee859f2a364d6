package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// StoreEnforced is an optional capability of providers whose access lives
// in jit's own store rather than in a target: the forward-auth provider
// ("http") creates nothing anywhere, and jitd's authz endpoint decides each
// HTTP request from the store (an active, unexpired grant). For such a
// provider Verify cannot observe the access, so callers must not use it to
// reconcile; the store is the source of truth.
type StoreEnforced interface {
	StoreEnforced() bool
}

// Wrapper is implemented by providers that wrap another one to add
// behaviour around its calls (logging, metrics). Unwrap returns the wrapped
// provider, so that its optional capabilities stay reachable.
type Wrapper interface {
	Unwrap() Provider
}

// As returns the first provider in p's chain of wrappers (p itself first,
// then each Wrapper's Unwrap) that implements T, as errors.As does for
// errors. Callers use it to find optional capabilities (Router, Closer,
// StoreEnforced) through wrappers that do not implement them.
func As[T any](p Provider) (T, bool) {
	var zero T
	for p != nil {
		if t, ok := p.(T); ok {
			return t, true
		}
		w, ok := p.(Wrapper)
		if !ok {
			return zero, false
		}
		p = w.Unwrap()
	}
	return zero, false
}

// IsStoreEnforced reports whether p, or a provider it wraps, keeps its
// access in jit's store (see StoreEnforced).
func IsStoreEnforced(p Provider) bool {
	s, ok := As[StoreEnforced](p)
	return ok && s.StoreEnforced()
}

// CredentialIssuer is an optional capability of providers whose grants
// return a Credential (a database password, a certificate). jit encrypts
// the credential to the requester's public key, so it refuses requests
// for such a provider from people who have registered none: the
// credential could not be delivered.
type CredentialIssuer interface {
	IssuesCredentials() bool
}

// IssuesCredentials reports whether p, or a provider it wraps, returns
// credentials from Grant.
func IssuesCredentials(p Provider) bool {
	c, ok := As[CredentialIssuer](p)
	return ok && c.IssuesCredentials()
}

// Checker is an optional capability: Check decides at submit, before
// anyone is asked to approve, whether a request could be granted exactly
// as asked (a Kubernetes role narrowed to a target that would be empty or
// would escalate, a namespace that may never be requested, an SSH key
// that does not parse). A request that can never be granted is refused
// then, with a reason the requester can act on, rather than failing after
// approval.
//
// Check has no side effects. It may read the target (a cluster's roles);
// jit calls it once per submit.
//
// Errors: a *RefusedError means the request is refused and its Reason is
// safe to show to the requester; any other error means the check could not
// be made (the target is unreachable), and the submit fails as unavailable
// without storing anything.
type Checker interface {
	Check(ctx context.Context, req CheckRequest) (CheckResponse, error)
}

// CheckRequest is what is about to be submitted.
type CheckRequest struct {
	Resource     string
	User         string
	Access       string
	Duration     time.Duration
	Target       string
	SSHPublicKey string
}

// CheckResponse is the provider's reading of an acceptable request.
type CheckResponse struct {
	// Target is the canonical form of the request's target
	// ("deployments.apps/default/web" for "deployments/default/web"), which
	// is stored and shown to approvers in place of what was typed; "" keeps
	// the target as typed.
	Target string
	// Summary, when set, says in plain words what would be granted
	// ("get, list, watch on deployments.apps web in default"); it is shown
	// to approvers.
	Summary string
	// Labels, when set, are facts the target records about this
	// requester's eligibility ("gcp:self-activation", "gcp:multi-party"),
	// stored with the request; policy conditions see them as
	// request.labels.
	Labels []string
	// Peers, when set, are the people (emails) the target records as
	// sharing the requester's eligibility (the other holders of an
	// eligible Google Cloud binding). A rule whose approvers are peers
	// takes them as the peers of this request; the requester is never one.
	Peers []string
	// PeersFromTarget says that the target decides this request's peers
	// even when Peers is empty (no one else holds the eligible binding):
	// then no peer may approve, rather than everyone the rule lets
	// request.
	PeersFromTarget bool
}

// RefusedError is a request refused by a Checker. Reason is safe to show
// to the requester.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "request refused: " + e.Reason }

// Refusef returns a *RefusedError with a formatted reason.
func Refusef(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// TargetLister is an optional capability of providers whose requests name
// a target: ListTargets offers the targets a person may pick from, so the
// CLI and web app can show a list instead of asking for a string.
//
// It has no side effects. Errors: a *RefusedError for a Parent that is not
// a valid target prefix (its Reason is safe to show); any other error means
// the target could not be read.
type TargetLister interface {
	ListTargets(ctx context.Context, req ListTargetsRequest) (ListTargetsResponse, error)
}

// ListTargetsRequest asks for the targets under Parent: "" for the
// top level (a cluster's namespaces), a prefix in the provider's target
// syntax otherwise ("deployments/default": the deployments in default).
type ListTargetsRequest struct {
	Resource string
	// User is the person asking; providers whose targets depend on who
	// asks (the Google Cloud roles a person is eligible for) list theirs.
	User   string
	Parent string
}

// ListTargetsResponse lists targets, each a complete target string that
// may be passed as a request's target.
type ListTargetsResponse struct {
	Targets []string
	// Truncated is true when there were more than the provider returns
	// at once.
	Truncated bool
}

// Exclusive is an optional capability of providers whose resources must
// not share something with another resource of the same policy: an SSH
// certificate authority's key (certificates name principals, not hosts, so
// a shared key would let one resource's certificates in to the other's
// hosts). ExclusiveKey returns what is exclusive, as a key comparable
// across resources ("" for nothing) and in words for the error; a policy
// in which two resources return the same key is refused.
type Exclusive interface {
	ExclusiveKey() (key, what string)
}

// Sweeper is an optional capability of providers whose target keeps jit's
// access with its expiry written on it but cannot end it by itself (a
// Kubernetes binding has no expiry). Sweep deletes every access jit created
// in the target whose recorded expiry has passed, from what the target
// holds alone, so that nothing outlives its expiry even when jit's store
// is lost or a revoke never ran. jitd calls it at start and periodically.
//
// It is idempotent and may run concurrently with Grant and Revoke (on
// several replicas at once). It returns how many objects it deleted; an
// error means the sweep was incomplete and is retried at the next run.
type Sweeper interface {
	Sweep(ctx context.Context) (int, error)
}

// KubeconfigWriter is an optional capability of Kubernetes providers:
// Kubeconfig returns a kubeconfig for user with one cluster, one context
// named after the resource and the user's own way of authenticating (an
// exec plugin), so that kubectl works once access is granted. It never
// holds a credential of jit's. It has no side effects; an error means the
// provider's client settings are incomplete.
type KubeconfigWriter interface {
	Kubeconfig(user string) ([]byte, error)
}

// HostMatcher is an optional capability of providers whose resources
// cover a set of hosts (SSH host groups): the CLI finds the resource for a
// host it is asked to connect to, and the login names a level carries.
type HostMatcher interface {
	// MatchHost reports whether host (a name or address) is one of the
	// resource's hosts.
	MatchHost(host string) bool
	// Principals lists the login names the grants of an access level
	// carry (nil for an unknown level).
	Principals(access string) []string
}

// CertificateAuthority is an optional capability of providers whose grants
// are certificates that targets check by themselves (SSH user
// certificates): they stop working at their own expiry even when jit is
// down, but cannot be recalled from the targets. Revoking such a grant
// puts it on a revocation list that jitd serves and the targets fetch.
type CertificateAuthority interface {
	// AuthorityKey returns the public key targets must trust, in their
	// own format (an authorized_keys line for sshd's TrustedUserCAKeys).
	// Errors: the CA key cannot be read.
	AuthorityKey() (string, error)
	// RevocationList encodes the revocation list of the grants given by
	// their handles (GrantResponse.Handle): the grants that ended before
	// their certificates' own expiry. Certificates already past their
	// expiry are left out. version must grow whenever the list changes.
	// It has no side effects. Errors: a handle that is not one of this
	// provider's (the list would silently miss a certificate, so none is
	// made), or the CA key cannot be read.
	RevocationList(handles []json.RawMessage, version uint64) ([]byte, error)
	// MaxValidity bounds how long any certificate it issues is valid, so
	// that jitd knows how far back ended grants may still need revoking.
	MaxValidity() time.Duration
}
