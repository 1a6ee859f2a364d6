package azure

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jitaccess/jit/provider"
)

// Modes of the mode setting.
const (
	// ModeAssign grants the role to any person the principals map or
	// lookup knows (the policy decides who may ask).
	ModeAssign = "assign"
	// ModeEligible grants it only to people Privileged Identity
	// Management lists as eligible for the role at the scope.
	ModeEligible = "eligible"
)

// DefaultARMEndpoint is Azure Resource Manager in Azure's public cloud.
const DefaultARMEndpoint = "https://management.azure.com"

// config is the decoded settings of one resource.
type config struct {
	resource      string
	tenantID      string
	clientID      string
	secretFile    string
	secretEnv     string
	scope         Scope
	roles         map[string]roleRef // access level → role
	allow         []roleRef
	mode          string
	principals    map[string]string // lower-case email → object ID
	graphLookup   bool
	authorityHost string
	armEndpoint   string
	graphEndpoint string
	timeout       time.Duration
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseConfig decodes and validates r.Settings without contacting Azure
// or reading the secret. Every problem is a *provider.SettingError.
func parseConfig(r provider.Resource) (config, error) {
	s := provider.NewSettings(r.Settings)
	c := config{resource: r.Name}

	c.tenantID = s.String("tenant_id", true)
	if c.tenantID != "" {
		if err := checkTenant(c.tenantID); err != nil {
			s.Errorf("tenant_id", "%v", err)
		}
	}
	c.clientID = s.String("client_id", true)
	if c.clientID != "" {
		if _, err := parseGUID(c.clientID); err != nil {
			s.Errorf("client_id", "must be the application (client) ID, a GUID")
		}
	}
	hasFile, hasEnv := s.Has("client_secret_file"), s.Has("client_secret_env")
	c.secretFile = s.String("client_secret_file", hasFile)
	c.secretEnv = s.String("client_secret_env", hasEnv)
	switch {
	case hasFile && hasEnv:
		s.Errorf("client_secret_env", "give only one of client_secret_file and client_secret_env")
	case !hasFile && !hasEnv:
		s.Errorf("client_secret_file", "one of client_secret_file and client_secret_env is required (the secret itself is never written in jit.yaml)")
	case hasEnv && c.secretEnv != "" && !envName.MatchString(c.secretEnv):
		s.Errorf("client_secret_env", "must be an environment variable name")
	}

	scope := s.String("scope", true)
	if scope != "" {
		sc, err := ParseScope(scope)
		if err != nil {
			s.Errorf("scope", "%v", err)
		}
		c.scope = sc
	}

	for _, a := range s.StringList("allow_roles", false) {
		ref, err := parseRoleRef(a, c.scope.Subscription)
		if err != nil {
			s.Errorf("allow_roles", "%q: %v", a, err)
			continue
		}
		c.allow = append(c.allow, ref)
	}

	c.roles = map[string]roleRef{}
	raw := s.StringMap("roles")
	if !s.Has("roles") || len(raw) == 0 {
		s.Errorf("roles", "is required: a map of access level to role name or role definition ID")
	}
	levels := make([]string, 0, len(raw))
	for l := range raw {
		levels = append(levels, l)
	}
	sort.Strings(levels)
	for _, level := range levels {
		ref, err := parseRoleRef(raw[level], c.scope.Subscription)
		if err != nil {
			s.Errorf("roles", "access level %q: %v", level, err)
			continue
		}
		if name, guid := builtinHostile(ref); name != "" && !c.allowed(guid, name) {
			s.Errorf("roles", "access level %q: %s can grant access to others; list it in allow_roles to offer it anyway", level, name)
			continue
		}
		c.roles[level] = ref
	}
	for _, a := range r.Access {
		if _, ok := raw[a]; !ok {
			s.Errorf("roles", "access level %q of the resource has no role", a)
		}
	}

	c.mode = s.String("mode", false)
	switch c.mode {
	case "":
		c.mode = ModeAssign
	case ModeAssign, ModeEligible:
	case "activate":
		s.Errorf("mode", "jit cannot activate an eligible role on a person's behalf: Azure accepts SelfActivate only from the principal itself, and jit holds no token of the person's; use mode: eligible, which grants only to people eligible for the role and assigns it with AdminAssign")
	default:
		s.Errorf("mode", "must be %q or %q", ModeAssign, ModeEligible)
	}

	c.principals = map[string]string{}
	for email, id := range s.StringMap("principals") {
		key := strings.ToLower(strings.TrimSpace(email))
		if err := checkEmail(key); err != nil {
			s.Errorf("principals", "%q %v", email, err)
			continue
		}
		oid, err := parseGUID(id)
		if err != nil {
			s.Errorf("principals", "object ID of %q is not a GUID", email)
			continue
		}
		if _, dup := c.principals[key]; dup {
			s.Errorf("principals", "%q is listed twice (addresses are compared without regard to case)", email)
			continue
		}
		c.principals[key] = oid
	}
	switch lookup := s.String("principal_lookup", false); lookup {
	case "":
	case "graph":
		c.graphLookup = true
	default:
		s.Errorf("principal_lookup", `must be "graph" or absent`)
	}
	if len(c.principals) == 0 && !c.graphLookup {
		s.Errorf("principals", "give principals (email: Entra object ID) or principal_lookup: graph, or no one can be granted access")
	}

	c.authorityHost = endpoint(s, "authority_host", DefaultAuthorityHost)
	c.armEndpoint = endpoint(s, "arm_endpoint", DefaultARMEndpoint)
	c.graphEndpoint = endpoint(s, "graph_endpoint", DefaultGraphEndpoint)
	c.timeout = s.Duration("timeout", 30*time.Second)
	return c, s.Err()
}

func endpoint(s *provider.Settings, key, def string) string {
	v := s.String(key, false)
	if v == "" {
		return def
	}
	base, err := httpsBase(v)
	if err != nil {
		s.Errorf(key, "%v", err)
		return def
	}
	return base
}

// builtinHostile returns the name and GUID of the escalating built-in
// role ref names, or "" and "".
func builtinHostile(ref roleRef) (name, guid string) {
	if ref.guid != "" {
		return hostileBuiltins[ref.guid], ref.guid
	}
	for g, n := range hostileBuiltins {
		if strings.EqualFold(n, ref.name) {
			return n, g
		}
	}
	return "", ""
}

// allowed reports whether allow_roles lists the role with this GUID or
// name.
func (c *config) allowed(guid, name string) bool {
	for _, a := range c.allow {
		if a.guid != "" && a.guid == strings.ToLower(guid) {
			return true
		}
		if a.name != "" && name != "" && strings.EqualFold(a.name, name) {
			return true
		}
	}
	return false
}

// levelNames lists the configured access levels, sorted, for messages.
func (c *config) levelNames() string {
	names := make([]string, 0, len(c.roles))
	for l := range c.roles {
		names = append(names, l)
	}
	sort.Strings(names)
	return fmt.Sprintf("%q", names)
}
