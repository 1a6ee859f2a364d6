package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
)

// PublicKey returns email's public key, or ECodeNotFound when email has
// registered none; ECodeUnavailable when the database cannot be reached.
// It only reads.
func (s *Store) PublicKey(ctx context.Context, email string) (*jit.PublicKey, error) {
	var (
		k       jit.PublicKey
		created time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT email, public_key, created_at FROM public_keys WHERE email = $1`, email).
		Scan(&k.Email, &k.Key, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, jit.Errorf(jit.ECodeNotFound, "%s has no public key", email)
	} else if err != nil {
		return nil, mapReadErr("read public key of "+email, err)
	}
	k.CreatedAt = created.UTC()
	return &k, nil
}

// Credential returns the credential envelope stored for request
// requestID, or ECodeNotFound when there is none (the request does not
// exist, or no grant of it issued a credential); ECodeUnavailable when the
// database cannot be reached. It only reads.
func (s *Store) Credential(ctx context.Context, requestID string) (*jit.CredentialEnvelope, error) {
	var (
		e       jit.CredentialEnvelope
		created time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT request_id, recipient, kind, envelope, created_at
		FROM credentials WHERE request_id = $1`, requestID).
		Scan(&e.RequestID, &e.Recipient, &e.Kind, &e.Envelope, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s has no credential", requestID)
	} else if err != nil {
		return nil, mapReadErr("read credential of "+requestID, err)
	}
	e.CreatedAt = created.UTC()
	return &e, nil
}
