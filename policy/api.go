// Package policy loads jit.yaml (server settings, identities and groups,
// resources and rules) and decides requests: who may request what, for how
// long, with what justification, who approves and how many approvals are
// needed, and what is approved automatically. CEL conditions
// (cel.dev/cel-go) refine rules. Every decision carries its explanation.
package policy

import (
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// Input is what a decision is about.
type Input struct {
	Requester jit.Identity
	Resource  string
	// Access is the requested access level; "" means the resource's
	// default (or its only level).
	Access   string
	Duration time.Duration
	Reason   string
	Time     time.Time
	// ReasonUnknown says the reason is not known yet (explaining a request
	// before it is written): an empty reason then does not refuse a rule,
	// and the explanation says what reason the rule needs.
	ReasonUnknown bool
	// OnCall holds the answers to the on-call lookups OnCallQueries listed
	// for this input, by OnCallQuery.Key. Decide never looks anything up
	// itself: a rule whose auto_approve has oncall approves automatically
	// only when its answer is here and says the requester is on call; a
	// missing answer or one with an error means normal approval.
	OnCall map[string]OnCallAnswer
	// Target and Labels are the request's target and what its provider's
	// check found about the requester (see provider.CheckResponse);
	// conditions see them as target and labels.
	Target string
	Labels []string
}

// RequestInput is the input that decides a stored request again as it was
// made: at its submit time, with the target and labels its provider's
// check found then, so that only a change of policy or of the requester's
// groups can change the outcome, not the clock passing a time-of-day
// condition. requester is the requester's identity as it is now.
func RequestInput(requester jit.Identity, r *jit.Request) Input {
	return Input{Requester: requester, Resource: r.Resource, Access: r.Access, Duration: r.Duration,
		Reason: r.Reason, Time: r.CreatedAt, Target: r.Target, Labels: r.Labels}
}

// Decision is the outcome of Policy.Decide.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Code and Message say why not, when not allowed (jit error codes:
	// unknown_resource, unknown_access, duration_too_long, invalid_duration,
	// justification_required, justification_mismatch, not_allowed).
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Field names the input field a refusal is about (resource, access,
	// duration, reason), when there is one.
	Field string `json:"field,omitempty"`
	// Rule is the name of the rule that allowed the request.
	Rule string `json:"rule,omitempty"`
	// Access is the resolved access level (the default filled in).
	Access            string        `json:"access,omitempty"`
	MaxDuration       time.Duration `json:"-"`
	ApprovalsRequired int           `json:"approvals_required"`
	AutoApproved      bool          `json:"auto_approved"`
	// Approvers describes who may approve: "group:sre", "user:x@y", "peers".
	Approvers []string `json:"approvers,omitempty"`
	// ApproverEmails lists the known identities (from config) who may
	// approve this requester's request.
	ApproverEmails []string `json:"approver_emails,omitempty"`
	SelfApproval   bool     `json:"self_approval"`
	// OnCall says where and until when the requester is on call, when the
	// request is approved automatically because they are (a rule's
	// auto_approve.oncall); nil otherwise.
	OnCall *OnCallResult `json:"oncall,omitempty"`
	// Explanation is a human-readable trace: which rules were considered
	// and why each matched or not.
	Explanation []string `json:"explanation"`
}

// Err returns the decision's refusal as a *jit.Error, or nil when allowed.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &jit.Error{Code: d.Code, Message: d.Message, Field: d.Field}
}

// Offer is one resource a person may request, for `jit resources`.
type Offer struct {
	Resource      string   `json:"resource"`
	Description   string   `json:"description,omitempty"`
	Provider      string   `json:"provider"`
	Access        []string `json:"access"`
	DefaultAccess string   `json:"default_access,omitempty"`
	// MaxDuration is the longest duration any rule allows, Go notation.
	MaxDuration string `json:"max_duration"`
	// ApprovalRequired is false when a rule approves automatically.
	ApprovalRequired  bool     `json:"approval_required"`
	ApprovalsRequired int      `json:"approvals_required"`
	Approvers         []string `json:"approvers,omitempty"`
	// ReasonPattern is the justification pattern, when a rule sets one.
	ReasonRequired bool     `json:"reason_required"`
	ReasonPattern  string   `json:"reason_pattern,omitempty"`
	Rules          []string `json:"rules"`
	// Conditions are the CEL conditions of the offering rules; a request
	// must satisfy one of them (for example a duration limit or a reason
	// format).
	Conditions []string `json:"conditions,omitempty"`
}

// Approval check outcome.
type ApproveCheck struct {
	OK bool
	// Code is ECodeSelfApproval, ECodeNotApprover or ECodeNotAllowed when
	// the request is no longer allowed by current policy.
	Code    string
	Message string
	// ApprovalsRequired is what the rule allowing the request asks for
	// now (0 when it approves automatically); a request that was submitted
	// under a laxer rule needs the larger of this and its own count.
	ApprovalsRequired int
}

// ResourceInfo exposes a configured resource.
type ResourceInfo struct {
	Name          string
	Description   string
	Provider      string
	Settings      map[string]any
	Access        []string
	DefaultAccess string
	// Labels are the resource's labels from config (never nil).
	Labels map[string]string
}

// Server settings, from the `server:` section of jit.yaml.
type ServerConfig struct {
	// Addr is the listen address (default 127.0.0.1:8080).
	Addr string
	// DataDir holds the SQLite database when Store.SQLite is empty
	// (default ./.jit).
	DataDir string
	Store   StoreConfig
	// LapseAfter is how long a request may stay pending (default 24h).
	LapseAfter time.Duration
	// GrantAttempts is how often a grant is tried before the request
	// fails (default 5).
	GrantAttempts int
	// RevokeMaxBackoff caps the revoke retry delay (default 5m).
	RevokeMaxBackoff time.Duration
	// JobLease is how long a replica reserves a job it runs; the lease is
	// renewed while the job runs, so a crashed replica's jobs are taken
	// over within about one lease (default 30s).
	JobLease time.Duration
	// ReconcileInterval is how often targets are compared with the store
	// (drift: access in a target with no active grant, or an active grant
	// whose access vanished). Default 5m; 0 turns it off.
	ReconcileInterval time.Duration
	// RateLimit limits writes per identity.
	RateLimit RateLimitConfig
	// Proxy, when set, trusts an identity-assertion JWT header.
	Proxy *ProxyConfig
	// OIDC, when set, signs people in to the web UI through an OpenID
	// Connect provider.
	OIDC *OIDCConfig
	// BaseURL is the public URL of jitd (for links), optional.
	BaseURL string
	// Notifications says who is told about changes (nil: nobody).
	Notifications *NotificationsConfig
	// PagerDuty, when set, is where on-call lookups for automatic
	// approval go (rules with auto_approve.oncall need it).
	PagerDuty *PagerDutyConfig
}

type StoreConfig struct {
	// SQLite is the path of the SQLite file (default DataDir/jit.db).
	SQLite string
	// Postgres is a DSN (reserved for the PostgreSQL store).
	Postgres string
}

type RateLimitConfig struct {
	// WritesPerMinute per identity (default 120); 0 uses the default,
	// negative disables.
	WritesPerMinute int
	Burst           int
}

// ProxyConfig configures identity from a trusted proxy's JWT header
// (Pomerium X-Pomerium-Jwt-Assertion, Google IAP x-goog-iap-jwt-assertion).
type ProxyConfig struct {
	Header   string
	JWKSURL  string
	Issuer   string
	Audience string
	// EmailClaim (default "email") and GroupsClaim (default "groups").
	EmailClaim  string
	GroupsClaim string
}

// OIDCConfig configures sign-in to the web UI through an OpenID Connect
// provider (server.oidc). It holds where the client secret is, never the
// secret: jitd reads it at start with ClientSecret, so the secret stays out
// of the policy, its printed forms and the audit log.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (https, or http on loopback).
	Issuer   string
	ClientID string
	// Exactly one of ClientSecretFile (a file holding the secret) and
	// ClientSecretEnv (an environment variable of jitd holding it) is set.
	ClientSecretFile string
	ClientSecretEnv  string
	// RedirectURL is jit's callback registered at the provider, ending in
	// /auth/callback (default: server.base_url + "/auth/callback").
	RedirectURL string
	// EmailClaim (default "email") and GroupsClaim (default "groups").
	EmailClaim  string
	GroupsClaim string
	// Scopes are requested in addition to openid, email and profile.
	Scopes []string
	// AllowUnverifiedEmail accepts tokens whose email_verified is false.
	AllowUnverifiedEmail bool
	// Name is the provider's name on the sign-in button (default: the
	// issuer's host).
	Name string
}

// keep the imports used while the implementation is written.
var _ provider.Provider
