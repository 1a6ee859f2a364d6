// Package benchenv starts jitd for the benchmark programs: a temporary
// data folder, a policy with an auto-approved forward-auth resource, and
// API tokens for many distinct users (so that per-identity rate limits and
// caches behave as in production). It runs one jitd on the embedded SQLite
// store, or several replicas sharing a scratch PostgreSQL database.
package benchenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/internal/daemon"
)

// Env is a running jitd (one or several replicas) with users.
type Env struct {
	// Daemon is the first replica.
	*daemon.Daemon
	// Replicas are all replicas, Daemon first; they share one store.
	Replicas []*daemon.Daemon
	Dir      string
	// Users and Tokens are parallel: Tokens[i] authenticates Users[i].
	Users  []string
	Tokens []string

	dropDB func() error
}

// Config configures StartConfig.
type Config struct {
	// Users is the number of distinct users (at least 1).
	Users int
	// MaxDuration is the longest grant the rule allows.
	MaxDuration time.Duration
	// Postgres, when set, is the DSN of a PostgreSQL server: a scratch
	// database is created on it for the run and dropped by Close.
	// Empty runs on the embedded SQLite store.
	Postgres string
	// Replicas is the number of jitd replicas (default 1; more than one
	// needs Postgres, as replicas share the store).
	Replicas int
}

func (c *Config) validate() error {
	if c.Users < 1 {
		return fmt.Errorf("benchenv: Users must be at least 1, got %d", c.Users)
	}
	if c.MaxDuration <= 0 {
		return fmt.Errorf("benchenv: MaxDuration must be positive, got %s", c.MaxDuration)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas < 1 {
		return fmt.Errorf("benchenv: Replicas must be at least 1, got %d", c.Replicas)
	}
	if c.Replicas > 1 && c.Postgres == "" {
		return errors.New("benchenv: several replicas need a shared store: give a PostgreSQL DSN")
	}
	return nil
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

// Start starts one jitd on SQLite with n users.
func Start(ctx context.Context, n int, maxDuration time.Duration) (*Env, error) {
	return StartConfig(ctx, Config{Users: n, MaxDuration: maxDuration})
}

// StartConfig starts the replicas cfg describes. On error, everything it
// started or created is stopped and removed again.
func StartConfig(ctx context.Context, cfg Config) (env *Env, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jit-bench-")
	if err != nil {
		return nil, err
	}
	env = &Env{Dir: dir}
	defer func() {
		if err != nil {
			env.Close()
			env = nil
		}
	}()
	dsn := ""
	if cfg.Postgres != "" {
		dsn, env.dropDB, err = scratchDatabase(ctx, cfg.Postgres)
		if err != nil {
			return env, err
		}
	}
	env.Users = make([]string, cfg.Users)
	for i := range env.Users {
		env.Users[i] = fmt.Sprintf("user%03d@bench.example", i)
	}
	path := filepath.Join(dir, "jit.yaml")
	if err := os.WriteFile(path, Policy(env.Users, cfg.MaxDuration), 0o600); err != nil {
		return env, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	for i := 0; i < cfg.Replicas; i++ {
		d, err := daemon.Start(ctx, daemon.Options{PolicyPath: path, Addr: "127.0.0.1:0", DataDir: dir, Logger: log, Postgres: dsn})
		if err != nil {
			return env, fmt.Errorf("start replica %d: %w", i+1, err)
		}
		env.Replicas = append(env.Replicas, d)
	}
	env.Daemon = env.Replicas[0]
	for _, u := range env.Users {
		plain, hash, err := jit.NewTokenSecret()
		if err != nil {
			return env, err
		}
		tok := &jit.Token{ID: "tok_" + hash[:12], Email: u, Hash: hash, CreatedAt: time.Now().UTC()}
		if err := env.Store.Apply(ctx, &jit.Change{Token: tok}); err != nil {
			return env, fmt.Errorf("create token: %w", err)
		}
		env.Tokens = append(env.Tokens, plain)
	}
	return env, nil
}

// Close stops every replica and removes the data (the scratch database
// too).
func (e *Env) Close() {
	for _, d := range e.Replicas {
		if err := d.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "benchenv: stop jitd:", err)
		}
	}
	if e.dropDB != nil {
		if err := e.dropDB(); err != nil {
			fmt.Fprintln(os.Stderr, "benchenv:", err)
		}
	}
	os.RemoveAll(e.Dir)
}

// scratchDatabase creates a database with a unique name on the server
// serverDSN (a postgres:// URL) names, and returns its DSN and a function
// that drops it. Runs start from an empty database, so they compare.
func scratchDatabase(ctx context.Context, serverDSN string) (string, func() error, error) {
	u, err := url.Parse(serverDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The DSN may hold a password: it is not repeated.
		return "", nil, errors.New("benchenv: -store must be a postgres:// URL (not shown: it may hold a password)")
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := "jit_bench_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		return "", nil, fmt.Errorf("benchenv: connect to the PostgreSQL server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("benchenv: create database %s: %w", name, err)
	}
	drop := func() error {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, serverDSN)
		if err != nil {
			return fmt.Errorf("connect to drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
