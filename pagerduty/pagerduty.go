// Package pagerduty answers one question for automatic approval: is this
// person on call right now in one of these PagerDuty schedules or escalation
// policies? It reads PagerDuty's REST API (GET /oncalls) through
// github.com/PagerDuty/go-pagerduty with a read-only token, caches the
// on-call lists briefly so that a burst of requests costs one API call, and
// reports every failure to get an answer as an error. A caller must treat an
// error as "unknown", which means normal approval, never automatic approval.
//
// docs/pagerduty.md describes the token, the API calls and the jit.yaml
// settings.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/jitaccess/jit"
)

// Defaults and limits.
const (
	// DefaultBaseURL is PagerDuty's REST API (US service region; accounts
	// in the EU service region use https://api.eu.pagerduty.com).
	DefaultBaseURL = "https://api.pagerduty.com"
	// DefaultCacheTTL is how long a fetched on-call list answers lookups.
	DefaultCacheTTL = 60 * time.Second
	// DefaultTimeout bounds one fetch of an on-call list, all pages
	// included.
	DefaultTimeout = 5 * time.Second

	// MaxCacheTTL bounds CacheTTL: an on-call list older than this is too
	// stale to approve anything on.
	MaxCacheTTL = time.Hour
	// pageLimit is the page size asked for; 100 is PagerDuty's maximum.
	pageLimit = 100
	// maxPages stops a fetch that keeps being told there is more: 10,000
	// on-call entries is far beyond any real set of schedules, and a
	// misbehaving server must not keep a fetch going until the timeout.
	maxPages = 100
	// maxResponse is the most of one response body that is read (a page of
	// 100 entries with full user objects is a few hundred KiB).
	maxResponse = 8 << 20
	// defaultRateLimitWait is how long lookups that need the API are held
	// back after a 429 that did not say how long to wait. PagerDuty's REST
	// API limits are per account and reset within a minute.
	defaultRateLimitWait = 10 * time.Second
	// maxRateLimitWait caps a server-given wait, so that a wrong header
	// cannot switch on-call lookups off for long.
	maxRateLimitWait = 5 * time.Minute
	// maxIDLength bounds a schedule or escalation policy ID (PagerDuty's
	// are 7 to 14 characters).
	maxIDLength = 64
)

// Config configures a Client. Token is required; every other field has a
// default.
type Config struct {
	// Token is a PagerDuty REST API key (read-only is enough). The caller
	// reads it from a file or an environment variable; surrounding
	// whitespace is ignored. It is sent only in the Authorization header
	// and is never part of an error, a log line or the string form of the
	// Config.
	Token string
	// BaseURL is the REST API's address (default DefaultBaseURL). It must
	// be https; http is accepted for loopback addresses only, so that a
	// token never crosses a network in the clear.
	BaseURL string
	// HTTPClient makes the calls (default: a client with its own transport
	// that does not follow redirects).
	HTTPClient *http.Client
	// Clock decides which on-call entries cover "now" and when cached lists
	// expire (default jit.SystemClock).
	Clock jit.Clock
	// CacheTTL is how long a fetched on-call list answers lookups (default
	// DefaultCacheTTL, at most MaxCacheTTL).
	CacheTTL time.Duration
	// Timeout bounds one fetch of an on-call list, all pages included
	// (default DefaultTimeout).
	Timeout time.Duration
}

// String describes the configuration without the token.
func (c Config) String() string {
	token := "unset"
	if strings.TrimSpace(c.Token) != "" {
		token = "set"
	}
	return fmt.Sprintf("pagerduty.Config{BaseURL: %q, Token: %s, CacheTTL: %s, Timeout: %s}",
		c.shownBaseURL(), token, c.cacheTTL(), c.timeout())
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the token out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.shownBaseURL()),
		slog.Bool("token_set", strings.TrimSpace(c.Token) != ""),
		slog.Duration("cache_ttl", c.cacheTTL()),
		slog.Duration("timeout", c.timeout()),
	)
}

func (c Config) baseURL() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return c.BaseURL
}

// shownBaseURL is the base URL with any password masked (Validate refuses
// credentials in it, but the string form must be safe even before that).
func (c Config) shownBaseURL() string {
	u, err := url.Parse(c.baseURL())
	if err != nil {
		return "(not a valid URL)"
	}
	return u.Redacted()
}

func (c Config) cacheTTL() time.Duration {
	if c.CacheTTL == 0 {
		return DefaultCacheTTL
	}
	return c.CacheTTL
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Validate reports every problem with the configuration, joined. It never
// contacts PagerDuty and never includes the token in its errors.
func (c Config) Validate() error {
	var errs []error
	token := strings.TrimSpace(c.Token)
	switch {
	case token == "":
		errs = append(errs, errors.New("pagerduty: token is required"))
	case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		// A header value with control characters or spaces would be
		// refused by net/http (or split the header); say so before the
		// first lookup does.
		errs = append(errs, errors.New("pagerduty: token contains spaces or control characters"))
	}
	if _, err := parseBaseURL(c.baseURL()); err != nil {
		errs = append(errs, fmt.Errorf("pagerduty: base URL: %w", err))
	}
	if c.CacheTTL < 0 || c.CacheTTL > MaxCacheTTL {
		errs = append(errs, fmt.Errorf("pagerduty: cache TTL %s is out of range (0 for the default %s, at most %s)", c.CacheTTL, DefaultCacheTTL, MaxCacheTTL))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("pagerduty: timeout %s is negative (0 for the default %s)", c.Timeout, DefaultTimeout))
	}
	return errors.Join(errs...)
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("scheme must be https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("has no host")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, errors.New("must be https (http is accepted for loopback addresses only): the token would cross the network in the clear")
	}
	if u.User != nil {
		return nil, errors.New("must not contain credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not have a query or a fragment")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateID checks the form of a schedule or escalation policy ID (such as
// PABC123), so that a policy file can be checked when it loads rather than
// at the first lookup. It does not ask PagerDuty whether the ID exists.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("pagerduty: empty ID")
	}
	if len(id) > maxIDLength {
		return fmt.Errorf("pagerduty: ID is longer than %d characters", maxIDLength)
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("pagerduty: ID %q may hold only letters and digits", id)
		}
	}
	return nil
}

// OnCallResult is the answer of Client.OnCall.
type OnCallResult struct {
	// OnCall is true when the person is on call now in one of the given
	// schedules or escalation policies.
	OnCall bool
	// Via names what they are on call in: "schedule:PABC123" or
	// "escalation_policy:PXYZ789". Empty when OnCall is false.
	Via string
	// Until is the end of the on-call shift that made OnCall true; the zero
	// time when PagerDuty gives no end (a permanent on-call, such as a user
	// named directly in an escalation rule). A caller that grants access
	// for "at most the shift" clamps to it.
	Until time.Time
}

// StatusError is an answer from the PagerDuty API with an unexpected HTTP
// status (401 for a wrong token, 403 for a token that may not read on-calls,
// 5xx for trouble at PagerDuty). Rate limiting is a *RateLimitError instead.
type StatusError struct {
	StatusCode int
	// Message is PagerDuty's description of the error, when it sent one.
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("API answered HTTP %d: %s", e.StatusCode, e.Message)
}

// RateLimitError means the PagerDuty API answered 429, or that it did
// recently and RetryAfter has not passed yet; lookups that need the API are
// not sent until then, because PagerDuty's limits are per account and other
// integrations share them. Lookups that the cache can answer still work.
type RateLimitError struct {
	// RetryAfter is how long to wait before the API is asked again.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited by the PagerDuty API; retry after %s", e.RetryAfter.Round(time.Second))
}

// Client looks up who is on call. It is safe for concurrent use.
type Client struct {
	api     *pd.Client
	clock   jit.Clock
	ttl     time.Duration
	timeout time.Duration

	mu sync.Mutex
	// lists are fetched on-call lists by query key.
	lists map[string]*onCallList
	// fetching holds the fetch in progress per query key, so that a burst
	// of lookups for one key shares one fetch.
	fetching map[string]*fetch
	// holdUntil is when the API may be asked again after a 429.
	holdUntil time.Time
}

// New checks cfg and builds a Client. It never contacts PagerDuty; the first
// OnCall does.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := parseBaseURL(cfg.baseURL()) // checked by Validate
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// The API does not redirect; following one would send the
			// token somewhere the operator did not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	clock := cfg.Clock
	if clock == nil {
		clock = jit.SystemClock{}
	}
	endpoint := strings.TrimRight(base.String(), "/")
	api := pd.NewClient(strings.TrimSpace(cfg.Token), pd.WithAPIEndpoint(endpoint))
	api.HTTPClient = &doer{client: hc, clock: clock}
	return &Client{
		api:      api,
		clock:    clock,
		ttl:      cfg.cacheTTL(),
		timeout:  cfg.timeout(),
		lists:    map[string]*onCallList{},
		fetching: map[string]*fetch{},
	}, nil
}

// OnCall reports whether the person with this email is on call now in one
// of the given schedules or escalation policies (at least one ID in all).
// The email is matched case-insensitively against the email of the
// PagerDuty user on call. Schedules are checked before escalation policies;
// the first match is the answer.
//
// Error contract: any failure to get a definite answer is an error, and the
// result is then the zero OnCallResult. That covers invalid arguments, a
// network failure, a timeout (the error wraps context.DeadlineExceeded), an
// HTTP error status (*StatusError), rate limiting (*RateLimitError), a
// response that is not the documented JSON, and an on-call entry without the
// user's email. The caller must treat an error as "unknown" and fall back to
// normal approval, never to automatic approval. A nil error with
// OnCall false is a definite "not on call".
//
// Idempotency: OnCall only reads. Each on-call list (per set of schedules
// and per set of escalation policies) is fetched at most once per cache TTL,
// shared by concurrent callers; errors are never cached. ctx bounds how long
// this caller waits; a fetch already under way continues, bounded by the
// configured timeout, so that the other callers waiting for it get their
// answer.
func (c *Client) OnCall(ctx context.Context, email string, scheduleIDs, escalationPolicyIDs []string) (OnCallResult, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || !strings.Contains(email, "@") {
		return OnCallResult{}, errors.New("pagerduty: on-call lookup needs the requester's email")
	}
	schedules, err := normaliseIDs(scheduleIDs)
	if err != nil {
		return OnCallResult{}, fmt.Errorf("pagerduty: schedule IDs: %w", err)
	}
	policies, err := normaliseIDs(escalationPolicyIDs)
	if err != nil {
		return OnCallResult{}, fmt.Errorf("pagerduty: escalation policy IDs: %w", err)
	}
	if len(schedules) == 0 && len(policies) == 0 {
		return OnCallResult{}, errors.New("pagerduty: on-call lookup needs at least one schedule or escalation policy ID")
	}

	// One query per kind: PagerDuty's filters narrow each other, so a
	// single query with both would list only the on-calls that are in one
	// of the schedules and also in one of the escalation policies.
	for _, q := range []query{{kind: kindSchedule, ids: schedules}, {kind: kindEscalationPolicy, ids: policies}} {
		if len(q.ids) == 0 {
			continue
		}
		list, err := c.list(ctx, q)
		if err != nil {
			return OnCallResult{}, err
		}
		res, err := list.lookup(email, c.clock.Now())
		if err != nil {
			return OnCallResult{}, err
		}
		if res.OnCall {
			return res, nil
		}
	}
	return OnCallResult{}, nil
}

// normaliseIDs checks, deduplicates and sorts ids, so that the same set in
// any order shares one cache entry.
func normaliseIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if err := ValidateID(id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Kinds of on-call queries, as they appear in OnCallResult.Via.
const (
	kindSchedule         = "schedule"
	kindEscalationPolicy = "escalation_policy"
)

// query is one on-call list: the on-calls of a set of schedules or of a set
// of escalation policies.
type query struct {
	kind string
	ids  []string // sorted, distinct
}

func (q query) key() string { return q.kind + ":" + strings.Join(q.ids, ",") }

// entry is one on-call entry as fetched, parsed and checked.
type entry struct {
	userID string
	email  string // lowercased; "" when PagerDuty did not send it
	source string // the schedule or escalation policy ID the query asked for
	start  time.Time
	end    time.Time // zero: no end
}

type onCallList struct {
	query     query
	fetchedAt time.Time
	entries   []entry
}

// lookup finds email among the entries that cover now. An entry with no
// email that covers now makes the answer unknown unless email is found in
// another one: that entry might be the requester.
func (l *onCallList) lookup(email string, now time.Time) (OnCallResult, error) {
	var best *entry
	unknownUser := ""
	for i := range l.entries {
		e := &l.entries[i]
		if !e.start.IsZero() && now.Before(e.start) || !e.end.IsZero() && !now.Before(e.end) {
			continue
		}
		if e.email == "" {
			unknownUser = e.userID
			continue
		}
		if e.email != email {
			continue
		}
		// Of several shifts, the one that lasts longest (no end is
		// longest) gives the most useful Until; ties go to the first
		// source in sorted order, so that answers are stable.
		if best == nil || laterEnd(e.end, best.end) || e.end.Equal(best.end) && e.source < best.source {
			best = e
		}
	}
	if best != nil {
		return OnCallResult{OnCall: true, Via: l.query.kind + ":" + best.source, Until: best.end}, nil
	}
	if unknownUser != "" {
		return OnCallResult{}, fmt.Errorf("pagerduty: the on-call list for %s has no email for user %s, so the answer is unknown", l.query.key(), unknownUser)
	}
	return OnCallResult{}, nil
}

// laterEnd reports whether end a is later than end b, where zero is "never".
func laterEnd(a, b time.Time) bool {
	switch {
	case b.IsZero():
		return false
	case a.IsZero():
		return true
	default:
		return a.After(b)
	}
}

// fetch is one fetch in progress; done is closed when list or err is set.
type fetch struct {
	done chan struct{}
	list *onCallList
	err  error
}

// list returns the on-call list for q: from the cache while it is fresh,
// otherwise from the fetch in progress or from a new one.
func (c *Client) list(ctx context.Context, q query) (*onCallList, error) {
	key := q.key()
	c.mu.Lock()
	now := c.clock.Now()
	if l, ok := c.lists[key]; ok && c.fresh(l, now) {
		c.mu.Unlock()
		return l, nil
	}
	f, ok := c.fetching[key]
	if !ok {
		if wait := c.holdUntil.Sub(now); wait > 0 {
			c.mu.Unlock()
			return nil, fmt.Errorf("pagerduty: on-call list for %s: %w", key, &RateLimitError{RetryAfter: wait})
		}
		f = &fetch{done: make(chan struct{})}
		c.fetching[key] = f
		// The fetch runs on its own, bounded by the configured timeout
		// rather than by this caller's context, because other callers
		// may come to wait for it.
		go c.run(context.WithoutCancel(ctx), q, f)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.list, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("pagerduty: waiting for the on-call list: %w", ctx.Err())
	}
}

// fresh reports whether l may still answer at now. A clock that went back
// before the fetch also counts as stale.
func (c *Client) fresh(l *onCallList, now time.Time) bool {
	age := now.Sub(l.fetchedAt)
	return age >= 0 && age < c.ttl
}

// run performs fetch f for q and publishes its outcome: a list goes into the
// cache, an error only to the callers waiting now.
func (c *Client) run(ctx context.Context, q query, f *fetch) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	fetchedAt := c.clock.Now()
	list, err := c.fetchList(ctx, q, fetchedAt)

	c.mu.Lock()
	delete(c.fetching, q.key())
	if err == nil {
		// Drop stale lists so that the map holds only what is in use.
		for k, l := range c.lists {
			if !c.fresh(l, fetchedAt) {
				delete(c.lists, k)
			}
		}
		c.lists[q.key()] = list
	}
	var rl *RateLimitError
	if errors.As(err, &rl) {
		if until := fetchedAt.Add(rl.RetryAfter); until.After(c.holdUntil) {
			c.holdUntil = until
		}
	}
	f.list, f.err = list, err
	c.mu.Unlock()
	close(f.done)
}

// fetchList reads every page of the on-call list for q.
func (c *Client) fetchList(ctx context.Context, q query, now time.Time) (*onCallList, error) {
	// The window runs from now to the end of the cache TTL, so that the
	// cached list also holds the shifts that start while it is in use;
	// lookup picks the entries that cover the moment of each lookup.
	since := now.UTC().Truncate(time.Second)
	until := now.Add(c.ttl).UTC().Truncate(time.Second).Add(time.Second)
	opts := pd.ListOnCallOptions{
		Limit:    pageLimit,
		Includes: []string{"users"},
		Since:    since.Format(time.RFC3339),
		Until:    until.Format(time.RFC3339),
		Earliest: true,
	}
	switch q.kind {
	case kindSchedule:
		opts.ScheduleIDs = q.ids
	case kindEscalationPolicy:
		opts.EscalationPolicyIDs = q.ids
	}
	wanted := make(map[string]bool, len(q.ids))
	for _, id := range q.ids {
		wanted[id] = true
	}

	list := &onCallList{query: q, fetchedAt: now}
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("pagerduty: on-call list for %s: more than %d pages", q.key(), maxPages)
		}
		x := &exchange{}
		resp, err := c.api.ListOnCallsWithContext(withExchange(ctx, x), opts)
		if err != nil {
			return nil, c.apiError(ctx, q, err, x)
		}
		for i, oc := range resp.OnCalls {
			e, ok, err := parseEntry(oc, q.kind, wanted)
			if err != nil {
				return nil, fmt.Errorf("pagerduty: on-call list for %s, entry %d: %w", q.key(), int(opts.Offset)+i, err)
			}
			if ok {
				list.entries = append(list.entries, e)
			}
		}
		if !resp.More {
			return list, nil
		}
		if len(resp.OnCalls) == 0 {
			// Asking again would get the same page forever.
			return nil, fmt.Errorf("pagerduty: on-call list for %s: an empty page says there are more", q.key())
		}
		// The next page starts after what this one held, whatever limit
		// the server applied.
		opts.Offset += uint(len(resp.OnCalls))
	}
}

// apiError turns an error from go-pagerduty into one of this package's.
func (c *Client) apiError(ctx context.Context, q query, err error, x *exchange) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// go-pagerduty formats transport errors with %v, which loses the
		// context error; restore it so that callers can test for it.
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("pagerduty: on-call list for %s: no answer within %s: %w", q.key(), c.timeout, ctxErr)
		}
		return fmt.Errorf("pagerduty: on-call list for %s: %w", q.key(), ctxErr)
	}
	var apiErr pd.APIError
	if errors.As(err, &apiErr) {
		if apiErr.RateLimited() {
			wait := defaultRateLimitWait
			if x.retryAfterSet {
				wait = min(x.retryAfter, maxRateLimitWait)
			}
			return fmt.Errorf("pagerduty: on-call list for %s: %w", q.key(), &RateLimitError{RetryAfter: wait})
		}
		msg := "no error object in the answer"
		if apiErr.APIError.Valid {
			msg = apiErr.APIError.ErrorObject.Message
			if code := apiErr.APIError.ErrorObject.Code; code != 0 {
				msg = fmt.Sprintf("%s (code %d)", msg, code)
			}
		}
		return fmt.Errorf("pagerduty: on-call list for %s: %w", q.key(), &StatusError{StatusCode: apiErr.StatusCode, Message: msg})
	}
	return fmt.Errorf("pagerduty: on-call list for %s: %w", q.key(), err)
}

// parseEntry checks one on-call entry and keeps it when it belongs to one of
// the IDs asked for (anything else is ignored: an answer is only trusted
// for what was asked).
func parseEntry(oc pd.OnCall, kind string, wanted map[string]bool) (entry, bool, error) {
	source := oc.Schedule.ID
	if kind == kindEscalationPolicy {
		source = oc.EscalationPolicy.ID
	}
	if !wanted[source] {
		return entry{}, false, nil
	}
	if oc.User.ID == "" {
		return entry{}, false, errors.New("no user ID")
	}
	e := entry{
		userID: oc.User.ID,
		email:  strings.ToLower(strings.TrimSpace(oc.User.Email)),
		source: source,
	}
	var err error
	if oc.Start != "" {
		if e.start, err = time.Parse(time.RFC3339, oc.Start); err != nil {
			return entry{}, false, fmt.Errorf("start %q is not an RFC 3339 time", oc.Start)
		}
	}
	if oc.End != "" {
		if e.end, err = time.Parse(time.RFC3339, oc.End); err != nil {
			return entry{}, false, fmt.Errorf("end %q is not an RFC 3339 time", oc.End)
		}
	}
	return e, true, nil
}
