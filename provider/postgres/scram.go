package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
)

// SCRAM-SHA-256 parameters of the verifiers sent to the server.
//
// The iteration count is low on purpose. Key stretching protects guessable
// passwords; these are 256 random bits, which no number of guesses finds,
// so stretching buys nothing. It costs three times per grant: jit derives
// the verifier, PostgreSQL 15 derives a key from the empty password with
// the verifier's count to refuse empty passwords (measured here: 3.3 ms of
// server CPU per CREATE ROLE at 4096, 0.17 ms at 1), and every login
// derives it again in the client. Clients that insist on RFC 7677's 4096
// can have it with the scram_iterations setting.
const (
	DefaultSCRAMIterations = 16
	scramSaltLen           = 16
	passwordBytes          = 32
)

// newPassword returns a password of 32 random bytes, encoded with the
// URL-safe base64 alphabet without padding (43 characters a person can
// type or paste into any client).
func newPassword() (string, error) {
	b := make([]byte, passwordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// scramVerifier computes the SCRAM-SHA-256 verifier of password (RFC 5802
// and RFC 7677) in the form PostgreSQL stores in pg_authid.rolpassword:
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// Sending the verifier instead of the password keeps the password off the
// wire and out of the server's statement logs. PostgreSQL applies SASLprep to passwords; the passwords made by
// newPassword are ASCII, which SASLprep leaves unchanged.
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("derive the SCRAM key: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey), nil
}

// newVerifier returns the verifier of password with a fresh random salt.
func newVerifier(password string, iterations int) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate a salt: %w", err)
	}
	return scramVerifier(password, salt, iterations)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
