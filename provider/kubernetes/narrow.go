package kubernetes

import (
	"errors"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ErrNothingGranted is returned (wrapped) by Narrow when no rule of the
// role applies to the target: the request would grant nothing and is
// refused at submit.
var ErrNothingGranted = errors.New("the role grants nothing on this target")

// Narrow returns the part of a ClusterRole's rules that applies to t, as
// rules for a new ClusterRole that is then bound to t (by a RoleBinding in
// t's namespace, or a ClusterRoleBinding for cluster-wide and
// cluster-scoped targets):
//
//   - "*": every rule, unchanged (non-resource URLs included).
//   - a namespace: the rules for namespaced resources (decided by res;
//     resources it does not know are dropped, "*" is kept because a
//     RoleBinding confines it to the namespace anyway); non-resource URLs
//     are dropped, since a RoleBinding cannot grant them.
//   - a kind or an object: the rules whose API groups include the
//     target's group (or "*") and whose resources include its resource,
//     a subresource of it (deployments/scale, pods/log), "*" or "*/sub";
//     each is rewritten to name exactly that group and those resources
//     ("*" becomes the resource itself, without its subresources, which
//     RBAC cannot name by wildcard). For an object, ResourceNames is set
//     to its name; a rule that already lists names keeps it only if the
//     name is among them, and is dropped otherwise.
//
// For aggregated ClusterRoles (admin, edit, view on a real cluster) rules
// must be the role's rules field as the API server returns it: the
// aggregation controller fills it from the aggregated roles, and Narrow
// does not follow aggregationRule itself.
//
// The input is not modified. An empty result is an error wrapping
// ErrNothingGranted.
func Narrow(rules []rbacv1.PolicyRule, t Target, res Resolver) ([]rbacv1.PolicyRule, error) {
	var out []rbacv1.PolicyRule
	switch t.Scope {
	case ClusterWide:
		for _, r := range rules {
			out = append(out, *r.DeepCopy())
		}
	case Namespace:
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 || len(r.Resources) == 0 {
				continue
			}
			var kept []string
			for _, name := range r.Resources {
				if name == rbacv1.ResourceAll || namespacedInAny(res, r.APIGroups, name) {
					kept = append(kept, name)
				}
			}
			if len(kept) == 0 {
				continue
			}
			n := *r.DeepCopy()
			n.Resources = kept
			out = append(out, n)
		}
	case Kind, Object:
		for _, r := range rules {
			n, ok := narrowRule(r, t)
			if ok {
				out = append(out, n)
			}
		}
	default:
		return nil, fmt.Errorf("narrow: invalid target scope %v", t.Scope)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s %s: %w", t.Scope, t, ErrNothingGranted)
	}
	return out, nil
}

// narrowRule restricts one rule to a kind or object target.
func narrowRule(r rbacv1.PolicyRule, t Target) (rbacv1.PolicyRule, bool) {
	if len(r.NonResourceURLs) > 0 || len(r.Verbs) == 0 {
		return rbacv1.PolicyRule{}, false
	}
	if !contains(r.APIGroups, t.Resource.Group) && !contains(r.APIGroups, rbacv1.APIGroupAll) {
		return rbacv1.PolicyRule{}, false
	}
	var resources []string
	add := func(s string) {
		if !contains(resources, s) {
			resources = append(resources, s)
		}
	}
	base := t.Resource.Resource
	for _, name := range r.Resources {
		switch {
		case name == rbacv1.ResourceAll, name == base:
			add(base)
		case strings.HasPrefix(name, base+"/") && len(name) > len(base)+1:
			add(name)
		case strings.HasPrefix(name, "*/") && len(name) > 2:
			add(base + name[1:])
		}
	}
	if len(resources) == 0 {
		return rbacv1.PolicyRule{}, false
	}
	names := append([]string(nil), r.ResourceNames...)
	if t.Scope == Object {
		if len(names) > 0 && !contains(names, t.Name) {
			return rbacv1.PolicyRule{}, false
		}
		names = []string{t.Name}
	}
	return rbacv1.PolicyRule{
		Verbs:         append([]string(nil), r.Verbs...),
		APIGroups:     []string{t.Resource.Group},
		Resources:     resources,
		ResourceNames: names,
	}, true
}

// namespacedInAny reports whether resource (possibly with a subresource)
// is namespaced in one of groups, as far as res knows.
func namespacedInAny(res Resolver, groups []string, resource string) bool {
	if res == nil {
		return false
	}
	base, _, _ := strings.Cut(resource, "/")
	if base == "" || base == rbacv1.ResourceAll {
		// "*/scale": the subresource of every resource, namespaced ones
		// included; the RoleBinding confines it to the namespace.
		return base == rbacv1.ResourceAll
	}
	for _, g := range groups {
		if ns, known := res.Namespaced(g, base); known && ns {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
