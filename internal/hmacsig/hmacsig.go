// Package hmacsig is the signature scheme of every HTTP call jit signs
// (the webhook provider's calls and the webhook notifications): "v1=" and
// the hex HMAC-SHA256 of "<timestamp>.<body>", checked in constant time
// within a replay window. One implementation, so that one receiver library
// checks both.
package hmacsig

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

// DefaultTolerance is the replay window Verify uses when given a
// tolerance of zero or less.
const DefaultTolerance = 5 * time.Minute

// signatureScheme prefixes a signature; a future scheme gets a new prefix
// and receivers can accept both while secrets or algorithms change.
const signatureScheme = "v1="

// Errors of Verify, for receivers that answer differently per
// cause. Each is returned wrapped with detail.
var (
	// ErrNoSecret: the receiver has no secret configured.
	ErrNoSecret = errors.New("signature: no secret configured")
	// ErrMalformed: the timestamp or signature header cannot be parsed.
	ErrMalformed = errors.New("signature: malformed header")
	// ErrMismatch: no signature in the header matches the body.
	ErrMismatch = errors.New("signature: does not match")
	// ErrStale: the timestamp is outside the replay window.
	ErrStale = errors.New("signature: timestamp outside the allowed window")
)

// Sign returns the X-Jit-Signature value for body sent at timestamp (the
// X-Jit-Timestamp value, Unix seconds): "v1=" followed by the lower-case
// hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret. Binding the
// timestamp into the MAC is what makes the replay window enforceable.
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

// Verify checks a webhook call as a receiver gets it: the
// X-Jit-Timestamp header value, the X-Jit-Signature header value and the
// raw body, against secret, at time now. It returns nil when one of the
// signature's comma-separated "v1=<hex>" entries matches (several entries
// let a sender sign with an old and a new secret during rotation; entries
// of other schemes are ignored) and the timestamp is within tolerance of
// now in either direction; tolerance <= 0 means DefaultTolerance.
//
// MACs are compared in constant time (hmac.Equal). The error wraps one of
// ErrNoSecret, ErrMalformed, ErrMismatch or ErrStale and never contains
// the secret or an expected MAC. A receiver must also deduplicate on the
// Idempotency-Key header: the window limits replays, it does not prevent
// a replay inside it.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil || ts <= 0 {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrMalformed, truncate(timestamp, 32))
	}
	var candidates [][]byte
	for _, part := range strings.Split(signature, ",") {
		part = strings.TrimSpace(part)
		hexMAC, ok := strings.CutPrefix(part, signatureScheme)
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
	want := mac(secret, strings.TrimSpace(timestamp), body)
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
	if d := now.Sub(sent); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: sent at %s, now %s, tolerance %s", ErrStale,
			sent.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), tolerance)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
