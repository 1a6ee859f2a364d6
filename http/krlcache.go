package jithttp

import (
	"context"
	"sync"
	"time"
)

// krlTTL is how long a built revocation list is served again. The list is
// public and every host of a fleet fetches it every minute, each fetch
// scanning the store; within a second at most one fetch per resource
// builds it, whatever the number of hosts, and a revocation reaches the
// list at most this much later than it would otherwise.
const krlTTL = time.Second

// maxCachedKRLs bounds the cache (one entry per SSH resource; names that
// are not resources answer not_found and are not kept).
const maxCachedKRLs = 256

// krlCache keeps the last revocation list of each resource for krlTTL;
// concurrent fetches of one resource wait for one build.
type krlCache struct {
	mu      sync.Mutex
	entries map[string]*krlEntry
}

type krlEntry struct {
	mu    sync.Mutex // held while building
	built time.Time
	krl   []byte
}

func (c *krlCache) get(ctx context.Context, resource string, now time.Time, build func(context.Context, string) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*krlEntry{}
	}
	e, ok := c.entries[resource]
	if !ok {
		if len(c.entries) >= maxCachedKRLs {
			clear(c.entries)
		}
		e = &krlEntry{}
		c.entries[resource] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.krl != nil && now.Sub(e.built) < krlTTL && !now.Before(e.built) {
		return e.krl, nil
	}
	krl, err := build(ctx, resource)
	if err != nil {
		if e.krl == nil {
			// Names that are not SSH resources are not kept.
			c.mu.Lock()
			if c.entries[resource] == e {
				delete(c.entries, resource)
			}
			c.mu.Unlock()
		}
		return nil, err
	}
	e.krl, e.built = krl, now
	return krl, nil
}
