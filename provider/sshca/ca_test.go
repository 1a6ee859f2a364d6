package sshca

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestInitCA(t *testing.T) {
	for _, tc := range []struct {
		keyType string
		want    string
	}{
		{"", ssh.KeyAlgoED25519},
		{CAKeyEd25519, ssh.KeyAlgoED25519},
		{CAKeyECDSAP256, ssh.KeyAlgoECDSA256},
		{CAKeyRSA3072, ssh.KeyAlgoRSA},
	} {
		t.Run(tc.want+"/"+tc.keyType, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ca")
			created, pub, err := InitCA(path, tc.keyType)
			if err != nil || !created {
				t.Fatalf("InitCA = %v, %v; want created", created, err)
			}
			if pub.Type() != tc.want {
				t.Errorf("key type %s, want %s", pub.Type(), tc.want)
			}
			if tc.want == ssh.KeyAlgoRSA && rsaBits(pub) != 3072 {
				t.Errorf("RSA CA of %d bits", rsaBits(pub))
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %04o, want 0600", st.Mode().Perm())
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "-----BEGIN OPENSSH PRIVATE KEY-----") {
				t.Errorf("not in OpenSSH format: %.40q", data)
			}

			// A second run loads the same key and creates nothing.
			created, again, err := InitCA(path, CAKeyRSA3072)
			if err != nil || created {
				t.Fatalf("second InitCA = %v, %v; want loaded", created, err)
			}
			if string(again.Marshal()) != string(pub.Marshal()) {
				t.Error("second InitCA returned another key")
			}
			signer, err := LoadCA(path)
			if err != nil {
				t.Fatalf("LoadCA: %v", err)
			}
			if string(signer.PublicKey().Marshal()) != string(pub.Marshal()) {
				t.Error("LoadCA returned another key")
			}
			line := AuthorizedKey(pub)
			parsed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil || !strings.HasSuffix(line, "\n") || string(parsed.Marshal()) != string(pub.Marshal()) {
				t.Errorf("AuthorizedKey = %q (%v)", line, err)
			}
		})
	}
}

func TestInitCAErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := InitCA(filepath.Join(dir, "missing", "ca"), ""); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("absent directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("InitCA created the directory")
	}
	if _, _, err := InitCA(filepath.Join(dir, "ca"), "dsa"); err == nil || !strings.Contains(err.Error(), "ed25519, ecdsa-p256, rsa-3072") {
		t.Errorf("unknown key type: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca")); err == nil {
		t.Error("a file was left behind for an unknown key type")
	}
	// An existing file that is not a key is reported, never overwritten.
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := InitCA(bad, ""); err == nil {
		t.Error("InitCA accepted a file that is not a key")
	}
	if b, _ := os.ReadFile(bad); string(b) != "not a key" {
		t.Error("InitCA overwrote an existing file")
	}
}

func TestLoadCAMode(t *testing.T) {
	path := newCAFile(t)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCA(path)
		if err == nil {
			t.Errorf("mode %04o accepted", mode)
			continue
		}
		if !strings.Contains(err.Error(), "has mode 0"+octal(mode)) {
			t.Errorf("mode %04o: error %q does not name the mode found", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCA(path); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
}

func octal(m os.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubKey, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(pubKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, text string
	}{
		{"missing", filepath.Join(dir, "none"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"encrypted", write("enc", encryptedKeyFile(pub)), "passphrase"},
		{"public key", write("pub", ssh.MarshalAuthorizedKey(pub)), "not an OpenSSH private key"},
		{"too big", write("big", make([]byte, maxCAFileSize+10)), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "directory" {
				if err := os.Chmod(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadCA(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("LoadCA = %v; want an error containing %q", err, tc.text)
			}
		})
	}
}

// encryptedKeyFile returns an OpenSSH private key file that says it is
// encrypted (aes256-ctr, bcrypt) around an Ed25519 public key; its
// encrypted part is filler, since a parser without the passphrase must
// stop before it. Encrypting a real key here would spend seconds in bcrypt
// under the race detector.
func encryptedKeyFile(pub ssh.PublicKey) []byte {
	var b []byte
	b = append(b, "openssh-key-v1\x00"...)
	b = appendString(b, []byte("aes256-ctr"))
	b = appendString(b, []byte("bcrypt"))
	var kdf []byte
	kdf = appendString(kdf, make([]byte, 16))
	kdf = append(kdf, 0, 0, 0, 16)
	b = appendString(b, kdf)
	b = append(b, 0, 0, 0, 1)
	b = appendString(b, pub.Marshal())
	b = appendString(b, make([]byte, 144))
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: b})
}
