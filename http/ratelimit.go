package jithttp

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds the number of identities tracked at once, so that the
// limiter's memory cannot grow without limit.
const maxLimiters = 10000

// limiters holds one token bucket per identity.
type limiters struct {
	limit rate.Limit
	burst int
	max   int
	// idle is how long an unused bucket takes to fill up again; after that
	// it is indistinguishable from a new one and can be dropped.
	idle time.Duration

	mu sync.Mutex
	m  map[string]*limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiters(perMinute, burst int) *limiters {
	limit := rate.Limit(float64(perMinute) / 60)
	return &limiters{
		limit: limit,
		burst: burst,
		max:   maxLimiters,
		idle:  time.Duration(float64(burst) / float64(limit) * float64(time.Second)),
		m:     make(map[string]*limiterEntry),
	}
}

// allow takes one token from key's bucket at now. When none is left it
// reports false and how long until one is.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.max {
			l.evict(now)
		}
		e = &limiterEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = e
	}
	e.last = now
	res := e.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Minute
	}
	if d := res.DelayFrom(now); d > 0 {
		// Refused writes must not use up future allowance.
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops buckets idle long enough to be full again; if none is, it
// drops the least recently used one. Called with mu held.
func (l *limiters) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, e := range l.m {
		if now.Sub(e.last) >= l.idle {
			delete(l.m, k)
			continue
		}
		if oldestKey == "" || e.last.Before(oldest) {
			oldestKey, oldest = k, e.last
		}
	}
	if len(l.m) >= l.max && oldestKey != "" {
		delete(l.m, oldestKey)
	}
}

func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
