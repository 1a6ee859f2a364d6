package web

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/workflow"
)

// stream is an open /events connection.
type stream struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

func (b *browser) events() *stream { return b.eventsSince("") }

// eventsSince opens the stream as a page with the change mark since does.
func (b *browser) eventsSince(since string) *stream {
	b.e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.e.srv.URL+"/events?since="+url.QueryEscape(since), nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.e.t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	s := &stream{t: b.e.t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	b.e.t.Cleanup(s.close)
	// The stream is subscribed once its first comment arrives.
	if ev, _ := s.next(); ev != "" {
		b.e.t.Fatalf("first message is event %q", ev)
	}
	return s
}

func (s *stream) close() { s.cancel(); s.resp.Body.Close() }

// next reads one message: its event name ("" for a comment) and data.
func (s *stream) next() (event, data string) {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			return event, data
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// nextEvent skips comments.
func (s *stream) nextEvent() (string, string) {
	s.t.Helper()
	for {
		if ev, data := s.next(); ev != "" {
			return ev, data
		}
	}
}

// An approval made elsewhere (here: through the service, as the CLI or
// another replica would) reaches the requester's page as an event naming
// the request; people who may not see the request are not told of it.
func TestEventsDeliverChanges(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "demo-app", "INC-1")
	alice := e.signIn("alice@example.com").events()
	dave := e.signIn("dave@example.com").events()

	if _, err := e.svc.Approve(e.as("bob@example.com"), r.ID, "ok"); err != nil {
		t.Fatal(err)
	}
	if ev, data := alice.nextEvent(); ev != "change" || data != r.ID {
		t.Errorf("alice got %s %q, want change %s", ev, data, r.ID)
	}
	// Dave's own request is the first change he hears of: the approval
	// of alice's was not sent to him.
	own, err := e.svc.Submit(e.as("dave@example.com"), workflow.SubmitInput{Resource: "sales-app", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if ev, data := dave.nextEvent(); ev != "change" || data != own.ID {
		t.Errorf("dave got %s %q, want change %s", ev, data, own.ID)
	}
	// The grant job's changes follow.
	e.runDue()
	if ev, data := alice.nextEvent(); ev != "change" || data != r.ID {
		t.Errorf("alice got %s %q after the grant", ev, data)
	}
}

// gatedService holds every Get until release is closed, and says when the
// first one arrives: the event stream is then busy with one change while
// more arrive.
type gatedService struct {
	*workflow.Service
	entered chan struct{}
	release chan struct{}
}

func (g *gatedService) Get(ctx context.Context, id string) (*jit.Request, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.Service.Get(ctx, id)
}

func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	s := e.signIn("alice@example.com").events()
	if ev, _ := s.next(); ev != "" {
		t.Fatalf("expected a heartbeat comment, got event %s", ev)
	}
}

// A stream that falls behind drops changes and tells the page to reload
// everything.
func TestEventsLag(t *testing.T) {
	g := &gatedService{entered: make(chan struct{}, 1), release: make(chan struct{})}
	e := newEnv(t, func(c *Config) { g.Service = c.Service.(*workflow.Service); c.Service = g })
	r := e.submit("alice@example.com", "demo-app", "INC-1")
	s := e.signIn("alice@example.com").events()
	e.svc.NoteChange(jit.ChangeNotice{RequestID: r.ID})
	<-g.entered
	// More changes than a subscription buffers, while the stream waits.
	for range 200 {
		e.svc.NoteChange(jit.ChangeNotice{RequestID: r.ID})
	}
	close(g.release)
	if ev, data := s.nextEvent(); ev != "change" || data != r.ID {
		t.Fatalf("first: %s %q", ev, data)
	}
	if ev, _ := s.nextEvent(); ev != "reload" {
		t.Errorf("after the overflow: %s, want reload", ev)
	}
}

func TestEventsEndWithSessionAndShutdown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	b := e.signIn("alice@example.com")
	s := b.events()
	e.clock.Advance(DefaultSessionTTL)
	if ev, _ := s.nextEvent(); ev != "signed-out" {
		t.Errorf("after expiry: %s", ev)
	}
	if _, err := s.r.ReadString('\n'); err == nil {
		t.Error("stream goes on after the session ended")
	}

	b = e.signIn("alice@example.com")
	s = b.events()
	e.web.Shutdown()
	for {
		if _, err := s.r.ReadString('\n'); err != nil {
			break // the stream ended
		}
	}
}

var sinceAttr = regexp.MustCompile(`data-since="([^"]*)"`)

// A change made after a page was built but before its stream opened is
// not lost: the stream starts with a reload. A page built after the last
// change gets none.
func TestEventsReloadWhatThePageMissed(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "demo-app", "INC-1")
	alice := e.signIn("alice@example.com")
	m := sinceAttr.FindStringSubmatch(alice.get("/").body)
	if m == nil || m[1] == "" {
		t.Fatal("the access page carries no change mark")
	}
	if _, err := e.svc.Approve(e.as("bob@example.com"), r.ID, "ok"); err != nil {
		t.Fatal(err)
	}
	if ev, data := alice.eventsSince(m[1]).nextEvent(); ev != "reload" || data != "missed" {
		t.Errorf("stream after a missed change: %s %q, want reload missed", ev, data)
	}
	fresh := sinceAttr.FindStringSubmatch(alice.get("/").body)[1]
	st := alice.eventsSince(fresh)
	if _, err := e.svc.Cancel(e.as("alice@example.com"), r.ID); err != nil {
		t.Fatal(err)
	}
	if ev, data := st.nextEvent(); ev != "change" || data != r.ID {
		t.Errorf("stream of an up-to-date page: %s %q, want the change only", ev, data)
	}
	if ev, _ := e.signIn("alice@example.com").eventsSince("elsewhere.7").nextEvent(); ev != "reload" {
		t.Errorf("a mark of another replica: %s, want reload", ev)
	}
}
