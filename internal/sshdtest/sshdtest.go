// Package sshdtest runs a real OpenSSH server (Debian's openssh-server,
// /usr/sbin/sshd) for tests of SSH certificate access: one sshd per test on
// a free 127.0.0.1 port, in the foreground, with its own host key, trusted
// user CA keys, a revoked keys file (KRL) and an authorized principals file
// in the test's temporary directory, and the real ssh client to log in.
//
// The server lets certificates signed by a trusted CA for one of its
// principals ("deploy" unless told otherwise) log in as the user running
// the test; it accepts no password and no plain key. Tests skip when sshd
// or ssh is missing, unless CI=true, where they fail.
package sshdtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Paths of the OpenSSH programs, as Debian installs them.
const (
	SSHDPath = "/usr/sbin/sshd"
	SSHPath  = "/usr/bin/ssh"
)

// Bounds of waiting; guards against a stuck test, not performance checks.
const (
	startTimeout = 15 * time.Second
	loginTimeout = 30 * time.Second
	startTries   = 3
)

// Require returns the path of the program name (an absolute path or a name
// looked up on PATH). When it is missing the test is skipped, or fails when
// CI=true, so that CI cannot pass without the real programs.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (apt-get install openssh-server openssh-client): %v", name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Config describes the server to start.
type Config struct {
	// TrustedCAKeys are the CA public keys in authorized_keys form, one
	// per element, written to the TrustedUserCAKeys file.
	TrustedCAKeys []string
	// Principals are the certificate principals that may log in as the
	// test's user (the AuthorizedPrincipalsFile); nil means ["deploy"].
	Principals []string
	// KRL is the initial content of the RevokedKeys file; nil means a
	// valid KRL revoking nothing (sshd refuses every key when the file is
	// missing).
	KRL []byte
}

// Server is a running sshd.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// User is the OS user that certificates log in as: the test's own.
	User string
	// Dir holds the configuration, keys and files of the server.
	Dir string
	// KRLFile is the RevokedKeys file; SetKRL replaces it.
	KRLFile string
	// PrincipalsFile is the AuthorizedPrincipalsFile.
	PrincipalsFile string

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// emptyKRL is a KRL (format version 1) with no sections: it revokes
// nothing.
func emptyKRL() []byte {
	b := []byte("SSHKRL\n\x00")
	b = append(b, 0, 0, 0, 1)         // format version
	b = append(b, make([]byte, 8)...) // krl_version
	b = append(b, make([]byte, 8)...) // generated_date
	b = append(b, make([]byte, 8)...) // flags
	b = append(b, 0, 0, 0, 0)         // reserved
	b = append(b, 0, 0, 0, 0)         // comment
	return b
}

// Start starts sshd for the test and stops it in t.Cleanup. It returns
// once sshd listens on its port. When the test fails, the server's log
// is written to the test log.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	sshd := Require(t, SSHDPath)
	Require(t, SSHPath)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshdtest: current user: %v", err)
	}
	if os.Geteuid() == 0 {
		// sshd run as root chroots its unprivileged child into this
		// directory and refuses to start without it.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshdtest: privilege separation directory: %v", err)
		}
	}
	dir := t.TempDir()
	s := &Server{
		User:           u.Username,
		Dir:            dir,
		KRLFile:        filepath.Join(dir, "revoked.krl"),
		PrincipalsFile: filepath.Join(dir, "principals"),
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	if _, err := writePrivateKey(hostKey); err != nil {
		t.Fatalf("sshdtest: host key: %v", err)
	}
	caFile := filepath.Join(dir, "trusted_user_ca_keys")
	var ca strings.Builder
	for _, k := range cfg.TrustedCAKeys {
		ca.WriteString(strings.TrimSpace(k) + "\n")
	}
	principals := cfg.Principals
	if principals == nil {
		principals = []string{"deploy"}
	}
	krl := cfg.KRL
	if krl == nil {
		krl = emptyKRL()
	}
	for name, content := range map[string][]byte{
		caFile:           []byte(ca.String()),
		s.PrincipalsFile: []byte(strings.Join(principals, "\n") + "\n"),
		s.KRLFile:        krl,
	} {
		if err := os.WriteFile(name, content, 0o644); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
	}

	var lastErr error
	for try := 0; try < startTries; try++ {
		port, err := pickPort()
		if err != nil {
			t.Fatalf("sshdtest: free port: %v", err)
		}
		conf := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(conf, []byte(config(port, hostKey, caFile, s.KRLFile, s.PrincipalsFile, filepath.Join(dir, "sshd.pid"))), 0o644); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.Port = port
		if lastErr = s.start(t, sshd, conf); lastErr == nil {
			return s
		}
		// Another process may have taken the port between freePort and
		// sshd's bind: try another.
	}
	t.Fatalf("sshdtest: sshd did not start: %v", lastErr)
	return nil
}

// config returns the sshd_config of a test server.
func config(port int, hostKey, caFile, krlFile, principalsFile, pidFile string) string {
	lines := []string{
		"ListenAddress 127.0.0.1",
		"Port " + strconv.Itoa(port),
		"HostKey " + hostKey,
		"PidFile " + pidFile,
		"TrustedUserCAKeys " + caFile,
		"RevokedKeys " + krlFile,
		"AuthorizedPrincipalsFile " + principalsFile,
		// Only certificates: no plain keys, no passwords.
		"AuthorizedKeysFile none",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"HostbasedAuthentication no",
		"UsePAM no",
		// Certificates (public key authentication) may log in as root.
		"PermitRootLogin prohibit-password",
		// The files live in a temporary directory others may list.
		"StrictModes no",
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"X11Forwarding no",
		"LogLevel VERBOSE",
		"MaxStartups 50",
	}
	return strings.Join(lines, "\n") + "\n"
}

// start runs sshd with conf and waits until it listens on s.Port or exits.
//
// Readiness is sshd's own "Server listening" log line, not a connection
// to the port: when another process took the port between freePort and
// sshd's bind, a connection would reach that process while sshd is about
// to exit, and the tests would log in to a server that is not theirs.
func (s *Server) start(t testing.TB, sshd, conf string) error {
	t.Helper()
	// -D: stay in the foreground; -e: log to stderr, which is kept for
	// the test log.
	cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", sshd, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	listening := fmt.Sprintf("Server listening on 127.0.0.1 port %d.", s.Port)
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(log.String(), listening) {
		select {
		case <-done:
			return fmt.Errorf("sshd exited at start:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("sshd did not listen on port %d within %s:\n%s", s.Port, startTimeout, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd, s.log, s.done = cmd, log, done
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	return nil
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string { return s.log.String() }

// SetKRL replaces the RevokedKeys file atomically (a new file renamed over
// the old one), as a host's refresh job should. sshd reads the file at each
// authentication.
func (s *Server) SetKRL(t testing.TB, krl []byte) {
	t.Helper()
	tmp := s.KRLFile + ".new"
	if err := os.WriteFile(tmp, krl, 0o644); err != nil {
		t.Fatalf("sshdtest: write KRL: %v", err)
	}
	if err := os.Rename(tmp, s.KRLFile); err != nil {
		t.Fatalf("sshdtest: replace KRL: %v", err)
	}
}

// Result is the outcome of a login.
type Result struct {
	// OK is true when ssh exited 0: the login succeeded and the remote
	// command "true" ran.
	OK bool
	// Output is ssh's combined output (its errors).
	Output string
	// Err is the error from running ssh (an exit status when refused).
	Err error
}

func (r Result) String() string {
	if r.OK {
		return "login succeeded"
	}
	return fmt.Sprintf("login failed (%v): %s", r.Err, strings.TrimSpace(r.Output))
}

// Login runs the real ssh client with the private key in keyFile and the
// certificate in certFile (authorized_keys form) as the server's User and
// the remote command "true":
//
//	ssh -o IdentityFile=KEY -o CertificateFile=CERT -o IdentitiesOnly=yes
//	    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
//	    -o BatchMode=yes -p PORT USER@127.0.0.1 true
//
// plus options that keep the user's own ssh configuration and agent out.
// The paths are quoted and their '%' escaped for ssh.
func (s *Server) Login(t testing.TB, keyFile, certFile string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, SSHPath,
		"-F", "/dev/null",
		// -i would check the path before expanding %-tokens in it, so
		// the option form takes the escaped path.
		"-o", "IdentityFile="+quoteOption(sshPath(keyFile)),
		"-o", "CertificateFile="+quoteOption(sshPath(certFile)),
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "PreferredAuthentications=publickey",
		"-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(s.Port),
		s.User+"@127.0.0.1", "true")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("sshdtest: ssh did not finish within %s: %s", loginTimeout, out)
	}
	return Result{OK: err == nil, Output: string(out), Err: err}
}

// LoginRefused checks that a login with keyFile and certFile is refused
// and that sshd logs why (part of a log line), so that a refusal for
// another reason, such as a broken KRL that refuses every key, does not
// pass for the one the test means. It reports failures with t.Errorf.
func (s *Server) LoginRefused(t testing.TB, keyFile, certFile, why string) {
	t.Helper()
	before := len(s.Log())
	if r := s.Login(t, keyFile, certFile); r.OK {
		t.Errorf("sshdtest: login succeeded; want it refused (%s)", why)
		return
	}
	// sshd logs from the connection's own process; give it a moment to
	// reach the log after the client has gone.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Log()[before:], why) {
		if time.Now().After(deadline) {
			t.Errorf("sshdtest: sshd did not log %q for the refused login:\n%s", why, s.Log()[before:])
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sshPath escapes '%' in a file name for ssh, which expands %-tokens in
// identity and certificate file names.
func sshPath(p string) string { return strings.ReplaceAll(p, "%", "%%") }

// quoteOption quotes the value of a -o option, which ssh splits at spaces
// like a line of ssh_config.
func quoteOption(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// UserKey is a requester's key pair on disk, as the ssh client reads it.
type UserKey struct {
	// PrivateFile is the private key (OpenSSH format, mode 0600).
	PrivateFile string
	// Public is the public key; AuthorizedKey is its authorized_keys
	// line.
	Public        ssh.PublicKey
	AuthorizedKey string
}

// NewUserKey creates an Ed25519 key pair in a new temporary directory.
func NewUserKey(t testing.TB) UserKey {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_ed25519")
	pub, err := writePrivateKey(path)
	if err != nil {
		t.Fatalf("sshdtest: user key: %v", err)
	}
	return UserKey{PrivateFile: path, Public: pub, AuthorizedKey: string(ssh.MarshalAuthorizedKey(pub))}
}

// WriteCertificate writes cert (authorized_keys form) next to the key's
// private file under name and returns its path.
func (k UserKey) WriteCertificate(t testing.TB, name string, cert []byte) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(k.PrivateFile), name)
	if err := os.WriteFile(path, cert, 0o644); err != nil {
		t.Fatalf("sshdtest: write certificate: %v", err)
	}
	return path
}

// writePrivateKey writes a new Ed25519 private key to path with mode 0600
// (ssh refuses keys others can read) and returns its public key.
func writePrivateKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return sshPub, nil
}

// pickPort chooses the port of the next start; tests replace it.
var pickPort = freePort

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// process's output and reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
