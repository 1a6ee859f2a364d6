package sshca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/provider"
)

// testResource is a resource with two access levels, deploy and admin.
func testResource(caFile string, extra map[string]any) provider.Resource {
	settings := map[string]any{
		"ca_key_file": caFile,
		"hosts":       []any{"web-*", "web-*.prod.example.com"},
		"principals": map[string]any{
			"deploy": []any{"deploy"},
			"admin":  []any{"root", "admin"},
		},
	}
	for k, v := range extra {
		if v == nil {
			delete(settings, k)
			continue
		}
		settings[k] = v
	}
	return provider.Resource{Name: "web", Type: Type, Settings: settings, Access: []string{"deploy", "admin"}}
}

// newCAFile creates an Ed25519 CA key file in a temporary directory.
func newCAFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssh_ca")
	if _, _, err := InitCA(path, ""); err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return path
}

// clock is a settable clock for Options.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// newProvider builds a provider on a fresh CA with settings changed by
// extra (a nil value removes a setting).
func newProvider(t testing.TB, c *clock, extra map[string]any) (*Provider, string) {
	t.Helper()
	caFile := newCAFile(t)
	o := Options{}
	if c != nil {
		o.Now = c.Now
	}
	p, err := NewWithOptions(testResource(caFile, extra), o)
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	return p, caFile
}

// userKey returns a new public key of the given kind in authorized_keys
// form: "ed25519", "ecdsa256", "ecdsa384", "rsa2048", "rsa3072".
func userKey(t testing.TB, kind string) string {
	t.Helper()
	var pub any
	switch kind {
	case "ed25519":
		p, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = p
	case "ecdsa256", "ecdsa384":
		curve := elliptic.P256()
		if kind == "ecdsa384" {
			curve = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	case "rsa2048", "rsa3072":
		bits := 2048
		if kind == "rsa3072" {
			bits = 3072
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " someone@laptop"
}

// parseCert reads a certificate credential.
func parseCert(t testing.TB, data []byte) *ssh.Certificate {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		t.Fatalf("credential is not in authorized_keys form: %v", err)
	}
	c, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("credential is a %T, not a certificate", pub)
	}
	return c
}
