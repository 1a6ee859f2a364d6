package provider

import (
	"context"
	"errors"
	"time"
)

// ErrListUnsupported is returned (possibly wrapped) by List when this
// instance of a provider cannot list, because its configuration did not
// turn listing on (custom integrations written before listing existed do
// not implement it). Callers treat the provider as one without Lister.
var ErrListUnsupported = errors.New("listing is not enabled for this resource")

// Lister is an optional capability of providers that can enumerate the
// access jit created in their target. The reconciler uses it to find access
// that outlived its grant (a revoke lost to a crash or done by hand
// elsewhere being undone, a restore from backup): every listed grant whose
// request is not active in jit's store is revoked.
//
// List reports every access jit created in the target for the resource,
// each identified by the request ID it was granted under, and nothing that
// jit did not create (accounts made by people or by other tools). It has no
// side effects and may be called at any time, concurrently with Grant and
// Revoke. A target shared by several jit installations with different
// stores must not be listed, since each would take the other's grants for
// orphans.
//
// Errors: ErrListUnsupported when the instance cannot list (see there);
// any other error means the listing is incomplete and nothing may be
// concluded from it; the caller retries at its next run. A target that holds
// no access answers with an empty list, never an error.
type Lister interface {
	List(ctx context.Context, req ListRequest) (ListResponse, error)
}

// ListRequest asks for the access jit holds in one resource's target.
type ListRequest struct {
	// Resource is the resource's name in the policy.
	Resource string
}

// ListResponse is what the target holds.
type ListResponse struct {
	Grants []ListedGrant
}

// ListedGrant is one access found in the target.
type ListedGrant struct {
	// RequestID is the request the access was granted for (the
	// GrantRequest.RequestID). It is never empty.
	RequestID string
	// User is the requester's email, as given to Grant.
	User string
	// Access is the access level, when the target records it ("" when it
	// does not).
	Access string
	// ExpiresAt is the expiry the target itself enforces, when it has one.
	ExpiresAt *time.Time
}
