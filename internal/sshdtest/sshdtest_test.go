package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
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
// for another principal, and one whose CA is not trusted do not; a missing
// RevokedKeys file refuses every key, and an empty one none.
func TestServer(t *testing.T) {
	ca := newCA(t)
	srv := Start(t, Config{TrustedCAKeys: []string{string(ssh.MarshalAuthorizedKey(ca.PublicKey()))}})
	key := NewUserKey(t)
	good := key.WriteCertificate(t, "good-cert.pub", certify(t, ca, key.Public, "deploy"))

	if r := srv.Login(t, key.PrivateFile, good); !r.OK {
		t.Fatalf("certificate for deploy: %v\nsshd log:\n%s", r, srv.Log())
	}
	other := key.WriteCertificate(t, "other-cert.pub", certify(t, ca, key.Public, "admin"))
	if r := srv.Login(t, key.PrivateFile, other); r.OK {
		t.Errorf("certificate for a principal not in the principals file logged in")
	}
	foreign := key.WriteCertificate(t, "foreign-cert.pub", certify(t, newCA(t), key.Public, "deploy"))
	if r := srv.Login(t, key.PrivateFile, foreign); r.OK {
		t.Errorf("certificate of an untrusted CA logged in")
	}
	if r := srv.Login(t, key.PrivateFile, "/dev/null"); r.OK {
		t.Errorf("a plain key without certificate logged in")
	}

	// The RevokedKeys file is read at each authentication.
	if err := os.Remove(srv.KRLFile); err != nil {
		t.Fatal(err)
	}
	if r := srv.Login(t, key.PrivateFile, good); r.OK {
		t.Errorf("with the RevokedKeys file missing, a login succeeded")
	}
	if !strings.Contains(srv.Log(), "revoked keys file") {
		t.Errorf("sshd did not log the missing revoked keys file:\n%s", srv.Log())
	}
	srv.SetKRL(t, nil)
	if r := srv.Login(t, key.PrivateFile, good); !r.OK {
		t.Errorf("with an empty RevokedKeys file: %v", r)
	}
	srv.SetKRL(t, emptyKRL()[:20])
	if r := srv.Login(t, key.PrivateFile, good); r.OK {
		t.Errorf("with a truncated KRL, a login succeeded")
	}
	srv.SetKRL(t, emptyKRL())
	if r := srv.Login(t, key.PrivateFile, good); !r.OK {
		t.Errorf("with a KRL revoking nothing: %v", r)
	}
}
