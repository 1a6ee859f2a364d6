package jithttp

import (
	"sync"
	"time"

	"github.com/jitaccess/jit"
)

// TokenCache remembers API tokens found in the store for a short while, so
// that a client making many calls is looked up once per TTL rather than on
// every call (a lookup is a database round trip on PostgreSQL). Only
// tokens that exist are remembered: an unknown token is looked up every
// time. Tokens cannot be deleted today; when they can, a deleted token
// stays usable for at most TTL on each replica, so keep TTL short.
type TokenCache struct {
	ttl   time.Duration
	clock jit.Clock
	max   int

	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	t       jit.Token
	expires time.Time
}

// NewTokenCache returns a cache keeping tokens for ttl (on clock), at most
// max of them (when full, it starts afresh: a burst of distinct tokens
// costs lookups, never memory).
func NewTokenCache(ttl time.Duration, max int, clock jit.Clock) *TokenCache {
	if clock == nil {
		clock = jit.SystemClock{}
	}
	return &TokenCache{ttl: ttl, clock: clock, max: max, m: map[string]cachedToken{}}
}

// get returns the token stored under hash, if it is remembered and fresh.
func (c *TokenCache) get(hash string) (*jit.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok {
		return nil, false
	}
	if !c.clock.Now().Before(e.expires) {
		delete(c.m, hash)
		return nil, false
	}
	t := e.t
	return &t, true
}

// put remembers t under hash.
func (c *TokenCache) put(hash string, t *jit.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[hash] = cachedToken{t: *t, expires: c.clock.Now().Add(c.ttl)}
}
