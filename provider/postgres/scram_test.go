package postgres

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// TestSCRAMVerifierRFC7677 checks the verifier against the example
// exchange of RFC 7677 section 3 (user "user", password "pencil"): the
// ServerKey must yield the server signature of the example, and the
// StoredKey must verify its client proof, as the server does.
func TestSCRAMVerifierRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := scramVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(v, "$")
	if len(parts) != 3 || parts[0] != "SCRAM-SHA-256" || parts[1] != "4096:W22ZaJ0SNY7soEsUEjb6gQ==" {
		t.Fatalf("verifier %q does not have the form SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>", v)
	}
	keys := strings.Split(parts[2], ":")
	storedKey, _ := base64.StdEncoding.DecodeString(keys[0])
	serverKey, _ := base64.StdEncoding.DecodeString(keys[1])

	const authMessage = "n=user,r=rOprNGfwEbeRWgbNEkqO," +
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	serverSig := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, authMessage))
	if serverSig != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Errorf("server signature %s, want the RFC's", serverSig)
	}
	// The server's check of a client proof: ClientKey = proof XOR
	// HMAC(StoredKey, AuthMessage), and SHA-256(ClientKey) = StoredKey.
	proof, _ := base64.StdEncoding.DecodeString("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	sig := hmacSHA256(storedKey, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ sig[i]
	}
	if sum := sha256.Sum256(clientKey); !hmac.Equal(sum[:], storedKey) {
		t.Errorf("the RFC's client proof does not verify against the StoredKey")
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		pw, err := newPassword()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(pw)
		if err != nil || len(b) != passwordBytes {
			t.Fatalf("password %q is not %d bytes in URL-safe base64", pw, passwordBytes)
		}
		if seen[pw] {
			t.Fatalf("password repeated")
		}
		seen[pw] = true
	}
	v1, _ := newVerifier("same", DefaultSCRAMIterations)
	v2, _ := newVerifier("same", DefaultSCRAMIterations)
	if v1 == v2 {
		t.Errorf("two verifiers of one password are equal: the salt is not random")
	}
}
