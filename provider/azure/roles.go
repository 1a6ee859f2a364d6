package azure

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
)

// roleRef is a role as written in the roles setting: a role definition
// GUID (from a bare GUID or a full role definition ID) or a role name to
// be resolved at the scope.
type roleRef struct {
	guid string // lower case, or ""
	name string // when guid is ""
}

func (r roleRef) String() string {
	if r.guid != "" {
		return r.guid
	}
	return fmt.Sprintf("%q", r.name)
}

const maxRoleNameLength = 256

// parseRoleRef reads a role from the roles or allow_roles setting: a
// role definition ID ("/subscriptions/SUB/providers/Microsoft.Authorization/roleDefinitions/GUID"
// or "/providers/Microsoft.Authorization/roleDefinitions/GUID"), a bare
// role definition GUID, or a role name ("Reader"). A full ID naming
// another subscription than sub is refused: role definitions are used at
// the resource's scope. Names must be printable text of at most 256
// characters without surrounding spaces.
func parseRoleRef(s, sub string) (roleRef, error) {
	if s == "" {
		return roleRef{}, errors.New("role is empty")
	}
	if g, err := parseGUID(s); err == nil {
		return roleRef{guid: g}, nil
	}
	if strings.HasPrefix(s, "/") {
		segs := strings.Split(s[1:], "/")
		var tail []string
		switch {
		case len(segs) == 6 && strings.EqualFold(segs[0], "subscriptions"):
			g, err := parseGUID(segs[1])
			if err != nil {
				return roleRef{}, errors.New("role definition ID's subscription is not a GUID")
			}
			if sub != "" && g != sub {
				return roleRef{}, errors.New("role definition ID names another subscription than the scope's")
			}
			tail = segs[2:]
		case len(segs) == 4:
			tail = segs
		default:
			return roleRef{}, errors.New(`role definition ID must be "/subscriptions/SUB/providers/Microsoft.Authorization/roleDefinitions/GUID"`)
		}
		if !strings.EqualFold(tail[0], "providers") || !strings.EqualFold(tail[1], "Microsoft.Authorization") || !strings.EqualFold(tail[2], "roleDefinitions") {
			return roleRef{}, errors.New(`role definition ID must be "/subscriptions/SUB/providers/Microsoft.Authorization/roleDefinitions/GUID"`)
		}
		g, err := parseGUID(tail[3])
		if err != nil {
			return roleRef{}, errors.New("role definition ID does not end with a GUID")
		}
		return roleRef{guid: g}, nil
	}
	if !utf8.ValidString(s) {
		return roleRef{}, errors.New("role name is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxRoleNameLength {
		return roleRef{}, fmt.Errorf("role name is longer than %d characters", maxRoleNameLength)
	}
	if strings.TrimSpace(s) != s {
		return roleRef{}, errors.New("role name has leading or trailing spaces")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return roleRef{}, errors.New("role name has a control or invisible character")
		}
	}
	return roleRef{name: s}, nil
}

// roleDefinitionID is the ID of role definition guid as used in role
// assignments at scopes inside subscription sub.
func roleDefinitionID(sub, guid string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

// odataString quotes s as an OData string literal (single quotes,
// doubled inside), for $filter expressions.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Built-in roles that hand out access themselves. They are refused by
// name and GUID even before their permissions are read.
var hostileBuiltins = map[string]string{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
	"f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}

// hostileBuiltinName reports whether name is one of hostileBuiltins.
func hostileBuiltinName(name string) bool {
	for _, n := range hostileBuiltins {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// sensitiveOperations are the control-plane operations that let their
// holder grant access (to themselves or anyone): writing role
// assignments, role definitions, PIM requests and policies, and elevating
// to the tenant root. A role that can perform any of them is an
// escalation, whatever else it does.
var sensitiveOperations = []string{
	"Microsoft.Authorization/roleAssignments/write",
	"Microsoft.Authorization/roleDefinitions/write",
	"Microsoft.Authorization/roleAssignmentScheduleRequests/write",
	"Microsoft.Authorization/roleEligibilityScheduleRequests/write",
	"Microsoft.Authorization/roleManagementPolicies/write",
	"Microsoft.Authorization/elevateAccess/action",
}

// escalation returns why a role definition is an escalation, or "" when
// it is not: it is Owner, User Access Administrator or Role Based Access
// Control Administrator; one of its permission blocks allows a sensitive
// operation (its actions match it and its notActions do not); or it allows
// every action ("*"), which includes running code as managed identities
// that may hold more. Data actions are not considered: none of them
// changes access.
func escalation(def *armauthorization.RoleDefinition) string {
	if def == nil {
		return "the role definition is empty"
	}
	guid := ""
	if def.Name != nil {
		guid = strings.ToLower(*def.Name)
	} else if def.ID != nil {
		guid = strings.ToLower(lastSegment(*def.ID))
	}
	if n, ok := hostileBuiltins[guid]; ok {
		return fmt.Sprintf("%s can grant access to others", n)
	}
	if def.Properties == nil {
		return "the role definition has no properties to check"
	}
	name := deref(def.Properties.RoleName)
	if hostileBuiltinName(name) {
		return fmt.Sprintf("%s can grant access to others", name)
	}
	for _, perm := range def.Properties.Permissions {
		if perm == nil {
			continue
		}
		for _, a := range perm.Actions {
			if a != nil && everyAction(strings.ToLower(strings.TrimSpace(*a))) {
				return fmt.Sprintf("it allows every action (%q)", strings.TrimSpace(*a))
			}
		}
		for _, op := range sensitiveOperations {
			if matchesAny(perm.Actions, op) && !matchesAny(perm.NotActions, op) {
				return fmt.Sprintf("it allows %s", op)
			}
		}
	}
	return ""
}

// probeOperations are operations of unrelated resource providers, among
// them ways to run code as a managed identity. An action pattern that
// matches them all is a wildcard over every provider, however it is
// written ("*", "*/*", "Microsoft.*", "*/*/*"), and is refused as "*" is.
var probeOperations = []string{
	"microsoft.compute/virtualmachines/runcommand/action",
	"microsoft.managedidentity/userassignedidentities/assign/action",
	"microsoft.web/sites/write",
	"microsoft.storage/storageaccounts/listkeys/action",
}

// everyAction reports whether the lower-case action pattern p matches
// every operation of every resource provider.
func everyAction(p string) bool {
	for _, op := range probeOperations {
		if !actionMatch(p, op) {
			return false
		}
	}
	return true
}

// matchesAny reports whether one of the Azure action patterns matches
// op. Patterns use "*" as a wildcard for any characters and are compared
// without regard to case, as Azure does.
func matchesAny(patterns []*string, op string) bool {
	lop := strings.ToLower(op)
	for _, p := range patterns {
		if p == nil {
			continue
		}
		if actionMatch(strings.ToLower(strings.TrimSpace(*p)), lop) {
			return true
		}
	}
	return false
}

// actionMatch matches an action pattern against an operation. Azure's
// "*" spans "/" (unlike path.Match's), so the pattern is matched by hand:
// the parts between the stars must appear in order.
func actionMatch(pattern, op string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == op
	}
	// Split on "*" and find the parts in order.
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(op, parts[0]) {
		return false
	}
	rest := op[len(parts[0]):]
	for i := 1; i < len(parts); i++ {
		part := parts[i]
		if i == len(parts)-1 {
			return strings.HasSuffix(rest, part)
		}
		j := strings.Index(rest, part)
		if j < 0 {
			return false
		}
		rest = rest[j+len(part):]
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
