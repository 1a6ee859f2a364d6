package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// Error is a non-2xx answer from the server, read from its RFC 9457 problem
// document. When the body is not a problem document (a proxy's HTML page,
// an empty body) Code is empty and Detail is the status text.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable jit error code (docs/api.md), e.g. "not_allowed".
	Code string
	// Detail is the server's message for people.
	Detail string
	// Field names the input field the error concerns, when there is one.
	Field string
	// RetryAfter is how long the server asked to wait (429, 503), 0 when
	// it did not say.
	RetryAfter time.Duration
}

// Error returns one line: "code: detail", with the retry delay when the
// server gave one, or "HTTP 502 Bad Gateway" when there is no code.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Detail != "" {
			b.WriteString(": ")
			b.WriteString(oneLine(e.Detail))
		}
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Detail != "" {
			b.WriteString(" ")
			b.WriteString(oneLine(e.Detail))
		}
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the error as a *jit.Error, so that jit.ErrorCode and
// errors.As work across the wire as they do in the server.
func (e *Error) Unwrap() error {
	if e.Code == "" {
		return nil
	}
	return &jit.Error{Code: e.Code, Message: e.Detail, Field: e.Field}
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// problem is the subset of an RFC 9457 problem document jit sends.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
}

// parseError turns a non-2xx response into an *Error. The HTTP status is
// authoritative; the document supplies code, detail and field.
func (c *Client) parseError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: c.retryAfter(resp.Header.Get("Retry-After"))}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	var p problem
	if isJSON(resp.Header.Get("Content-Type")) && json.Unmarshal(body, &p) == nil && (p.Code != "" || p.Detail != "" || p.Title != "") {
		e.Code, e.Detail, e.Field = p.Code, p.Detail, p.Field
		if e.Detail == "" {
			e.Detail = p.Title
		}
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(resp.StatusCode)
	}
	return e
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/problem+json" || mt == "application/json"
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 section 10.2.3). Anything unreadable or in the past is 0.
const maxRetryAfter = 24 * 60 * 60 // seconds

func (c *Client) retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n <= 0:
			return 0
		case n > maxRetryAfter:
			// A longer delay is not a useful answer; capping it also keeps
			// the multiplication below from overflowing.
			return maxRetryAfter * time.Second
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(c.clock.Now()); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
