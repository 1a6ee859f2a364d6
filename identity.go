package jit

import (
	"context"
	"slices"
	"time"
)

// Identity is an authenticated person. People are identified by email.
type Identity struct {
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
	// Admin may revoke any access and read the whole audit log.
	Admin bool `json:"admin"`
	// Via says how the identity was established: "token", "dev-token",
	// "proxy-jwt", "system".
	Via string `json:"via"`
	// ClaimGroups are the groups the credential itself asserted (a proxy
	// JWT's groups claim), as opposed to those config gives the email.
	// Only these are recorded with a request: config membership is always
	// read from the policy in force, so removing someone from a group in
	// config takes effect on their requests and grants.
	ClaimGroups []string `json:"-"`
}

// InGroup reports whether the identity is a member of group.
func (i Identity) InGroup(group string) bool { return slices.Contains(i.Groups, group) }

// SystemActor is the actor of changes jit makes by itself (expiry, lapse,
// policy-driven revocation).
const SystemActor = "system"

// Source says where an action came from; it is recorded in the audit log.
type Source struct {
	// Kind is one of cli, web, api, slack, system.
	Kind      string `json:"kind"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// SystemSource is the source of actions jit takes by itself.
var SystemSource = Source{Kind: "system"}

// Token is an API token's stored form: only its SHA-256 hash is kept.
type Token struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

type identityKey struct{}

// WithIdentity returns a context carrying the authenticated identity.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity in ctx, if any.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

type sourceKey struct{}

// WithSource returns a context carrying where the action came from.
func WithSource(ctx context.Context, s Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, s)
}

// SourceFrom returns the source in ctx, or {Kind: "api"} when none was set.
func SourceFrom(ctx context.Context) Source {
	if s, ok := ctx.Value(sourceKey{}).(Source); ok {
		return s
	}
	return Source{Kind: "api"}
}
