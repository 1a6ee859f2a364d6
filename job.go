package jit

import "time"

// JobKind says what a durable job does.
type JobKind string

const (
	// JobGrant creates the access of an approved request in its target.
	JobGrant JobKind = "grant"
	// JobRevoke removes the access of a request: at expiry (scheduled for
	// ExpiresAt when the grant becomes active) or early (relinquish, revoke).
	// It is never given up.
	JobRevoke JobKind = "revoke"
	// JobLapse ends a request still pending at its LapsesAt.
	JobLapse JobKind = "lapse"
	// JobReconcile compares every target with the store (drift). There is
	// one for the whole deployment (no request); each run schedules the
	// next, and its lease keeps replicas from running it twice at once.
	JobReconcile JobKind = "reconcile"
	// JobNotify delivers one Notification (its Payload, JSON) to one sink
	// (Key "notify:<sink>:<notification ID>"), retried with backoff.
	JobNotify JobKind = "notify"
)

// Job is a durable unit of work. Provider calls run only from jobs, never
// inside a store transaction, so that a crash at any point leaves a job that
// a restart (or another replica) finishes (invariant 3).
type Job struct {
	ID int64 `json:"id"`
	// Key is unique among pending jobs. Enqueueing a job whose key exists
	// keeps one job, due at the earlier of the two times.
	Key       string    `json:"key"`
	Kind      JobKind   `json:"kind"`
	RequestID string    `json:"request_id"`
	RunAt     time.Time `json:"run_at"`
	// Attempt counts failed runs so far.
	Attempt    int       `json:"attempt"`
	LastError  string    `json:"last_error,omitempty"`
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
	CreatedAt  time.Time `json:"created_at"`
	// Payload is the job's own data (JSON), for kinds that need more than
	// a request ID (JobNotify). It never holds a secret. A merge of two
	// jobs with one key keeps the first one's payload.
	Payload []byte `json:"payload,omitempty"`
}

// JobKey is the key of the job of kind k for request id.
func JobKey(k JobKind, requestID string) string { return string(k) + ":" + requestID }

// NewJob returns a job of kind k for request id, due at runAt.
func NewJob(k JobKind, requestID string, runAt time.Time) Job {
	return Job{Key: JobKey(k, requestID), Kind: k, RequestID: requestID, RunAt: runAt}
}

// ClaimParams says which jobs Store.ClaimJobs may lease and for how long.
type ClaimParams struct {
	Owner string
	Now   time.Time
	Lease time.Duration
	Limit int
}
