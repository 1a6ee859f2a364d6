// Package gcptest is an in-process stand-in for the parts of Google
// Cloud's REST APIs that provider/gcp calls, for tests that cannot reach
// Google Cloud. It speaks their documented wire format, so the real
// client libraries talk to it unchanged (ClientOptions points them at it):
//
//   - Resource Manager v3: projects, folders and organizations
//     getIamPolicy and setIamPolicy, projects.get and folders.get;
//   - IAM v1: roles.get for predefined roles (a small table of real ones,
//     PredefinedRoles, and any a test adds) and projects.roles.get and
//     organizations.roles.get for custom roles; an unknown role is 404;
//   - Cloud Asset v1: analyzeIamPolicy and searchAllIamPolicies, answered
//     from the stored policies.
//
// It keeps one IAM policy per resource in a hierarchy of organizations,
// folders and projects, gives every write a new base64 etag, refuses a
// write with a stale etag with 409 ABORTED as IAM does, and refuses
// conditional bindings unless policy version 3 is requested and sent
// (reading at a lower version returns them under mangled role names, as
// IAM does), and refuses conditions on the basic roles (roles/owner,
// roles/editor, roles/viewer) and for allUsers and allAuthenticatedUsers,
// as IAM does. Conditions are compiled and evaluated with cel-go, so
// Effective tells whether a member holds a role at a given time.
//
// What it does not model: authentication and IAM checks on the caller
// (every call is allowed), quotas, eventual consistency of the Cloud
// Asset index, policy size limits, and the many analysis options
// provider/gcp does not use.
package gcptest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"google.golang.org/api/option"
)

// FullNamePrefix starts the Cloud Asset API's full resource names of
// resource-manager resources.
const FullNamePrefix = "//cloudresourcemanager.googleapis.com/"

// Policy is an IAM policy in the REST representation.
type Policy struct {
	Version      int             `json:"version,omitempty"`
	Bindings     []Binding       `json:"bindings,omitempty"`
	AuditConfigs json.RawMessage `json:"auditConfigs,omitempty"`
	Etag         string          `json:"etag,omitempty"`
}

// Binding is one role binding.
type Binding struct {
	Role      string     `json:"role"`
	Members   []string   `json:"members,omitempty"`
	Condition *Condition `json:"condition,omitempty"`
}

// Condition is an IAM condition (google.type.Expr).
type Condition struct {
	Expression  string `json:"expression"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Location    string `json:"location,omitempty"`
}

// APIError is an error answer, in Google's JSON error format.
type APIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// node is one project, folder or organization.
type node struct {
	// name is canonical: "projects/ID", "folders/N", "organizations/N".
	name string
	// number is a project's number.
	number string
	parent string
	policy Policy
}

type customRole struct {
	perms   []string
	deleted bool
}

// PredefinedRoles are some of Google Cloud's predefined roles, each with
// a selection of its permissions as Google defines them (the real roles
// hold up to hundreds; every permission kept here is one of the role's,
// and the selection keeps those that decide whether a role may be
// activated: roles/storage.admin's storage.buckets.setIamPolicy,
// roles/storage.objectAdmin's storage.objects.setIamPolicy (object ACLs),
// roles/run.admin's run.services.setIamPolicy, the getIamPolicy reads of
// the viewer roles). roles.get answers them; a test adds others with
// AddPredefinedRole.
var PredefinedRoles = map[string][]string{
	"roles/browser": {
		"resourcemanager.folders.get", "resourcemanager.folders.list", "resourcemanager.organizations.get",
		"resourcemanager.projects.get", "resourcemanager.projects.getIamPolicy", "resourcemanager.projects.list",
	},
	"roles/compute.viewer": {
		"compute.disks.get", "compute.disks.getIamPolicy", "compute.disks.list", "compute.firewalls.get",
		"compute.firewalls.list", "compute.instances.get", "compute.instances.getIamPolicy",
		"compute.instances.getSerialPortOutput", "compute.instances.list", "compute.networks.get",
		"compute.networks.list", "compute.projects.get", "compute.zones.list",
		"resourcemanager.projects.get", "resourcemanager.projects.list", "serviceusage.services.list",
	},
	"roles/logging.viewer": {
		"logging.buckets.get", "logging.buckets.list", "logging.logEntries.list", "logging.logs.list",
		"logging.sinks.get", "logging.sinks.list", "logging.views.list", "resourcemanager.projects.get",
	},
	"roles/monitoring.viewer": {
		"monitoring.alertPolicies.get", "monitoring.alertPolicies.list", "monitoring.dashboards.get",
		"monitoring.dashboards.list", "monitoring.groups.list", "monitoring.timeSeries.list",
		"resourcemanager.projects.get", "resourcemanager.projects.list",
	},
	"roles/pubsub.viewer": {
		"pubsub.schemas.list", "pubsub.snapshots.list", "pubsub.subscriptions.get",
		"pubsub.subscriptions.list", "pubsub.topics.get", "pubsub.topics.list",
		"resourcemanager.projects.get", "resourcemanager.projects.list",
	},
	"roles/storage.objectViewer": {
		"resourcemanager.projects.get", "resourcemanager.projects.list", "storage.folders.get",
		"storage.folders.list", "storage.managedFolders.get", "storage.managedFolders.list",
		"storage.objects.get", "storage.objects.list",
	},
	"roles/storage.objectAdmin": {
		"orgpolicy.policy.get", "resourcemanager.projects.get", "resourcemanager.projects.list",
		"storage.managedFolders.create", "storage.managedFolders.get", "storage.multipartUploads.create",
		"storage.objects.create", "storage.objects.delete", "storage.objects.get",
		"storage.objects.getIamPolicy", "storage.objects.list", "storage.objects.setIamPolicy",
		"storage.objects.update",
	},
	"roles/storage.admin": {
		"resourcemanager.projects.get", "storage.buckets.create", "storage.buckets.delete",
		"storage.buckets.get", "storage.buckets.getIamPolicy", "storage.buckets.list",
		"storage.buckets.setIamPolicy", "storage.buckets.update", "storage.managedFolders.setIamPolicy",
		"storage.objects.create", "storage.objects.get", "storage.objects.setIamPolicy",
	},
	"roles/run.admin": {
		"resourcemanager.projects.get", "run.jobs.create", "run.jobs.setIamPolicy", "run.services.create",
		"run.services.get", "run.services.getIamPolicy", "run.services.list",
		"run.services.setIamPolicy", "run.services.update",
	},
	"roles/secretmanager.admin": {
		"resourcemanager.projects.get", "secretmanager.secrets.create", "secretmanager.secrets.get",
		"secretmanager.secrets.getIamPolicy", "secretmanager.secrets.setIamPolicy",
		"secretmanager.versions.access", "secretmanager.versions.add",
	},
	"roles/deploymentmanager.editor": {
		"deploymentmanager.deployments.create", "deploymentmanager.deployments.delete",
		"deploymentmanager.deployments.get", "deploymentmanager.deployments.list",
		"deploymentmanager.deployments.update", "resourcemanager.projects.get",
	},
}

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server
	env *cel.Env

	// Now is the server's clock for analyses that give no access time;
	// nil means time.Now. Set it before the first request.
	Now func() time.Time

	mu    sync.Mutex
	nodes map[string]*node
	alias map[string]string
	roles map[string]*customRole
	// predefined holds the predefined roles roles.get answers.
	predefined map[string][]string
	groups     map[string][]string
	seq        uint64
	calls      map[string]int
	afterGet   func(resource string)
	fault      func(method, resource string) *APIError
}

// NewServer starts a server with an empty hierarchy. Close it when done.
func NewServer() *Server {
	env, err := cel.NewEnv(
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("resource", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		panic("gcptest: CEL environment: " + err.Error())
	}
	s := &Server{
		env:        env,
		nodes:      map[string]*node{},
		alias:      map[string]string{},
		roles:      map[string]*customRole{},
		predefined: map[string][]string{},
		groups:     map[string][]string{},
		calls:      map[string]int{},
	}
	for name, perms := range PredefinedRoles {
		s.predefined[name] = slices.Clone(perms)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// ClientOptions point a Google API client at the server, without
// credentials.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.srv.URL + "/"), option.WithHTTPClient(s.srv.Client())}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// nextEtag returns a new etag: base64 of a counter, as opaque to clients
// as IAM's own.
func (s *Server) nextEtag() string {
	s.seq++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.seq)
	return base64.StdEncoding.EncodeToString(b[:])
}

func (s *Server) add(n *node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.nodes[n.name]; dup {
		panic("gcptest: " + n.name + " added twice")
	}
	if n.parent != "" && s.nodes[n.parent] == nil {
		panic("gcptest: parent " + n.parent + " of " + n.name + " does not exist")
	}
	n.policy = Policy{Version: 1, Etag: s.nextEtag()}
	s.nodes[n.name] = n
	if n.number != "" {
		s.alias["projects/"+n.number] = n.name
	}
}

// AddOrganization adds organizations/number.
func (s *Server) AddOrganization(number string) {
	s.add(&node{name: "organizations/" + number})
}

// AddFolder adds folders/number under parent ("organizations/1" or
// "folders/2").
func (s *Server) AddFolder(number, parent string) {
	s.add(&node{name: "folders/" + number, parent: parent})
}

// AddProject adds projects/id, also reachable as projects/number, under
// parent ("" for a project outside any organization).
func (s *Server) AddProject(id, number, parent string) {
	s.add(&node{name: "projects/" + id, number: number, parent: parent})
}

// AddGroup makes members ("user:a@example.com") the members of group
// ("group:team@example.com"), for identity matching and expandGroups.
func (s *Server) AddGroup(group string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[group] = append([]string(nil), members...)
}

// AddCustomRole defines a custom role ("projects/p/roles/deployer").
func (s *Server) AddCustomRole(name string, permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[name] = &customRole{perms: append([]string(nil), permissions...)}
}

// AddPredefinedRole defines (or redefines) a predefined role
// ("roles/example.viewer") for roles.get, beside PredefinedRoles.
func (s *Server) AddPredefinedRole(name string, permissions ...string) {
	if !strings.HasPrefix(name, "roles/") {
		panic("gcptest: predefined role " + name + " does not start with roles/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.predefined[name] = append([]string(nil), permissions...)
}

// DeleteCustomRole marks a custom role deleted (roles.get still returns
// it, with deleted: true, as IAM does for seven days).
func (s *Server) DeleteCustomRole(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.roles[name]; r != nil {
		r.deleted = true
	}
}

// lookup finds a resource by either name of a project; nil when absent.
// The caller holds mu.
func (s *Server) lookup(name string) *node {
	if n := s.nodes[name]; n != nil {
		return n
	}
	if a, ok := s.alias[name]; ok {
		return s.nodes[a]
	}
	return nil
}

func (s *Server) mustLookup(name string) *node {
	n := s.lookup(name)
	if n == nil {
		panic("gcptest: no resource " + name)
	}
	return n
}

func copyPolicy(p Policy) Policy {
	out := p
	out.Bindings = make([]Binding, len(p.Bindings))
	for i, b := range p.Bindings {
		out.Bindings[i] = Binding{Role: b.Role, Members: append([]string(nil), b.Members...)}
		if b.Condition != nil {
			c := *b.Condition
			out.Bindings[i].Condition = &c
		}
	}
	out.AuditConfigs = append(json.RawMessage(nil), p.AuditConfigs...)
	return out
}

// Policy returns a copy of the stored policy of resource, with its etag.
func (s *Server) Policy(resource string) Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyPolicy(s.mustLookup(resource).policy)
}

// AddBinding adds a binding to resource's policy as someone other than
// jit would (no etag check), giving the policy a new etag. Conditional
// bindings raise the policy to version 3. A binding IAM would refuse to
// hold (a condition on a basic role) panics, so that no test relies on
// a policy that cannot exist.
func (s *Server) AddBinding(resource string, b Binding) {
	if e := conditionRefused(b); e != "" {
		panic("gcptest: " + e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.mustLookup(resource)
	n.policy = copyPolicy(n.policy)
	n.policy.Bindings = append(n.policy.Bindings, copyPolicy(Policy{Bindings: []Binding{b}}).Bindings[0])
	if b.Condition != nil {
		n.policy.Version = 3
	}
	n.policy.Etag = s.nextEtag()
}

// SetAuditConfigs replaces the audit configuration of resource's policy
// (raw JSON), so tests can check that writes keep it.
func (s *Server) SetAuditConfigs(resource string, raw json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.mustLookup(resource)
	n.policy.AuditConfigs = append(json.RawMessage(nil), raw...)
	n.policy.Etag = s.nextEtag()
}

// OnGetIamPolicy sets a function called after each getIamPolicy answer
// is computed and before it is sent, without the server's lock held: a
// test changes the policy there to play someone writing between jit's
// read and write. nil removes it.
func (s *Server) OnGetIamPolicy(f func(resource string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterGet = f
}

// InjectFault sets a function asked before each call; a non-nil answer
// is sent instead of the call's result. method is the API method
// ("getIamPolicy", "setIamPolicy", "analyzeIamPolicy",
// "searchAllIamPolicies", "projects.get", "folders.get", "roles.get"),
// resource the name in the path. nil removes it.
func (s *Server) InjectFault(f func(method, resource string) *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Calls reports how many times method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// ancestors returns n and its ancestors, nearest first. The caller holds
// mu.
func (s *Server) ancestors(n *node) []*node {
	var out []*node
	for n != nil && len(out) < 64 {
		out = append(out, n)
		n = s.nodes[n.parent]
	}
	return out
}

// within reports whether n is scope or below it. The caller holds mu.
func (s *Server) within(n, scope *node) bool {
	return slices.Contains(s.ancestors(n), scope)
}

// memberOf reports whether identity is member or in the group member.
// The caller holds mu.
func (s *Server) memberOf(identity, member string) bool {
	if identity == member {
		return true
	}
	return strings.HasPrefix(member, "group:") && slices.Contains(s.groups[member], identity)
}

// eval evaluates a condition at t on resource n: true, false, or an
// error for an expression that does not compile or evaluate to a bool.
func (s *Server) eval(expr string, n *node, t time.Time) (bool, error) {
	ast, iss := s.env.Compile(expr)
	if iss.Err() != nil {
		return false, iss.Err()
	}
	prg, err := s.env.Program(ast)
	if err != nil {
		return false, err
	}
	out, _, err := prg.Eval(map[string]any{
		"request":  map[string]any{"time": t.UTC()},
		"resource": map[string]any{"name": FullNamePrefix + n.name, "service": "cloudresourcemanager.googleapis.com"},
	})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition %q is not a bool", expr)
	}
	return b, nil
}

// Effective reports whether member ("user:a@example.com") holds role on
// resource at time t, as IAM would decide: through a binding on the
// resource or an ancestor, directly or through a group, whose condition
// (if any) evaluates to true at t. A condition that fails to evaluate
// grants nothing, as in IAM; one that does not compile is an error.
func (s *Server) Effective(resource, member, role string, t time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.mustLookup(resource)
	for _, a := range s.ancestors(n) {
		for _, b := range a.policy.Bindings {
			if b.Role != role || !slices.ContainsFunc(b.Members, func(m string) bool { return s.memberOf(member, m) }) {
				continue
			}
			if b.Condition == nil {
				return true, nil
			}
			if _, iss := s.env.Compile(b.Condition.Expression); iss.Err() != nil {
				return false, fmt.Errorf("condition on %s: %w", a.name, iss.Err())
			}
			if ok, err := s.eval(b.Condition.Expression, n, t); err == nil && ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// ---- HTTP ----

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *APIError) {
	writeJSON(w, e.Code, map[string]any{"error": e})
}

func apiErr(code int, status, format string, args ...any) *APIError {
	return &APIError{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// denied is what Google answers for a resource that does not exist as
// well as for one the caller may not see.
func denied(name string) *APIError {
	return apiErr(http.StatusForbidden, "PERMISSION_DENIED", "The caller does not have permission, or %s does not exist", name)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	var method, name string
	var handle func(w http.ResponseWriter, r *http.Request, name string)
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v3/") && strings.HasSuffix(path, ":getIamPolicy"):
		method, name, handle = "getIamPolicy", strings.TrimSuffix(path[4:], ":getIamPolicy"), s.getIamPolicy
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v3/") && strings.HasSuffix(path, ":setIamPolicy"):
		method, name, handle = "setIamPolicy", strings.TrimSuffix(path[4:], ":setIamPolicy"), s.setIamPolicy
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v3/projects/"):
		method, name, handle = "projects.get", path[4:], s.getProject
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v3/folders/"):
		method, name, handle = "folders.get", path[4:], s.getFolder
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/") && strings.HasSuffix(path, ":analyzeIamPolicy"):
		method, name, handle = "analyzeIamPolicy", strings.TrimSuffix(path[4:], ":analyzeIamPolicy"), s.analyzeIamPolicy
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/") && strings.HasSuffix(path, ":searchAllIamPolicies"):
		method, name, handle = "searchAllIamPolicies", strings.TrimSuffix(path[4:], ":searchAllIamPolicies"), s.searchAllIamPolicies
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/") && strings.Contains(path, "/roles/"):
		method, name, handle = "roles.get", path[4:], s.getRole
	default:
		writeError(w, apiErr(http.StatusNotFound, "NOT_FOUND", "no method %s %s", r.Method, path))
		return
	}
	s.mu.Lock()
	s.calls[method]++
	fault := s.fault
	s.mu.Unlock()
	if fault != nil {
		if e := fault(method, name); e != nil {
			writeError(w, e)
			return
		}
	}
	if r.URL.Query().Get("alt") != "json" {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "alt=json expected"))
		return
	}
	handle(w, r, name)
}

// decode reads a JSON body, refusing fields the API does not define, so
// that a client sending something else is noticed.
func decode(r *http.Request, v any) *APIError {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. %v", err)
	}
	return nil
}

// validResourceName reports whether name is one of the three collections
// a getIamPolicy or setIamPolicy path may name.
func validResourceName(name string) bool {
	coll, id, ok := strings.Cut(name, "/")
	return ok && id != "" && !strings.Contains(id, "/") && (coll == "projects" || coll == "folders" || coll == "organizations")
}

func hasConditions(p Policy) bool {
	return slices.ContainsFunc(p.Bindings, func(b Binding) bool { return b.Condition != nil })
}

// legacyRole is how IAM shows a conditional binding to a reader asking
// for version 1: the role with a suffix derived from the condition, and
// no condition.
func legacyRole(b Binding) string {
	sum := sha256.Sum256([]byte(b.Condition.Title + "\x00" + b.Condition.Description + "\x00" + b.Condition.Expression))
	return b.Role + "_withcond_" + hex.EncodeToString(sum[:10])
}

func (s *Server) getIamPolicy(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Options *struct {
			RequestedPolicyVersion int `json:"requestedPolicyVersion"`
		} `json:"options"`
	}
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	version := 0
	if req.Options != nil {
		version = req.Options.RequestedPolicyVersion
	}
	if version < 0 || version > 3 || version == 2 {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid requestedPolicyVersion %d: use 0, 1 or 3", version))
		return
	}
	s.mu.Lock()
	n := s.lookup(name)
	if !validResourceName(name) || n == nil {
		s.mu.Unlock()
		writeError(w, denied(name))
		return
	}
	p := copyPolicy(n.policy)
	if hasConditions(p) && version == 3 {
		p.Version = 3
	} else {
		p.Version = 1
		for i, b := range p.Bindings {
			if b.Condition != nil {
				p.Bindings[i] = Binding{Role: legacyRole(b), Members: b.Members}
			}
		}
	}
	after := s.afterGet
	s.mu.Unlock()
	if after != nil {
		after(n.name)
	}
	writeJSON(w, http.StatusOK, p)
}

// basicRoles are the legacy basic roles, which IAM grants without
// conditions only.
var basicRoles = []string{"roles/owner", "roles/editor", "roles/viewer"}

// conditionRefused says why IAM refuses b's condition: conditions cannot
// be used with basic roles, nor for allUsers or allAuthenticatedUsers;
// "" when it does not.
func conditionRefused(b Binding) string {
	if b.Condition == nil {
		return ""
	}
	if slices.Contains(basicRoles, b.Role) {
		return fmt.Sprintf("Conditions are not supported for basic role %s", b.Role)
	}
	for _, m := range b.Members {
		if m == "allUsers" || m == "allAuthenticatedUsers" {
			return fmt.Sprintf("Conditions are not supported for %s", m)
		}
	}
	return ""
}

// knownMemberPrefixes are the principal types IAM accepts in bindings.
var knownMemberPrefixes = []string{"user:", "group:", "serviceAccount:", "domain:", "principal:", "principalSet:", "deleted:"}

func (s *Server) checkBinding(b Binding) *APIError {
	invalid := func(format string, args ...any) *APIError {
		return apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", format, args...)
	}
	if b.Role == "" {
		return invalid("Role is empty in a binding")
	}
	if strings.Contains(b.Role, "_withcond_") {
		return invalid("Role %s does not exist: conditional bindings must be read and written with policy version 3", b.Role)
	}
	if !strings.HasPrefix(b.Role, "roles/") {
		cr := s.roles[b.Role]
		if cr == nil || cr.deleted {
			return invalid("Role %s does not exist", b.Role)
		}
	}
	if len(b.Members) == 0 {
		return invalid("Binding for %s has no members", b.Role)
	}
	for _, m := range b.Members {
		if m != "allUsers" && m != "allAuthenticatedUsers" && !slices.ContainsFunc(knownMemberPrefixes, func(p string) bool { return strings.HasPrefix(m, p) }) {
			return invalid("Invalid principal %q", m)
		}
	}
	if c := b.Condition; c != nil {
		if e := conditionRefused(b); e != "" {
			return invalid("%s", e)
		}
		if c.Title == "" || len(c.Title) > 100 {
			return invalid("Condition title must be 1 to 100 characters")
		}
		if len(c.Description) > 256 {
			return invalid("Condition description is longer than 256 characters")
		}
		ast, iss := s.env.Compile(c.Expression)
		if iss.Err() != nil {
			return invalid("Condition expression %q does not compile: %v", c.Expression, iss.Err())
		}
		if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
			return invalid("Condition expression %q is not a bool", c.Expression)
		}
	}
	return nil
}

func (s *Server) setIamPolicy(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Policy     *Policy `json:"policy"`
		UpdateMask string  `json:"updateMask"`
	}
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Policy == nil {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "policy is required"))
		return
	}
	p := *req.Policy
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookup(name)
	if !validResourceName(name) || n == nil {
		writeError(w, denied(name))
		return
	}
	if p.Etag != "" && p.Etag != n.policy.Etag {
		writeError(w, apiErr(http.StatusConflict, "ABORTED", "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."))
		return
	}
	if p.Version != 0 && p.Version != 1 && p.Version != 3 {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid policy version %d", p.Version))
		return
	}
	if hasConditions(p) && p.Version != 3 {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Conditions are only supported in policy version 3; set policy.version to 3"))
		return
	}
	for _, b := range p.Bindings {
		if e := s.checkBinding(b); e != nil {
			writeError(w, e)
			return
		}
	}
	stored := Policy{Version: 1, Bindings: copyPolicy(p).Bindings, AuditConfigs: n.policy.AuditConfigs}
	if hasConditions(stored) {
		stored.Version = 3
	}
	// The default update mask is "bindings,etag": audit configs change
	// only when the mask names them.
	if slices.Contains(strings.Split(req.UpdateMask, ","), "auditConfigs") {
		stored.AuditConfigs = append(json.RawMessage(nil), p.AuditConfigs...)
	}
	stored.Etag = s.nextEtag()
	n.policy = stored
	writeJSON(w, http.StatusOK, copyPolicy(stored))
}

func (s *Server) getProject(w http.ResponseWriter, _ *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookup(name)
	if n == nil || !strings.HasPrefix(n.name, "projects/") {
		writeError(w, denied(name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":      "projects/" + n.number,
		"projectId": strings.TrimPrefix(n.name, "projects/"),
		"parent":    n.parent,
		"state":     "ACTIVE",
	})
}

func (s *Server) getFolder(w http.ResponseWriter, _ *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[name]
	if n == nil || !strings.HasPrefix(n.name, "folders/") {
		writeError(w, denied(name))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": n.name, "parent": n.parent, "state": "ACTIVE"})
}

func (s *Server) getRole(w http.ResponseWriter, _ *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(name, "roles/") {
		perms, ok := s.predefined[name]
		if !ok {
			writeError(w, apiErr(http.StatusNotFound, "NOT_FOUND", "The role named %s was not found.", name))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "includedPermissions": perms, "stage": "GA", "etag": "AA=="})
		return
	}
	cr := s.roles[name]
	if cr == nil {
		writeError(w, apiErr(http.StatusNotFound, "NOT_FOUND", "The role named %s was not found.", name))
		return
	}
	out := map[string]any{"name": name, "includedPermissions": cr.perms, "etag": "BwX="}
	if cr.deleted {
		out["deleted"] = true
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- Cloud Asset ----

type assetResource struct {
	FullResourceName string `json:"fullResourceName"`
}

type assetAccess struct {
	Role string `json:"role"`
}

type conditionEvaluation struct {
	EvaluationValue string `json:"evaluationValue"`
}

type acl struct {
	Resources           []assetResource      `json:"resources"`
	Accesses            []assetAccess        `json:"accesses"`
	ConditionEvaluation *conditionEvaluation `json:"conditionEvaluation,omitempty"`
}

type identity struct {
	Name string `json:"name"`
}

type edge struct {
	SourceNode string `json:"sourceNode"`
	TargetNode string `json:"targetNode"`
}

type identityList struct {
	Identities []identity `json:"identities"`
	GroupEdges []edge     `json:"groupEdges,omitempty"`
}

type analysisResult struct {
	AttachedResourceFullName string       `json:"attachedResourceFullName"`
	IamBinding               Binding      `json:"iamBinding"`
	AccessControlLists       []acl        `json:"accessControlLists"`
	IdentityList             identityList `json:"identityList"`
	FullyExplored            bool         `json:"fullyExplored"`
}

// evaluation is the analysis's reading of a condition at t: TRUE,
// FALSE, or CONDITIONAL when it depends on what the analysis does not
// know (an eligibility marker such as has({}.jitAccessConstraint) reads
// as CONDITIONAL in Google's analyzer, as Google's JIT Access expects).
func (s *Server) evaluation(c *Condition, n *node, t time.Time) *conditionEvaluation {
	if c == nil {
		return nil
	}
	if strings.Contains(c.Expression, "{}") {
		return &conditionEvaluation{EvaluationValue: "CONDITIONAL"}
	}
	ok, err := s.eval(c.Expression, n, t)
	switch {
	case err != nil:
		return &conditionEvaluation{EvaluationValue: "CONDITIONAL"}
	case ok:
		return &conditionEvaluation{EvaluationValue: "TRUE"}
	}
	return &conditionEvaluation{EvaluationValue: "FALSE"}
}

func (s *Server) analyzeIamPolicy(w http.ResponseWriter, r *http.Request, scopeName string) {
	q := r.URL.Query()
	ident := q.Get("analysisQuery.identitySelector.identity")
	selected := q.Get("analysisQuery.resourceSelector.fullResourceName")
	roles := q["analysisQuery.accessSelector.roles"]
	expandGroups := q.Get("analysisQuery.options.expandGroups") == "true"
	expandResources := q.Get("analysisQuery.options.expandResources") == "true"
	at := s.now()
	if v := q.Get("analysisQuery.conditionContext.accessTime"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid accessTime %q", v))
			return
		}
		at = t
	}
	if v := q.Get("executionTimeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Minute {
			writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid executionTimeout %q", v))
			return
		}
	}
	if ident == "" && selected == "" {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "At least one of resource selector or identity selector must be specified"))
		return
	}
	if ident != "" && !slices.ContainsFunc([]string{"user:", "group:", "serviceAccount:", "domain:"}, func(p string) bool { return strings.HasPrefix(ident, p) }) {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid identity %q", ident))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scope := s.lookup(scopeName)
	if !validResourceName(scopeName) || scope == nil {
		writeError(w, denied(scopeName))
		return
	}

	type attachment struct {
		n         *node
		resources []string
	}
	var attachments []attachment
	if selected != "" {
		name, ok := strings.CutPrefix(selected, FullNamePrefix)
		target := s.lookup(name)
		if !ok || target == nil || !s.within(target, scope) {
			writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Resource %s is not found in scope %s", selected, scopeName))
			return
		}
		// Policies on the resource and on its ancestors up to the
		// scope apply to it.
		for _, a := range s.ancestors(target) {
			attachments = append(attachments, attachment{n: a, resources: []string{selected}})
			if a == scope {
				break
			}
		}
	} else {
		names := make([]string, 0, len(s.nodes))
		for name := range s.nodes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			n := s.nodes[name]
			if !s.within(n, scope) {
				continue
			}
			res := []string{FullNamePrefix + n.name}
			if expandResources {
				for _, d := range names {
					if d != name && s.within(s.nodes[d], n) {
						res = append(res, FullNamePrefix+d)
					}
				}
			}
			attachments = append(attachments, attachment{n: n, resources: res})
		}
	}

	var results []analysisResult
	evalNode := scope
	for _, a := range attachments {
		if selected != "" {
			evalNode = s.lookup(strings.TrimPrefix(selected, FullNamePrefix))
		} else {
			evalNode = a.n
		}
		for _, b := range a.n.policy.Bindings {
			if len(roles) > 0 && !slices.Contains(roles, b.Role) {
				continue
			}
			var il identityList
			if ident != "" {
				if !slices.ContainsFunc(b.Members, func(m string) bool { return s.memberOf(ident, m) }) {
					continue
				}
				il.Identities = []identity{{Name: ident}}
			} else {
				seen := map[string]bool{}
				for _, m := range b.Members {
					if !seen[m] {
						seen[m] = true
						il.Identities = append(il.Identities, identity{Name: m})
					}
					if expandGroups && strings.HasPrefix(m, "group:") {
						for _, gm := range s.groups[m] {
							il.GroupEdges = append(il.GroupEdges, edge{SourceNode: m, TargetNode: gm})
							if !seen[gm] {
								seen[gm] = true
								il.Identities = append(il.Identities, identity{Name: gm})
							}
						}
					}
				}
			}
			res := make([]assetResource, len(a.resources))
			for i, name := range a.resources {
				res[i] = assetResource{FullResourceName: name}
			}
			results = append(results, analysisResult{
				AttachedResourceFullName: FullNamePrefix + a.n.name,
				IamBinding:               copyPolicy(Policy{Bindings: []Binding{b}}).Bindings[0],
				AccessControlLists: []acl{{
					Resources:           res,
					Accesses:            []assetAccess{{Role: b.Role}},
					ConditionEvaluation: s.evaluation(b.Condition, evalNode, at),
				}},
				IdentityList:  il,
				FullyExplored: true,
			})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"mainAnalysis": map[string]any{
			"analysisResults": results,
			"fullyExplored":   true,
		},
		"fullyExplored": true,
	})
}

// assetType is the Cloud Asset type of a resource-manager resource.
func assetType(name string) string {
	switch {
	case strings.HasPrefix(name, "projects/"):
		return "cloudresourcemanager.googleapis.com/Project"
	case strings.HasPrefix(name, "folders/"):
		return "cloudresourcemanager.googleapis.com/Folder"
	}
	return "cloudresourcemanager.googleapis.com/Organization"
}

func (s *Server) searchAllIamPolicies(w http.ResponseWriter, r *http.Request, scopeName string) {
	q := r.URL.Query()
	types := q["assetTypes"]
	if q.Get("query") != "" {
		writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "this server does not implement search queries"))
		return
	}
	size := 100
	if v := q.Get("pageSize"); v != "" && v != "0" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2000 {
			writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid pageSize %q", v))
			return
		}
		size = n
	}
	offset := 0
	if v := q.Get("pageToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, apiErr(http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid pageToken"))
			return
		}
		offset = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scope := s.lookup(scopeName)
	if !validResourceName(scopeName) || scope == nil {
		writeError(w, denied(scopeName))
		return
	}
	var names []string
	for name, n := range s.nodes {
		if s.within(n, scope) && len(n.policy.Bindings) > 0 && (len(types) == 0 || slices.Contains(types, assetType(name))) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	resp := map[string]any{}
	var results []map[string]any
	for i := offset; i < len(names) && i < offset+size; i++ {
		n := s.nodes[names[i]]
		res := map[string]any{
			"resource":  FullNamePrefix + n.name,
			"assetType": assetType(n.name),
			"policy":    map[string]any{"bindings": copyPolicy(n.policy).Bindings},
		}
		if n.number != "" {
			res["project"] = "projects/" + n.number
		}
		results = append(results, res)
	}
	resp["results"] = results
	if offset+size < len(names) {
		resp["nextPageToken"] = strconv.Itoa(offset + size)
	}
	writeJSON(w, http.StatusOK, resp)
}
