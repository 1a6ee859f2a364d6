package workflow

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
)

// changeHub fans out the IDs of changed requests to live views (the web
// app's server-sent events). A subscriber that does not keep up misses
// IDs rather than slowing the writer down: its channel is buffered, a full
// channel drops, and the subscriber is told through Lagged so that it can
// reload everything.
//
// Every publish advances a counter; a mark (this process's instance and
// the counter) taken before a page reads what it shows lets the page's
// stream learn, when it opens, whether anything changed in between.
type changeHub struct {
	mu       sync.Mutex
	subs     map[*Subscription]struct{}
	instance string
	seq      uint64
}

// Subscription receives the IDs of requests that changed.
type Subscription struct {
	// C receives request IDs.
	C      <-chan string
	c      chan string
	hub    *changeHub
	mu     sync.Mutex
	lagged bool
}

// Lagged reports (and clears) whether IDs were dropped since the last
// call because C was full.
func (s *Subscription) Lagged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lagged
	s.lagged = false
	return l
}

// Close ends the subscription. C is not closed (a send could race with
// it); the subscriber simply stops reading.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

func (h *changeHub) subscribe(buffer int) *Subscription {
	s, _ := h.subscribeSince(buffer, "")
	return s
}

// markLocked is the current mark; h.mu is held.
func (h *changeHub) markLocked() string {
	if h.instance == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		h.instance = hex.EncodeToString(b[:])
	}
	return fmt.Sprintf("%s.%d", h.instance, h.seq)
}

func (h *changeHub) mark() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.markLocked()
}

// subscribeSince subscribes and reports, atomically with it, whether
// anything may have changed since mark: a change was published after it,
// or it is not this process's (another replica or an earlier run made
// it). An empty mark asks nothing.
func (h *changeHub) subscribeSince(buffer int, mark string) (*Subscription, bool) {
	c := make(chan string, buffer)
	s := &Subscription{C: c, c: c, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
	}
	h.subs[s] = struct{}{}
	return s, mark != "" && mark != h.markLocked()
}

func (h *changeHub) publish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	for s := range h.subs {
		select {
		case s.c <- id:
		default:
			s.mu.Lock()
			s.lagged = true
			s.mu.Unlock()
		}
	}
}

// SubscribeChanges returns a subscription to the IDs of requests that
// change, here or (through the store's change notices) on another
// replica. Callers must Close it. Who may see a request is not checked
// here: a subscriber re-reads what it shows through the service.
func (s *Service) SubscribeChanges() *Subscription { return s.changes.subscribe(64) }

// ChangeMark returns a mark of the changes published so far. A page takes
// it before reading what it shows and gives it to SubscribeChangesSince
// when its stream opens, so that a change in between is not lost.
func (s *Service) ChangeMark() string { return s.changes.mark() }

// SubscribeChangesSince is SubscribeChanges, also reporting whether
// anything may have changed since mark (see ChangeMark): then the
// subscriber should reload what it shows.
func (s *Service) SubscribeChangesSince(mark string) (*Subscription, bool) {
	return s.changes.subscribeSince(64, mark)
}
