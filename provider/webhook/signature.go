package webhook

import (
	"time"

	"github.com/jitaccess/jit/internal/hmacsig"
)

// The signature scheme is shared with jit's webhook notifications
// (internal/hmacsig), so that one receiver library checks both.

// DefaultTolerance is the replay window VerifySignature uses when given a
// tolerance of zero or less.
const DefaultTolerance = hmacsig.DefaultTolerance

// Errors of VerifySignature, for receivers that answer differently per
// cause. Each is returned as is or wrapped with detail; test with
// errors.Is.
var (
	// ErrNoSecret: the receiver has no secret configured.
	ErrNoSecret = hmacsig.ErrNoSecret
	// ErrMalformed: the timestamp or signature header cannot be parsed.
	ErrMalformed = hmacsig.ErrMalformed
	// ErrMismatch: no signature in the header matches the body.
	ErrMismatch = hmacsig.ErrMismatch
	// ErrStale: the timestamp is outside the replay window.
	ErrStale = hmacsig.ErrStale
)

// Sign returns the X-Jit-Signature value for body sent at timestamp (the
// X-Jit-Timestamp value, Unix seconds): "v1=" followed by the lower-case
// hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	return hmacsig.Sign(secret, timestamp, body)
}

// VerifySignature checks a webhook call as a receiver gets it: the
// X-Jit-Timestamp header value, the X-Jit-Signature header value and the
// raw body, against secret, at time now, within tolerance (<= 0 means
// DefaultTolerance). See hmacsig.Verify for the rules: MACs compared in
// constant time, several "v1=" entries accepted (secret rotation), the
// clock checked only after the MAC. A receiver must also deduplicate on
// the Idempotency-Key header: the window limits replays, it does not
// prevent a replay inside it.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	return hmacsig.Verify(secret, timestamp, signature, body, now, tolerance)
}
