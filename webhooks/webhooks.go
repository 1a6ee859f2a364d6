// Package webhooks is a jit.Notifier that POSTs every change of a request
// as a signed JSON event (schema jit.event/v1) to configured URLs, for
// SIEMs and custom automation. The event document, the headers, the
// signature and what a receiver must check are documented in
// docs/events.md; Verify is the reference check for receivers written in
// Go.
//
// One Notifier covers every endpoint, but a daemon should register the
// per-endpoint notifiers of Sinks instead: each then has its own durable
// job, so a failing endpoint is retried without resending to the ones that
// already accepted the event.
//
// This package is not the webhook provider (provider/webhook), which calls
// a URL to create and remove access; the two share only the signature
// scheme.
package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit"
)

// Name is the name of the Notifier covering every endpoint; a sink of one
// endpoint is named Name + ":" + the endpoint's name.
const Name = "webhook"

// Defaults and limits.
const (
	// DefaultTimeout bounds one delivery to one endpoint, connecting
	// included.
	DefaultTimeout = 10 * time.Second
	// MinSecretLen is the shortest accepted secret: 32 bytes is the
	// strength of the HMAC-SHA256 key it feeds.
	MinSecretLen = 32
	// UserAgent identifies the sender to receivers.
	UserAgent = "jit-webhooks/1"
	// maxResponse is the most of an answer that is read: answers are not
	// used beyond their status, and a receiver gone wrong must not
	// exhaust jitd's memory or hold the delivery open.
	maxResponse = 64 << 10
	// maxErrorBody is how much of a refused answer's body an error shows.
	maxErrorBody = 256
)

// Header names of a delivery.
const (
	HeaderEventID   = "X-Jit-Event-Id"
	HeaderEventType = "X-Jit-Event-Type"
	HeaderTimestamp = "X-Jit-Timestamp"
	HeaderSignature = "X-Jit-Signature"
)

// Config configures the notifier.
type Config struct {
	// Endpoints receive the events; at least one is required.
	Endpoints []Endpoint
	// Clock stamps X-Jit-Timestamp (default jit.SystemClock).
	Clock jit.Clock
	// HTTPClient sends the deliveries (default: a client with its own
	// copy of http.DefaultTransport). It is copied, and the copy never
	// follows redirects: a redirect would send the signed event to a URL
	// nobody configured. Its Timeout, if set, applies as well as Timeout.
	HTTPClient *http.Client
	// Timeout bounds one delivery to one endpoint (default DefaultTimeout).
	Timeout time.Duration
}

// Endpoint is one receiver.
type Endpoint struct {
	// Name identifies the endpoint in sink names, job keys, metrics and
	// errors: 1 to 64 letters, digits, '.', '_' or '-', starting with a
	// letter or digit, unique within the Config.
	Name string
	// URL is https, or http to a loopback address only (localhost,
	// 127.0.0.0/8, ::1), so that events never cross a network in clear.
	// It must not contain credentials; its query is never shown in
	// errors, in case it carries a token.
	URL string
	// Secret keys the HMAC signature, at least MinSecretLen bytes. The
	// caller reads it from a file or the environment; it never appears in
	// errors or in the notifier's formatted form.
	Secret []byte
	// Actions selects what is sent: jit actions ("grant", "remind") or
	// event types ("access.granted", "request.changed"), mixed freely.
	// Empty sends everything.
	Actions []string
}

// String describes the endpoint without its secret, so that logging a
// Config never leaks one.
func (e Endpoint) String() string {
	return fmt.Sprintf("webhooks.Endpoint{Name: %q, URL: %q, Secret: [redacted], Actions: %q}", e.Name, shownURL(e.URL), e.Actions)
}

// GoString is String, for %#v.
func (e Endpoint) GoString() string { return e.String() }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks the configuration without contacting any endpoint. The
// error lists every problem, naming the endpoint and field, and never
// contains a secret.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("webhooks: no endpoints configured"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("webhooks: timeout %s is negative", c.Timeout))
	}
	seen := map[string]bool{}
	for i, e := range c.Endpoints {
		where := fmt.Sprintf("webhooks: endpoint %d", i)
		if nameRE.MatchString(e.Name) {
			where = fmt.Sprintf("webhooks: endpoint %q", e.Name)
			if seen[e.Name] {
				errs = append(errs, fmt.Errorf("%s: name is used twice", where))
			}
			seen[e.Name] = true
		} else {
			errs = append(errs, fmt.Errorf("%s: name %q must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", where, truncate(e.Name, 80)))
		}
		if _, err := parseURL(e.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s: url: %w", where, err))
		}
		if len(e.Secret) < MinSecretLen {
			errs = append(errs, fmt.Errorf("%s: secret is %d bytes, need at least %d (e.g. openssl rand -hex 32)", where, len(e.Secret), MinSecretLen))
		}
		for _, a := range e.Actions {
			if !knownFilter(a) {
				errs = append(errs, fmt.Errorf("%s: actions: %q is neither a jit action nor an event type (see docs/events.md)", where, truncate(a, 80)))
			}
		}
	}
	return errors.Join(errs...)
}

// knownFilter reports whether a is an action or an event type that some
// notification can carry.
func knownFilter(a string) bool {
	if a == TypeChanged {
		return true
	}
	if _, ok := eventTypes[a]; ok {
		return true
	}
	for _, t := range eventTypes {
		if t == a {
			return true
		}
	}
	return false
}

// parseURL checks an endpoint URL; its errors show the URL without its
// query.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("scheme must be https (or http to loopback), got %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not contain credentials; receivers authenticate jit by the signature")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("http is allowed only to a loopback address, not %q; use https", u.Hostname())
	}
	return u, nil
}

// isLoopback reports whether host certainly names this machine. Other
// names are refused for http even if they resolve to a loopback address
// today: what they resolve to can change.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// shownURL is raw without its query and credentials, for messages.
func shownURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "...", false
	}
	return u.String()
}

// Notifier delivers notifications to every configured endpoint. It is
// safe for concurrent use.
type Notifier struct {
	endpoints []*endpoint
}

// endpoint is one configured receiver, ready to send.
type endpoint struct {
	name     string
	url      string
	shownURL string
	secret   []byte
	actions  map[string]bool
	client   *http.Client
	clock    jit.Clock
	timeout  time.Duration
}

var (
	_ jit.Notifier = (*Notifier)(nil)
	_ jit.Notifier = sink{}
)

// New validates cfg and returns the notifier. It copies what it keeps
// (secrets included), so later changes to cfg have no effect, and it never
// contacts an endpoint.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	clock := cfg.Clock
	if clock == nil {
		clock = jit.SystemClock{}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	var client http.Client
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	} else {
		client.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	n := &Notifier{}
	for _, e := range cfg.Endpoints {
		u, _ := parseURL(e.URL) // checked by Validate
		ep := &endpoint{
			name:     e.Name,
			url:      u.String(),
			shownURL: shownURL(e.URL),
			secret:   bytes.Clone(e.Secret),
			client:   &client,
			clock:    clock,
			timeout:  timeout,
		}
		if len(e.Actions) > 0 {
			ep.actions = map[string]bool{}
			for _, a := range e.Actions {
				ep.actions[a] = true
			}
		}
		n.endpoints = append(n.endpoints, ep)
	}
	return n, nil
}

// Name is "webhook".
func (n *Notifier) Name() string { return Name }

// Notify delivers the event of note to every endpoint whose Actions select
// it, concurrently, and waits for all of them. It returns nil when every
// selected endpoint accepted it (or none selected it).
//
// Errors: a jit.PermanentError only when every failed endpoint refused the
// event for good (see the status table in docs/events.md); otherwise a
// plain error naming each failed endpoint, after which a retry resends to
// every selected endpoint, those that accepted included. Receivers drop
// those duplicates by the event id, but to avoid them register Sinks
// instead. Idempotent on note.ID: every attempt sends the same body.
func (n *Notifier) Notify(ctx context.Context, note jit.Notification) error {
	body, err := prepare(note)
	if err != nil {
		return err
	}
	errs := make([]error, len(n.endpoints))
	var wg sync.WaitGroup
	for i, ep := range n.endpoints {
		if !ep.wants(note.Action) {
			continue
		}
		wg.Go(func() { errs[i] = ep.deliver(ctx, note, body) })
	}
	wg.Wait()
	return combine(errs)
}

// combine merges the errors of several endpoints. The result is permanent
// only if every failure is: a PermanentError left inside a joined error
// would let errors.As find it and drop the retry the others need.
func combine(errs []error) error {
	var failed []error
	permanent := true
	for _, err := range errs {
		if err == nil {
			continue
		}
		var p *jit.PermanentError
		if errors.As(err, &p) {
			err = p.Err
		} else {
			permanent = false
		}
		failed = append(failed, err)
	}
	switch {
	case len(failed) == 0:
		return nil
	case permanent:
		return jit.Permanent(errors.Join(failed...))
	default:
		return errors.Join(failed...)
	}
}

// Sinks returns one notifier per endpoint, in configuration order, named
// "webhook:<endpoint name>". A daemon registers these (not the Notifier
// itself, whose name is a prefix of theirs) so that each endpoint gets its
// own durable delivery job and retry.
func (n *Notifier) Sinks() []jit.Notifier {
	out := make([]jit.Notifier, len(n.endpoints))
	for i, ep := range n.endpoints {
		out[i] = sink{ep}
	}
	return out
}

// sink is the notifier of one endpoint.
type sink struct{ ep *endpoint }

// Name is "webhook:<endpoint name>".
func (s sink) Name() string { return Name + ":" + s.ep.name }

// Notify delivers the event of note to this endpoint if its Actions
// select it (nil otherwise). Errors: jit.PermanentError when the endpoint
// refused the event for good or the notification cannot be encoded; a
// plain error when a retry may succeed (timeout, network, 408, 429, 5xx).
// Idempotent on note.ID: every attempt sends the same body, and receivers
// drop duplicates by the event id.
func (s sink) Notify(ctx context.Context, note jit.Notification) error {
	if !s.ep.wants(note.Action) {
		return nil
	}
	body, err := prepare(note)
	if err != nil {
		return err
	}
	return s.ep.deliver(ctx, note, body)
}

// prepare checks note and returns its body. A notification that cannot be
// sent now cannot be sent later either, so its errors are permanent.
func prepare(note jit.Notification) ([]byte, error) {
	if note.ID == "" || !validHeaderValue(note.ID) {
		return nil, jit.Permanent(fmt.Errorf("webhooks: notification of %s has no usable id", note.Request.ID))
	}
	body, err := encode(note)
	if err != nil {
		return nil, jit.Permanent(fmt.Errorf("webhooks: encode notification %s: %w", note.ID, err))
	}
	return body, nil
}

// validHeaderValue reports whether v can be sent as a header value as is.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// wants reports whether the endpoint's filter selects action.
func (ep *endpoint) wants(action string) bool {
	return ep.actions == nil || ep.actions[action] || ep.actions[EventType(action)]
}

// deliver POSTs body, the event of note, to the endpoint and classifies
// the outcome.
func (ep *endpoint) deliver(ctx context.Context, note jit.Notification, body []byte) error {
	what := fmt.Sprintf("webhook %s: event %s", ep.name, note.ID)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: not sent: %w", what, err)
	}
	// A fresh timestamp on every attempt: a retry hours later must still
	// fall within the receiver's replay window.
	ts := strconv.FormatInt(ep.clock.Now().Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return jit.Permanent(fmt.Errorf("%s: build request: %w", what, stripURL(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderEventID, note.ID)
	req.Header.Set(HeaderEventType, EventType(note.Action))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(ep.secret, ts, body))
	resp, err := ep.client.Do(req)
	if err != nil {
		err = stripURL(err)
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return fmt.Errorf("%s: POST %s: no answer within %s: %w", what, ep.shownURL, ep.timeout, err)
		}
		return fmt.Errorf("%s: POST %s: %w", what, ep.shownURL, err)
	}
	defer resp.Body.Close()
	// The answer is read (boundedly) so that the connection can be
	// reused, and for the error message.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return classify(what, ep.shownURL, resp.StatusCode, resp.Status, data)
}

// classify turns an answer's status into the delivery's outcome.
func classify(what, shown string, code int, status string, body []byte) error {
	switch {
	case code >= 200 && code <= 299:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		// The receiver is slow, overloaded or broken: later may work.
		return fmt.Errorf("%s: %s answered %s: %s", what, shown, status, snippet(body))
	case code >= 300 && code <= 499:
		// The receiver refuses this event (400, 401, 410 Gone...) or
		// sends it elsewhere, which is never followed; resending the
		// same bytes to the same URL gets the same answer.
		return jit.Permanent(fmt.Errorf("%s: %s refused it with %s: %s", what, shown, status, snippet(body)))
	default:
		return fmt.Errorf("%s: %s answered the unexpected status %s", what, shown, status)
	}
}

// snippet shows the start of an answer's body, quoted so that control
// characters cannot forge log lines.
func snippet(b []byte) string {
	if len(b) > maxErrorBody {
		return fmt.Sprintf("%q (truncated)", b[:maxErrorBody])
	}
	return fmt.Sprintf("%q", b)
}

// stripURL removes *url.Error's wrapping, whose text repeats the full URL,
// query included; messages name the shown URL instead.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
