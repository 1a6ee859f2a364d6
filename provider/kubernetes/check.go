package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/jitaccess/jit/provider"
)

// refusal marks an error of plan that is the request's fault (or the
// configuration's), not the cluster's: the request can never be granted
// as it stands. Its message is safe to show to the requester.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refused(err error) error { return &refusal{err: err} }

// plan is what a grant creates.
type plan struct {
	target Target
	rules  []rbacv1.PolicyRule
	// principal is the requester's IAM principal on EKS (zero without
	// the eks setting).
	principal IAMPrincipal
}

// plan checks access, target and (on EKS) the requester's IAM principal,
// reads the role and narrows it; it changes nothing. Errors that mean the
// request can never be granted as it stands are *refusal; others (the
// cluster could not be read) are not.
func (p *Provider) plan(ctx context.Context, c k8s.Interface, res Resolver, user, access, target string) (plan, error) {
	if !contains(p.cfg.roles, access) {
		return plan{}, refused(fmt.Errorf("access %q is not one of the roles %s", access, strings.Join(p.cfg.roles, ", ")))
	}
	if err := p.checkRequester(user); err != nil {
		return plan{}, refused(err)
	}
	var pl plan
	if p.cfg.eks != nil {
		pr, err := p.cfg.eks.iamPrincipalFor(user)
		if err != nil {
			return plan{}, refused(err)
		}
		pl.principal = pr
	}
	t, err := ParseTarget(target, res, p.cfg.protected)
	if err != nil {
		var te *TargetError
		if errors.As(err, &te) {
			return plan{}, refused(err)
		}
		return plan{}, err
	}
	all, err := roleRules(ctx, c, access)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return plan{}, refused(fmt.Errorf("the ClusterRole %q of access %q does not exist in the cluster", access, access))
		}
		return plan{}, err
	}
	rules, err := Narrow(all, t, res)
	if err != nil {
		return plan{}, refused(fmt.Errorf("ClusterRole %q on %s: %w", access, t, err))
	}
	if err := Guard(rules, p.cfg.allow); err != nil {
		return plan{}, refused(fmt.Errorf("ClusterRole %q on %s: %w", access, t, err))
	}
	pl.target, pl.rules = t, rules
	return pl, nil
}

// Check implements provider.Checker: it reports whether req could be
// granted exactly as asked. The access level must be an offered role, the
// target must parse and name no protected namespace, the role narrowed to
// the target must grant something and nothing Guard refuses and, with the
// eks setting, the requester's IAM principal must be derivable. It reads
// the role (following aggregation) and discovery information and changes
// nothing; it is safe to call any number of times.
//
// The response's Target is the canonical form ("deployments.apps/default/
// web" for "deployments/default/web") and its Summary says in plain words
// what would be granted.
//
// Errors: a *provider.RefusedError, whose Reason is safe to show to the
// requester, for a request that can never be granted as it stands; any
// other error when the cluster could not be read (unreachable, jit's
// identity may not read the role), in which case nothing can be concluded.
func (p *Provider) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	c, res, err := p.connect()
	if err != nil {
		return provider.CheckResponse{}, fmt.Errorf("kubernetes check: %w", err)
	}
	pl, err := p.plan(ctx, c, res, req.User, req.Access, req.Target)
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			return provider.CheckResponse{}, &provider.RefusedError{Reason: r.Error()}
		}
		return provider.CheckResponse{}, fmt.Errorf("kubernetes check: %w", err)
	}
	return provider.CheckResponse{Target: pl.target.String(), Summary: summarize(req.Access, pl.target, pl.rules)}, nil
}

// canonicalVerbs orders verbs as people read them; others follow,
// sorted.
var canonicalVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

func sortVerbs(v []string) []string {
	rank := func(s string) int {
		for i, c := range canonicalVerbs {
			if c == s {
				return i
			}
		}
		return len(canonicalVerbs)
	}
	out := append([]string(nil), v...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// verbSet accumulates verbs without duplicates.
type verbSet []string

func (v *verbSet) add(verbs ...string) {
	for _, s := range verbs {
		if !contains(*v, s) {
			*v = append(*v, s)
		}
	}
}

func (v verbSet) String() string {
	if contains(v, rbacv1.VerbAll) {
		return "every verb"
	}
	return strings.Join(sortVerbs(v), ", ")
}

// summarize says in plain words what the narrowed rules grant on t:
//
//	get, list, watch on deployments.apps "web" in namespace default; also get, list, watch on its scale and status subresources
//	get, list, watch on pods, services and 12 more resources in namespace team-a (ClusterRole "view")
func summarize(access string, t Target, rules []rbacv1.PolicyRule) string {
	switch t.Scope {
	case Kind, Object:
		return summarizeKind(t, rules)
	}
	where := "cluster-wide"
	if t.Scope == Namespace {
		where = "in namespace " + t.Namespace
	}
	// Resources by verb set, in the order they first appear.
	var order []string
	byVerbs := map[string][]string{}
	var resOrder []string
	resVerbs := map[string]*verbSet{}
	addRes := func(name string, verbs []string) {
		vs, ok := resVerbs[name]
		if !ok {
			vs = &verbSet{}
			resVerbs[name] = vs
			resOrder = append(resOrder, name)
		}
		vs.add(verbs...)
	}
	for _, r := range rules {
		for _, u := range r.NonResourceURLs {
			addRes("URL "+u, r.Verbs)
		}
		for _, res := range r.Resources {
			for _, g := range r.APIGroups {
				addRes(displayResource(g, res), r.Verbs)
			}
		}
	}
	for _, name := range resOrder {
		key := resVerbs[name].String()
		if _, ok := byVerbs[key]; !ok {
			order = append(order, key)
		}
		byVerbs[key] = append(byVerbs[key], name)
	}
	parts := make([]string, 0, len(order))
	for _, key := range order {
		parts = append(parts, key+" on "+listShort(byVerbs[key], 4, "resources"))
	}
	return fmt.Sprintf("%s %s (ClusterRole %q)", strings.Join(parts, "; "), where, access)
}

// summarizeKind summarises rules narrowed to one kind or object: they all
// name the target's group, and its resource or subresources of it.
func summarizeKind(t Target, rules []rbacv1.PolicyRule) string {
	base := t.Resource.Resource
	main := &verbSet{}
	var subOrder []string
	subs := map[string]*verbSet{}
	for _, r := range rules {
		for _, res := range r.Resources {
			if res == base {
				main.add(r.Verbs...)
				continue
			}
			sub := strings.TrimPrefix(res, base+"/")
			vs, ok := subs[sub]
			if !ok {
				vs = &verbSet{}
				subs[sub] = vs
				subOrder = append(subOrder, sub)
			}
			vs.add(r.Verbs...)
		}
	}
	what := t.Resource.String()
	if t.Scope == Object {
		what += fmt.Sprintf(" %q", t.Name)
	}
	if t.Namespace != "" {
		what += " in namespace " + t.Namespace
	}
	// Subresources grouped by verbs, in the order they first appear.
	var keys []string
	bySet := map[string][]string{}
	for _, s := range subOrder {
		k := subs[s].String()
		if _, ok := bySet[k]; !ok {
			keys = append(keys, k)
		}
		bySet[k] = append(bySet[k], s)
	}
	whose := "its"
	if len(*main) == 0 {
		// Only subresources (pods/log): say whose at the end.
		whose = "the"
	}
	var parts []string
	for _, k := range keys {
		noun := "subresource"
		if len(bySet[k]) > 1 {
			noun = "subresources"
		}
		parts = append(parts, fmt.Sprintf("%s on %s %s %s", k, whose, joinAnd(bySet[k]), noun))
	}
	if len(*main) == 0 {
		return strings.Join(parts, "; ") + " of " + what
	}
	out := main.String() + " on " + what
	if len(parts) > 0 {
		out += "; also " + strings.Join(parts, "; ")
	}
	return out
}

func displayResource(group, res string) string {
	if res == rbacv1.ResourceAll {
		res = "every resource"
		if group == rbacv1.APIGroupAll {
			return res
		}
	}
	switch group {
	case "":
		return res
	case rbacv1.APIGroupAll:
		return res + " (any group)"
	}
	return res + "." + group
}

// listShort lists items, at most n of them and a count of the rest.
func listShort(items []string, n int, noun string) string {
	if len(items) <= n {
		return joinAnd(items)
	}
	return fmt.Sprintf("%s and %d more %s", strings.Join(items[:n], ", "), len(items)-n, noun)
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
