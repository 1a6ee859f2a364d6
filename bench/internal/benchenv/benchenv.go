// Package benchenv starts a jitd for the benchmark programs: a temporary
// data folder, a policy with an auto-approved forward-auth resource, and
// API tokens for many distinct users (so that per-identity rate limits and
// caches behave as in production).
package benchenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/internal/daemon"
)

// Env is a running jitd with users.
type Env struct {
	*daemon.Daemon
	Dir string
	// Users and Tokens are parallel: Tokens[i] authenticates Users[i].
	Users  []string
	Tokens []string
}

// Policy returns a policy with one auto-approved http resource, bench-app,
// that every user in group bench may request for up to maxDuration.
func Policy(users []string, maxDuration time.Duration) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  rate_limit: {writes_per_minute: -1}
identities:
`)
	for _, u := range users {
		fmt.Fprintf(&b, "  - {email: %s, groups: [bench]}\n", u)
	}
	fmt.Fprintf(&b, `resources:
  - name: bench-app
    provider: http
    settings: {host: bench.localhost}
    access: [{name: user}]
rules:
  - name: bench
    requesters: {groups: [bench]}
    resources: [bench-app]
    max_duration: %s
    reason: {required: true}
    auto_approve: true
`, maxDuration)
	return []byte(b.String())
}

// Start starts jitd with n users.
func Start(ctx context.Context, n int, maxDuration time.Duration) (*Env, error) {
	dir, err := os.MkdirTemp("", "jit-bench-")
	if err != nil {
		return nil, err
	}
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("user%03d@bench.example", i)
	}
	path := filepath.Join(dir, "jit.yaml")
	if err := os.WriteFile(path, Policy(users, maxDuration), 0o600); err != nil {
		return nil, err
	}
	d, err := daemon.Start(ctx, daemon.Options{PolicyPath: path, Addr: "127.0.0.1:0", DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	env := &Env{Daemon: d, Dir: dir, Users: users}
	for _, u := range users {
		plain, hash, err := jit.NewTokenSecret()
		if err != nil {
			return nil, err
		}
		tok := &jit.Token{ID: "tok_" + hash[:12], Email: u, Hash: hash, CreatedAt: time.Now().UTC()}
		if err := d.Store.Apply(ctx, &jit.Change{Token: tok}); err != nil {
			return nil, fmt.Errorf("create token: %w", err)
		}
		env.Tokens = append(env.Tokens, plain)
	}
	return env, nil
}

// Close stops jitd and removes its data.
func (e *Env) Close() {
	e.Daemon.Close()
	os.RemoveAll(e.Dir)
}
