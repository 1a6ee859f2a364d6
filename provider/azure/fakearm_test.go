package azure

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"
	"github.com/google/uuid"
)

// fakeARM is Azure's authorization API as far as this provider uses it,
// with state: the SDK's generated fake servers (armauthorization/v2/fake)
// give the real SDK clients in-memory answers, and this type decides them
// the way Azure does, as documented and as reported by its users:
//
//   - an AdminAssign creates a role assignment schedule ending after its
//     AfterDuration; a second one for the same principal, role and scope
//     is refused with RoleAssignmentExists (409);
//   - a schedule request name is used once: sending it again is refused
//     with RoleAssignmentRequestExists (409);
//   - an AdminRemove deletes the schedule; with none, it is refused with
//     RoleAssignmentDoesNotExist (400), and the request is not kept;
//   - a role whose policy requires approval leaves the request
//     PendingApproval and creates nothing;
//   - a SelfActivate (sent by the eligible principal itself, with a name
//     and justification of its choosing) makes an activated assignment;
//   - listings return the schedules at, above and below the scope, only
//     while they have not ended (by the injected clock), accept only the
//     principalId filter, and come in pages of two.
type fakeARM struct {
	now func() time.Time

	mu          sync.Mutex
	defs        map[string]*armauthorization.RoleDefinition
	requests    map[string]*armauthorization.RoleAssignmentScheduleRequest
	schedules   []*armauthorization.RoleAssignmentSchedule
	eligibility []*armauthorization.RoleEligibilitySchedule
	approval    map[string]bool
	// keepEnded lists ended schedules too, to test that the provider
	// does not take them for access.
	keepEnded bool
	// failCreate, when it returns an error code for a request name, makes
	// that Create fail with it (once per call that returns non-empty).
	failCreate func(name string) (status int, code string)
	// beforeCreate runs (once) before a Create is processed, as another
	// replica's request arriving first would.
	beforeCreate func(scope, name string, body armauthorization.RoleAssignmentScheduleRequest)
	writes       int
}

const (
	readerGUID      = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	contributorGUID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	ownerGUID       = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	uaaGUID         = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	rbacAdminGUID   = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
	sneakyGUID      = "0a1b2c3d-0000-4000-8000-000000000001"
	approvalGUID    = "0a1b2c3d-0000-4000-8000-000000000002"
	twinAGUID       = "0a1b2c3d-0000-4000-8000-000000000003"
	twinBGUID       = "0a1b2c3d-0000-4000-8000-000000000004"
	opsGUID         = "0a1b2c3d-0000-4000-8000-000000000005"
)

func newFakeARM(now func() time.Time) *fakeARM {
	f := &fakeARM{
		now:      now,
		defs:     map[string]*armauthorization.RoleDefinition{},
		requests: map[string]*armauthorization.RoleAssignmentScheduleRequest{},
		approval: map[string]bool{approvalGUID: true},
	}
	perm := func(actions []string, not []string) []*armauthorization.Permission {
		p := &armauthorization.Permission{}
		for _, a := range actions {
			p.Actions = append(p.Actions, ptr(a))
		}
		for _, a := range not {
			p.NotActions = append(p.NotActions, ptr(a))
		}
		return []*armauthorization.Permission{p}
	}
	add := func(guid, name, kind string, perms []*armauthorization.Permission) {
		f.defs[guid] = &armauthorization.RoleDefinition{
			ID: ptr("/providers/Microsoft.Authorization/roleDefinitions/" + guid), Name: ptr(guid),
			Type:       ptr("Microsoft.Authorization/roleDefinitions"),
			Properties: &armauthorization.RoleDefinitionProperties{RoleName: ptr(name), RoleType: ptr(kind), Permissions: perms},
		}
	}
	add(readerGUID, "Reader", "BuiltInRole", perm([]string{"*/read"}, nil))
	add(contributorGUID, "Contributor", "BuiltInRole", perm([]string{"*"}, []string{
		"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
	}))
	add(ownerGUID, "Owner", "BuiltInRole", perm([]string{"*"}, nil))
	add(uaaGUID, "User Access Administrator", "BuiltInRole", perm([]string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}, nil))
	add(rbacAdminGUID, "Role Based Access Control Administrator", "BuiltInRole", perm([]string{
		"Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete", "*/read",
	}, nil))
	add(sneakyGUID, "Sneaky Operator", "CustomRole", perm([]string{"Microsoft.Compute/*/read", "Microsoft.Authorization/*/write"}, nil))
	add(approvalGUID, "Guarded Reader", "CustomRole", perm([]string{"*/read"}, nil))
	add(twinAGUID, "Twin", "CustomRole", perm([]string{"*/read"}, nil))
	add(twinBGUID, "Twin", "CustomRole", perm([]string{"*/read"}, nil))
	add(opsGUID, "App Operator", "CustomRole", perm([]string{"Microsoft.Web/sites/*"}, []string{"Microsoft.Web/sites/delete"}))
	return f
}

// server returns the fake servers backed by f.
func (f *fakeARM) server() *fake.ServerFactory {
	return &fake.ServerFactory{
		RoleAssignmentScheduleRequestsServer: fake.RoleAssignmentScheduleRequestsServer{Create: f.create, Get: f.getRequest},
		RoleAssignmentSchedulesServer:        fake.RoleAssignmentSchedulesServer{NewListForScopePager: f.listSchedules},
		RoleEligibilitySchedulesServer:       fake.RoleEligibilitySchedulesServer{NewListForScopePager: f.listEligibility},
		RoleDefinitionsServer:                fake.RoleDefinitionsServer{GetByID: f.getDefinition, NewListPager: f.listDefinitions},
	}
}

// clone copies v through JSON, so that answers never share memory with
// the state.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

func normScope(s string) string { return "/" + strings.Trim(s, "/") }

var isoDurationRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

func parseISODuration(s string) (time.Duration, bool) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return 0, false
		}
		d += time.Duration(n) * unit
	}
	return d, true
}

// roleGUIDOf checks a role definition ID as Azure accepts it in a
// request at scope and returns its GUID.
func (f *fakeARM) roleGUIDOf(scope, id string) (string, bool) {
	sub := strings.Split(strings.Trim(scope, "/"), "/")[1]
	prefix := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/"
	if !strings.HasPrefix(strings.ToLower(id), strings.ToLower(prefix)) {
		return "", false
	}
	g := strings.ToLower(id[len(prefix):])
	_, ok := f.defs[g]
	return g, ok
}

// active returns the index of the current schedule of principal and role
// at exactly scope, or -1.
func (f *fakeARM) active(scope, principal, role string) int {
	now := f.now()
	for i, s := range f.schedules {
		pr := s.Properties
		if strings.EqualFold(*pr.Scope, scope) && strings.EqualFold(*pr.PrincipalID, principal) &&
			strings.EqualFold(lastSegment(*pr.RoleDefinitionID), role) && pr.EndDateTime.After(now) {
			return i
		}
	}
	return -1
}

func (f *fakeARM) create(_ context.Context, scope, name string, body armauthorization.RoleAssignmentScheduleRequest, _ *armauthorization.RoleAssignmentScheduleRequestsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentScheduleRequestsClientCreateResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	hook := f.beforeCreate
	f.beforeCreate = nil
	f.mu.Unlock()
	if hook != nil {
		hook(scope, name, body)
	}
	out, status, code := f.apply(scope, name, body)
	if code != "" {
		errResp.SetResponseError(status, code)
		return
	}
	resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentScheduleRequestsClientCreateResponse{RoleAssignmentScheduleRequest: *out}, nil)
	return
}

// apply processes a schedule request as Azure would.
func (f *fakeARM) apply(scope, name string, body armauthorization.RoleAssignmentScheduleRequest) (*armauthorization.RoleAssignmentScheduleRequest, int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	scope = normScope(scope)
	f.writes++
	if f.failCreate != nil {
		if status, code := f.failCreate(name); code != "" {
			return nil, status, code
		}
	}
	if _, err := ParseScope(scope); err != nil {
		return nil, http.StatusBadRequest, "InvalidScope"
	}
	if _, err := uuid.Parse(name); err != nil {
		return nil, http.StatusBadRequest, "InvalidRoleAssignmentScheduleRequestName"
	}
	key := strings.ToLower(name)
	if _, ok := f.requests[key]; ok {
		return nil, http.StatusConflict, "RoleAssignmentRequestExists"
	}
	pr := body.Properties
	if pr == nil || pr.PrincipalID == nil || pr.RoleDefinitionID == nil || pr.RequestType == nil {
		return nil, http.StatusBadRequest, "InvalidRequest"
	}
	if _, err := parseGUID(*pr.PrincipalID); err != nil {
		return nil, http.StatusBadRequest, "InvalidPrincipalId"
	}
	role, ok := f.roleGUIDOf(scope, *pr.RoleDefinitionID)
	if !ok {
		return nil, http.StatusBadRequest, "RoleDefinitionDoesNotExist"
	}
	if pr.Justification == nil || len([]rune(*pr.Justification)) > maxJustification {
		return nil, http.StatusBadRequest, "JustificationRule"
	}
	now := f.now()
	id := scope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/" + key
	stored := &armauthorization.RoleAssignmentScheduleRequest{
		ID: &id, Name: ptr(key), Type: ptr("Microsoft.Authorization/RoleAssignmentScheduleRequests"),
		Properties: clone(pr),
	}
	stored.Properties.Scope = ptr(scope)
	stored.Properties.CreatedOn = ptr(now)
	switch *pr.RequestType {
	case armauthorization.RequestTypeAdminAssign, armauthorization.RequestTypeSelfActivate:
		// A SelfActivate comes from the eligible principal itself, with
		// a name and justification of its choosing; it makes an
		// activated assignment as an AdminAssign makes an assigned one.
		kind := armauthorization.AssignmentTypeAssigned
		if *pr.RequestType == armauthorization.RequestTypeSelfActivate {
			kind = armauthorization.AssignmentTypeActivated
		}
		si := pr.ScheduleInfo
		if si == nil || si.StartDateTime == nil || si.Expiration == nil || si.Expiration.Type == nil ||
			*si.Expiration.Type != armauthorization.TypeAfterDuration || si.Expiration.Duration == nil {
			return nil, http.StatusBadRequest, "InvalidScheduleInfo"
		}
		d, ok := parseISODuration(*si.Expiration.Duration)
		if !ok || d <= 0 {
			return nil, http.StatusBadRequest, "InvalidDuration"
		}
		if f.active(scope, *pr.PrincipalID, role) >= 0 {
			return nil, http.StatusConflict, "RoleAssignmentExists"
		}
		if f.approval[role] {
			stored.Properties.Status = ptr(armauthorization.StatusPendingApproval)
			f.requests[key] = stored
			return clone(stored), 0, ""
		}
		start := *si.StartDateTime
		end := start.Add(d)
		f.schedules = append(f.schedules, &armauthorization.RoleAssignmentSchedule{
			ID:   ptr(scope + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + uuid.NewString()),
			Name: ptr(uuid.NewString()), Type: ptr("Microsoft.Authorization/roleAssignmentSchedules"),
			Properties: &armauthorization.RoleAssignmentScheduleProperties{
				PrincipalID: ptr(strings.ToLower(*pr.PrincipalID)), RoleDefinitionID: ptr(*pr.RoleDefinitionID),
				Scope: ptr(scope), StartDateTime: &start, EndDateTime: &end,
				Status: ptr(armauthorization.StatusProvisioned), AssignmentType: ptr(kind),
				MemberType: ptr(armauthorization.MemberTypeDirect), RoleAssignmentScheduleRequestID: &id, CreatedOn: ptr(now),
			},
		})
		stored.Properties.Status = ptr(armauthorization.StatusProvisioned)
	case armauthorization.RequestTypeAdminRemove:
		i := f.active(scope, *pr.PrincipalID, role)
		if i < 0 {
			return nil, http.StatusBadRequest, "RoleAssignmentDoesNotExist"
		}
		f.schedules = append(f.schedules[:i], f.schedules[i+1:]...)
		stored.Properties.Status = ptr(armauthorization.StatusRevoked)
	default:
		return nil, http.StatusBadRequest, "InvalidRequestType"
	}
	f.requests[key] = stored
	return clone(stored), 0, ""
}

func (f *fakeARM) getRequest(_ context.Context, scope, name string, _ *armauthorization.RoleAssignmentScheduleRequestsClientGetOptions) (resp azfake.Responder[armauthorization.RoleAssignmentScheduleRequestsClientGetResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.requests[strings.ToLower(name)]
	if !ok || !strings.EqualFold(*r.Properties.Scope, normScope(scope)) {
		errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentScheduleRequestNotFound")
		return
	}
	resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentScheduleRequestsClientGetResponse{RoleAssignmentScheduleRequest: *clone(r)}, nil)
	return
}

var principalFilter = regexp.MustCompile(`^principalId eq '([0-9a-f-]{36})'$`)

// related reports whether schedule scope a is at, above or below b.
func related(a, b string) bool { return covers(a, b) || covers(b, a) }

func (f *fakeARM) listSchedules(scope string, o *armauthorization.RoleAssignmentSchedulesClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentSchedulesClientListForScopeResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	principal := ""
	if o != nil && o.Filter != nil {
		m := principalFilter.FindStringSubmatch(*o.Filter)
		if m == nil {
			resp.AddResponseError(http.StatusBadRequest, "InvalidFilter")
			return
		}
		principal = m[1]
	}
	now := f.now()
	var items []*armauthorization.RoleAssignmentSchedule
	for _, s := range f.schedules {
		pr := s.Properties
		if !related(*pr.Scope, normScope(scope)) || principal != "" && !strings.EqualFold(*pr.PrincipalID, principal) {
			continue
		}
		if !f.keepEnded && !pr.EndDateTime.After(now) {
			continue
		}
		items = append(items, clone(s))
	}
	if len(items) == 0 {
		resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentSchedulesClientListForScopeResponse{}, nil)
	}
	for i := 0; i < len(items); i += 2 {
		page := items[i:min(i+2, len(items))]
		resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentSchedulesClientListForScopeResponse{
			RoleAssignmentScheduleListResult: armauthorization.RoleAssignmentScheduleListResult{Value: page},
		}, nil)
	}
	return
}

func (f *fakeARM) listEligibility(scope string, o *armauthorization.RoleEligibilitySchedulesClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleEligibilitySchedulesClientListForScopeResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	principal := ""
	if o != nil && o.Filter != nil {
		m := principalFilter.FindStringSubmatch(*o.Filter)
		if m == nil {
			resp.AddResponseError(http.StatusBadRequest, "InvalidFilter")
			return
		}
		principal = m[1]
	}
	var items []*armauthorization.RoleEligibilitySchedule
	for _, s := range f.eligibility {
		pr := s.Properties
		if !related(*pr.Scope, normScope(scope)) || principal != "" && !strings.EqualFold(*pr.PrincipalID, principal) {
			continue
		}
		items = append(items, clone(s))
	}
	resp.AddPage(http.StatusOK, armauthorization.RoleEligibilitySchedulesClientListForScopeResponse{
		RoleEligibilityScheduleListResult: armauthorization.RoleEligibilityScheduleListResult{Value: items},
	}, nil)
	return
}

func (f *fakeARM) getDefinition(_ context.Context, roleID string, _ *armauthorization.RoleDefinitionsClientGetByIDOptions) (resp azfake.Responder[armauthorization.RoleDefinitionsClientGetByIDResponse], errResp azfake.ErrorResponder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.defs[strings.ToLower(lastSegment(roleID))]
	if !ok || !strings.Contains(strings.ToLower(roleID), "/providers/microsoft.authorization/roledefinitions/") {
		errResp.SetResponseError(http.StatusNotFound, "RoleDefinitionDoesNotExist")
		return
	}
	out := clone(d)
	out.ID = ptr(normScope(roleID))
	resp.SetResponse(http.StatusOK, armauthorization.RoleDefinitionsClientGetByIDResponse{RoleDefinition: *out}, nil)
	return
}

var roleNameFilter = regexp.MustCompile(`^roleName eq '((?:[^']|'')*)'$`)

func (f *fakeARM) listDefinitions(_ string, o *armauthorization.RoleDefinitionsClientListOptions) (resp azfake.PagerResponder[armauthorization.RoleDefinitionsClientListResponse]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := ""
	if o != nil && o.Filter != nil {
		m := roleNameFilter.FindStringSubmatch(*o.Filter)
		if m == nil {
			resp.AddResponseError(http.StatusBadRequest, "InvalidFilter")
			return
		}
		name = strings.ReplaceAll(m[1], "''", "'")
	}
	var items []*armauthorization.RoleDefinition
	for _, d := range f.defs {
		if name == "" || strings.EqualFold(*d.Properties.RoleName, name) {
			items = append(items, clone(d))
		}
	}
	resp.AddPage(http.StatusOK, armauthorization.RoleDefinitionsClientListResponse{
		RoleDefinitionListResult: armauthorization.RoleDefinitionListResult{Value: items},
	}, nil)
	return
}

// holds reports whether principal holds role (a GUID) at scope now.
func (f *fakeARM) holds(scope, principal, role string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active(normScope(scope), principal, role) >= 0
}

// schedule returns a copy of the current schedule of principal and role
// at scope, or nil.
func (f *fakeARM) schedule(scope, principal, role string) *armauthorization.RoleAssignmentSchedule {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.active(normScope(scope), principal, role); i >= 0 {
		return clone(f.schedules[i])
	}
	return nil
}

// request returns a copy of the schedule request called name, or nil.
func (f *fakeARM) request(name string) *armauthorization.RoleAssignmentScheduleRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.requests[strings.ToLower(name)]; ok {
		return clone(r)
	}
	return nil
}

// addSchedule adds an assignment made outside jit (by a person, with a
// request of their own).
func (f *fakeARM) addSchedule(scope, principal, role string, end time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := uuid.NewString()
	id := scope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/" + name
	now := f.now()
	f.requests[name] = &armauthorization.RoleAssignmentScheduleRequest{ID: &id, Name: &name, Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID: &principal, RoleDefinitionID: ptr(roleDefinitionID(strings.Split(strings.Trim(scope, "/"), "/")[1], role)),
		RequestType: ptr(armauthorization.RequestTypeAdminAssign), Scope: &scope, Justification: ptr("jit request lookalike [x@1] by hand"),
		Status: ptr(armauthorization.StatusProvisioned),
	}}
	f.schedules = append(f.schedules, &armauthorization.RoleAssignmentSchedule{
		ID: ptr(scope + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + uuid.NewString()),
		Properties: &armauthorization.RoleAssignmentScheduleProperties{
			PrincipalID: &principal, RoleDefinitionID: ptr(roleDefinitionID(strings.Split(strings.Trim(scope, "/"), "/")[1], role)),
			Scope: &scope, StartDateTime: &now, EndDateTime: &end, Status: ptr(armauthorization.StatusProvisioned),
			RoleAssignmentScheduleRequestID: &id,
		},
	})
}

// addEligibility makes principal eligible for role at scope until end.
func (f *fakeARM) addEligibility(scope, principal, role string, end time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := f.now().Add(-time.Hour)
	f.eligibility = append(f.eligibility, &armauthorization.RoleEligibilitySchedule{
		ID: ptr(scope + "/providers/Microsoft.Authorization/roleEligibilitySchedules/" + uuid.NewString()),
		Properties: &armauthorization.RoleEligibilityScheduleProperties{
			PrincipalID: &principal, RoleDefinitionID: ptr(roleDefinitionID(strings.Split(strings.Trim(scope, "/"), "/")[1], role)),
			Scope: &scope, StartDateTime: &start, EndDateTime: &end, Status: ptr(armauthorization.StatusProvisioned),
		},
	})
}

func (f *fakeARM) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}
