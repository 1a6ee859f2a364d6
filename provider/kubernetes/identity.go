package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	k8s "k8s.io/client-go/kubernetes"
)

// On Amazon EKS a person authenticates with an IAM principal, which the
// cluster maps to a Kubernetes user name: through the aws-auth ConfigMap
// or through EKS access entries. With the eks setting, a grant makes that
// mapping for the requester (to user_prefix + email, the subject of the
// binding), and a revoke removes it when no other grant of the person
// still holds it. Each of a person's overlapping grants holds the mapping
// under its own request ID, so they stay independent.

// username is the Kubernetes user name of a requester: the subject of the
// bindings and the name their IAM principal is mapped to on EKS.
func (p *Provider) username(user string) string { return p.cfg.userPrefix + user }

// checkRequester refuses a requester whose Kubernetes user name could
// name someone else. A User subject is matched by name alone, and
// Kubernetes reserves "system:" for its own identities: a binding to
// "system:anonymous" grants every unauthenticated caller, one to
// "system:serviceaccount:NS:NAME" that service account. Requesters are
// people, identified by email.
func (p *Provider) checkRequester(user string) error {
	if err := checkEmail(user); err != nil {
		return fmt.Errorf("the requester: %w", err)
	}
	name := p.username(user)
	if strings.HasPrefix(name, "system:") {
		return fmt.Errorf("the Kubernetes user name %q starts with \"system:\", which Kubernetes reserves for its own identities", name)
	}
	if strings.ContainsAny(name, "{}") {
		// The EKS authenticator expands {{SessionName}} and the like in
		// mapped user names.
		return fmt.Errorf("the Kubernetes user name %q contains a brace, which the EKS authenticator would expand", name)
	}
	return nil
}

// mapIdentity maps the requester's IAM principal for requestID. wrote
// reports whether the cluster or EKS was changed. Errors are
// provider.NotApplied when nothing was changed.
func (p *Provider) mapIdentity(ctx context.Context, c k8s.Interface, requestID, user string, pr IAMPrincipal, expires time.Time) (wrote bool, err error) {
	switch p.cfg.eks.mode {
	case modeAWSAuth:
		return p.awsAuthGrant(ctx, c, requestID, user, pr, expires)
	case modeAccessEntries:
		return p.accessEntryGrant(ctx, requestID, user, pr, expires)
	}
	return false, fmt.Errorf("unknown eks mode %q", p.cfg.eks.mode)
}

// principalOf returns the IAM principal of a grant: the handle's, or the
// one the settings give the user now.
func (p *Provider) principalOf(user string, h *handle) (IAMPrincipal, error) {
	if h != nil && h.IAMPrincipal != "" {
		return ParseIAMARN(h.IAMPrincipal)
	}
	return p.cfg.eks.iamPrincipalFor(user)
}

// unmapIdentity drops requestID's share of the mapping and removes the
// mapping when no other grant holds it. It is idempotent.
func (p *Provider) unmapIdentity(ctx context.Context, c k8s.Interface, requestID, user string, h *handle) error {
	switch p.cfg.eks.mode {
	case modeAWSAuth:
		// The ConfigMap records which requests hold each entry.
		return p.awsAuthRevoke(ctx, c, requestID)
	case modeAccessEntries:
		pr, err := p.principalOf(user, h)
		if err != nil {
			return fmt.Errorf("finding the access entry to remove: %w", err)
		}
		return p.accessEntryRevoke(ctx, requestID, pr)
	}
	return fmt.Errorf("unknown eks mode %q", p.cfg.eks.mode)
}

// identityMapped reports whether the requester's IAM principal is mapped
// to their Kubernetes user name.
func (p *Provider) identityMapped(ctx context.Context, c k8s.Interface, user string, h *handle) (bool, error) {
	pr, err := p.principalOf(user, h)
	if err != nil {
		return false, fmt.Errorf("finding the IAM principal: %w", err)
	}
	switch p.cfg.eks.mode {
	case modeAWSAuth:
		return p.awsAuthMapped(ctx, c, pr, p.username(user))
	case modeAccessEntries:
		return p.accessEntryMapped(ctx, pr, p.username(user))
	}
	return false, fmt.Errorf("unknown eks mode %q", p.cfg.eks.mode)
}
