package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// doer is the go-pagerduty HTTPClient. It bounds response bodies and notes
// how long a 429 asks to wait, which go-pagerduty's APIError does not keep.
type doer struct {
	client *http.Client
	clock  jit.Clock
}

// exchange is where doer notes what it saw of one API call for the caller
// that made it. One call runs in one goroutine, so it needs no lock.
type exchange struct {
	retryAfter    time.Duration
	retryAfterSet bool
}

type exchangeKey struct{}

func withExchange(ctx context.Context, x *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// Do sends r.
func (d *doer) Do(r *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if x, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
			x.retryAfter, x.retryAfterSet = retryAfter(resp.Header, d.clock.Now())
		}
	}
	resp.Body = &limitedBody{r: resp.Body, left: maxResponse}
	return resp, nil
}

// retryAfter reads how long a 429 asks to wait: the standard Retry-After
// header (seconds or an HTTP date), else PagerDuty's ratelimit-reset
// (seconds until the limit resets).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseUint(v, 10, 32); err == nil {
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if v := strings.TrimSpace(h.Get("Ratelimit-Reset")); v != "" {
		if s, err := strconv.ParseUint(v, 10, 32); err == nil {
			return time.Duration(s) * time.Second, true
		}
	}
	return 0, false
}

// errTooLarge is returned by a body that went past maxResponse.
var errTooLarge = fmt.Errorf("response is larger than %d bytes", maxResponse)

// limitedBody fails, rather than truncating silently, once more than left
// bytes have been read: a truncated JSON page must not parse as a short one.
type limitedBody struct {
	r    io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		// Hand back what fits; the next Read reports the overflow.
		n += int(b.left)
		if errors.Is(err, io.EOF) {
			err = errTooLarge
		}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }
