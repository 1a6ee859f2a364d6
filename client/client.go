// Package client is the Go client for jit's HTTP API (docs/api.md). The CLI,
// the end-to-end tests and the benchmarks use it. A Client is safe for
// concurrent use and reuses connections; every method honours its context.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// apiPrefix is where the versioned API lives under the server's base URL.
const apiPrefix = "/api/v1"

// Limits on how much of a response is read. Success bodies are bounded by
// the server's page sizes; the cap only protects against a runaway or
// hostile server. Error bodies are small problem documents.
const (
	maxBodyBytes    = 32 << 20
	maxProblemBytes = 64 << 10
	// drainBytes is how much of an unread body is discarded before closing
	// it so that the connection can go back to the pool.
	drainBytes = 64 << 10
)

// Client talks to one jit server.
type Client struct {
	server    string   // the base URL as given, for error messages
	base      *url.URL // the base URL with the API prefix
	token     string
	hc        *http.Client
	userAgent string
	source    string
	clock     jit.Clock
}

// Option configures a Client in New.
type Option func(*Client) error

// WithToken authenticates every call with the bearer token t (an API token
// or, on a dev server, a dev token). Surrounding white space is removed; a
// token with other white space or control characters is refused by New.
func WithToken(t string) Option {
	return func(c *Client) error {
		t = strings.TrimSpace(t)
		for _, r := range t {
			if r <= ' ' || r == 0x7f {
				return errors.New("token contains white space or control characters")
			}
		}
		c.token = t
		return nil
	}
}

// WithHTTPClient sets the HTTP client used for every call. The default is a
// client with its own pooled transport and no overall timeout, because a
// long-poll legitimately takes up to a minute: bound calls with the context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("nil HTTP client")
		}
		c.hc = hc
		return nil
	}
}

// WithUserAgent sets the User-Agent header (recorded in the audit log).
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		c.userAgent = ua
		return nil
	}
}

// WithSource sets the X-Jit-Client header, the source kind the server
// records in the audit log ("cli", "web", "slack"); without it the server
// records "api".
func WithSource(kind string) Option {
	return func(c *Client) error {
		c.source = kind
		return nil
	}
}

// WithClock sets the clock used to turn an HTTP-date Retry-After into a
// delay. The default is jit.SystemClock.
func WithClock(clk jit.Clock) Option {
	return func(c *Client) error {
		if clk == nil {
			return errors.New("nil clock")
		}
		c.clock = clk
		return nil
	}
}

// New returns a client for the server at baseURL (for example
// "https://jit.example.com" or "http://127.0.0.1:8080"; a path prefix is
// kept, a trailing "/api/v1" is accepted). It fails when baseURL is not an
// absolute http or https URL or when an option is invalid. New makes no
// network call.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		server:    strings.TrimRight(strings.TrimSpace(baseURL), "/"),
		base:      u,
		userAgent: "jit-client",
		clock:     jit.SystemClock{},
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	return c, nil
}

func parseBase(baseURL string) (*url.URL, error) {
	if strings.TrimSpace(baseURL) == "" {
		return nil, errors.New("client: server URL is empty")
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q has no host", baseURL)
	}
	if u.User != nil {
		// Credentials in the URL would end up in error messages and logs.
		return nil, fmt.Errorf("client: server URL must not contain credentials; use a token")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q must not have a query or fragment", baseURL)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, apiPrefix)
	u.Path = p + apiPrefix
	u.RawPath = ""
	return u, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: t}
}

// Server returns the server's base URL as given to New.
func (c *Client) Server() string { return c.server }

// String describes the client without its token.
func (c *Client) String() string { return "jit client for " + c.server }

// call performs one API call: method on path (relative to /api/v1) with
// query and a JSON body (nil for none), decoding a 2xx answer into out (nil
// to discard it). A non-2xx answer becomes an *Error; a transport failure is
// wrapped with the server URL.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.parseError(resp)
	}
	return c.decode(resp, method, path, out)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	u := *c.base
	// path is already escaped (see requestPath); keep both forms so that an
	// escaped byte in an ID is sent as sent, not re-escaped.
	u.RawPath = c.base.EscapedPath() + path
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	u.Path = unescaped
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("client: encoding %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.source != "" {
		req.Header.Set("X-Jit-Client", c.source)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error repeats the whole URL with its query; the server URL is
		// what the reader needs, and the cause stays reachable for
		// errors.Is (context.Canceled, DeadlineExceeded).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("contacting %s: %w", c.server, err)
	}
	return resp, nil
}

func (c *Client) decode(resp *http.Response, method, path string, out any) error {
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxBodyBytes))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: decoding the answer to %s %s: %w", c.server, method, path, err)
	}
	return nil
}

// closeBody discards a bounded rest of the body so that the connection can
// be reused, then closes it.
func closeBody(b io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(b, drainBytes))
	_ = b.Close()
}

// requestPath is the path of one request, or of an action on it.
func requestPath(id string, action string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", &jit.Error{Code: jit.ECodeInvalid, Field: "id", Message: "request ID is empty"}
	}
	if id == "." || id == ".." {
		// Dot segments would be resolved away and address another endpoint.
		return "", &jit.Error{Code: jit.ECodeInvalid, Field: "id", Message: fmt.Sprintf("invalid request ID %q", id)}
	}
	p := "/requests/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p, nil
}
