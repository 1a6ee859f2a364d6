// Package pgserver runs a private PostgreSQL server for one test, so that
// the test may stop and restart it (fault tests) without disturbing the
// shared server other tests use.
//
// The server's data directory and socket live in a temporary directory
// removed when the test ends; it listens on 127.0.0.1 on a free port, with
// trust authentication for the user "postgres". As root, initdb and
// postgres (which refuse to run as root) run as the "postgres" OS user.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// EnvBin names the variable that may point at the directory holding initdb
// and postgres, for installations outside /usr/lib/postgresql/<ver>/bin.
const EnvBin = "JIT_TEST_POSTGRES_BIN"

// readyTimeout bounds how long Start waits for the server to accept
// connections; generous, since CI machines are slow under -race.
const readyTimeout = 60 * time.Second

// Server is a private PostgreSQL server. Its methods must be called from
// the test's goroutines, not after the test ended.
type Server struct {
	bin     string
	dir     string // the temporary directory: data/, sock/, server.log
	port    int
	cred    *syscall.Credential // nil when not running as root
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start creates a database cluster in a temporary directory and starts a
// server on it. The server is stopped and its files removed when the test
// ends. Without PostgreSQL's binaries the test is skipped, except in CI
// (CI=true), where that is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		msg := "no private PostgreSQL server for this test: " + err.Error() +
			" (install PostgreSQL or set " + EnvBin + " to the directory of initdb and postgres)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		s.cred, err = postgresUser()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Not t.TempDir: its parents are private to root, and the server may
	// run as another user. The socket path must also stay short (about
	// 100 bytes at most), which a test's temporary directory may not.
	s.dir, err = os.MkdirTemp("", "jit-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(syscall.SIGQUIT); err != nil {
			t.Errorf("stop the private PostgreSQL server: %v", err)
		}
		if err := os.RemoveAll(s.dir); err != nil {
			t.Errorf("remove the private PostgreSQL server's files: %v", err)
		}
	})
	if err := os.Mkdir(filepath.Join(s.dir, "sock"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.logPath = filepath.Join(s.dir, "server.log")
	if s.cred != nil {
		if err := chownTree(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	initdb := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A port picked now could be taken before the server binds it; try a
	// few.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == 3 {
			t.Fatalf("start the private PostgreSQL server: %v", err)
		}
	}
}

// URL returns a DSN for the database "postgres" of the server, as the
// superuser "postgres" over TCP.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the TCP port the server listens on; it stays the same across
// restarts.
func (s *Server) Port() int { return s.port }

// Stop shuts the server down in "fast" mode, as an administrator's
// pg_ctl stop -m fast does: open transactions are rolled back, clients are
// disconnected, and the call returns once the server has exited.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGINT); err != nil {
		t.Fatalf("stop the private PostgreSQL server: %v", err)
	}
}

// Kill stops the server in "immediate" mode, like a crash: no shutdown
// checkpoint, recovery at the next start.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGQUIT); err != nil {
		t.Fatalf("kill the private PostgreSQL server: %v", err)
	}
}

// Start starts the stopped server again on the same port and data, and
// returns once it accepts connections. Starting a running server is an
// error.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("start the private PostgreSQL server again: %v", err)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// command returns bin/name with args, run as the server's OS user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// start runs postgres in the foreground of a child process and waits until
// it accepts connections (or exits).
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("the server is already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := s.command("postgres", "-D", s.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories="+filepath.Join(s.dir, "sock"),
		"-c", "max_connections=100",
		// Durability across a machine crash is not what the tests
		// check; a fast shutdown still checkpoints everything.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB",
		"-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Should the test binary die, take the server with it rather than
	// leave it holding the port.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgconn.Connect(ctx, s.URL())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			return fmt.Errorf("postgres exited at start (%v); its log ends with:\n%s", cmd.ProcessState, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked(syscall.SIGQUIT)
			return fmt.Errorf("postgres did not accept connections within %v (last error: %v); its log ends with:\n%s",
				readyTimeout, err, s.logTail())
		}
	}
}

// stop signals the server (SIGINT: fast shutdown, SIGQUIT: immediate) and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(sig)
}

func (s *Server) stopLocked(sig syscall.Signal) error {
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal postgres: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
	}
	// Never leave it running: the server's own children follow their
	// postmaster out.
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("postgres did not exit within 30s of %v; killed. Its log ends with:\n%s", sig, s.logTail())
}

// logTail returns the last lines of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// findBin returns the directory holding initdb and postgres: $EnvBin, else
// the newest /usr/lib/postgresql/<ver>/bin (Debian and Ubuntu), else the
// directory of an initdb on PATH.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBin); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("%s=%s holds no initdb and postgres", EnvBin, dir)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first, compared as numbers (9.6 < 10 < 15).
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb and postgres not found in /usr/lib/postgresql/*/bin or on PATH")
}

// version returns the major version of a /usr/lib/postgresql/<ver>/bin path
// as a comparable number.
func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// postgresUser returns the credentials of the "postgres" OS user, which
// the server runs as when the tests run as root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the private PostgreSQL server needs the OS user postgres to run as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("OS user postgres has non-numeric ids %s:%s", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// chownTree gives dir and everything under it to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to the postgres OS user: %w", p, err)
		}
		return nil
	})
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if port <= 0 {
		return 0, errors.New("find a free port: no port assigned")
	}
	return port, nil
}
