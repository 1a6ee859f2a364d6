package awstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Target prefixes of the two JSON 1.1 APIs (the SDKs' serializers send
// "X-Amz-Target: SWBExternalService.CreateAccountAssignment").
const (
	ssoAdminPrefix      = "SWBExternalService."
	identityStorePrefix = "AWSIdentityStore."
)

// Assignment is one account assignment.
type Assignment struct {
	AccountID, PermissionSetARN, PrincipalType, PrincipalID string
}

// IdentityCenter is an IAM Identity Center (SSO admin and identity store
// APIs on one endpoint) for one instance and identity store. Account
// assignments are made and removed asynchronously: a create or delete
// answers IN_PROGRESS and takes effect once its status has been read
// PollsBeforeDone times more.
type IdentityCenter struct {
	InstanceARN     string
	IdentityStoreID string

	srv *httptest.Server
	t   testing.TB

	mu sync.Mutex
	// PollsBeforeDone is how many status reads answer IN_PROGRESS before
	// an operation completes (default 2).
	PollsBeforeDone int
	// ConflictOnDeleteAfterCreate makes the first DeleteAccountAssignment
	// of an assignment created since answer ConflictException, as AWS
	// does shortly after a create.
	ConflictOnDeleteAfterCreate bool
	// PageSize bounds the items of one list page (default 2), so that
	// clients must follow NextToken.
	PageSize int
	// repeatToken: see RepeatNextTokens.
	repeatToken bool

	users       map[string]user
	groups      map[string]*group
	memberships map[string]membership
	assignments map[Assignment]bool
	ops         map[string]*operation
	fresh       map[Assignment]bool // created, not yet refused a delete
	failures    map[string][]string // operation -> error codes to answer next
	calls       map[string]int
	seq         int
}

type user struct{ id, userName, email string }

type group struct{ id, name, description string }

type membership struct{ id, group, user string }

type operation struct {
	id      string
	create  bool
	a       Assignment
	polls   int
	status  string
	reason  string
	created time.Time
}

// NewIdentityCenter starts a server; it stops when the test ends.
func NewIdentityCenter(t testing.TB) *IdentityCenter {
	s := &IdentityCenter{
		InstanceARN:     "arn:aws:sso:::instance/ssoins-0123456789abcdef",
		IdentityStoreID: "d-0123456789",
		t:               t,
		PollsBeforeDone: 2,
		PageSize:        2,
		users:           map[string]user{},
		groups:          map[string]*group{},
		memberships:     map[string]membership{},
		assignments:     map[Assignment]bool{},
		ops:             map[string]*operation{},
		fresh:           map[Assignment]bool{},
		failures:        map[string][]string{},
		calls:           map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint of both APIs.
func (s *IdentityCenter) URL() string { return s.srv.URL }

// PermissionSetARN returns the ARN of a permission set of the instance.
func (s *IdentityCenter) PermissionSetARN(n int) string {
	return fmt.Sprintf("arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-%016x", n)
}

func (s *IdentityCenter) newID() string {
	s.seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq)
}

// AddUser adds a user and returns its ID.
func (s *IdentityCenter) AddUser(userName, email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	s.users[id] = user{id: id, userName: userName, email: email}
	return id
}

// AddGroup adds a group (as a person would) and returns its ID.
func (s *IdentityCenter) AddGroup(name, description string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	s.groups[id] = &group{id: id, name: name, description: description}
	return id
}

// RepeatNextTokens makes the server answer every list page asked for
// with a NextToken with that same NextToken, as a faulty server might: a
// client that follows it asks for the same page for ever.
func (s *IdentityCenter) RepeatNextTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repeatToken = true
}

// Assign makes an assignment at once, as a person would.
func (s *IdentityCenter) Assign(a Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignments[a] = true
}

// HasAssignment reports whether a is in effect.
func (s *IdentityCenter) HasAssignment(a Assignment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assignments[a]
}

// Assignments lists the assignments in effect.
func (s *IdentityCenter) Assignments() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Assignment
	for a := range s.assignments {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// Group returns the ID and description of the group named name.
func (s *IdentityCenter) Group(name string) (id, description string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.name == name {
			return g.id, g.description, true
		}
	}
	return "", "", false
}

// GroupCount is the number of groups.
func (s *IdentityCenter) GroupCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// Members lists the user IDs in a group.
func (s *IdentityCenter) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.memberships {
		if m.group == groupID {
			out = append(out, m.user)
		}
	}
	sort.Strings(out)
	return out
}

// Calls is how many times an operation ("CreateAccountAssignment") was
// called.
func (s *IdentityCenter) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// FailNext makes the next call of op answer the error code (HTTP 400,
// or 500 for InternalServerException).
func (s *IdentityCenter) FailNext(op, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = append(s.failures[op], code)
}

type apiError struct {
	status int
	code   string
	msg    string
}

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *IdentityCenter) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	var op, service string
	switch {
	case strings.HasPrefix(target, ssoAdminPrefix):
		op, service = strings.TrimPrefix(target, ssoAdminPrefix), "sso"
	case strings.HasPrefix(target, identityStorePrefix):
		op, service = strings.TrimPrefix(target, identityStorePrefix), "identitystore"
	default:
		writeJSONError(w, errf(400, "UnknownOperationException", "unknown target %q", target))
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		writeJSONError(w, errf(400, "SerializationException", "want POST / with application/x-amz-json-1.1"))
		return
	}
	if err := checkSignature(r, body, service); err != nil {
		writeJSONError(w, errf(403, "InvalidSignatureException", "%v", err))
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, errf(400, "SerializationException", "body is not a JSON object"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if codes := s.failures[op]; len(codes) > 0 {
		s.failures[op] = codes[1:]
		status := 400
		if codes[0] == "InternalServerException" {
			status = 500
		}
		writeJSONError(w, errf(status, codes[0], "injected"))
		return
	}
	var out any
	var aerr *apiError
	if service == "sso" {
		if str(in, "InstanceArn") != s.InstanceARN {
			writeJSONError(w, errf(400, "ResourceNotFoundException", "no such instance"))
			return
		}
		out, aerr = s.ssoAdmin(op, in)
	} else {
		if str(in, "IdentityStoreId") != s.IdentityStoreID {
			writeJSONError(w, errf(400, "ResourceNotFoundException", "no such identity store"))
			return
		}
		out, aerr = s.identityStore(op, in)
	}
	if aerr != nil {
		writeJSONError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeJSONError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "Message": e.msg})
}

func str(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

func obj(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func (s *IdentityCenter) principalExists(ptype, id string) bool {
	switch ptype {
	case "USER":
		_, ok := s.users[id]
		return ok
	case "GROUP":
		_, ok := s.groups[id]
		return ok
	}
	return false
}

func (s *IdentityCenter) assignmentInput(in map[string]any) (Assignment, *apiError) {
	a := Assignment{AccountID: str(in, "TargetId"), PermissionSetARN: str(in, "PermissionSetArn"), PrincipalType: str(in, "PrincipalType"), PrincipalID: str(in, "PrincipalId")}
	if str(in, "TargetType") != "AWS_ACCOUNT" || len(a.AccountID) != 12 {
		return a, errf(400, "ValidationException", "TargetType must be AWS_ACCOUNT and TargetId an account ID")
	}
	if !strings.HasPrefix(a.PermissionSetARN, "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-") {
		return a, errf(400, "ValidationException", "PermissionSetArn is not of this instance")
	}
	if !s.principalExists(a.PrincipalType, a.PrincipalID) {
		return a, errf(400, "ResourceNotFoundException", "no %s principal %s", a.PrincipalType, a.PrincipalID)
	}
	return a, nil
}

// busy reports whether an operation on the same assignment is running:
// AWS refuses a second one with ConflictException.
func (s *IdentityCenter) busy(a Assignment) bool {
	for _, o := range s.ops {
		if o.a == a && o.status == "IN_PROGRESS" {
			return true
		}
	}
	return false
}

func (o *operation) status1(key string) map[string]any {
	st := map[string]any{
		"RequestId": o.id, "Status": o.status, "TargetId": o.a.AccountID, "TargetType": "AWS_ACCOUNT",
		"PermissionSetArn": o.a.PermissionSetARN, "PrincipalType": o.a.PrincipalType, "PrincipalId": o.a.PrincipalID,
		"CreatedDate": float64(o.created.Unix()),
	}
	if o.reason != "" {
		st["FailureReason"] = o.reason
	}
	return map[string]any{key: st}
}

// advance moves an operation one poll on, applying it when done.
func (s *IdentityCenter) advance(o *operation) {
	if o.status != "IN_PROGRESS" {
		return
	}
	if o.polls > 0 {
		o.polls--
		return
	}
	if o.create {
		s.assignments[o.a] = true
		s.fresh[o.a] = true
		o.status = "SUCCEEDED"
		return
	}
	if !s.assignments[o.a] {
		o.status, o.reason = "FAILED", "The specified account assignment does not exist."
		return
	}
	delete(s.assignments, o.a)
	o.status = "SUCCEEDED"
}

func (s *IdentityCenter) ssoAdmin(op string, in map[string]any) (any, *apiError) {
	switch op {
	case "CreateAccountAssignment", "DeleteAccountAssignment":
		a, aerr := s.assignmentInput(in)
		if aerr != nil && !(op == "DeleteAccountAssignment" && aerr.code == "ResourceNotFoundException") {
			return nil, aerr
		}
		if s.busy(a) {
			return nil, errf(400, "ConflictException", "an operation on this assignment is in progress")
		}
		create := op == "CreateAccountAssignment"
		if !create && s.ConflictOnDeleteAfterCreate && s.fresh[a] {
			delete(s.fresh, a)
			return nil, errf(400, "ConflictException", "the assignment is being provisioned; retry")
		}
		o := &operation{id: s.newID(), create: create, a: a, polls: s.PollsBeforeDone, status: "IN_PROGRESS", created: time.Now()}
		s.ops[o.id] = o
		if create {
			return o.status1("AccountAssignmentCreationStatus"), nil
		}
		return o.status1("AccountAssignmentDeletionStatus"), nil
	case "DescribeAccountAssignmentCreationStatus", "DescribeAccountAssignmentDeletionStatus":
		create := op == "DescribeAccountAssignmentCreationStatus"
		key := "AccountAssignmentDeletionRequestId"
		if create {
			key = "AccountAssignmentCreationRequestId"
		}
		o, ok := s.ops[str(in, key)]
		if !ok || o.create != create {
			return nil, errf(400, "ResourceNotFoundException", "no such request")
		}
		s.advance(o)
		if create {
			return o.status1("AccountAssignmentCreationStatus"), nil
		}
		return o.status1("AccountAssignmentDeletionStatus"), nil
	case "ListAccountAssignments":
		var items []any
		for _, a := range s.sortedAssignments() {
			if a.AccountID == str(in, "AccountId") && a.PermissionSetARN == str(in, "PermissionSetArn") {
				items = append(items, map[string]any{"AccountId": a.AccountID, "PermissionSetArn": a.PermissionSetARN, "PrincipalType": a.PrincipalType, "PrincipalId": a.PrincipalID})
			}
		}
		return s.page(in, "AccountAssignments", items)
	case "ListAccountAssignmentsForPrincipal":
		filter := str(obj(in, "Filter"), "AccountId")
		var items []any
		for _, a := range s.sortedAssignments() {
			if a.PrincipalID == str(in, "PrincipalId") && a.PrincipalType == str(in, "PrincipalType") && (filter == "" || filter == a.AccountID) {
				items = append(items, map[string]any{"AccountId": a.AccountID, "PermissionSetArn": a.PermissionSetARN, "PrincipalType": a.PrincipalType, "PrincipalId": a.PrincipalID})
			}
		}
		return s.page(in, "AccountAssignments", items)
	}
	return nil, errf(400, "UnknownOperationException", "operation %s is not served", op)
}

func (s *IdentityCenter) sortedAssignments() []Assignment {
	var out []Assignment
	for a := range s.assignments {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// page answers one page of items; NextToken is the next offset.
func (s *IdentityCenter) page(in map[string]any, key string, items []any) (any, *apiError) {
	start := 0
	if tok := str(in, "NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			return nil, errf(400, "ValidationException", "bad NextToken")
		}
		start = n
	}
	size := s.PageSize
	if m, ok := in["MaxResults"].(float64); ok && int(m) < size {
		size = int(m)
	}
	end := min(start+size, len(items))
	out := map[string]any{key: append([]any{}, items[start:end]...)}
	if tok := str(in, "NextToken"); tok != "" && s.repeatToken {
		out["NextToken"] = tok
	} else if end < len(items) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func uniqueAttribute(in map[string]any) (path, value string) {
	ua := obj(obj(in, "AlternateIdentifier"), "UniqueAttribute")
	return str(ua, "AttributePath"), str(ua, "AttributeValue")
}

func (s *IdentityCenter) identityStore(op string, in map[string]any) (any, *apiError) {
	switch op {
	case "GetUserId":
		path, value := uniqueAttribute(in)
		if path != "userName" && path != "emails.value" {
			return nil, errf(400, "ValidationException", "unsupported attribute path %q", path)
		}
		for _, u := range s.users {
			if (path == "userName" && u.userName == value) || (path == "emails.value" && u.email == value) {
				return map[string]any{"IdentityStoreId": s.IdentityStoreID, "UserId": u.id}, nil
			}
		}
		return nil, errf(400, "ResourceNotFoundException", "no such user")
	case "GetGroupId":
		path, value := uniqueAttribute(in)
		if path != "displayName" {
			return nil, errf(400, "ValidationException", "unsupported attribute path %q", path)
		}
		for _, g := range s.groups {
			if g.name == value {
				return map[string]any{"IdentityStoreId": s.IdentityStoreID, "GroupId": g.id}, nil
			}
		}
		return nil, errf(400, "ResourceNotFoundException", "no such group")
	case "DescribeGroup":
		g, ok := s.groups[str(in, "GroupId")]
		if !ok {
			return nil, errf(400, "ResourceNotFoundException", "no such group")
		}
		return map[string]any{"IdentityStoreId": s.IdentityStoreID, "GroupId": g.id, "DisplayName": g.name, "Description": g.description}, nil
	case "CreateGroup":
		name := str(in, "DisplayName")
		if name == "" || len(name) > 1024 || len(str(in, "Description")) > 1024 {
			return nil, errf(400, "ValidationException", "bad DisplayName or Description")
		}
		for _, g := range s.groups {
			if g.name == name {
				return nil, errf(400, "ConflictException", "a group named %s exists", name)
			}
		}
		id := s.newID()
		s.groups[id] = &group{id: id, name: name, description: str(in, "Description")}
		return map[string]any{"IdentityStoreId": s.IdentityStoreID, "GroupId": id}, nil
	case "UpdateGroup":
		g, ok := s.groups[str(in, "GroupId")]
		if !ok {
			return nil, errf(400, "ResourceNotFoundException", "no such group")
		}
		ops, _ := in["Operations"].([]any)
		for _, o := range ops {
			om, _ := o.(map[string]any)
			v, isStr := om["AttributeValue"].(string)
			switch str(om, "AttributePath") {
			case "description":
				if !isStr {
					return nil, errf(400, "ValidationException", "description must be a string")
				}
				g.description = v
			case "displayName":
				if !isStr {
					return nil, errf(400, "ValidationException", "displayName must be a string")
				}
				g.name = v
			default:
				return nil, errf(400, "ValidationException", "unsupported attribute path")
			}
		}
		return map[string]any{}, nil
	case "DeleteGroup":
		id := str(in, "GroupId")
		if _, ok := s.groups[id]; !ok {
			return nil, errf(400, "ResourceNotFoundException", "no such group")
		}
		delete(s.groups, id)
		for mid, m := range s.memberships {
			if m.group == id {
				delete(s.memberships, mid)
			}
		}
		return map[string]any{}, nil
	case "GetGroupMembershipId", "CreateGroupMembership":
		gid, uid := str(in, "GroupId"), str(obj(in, "MemberId"), "UserId")
		if _, ok := s.groups[gid]; !ok {
			return nil, errf(400, "ResourceNotFoundException", "no such group")
		}
		if _, ok := s.users[uid]; !ok {
			return nil, errf(400, "ResourceNotFoundException", "no such user")
		}
		for _, m := range s.memberships {
			if m.group == gid && m.user == uid {
				if op == "CreateGroupMembership" {
					return nil, errf(400, "ConflictException", "already a member")
				}
				return map[string]any{"IdentityStoreId": s.IdentityStoreID, "MembershipId": m.id}, nil
			}
		}
		if op == "GetGroupMembershipId" {
			return nil, errf(400, "ResourceNotFoundException", "not a member")
		}
		id := s.newID()
		s.memberships[id] = membership{id: id, group: gid, user: uid}
		return map[string]any{"IdentityStoreId": s.IdentityStoreID, "MembershipId": id}, nil
	}
	return nil, errf(400, "UnknownOperationException", "operation %s is not served", op)
}
