package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// newCA returns a fresh Ed25519 CA signer.
func newCA(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// certify signs a user certificate for key with principal, valid for an
// hour.
func certify(t *testing.T, ca ssh.Signer, key ssh.PublicKey, principal string) []byte {
	t.Helper()
	now := time.Now()
	c := &ssh.Certificate{
		Key: key, Serial: 7, CertType: ssh.UserCert, KeyId: "sshdtest",
		ValidPrincipals: []string{principal},
		ValidAfter:      uint64(now.Add(-time.Minute).Unix()),
		ValidBefore:     uint64(now.Add(time.Hour).Unix()),
		Permissions:     ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}},
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return ssh.MarshalAuthorizedKey(c)
}

// TestServer checks the server itself: a certificate of the trusted CA for
// its principal logs in; the same key without certificate, a certificate
// for another principal, and one whose CA is not trusted do not, each for
// the reason sshd logs; a missing or truncated RevokedKeys file refuses
// every key, and an empty one none.
func TestServer(t *testing.T) {
	ca := newCA(t)
	srv := Start(t, Config{TrustedCAKeys: []string{string(ssh.MarshalAuthorizedKey(ca.PublicKey()))}})
	key := NewUserKey(t)
	good := key.WriteCertificate(t, "good-cert.pub", certify(t, ca, key.Public, "deploy"))

	if r := srv.Login(t, key.PrivateFile, good); !r.OK {
		t.Fatalf("certificate for deploy: %v\nsshd log:\n%s", r, srv.Log())
	}
	other := key.WriteCertificate(t, "other-cert.pub", certify(t, ca, key.Public, "admin"))
	srv.LoginRefused(t, key.PrivateFile, other, "Certificate does not contain an authorized principal")
	untrusted := newCA(t)
	foreign := key.WriteCertificate(t, "foreign-cert.pub", certify(t, untrusted, key.Public, "deploy"))
	// sshd names the CA of a certificate it does not trust in the line
	// of the failed attempt.
	srv.LoginRefused(t, key.PrivateFile, foreign, "CA ED25519 "+ssh.FingerprintSHA256(untrusted.PublicKey()))
	// Without a certificate, only the plain key is offered.
	srv.LoginRefused(t, key.PrivateFile, "/dev/null", "ssh2: ED25519 "+ssh.FingerprintSHA256(key.Public))

	// The RevokedKeys file is read at each authentication.
	if err := os.Remove(srv.KRLFile); err != nil {
		t.Fatal(err)
	}
	srv.LoginRefused(t, key.PrivateFile, good, "revoked keys file "+srv.KRLFile+": No such file or directory")
	srv.SetKRL(t, nil)
	if r := srv.Login(t, key.PrivateFile, good); !r.OK {
		t.Errorf("with an empty RevokedKeys file: %v", r)
	}
	srv.SetKRL(t, emptyKRL()[:20])
	srv.LoginRefused(t, key.PrivateFile, good, "revoked keys file "+srv.KRLFile+": incomplete message")
	srv.SetKRL(t, emptyKRL())
	if r := srv.Login(t, key.PrivateFile, good); !r.OK {
		t.Errorf("with a KRL revoking nothing: %v", r)
	}
}

// TestStartPortTaken: when another process holds the port chosen for sshd
// (taken between freePort and sshd's bind), Start does not mistake that
// process for the server: it starts sshd on another port.
func TestStartPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	first := true
	pickPort = func() (int, error) {
		if first {
			first = false
			return taken, nil
		}
		return freePort()
	}
	t.Cleanup(func() { pickPort = freePort })

	ca := newCA(t)
	srv := Start(t, Config{TrustedCAKeys: []string{string(ssh.MarshalAuthorizedKey(ca.PublicKey()))}})
	if srv.Port == taken {
		t.Fatalf("Start returned port %d, which another process holds", taken)
	}
	key := NewUserKey(t)
	cert := key.WriteCertificate(t, "cert.pub", certify(t, ca, key.Public, "deploy"))
	if r := srv.Login(t, key.PrivateFile, cert); !r.OK {
		t.Errorf("login to the server Start returned: %v", r)
	}
}

// TestLoginPathsWithSpaces: Login works with key and certificate files
// whose paths hold a space or '%' (t.TempDir keeps both from a subtest's
// name), which ssh's -o and -i would otherwise split or expand.
func TestLoginPathsWithSpaces(t *testing.T) {
	ca := newCA(t)
	srv := Start(t, Config{TrustedCAKeys: []string{string(ssh.MarshalAuthorizedKey(ca.PublicKey()))}})
	t.Run("a name with spaces and 100%", func(t *testing.T) {
		key := NewUserKey(t)
		if !strings.ContainsAny(key.PrivateFile, " %") {
			t.Fatalf("the key's path %q has neither a space nor a '%%'; the test proves nothing", key.PrivateFile)
		}
		cert := key.WriteCertificate(t, "my cert%d.pub", certify(t, ca, key.Public, "deploy"))
		if r := srv.Login(t, key.PrivateFile, cert); !r.OK {
			t.Errorf("%v", r)
		}
	})
}
