package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jitaccess/jit/provider"
)

// List implements provider.Lister: every ClusterRole, RoleBinding and
// ClusterRoleBinding labelled app.kubernetes.io/managed-by=jit whose
// annotations name this resource, one entry per request ID (a role and its
// binding are one grant), with the requester, access and expiry recorded
// on them; with eks.aws_auth also the requests of this resource holding
// jit's aws-auth entries. The expiry is the one the objects carry, which
// Sweep enforces; the cluster itself enforces none. Objects made by people
// or other tools (without jit's label and request annotation) are never
// listed.
//
// A cluster shared by two jit installations with different stores must
// not be listed, since each would take the other's grants for orphans and
// revoke them: set list: false on such resources, and List answers
// provider.ErrListUnsupported. Several resources of one installation on
// one cluster are fine: each lists only its own.
//
// It has no side effects. Errors: ErrListUnsupported (above); any other
// error means the listing is incomplete.
func (p *Provider) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	if !p.cfg.list {
		return provider.ListResponse{}, fmt.Errorf("kubernetes list %s: %w (list: false)", p.cfg.resource, provider.ErrListUnsupported)
	}
	c, _, err := p.connect()
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("kubernetes list %s: %w", p.cfg.resource, err)
	}
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue}
	byID := map[string]provider.ListedGrant{}
	add := func(m metav1.ObjectMeta) {
		id := m.Annotations[AnnotationRequestID]
		if id == "" || m.Name != ObjectName(id) || m.Annotations[AnnotationResource] != p.cfg.resource {
			return
		}
		if _, seen := byID[id]; seen {
			return
		}
		g := provider.ListedGrant{RequestID: id, User: m.Annotations[AnnotationRequester], Access: m.Annotations[AnnotationAccess]}
		if at, err := time.Parse(time.RFC3339, m.Annotations[AnnotationExpiresAt]); err == nil {
			g.ExpiresAt = &at
		}
		byID[id] = g
	}
	roles, err := c.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("kubernetes list %s: listing ClusterRoles: %w", p.cfg.resource, err)
	}
	for _, r := range roles.Items {
		add(r.ObjectMeta)
	}
	crbs, err := c.RbacV1().ClusterRoleBindings().List(ctx, sel)
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("kubernetes list %s: listing ClusterRoleBindings: %w", p.cfg.resource, err)
	}
	for _, b := range crbs.Items {
		add(b.ObjectMeta)
	}
	rbs, err := c.RbacV1().RoleBindings(metav1.NamespaceAll).List(ctx, sel)
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("kubernetes list %s: listing RoleBindings: %w", p.cfg.resource, err)
	}
	for _, b := range rbs.Items {
		add(b.ObjectMeta)
	}
	if p.cfg.eks != nil && p.cfg.eks.mode == modeAWSAuth {
		held, err := p.awsAuthListed(ctx, c)
		if err != nil {
			return provider.ListResponse{}, fmt.Errorf("kubernetes list %s: %w", p.cfg.resource, err)
		}
		for _, g := range held {
			if _, seen := byID[g.RequestID]; !seen {
				byID[g.RequestID] = g
			}
		}
	}
	out := make([]provider.ListedGrant, 0, len(byID))
	for _, g := range byID {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestID < out[j].RequestID })
	return provider.ListResponse{Grants: out}, nil
}
