package gcp

import (
	"fmt"
	"slices"
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

// guardPredefined refuses, by name alone, the predefined roles that can
// escalate: roles/owner and roles/editor, every roles/iam.* role, the
// roles/resourcemanager.*Admin roles (which include setIamPolicy on
// projects, folders or organizations) and the service agent roles
// (roles/*.serviceAgent). It is the fast path, needing no API call and
// so usable when the configuration loads; every other role is judged by
// its permissions, read with roles.get, in guardPermissions. Names
// compare case-insensitively so that a differently cased spelling is not
// a way round the guard.
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
		// (iam.serviceAccounts.*), which guardPermissions refuses.
		return &PrivilegedRoleError{Role: role, Reason: "service agent roles are meant for Google's service agents and can act as other service accounts"}
	}
	return nil
}

// escalating are permissions with which a holder could turn an
// activation into lasting access, or act with more than the role grants:
// the permission (lower case) and what it does. Every role's permissions
// are checked against them, predefined and custom alike, and so is every
// permission ending in .setIamPolicy (see guardPermissions).
var escalating = map[string]string{
	"iam.serviceaccounts.actas":              "lets its holder run code as a service account",
	"iam.serviceaccounts.getaccesstoken":     "mints access tokens of a service account",
	"iam.serviceaccounts.getopenidtoken":     "mints identity tokens of a service account",
	"iam.serviceaccounts.signblob":           "signs as a service account",
	"iam.serviceaccounts.signjwt":            "signs tokens as a service account",
	"iam.serviceaccounts.implicitdelegation": "lets its holder act as service accounts through a chain of them",
	"iam.serviceaccountkeys.create":          "creates service account keys, which outlive the activation",
	"iam.serviceaccountkeys.upload":          "adds keys to service accounts, which outlive the activation",
	"iam.roles.create":                       "defines roles",
	"iam.roles.update":                       "changes what roles grant",
	"orgpolicy.policy.set":                   "changes the organization policies that bound what IAM may grant",
	"deploymentmanager.deployments.create":   "deploys resources as Deployment Manager's service agent, which holds far more",
	"deploymentmanager.deployments.update":   "deploys resources as Deployment Manager's service agent, which holds far more",
}

// setIamPolicyExempt are the setIamPolicy permissions that change no IAM
// policy: storage.objects.setIamPolicy edits the ACLs of single objects
// (on buckets with fine-grained access control; uniform bucket-level
// access turns them off), which cannot grant anything beyond those
// objects. roles/storage.objectAdmin holds it.
var setIamPolicyExempt = []string{"storage.objects.setiampolicy"}

// guardPermissions refuses a role whose permissions could escalate: any
// setIamPolicy (but setIamPolicyExempt), which changes who has access,
// and the escalating permissions. A custom role is refused for any iam.*
// permission besides: an administrator's custom role has no reason to
// hold one, and IAM keeps adding such permissions.
func guardPermissions(role Role, perms []string) error {
	for _, p := range perms {
		l := strings.ToLower(p)
		if what, ok := escalating[l]; ok {
			return &PrivilegedRoleError{Role: role, Reason: fmt.Sprintf("it includes the permission %s, which %s", quote(p), what)}
		}
		if strings.HasSuffix(l, ".setiampolicy") && !slices.Contains(setIamPolicyExempt, l) {
			return &PrivilegedRoleError{Role: role, Reason: fmt.Sprintf("it includes the permission %s, which changes who has access", quote(p))}
		}
		if role.Custom() && strings.HasPrefix(l, "iam.") {
			return &PrivilegedRoleError{Role: role, Reason: fmt.Sprintf("it includes the permission %s (iam.* permissions manage IAM)", quote(p))}
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
