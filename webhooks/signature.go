package webhooks

import (
	"time"

	"github.com/jitaccess/jit/internal/hmacsig"
)

// The signature scheme is the webhook provider's too (internal/hmacsig),
// so that one receiver library checks both.

// Tolerance is the replay window of Verify: a delivery whose timestamp is
// further than this from the receiver's clock, in either direction, is
// refused.
const Tolerance = hmacsig.DefaultTolerance

// Errors of Verify, for receivers that answer differently per cause. Each
// is returned as is or wrapped with detail; test with errors.Is.
var (
	ErrNoSecret  = hmacsig.ErrNoSecret
	ErrMalformed = hmacsig.ErrMalformed
	ErrMismatch  = hmacsig.ErrMismatch
	ErrStale     = hmacsig.ErrStale
)

// Sign returns the X-Jit-Signature value for body sent at timestamp (Unix
// seconds): "v1=" and the lower-case hex HMAC-SHA256 of
// "<timestamp>.<body>" keyed with secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	return hmacsig.Sign(secret, timestamp, body)
}

// Verify checks a delivery as a receiver gets it: the X-Jit-Timestamp
// header value, the X-Jit-Signature header value and the raw body bytes,
// against secret, at the receiver's time now, within Tolerance (see
// hmacsig.Verify). The window limits replays but does not prevent one
// inside it: a receiver must also drop events whose id it has already
// processed.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	return hmacsig.Verify(secret, timestamp, signature, body, now, Tolerance)
}
