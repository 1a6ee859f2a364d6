package pagerduty

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

const testToken = "u+pd-test-TOKEN-0123456789"

// shift is one on-call entry the fake PagerDuty knows. An empty schedule
// is a user named directly in an escalation rule; zero start and end are
// PagerDuty's null (a permanent on-call).
type shift struct {
	userID, name, email string
	schedule, policy    string
	level               int
	start, end          time.Time
}

// fakePD answers GET /oncalls in the shape of PagerDuty's REST API
// reference (List all of the on-calls): the on-call objects with user,
// schedule and escalation_policy references, start and end as ISO 8601
// times or null, and classic pagination (limit, offset, more, total). It is
// written from the documentation, not from go-pagerduty's types, so that a
// disagreement between the two fails a test.
type fakePD struct {
	t   *testing.T
	srv *httptest.Server
	// pageSize caps the page size the server applies, like PagerDuty's own
	// maximum of 100 (0: use the client's limit).
	pageSize int

	mu       sync.Mutex
	shifts   []shift
	requests []url.Values
	// override, when set, answers instead of the normal handler; returning
	// false hands the request back to it.
	override func(w http.ResponseWriter, r *http.Request) bool
}

func newFakePD(t *testing.T, shifts ...shift) *fakePD {
	t.Helper()
	f := &fakePD{t: t, shifts: shifts}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePD) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakePD) lastQuery() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		f.t.Fatal("no request reached the fake PagerDuty")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakePD) setOverride(h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.override = h
}

func (f *fakePD) setShifts(s ...shift) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shifts = s
}

func pdError(w http.ResponseWriter, status int, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"message": message, "code": code},
	})
}

func (f *fakePD) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Query())
	override := f.override
	shifts := slices.Clone(f.shifts)
	f.mu.Unlock()

	// PagerDuty's REST API authenticates account and user API keys with
	// this exact scheme.
	if got := r.Header.Get("Authorization"); got != "Token token="+testToken {
		pdError(w, http.StatusUnauthorized, 2006, "Unauthorized")
		return
	}
	if override != nil && override(w, r) {
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/oncalls" {
		pdError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	q := r.URL.Query()
	parseTime := func(name string) (time.Time, bool) {
		v := q.Get(name)
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			pdError(w, http.StatusBadRequest, 2001, fmt.Sprintf("Invalid Input Provided: %s %q", name, v))
			return time.Time{}, false
		}
		return t, true
	}
	since, ok := parseTime("since")
	if !ok {
		return
	}
	until, ok := parseTime("until")
	if !ok {
		return
	}
	if until.Before(since) {
		pdError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: until is before since")
		return
	}
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if v := q.Get("offset"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	if f.pageSize > 0 && limit > f.pageSize {
		limit = f.pageSize
	}
	schedules, policies := q["schedule_ids[]"], q["escalation_policy_ids[]"]
	withUsers := slices.Contains(q["include[]"], "users")

	// Each filter narrows the list, as PagerDuty documents them.
	var matched []shift
	for _, s := range shifts {
		if len(schedules) > 0 && !slices.Contains(schedules, s.schedule) {
			continue
		}
		if len(policies) > 0 && !slices.Contains(policies, s.policy) {
			continue
		}
		// A shift is listed when it overlaps [since, until].
		if !s.end.IsZero() && !s.end.After(since) || !s.start.IsZero() && s.start.After(until) {
			continue
		}
		matched = append(matched, s)
	}
	page := []map[string]any{}
	for i := offset; i < len(matched) && i < offset+limit; i++ {
		page = append(page, wireOnCall(matched[i], withUsers))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"oncalls": page,
		"limit":   limit,
		"offset":  offset,
		"more":    offset+limit < len(matched),
		"total":   nil,
	})
}

func wireTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	// PagerDuty renders times in the account's or the requested time
	// zone, with an offset.
	return t.In(time.FixedZone("", -5*3600)).Format(time.RFC3339)
}

func wireOnCall(s shift, withUsers bool) map[string]any {
	user := map[string]any{
		"id": s.userID, "type": "user_reference", "summary": s.name,
		"self":     "https://api.pagerduty.com/users/" + s.userID,
		"html_url": "https://example.pagerduty.com/users/" + s.userID,
	}
	if withUsers {
		user["type"] = "user"
		user["name"] = s.name
		user["email"] = s.email
		user["time_zone"] = "America/New_York"
		user["role"] = "user"
	}
	var schedule any
	if s.schedule != "" {
		schedule = map[string]any{
			"id": s.schedule, "type": "schedule_reference", "summary": "Schedule " + s.schedule,
			"self": "https://api.pagerduty.com/schedules/" + s.schedule,
		}
	}
	return map[string]any{
		"user":     user,
		"schedule": schedule,
		"escalation_policy": map[string]any{
			"id": s.policy, "type": "escalation_policy_reference", "summary": "Policy " + s.policy,
			"self": "https://api.pagerduty.com/escalation_policies/" + s.policy,
		},
		"escalation_level": s.level,
		"start":            wireTime(s.start),
		"end":              wireTime(s.end),
	}
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
