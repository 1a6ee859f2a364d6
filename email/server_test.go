package email

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The SMTP server of the tests: go-smtp's own server on 127.0.0.1:0, with
// a certificate made for the test, requiring AUTH PLAIN, recording every
// message it accepts.

const (
	testUser     = "jit-mailer"
	testPassword = "s3cret-Passw0rd"
)

// received is one message the server accepted.
type received struct {
	From string
	To   []string
	Data []byte
}

// serverOpts configure a test server.
type serverOpts struct {
	// mode is TLSStartTLS (STARTTLS offered), TLSImplicit (TLS listener)
	// or TLSNone (no TLS at all).
	mode string
	// noAuth accepts mail without AUTH.
	noAuth bool
}

// testServer is a running SMTP server and what it recorded.
type testServer struct {
	addr  string
	roots *x509.CertPool

	mu       sync.Mutex
	msgs     []received
	sessions int
	// rcptCode answers RCPT TO for an address with this SMTP code.
	rcptCode map[string]int
}

func (s *testServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *testServer) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// refuse makes RCPT TO:<addr> fail with code (0 accepts it again).
func (s *testServer) refuse(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.rcptCode, addr)
		return
	}
	s.rcptCode[addr] = code
}

// tlsConfig is a client configuration trusting the server's certificate.
func (s *testServer) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{rcptCode: map[string]int{}}
	cert, roots := selfSigned(t)
	ts.roots = roots
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ts.mu.Lock()
		ts.sessions++
		ts.mu.Unlock()
		return &session{srv: ts, authed: o.noAuth}, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch o.mode {
	case TLSStartTLS:
		srv.TLSConfig = tlsCfg
	case TLSImplicit:
		l = tls.NewListener(l, tlsCfg)
	case TLSNone:
		// Neither STARTTLS nor AUTH over plain text (go-smtp refuses
		// AUTH without TLS unless AllowInsecureAuth).
	default:
		t.Fatalf("unknown mode %q", o.mode)
	}
	ts.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		// Serve registers the listener with the server only once it
		// runs; closing it here ends a Serve that started late.
		l.Close()
		<-done
	})
	return ts
}

// session is one SMTP session of the test server.
type session struct {
	srv    *testServer
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != testUser || password != testPassword {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.srv.mu.Lock()
	code := s.srv.rcptCode[to]
	s.srv.mu.Unlock()
	if code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "mailbox " + to + " unavailable"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.to) == 0 {
		return errors.New("no recipients")
	}
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, received{From: s.from, To: append([]string(nil), s.to...), Data: b})
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jit test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// mustContain fails unless s contains every one of subs.
func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
