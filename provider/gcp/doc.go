// Package gcp is the provider for Google Cloud IAM (type "gcp"): just-in-
// time role activation in the manner of Google's open-source Just-In-Time
// Access. On approval jit adds a binding of one role for the requester
// to the IAM policy of a project, folder or organization, with a
// condition that holds only until the request's expiry, so Google Cloud
// itself ends the access even when jitd is down.
//
// # Settings
//
//	provider: gcp
//	settings:
//	  scope: folders/123                  # projects/ID, folders/N or organizations/N (required)
//	  levels: {viewer: roles/compute.viewer} # access level -> the one role it activates
//	  roles: [roles/compute.viewer]       # roles anyone the policy lets request may ask for
//	  discover_eligible: true             # offer the roles people hold eligible bindings for
//	  allow_roles: []                     # privileged roles offered anyway
//	  member: "user:{email}"              # who the binding is for ({email}, {local})
//	  email_domain: example.com           # the only requesters' domain (required with {local})
//	  credentials_file: /etc/jit/sa.json  # Application Default Credentials when absent
//	  credentials_type: service_account   # the file's type (see the settings reference)
//	  max_attempts: 5                     # read-modify-write attempts under contention
//
// # Targets
//
// A request's target is "RESOURCE:ROLE" ("projects/my-project:roles/
// compute.viewer"), "ROLE" (on the scope) or, for an access level that
// levels maps to a role, "RESOURCE" or "" (see ParseTarget). RESOURCE is
// the scope or a project or folder under it; Check and Grant walk the
// hierarchy up (projects.get, folders.get) to make sure. A role is
// offered when levels or roles name it or, with discover_eligible, when
// the requester holds an eligible binding for it there.
//
// # Eligible bindings
//
// An administrator makes a binding eligible by giving it the condition
// has({}.jitAccessConstraint) (self-activation with a justification) or
// has({}.multiPartyApprovalConstraint) (another holder must approve).
// Such a condition is never true, so the binding grants nothing by
// itself. With discover_eligible, the Cloud Asset API's analyzeIamPolicy
// over the scope finds a person's eligible bindings (expandResources for
// ListTargets, a resource selector for Check, groups considered by the
// API), and Check labels the request "gcp:self-activation" or
// "gcp:multi-party"; for multi-party it lists as Peers the other people
// holding a multi-party binding of the role that applies to the resource
// (expandGroups), each member mapped back to a person through the member
// template; members no requester would be given are left out.
//
// # Privileged roles
//
// roles/owner, roles/editor, roles/iam.*, roles/resourcemanager.*Admin
// and the service agent roles (roles/*.serviceAgent) are refused by name
// (also when the configuration loads). Every other role, predefined or
// custom, is read with the IAM API's roles.get (kept for ten minutes;
// Grant reads a custom role afresh) and refused when its permissions
// include any setIamPolicy (but storage.objects.setIamPolicy, which sets
// object ACLs), iam.serviceAccounts.actAs, getAccessToken,
// getOpenIdToken, signBlob, signJwt or implicitDelegation,
// iam.serviceAccountKeys.create or upload, iam.roles.create or update,
// orgpolicy.policy.set, or deploymentmanager.deployments.create or
// update; a custom role also for any other iam.* permission. So
// roles/storage.admin, roles/run.admin and roles/secretmanager.admin are
// refused, roles/storage.objectAdmin is not. A role roles.get does not
// know is refused. allow_roles exempts the roles it names. The basic
// roles (roles/owner, roles/editor, roles/viewer) are refused always:
// IAM takes no condition on their bindings.
//
// # Bindings
//
// Each activation is its own binding: the role, one member, and a
// condition titled ActivationTitle, described DescriptionPrefix + request
// ID (+ " for " + requester), with the expression ActivationExpression
// (RFC 3339 UTC, whole seconds). Only bindings of that exact shape are
// ever changed or removed: Revoke removes the request's binding, and
// every write also drops jit's bindings whose window has ended. Policies
// are read and written at version 3 with the read's etag; a write that
// meets a concurrent change (409 ABORTED, 412) runs the whole
// read-modify-write again after a backoff, at most max_attempts times.
//
// # Permissions of jit's own identity
//
// getIamPolicy and setIamPolicy on the scope and the projects and folders
// under it (resourcemanager.projects.*, folders.*, organizations.*);
// resourcemanager.projects.get and folders.get for the hierarchy;
// iam.roles.get for custom roles (predefined roles are read without a
// permission); and, for discovery and for listing
// below a folder or organization, the Cloud Asset permissions
// cloudasset.assets.analyzeIamPolicy, searchAllIamPolicies and
// searchAllResources. docs/gcp.md has the list as a custom role.
package gcp
