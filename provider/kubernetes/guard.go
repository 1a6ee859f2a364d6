package kubernetes

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// escalationVerbs let their holder grant themselves more than the rule
// says: escalate and bind on roles and bindings defeat RBAC's escalation
// check, impersonate acts as another user, group or service account.
var escalationVerbs = []string{"escalate", "bind", "impersonate"}

// EscalationError is a narrowed rule refused by Guard. Reason and Rule are
// safe to show to the requester.
type EscalationError struct {
	// Rule describes the refused rule.
	Rule string
	// Reason says what in it is refused.
	Reason string
}

func (e *EscalationError) Error() string {
	return fmt.Sprintf("rule %s refused: %s (allow it with the allow_escalation setting)", e.Rule, e.Reason)
}

// Guard refuses rules through which their holder could gain more than
// they name:
//
//   - the verbs escalate, bind or impersonate;
//   - the verb "*" (it includes those three);
//   - the resource "*" or the API group "*" (they include RBAC objects,
//     and resources the cluster may gain later);
//   - create on serviceaccounts/token (a token of any service account in
//     scope, with all of its permissions);
//   - non-resource URLs "*" or with verb "*".
//
// allow lists resources (as rules name them: "serviceaccounts",
// "serviceaccounts/token", "roles", "*") and non-resource URLs for which
// these rules are accepted anyway; a rule is accepted only when every
// resource (or URL) that makes it dangerous is allowed. For a rule with
// the API group "*" that resource is each of its resources.
//
// Consequences with the built-in roles: cluster-admin (verbs, resources
// and groups "*") is refused on every target unless allow contains "*";
// edit and admin include impersonate on serviceaccounts and create on
// serviceaccounts/token, so on a namespace target (or a serviceaccounts
// target) they are refused unless allow contains "serviceaccounts" and
// "serviceaccounts/token"; admin also has bind? No: admin holds create
// on roles and rolebindings, which RBAC's own escalation check limits,
// so it is accepted. view is always accepted.
//
// The first refused rule is returned as an *EscalationError; nil means
// every rule is accepted.
func Guard(rules []rbacv1.PolicyRule, allow []string) error {
	allowed := func(s string) bool { return contains(allow, s) }
	for _, r := range rules {
		desc := describeRule(r)
		refuse := func(format string, args ...any) error {
			return &EscalationError{Rule: desc, Reason: fmt.Sprintf(format, args...)}
		}
		var bad []string
		for _, v := range r.Verbs {
			if v == rbacv1.VerbAll || contains(escalationVerbs, v) {
				bad = append(bad, v)
			}
		}
		if len(r.NonResourceURLs) > 0 {
			for _, u := range r.NonResourceURLs {
				if allowed(u) {
					continue
				}
				if strings.HasSuffix(u, "*") {
					return refuse("non-resource URL %q is a wildcard", u)
				}
				if contains(r.Verbs, rbacv1.VerbAll) {
					return refuse("verb \"*\" on non-resource URL %q", u)
				}
			}
			continue
		}
		wildGroup := contains(r.APIGroups, rbacv1.APIGroupAll)
		for _, res := range r.Resources {
			if allowed(res) {
				continue
			}
			switch {
			case res == rbacv1.ResourceAll || strings.HasPrefix(res, "*/"):
				return refuse("resource %q is a wildcard", res)
			case wildGroup:
				return refuse("API group \"*\" for resource %q", res)
			case len(bad) > 0:
				return refuse("verb %s on %q", quoteList(bad), res)
			case res == "serviceaccounts/token" && contains(r.Verbs, "create"):
				return refuse("create on \"serviceaccounts/token\" issues tokens of service accounts")
			}
		}
	}
	return nil
}

// describeRule renders a rule compactly for error messages
// ("verbs=[get list] apiGroups=[apps] resources=[deployments]").
func describeRule(r rbacv1.PolicyRule) string {
	var b strings.Builder
	field := func(name string, v []string) {
		if len(v) == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=[%s]", name, strings.Join(v, " "))
	}
	field("verbs", r.Verbs)
	field("apiGroups", r.APIGroups)
	field("resources", r.Resources)
	field("resourceNames", r.ResourceNames)
	field("nonResourceURLs", r.NonResourceURLs)
	return b.String()
}

func quoteList(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
