// Package jit holds the domain of the just-in-time access system: requests and
// their lifecycle states, approvals, identities, audit events, durable jobs,
// error codes and the interfaces the adapters implement. It imports only the
// standard library so that every adapter (store, HTTP, providers) can depend on
// it without depending on each other.
package jit

import "time"

// Clock is the source of time for all logic. Production code passes
// SystemClock; tests pass a controllable clock so that expiry, lapse and
// backoff can be tested without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock reads the wall clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
