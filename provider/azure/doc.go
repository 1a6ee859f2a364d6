// Package azure is the provider for Azure role-based access control (type
// "azure"). A resource is one Azure scope (a subscription, a resource
// group or a resource); its access levels are Azure roles. On approval jit
// asks Privileged Identity Management for a time-bound active role
// assignment (an AdminAssign role assignment schedule request) that Azure
// itself ends at the request's expiry, and removes it (AdminRemove) on
// revoke.
//
// # Settings
//
//	provider: azure
//	settings:
//	  tenant_id: 00000000-0000-0000-0000-000000000000
//	  client_id: 11111111-1111-1111-1111-111111111111
//	  client_secret_file: /etc/jit/azure-secret   # or client_secret_env: AZURE_SECRET
//	  scope: /subscriptions/SUB/resourceGroups/app
//	  roles:                                       # access level: role name or
//	    read: Reader                               #   role definition ID
//	    write: Contributor
//	  allow_roles: [Contributor]                   # escalating roles offered anyway
//	  mode: assign                                 # or eligible
//	  principals:                                  # email: Entra object ID
//	    alice@example.com: 22222222-2222-2222-2222-222222222222
//	  principal_lookup: graph                      # else look up in Microsoft Graph
//
// authority_host, arm_endpoint and graph_endpoint select another cloud;
// timeout bounds each HTTP call (default 30s).
//
// # Idempotency and names
//
// Schedule request names are name-based UUIDs of the request ID
// (RequestName, RemoveName, TakeoverName, RestoreName), so a repeated
// grant or revoke addresses the same Azure request. The justification of
// every request jit sends starts with a record, "jit OP [ID@UNIX ...]",
// naming the jit requests the resulting assignment serves and their
// expiries; access is found again by reading the record of the request
// that created the assignment schedule. Only records on AdminAssign and
// AdminRemove requests are trusted (a person's own SelfActivate may bear
// a name and justification like jit's), and claims carried over to a new
// assignment keep at most the end of the assignment they came from.
//
// # One assignment per person, role and scope
//
// Azure keeps one assignment of a role per principal and scope. When a
// second jit request of the same person for the same role is granted
// while the first is active (an extension), the assignment is replaced
// by one serving both, until the later expiry; revoking one of them
// replaces it by one serving the other, until that one's expiry. At most
// four requests share an assignment. An assignment jit did not make is
// never changed: Check refuses such a request and Grant fails.
//
// # Escalation
//
// Owner, User Access Administrator, Role Based Access Control
// Administrator, and any role whose permissions allow "*" (in any
// spelling that matches every provider's operations, such as "*/*") or a
// write of role assignments, role definitions, PIM requests or policies
// (after its notActions), are refused unless allow_roles names them.
//
// # Eligibility
//
// Azure accepts SelfActivate requests only from the eligible principal
// itself, with its own token; jit holds none, so it cannot activate on a
// person's behalf. In mode eligible, jit instead requires a current PIM
// eligibility of the person for the role at the scope (or above), and
// then assigns it with AdminAssign like mode assign.
package azure
