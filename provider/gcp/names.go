package gcp

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is the kind of a resource-manager resource whose IAM policy jit
// changes.
type Kind int

// The kinds of resource a target may name.
const (
	Project Kind = iota + 1
	Folder
	Organization
)

func (k Kind) String() string {
	switch k {
	case Project:
		return "project"
	case Folder:
		return "folder"
	case Organization:
		return "organization"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// collection is the first segment of a resource name of the kind.
func (k Kind) collection() string {
	switch k {
	case Project:
		return "projects"
	case Folder:
		return "folders"
	case Organization:
		return "organizations"
	}
	return ""
}

// fullNamePrefix is how the Cloud Asset API names resource-manager
// resources ("//cloudresourcemanager.googleapis.com/projects/my-project").
const fullNamePrefix = "//cloudresourcemanager.googleapis.com/"

// Resource is a project, folder or organization: "projects/my-project",
// "projects/123456789012", "folders/123", "organizations/456".
type Resource struct {
	Kind Kind
	// ID is the project ID or number, or the folder or organization
	// number.
	ID string
}

// String returns the resource name ("projects/my-project").
func (r Resource) String() string {
	if r.Kind == 0 {
		return ""
	}
	return r.Kind.collection() + "/" + r.ID
}

// FullName returns the Cloud Asset API's full resource name
// ("//cloudresourcemanager.googleapis.com/projects/my-project").
func (r Resource) FullName() string { return fullNamePrefix + r.String() }

// IsZero reports whether r names nothing.
func (r Resource) IsZero() bool { return r.Kind == 0 }

// maxNameLen bounds every name jit parses: the longest valid role or
// resource name is far shorter, and a bound keeps hostile input cheap.
const maxNameLen = 256

var (
	// projectIDRe is a project ID (6 to 30 characters, a lower-case
	// letter first, no trailing hyphen), optionally prefixed by the
	// domain of a domain-scoped project ("example.com:my-project"), or a
	// project number.
	projectIDRe = regexp.MustCompile(`^(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	numberRe    = regexp.MustCompile(`^[1-9][0-9]{0,19}$`)
	// predefinedRoleRe is a predefined role ("roles/compute.viewer").
	predefinedRoleRe = regexp.MustCompile(`^roles/[A-Za-z][A-Za-z0-9_.]{0,127}$`)
	// customRoleIDRe is the last segment of a custom role's name.
	customRoleIDRe = regexp.MustCompile(`^[A-Za-z0-9_.]{3,64}$`)
)

// NameError is a resource, role or target that does not parse. Reason
// is safe to show to the requester.
type NameError struct {
	Reason string
}

func (e *NameError) Error() string { return e.Reason }

func nameErrorf(format string, args ...any) error {
	return &NameError{Reason: fmt.Sprintf(format, args...)}
}

// quote quotes s for a message, cut to a length that keeps the message
// readable whatever was typed.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// ParseResource parses a project, folder or organization name.
func ParseResource(s string) (Resource, error) {
	if s == "" {
		return Resource{}, nameErrorf("resource is empty")
	}
	if len(s) > maxNameLen {
		return Resource{}, nameErrorf("resource is longer than %d bytes", maxNameLen)
	}
	coll, id, ok := strings.Cut(s, "/")
	if !ok {
		return Resource{}, nameErrorf("resource %s is not projects/ID, folders/NUMBER or organizations/NUMBER", quote(s))
	}
	switch coll {
	case "projects":
		if projectIDRe.MatchString(id) || numberRe.MatchString(id) {
			return Resource{Kind: Project, ID: id}, nil
		}
		return Resource{}, nameErrorf("resource %s: %s is not a project ID or number", quote(s), quote(id))
	case "folders":
		if numberRe.MatchString(id) {
			return Resource{Kind: Folder, ID: id}, nil
		}
		return Resource{}, nameErrorf("resource %s: a folder is named by its number (folders/123)", quote(s))
	case "organizations":
		if numberRe.MatchString(id) {
			return Resource{Kind: Organization, ID: id}, nil
		}
		return Resource{}, nameErrorf("resource %s: an organization is named by its number (organizations/456)", quote(s))
	}
	return Resource{}, nameErrorf("resource %s is not projects/ID, folders/NUMBER or organizations/NUMBER", quote(s))
}

// resourceFromFullName parses a Cloud Asset full resource name of a
// project, folder or organization; ok is false for anything else (a
// bucket, an instance).
func resourceFromFullName(s string) (Resource, bool) {
	rest, ok := strings.CutPrefix(s, fullNamePrefix)
	if !ok {
		return Resource{}, false
	}
	r, err := ParseResource(rest)
	return r, err == nil
}

// Role is a role name: predefined ("roles/compute.viewer") or custom
// ("projects/my-project/roles/deployer", "organizations/456/roles/auditor").
type Role string

// Custom reports whether the role is a custom role.
func (r Role) Custom() bool { return !strings.HasPrefix(string(r), "roles/") }

// customParent returns the project or organization that defines a custom
// role.
func (r Role) customParent() Resource {
	coll, rest, _ := strings.Cut(string(r), "/")
	id, _, _ := strings.Cut(rest, "/")
	if coll == "projects" {
		return Resource{Kind: Project, ID: id}
	}
	return Resource{Kind: Organization, ID: id}
}

// ParseRole parses a predefined or custom role name.
func ParseRole(s string) (Role, error) {
	if s == "" {
		return "", nameErrorf("role is empty")
	}
	if len(s) > maxNameLen {
		return "", nameErrorf("role is longer than %d bytes", maxNameLen)
	}
	if strings.HasPrefix(s, "roles/") {
		if predefinedRoleRe.MatchString(s) {
			return Role(s), nil
		}
		return "", nameErrorf("role %s is not a valid role name (roles/NAME)", quote(s))
	}
	parts := strings.Split(s, "/")
	if len(parts) == 4 && parts[2] == "roles" && customRoleIDRe.MatchString(parts[3]) {
		switch parts[0] {
		case "projects":
			if projectIDRe.MatchString(parts[1]) || numberRe.MatchString(parts[1]) {
				return Role(s), nil
			}
		case "organizations":
			if numberRe.MatchString(parts[1]) {
				return Role(s), nil
			}
		}
	}
	return "", nameErrorf("role %s is not roles/NAME, projects/ID/roles/NAME or organizations/NUMBER/roles/NAME", quote(s))
}

// Target is what a request names: a resource, a role, both, or neither
// (each part then comes from the resource's settings).
type Target struct {
	Resource Resource
	Role     Role
}

// String returns the canonical form: "RESOURCE:ROLE", "ROLE", "RESOURCE"
// or "".
func (t Target) String() string {
	switch {
	case !t.Resource.IsZero() && t.Role != "":
		return t.Resource.String() + ":" + string(t.Role)
	case t.Role != "":
		return string(t.Role)
	default:
		return t.Resource.String()
	}
}

// maxTargetLen bounds a target: a resource, a colon and a role.
const maxTargetLen = 2*maxNameLen + 1

// ParseTarget parses a request's target: "" (nothing), "ROLE",
// "RESOURCE" or "RESOURCE:ROLE" ("projects/my-project:roles/compute.viewer").
// A resource never parses as a role nor the other way round, so the forms
// cannot be confused; the colon that separates them is the last one,
// because a domain-scoped project ID ("example.com:my-project") has one
// of its own. Errors are *NameError.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, nil
	}
	if len(s) > maxTargetLen {
		return Target{}, nameErrorf("target is longer than %d bytes", maxTargetLen)
	}
	for _, c := range s {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return Target{}, nameErrorf("target %s contains a space or control character", quote(s))
		}
	}
	if r, err := ParseResource(s); err == nil {
		return Target{Resource: r}, nil
	}
	if role, err := ParseRole(s); err == nil {
		return Target{Role: role}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Target{}, nameErrorf("target %s is not RESOURCE:ROLE (projects/my-project:roles/compute.viewer), ROLE or RESOURCE", quote(s))
	}
	r, err := ParseResource(s[:i])
	if err != nil {
		return Target{}, nameErrorf("target %s: %v", quote(s), err)
	}
	role, err := ParseRole(s[i+1:])
	if err != nil {
		return Target{}, nameErrorf("target %s: %v", quote(s), err)
	}
	return Target{Resource: r, Role: role}, nil
}

// emailRe is the shape of an email jit accepts as a person or member.
var emailRe = regexp.MustCompile(`^[A-Za-z0-9._%+'-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)

// domainRe is a DNS domain of at least two labels, lower case.
var domainRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$`)

// checkEmail refuses what is not a plain email address.
func checkEmail(s string) error {
	if s == "" {
		return nameErrorf("user is empty")
	}
	if len(s) > 254 || !emailRe.MatchString(s) {
		return nameErrorf("user %s is not an email address", quote(s))
	}
	return nil
}

// memberPrefixes are the member types a member template may produce.
var memberPrefixes = []string{"user:", "group:", "serviceAccount:"}

// Placeholders of the member template.
const (
	placeholderEmail = "{email}"
	placeholderLocal = "{local}"
)

// checkMemberTemplate validates the member setting.
func checkMemberTemplate(t string) error {
	ok := false
	for _, p := range memberPrefixes {
		if strings.HasPrefix(t, p) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%q must start with user:, group: or serviceAccount:", t)
	}
	if !strings.Contains(t, placeholderEmail) && !strings.Contains(t, placeholderLocal) {
		return fmt.Errorf("%q names no one: use {email} or {local} (the part of the requester's email before @)", t)
	}
	// The template with a sample email must give a valid member, so that
	// a typo is found when the policy loads rather than at grant.
	if _, err := renderMember(t, "sample.user@example.com"); err != nil {
		return fmt.Errorf("%q: %v", t, err)
	}
	return nil
}

// renderMember fills the member template for email, which checkEmail
// accepted.
func renderMember(t, email string) (string, error) {
	local, _, _ := strings.Cut(email, "@")
	m := strings.ReplaceAll(t, placeholderEmail, email)
	m = strings.ReplaceAll(m, placeholderLocal, local)
	typ, id, _ := strings.Cut(m, ":")
	if err := checkEmail(id); err != nil {
		return "", fmt.Errorf("member %s for %s is not TYPE:EMAIL", quote(m), quote(email))
	}
	return typ + ":" + id, nil
}

// memberFor returns the member the bindings of the requester email are
// made for: the member template filled in, after checking that email is
// an address and, when email_domain is set, one of that domain. Errors
// are safe to show to the requester.
func (c config) memberFor(email string) (string, error) {
	if err := checkEmail(email); err != nil {
		return "", err
	}
	if c.emailDomain != "" {
		_, domain, _ := strings.Cut(email, "@")
		if !strings.EqualFold(domain, c.emailDomain) {
			return "", nameErrorf("user %s is not an address of %s, the only domain this resource grants to", quote(email), c.emailDomain)
		}
	}
	return renderMember(c.member, email)
}

// personOf maps a member found in a policy back to the email of the
// person whose member it is under the member template: the inverse of
// memberFor, in lower case. ok is false for a member no requester would
// be given (another type, another domain, a template with more than one
// placeholder, which cannot be inverted).
func (c config) personOf(member string) (string, bool) {
	t := c.member
	var ph string
	switch {
	case strings.Count(t, placeholderEmail) == 1 && !strings.Contains(t, placeholderLocal):
		ph = placeholderEmail
	case strings.Count(t, placeholderLocal) == 1 && !strings.Contains(t, placeholderEmail):
		ph = placeholderLocal
	default:
		return "", false
	}
	prefix, suffix, _ := strings.Cut(strings.ToLower(t), ph)
	m := strings.ToLower(member)
	if len(m) <= len(prefix)+len(suffix) || !strings.HasPrefix(m, prefix) || !strings.HasSuffix(m, suffix) {
		return "", false
	}
	email := m[len(prefix) : len(m)-len(suffix)]
	if ph == placeholderLocal {
		if c.emailDomain == "" {
			return "", false
		}
		email += "@" + c.emailDomain
	}
	// The way back must lead to the same member, or the mapping is not
	// one person's.
	got, err := c.memberFor(email)
	if err != nil || !strings.EqualFold(got, member) {
		return "", false
	}
	return email, true
}

// checkRequestID refuses request IDs that could not be written into a
// condition's description and read back: empty, too long, or with
// spaces or control characters (jit's own IDs have none).
func checkRequestID(id string) error {
	if id == "" {
		return fmt.Errorf("request ID is empty")
	}
	if len(id) > maxRequestIDLen {
		return fmt.Errorf("request ID is longer than %d bytes", maxRequestIDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("request ID is not valid UTF-8")
	}
	for _, c := range id {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return fmt.Errorf("request ID contains a space or control character")
		}
	}
	return nil
}

// maxRequestIDLen keeps the condition description, which carries the ID,
// within the API's limit.
const maxRequestIDLen = 100
