package jit

import (
	"context"
	"time"
)

// Change is one atomic write: a request's new state with its audit events
// and the jobs it starts or ends. Stores apply all of it in one transaction
// or none of it (invariant 2).
type Change struct {
	// Request, if set, is inserted when Version is 0 and updated otherwise.
	// An update succeeds only when the stored version equals Version (else
	// the store returns an *Error with ECodeConflict and writes nothing). On
	// success Request.Version is incremented to the stored version.
	Request *Request
	// Approval, if set, is recorded for its request.
	Approval *Approval
	// Events are appended to the audit chain in order. The store seals each
	// one (Seq, PrevHash, Hash) and writes the sealed values back.
	Events []AuditEvent
	// Enqueue adds jobs (see Job.Key for how duplicates merge).
	Enqueue []Job
	// DeleteJobs removes pending jobs by key; a missing key is not an error.
	DeleteJobs []string
	// Token, if set, is inserted.
	Token *Token
	// PublicKey, if set, becomes its person's public key, replacing any
	// earlier one (CreatedAt says when).
	PublicKey *PublicKey
	// Credential, if set, is stored for its request (an envelope already
	// stored for the request is replaced: a grant that runs again issues
	// a new credential).
	Credential *CredentialEnvelope
}

// Store keeps requests, approvals, the audit chain, durable jobs and API
// tokens. Every method is safe for concurrent use.
type Store interface {
	// Apply commits c atomically. Errors: ECodeConflict when the request
	// changed since it was read (nothing written); others are internal.
	Apply(ctx context.Context, c *Change) error

	// GetRequest returns one request with its approvals, or ECodeNotFound.
	GetRequest(ctx context.Context, id string) (*Request, error)
	// ListRequests returns requests newest first, with their approvals.
	ListRequests(ctx context.Context, f RequestFilter) ([]*Request, error)
	// FindActive returns requester's newest request on resource that is
	// active with ExpiresAt after now, or nil when there is none.
	FindActive(ctx context.Context, requester, resource string, now time.Time) (*Request, error)
	// CountRequests returns the number of requests in each status.
	CountRequests(ctx context.Context) (map[Status]int, error)

	// ListAudit returns audit events in Seq order.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// ClaimJobs leases up to p.Limit jobs due at p.Now whose lease is free
	// or past, for p.Lease, to p.Owner, earliest first.
	ClaimJobs(ctx context.Context, p ClaimParams) ([]Job, error)
	// RetryJob releases a job leased to owner for another run at runAt,
	// counting the failed attempt and recording lastErr (never a secret).
	// Errors: ECodeConflict when owner no longer holds the lease (another
	// process took the job over), ECodeNotFound when the job is gone.
	RetryJob(ctx context.Context, id int64, owner string, runAt time.Time, lastErr string) error
	// RenewLease extends the lease of job id, held by owner, to until, so
	// that a long-running job is not taken over while its owner is alive.
	// Errors: ECodeConflict when owner no longer holds the lease (it ran
	// out and the job was claimed elsewhere), ECodeNotFound when the job is
	// gone.
	RenewLease(ctx context.Context, id int64, owner string, until time.Time) error
	// NextJobAt returns when the earliest pending job is due (ok false when
	// there are none). Leased jobs count at their lease deadline.
	NextJobAt(ctx context.Context) (at time.Time, ok bool, err error)
	// ListJobs returns pending jobs, earliest first (for operators and
	// the overdue gauge).
	ListJobs(ctx context.Context, kind JobKind, limit int) ([]Job, error)

	// TokenByHash returns the token with this SHA-256 hex hash, or
	// ECodeNotFound.
	TokenByHash(ctx context.Context, hash string) (*Token, error)

	// PublicKey returns email's public key, or ECodeNotFound.
	PublicKey(ctx context.Context, email string) (*PublicKey, error)
	// Credential returns the credential envelope stored for a request, or
	// ECodeNotFound.
	Credential(ctx context.Context, requestID string) (*CredentialEnvelope, error)

	Close() error
}

// ChangeNotice tells one process about a change another committed.
type ChangeNotice struct {
	// RequestID is the request that changed, if any.
	RequestID string `json:"r,omitempty"`
	// Jobs is true when the change enqueued jobs (the scheduler should
	// look for due work).
	Jobs bool `json:"j,omitempty"`
	// Request, when the notice could carry it, is the request as the
	// change stored it (its API form, without the fields the API does not
	// show), and Version its stored version. Long-polls answer from it
	// instead of reading the store again; they must still check who may
	// see it.
	Request *Request `json:"q,omitempty"`
	Version int      `json:"v,omitempty"`
}

// ChangeListener is an optional capability of stores that several
// processes share (PostgreSQL): each process hears about the changes the
// others commit, so that schedulers wake for new jobs and long-polls and
// live pages see a change made on another replica at once.
type ChangeListener interface {
	// ListenChanges calls fn for every change committed through any Store
	// on the same database (this one included) until ctx ends. It
	// reconnects by itself after a lost connection; notices sent while it
	// was disconnected are lost, so callers keep a slow poll as well.
	ListenChanges(ctx context.Context, fn func(ChangeNotice)) error
}
