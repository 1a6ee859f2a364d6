// Package jitdtest starts a complete jitd (SQLite store in a temporary
// folder, policy, scheduler, HTTP API on a random loopback port) for
// end-to-end tests.
package jitdtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/internal/daemon"
)

// Options configures Start.
type Options struct {
	// Policy is the jit.yaml content (default: the demo policy of jitd dev).
	Policy []byte
	// Clock defaults to the system clock.
	Clock jit.Clock
	// Logger defaults to discarding logs (set JIT_TEST_LOG=1 to see them).
	Logger *slog.Logger
	// Postgres runs the server on this PostgreSQL DSN instead of SQLite
	// (see pgtest.NewDatabase).
	Postgres string
	// Addr is the listen address (default a random loopback port); tests
	// whose policy must name jitd's own URL pick the port first.
	Addr string
}

// Server is a running jitd for one test.
type Server struct {
	*daemon.Daemon
	// Dir is the data folder; PolicyPath the policy file jitd watches.
	Dir        string
	PolicyPath string
}

// Dev tokens accepted by the server (it runs in dev mode on loopback).
const (
	Alice = "dev-alice" // alice@example.com, engineering (requester)
	Bob   = "dev-bob"   // bob@example.com, sre (approver)
	Carol = "dev-carol" // carol@example.com, admin
)

// Start starts jitd and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	if o.Policy == nil {
		o.Policy = daemon.DemoPolicy
	}
	path := filepath.Join(dir, "jit.yaml")
	if err := os.WriteFile(path, o.Policy, 0o600); err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		if os.Getenv("JIT_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		} else {
			o.Logger = slog.New(slog.DiscardHandler)
		}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	d, err := daemon.Start(context.Background(), daemon.Options{
		PolicyPath: path, Addr: o.Addr, DataDir: dir, Dev: true, Logger: o.Logger, Clock: o.Clock,
		WatchInterval: 50 * time.Millisecond, SchedulerMaxSleep: 200 * time.Millisecond, Postgres: o.Postgres,
	})
	if err != nil {
		t.Fatalf("start jitd: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("stop jitd: %v", err)
		}
	})
	return &Server{Daemon: d, Dir: dir, PolicyPath: path}
}

// WritePolicy replaces the policy file; jitd reloads it on its own.
func (s *Server) WritePolicy(t testing.TB, content []byte) {
	t.Helper()
	tmp := s.PolicyPath + ".tmp"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.PolicyPath); err != nil {
		t.Fatal(err)
	}
}
