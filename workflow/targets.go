package workflow

import (
	"context"
	"errors"
	"strings"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// mayRequest returns the caller and the resource's provider when the
// caller may request the resource under some rule (it is among their
// offers). Others get not_found, as for a resource that does not exist,
// so that the listing of targets reveals nothing to people who may not ask.
func (s *Service) mayRequest(ctx context.Context, resource string) (jit.Identity, provider.Provider, error) {
	id, err := caller(ctx)
	if err != nil {
		return jit.Identity{}, nil, err
	}
	p := s.policy.Get()
	if s.offered(p, id, resource, s.now()) {
		if prov, ok := s.providerFor(p, resource); ok {
			return id, prov, nil
		}
	}
	return jit.Identity{}, nil, jit.Errorf(jit.ECodeNotFound, "resource %s not found among those you may request", resource)
}

// Targets lists the targets of resource under parent that the caller may
// pick from for a request ("" lists the top level: a cluster's
// namespaces). Only people who may request the resource may list.
func (s *Service) Targets(ctx context.Context, resource, parent string) (provider.ListTargetsResponse, error) {
	id, prov, err := s.mayRequest(ctx, resource)
	if err != nil {
		return provider.ListTargetsResponse{}, err
	}
	if len(parent) > maxTargetLen {
		return provider.ListTargetsResponse{}, jit.FieldErrorf("parent", jit.ECodeInvalid, "parent is %d bytes long; at most %d are accepted", len(parent), maxTargetLen)
	}
	lister, ok := provider.As[provider.TargetLister](prov)
	if !ok {
		return provider.ListTargetsResponse{}, jit.Errorf(jit.ECodeInvalid, "resource %s has no targets to list", resource)
	}
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	resp, err := lister.ListTargets(cctx, provider.ListTargetsRequest{Resource: resource, User: id.Email, Parent: strings.TrimSpace(parent)})
	var refused *provider.RefusedError
	switch {
	case errors.As(err, &refused):
		return provider.ListTargetsResponse{}, jit.FieldErrorf("parent", jit.ECodeRefused, "%s", refused.Reason)
	case err != nil:
		s.log.Error("list targets", "resource", resource, "err", err)
		return provider.ListTargetsResponse{}, jit.Errorf(jit.ECodeUnavailable, "the targets of %s could not be read; retry later", resource)
	}
	if resp.Targets == nil {
		resp.Targets = []string{}
	}
	return resp, nil
}

// Kubeconfig returns a kubeconfig for the caller and a Kubernetes
// resource they may request: the cluster's address and CA and the
// caller's own way of signing in, so that kubectl works once access is
// granted. It holds no credential.
func (s *Service) Kubeconfig(ctx context.Context, resource string) ([]byte, error) {
	id, prov, err := s.mayRequest(ctx, resource)
	if err != nil {
		return nil, err
	}
	w, ok := provider.As[provider.KubeconfigWriter](prov)
	if !ok {
		return nil, jit.Errorf(jit.ECodeInvalid, "resource %s is not a Kubernetes cluster", resource)
	}
	b, err := w.Kubeconfig(id.Email)
	if err != nil {
		s.log.Error("kubeconfig", "resource", resource, "err", err)
		return nil, jit.Errorf(jit.ECodeUnavailable, "no kubeconfig can be made for %s: its client settings are incomplete (see the server log)", resource)
	}
	return b, nil
}
