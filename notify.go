package jit

import (
	"context"
	"time"
)

// Notification tells the people and systems around a request that it
// changed: a request was filed, approved, denied, granted, revoked, ran
// out... Notifiers (Slack, email, webhooks) turn it into messages.
type Notification struct {
	// ID identifies the notification to one sink: it is the same on every
	// delivery attempt, so that a sink can drop duplicates (at-least-once
	// delivery becomes effectively once).
	ID string `json:"id"`
	// Action is the audit action of the change (ActionSubmit,
	// ActionApprove, ActionDeny, ActionGrant, ActionRevoke, ActionExpire,
	// ActionRelinquish, ActionRevokeDone, ActionGrantFailed, ActionCancel, ActionLapse,
	// ActionExtend, ...) or ActionRemind for a reminder before expiry.
	Action string `json:"action"`
	// Actor is who made the change (an email, or SystemActor).
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Request is the request as the change stored it.
	Request Request `json:"request"`
	// Version is Request's stored version after the change.
	Version int `json:"version"`
}

// ActionRemind is the action of a reminder that access is about to
// expire. It is a notification only, not an audit action.
const ActionRemind = "remind"

// Notifier delivers notifications to one kind of sink.
type Notifier interface {
	// Name identifies the sink in job keys, logs and metrics ("slack",
	// "email", "webhook"). It must be stable.
	Name() string
	// Notify delivers n. It is called at least once per notification
	// and again after an error (with backoff), so it must be idempotent
	// on n.ID. An error wrapped with Permanent is not retried.
	Notify(ctx context.Context, n Notification) error
}

// PermanentError marks a notification failure that retrying cannot fix
// (the recipient does not exist, the message is refused as malformed).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }
