package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/jitaccess/jit/provider"
)

// MaxTargets is how many targets ListTargets returns at once.
const MaxTargets = 500

// listPage is the page size of the list calls behind ListTargets.
const listPage = 500

// VersionResolver is implemented by Resolvers that know the version the
// cluster serves a resource at (MapperResolver does); ListTargets needs it
// to list objects.
type VersionResolver interface {
	GroupVersionResource(r APIResource) (schema.GroupVersionResource, error)
}

// parentKind says what ListTargets lists under a parent.
type parentKind int

const (
	parentNamespaces       parentKind = iota + 1 // "": the namespaces, and "*"
	parentObjects                                // KIND/NAMESPACE, or KIND of a cluster-scoped kind
	parentKindInNamespaces                       // KIND of a namespaced kind: KIND/NAMESPACE for each namespace
)

// parent is a parsed ListTargetsRequest.Parent.
type parent struct {
	kind      parentKind
	resource  APIResource
	namespace string
}

// parseParent parses a ListTargets parent: "" (namespaces), a kind, or
// kind/namespace. Every refusal is a *TargetError (the parent is not a
// prefix of any target that could be requested); an error of the resolver
// that could not answer is returned as it is.
func parseParent(s string, res Resolver, protected []string) (parent, error) {
	fail := func(format string, args ...any) (parent, error) {
		return parent{}, &TargetError{Target: shownTarget(s), Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case s == "":
		return parent{kind: parentNamespaces}, nil
	case len(s) > maxTarget:
		return fail("is longer than %d bytes", maxTarget)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fail("contains white space or control characters")
	case s == "*":
		return fail("* is a complete target; nothing is listed under it")
	}
	parts := strings.Split(s, "/")
	if len(parts) > 2 {
		return fail("targets are listed under \"\" (namespaces), KIND or KIND/NAMESPACE; %d segments name a complete target", len(parts))
	}
	if len(parts) == 2 {
		t, err := ParseTarget(s, res, protected)
		if err != nil {
			return parent{}, err
		}
		if t.Scope != Kind {
			return fail("%s is cluster-scoped: list its objects under %s", t.Resource, parts[0])
		}
		return parent{kind: parentObjects, resource: t.Resource, namespace: t.Namespace}, nil
	}
	name := parts[0]
	if strings.Contains(name, "*") {
		return fail("only the whole target may be *; wildcards in segments are not supported")
	}
	if contains(protected, name) {
		return fail("namespace %q is protected", name)
	}
	if res == nil {
		return fail("no resolver for kinds")
	}
	r, err := res.Lookup(name)
	if err != nil {
		if unknownKind(err) {
			return fail("%q is not a kind of the cluster (%v); list a namespace's objects under KIND/NAMESPACE", name, err)
		}
		return parent{}, fmt.Errorf("kubernetes parent %q: resolving kind: %w", shownTarget(s), err)
	}
	if r.Resource == "" || strings.ContainsAny(r.Resource, "/*") {
		return fail("kind %q resolved to the invalid resource %q", name, r.Resource)
	}
	if r.Namespaced {
		return parent{kind: parentKindInNamespaces, resource: r}, nil
	}
	return parent{kind: parentObjects, resource: r}, nil
}

// ListTargets implements provider.TargetLister. Under Parent "" it lists
// "*" and every namespace but the protected ones; under "KIND/NAMESPACE"
// the objects of that kind there, as "KIND/NAMESPACE/NAME"; under "KIND"
// the objects of a cluster-scoped kind, as "KIND/NAME", or for a
// namespaced kind "KIND/NAMESPACE" for each namespace that may be
// requested. KIND is written in canonical form ("deployments.apps"),
// whatever the parent used. Objects are listed by their metadata only,
// so that listing Secrets never reads their data. At most MaxTargets are
// returned, with Truncated set when there were more.
//
// It has no side effects. Errors: a *provider.RefusedError for a parent
// that is malformed, names a protected namespace, or a kind that cannot
// be listed; any other error when the cluster could not be read.
func (p *Provider) ListTargets(ctx context.Context, req provider.ListTargetsRequest) (provider.ListTargetsResponse, error) {
	c, res, err := p.connect()
	if err != nil {
		return provider.ListTargetsResponse{}, fmt.Errorf("kubernetes list targets: %w", err)
	}
	par, err := parseParent(req.Parent, res, p.cfg.protected)
	if err != nil {
		var te *TargetError
		if errors.As(err, &te) {
			return provider.ListTargetsResponse{}, &provider.RefusedError{Reason: te.Error()}
		}
		return provider.ListTargetsResponse{}, fmt.Errorf("kubernetes list targets: %w", err)
	}
	var names []string
	var truncated bool
	prefix := ""
	switch par.kind {
	case parentNamespaces:
		names, truncated, err = p.namespaces(ctx, c, MaxTargets-1)
		names = append([]string{"*"}, names...)
	case parentKindInNamespaces:
		prefix = par.resource.String() + "/"
		names, truncated, err = p.namespaces(ctx, c, MaxTargets)
	case parentObjects:
		prefix = par.resource.String() + "/"
		if par.namespace != "" {
			prefix += par.namespace + "/"
		}
		names, truncated, err = p.objects(ctx, res, par)
	}
	if err != nil {
		if apierrors.IsMethodNotSupported(err) {
			return provider.ListTargetsResponse{}, provider.Refusef("%s cannot be listed", par.resource)
		}
		return provider.ListTargetsResponse{}, fmt.Errorf("kubernetes list targets under %q: %w", shownTarget(req.Parent), err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		if n == "*" {
			out[i] = n
			continue
		}
		out[i] = prefix + n
	}
	return provider.ListTargetsResponse{Targets: out, Truncated: truncated}, nil
}

// collect pages through a list until it has more than max names or the
// list ends; page returns the names of one page that pass its filter and
// the continue token.
func collect(max int, page func(cont string) ([]string, string, error)) ([]string, bool, error) {
	var out []string
	cont := ""
	for {
		names, next, err := page(cont)
		if err != nil {
			return nil, false, err
		}
		out = append(out, names...)
		if len(out) > max {
			return out[:max], true, nil
		}
		if next == "" {
			return out, false, nil
		}
		cont = next
	}
}

// namespaces lists the namespaces that may be requested (not protected).
func (p *Provider) namespaces(ctx context.Context, c k8s.Interface, max int) ([]string, bool, error) {
	return collect(max, func(cont string) ([]string, string, error) {
		l, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: listPage, Continue: cont})
		if err != nil {
			return nil, "", fmt.Errorf("listing namespaces: %w", err)
		}
		var names []string
		for _, ns := range l.Items {
			if !contains(p.cfg.protected, ns.Name) {
				names = append(names, ns.Name)
			}
		}
		return names, l.Continue, nil
	})
}

// objects lists the names of par's objects.
func (p *Provider) objects(ctx context.Context, res Resolver, par parent) ([]string, bool, error) {
	vr, ok := res.(VersionResolver)
	if !ok {
		return nil, false, errors.New("the resolver cannot tell resource versions")
	}
	gvr, err := vr.GroupVersionResource(par.resource)
	if err != nil {
		return nil, false, fmt.Errorf("resolving the version of %s: %w", par.resource, err)
	}
	m, err := p.metadataClient()
	if err != nil {
		return nil, false, err
	}
	protectedNS := par.resource.Group == "" && par.resource.Resource == "namespaces"
	return collect(MaxTargets, func(cont string) ([]string, string, error) {
		opts := metav1.ListOptions{Limit: listPage, Continue: cont}
		var l *metav1.PartialObjectMetadataList
		var err error
		if par.namespace != "" {
			l, err = m.Resource(gvr).Namespace(par.namespace).List(ctx, opts)
		} else {
			l, err = m.Resource(gvr).List(ctx, opts)
		}
		if err != nil {
			return nil, "", fmt.Errorf("listing %s: %w", par.resource, err)
		}
		var names []string
		for _, o := range l.Items {
			if protectedNS && contains(p.cfg.protected, o.Name) {
				continue
			}
			if checkName(o.Name) != nil {
				continue
			}
			names = append(names, o.Name)
		}
		return names, l.Continue, nil
	})
}
