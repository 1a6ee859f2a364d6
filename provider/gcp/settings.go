package gcp

import (
	"slices"
	"sort"
	"strings"

	"google.golang.org/api/option"

	"github.com/jitaccess/jit/provider"
)

// Defaults of the settings.
const (
	// DefaultMember is the member a binding is made for.
	DefaultMember = "user:{email}"
	// DefaultMaxAttempts is how many read-modify-write cycles a change
	// of a policy gets when others change the same policy meanwhile.
	DefaultMaxAttempts = 5
	// maxAttemptsLimit bounds the setting: beyond it, contention is a
	// problem no retry solves.
	maxAttemptsLimit = 20
)

// credentialTypes are the values of credentials_type: the type the
// credentials file must have, checked by the client library so that a
// file of an unexpected kind is not used by mistake.
var credentialTypes = map[string]option.CredentialsType{
	"service_account":              option.ServiceAccount,
	"authorized_user":              option.AuthorizedUser,
	"external_account":             option.ExternalAccount,
	"impersonated_service_account": option.ImpersonatedServiceAccount,
}

// config is the decoded settings of one resource.
type config struct {
	resource string
	scope    Resource
	// credentialsFile is "" for Application Default Credentials.
	credentialsFile string
	credentialsType option.CredentialsType
	// roles are the roles anyone the policy lets request may ask for,
	// on the scope or any project or folder under it.
	roles []Role
	// levels maps access levels to the one role each grants; the other
	// levels of the resource take the role from the target.
	levels map[string]Role
	// access lists the resource's access levels.
	access []string
	// allow lists roles exempt from the privileged-role guard.
	allow    []Role
	discover bool
	member   string
	// emailDomain, when set, is the only domain of requesters' emails
	// (lower case); it is required when member uses {local}.
	emailDomain string
	maxAttempts int
}

// parseConfig decodes and validates r.Settings without contacting Google
// Cloud or reading any file. Every problem is a *provider.SettingError.
func parseConfig(r provider.Resource) (config, error) {
	s := provider.NewSettings(r.Settings)
	c := config{resource: r.Name, access: append([]string(nil), r.Access...)}

	if scope := s.String("scope", true); scope != "" {
		res, err := ParseResource(scope)
		if err != nil {
			s.Errorf("scope", "%v", err)
		}
		c.scope = res
	}

	c.credentialsFile = s.String("credentials_file", s.Has("credentials_file"))
	typ := s.String("credentials_type", false)
	switch {
	case typ == "":
		c.credentialsType = option.ServiceAccount
	case c.credentialsFile == "":
		s.Errorf("credentials_type", "applies to credentials_file only (Application Default Credentials find their own type)")
	default:
		t, ok := credentialTypes[typ]
		if !ok {
			names := make([]string, 0, len(credentialTypes))
			for n := range credentialTypes {
				names = append(names, n)
			}
			sort.Strings(names)
			s.Errorf("credentials_type", "%q is not one of %s", typ, strings.Join(names, ", "))
		}
		c.credentialsType = t
	}

	c.allow = parseRoles(s, "allow_roles", false, nil)

	c.roles = parseRoles(s, "roles", true, c.allow)

	if s.Has("levels") {
		m := s.StringMap("levels")
		c.levels = map[string]Role{}
		for _, level := range sortedMapKeys(m) {
			role, err := ParseRole(m[level])
			if err != nil {
				s.Errorf("levels", "level %q: %v", level, err)
				continue
			}
			if err := guardPredefined(role); err != nil && !slices.Contains(c.allow, role) {
				s.Errorf("levels", "level %q: %v", level, err)
				continue
			}
			if err := checkConditional(role); err != nil {
				s.Errorf("levels", "level %q: %v", level, err)
				continue
			}
			if !slices.Contains(r.Access, level) {
				s.Errorf("levels", "level %q is not an access level of the resource (%s)", level, strings.Join(r.Access, ", "))
				continue
			}
			c.levels[level] = role
		}
	}

	c.discover = s.Bool("discover_eligible", false)

	c.member = DefaultMember
	if s.Has("member") {
		c.member = s.String("member", true)
		if err := checkMemberTemplate(c.member); err != nil {
			s.Errorf("member", "%v", err)
		}
	}
	c.emailDomain = strings.ToLower(s.String("email_domain", false))
	switch {
	case c.emailDomain != "" && !domainRe.MatchString(c.emailDomain):
		s.Errorf("email_domain", "%s is not a domain such as example.com", quote(c.emailDomain))
	case c.emailDomain == "" && strings.Contains(c.member, placeholderLocal):
		// alice@example.com and alice@partner.example would both be
		// made the member of the first: one person's grant would land
		// on another's identity.
		s.Errorf("email_domain", "is required with {local} in member: the part of an email before @ names one person only within one domain")
	}

	c.maxAttempts = s.Int("max_attempts", DefaultMaxAttempts)
	if c.maxAttempts < 1 || c.maxAttempts > maxAttemptsLimit {
		s.Errorf("max_attempts", "must be between 1 and %d, got %d", maxAttemptsLimit, c.maxAttempts)
	}

	// A level without a role takes its role from the target; with
	// neither static roles nor discovery, such a level could never be
	// granted anything.
	if len(c.roles) == 0 && !c.discover {
		for _, a := range r.Access {
			if _, ok := c.levels[a]; !ok {
				s.Errorf("roles", "access level %q has no role in levels, and there are no roles to request and discover_eligible is off: give it a role in levels, list roles, or set discover_eligible: true", a)
				break
			}
		}
	}
	return c, s.Err()
}

// parseRoles reads a list of role names; each must parse and, when guard
// is set, be a role IAM grants with a condition and, unless it is in
// allow, pass the predefined-role guard (custom roles are checked against
// their permissions when requested, as that needs the IAM API).
func parseRoles(s *provider.Settings, key string, guard bool, allow []Role) []Role {
	var out []Role
	for _, name := range s.StringList(key, false) {
		role, err := ParseRole(name)
		if err != nil {
			s.Errorf(key, "%v", err)
			continue
		}
		if guard {
			if err := guardPredefined(role); err != nil && !slices.Contains(allow, role) {
				s.Errorf(key, "%v", err)
				continue
			}
			if err := checkConditional(role); err != nil {
				s.Errorf(key, "%v", err)
				continue
			}
		}
		if !slices.Contains(out, role) {
			out = append(out, role)
		}
	}
	return out
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
