// Package webhook is the provider for custom integrations (type "webhook"):
// each Grant, Revoke and Verify is a signed JSON POST to a URL the operator
// runs. The wire format, the signature scheme and what a receiver must do
// are documented in docs/providers.md (section "webhook"); VerifySignature
// is the reference check for receivers written in Go.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/internal/callout"
)

// Type is the provider type name used in jit.yaml.
const Type = "webhook"

// Defaults and limits.
const (
	// DefaultTimeout bounds one call, connection included.
	DefaultTimeout = 10 * time.Second
	// maxResponse is the most of a response body that is read: answers are
	// small JSON documents, and a receiver gone wrong must not exhaust
	// jitd's memory.
	maxResponse = 64 << 10
	// maxErrorBody is how much of a failed response's body an error shows.
	maxErrorBody = 512
	// UserAgent identifies the caller to receivers.
	UserAgent = "jit-webhook/1"
)

// Protocol header names.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderTimestamp      = "X-Jit-Timestamp"
	HeaderSignature      = "X-Jit-Signature"
)

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Closer   = (*Provider)(nil)
	_ provider.Lister   = (*Provider)(nil)
)

// Provider calls one webhook URL. It is safe for concurrent use.
type Provider struct {
	url *url.URL
	// shownURL is the URL without its query, for errors: a query may carry
	// a token.
	shownURL string
	secret   []byte
	timeout  time.Duration
	headers  http.Header
	client   *http.Client
	clock    jit.Clock
	// list says the receiver implements the "list" action.
	list bool
}

// Options are what New cannot read from the settings. The zero value is the
// production configuration.
type Options struct {
	// Clock stamps X-Jit-Timestamp (default jit.SystemClock).
	Clock jit.Clock
	// TLSConfig, when set, replaces the default TLS configuration (to trust
	// a private CA in tests or deployments).
	TLSConfig *tls.Config
}

// New builds the provider from r.Settings:
//
//	url:         http or https URL, required
//	secret_file: file holding the HMAC secret    } exactly one of
//	secret_env:  environment variable holding it } the two
//	timeout:     per call, default 10s
//	headers:     map of extra static request headers
//	list:        true when the receiver implements the "list" action (so
//	             that the reconciler can find access left behind),
//	             default false
//
// New reads the secret (a local file or variable) but never contacts the
// receiver. Errors name the offending setting and never contain the secret.
func New(r provider.Resource) (provider.Provider, error) {
	return NewWithOptions(r, Options{})
}

// NewWithOptions is New with options.
func NewWithOptions(r provider.Resource, o Options) (*Provider, error) {
	s := provider.NewSettings(r.Settings)
	rawURL := s.String("url", true)
	hasFile, hasEnv := s.Has("secret_file"), s.Has("secret_env")
	secretFile := s.String("secret_file", hasFile)
	secretEnv := s.String("secret_env", hasEnv)
	timeout := s.Duration("timeout", DefaultTimeout)
	extra := s.StringMap("headers")
	list := s.Bool("list", false)

	p := &Provider{timeout: timeout, clock: o.Clock, headers: http.Header{}, list: list}
	if p.clock == nil {
		p.clock = jit.SystemClock{}
	}
	if rawURL != "" {
		u, err := parseURL(rawURL)
		if err != nil {
			s.Errorf("url", "%v", err)
		} else {
			p.url = u
			shown := *u
			if shown.RawQuery != "" {
				shown.RawQuery = "..."
			}
			p.shownURL = shown.String()
		}
	}
	switch {
	case hasFile && hasEnv:
		s.Errorf("secret_file", "give only one of secret_file and secret_env")
	case !hasFile && !hasEnv:
		s.Errorf("secret_file", "one of secret_file and secret_env is required")
	case secretFile != "":
		secret, err := readSecretFile(secretFile)
		if err != nil {
			s.Errorf("secret_file", "%v", err)
		}
		p.secret = secret
	case secretEnv != "":
		v, ok := os.LookupEnv(secretEnv)
		if !ok {
			s.Errorf("secret_env", "environment variable %s is not set", secretEnv)
		} else if strings.TrimSpace(v) == "" {
			s.Errorf("secret_env", "environment variable %s is empty", secretEnv)
		}
		p.secret = []byte(strings.TrimSpace(v))
	}
	for name, value := range extra {
		if err := checkHeader(name, value); err != nil {
			s.Errorf("headers", "%v", err)
			continue
		}
		p.headers.Set(name, value)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	if o.TLSConfig != nil {
		transport.TLSClientConfig = o.TLSConfig.Clone()
	}
	p.client = &http.Client{
		Transport: transport,
		// A redirect would resend the signed body to a URL the operator did
		// not configure; it is reported as a non-2xx answer instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Parse quotes the input; it is not secret (credentials in the
		// URL are refused below), but keep the message short.
		return nil, errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("has no host")
	}
	if u.User != nil {
		return nil, errors.New("must not contain credentials; authenticate receivers by the signature, or add a header")
	}
	if u.Fragment != "" {
		return nil, errors.New("must not have a fragment")
	}
	return u, nil
}

func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the path, never the content.
		return nil, fmt.Errorf("cannot read the secret: %w", err)
	}
	// A trailing newline is an artefact of editors and echo, not part of
	// the secret.
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("file %s is empty", path)
	}
	return b, nil
}

// reservedHeaders are set by the protocol; a static header may not
// override them.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "User-Agent": true,
	"Transfer-Encoding": true, "Connection": true,
	HeaderIdempotencyKey: true, HeaderTimestamp: true, HeaderSignature: true,
}

// checkHeader validates a static header. Values are never echoed: they
// often are tokens.
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("header name is empty")
	}
	for _, c := range name {
		if !isTokenChar(c) {
			return fmt.Errorf("header name %q has the invalid character %q", name, c)
		}
	}
	canonical := http.CanonicalHeaderKey(name)
	if reservedHeaders[canonical] || strings.HasPrefix(canonical, "X-Jit-") {
		return fmt.Errorf("header %s is set by jit and cannot be configured", canonical)
	}
	for _, c := range value {
		if c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("value of header %s contains a line break or NUL", canonical)
		}
	}
	return nil
}

// isTokenChar reports whether c may appear in a header name (RFC 9110
// token).
func isTokenChar(c rune) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}

// Grant POSTs a grant document. A 2xx answer means the access exists; its
// body may be empty or {"handle": ...}, which is stored and sent back on
// revoke and verify. Idempotency is the receiver's: it gets the same
// Idempotency-Key for every attempt of the same grant.
//
// Errors: provider.NotApplied when the request certainly never reached the
// receiver (ctx already ended, connection refused, host not found); any
// other failure (timeout, non-2xx, unreadable answer) leaves the outcome
// unknown.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	body, err := p.call(ctx, callout.Grant(req), maxResponse)
	if err != nil {
		return provider.GrantResponse{}, err
	}
	handle, err := callout.ParseGrant(body)
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("webhook grant %s: %w", req.RequestID, err)
	}
	return provider.GrantResponse{Handle: handle}, nil
}

// Revoke POSTs a revoke document. A 2xx answer means the access is gone;
// receivers answer 2xx for access that never existed. Errors as for Grant.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if _, err := p.call(ctx, callout.Revoke(req), maxResponse); err != nil {
		return provider.RevokeResponse{}, err
	}
	return provider.RevokeResponse{}, nil
}

// Verify POSTs a verify document; the 2xx answer must be {"present": bool}
// with an optional RFC 3339 "expires_at". Any failure is an error.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	body, err := p.call(ctx, callout.Verify(req), maxResponse)
	if err != nil {
		return provider.VerifyResponse{}, err
	}
	resp, err := callout.ParseVerify(body)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("webhook verify %s: %w", req.RequestID, err)
	}
	return resp, nil
}

// List POSTs a list document (action "list", only the resource set, no
// Idempotency-Key since the answer must be fresh every time); the 2xx
// answer must be {"grants": [{"request_id": ..., "user": ..., "access":
// ..., "expires_at": ...}]} naming every access jit created in the target.
// The receiver must not change anything.
//
// Errors: provider.ErrListUnsupported, without sending anything, unless
// the list setting is on; any other failure (not delivered, timeout,
// non-2xx, an answer that is not such a document) is an error, and nothing
// may be concluded from the listing.
func (p *Provider) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	if !p.list {
		return provider.ListResponse{}, fmt.Errorf("webhook list %s: %w (set list: true once the receiver implements it)", req.Resource, provider.ErrListUnsupported)
	}
	body, err := p.call(ctx, callout.List(req), callout.MaxListAnswer)
	if err != nil {
		return provider.ListResponse{}, err
	}
	resp, err := callout.ParseList(body)
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("webhook list %s: %w", req.Resource, err)
	}
	return resp, nil
}

// Close releases idle connections. The provider must not be used after.
func (p *Provider) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

// call sends doc and returns the body of a 2xx answer, which may be at most
// limit bytes.
func (p *Provider) call(ctx context.Context, doc callout.Document, limit int) ([]byte, error) {
	what := fmt.Sprintf("webhook %s %s", doc.Action, doc.RequestID)
	if doc.RequestID == "" {
		what = fmt.Sprintf("webhook %s %s", doc.Action, doc.Resource)
	}
	if err := ctx.Err(); err != nil {
		return nil, provider.NotApplied(fmt.Errorf("%s: not sent: %w", what, err))
	}
	body, err := doc.Encode()
	if err != nil {
		return nil, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, provider.NotApplied(fmt.Errorf("%s: build request: %w", what, err))
	}
	for name, values := range p.headers {
		req.Header[name] = append([]string(nil), values...)
	}
	ts := strconv.FormatInt(p.clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if doc.RequestID != "" {
		// A list concerns no request and must never be answered from a
		// receiver's idempotency cache.
		req.Header.Set(HeaderIdempotencyKey, doc.RequestID+":"+doc.Action)
	}
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(p.secret, ts, body))

	resp, err := p.client.Do(req)
	if err != nil {
		return nil, p.transportError(what, err)
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s: %s answered %s: %s", what, p.shownURL, resp.Status, callout.Snippet(data, maxErrorBody))
	}
	if readErr != nil {
		return nil, fmt.Errorf("%s: %s answered %s but reading the body failed: %w", what, p.shownURL, resp.Status, stripURL(readErr))
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: %s answered %s with a body over %d bytes", what, p.shownURL, resp.Status, limit)
	}
	return data, nil
}

// transportError classifies a failed round trip. Only a dial that never
// established a connection proves the receiver got nothing; a timeout or a
// failure after connecting may have delivered the request.
func (p *Provider) transportError(what string, err error) error {
	err = stripURL(err)
	if neverConnected(err) {
		return provider.NotApplied(fmt.Errorf("%s: POST %s: not delivered: %w", what, p.shownURL, err))
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Errorf("%s: POST %s: no answer within %s, outcome unknown: %w", what, p.shownURL, p.timeout, err)
	}
	return fmt.Errorf("%s: POST %s: outcome unknown: %w", what, p.shownURL, err)
}

// stripURL removes *url.Error's wrapping, whose text repeats the full URL
// (query included); messages name p.shownURL instead.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// neverConnected reports whether err is a dial failure other than a
// timeout: connection refused, no route, host not found. Timeouts are
// excluded on purpose, as the brief window between a slow connect and a
// delivered request is not worth the risk of a wrong "not applied".
func neverConnected(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return !op.Timeout()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsTimeout
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
