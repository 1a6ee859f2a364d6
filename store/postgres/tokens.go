package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
)

// TokenByHash returns the token stored under hash (the SHA-256 hex of the
// plain token), or ECodeNotFound. The lookup is by a unique index on the
// digest: timing can at most reveal something about the digest of a guess,
// never about a stored token, because the digest is computed from the
// guess.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*jit.Token, error) {
	var (
		t       jit.Token
		created time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT id, email, name, hash, created_at FROM tokens WHERE hash = $1`, hash).
		Scan(&t.ID, &t.Email, &t.Name, &t.Hash, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		// The message names no part of the hash: it is derived from a
		// credential.
		return nil, jit.Errorf(jit.ECodeNotFound, "token not found")
	} else if err != nil {
		return nil, mapReadErr("look up token", err)
	}
	t.CreatedAt = created.UTC()
	return &t, nil
}
