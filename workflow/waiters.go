package workflow

import "sync"

// waiters lets long-polling callers sleep until a request changes. Each
// request ID someone waits on has a channel that is closed (and forgotten)
// on the request's next change, so a change wakes only the callers waiting
// on that request. Entries are counted so that the last caller to stop
// waiting removes an entry that no change closed (a request that never
// changes again must not leave one behind).
type waiters struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch chan struct{}
	n  int
}

func newWaiters() *waiters { return &waiters{m: map[string]*waitEntry{}} }

// subscribe returns a channel closed at id's next change, and a release
// function the caller must call when it stops waiting.
func (w *waiters) subscribe(id string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[id]
	if !ok {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[id] = e
	}
	e.n++
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		e.n--
		if e.n == 0 && w.m[id] == e {
			delete(w.m, id)
		}
	}
}

func (w *waiters) notify(id string) {
	w.mu.Lock()
	e, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		close(e.ch)
	}
}

// len is the number of request IDs being waited on (for tests).
func (w *waiters) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}
