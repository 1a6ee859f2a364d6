package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jitaccess/jit"
)

// PublicKey returns email's public key, or ECodeNotFound when email has
// registered none. It only reads.
func (s *Store) PublicKey(ctx context.Context, email string) (*jit.PublicKey, error) {
	var (
		k       jit.PublicKey
		created int64
	)
	err := s.rs.queryRow(ctx, `SELECT email, public_key, created_at FROM public_keys WHERE email = ?`, email).
		Scan(&k.Email, &k.Key, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jit.Errorf(jit.ECodeNotFound, "%s has no public key", email)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: read public key of %s: %w", email, err)
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	return &k, nil
}

// Credential returns the credential envelope stored for request
// requestID, or ECodeNotFound when there is none (the request does not
// exist, or no grant of it issued a credential). It only reads.
func (s *Store) Credential(ctx context.Context, requestID string) (*jit.CredentialEnvelope, error) {
	var (
		e       jit.CredentialEnvelope
		created int64
	)
	err := s.rs.queryRow(ctx, `SELECT request_id, recipient, kind, envelope, created_at
		FROM credentials WHERE request_id = ?`, requestID).
		Scan(&e.RequestID, &e.Recipient, &e.Kind, &e.Envelope, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s has no credential", requestID)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: read credential of %s: %w", requestID, err)
	}
	e.CreatedAt = time.UnixMicro(created).UTC()
	return &e, nil
}
