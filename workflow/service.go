package workflow

import (
	"context"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/policy"
)

// Service is the API of the control plane. The caller's identity and the
// action's source come from the context (jit.WithIdentity, jit.WithSource);
// every method checks authorisation itself.
type Service struct{}

// Whoami returns the caller's identity.
func (s *Service) Whoami(ctx context.Context) (jit.Identity, error) { panic("unimplemented") }

// ResolveIdentity merges what config knows of email (groups, admin) with
// groups asserted by the authenticator (token claims).
func (s *Service) ResolveIdentity(email string, groups []string, via string) jit.Identity {
	panic("unimplemented")
}

// Offers lists what the caller may request.
func (s *Service) Offers(ctx context.Context) ([]policy.Offer, error) { panic("unimplemented") }

// Submit files a request for the caller.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*jit.Request, error) {
	panic("unimplemented")
}

// Approve records the caller's approval.
func (s *Service) Approve(ctx context.Context, id, comment string) (*jit.Request, error) {
	panic("unimplemented")
}

// Deny ends a pending request; reason is required.
func (s *Service) Deny(ctx context.Context, id, reason string) (*jit.Request, error) {
	panic("unimplemented")
}

// Cancel ends the caller's own pending or approved request.
func (s *Service) Cancel(ctx context.Context, id string) (*jit.Request, error) {
	panic("unimplemented")
}

// Relinquish ends the caller's own active access early.
func (s *Service) Relinquish(ctx context.Context, id string) (*jit.Request, error) {
	panic("unimplemented")
}

// Revoke ends someone's access (admins, and approvers eligible for the
// request); reason is required.
func (s *Service) Revoke(ctx context.Context, id, reason string) (*jit.Request, error) {
	panic("unimplemented")
}

// Extend files a new request linked to id for more time.
func (s *Service) Extend(ctx context.Context, id string, in ExtendInput) (*jit.Request, error) {
	panic("unimplemented")
}

// Get returns a request the caller may see.
func (s *Service) Get(ctx context.Context, id string) (*jit.Request, error) { panic("unimplemented") }

// Wait returns the request once its status is not in while, or when
// timeout passes (then the current state), whichever is first.
func (s *Service) Wait(ctx context.Context, id string, while []jit.Status, timeout time.Duration) (*jit.Request, error) {
	panic("unimplemented")
}

// List returns one page of requests.
func (s *Service) List(ctx context.Context, in ListInput) (Page, error) { panic("unimplemented") }

// Explain decides a hypothetical request without filing it.
func (s *Service) Explain(ctx context.Context, in ExplainInput) (policy.Decision, error) {
	panic("unimplemented")
}

// Audit returns audit events: admins see all, others the events of their
// own requests (RequestID required).
func (s *Service) Audit(ctx context.Context, f jit.AuditFilter) ([]jit.AuditEvent, error) {
	panic("unimplemented")
}

// VerifyAudit checks the whole chain (admins only).
func (s *Service) VerifyAudit(ctx context.Context) (audit.Result, error) { panic("unimplemented") }

// Authz is the forward-auth decision for the caller.
func (s *Service) Authz(ctx context.Context, in AuthzInput) (AuthzResult, error) {
	panic("unimplemented")
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { panic("unimplemented") }
