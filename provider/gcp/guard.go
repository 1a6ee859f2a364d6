package gcp

import (
	"fmt"
	"strings"
)

// PrivilegedRoleError is a role refused because holding it would let the
// holder change who has access (IAM policies, roles, service account
// keys) or do anything at all: a temporary grant of such a role could be
// turned into a permanent one. Reason is safe to show to the requester.
type PrivilegedRoleError struct {
	Role   Role
	Reason string
}

func (e *PrivilegedRoleError) Error() string {
	return fmt.Sprintf("role %s is refused: %s (list it in allow_roles to offer it anyway)", e.Role, e.Reason)
}

// guardPredefined refuses the predefined roles that can escalate:
// roles/owner and roles/editor, every roles/iam.* role, the
// roles/resourcemanager.*Admin roles (which include setIamPolicy on
// projects, folders or organizations) and the service agent roles
// (roles/*.serviceAgent). Names compare case-insensitively
// so that a differently cased spelling is not a way round the guard.
func guardPredefined(role Role) error {
	if role.Custom() {
		return nil
	}
	l := strings.ToLower(string(role))
	switch {
	case l == "roles/owner":
		return &PrivilegedRoleError{Role: role, Reason: "the owner role can do anything, including changing IAM policies"}
	case l == "roles/editor":
		return &PrivilegedRoleError{Role: role, Reason: "the editor role can change almost everything"}
	case strings.HasPrefix(l, "roles/iam."):
		return &PrivilegedRoleError{Role: role, Reason: "roles/iam.* roles manage IAM policies, roles or service accounts"}
	case strings.HasPrefix(l, "roles/resourcemanager.") && strings.HasSuffix(l, "admin"):
		return &PrivilegedRoleError{Role: role, Reason: "roles/resourcemanager.*Admin roles can change IAM policies of projects, folders or organizations"}
	case strings.HasSuffix(l, "serviceagent"):
		// Made for Google's own service agents, these roles hold
		// permissions such as acting as other service accounts
		// (iam.serviceAccounts.*), which the custom-role guard refuses.
		return &PrivilegedRoleError{Role: role, Reason: "service agent roles are meant for Google's service agents and can act as other service accounts"}
	}
	return nil
}

// guardPermissions refuses a custom role whose permissions include
// setIamPolicy on anything or any iam.* permission.
func guardPermissions(role Role, perms []string) error {
	for _, p := range perms {
		l := strings.ToLower(p)
		if strings.HasPrefix(l, "iam.") {
			return &PrivilegedRoleError{Role: role, Reason: fmt.Sprintf("it includes the permission %s (iam.* permissions manage IAM)", quote(p))}
		}
		if strings.HasSuffix(l, ".setiampolicy") {
			return &PrivilegedRoleError{Role: role, Reason: fmt.Sprintf("it includes the permission %s, which changes who has access", quote(p))}
		}
	}
	return nil
}

// checkConditional refuses the legacy basic roles (roles/owner,
// roles/editor, roles/viewer): IAM does not accept a condition on their
// bindings, and every activation ends by its condition, so such a role
// could never be granted (allow_roles does not change that).
func checkConditional(role Role) error {
	switch strings.ToLower(string(role)) {
	case "roles/owner", "roles/editor", "roles/viewer":
		return nameErrorf("role %s is a basic role, which Google Cloud never grants with a condition, so jit cannot activate it for a limited time; use a predefined role (roles/browser, roles/compute.viewer, ...) instead", role)
	}
	return nil
}
