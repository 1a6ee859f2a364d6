package kubernetes

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jitaccess/jit/provider"
)

// BuiltinRoles are the ClusterRoles every resource may offer as access
// levels; the roles setting adds more.
var BuiltinRoles = []string{"cluster-admin", "admin", "edit", "view"}

// config is the decoded settings of one resource.
type config struct {
	resource       string
	kubeconfigFile string
	inCluster      bool
	context        string
	protected      []string
	roles          []string
	allow          []string
	userPrefix     string
}

// parseConfig decodes and validates r.Settings without contacting the
// cluster or reading any file. Every problem is a *provider.SettingError.
func parseConfig(r provider.Resource) (config, error) {
	s := provider.NewSettings(r.Settings)
	c := config{resource: r.Name}
	hasFile := s.Has("kubeconfig_file")
	c.kubeconfigFile = s.String("kubeconfig_file", hasFile)
	c.inCluster = s.Bool("in_cluster", false)
	switch {
	case hasFile && c.inCluster:
		s.Errorf("in_cluster", "give only one of kubeconfig_file and in_cluster: true")
	case !hasFile && !c.inCluster:
		s.Errorf("kubeconfig_file", "one of kubeconfig_file and in_cluster: true is required")
	}
	c.context = s.String("context", false)
	if c.context != "" && c.inCluster {
		s.Errorf("context", "applies to kubeconfig_file only")
	}
	if s.Has("protected_namespaces") {
		c.protected = s.StringList("protected_namespaces", false)
		for _, ns := range c.protected {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				s.Errorf("protected_namespaces", "%q is not a namespace name", ns)
			}
		}
	} else {
		c.protected = append([]string(nil), DefaultProtectedNamespaces...)
	}
	extra := s.StringList("roles", false)
	c.roles = append([]string(nil), BuiltinRoles...)
	for _, role := range extra {
		if err := checkRoleName(role); err != nil {
			s.Errorf("roles", "%v", err)
			continue
		}
		if !contains(c.roles, role) {
			c.roles = append(c.roles, role)
		}
	}
	c.allow = s.StringList("allow_escalation", false)
	for _, a := range c.allow {
		if strings.TrimSpace(a) == "" || a != strings.TrimSpace(a) {
			s.Errorf("allow_escalation", "%q is not a resource name", a)
		}
	}
	c.userPrefix = s.String("user_prefix", false)
	for _, a := range r.Access {
		if !contains(c.roles, a) {
			s.Errorf("roles", "access level %q of the resource is not a ClusterRole it may grant (%s); add it to roles", a, strings.Join(c.roles, ", "))
		}
	}
	return c, s.Err()
}

// checkRoleName accepts ClusterRole names as the API server does (path
// segment names; RBAC allows ':' as in system:aggregate-to-view).
func checkRoleName(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("role %v", err)
	}
	return nil
}
