package workflow

import (
	"sync"

	"github.com/jitaccess/jit"
)

// waiters lets long-polling callers sleep until a request changes. A
// caller holds an entry for its request ID for as long as it waits; each
// change of the request bumps the entry's generation, records the request
// as the change stored it (when the notifier knew it) and closes the
// entry's channel, replacing it with a fresh one. Because the entry lives
// while anyone holds it, a change that lands while its caller is busy
// (answering the previous change) is not lost: the caller sees the new
// generation before it waits again. The last caller to let go removes the
// entry, so a request that never changes again leaves nothing behind.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch  chan struct{}
	n   int
	gen uint64
	// latest is the request as the latest change stored it, or nil when
	// that change's notifier did not know it.
	latest *jit.Request
}

func newWaiters() *waiters { return &waiters{m: map[string]*waitEntry{}} }

// waitHandle is one caller's hold on a request's entry.
type waitHandle struct {
	w  *waiters
	id string
	e  *waitEntry
}

// hold registers a caller waiting on id. The caller must release it.
func (w *waiters) hold(id string) *waitHandle {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[id]
	if !ok {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[id] = e
	}
	e.n++
	return &waitHandle{w: w, id: id, e: e}
}

// state returns the channel the next change closes, the generation (the
// number of changes seen so far) and the request as the latest change
// stored it (nil when unknown). The request must not be modified.
func (h *waitHandle) state() (<-chan struct{}, uint64, *jit.Request) {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	return h.e.ch, h.e.gen, h.e.latest
}

// release lets go of the entry.
func (h *waitHandle) release() {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.e.n--
	if h.e.n == 0 && h.w.m[h.id] == h.e {
		delete(h.w.m, h.id)
	}
}

// notify wakes the callers waiting on id. latest, if not nil, is the
// request as the change stored it (with its stored Version); nobody may
// modify it afterwards.
func (w *waiters) notify(id string, latest *jit.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[id]
	if !ok {
		return
	}
	e.gen++
	e.latest = latest
	close(e.ch)
	e.ch = make(chan struct{})
}

// len is the number of request IDs being waited on (for tests).
func (w *waiters) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}
