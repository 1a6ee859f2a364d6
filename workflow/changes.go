package workflow

import "sync"

// changeHub fans out the IDs of changed requests to live views (the web
// app's server-sent events). A subscriber that does not keep up misses
// IDs rather than slowing the writer down: its channel is buffered, a full
// channel drops, and the subscriber is told through Lagged so that it can
// reload everything.
type changeHub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
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
	c := make(chan string, buffer)
	s := &Subscription{C: c, c: c, hub: h}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *changeHub) publish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
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
