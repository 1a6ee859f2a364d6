package pagerduty

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// now is the fake clock's start; shifts are placed around it.
var now = time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)

func newClient(t *testing.T, f *fakePD, mod ...func(*Config)) (*Client, *testClock) {
	t.Helper()
	clock := &testClock{t: now}
	cfg := Config{
		Token:      testToken,
		BaseURL:    f.srv.URL,
		HTTPClient: f.srv.Client(),
		Clock:      clock,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clock
}

// Shifts of a small organisation: alice is on call in schedule PSCHED1
// (escalation policy PEP0001, level 1) until 18:00, bob is on call in
// PSCHED2 (PEP0002) until tomorrow, carol takes over PSCHED1 at 18:00, and
// dave is named directly (no schedule) in PEP0003 for good.
func orgShifts() []shift {
	return []shift{
		{userID: "PUALICE", name: "Alice", email: "Alice@Example.com", schedule: "PSCHED1", policy: "PEP0001", level: 1,
			start: now.Add(-6 * time.Hour), end: now.Add(3*time.Hour + 30*time.Minute)},
		{userID: "PUCAROL", name: "Carol", email: "carol@example.com", schedule: "PSCHED1", policy: "PEP0001", level: 1,
			start: now.Add(3*time.Hour + 30*time.Minute), end: now.Add(27 * time.Hour)},
		{userID: "PUBOB00", name: "Bob", email: "bob@example.com", schedule: "PSCHED2", policy: "PEP0002", level: 1,
			start: now.Add(-time.Hour), end: now.Add(24 * time.Hour)},
		{userID: "PUDAVE0", name: "Dave", email: "dave@example.com", policy: "PEP0003", level: 2},
	}
}

func TestOnCallRequestShape(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	c, _ := newClient(t, f)

	got, err := c.OnCall(context.Background(), "alice@example.com", []string{"PSCHED2", "PSCHED1", "PSCHED1"}, nil)
	if err != nil {
		t.Fatalf("OnCall: %v", err)
	}
	want := OnCallResult{OnCall: true, Via: "schedule:PSCHED1", Until: now.Add(3*time.Hour + 30*time.Minute)}
	if got.OnCall != want.OnCall || got.Via != want.Via || !got.Until.Equal(want.Until) {
		t.Fatalf("OnCall = %+v, want %+v", got, want)
	}

	q := f.lastQuery()
	if ids := q["schedule_ids[]"]; strings.Join(ids, ",") != "PSCHED1,PSCHED2" {
		t.Errorf("schedule_ids[] = %q, want the two IDs once each", ids)
	}
	if _, ok := q["escalation_policy_ids[]"]; ok {
		t.Errorf("escalation_policy_ids[] sent for a schedule-only lookup: %v", q)
	}
	if got := q["include[]"]; len(got) != 1 || got[0] != "users" {
		t.Errorf("include[] = %q, want [users]", got)
	}
	if q.Get("earliest") != "true" {
		t.Errorf("earliest = %q, want true", q.Get("earliest"))
	}
	if q.Get("limit") != "100" {
		t.Errorf("limit = %q, want 100", q.Get("limit"))
	}
	since, err := time.Parse(time.RFC3339, q.Get("since"))
	if err != nil {
		t.Fatalf("since: %v", err)
	}
	until, err := time.Parse(time.RFC3339, q.Get("until"))
	if err != nil {
		t.Fatalf("until: %v", err)
	}
	if since.After(now) || until.Before(now.Add(DefaultCacheTTL)) {
		t.Errorf("window [%s, %s] does not cover now (%s) and the cache TTL after it", since, until, now)
	}
}

func TestOnCallMatching(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	c, _ := newClient(t, f)
	ctx := context.Background()

	tests := []struct {
		name      string
		email     string
		schedules []string
		policies  []string
		want      OnCallResult
	}{
		{"on call in schedule", "bob@example.com", []string{"PSCHED2"}, nil,
			OnCallResult{OnCall: true, Via: "schedule:PSCHED2", Until: now.Add(24 * time.Hour)}},
		{"email case and spaces ignored", "  ALICE@example.COM ", []string{"PSCHED1"}, nil,
			OnCallResult{OnCall: true, Via: "schedule:PSCHED1", Until: now.Add(3*time.Hour + 30*time.Minute)}},
		{"on call in another schedule", "bob@example.com", []string{"PSCHED1"}, nil, OnCallResult{}},
		{"later shift is not now", "carol@example.com", []string{"PSCHED1"}, nil, OnCallResult{}},
		{"not in PagerDuty", "mallory@example.com", []string{"PSCHED1", "PSCHED2"}, []string{"PEP0001", "PEP0003"}, OnCallResult{}},
		{"on call in escalation policy", "alice@example.com", nil, []string{"PEP0001"},
			OnCallResult{OnCall: true, Via: "escalation_policy:PEP0001", Until: now.Add(3*time.Hour + 30*time.Minute)}},
		{"permanent on-call has no end", "dave@example.com", nil, []string{"PEP0003"},
			OnCallResult{OnCall: true, Via: "escalation_policy:PEP0003"}},
		{"escalation policy when the schedule does not match", "dave@example.com", []string{"PSCHED1"}, []string{"PEP0003"},
			OnCallResult{OnCall: true, Via: "escalation_policy:PEP0003"}},
		{"schedule before escalation policy", "bob@example.com", []string{"PSCHED2"}, []string{"PEP0002"},
			OnCallResult{OnCall: true, Via: "schedule:PSCHED2", Until: now.Add(24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.OnCall(ctx, tt.email, tt.schedules, tt.policies)
			if err != nil {
				t.Fatalf("OnCall: %v", err)
			}
			if got.OnCall != tt.want.OnCall || got.Via != tt.want.Via || !got.Until.Equal(tt.want.Until) {
				t.Fatalf("OnCall = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A lookup with both schedules and escalation policies must not send both
// filters in one query: PagerDuty would list only on-calls matching both.
func TestOnCallMixedQueriesAreSeparate(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	c, _ := newClient(t, f)
	got, err := c.OnCall(context.Background(), "dave@example.com", []string{"PSCHED1"}, []string{"PEP0003"})
	if err != nil || !got.OnCall {
		t.Fatalf("OnCall = %+v, %v; want on call", got, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 2 {
		t.Fatalf("%d requests, want 2 (one per kind)", len(f.requests))
	}
	for _, q := range f.requests {
		_, s := q["schedule_ids[]"]
		_, p := q["escalation_policy_ids[]"]
		if s == p {
			t.Errorf("query %v has both or neither filter", q)
		}
	}
}

func TestOnCallPagination(t *testing.T) {
	var shifts []shift
	for i := range 230 {
		shifts = append(shifts, shift{
			userID: fmt.Sprintf("PU%05d", i), name: fmt.Sprintf("User %d", i), email: fmt.Sprintf("user%d@example.com", i),
			schedule: "PBIG001", policy: "PEP0001", level: 1 + i%3,
			start: now.Add(-time.Hour), end: now.Add(time.Duration(i+1) * time.Minute),
		})
	}
	f := newFakePD(t, shifts...)
	f.pageSize = 25 // smaller than asked for: the client must follow what it got
	c, _ := newClient(t, f)

	got, err := c.OnCall(context.Background(), "user229@example.com", []string{"PBIG001"}, nil)
	if err != nil {
		t.Fatalf("OnCall: %v", err)
	}
	if !got.OnCall || !got.Until.Equal(now.Add(230*time.Minute)) {
		t.Fatalf("OnCall = %+v, want the last entry's shift", got)
	}
	if n := f.calls(); n != 10 {
		t.Fatalf("%d requests, want 10 pages of 25", n)
	}
	f.mu.Lock()
	for i, q := range f.requests {
		if want := fmt.Sprint(i * 25); i > 0 && q.Get("offset") != want {
			t.Errorf("page %d: offset %q, want %s", i, q.Get("offset"), want)
		}
	}
	f.mu.Unlock()

	// Every page's entries are in the cached list.
	for _, email := range []string{"user0@example.com", "user24@example.com", "user25@example.com", "user137@example.com"} {
		got, err := c.OnCall(context.Background(), email, []string{"PBIG001"}, nil)
		if err != nil || !got.OnCall {
			t.Errorf("OnCall(%s) = %+v, %v; want on call", email, got, err)
		}
	}
	if n := f.calls(); n != 10 {
		t.Fatalf("%d requests after cached lookups, want still 10", n)
	}
}

func TestOnCallCache(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	c, clock := newClient(t, f, func(cfg *Config) { cfg.CacheTTL = 30 * time.Second })
	ctx := context.Background()

	for _, email := range []string{"alice@example.com", "bob@example.com", "carol@example.com", "x@example.com"} {
		if _, err := c.OnCall(ctx, email, []string{"PSCHED2", "PSCHED1"}, nil); err != nil {
			t.Fatalf("OnCall(%s): %v", email, err)
		}
	}
	// The same set in another order shares the list.
	if _, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED1", "PSCHED2"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := f.calls(); n != 1 {
		t.Fatalf("%d requests for lookups within the TTL, want 1", n)
	}

	// A different set is a different list.
	if _, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED2"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := f.calls(); n != 2 {
		t.Fatalf("%d requests, want 2 after a lookup for another set", n)
	}

	// Within the TTL a change in PagerDuty is not seen; after it, it is.
	f.setShifts()
	clock.Advance(29 * time.Second)
	if got, err := c.OnCall(ctx, "alice@example.com", []string{"PSCHED1", "PSCHED2"}, nil); err != nil || !got.OnCall {
		t.Fatalf("OnCall within the TTL = %+v, %v; want the cached answer", got, err)
	}
	clock.Advance(time.Second)
	got, err := c.OnCall(ctx, "alice@example.com", []string{"PSCHED1", "PSCHED2"}, nil)
	if err != nil || got.OnCall {
		t.Fatalf("OnCall after the TTL = %+v, %v; want a fresh list without alice", got, err)
	}
	if n := f.calls(); n != 3 {
		t.Fatalf("%d requests, want 3 after the TTL", n)
	}
}

// The cached list is judged against the clock at each lookup: a shift that
// ends while the list is cached stops counting, and one that starts within
// the TTL starts counting, without another request.
func TestOnCallCachedListFollowsTheClock(t *testing.T) {
	f := newFakePD(t,
		shift{userID: "PUERIN0", email: "erin@example.com", schedule: "PSCHED1", policy: "PEP0001",
			start: now.Add(-time.Hour), end: now.Add(20 * time.Second)},
		shift{userID: "PUFRANK", email: "frank@example.com", schedule: "PSCHED1", policy: "PEP0001",
			start: now.Add(20 * time.Second), end: now.Add(time.Hour)},
	)
	c, clock := newClient(t, f)
	ctx := context.Background()
	check := func(email string, want bool) {
		t.Helper()
		got, err := c.OnCall(ctx, email, []string{"PSCHED1"}, nil)
		if err != nil || got.OnCall != want {
			t.Fatalf("OnCall(%s) at %s = %+v, %v; want on call %v", email, clock.Now().Sub(now), got, err, want)
		}
	}
	check("erin@example.com", true)
	check("frank@example.com", false)
	clock.Advance(20 * time.Second)
	check("erin@example.com", false)
	check("frank@example.com", true)
	if n := f.calls(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// A burst of concurrent lookups on a cold cache costs one request.
func TestOnCallBurstSharesOneFetch(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	release := make(chan struct{})
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		<-release
		return false
	})
	c, _ := newClient(t, f)

	const n = 40
	var wg sync.WaitGroup
	results := make([]OnCallResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "bob@example.com"
			if i%2 == 1 {
				email = "alice@example.com"
			}
			results[i], errs[i] = c.OnCall(context.Background(), email, []string{"PSCHED1", "PSCHED2"}, nil)
		}()
	}
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !results[i].OnCall {
			t.Fatalf("lookup %d = %+v, %v", i, results[i], errs[i])
		}
	}
	if got := f.calls(); got != 1 {
		t.Fatalf("%d requests for a burst of %d lookups, want 1", got, n)
	}
}

func TestOnCallAPIErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		token   string
		check   func(t *testing.T, err error)
	}{
		{name: "wrong token", token: "not-the-token", check: func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
				t.Fatalf("error %v, want a *StatusError with 401", err)
			}
			if strings.Contains(err.Error(), "not-the-token") {
				t.Fatalf("error %q contains the token", err)
			}
		}},
		{name: "forbidden", handler: func(w http.ResponseWriter) {
			pdError(w, http.StatusForbidden, 2010, "Access Denied")
		}, check: wantStatus(http.StatusForbidden)},
		{name: "server error", handler: func(w http.ResponseWriter) {
			pdError(w, http.StatusInternalServerError, 0, "Internal Server Error")
		}, check: wantStatus(http.StatusInternalServerError)},
		{name: "bad gateway without JSON", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>502</html>")
		}, check: wantStatus(http.StatusBadGateway)},
		{name: "malformed JSON", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"oncalls":[{"user":{"id":"PU1","email":"bob@example.com"}`)
		}, check: wantError},
		{name: "oncalls is not a list", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"oncalls":{"user":"bob"},"more":false}`)
		}, check: wantError},
		{name: "HTML instead of JSON", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>maintenance</html>")
		}, check: wantError},
		{name: "bad start time", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"oncalls":[{"user":{"id":"PUBOB00","email":"bob@example.com"},"schedule":{"id":"PSCHED2"},"escalation_policy":{"id":"PEP0002"},"start":"yesterday","end":null}],"more":false}`)
		}, check: wantError},
		{name: "entry without a user ID", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"oncalls":[{"user":{"email":"bob@example.com"},"schedule":{"id":"PSCHED2"},"escalation_policy":{"id":"PEP0002"},"start":null,"end":null}],"more":false}`)
		}, check: wantError},
		{name: "more with an empty page", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"oncalls":[],"limit":100,"offset":0,"more":true,"total":null}`)
		}, check: wantError},
		{name: "oversized response", handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"oncalls":[],"more":false,"padding":"`)
			fmt.Fprint(w, strings.Repeat("x", maxResponse))
			fmt.Fprint(w, `"}`)
		}, check: wantError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePD(t, orgShifts()...)
			if tt.handler != nil {
				f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
					tt.handler(w)
					return true
				})
			}
			c, _ := newClient(t, f, func(cfg *Config) {
				if tt.token != "" {
					cfg.Token = tt.token
				}
			})
			got, err := c.OnCall(context.Background(), "bob@example.com", []string{"PSCHED2"}, nil)
			if got != (OnCallResult{}) {
				t.Errorf("result %+v with an error, want the zero result", got)
			}
			tt.check(t, err)
			if strings.Contains(fmt.Sprint(err), testToken) {
				t.Fatalf("error %q contains the token", err)
			}

			// Errors are not cached: once PagerDuty answers properly,
			// the next lookup asks again and gets the answer.
			if tt.token != "" {
				return
			}
			f.setOverride(nil)
			before := f.calls()
			got, err = c.OnCall(context.Background(), "bob@example.com", []string{"PSCHED2"}, nil)
			if err != nil || !got.OnCall {
				t.Fatalf("OnCall after recovery = %+v, %v; want on call", got, err)
			}
			if f.calls() != before+1 {
				t.Fatalf("the lookup after an error did not ask PagerDuty again")
			}
		})
	}
}

func wantError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
}

func wantStatus(code int) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != code {
			t.Fatalf("error %v, want a *StatusError with %d", err, code)
		}
	}
}

func TestOnCallRateLimited(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Retry-After seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"Retry-After date", http.Header{"Retry-After": {now.Add(45 * time.Second).Format(http.TimeFormat)}}, 45 * time.Second},
		{"ratelimit-reset", http.Header{"Ratelimit-Reset": {"12"}, "Ratelimit-Limit": {"960"}, "Ratelimit-Remaining": {"0"}}, 12 * time.Second},
		{"no header", http.Header{}, defaultRateLimitWait},
		{"excessive wait is capped", http.Header{"Retry-After": {"86400"}}, maxRateLimitWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePD(t, orgShifts()...)
			f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				pdError(w, http.StatusTooManyRequests, 0, "Rate Limit Exceeded")
				return true
			})
			c, clock := newClient(t, f)
			ctx := context.Background()

			_, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED2"}, nil)
			var rl *RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != tt.want {
				t.Fatalf("error %v, want a *RateLimitError with RetryAfter %s", err, tt.want)
			}

			// Until the wait is over, lookups that need the API are
			// refused without a request (for any set of IDs: the limit
			// is per account).
			f.setOverride(nil)
			clock.Advance(tt.want - time.Second)
			_, err = c.OnCall(ctx, "bob@example.com", []string{"PSCHED1"}, nil)
			if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
				t.Fatalf("error during the wait %v, want a *RateLimitError with 1s left", err)
			}
			if n := f.calls(); n != 1 {
				t.Fatalf("%d requests during the wait, want only the first", n)
			}
			clock.Advance(time.Second)
			got, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED2"}, nil)
			if err != nil || !got.OnCall {
				t.Fatalf("OnCall after the wait = %+v, %v; want on call", got, err)
			}
		})
	}
}

// Lists already cached keep answering while the API is rate limited.
func TestOnCallRateLimitKeepsCache(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	c, _ := newClient(t, f)
	ctx := context.Background()
	if _, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED2"}, nil); err != nil {
		t.Fatal(err)
	}
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "60")
		pdError(w, http.StatusTooManyRequests, 0, "Rate Limit Exceeded")
		return true
	})
	if _, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED1"}, nil); err == nil {
		t.Fatal("no error for a rate-limited fetch")
	}
	got, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED2"}, nil)
	if err != nil || !got.OnCall {
		t.Fatalf("cached lookup while rate limited = %+v, %v; want on call", got, err)
	}
}

func TestOnCallTimeout(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return true
	})
	c, _ := newClient(t, f, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
	_, err := c.OnCall(context.Background(), "bob@example.com", []string{"PSCHED2"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
}

// A caller that gives up does not abort the fetch others may wait for: its
// result still fills the cache.
func TestOnCallCallerCancelled(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	arrived := make(chan struct{}, 1)
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		arrived <- struct{}{}
		<-release
		return false
	})
	c, _ := newClient(t, f, func(cfg *Config) { cfg.Timeout = time.Minute })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.OnCall(ctx, "bob@example.com", []string{"PSCHED2"}, nil)
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}

	f.setOverride(nil)
	once.Do(func() { close(release) })
	got, err := c.OnCall(context.Background(), "bob@example.com", []string{"PSCHED2"}, nil)
	if err != nil || !got.OnCall {
		t.Fatalf("OnCall = %+v, %v; want on call", got, err)
	}
	if n := f.calls(); n != 1 {
		t.Fatalf("%d requests, want 1: the second lookup waits for the first fetch", n)
	}
}

func TestOnCallUnknownEmail(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	// An answer without user emails (as without include[]=users) cannot
	// tell who is on call.
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		q.Del("include[]")
		r.URL.RawQuery = q.Encode()
		return false
	})
	c, _ := newClient(t, f)
	got, err := c.OnCall(context.Background(), "bob@example.com", []string{"PSCHED2"}, nil)
	if err == nil {
		t.Fatalf("OnCall = %+v with no emails in the answer, want an error", got)
	}
}

// Entries for IDs that were not asked for are not trusted.
func TestOnCallIgnoresEntriesNotAskedFor(t *testing.T) {
	f := newFakePD(t)
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"oncalls":[{"user":{"id":"PUBOB00","type":"user","email":"bob@example.com"},"schedule":{"id":"POTHER1"},"escalation_policy":{"id":"PEPOTHR"},"escalation_level":1,"start":null,"end":null}],"limit":100,"offset":0,"more":false,"total":null}`)
		return true
	})
	c, _ := newClient(t, f)
	got, err := c.OnCall(context.Background(), "bob@example.com", []string{"PSCHED2"}, []string{"PEP0002"})
	if err != nil || got.OnCall {
		t.Fatalf("OnCall = %+v, %v; want not on call", got, err)
	}
}

func TestOnCallArguments(t *testing.T) {
	f := newFakePD(t, orgShifts()...)
	c, _ := newClient(t, f)
	tests := []struct {
		name      string
		email     string
		schedules []string
		policies  []string
	}{
		{"no IDs", "bob@example.com", nil, nil},
		{"empty email", " ", []string{"PSCHED2"}, nil},
		{"not an email", "bob", []string{"PSCHED2"}, nil},
		{"empty schedule ID", "bob@example.com", []string{""}, nil},
		{"ID with punctuation", "bob@example.com", []string{"PSCHED2&x=1"}, nil},
		{"escalation policy ID with a slash", "bob@example.com", nil, []string{"../users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.OnCall(context.Background(), tt.email, tt.schedules, tt.policies); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if n := f.calls(); n != 0 {
		t.Fatalf("%d requests for invalid lookups, want 0", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Token: "abc"}, true},
		{"token with newline from a file", Config{Token: "abc\n"}, true},
		{"no token", Config{}, false},
		{"blank token", Config{Token: " \n"}, false},
		{"token with inner space", Config{Token: "ab c"}, false},
		{"EU region", Config{Token: "abc", BaseURL: "https://api.eu.pagerduty.com"}, true},
		{"http on loopback", Config{Token: "abc", BaseURL: "http://127.0.0.1:8080"}, true},
		{"http on localhost", Config{Token: "abc", BaseURL: "http://localhost:8080/"}, true},
		{"http elsewhere", Config{Token: "abc", BaseURL: "http://api.pagerduty.com"}, false},
		{"other scheme", Config{Token: "abc", BaseURL: "ftp://api.pagerduty.com"}, false},
		{"credentials in URL", Config{Token: "abc", BaseURL: "https://u:p@api.pagerduty.com"}, false},
		{"query in URL", Config{Token: "abc", BaseURL: "https://api.pagerduty.com/?x=1"}, false},
		{"negative TTL", Config{Token: "abc", CacheTTL: -time.Second}, false},
		{"TTL too long", Config{Token: "abc", CacheTTL: 2 * time.Hour}, false},
		{"negative timeout", Config{Token: "abc", Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if _, nerr := New(tt.cfg); (nerr == nil) != tt.ok {
				t.Fatalf("New() error %v, want ok %v", nerr, tt.ok)
			}
		})
	}
}

func TestConfigNeverShowsToken(t *testing.T) {
	cfg := Config{Token: testToken, BaseURL: "http://u:" + testToken + "@example.com"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "pagerduty", cfg)
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a base URL with credentials")
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"slog": logged.String(), "Validate": err.Error(),
	} {
		if strings.Contains(s, testToken) {
			t.Errorf("%s shows the token: %s", name, s)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"PABC123", "P1", "pabc123", "Q0RXYZ9ABCDEF1"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "PABC 123", "PABC-123", "P/1", strings.Repeat("P", maxIDLength+1), "PÄBC"} {
		if err := ValidateID(id); err == nil {
			t.Errorf("ValidateID(%q) accepted", id)
		}
	}
}
