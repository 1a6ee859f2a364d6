package sshca

import (
	"crypto/dsa" // deprecated, but DSA keys must be built to check they are refused
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var defaultPolicy = keyPolicy{types: KeyTypes, minRSABits: DefaultMinRSABits}

// dsaKeyLine returns a DSA public key line, made once (generating DSA
// parameters takes a while).
func dsaKeyLine(t testing.TB) string {
	t.Helper()
	line, err := dsaOnce()
	if err != nil {
		t.Fatal(err)
	}
	return line
}

var dsaOnce = sync.OnceValues(func() (string, error) {
	var p dsa.Parameters
	if err := dsa.GenerateParameters(&p, rand.Reader, dsa.L1024N160); err != nil {
		return "", err
	}
	k := &dsa.PrivateKey{PublicKey: dsa.PublicKey{Parameters: p}}
	if err := dsa.GenerateKey(k, rand.Reader); err != nil {
		return "", err
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " old@box", nil
})

// skKeyLine returns an sk-ssh-ed25519@openssh.com public key (a FIDO
// security key's), built in its wire form: type, Ed25519 key, application.
func skKeyLine(t testing.TB) string {
	t.Helper()
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	b = appendString(b, []byte(KeyTypeSKEd25519))
	b = appendString(b, edPub)
	b = appendString(b, []byte("ssh:"))
	return KeyTypeSKEd25519 + " " + base64.StdEncoding.EncodeToString(b) + " yubikey"
}

func TestParseUserKey(t *testing.T) {
	ed := userKey(t, "ed25519")
	dsaKey, skEd25519Key := dsaKeyLine(t), skKeyLine(t)
	edCert := certificateLine(t, ed)
	for _, tc := range []struct {
		name string
		in   string
		pol  keyPolicy
		err  string // "" for accepted
	}{
		{"ed25519", ed, defaultPolicy, ""},
		{"ed25519 with spaces around", "  \n" + ed + "\n\n", defaultPolicy, ""},
		{"ed25519 without comment", strings.Join(strings.Fields(ed)[:2], " "), defaultPolicy, ""},
		{"ecdsa256", userKey(t, "ecdsa256"), defaultPolicy, ""},
		{"ecdsa384", userKey(t, "ecdsa384"), defaultPolicy, ""},
		{"rsa3072", userKey(t, "rsa3072"), defaultPolicy, ""},
		{"security key", skEd25519Key, defaultPolicy, ""},
		{"rsa2048 refused", userKey(t, "rsa2048"), defaultPolicy, "has 2048 bits; at least 3072"},
		{"rsa2048 allowed by setting", userKey(t, "rsa2048"), keyPolicy{types: KeyTypes, minRSABits: 2048}, ""},
		{"dsa", dsaKey, defaultPolicy, "DSA (ssh-dss) keys are too weak"},
		{"type not allowed", userKey(t, "ecdsa256"), keyPolicy{types: []string{KeyTypeEd25519}, minRSABits: 3072}, "ecdsa-sha2-nistp256 is not allowed for this resource (allowed: ssh-ed25519)"},
		{"security key not allowed", skEd25519Key, keyPolicy{types: []string{KeyTypeEd25519}, minRSABits: 3072}, "not allowed"},
		{"empty", "  ", defaultPolicy, "no SSH public key"},
		{"certificate", edCert, defaultPolicy, "is an SSH certificate"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", defaultPolicy, "this is a private key"},
		{"two keys", ed + "\n" + userKey(t, "ed25519"), defaultPolicy, "exactly one"},
		{"options", `from="10.0.0.1" ` + ed, defaultPolicy, "options"},
		{"garbage", "hello world", defaultPolicy, "not an SSH public key"},
		{"bad base64", "ssh-ed25519 !!!!", defaultPolicy, "not an SSH public key"},
		{"type mismatch", "ssh-rsa " + strings.Fields(ed)[1], defaultPolicy, "not an SSH public key"},
		{"too long", "ssh-ed25519 " + strings.Repeat("A", maxUserKeyLength), defaultPolicy, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := parseUserKey(tc.in, tc.pol)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if pub == nil {
					t.Fatal("no key")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q does not contain %q", err, tc.err)
			}
			// An error never repeats the key material.
			for _, f := range strings.Fields(tc.in) {
				if len(f) > 40 && strings.Contains(err.Error(), f) {
					t.Errorf("error repeats the input: %q", err)
				}
			}
		})
	}
}

// certificateLine returns a user certificate for the key in authorized_keys
// line form.
func certificateLine(t testing.TB, line string) string {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	c := &ssh.Certificate{Key: pub, CertType: ssh.UserCert, KeyId: "x", ValidPrincipals: []string{"deploy"},
		ValidBefore: uint64(time.Now().Add(time.Hour).Unix())}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(c))
}

// FuzzParseUserKey checks that no input makes the parser panic, that what
// it accepts is a plain key of an allowed type and size that survives a
// round trip, and that its errors are short, printable and never echo long
// runs of the input.
func FuzzParseUserKey(f *testing.F) {
	ed := userKey(f, "ed25519")
	dsaKey, skEd25519Key := dsaKeyLine(f), skKeyLine(f)
	for _, s := range []string{
		ed, userKey(f, "ecdsa256"), userKey(f, "rsa2048"), skEd25519Key, dsaKey,
		certificateLine(f, ed), `command="x" ` + ed, ed + "\n" + ed, "", "ssh-ed25519",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "-----BEGIN OPENSSH PRIVATE KEY-----",
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAAQ==", "\x00\x01\x02", "ecdsa-sha2-nistp256 AAAA",
		// A declared type that is not the blob's, and a blob whose type is
		// control characters: x/crypto's errors quote both.
		strings.Repeat("Q", 60) + " " + strings.Fields(ed)[1],
		"ssh-ed25519 " + base64.StdEncoding.EncodeToString(appendString(nil, []byte("\x1b[2J"+strings.Repeat("Z", 300)))),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pub, err := parseUserKey(in, defaultPolicy)
		if err != nil {
			if pub != nil {
				t.Fatal("a key and an error")
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			if len(err.Error()) > 300 || strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error is long or has control characters: %q", err)
			}
			for _, f := range strings.Fields(in) {
				if len(f) > 40 && strings.Contains(err.Error(), f) {
					t.Fatalf("error repeats the input: %q", err)
				}
			}
			return
		}
		if _, isCert := pub.(*ssh.Certificate); isCert {
			t.Fatal("accepted a certificate")
		}
		if !defaultPolicy.allows(pub.Type()) {
			t.Fatalf("accepted key type %s", pub.Type())
		}
		if pub.Type() == KeyTypeRSA && rsaBits(pub) < DefaultMinRSABits {
			t.Fatalf("accepted an RSA key of %d bits", rsaBits(pub))
		}
		again, err := parseUserKey(string(ssh.MarshalAuthorizedKey(pub)), defaultPolicy)
		if err != nil {
			t.Fatalf("the accepted key does not parse again: %v", err)
		}
		if string(again.Marshal()) != string(pub.Marshal()) {
			t.Fatal("round trip changed the key")
		}
	})
}

func TestMatchHost(t *testing.T) {
	p, err := NewWithOptions(testResource("/k", map[string]any{
		"hosts": []any{"web-*", "db-?.prod.example.com", "Bastion.example.com", "10.0.1.*", "2001:db8::*"},
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"web-3":                    true,
		"WEB-3":                    true,
		"web-":                     true,
		"web-3.prod.example.com":   true, // '*' crosses dots, as in ssh_config
		"web":                      false,
		"xweb-3":                   false,
		"db-1.prod.example.com":    true,
		"db-12.prod.example.com":   false,
		"db-.prod.example.com":     false,
		"bastion.example.com":      true,
		"bastion.example.com.":     true,
		"bastion.example.com.evil": false,
		"10.0.1.5":                 true,
		"10.0.10.5":                false,
		"[2001:db8::1]":            true,
		"":                         false,
		"web-3 ":                   true,
		"web 3":                    false,
		"web-3/x":                  false,
		"user@web-3":               false,
	} {
		if got := p.MatchHost(host); got != want {
			t.Errorf("MatchHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything.at.all", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"**a", "bbba", true},
		{"", "", true},
		{"", "a", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 200), false},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestKeyFixtures guards the built keys above: they must parse as keys of
// their type, or the tests using them prove nothing.
func TestKeyFixtures(t *testing.T) {
	for want, line := range map[string]string{"ssh-dss": dsaKeyLine(t), KeyTypeSKEd25519: skKeyLine(t)} {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if pub.Type() != want {
			t.Errorf("fixture %s is a %s", want, pub.Type())
		}
	}
}

// TestParseUserKeyErrorsEchoNothing: x/crypto's parse errors quote the
// key type declared in the line and the one inside the key blob, bytes the
// requester chose (control characters included, kilobytes long); none of
// it reaches the error, which is shown to people and logged.
func TestParseUserKeyErrorsEchoNothing(t *testing.T) {
	ed := strings.Fields(userKey(t, "ed25519"))[1]
	declared := strings.Repeat("Q", 60)
	var blob []byte
	blob = appendString(blob, []byte("\x1b]0;owned\x07"+strings.Repeat("Z", 2000)))
	blob = appendString(blob, make([]byte, 32))
	for name, in := range map[string]string{
		"declared type":   declared + " " + ed,
		"type in the key": "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob),
	} {
		_, err := parseUserKey(in, defaultPolicy)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		msg := err.Error()
		if strings.Contains(msg, declared) || strings.Contains(msg, "owned") || strings.Contains(msg, "ZZZZ") ||
			strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("%s: the error repeats the input: %q", name, msg)
		}
	}
}
