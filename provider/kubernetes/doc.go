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
//	  list: true                            # false: List answers
//	                                        #   provider.ErrListUnsupported
//	  client:                               # what Kubeconfig writes
//	    server: https://k8s.example.com     # default: jit's own connection
//	    certificate_authority_data: LS0t... # or certificate_authority_file
//	    user:
//	      exec: {command: aws, args: [eks, get-token, --cluster-name, prod]}
//	  eks:                                  # map IAM principals on Amazon EKS
//	    aws_auth: true                      # or access_entries: {cluster, region}
//	    iam_arn: "arn:aws:iam::111122223333:role/{local}"
//	    iam_arns: {alice@example.com: "arn:aws:iam::111122223333:user/alice"}
//
// The resource's access level names are ClusterRole names: each must be a
// built-in role or listed in roles.
//
// # Targets
//
// The request's Target (see ParseTarget) is "*", a namespace,
// kind/namespace, kind/namespace/name or kind/name for cluster-scoped kinds
// ("deployments/default/web", "nodes/node-1"). Namespaced targets are bound
// by a RoleBinding in the namespace, the others by a ClusterRoleBinding.
// Check (provider.Checker) returns the canonical form
// ("deployments.apps/default/web") and a plain-words summary of what would
// be granted; ListTargets (provider.TargetLister) offers namespaces, kinds
// in namespaces and objects to pick from.
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
// Aggregated ClusterRoles (admin, edit, view) are followed by the provider
// itself: their rules are the union of the ClusterRoles their aggregation
// selectors match, read directly rather than through the aggregation
// controller, which may lag.
//
// # Objects
//
// The ClusterRole and binding are both named ObjectName(requestID)
// ("jit-" and 20 hex digits of SHA-256 of the request ID), labelled
// app.kubernetes.io/managed-by=jit and jit.dev/request=<request ID made
// label-safe>, and annotated with the request ID, requester, target,
// access, resource and expiry (RFC 3339). Objects of that name without
// the matching annotation are never changed or deleted. Kubernetes has no
// expiry of its own for bindings: jit's scheduler revokes at expiry, and
// Sweep (provider.Sweeper, run by jitd at start and periodically) deletes
// every jit object whose expiry has passed, as a backstop. List
// (provider.Lister) reports the objects of the resource for
// reconciliation; a cluster shared by two jit installations with different
// stores must set list: false.
//
// # Amazon EKS
//
// With the eks setting a grant also maps the requester's IAM principal
// (from iam_arns, or the iam_arn template with {email} and {local}) to
// their Kubernetes user name: an entry in the kube-system/aws-auth
// ConfigMap (aws_auth), edited as text under optimistic concurrency so
// that every other entry stays as it was, or an EKS access entry
// (access_entries). Each of a person's grants holds the mapping under its
// request ID (the annotation jit.dev/aws-auth on the ConfigMap, or a tag
// on the access entry), so it goes only with the person's last grant.
// Mappings jit did not make are used but never changed or removed.
//
// # Permissions of jit's own identity
//
// get, list and watch on clusterroles (to read the offered roles, following
// aggregation); create, get, update, list and delete on clusterroles,
// rolebindings and clusterrolebindings; list on namespaces and on the
// kinds people may target (ListTargets). Because the API server refuses
// to create a role, or a binding to one, holding more than its creator
// holds, jit must either hold every permission it grants (bound to the
// offered roles itself) or have escalate (to create the roles) and bind
// (to bind them) on clusterroles. Discovery (get on the API paths)
// resolves kinds. docs/kubernetes.md has the manifests.
package kubernetes
