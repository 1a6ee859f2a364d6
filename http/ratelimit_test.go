package jithttp

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	// 6 per minute: one token every 10 s, two at once.
	h := newHarness(t, func(c *Config) { c.WritesPerMinute, c.Burst = 6, 2 })
	post := func(user string) (int, string) {
		w := h.do("POST", "/api/v1/requests/req_1/cancel", "", "X-Test-User", user)
		return w.Code, w.Header().Get("Retry-After")
	}

	steps := []struct {
		advance   time.Duration
		user      string
		want      int
		wantRetry string
	}{
		{0, "alice@example.com", 200, ""},
		{0, "alice@example.com", 200, ""},
		{0, "alice@example.com", 429, "10"},
		{0, "alice@example.com", 429, "10"}, // refused writes do not push the window out
		{0, "bob@example.com", 200, ""},     // limits are per identity
		{4 * time.Second, "alice@example.com", 429, "6"},
		{5500 * time.Millisecond, "alice@example.com", 429, "1"}, // 0.5 s rounds up
		{500 * time.Millisecond, "alice@example.com", 200, ""},
		{0, "alice@example.com", 429, "10"},
	}
	for i, st := range steps {
		h.clock.Advance(st.advance)
		code, retry := post(st.user)
		if code != st.want || retry != st.wantRetry {
			t.Fatalf("step %d (%s): status %d Retry-After %q; want %d %q", i, st.user, code, retry, st.want, st.wantRetry)
		}
	}

	// The refusal is a problem document, and the service saw only the
	// allowed writes.
	w := h.do("POST", "/api/v1/requests/req_1/cancel", "")
	if p := decodeProblem(t, w); p.Code != "rate_limited" || p.Status != 429 {
		t.Errorf("problem = %+v", p)
	}
	if n := len(h.svc.Calls()); n != 4 {
		t.Errorf("service calls = %d, want 4", n)
	}

	// Reads and forward-auth checks are not limited.
	for i := 0; i < 5; i++ {
		if w := h.do("GET", "/api/v1/requests/req_1", ""); w.Code != 200 {
			t.Fatalf("read %d limited: %d", i, w.Code)
		}
		if w := h.do("POST", "/api/v1/authz?resource=demo-app", ""); w.Code == 429 {
			t.Fatalf("authz %d limited", i)
		}
	}
}

func TestRateLimitDisabled(t *testing.T) {
	for _, perMinute := range []int{0, -1} {
		h := newHarness(t, func(c *Config) { c.WritesPerMinute, c.Burst = perMinute, 1 })
		for i := 0; i < 20; i++ {
			if w := h.do("POST", "/api/v1/requests/req_1/cancel", ""); w.Code != 200 {
				t.Fatalf("per minute %d, write %d: %d", perMinute, i, w.Code)
			}
		}
	}
}

// The default burst is a minute's worth of writes.
func TestRateLimitDefaultBurst(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WritesPerMinute = 3 })
	codes := ""
	for i := 0; i < 4; i++ {
		codes += strconv.Itoa(h.do("POST", "/api/v1/requests/req_1/cancel", "").Code) + " "
	}
	if codes != "200 200 200 429 " {
		t.Errorf("codes = %s", codes)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := newLimiters(60, 2) // refills fully in 2 s
	l.max = 3
	now := t0
	for i := 0; i < 3; i++ {
		l.allow(fmt.Sprintf("user%d", i), now)
		now = now.Add(100 * time.Millisecond)
	}
	// Full, none idle: the least recently used goes.
	l.allow("user3", now)
	if n := l.len(); n != 3 {
		t.Fatalf("len = %d, want 3", n)
	}
	l.mu.Lock()
	_, kept0 := l.m["user0"]
	_, kept1 := l.m["user1"]
	l.mu.Unlock()
	if kept0 || !kept1 {
		t.Errorf("user0 kept = %v, user1 kept = %v; want the oldest evicted", kept0, kept1)
	}
	// Everyone idle past the refill time: all are dropped at once.
	now = now.Add(time.Minute)
	l.allow("user4", now)
	if n := l.len(); n != 1 {
		t.Errorf("len after idle sweep = %d, want 1", n)
	}
	// An evicted identity starts with a full bucket, as it would have had.
	if ok, _ := l.allow("user0", now); !ok {
		t.Error("evicted identity refused")
	}
}
