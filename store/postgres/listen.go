package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jitaccess/jit"
)

const (
	// changesChannel is the LISTEN/NOTIFY channel on which every Apply
	// that changes a request or enqueues jobs announces it.
	changesChannel = "jit_changes"
	notifyQuery    = `SELECT pg_notify($1, $2)`
)

var _ jit.ChangeListener = (*Store)(nil)

// ListenChanges calls fn for every change announced on the database by any
// replica (this one included) until ctx ends. It holds one connection of
// the pool while it listens and reconnects with backoff when the
// connection is lost. fn runs on the listening goroutine: it must be quick.
func (s *Store) ListenChanges(ctx context.Context, fn func(jit.ChangeNotice)) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, fn, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			break
		}
		s.cfg.Logger.Warn("postgres: listening for changes failed; reconnecting", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 10*time.Second {
			backoff = 10 * time.Second
		}
	}
	return ctx.Err()
}

// listenOnce listens on one connection until it fails or ctx ends;
// connected is called once LISTEN succeeded.
func (s *Store) listenOnce(ctx context.Context, fn func(jit.ChangeNotice), connected func()) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapWriteErr("acquire a connection to listen", err)
	}
	// The connection will be in LISTEN mode: take it out of the pool for
	// good, so that no other query ever shares it.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return mapWriteErr("listen for changes", err)
	}
	connected()
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var notice jit.ChangeNotice
		if err := json.Unmarshal([]byte(n.Payload), &notice); err != nil {
			// Someone else NOTIFYing on our channel; not ours to act on.
			s.cfg.Logger.Warn("postgres: ignoring a malformed change notice", "err", err)
			continue
		}
		fn(notice)
	}
}
