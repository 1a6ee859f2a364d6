package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tolerance is the replay window of Verify: a delivery whose timestamp is
// further than this from the receiver's clock, in either direction, is
// refused.
const Tolerance = 5 * time.Minute

// signatureScheme prefixes a signature; a future scheme gets a new prefix,
// and receivers ignore prefixes they do not know.
const signatureScheme = "v1="

// Errors of Verify, for receivers that answer differently per cause. Each
// is returned as is or wrapped with detail; test with errors.Is.
var (
	// ErrNoSecret: the receiver has no secret configured.
	ErrNoSecret = errors.New("webhooks signature: no secret configured")
	// ErrMalformed: the timestamp or signature header cannot be parsed.
	ErrMalformed = errors.New("webhooks signature: malformed header")
	// ErrMismatch: no signature in the header matches the body.
	ErrMismatch = errors.New("webhooks signature: does not match")
	// ErrStale: the timestamp is outside the replay window.
	ErrStale = errors.New("webhooks signature: timestamp outside the allowed window")
)

// Sign returns the X-Jit-Signature value for body sent at timestamp (the
// X-Jit-Timestamp value, Unix seconds): "v1=" followed by the lower-case
// hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret. Binding the
// timestamp into the MAC is what makes the replay window enforceable.
// It is the scheme of the webhook provider too, so that one receiver
// library checks both.
func Sign(secret []byte, timestamp string, body []byte) string {
	return signatureScheme + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery as a receiver gets it: the X-Jit-Timestamp
// header value, the X-Jit-Signature header value and the raw body bytes,
// against secret, at the receiver's time now. It returns nil when one of
// the signature's comma-separated "v1=<hex>" entries matches (entries of
// other schemes are ignored, so that a future scheme can be sent alongside)
// and the timestamp is within Tolerance of now in either direction.
//
// MACs are compared in constant time (hmac.Equal). The error is, or wraps,
// one of ErrNoSecret, ErrMalformed, ErrMismatch or ErrStale, and never
// contains the secret or an expected MAC. The window limits replays but
// does not prevent one inside it: a receiver must also drop events whose
// id it has already processed.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	timestamp = strings.TrimSpace(timestamp)
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts <= 0 {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrMalformed, truncate(timestamp, 32))
	}
	var candidates [][]byte
	for _, part := range strings.Split(signature, ",") {
		hexMAC, ok := strings.CutPrefix(strings.TrimSpace(part), signatureScheme)
		if !ok {
			continue
		}
		b, err := hex.DecodeString(hexMAC)
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("%w: a v1 signature is not %d hex-encoded bytes", ErrMalformed, sha256.Size)
		}
		candidates = append(candidates, b)
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrMalformed)
	}
	want := mac(secret, timestamp, body)
	matched := false
	for _, c := range candidates {
		// Every candidate is compared, so that the time taken does not
		// tell which one matched.
		if hmac.Equal(c, want) {
			matched = true
		}
	}
	if !matched {
		return ErrMismatch
	}
	// Checked after the MAC, so that an unauthenticated caller learns
	// nothing about the receiver's clock.
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w: sent at %s, now %s, tolerance %s", ErrStale,
			sent.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), Tolerance)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
