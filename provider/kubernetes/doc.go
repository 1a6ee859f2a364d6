// Package kubernetes is the provider for Kubernetes clusters (type
// "kubernetes"). A request asks for one ClusterRole (an access level) on
// a target; on approval jit creates a per-request ClusterRole holding
// exactly that role's rules narrowed to the target, binds it to the
// requester, and deletes both when access ends.
//
// # Settings
//
//	provider: kubernetes
//	settings:
//	  kubeconfig_file: /etc/jit/kubeconfig  # exactly one of kubeconfig_file
//	  in_cluster: true                      #   and in_cluster
//	  context: prod                         # kubeconfig context (optional)
//	  protected_namespaces: [kube-system]   # default kube-system, kube-public,
//	                                        #   kube-node-lease; replaces it
//	  roles: [log-reader]                   # ClusterRoles offered besides
//	                                        #   cluster-admin, admin, edit, view
//	  allow_escalation: [serviceaccounts]   # see Guard
//	  user_prefix: "oidc:"                  # prefix of the User subject name
//
// The resource's access level names are ClusterRole names: each must be a
// built-in role or listed in roles.
//
// # Targets
//
// For Kubernetes the request's query carries the target (see
// ParseTarget): "*", a namespace, kind/namespace, kind/namespace/name or
// kind/name for cluster-scoped kinds ("deployments/default/web",
// "nodes/node-1"). Namespaced targets are bound by a RoleBinding in the
// namespace, the others by a ClusterRoleBinding.
//
// # Narrowing and escalation
//
// Narrow keeps the part of the role that applies to the target and pins
// objects with resourceNames; Guard refuses rules that could grant more
// than they name (escalate, bind, impersonate, wildcards, service account
// tokens) unless allow_escalation lists the resource. Check runs both at
// submit time. Note that RBAC cannot restrict create (and list/watch
// without a metadata.name field selector) by resourceNames, so on an
// object target those verbs grant nothing.
//
// Aggregated ClusterRoles (admin, edit, view) are read as the API server
// returns them: their rules are filled by the aggregation controller, and
// a role created moments ago may not have them yet.
//
// # Objects
//
// The ClusterRole and binding are both named ObjectName(requestID)
// ("jit-" and 20 hex digits of SHA-256 of the request ID), labelled
// app.kubernetes.io/managed-by=jit and jit.dev/request=<request ID made
// label-safe>, and annotated with the request ID, requester, target,
// access, resource and expiry (RFC 3339). Objects of that name without
// the matching annotation are never changed or deleted. Sweep deletes
// every jit object whose expiry has passed, as a backstop for revokes.
// The cluster itself does not enforce the expiry.
//
// # Permissions of jit's own identity
//
// get on clusterroles (to read the offered roles); create, get, update,
// list and delete on clusterroles, rolebindings and clusterrolebindings;
// and, because the API server refuses to create a role holding more than
// its creator, either every permission it grants or escalate on
// clusterroles, plus bind on clusterroles to bind them. Discovery (get on
// the API paths) resolves kinds.
package kubernetes
