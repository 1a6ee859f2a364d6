package kubernetes

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var createOpts = metav1.CreateOptions{}

func clusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

// testResolver is a static table of the resources the tests use, through
// the same MapperResolver the running provider uses over discovery.
func testResolver() Resolver {
	ns := []schema.GroupVersionKind{
		{Version: "v1", Kind: "Pod"},
		{Version: "v1", Kind: "ConfigMap"},
		{Version: "v1", Kind: "Secret"},
		{Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "ServiceAccount"},
		{Version: "v1", Kind: "Endpoints"},
		{Version: "v1", Kind: "PersistentVolumeClaim"},
		{Version: "v1", Kind: "ReplicationController"},
		{Version: "v1", Kind: "Binding"},
		{Version: "v1", Kind: "LimitRange"},
		{Version: "v1", Kind: "ResourceQuota"},
		{Group: "apps", Version: "v1", Kind: "ControllerRevision"},
		{Group: "apps", Version: "v1", Kind: "DaemonSet"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "apps", Version: "v1", Kind: "ReplicaSet"},
		{Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
		{Group: "authorization.k8s.io", Version: "v1", Kind: "LocalSubjectAccessReview"},
		// Event exists in two groups: an unqualified "events" is ambiguous.
		{Version: "v1", Kind: "Event"},
		{Group: "events.k8s.io", Version: "v1", Kind: "Event"},
	}
	root := []schema.GroupVersionKind{
		{Version: "v1", Kind: "Node"},
		{Version: "v1", Kind: "Namespace"},
		{Version: "v1", Kind: "PersistentVolume"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
		{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"},
	}
	var versions []schema.GroupVersion
	for _, g := range append(append([]schema.GroupVersionKind(nil), ns...), root...) {
		versions = append(versions, g.GroupVersion())
	}
	m := meta.NewDefaultRESTMapper(versions)
	for _, g := range ns {
		m.Add(g, meta.RESTScopeNamespace)
	}
	for _, g := range root {
		m.Add(g, meta.RESTScopeRoot)
	}
	return NewMapperResolver(m)
}

func rule(verbs, groups, resources []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
}

func l(s ...string) []string { return s }

var (
	readVerbs  = l("get", "list", "watch")
	writeVerbs = l("create", "delete", "deletecollection", "patch", "update")
)

// The rules below are excerpts of the built-in roles as a v1.34 API
// server aggregates them (kubectl get clusterrole view -o yaml).

func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(readVerbs, l(""), l("configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status")),
		rule(readVerbs, l(""), l("bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status")),
		rule(readVerbs, l(""), l("namespaces")),
		rule(readVerbs, l("apps"), l("controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status")),
	}
}

func editRules() []rbacv1.PolicyRule {
	return append(viewRules(),
		rule(l("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"), l(""), l("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy")),
		rule(l("create", "delete", "deletecollection", "patch", "update"), l(""), l("configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy")),
		rule(l("create"), l(""), l("serviceaccounts/token")),
		rule(l("impersonate"), l(""), l("serviceaccounts")),
		rule(writeVerbs, l("apps"), l("daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale")),
		rule(readVerbs, l(""), l("secrets")),
	)
}

func adminRules() []rbacv1.PolicyRule {
	return append(editRules(),
		rule(l("create"), l("authorization.k8s.io"), l("localsubjectaccessreviews")),
		rule(append(l("get", "list", "watch"), writeVerbs...), l("rbac.authorization.k8s.io"), l("rolebindings", "roles")),
	)
}

func clusterAdminRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(l("*"), l("*"), l("*")),
		{Verbs: l("*"), NonResourceURLs: l("*")},
	}
}
