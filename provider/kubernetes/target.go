package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Scope says what a Target covers.
type Scope int

// The scopes of a target.
const (
	// ClusterWide is "*": the whole cluster, bound by a ClusterRoleBinding.
	ClusterWide Scope = iota + 1
	// Namespace is "<namespace>": every namespaced resource of one
	// namespace, bound by a RoleBinding there.
	Namespace
	// Kind is "<kind>/<namespace>": every object of one namespaced kind in
	// one namespace, bound by a RoleBinding there.
	Kind
	// Object is "<kind>/<namespace>/<name>" for a namespaced kind (bound by
	// a RoleBinding) or "<kind>/<name>" for a cluster-scoped kind (bound by
	// a ClusterRoleBinding): exactly one object.
	Object
)

func (s Scope) String() string {
	switch s {
	case ClusterWide:
		return "cluster"
	case Namespace:
		return "namespace"
	case Kind:
		return "kind"
	case Object:
		return "object"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// APIResource is a resource as the API server serves it.
type APIResource struct {
	// Group is the API group ("" for the core group, "apps", ...).
	Group string
	// Resource is the lower-case plural resource ("deployments").
	Resource string
	// Namespaced is false for cluster-scoped resources (nodes, namespaces).
	Namespaced bool
}

func (r APIResource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Resolver maps what a person typed for a kind to the API resource. It is
// RESTMapper-like: the running provider backs it with the cluster's
// discovery information, tests with a static table (NewMapperResolver over
// a meta.DefaultRESTMapper).
type Resolver interface {
	// Lookup resolves a plural resource ("deployments"), a singular one
	// ("deployment"), a Kind ("Deployment"), each optionally qualified by
	// its group after a dot ("deployments.apps"). A name the cluster
	// does not serve is an error wrapping ErrUnknownKind (or a
	// meta.NoMatchError); an ambiguous one a *meta.AmbiguousResourceError;
	// it never guesses. Any other error means it could not answer.
	Lookup(name string) (APIResource, error)
	// Namespaced reports whether group/resource (a plural resource,
	// without subresource) is namespaced; known is false when the
	// resolver does not know it.
	Namespaced(group, resource string) (namespaced, known bool)
}

// Target is what a request is for, parsed by ParseTarget.
type Target struct {
	Scope Scope
	// Namespace is set for Namespace and Kind scopes and for Object scope
	// of a namespaced kind.
	Namespace string
	// Resource is set for Kind and Object scopes.
	Resource APIResource
	// Name is set for the Object scope.
	Name string
}

// Namespaced reports whether the target's grant is bound in a namespace
// (by a RoleBinding) rather than cluster-wide (by a ClusterRoleBinding).
func (t Target) Namespaced() bool { return t.Namespace != "" }

// String returns the canonical form of t ("deployments.apps/default/web").
func (t Target) String() string {
	switch t.Scope {
	case ClusterWide:
		return "*"
	case Namespace:
		return t.Namespace
	case Kind:
		return t.Resource.String() + "/" + t.Namespace
	case Object:
		if t.Namespace == "" {
			return t.Resource.String() + "/" + t.Name
		}
		return t.Resource.String() + "/" + t.Namespace + "/" + t.Name
	}
	return ""
}

// DefaultProtectedNamespaces are the namespaces no target may name unless
// the protected_namespaces setting says otherwise.
var DefaultProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// ErrUnknownKind is returned (wrapped) by a Resolver for a name the
// cluster does not serve.
var ErrUnknownKind = errors.New("no such resource or kind in the cluster")

// TargetError is a target refused by ParseTarget. Reason is safe to show to
// the requester.
type TargetError struct {
	Target string
	Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("kubernetes target %q: %s", e.Target, e.Reason)
}

// maxTarget bounds the input: the longest valid target is a kind, a
// namespace (63) and a name (253) with separators.
const maxTarget = 1024

// ParseTarget parses a target:
//
//	"*"                        the whole cluster
//	<namespace>                every namespaced resource of a namespace
//	<kind>/<namespace>         every object of a namespaced kind in a namespace
//	<kind>/<namespace>/<name>  one object of a namespaced kind
//	<kind>/<name>              one object of a cluster-scoped kind (nodes/node-1)
//
// A kind is a plural resource (deployments), a singular one or a Kind name
// (Deployment), optionally followed by ".<group>", resolved by res; whether
// two segments mean kind/namespace or kind/name follows from the kind's
// scope. Targets naming a protected namespace, as a namespace or as a
// Namespace object (namespaces/kube-system), are refused with a
// *TargetError, as is every other target that cannot be granted. Only a
// resolver that could not answer (the cluster's discovery is unreachable)
// gives another error: the target may be fine, it could not be checked.
func ParseTarget(s string, res Resolver, protected []string) (Target, error) {
	return parseTarget(s, res, protected)
}

// shownTarget is s cut for messages.
func shownTarget(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func parseTarget(s string, res Resolver, protected []string) (Target, error) {
	fail := func(format string, args ...any) (Target, error) {
		return Target{}, &TargetError{Target: shownTarget(s), Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case s == "":
		return fail("is empty: give *, a namespace, kind/namespace, kind/namespace/name or kind/name")
	case len(s) > maxTarget:
		return fail("is longer than %d bytes", maxTarget)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fail("contains white space or control characters")
	case s == "*":
		return Target{Scope: ClusterWide}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) > 3 {
		return fail("has %d segments; at most 3 (kind/namespace/name)", len(parts))
	}
	for _, p := range parts {
		if p == "" {
			return fail("has an empty segment")
		}
		if strings.Contains(p, "*") {
			return fail("only the whole target may be *; wildcards in segments are not supported")
		}
	}
	checkNamespace := func(ns string) error {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("%q is not a valid namespace name: %s", ns, strings.Join(errs, "; "))
		}
		for _, p := range protected {
			if ns == p {
				return fmt.Errorf("namespace %q is protected", ns)
			}
		}
		return nil
	}
	if len(parts) == 1 {
		if err := checkNamespace(parts[0]); err != nil {
			return fail("%v", err)
		}
		return Target{Scope: Namespace, Namespace: parts[0]}, nil
	}
	if res == nil {
		return fail("no resolver for kinds")
	}
	r, err := res.Lookup(parts[0])
	if err != nil {
		if unknownKind(err) {
			return fail("kind %q: %v", parts[0], err)
		}
		return Target{}, fmt.Errorf("kubernetes target %q: resolving kind %q: %w", shownTarget(s), parts[0], err)
	}
	if r.Resource == "" || strings.ContainsAny(r.Resource, "/*") {
		return fail("kind %q resolved to the invalid resource %q", parts[0], r.Resource)
	}
	if !r.Namespaced {
		if len(parts) == 3 {
			return fail("%s is cluster-scoped: write %s/<name>", r, parts[0])
		}
		name := parts[1]
		if err := checkName(name); err != nil {
			return fail("%v", err)
		}
		if r.Group == "" && r.Resource == "namespaces" {
			for _, p := range protected {
				if name == p {
					return fail("namespace %q is protected", name)
				}
			}
		}
		return Target{Scope: Object, Resource: r, Name: name}, nil
	}
	if err := checkNamespace(parts[1]); err != nil {
		return fail("%v", err)
	}
	if len(parts) == 2 {
		return Target{Scope: Kind, Namespace: parts[1], Resource: r}, nil
	}
	if err := checkName(parts[2]); err != nil {
		return fail("%v", err)
	}
	return Target{Scope: Object, Namespace: parts[1], Resource: r, Name: parts[2]}, nil
}

// checkName accepts what the API server accepts in a resource name in a
// URL path; kinds differ in what else they require (most are DNS
// subdomains, RBAC objects allow ':'), and a name that does not exist
// simply matches nothing.
func checkName(name string) error {
	if len(name) > validation.DNS1123SubdomainMaxLength {
		return fmt.Errorf("object name is longer than %d bytes", validation.DNS1123SubdomainMaxLength)
	}
	if errs := path.IsValidPathSegmentName(name); len(errs) > 0 {
		return fmt.Errorf("%q is not a valid object name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// MapperResolver is a Resolver backed by a meta.RESTMapper: a
// meta.DefaultRESTMapper filled from a table in tests, or a
// restmapper.DeferredDiscoveryRESTMapper over the cluster's discovery
// information in the running provider.
type MapperResolver struct {
	Mapper meta.RESTMapper
}

// NewMapperResolver returns a Resolver backed by m.
func NewMapperResolver(m meta.RESTMapper) *MapperResolver { return &MapperResolver{Mapper: m} }

// Lookup implements Resolver.
func (m *MapperResolver) Lookup(name string) (APIResource, error) {
	if m == nil || m.Mapper == nil {
		return APIResource{}, errors.New("no REST mapper")
	}
	base, group, _ := strings.Cut(name, ".")
	// A plural or singular resource, as kubectl accepts it.
	if gvr, err := m.Mapper.ResourceFor(schema.GroupVersionResource{Group: group, Resource: strings.ToLower(base)}); err == nil {
		gvk, err := m.Mapper.KindFor(gvr)
		if err != nil {
			return APIResource{}, err
		}
		return m.mapping(gvk.GroupKind(), gvk.Version)
	} else if isAmbiguous(err) {
		return APIResource{}, err
	}
	// A Kind name, matched exactly (Kinds are CamelCase).
	r, err := m.mapping(schema.GroupKind{Group: group, Kind: base})
	if err != nil {
		if meta.IsNoMatchError(err) {
			return APIResource{}, ErrUnknownKind
		}
		return APIResource{}, err
	}
	return r, nil
}

func (m *MapperResolver) mapping(gk schema.GroupKind, versions ...string) (APIResource, error) {
	mp, err := m.Mapper.RESTMapping(gk, versions...)
	if err != nil {
		return APIResource{}, err
	}
	return APIResource{
		Group:      mp.Resource.Group,
		Resource:   mp.Resource.Resource,
		Namespaced: mp.Scope.Name() == meta.RESTScopeNameNamespace,
	}, nil
}

// GroupVersionResource returns r with the version the cluster prefers,
// for clients that address resources by version (listing objects).
func (m *MapperResolver) GroupVersionResource(r APIResource) (schema.GroupVersionResource, error) {
	if m == nil || m.Mapper == nil {
		return schema.GroupVersionResource{}, errors.New("no REST mapper")
	}
	// An empty group means "any group" to a RESTMapper: filter exactly.
	all, err := m.Mapper.ResourcesFor(schema.GroupVersionResource{Group: r.Group, Resource: r.Resource})
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	for _, gvr := range all {
		if gvr.Group == r.Group && gvr.Resource == r.Resource {
			return gvr, nil
		}
	}
	return schema.GroupVersionResource{}, fmt.Errorf("%s: %w", r, ErrUnknownKind)
}

// Namespaced implements Resolver.
func (m *MapperResolver) Namespaced(group, resource string) (bool, bool) {
	if m == nil || m.Mapper == nil {
		return false, false
	}
	// An empty group means "any group" to a RESTMapper, but "the core
	// group" in a PolicyRule; "*" is any group in both.
	q := group
	if q == "*" {
		q = ""
	}
	kinds, err := m.Mapper.KindsFor(schema.GroupVersionResource{Group: q, Resource: resource})
	if err != nil {
		return false, false
	}
	var gvk schema.GroupVersionKind
	found := false
	for _, k := range kinds {
		if group == "*" || k.Group == group {
			gvk, found = k, true
			break
		}
	}
	if !found {
		return false, false
	}
	r, err := m.mapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false, false
	}
	return r.Namespaced, true
}

// unknownKind reports whether a Resolver's error means that the name is
// not (or not unambiguously) a kind of the cluster, rather than that the
// resolver could not answer.
func unknownKind(err error) bool {
	return errors.Is(err, ErrUnknownKind) || meta.IsNoMatchError(err) || isAmbiguous(err)
}

func isAmbiguous(err error) bool {
	var a *meta.AmbiguousResourceError
	return errors.As(err, &a)
}
