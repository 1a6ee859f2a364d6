package slack

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit"
)

// MaxSkew is how far a request's X-Slack-Request-Timestamp may be from
// now, either way. Slack's own guidance is five minutes: older requests
// are refused as possible replays.
const MaxSkew = 5 * time.Minute

// DefaultMaxBody bounds the body of a request from Slack. A view
// submission carries the whole modal back, so it is larger than a form
// post, but far below this.
const DefaultMaxBody = 1 << 20

// The reasons a request is refused. They go to the log, never to the
// caller, who only sees 401.
var (
	errNoSignature  = errors.New("no X-Slack-Signature or X-Slack-Request-Timestamp")
	errBadTimestamp = errors.New("X-Slack-Request-Timestamp is not a Unix time")
	errStale        = errors.New("request timestamp is outside the replay window")
	errBadSignature = errors.New("signature does not match")
	errReplay       = errors.New("request was seen before (same timestamp and signature)")
	errTooLarge     = errors.New("body is too large")
)

// Verifier checks that HTTP requests come from Slack. Slack signs every
// request to an app with the app's signing secret (the "v0" scheme):
// X-Slack-Signature is "v0=" and the hex HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<raw body>". A request is accepted when
// the signature matches (compared in constant time), the timestamp is
// within MaxSkew of the clock, the body is no larger than the bound, and
// the same signed request has not been accepted before (a captured request
// sent again within the window is refused).
//
// The memory of accepted signatures lives in the process: replicas behind
// one load balancer each keep their own, and a restart forgets it. What a
// replay could do is limited anyway: actions are done as the signing
// person, and the service refuses repeated approvals and state changes.
type Verifier struct {
	secret  []byte
	clock   jit.Clock
	maxBody int64
	log     *slog.Logger

	mu        sync.Mutex
	seen      map[string]time.Time // signature → when it leaves the window
	nextPrune time.Time
}

// NewVerifier returns a Verifier for the app's signing secret. maxBody <= 0
// means DefaultMaxBody; a nil clock means jit.SystemClock; a nil logger
// discards.
func NewVerifier(signingSecret []byte, clock jit.Clock, maxBody int64, logger *slog.Logger) *Verifier {
	if clock == nil {
		clock = jit.SystemClock{}
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{secret: append([]byte(nil), signingSecret...), clock: clock, maxBody: maxBody, log: logger, seen: map[string]time.Time{}}
}

// Sign returns the X-Slack-Signature value for body sent at ts, as Slack
// computes it. It is exported for tests and tools that call the app's
// endpoints as Slack would.
func Sign(signingSecret []byte, ts time.Time, body []byte) string {
	return signAt(signingSecret, strconv.FormatInt(ts.Unix(), 10), body)
}

func signAt(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reads r's body and checks that Slack sent it. It returns the
// body, which the caller parses (r.Body is consumed). An error means the
// request must be refused; its text is for the log only.
func (v *Verifier) Verify(r *http.Request) ([]byte, error) {
	sig := r.Header.Get("X-Slack-Signature")
	tsHeader := r.Header.Get("X-Slack-Request-Timestamp")
	if sig == "" || tsHeader == "" {
		return nil, errNoSignature
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil || ts <= 0 {
		return nil, errBadTimestamp
	}
	sent := time.Unix(ts, 0)
	now := v.clock.Now()
	if d := now.Sub(sent); d > MaxSkew || d < -MaxSkew {
		return nil, errStale
	}
	if r.ContentLength > v.maxBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > v.maxBody {
		return nil, errTooLarge
	}
	want := signAt(v.secret, tsHeader, body)
	// Both are "v0=" + 64 hex digits when the header is well formed;
	// hmac.Equal takes the same time whatever the contents.
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
		return nil, errBadSignature
	}
	if !v.remember(want, sent.Add(MaxSkew), now) {
		return nil, errReplay
	}
	return body, nil
}

// remember records sig as accepted until forgetAt; false when it was
// accepted before.
func (v *Verifier) remember(sig string, forgetAt, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.seen[sig]; ok {
		return false
	}
	// Forget what left the window once a minute rather than on every
	// request: the map holds about the requests of the last ten minutes.
	if now.After(v.nextPrune) {
		for s, until := range v.seen {
			if now.After(until) {
				delete(v.seen, s)
			}
		}
		v.nextPrune = now.Add(time.Minute)
	}
	v.seen[sig] = forgetAt
	return true
}

// Middleware refuses every request that Verify refuses with 401 and an
// empty body, and passes the others on with the verified body in place of
// the original.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.Verify(r)
		if err != nil {
			v.log.WarnContext(r.Context(), "slack request refused", "path", r.URL.Path, "why", err.Error(),
				"retry", r.Header.Get("X-Slack-Retry-Num"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}
