package azure

import (
	"errors"
	"fmt"
	"strings"
)

// Scope is a validated Azure Resource Manager scope: a subscription, a
// resource group, or one resource (possibly nested) inside a resource
// group. Its String form is canonical: the fixed keywords in Azure's own
// spelling and the subscription ID in lower case; names keep the case
// they were written in (Azure compares them without regard to case).
type Scope struct {
	// Subscription is the subscription ID (a GUID, lower case).
	Subscription string
	// ResourceGroup is the resource group's name, or "".
	ResourceGroup string
	// Namespace is the resource provider namespace ("Microsoft.Storage")
	// of a resource scope, or "".
	Namespace string
	// Resource is the resource's type and name pairs after the namespace
	// ("storageAccounts", "logs", "blobServices", "default"), or nil.
	Resource []string
}

// Limits on what ParseScope accepts. Azure's own limits are similar
// (resource group names up to 90 characters, resource IDs well under 1 KiB
// in practice); being strict here costs nothing and keeps hostile input
// away from request URLs.
const (
	maxScopeLength         = 1024
	maxResourceGroupLength = 90
	maxNameLength          = 260
	maxResourceDepth       = 8
)

// ParseScope validates s as a subscription ("/subscriptions/SUB"), resource
// group ("/subscriptions/SUB/resourceGroups/RG") or resource
// ("/subscriptions/SUB/resourceGroups/RG/providers/NS/TYPE/NAME[/TYPE/NAME...]")
// scope. Only the characters Azure allows in those names are accepted, so
// that a scope can be put into a request path as it is: no empty, "." or
// ".." segments, no percent signs, query or fragment characters, and no
// scope inside Microsoft.Authorization (a role assignment is not a place
// to grant access at). Errors name the offending part and never echo more
// than it.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return Scope{}, errors.New("scope is empty")
	}
	if len(s) > maxScopeLength {
		return Scope{}, fmt.Errorf("scope is longer than %d characters", maxScopeLength)
	}
	if !strings.HasPrefix(s, "/") {
		return Scope{}, errors.New(`scope must start with "/subscriptions/"`)
	}
	if strings.HasSuffix(s, "/") {
		return Scope{}, errors.New(`scope must not end with "/"`)
	}
	segs := strings.Split(s[1:], "/")
	for i, seg := range segs {
		if seg == "" {
			return Scope{}, fmt.Errorf("scope segment %d is empty", i+1)
		}
	}
	if len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
		return Scope{}, errors.New(`scope must start with "/subscriptions/SUBSCRIPTION_ID"`)
	}
	var sc Scope
	sub, err := parseGUID(segs[1])
	if err != nil {
		return Scope{}, errors.New("scope's subscription ID is not a GUID")
	}
	sc.Subscription = sub
	rest := segs[2:]
	if len(rest) == 0 {
		return sc, nil
	}
	if len(rest) < 2 || !strings.EqualFold(rest[0], "resourceGroups") {
		return Scope{}, errors.New(`after the subscription, a scope continues with "/resourceGroups/NAME"`)
	}
	if err := checkResourceGroup(rest[1]); err != nil {
		return Scope{}, err
	}
	sc.ResourceGroup = rest[1]
	rest = rest[2:]
	if len(rest) == 0 {
		return sc, nil
	}
	if len(rest) < 4 || !strings.EqualFold(rest[0], "providers") {
		return Scope{}, errors.New(`after the resource group, a scope continues with "/providers/NAMESPACE/TYPE/NAME"`)
	}
	if err := checkNamespace(rest[1]); err != nil {
		return Scope{}, err
	}
	sc.Namespace = rest[1]
	pairs := rest[2:]
	if len(pairs)%2 != 0 {
		return Scope{}, errors.New("a resource scope must end with a resource name after its type")
	}
	if len(pairs)/2 > maxResourceDepth {
		return Scope{}, fmt.Errorf("a resource scope may nest at most %d resources", maxResourceDepth)
	}
	for i := 0; i < len(pairs); i += 2 {
		if err := checkResourceType(pairs[i]); err != nil {
			return Scope{}, err
		}
		if err := checkResourceName(pairs[i+1]); err != nil {
			return Scope{}, err
		}
	}
	sc.Resource = append([]string(nil), pairs...)
	return sc, nil
}

// String returns the canonical form of the scope.
func (s Scope) String() string {
	var b strings.Builder
	b.WriteString("/subscriptions/")
	b.WriteString(s.Subscription)
	if s.ResourceGroup != "" {
		b.WriteString("/resourceGroups/")
		b.WriteString(s.ResourceGroup)
	}
	if s.Namespace != "" {
		b.WriteString("/providers/")
		b.WriteString(s.Namespace)
		for _, p := range s.Resource {
			b.WriteString("/")
			b.WriteString(p)
		}
	}
	return b.String()
}

func checkResourceGroup(name string) error {
	if len(name) > maxResourceGroupLength {
		return fmt.Errorf("resource group name is longer than %d characters", maxResourceGroupLength)
	}
	for _, r := range name {
		if !isAlnum(r) && !strings.ContainsRune("._()-", r) {
			return fmt.Errorf("resource group name has a character Azure does not allow (%q)", r)
		}
	}
	if strings.HasSuffix(name, ".") {
		return errors.New(`resource group name must not end with "."`)
	}
	return nil
}

func checkNamespace(ns string) error {
	if len(ns) > 128 {
		return errors.New("resource provider namespace is too long")
	}
	parts := strings.Split(ns, ".")
	if len(parts) < 2 {
		return errors.New(`resource provider namespace must look like "Microsoft.Storage"`)
	}
	for _, p := range parts {
		if p == "" {
			return errors.New(`resource provider namespace must look like "Microsoft.Storage"`)
		}
		for _, r := range p {
			if !isAlnum(r) {
				return fmt.Errorf("resource provider namespace has a character Azure does not allow (%q)", r)
			}
		}
	}
	if strings.EqualFold(ns, "Microsoft.Authorization") {
		return errors.New("a scope inside Microsoft.Authorization is not a resource access can be granted on")
	}
	return nil
}

func checkResourceType(t string) error {
	if len(t) > 128 {
		return errors.New("resource type is too long")
	}
	for _, r := range t {
		if !isAlnum(r) {
			return fmt.Errorf("resource type has a character Azure does not allow (%q)", r)
		}
	}
	return nil
}

func checkResourceName(name string) error {
	if len(name) > maxNameLength {
		return fmt.Errorf("resource name is longer than %d characters", maxNameLength)
	}
	if name == "." || name == ".." {
		return errors.New(`resource name must not be "." or ".."`)
	}
	for _, r := range name {
		if !isAlnum(r) && !strings.ContainsRune("._()~-", r) {
			return fmt.Errorf("resource name has a character this provider does not allow (%q)", r)
		}
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// parseGUID accepts a GUID in its 8-4-4-4-12 hex form (either case) and
// returns it in lower case. Braces and other forms are refused: Azure
// writes GUIDs only this way.
func parseGUID(s string) (string, error) {
	if len(s) != 36 {
		return "", errors.New("not a GUID")
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return "", errors.New("not a GUID")
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return "", errors.New("not a GUID")
			}
		}
	}
	return strings.ToLower(s), nil
}

// segments splits an Azure ID or scope into its path segments.
func segments(id string) []string {
	return strings.Split(strings.Trim(id, "/"), "/")
}

// sameID reports whether two Azure IDs or scopes name the same thing
// (Azure compares IDs without regard to case).
func sameID(a, b string) bool {
	return strings.EqualFold(strings.Trim(a, "/"), strings.Trim(b, "/"))
}

// covers reports whether an assignment or eligibility at scope outer
// applies at scope inner: outer is inner itself, one of its ancestors, or a
// management group or the tenant root (which Azure returns only when they
// are above the scope asked about, since every scope this provider accepts
// lies inside a subscription).
func covers(outer, inner string) bool {
	o, in := segments(outer), segments(inner)
	if strings.Trim(outer, "/") == "" {
		return true
	}
	if len(o) >= 2 && strings.EqualFold(o[0], "providers") && strings.EqualFold(o[1], "Microsoft.Management") {
		return true
	}
	if len(o) > len(in) {
		return false
	}
	for i := range o {
		if !strings.EqualFold(o[i], in[i]) {
			return false
		}
	}
	return true
}

// lastSegment returns the last path segment of an Azure ID.
func lastSegment(id string) string {
	s := segments(id)
	return s[len(s)-1]
}
