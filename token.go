package jit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// TokenPrefix starts every API token, so that leaked tokens are easy to
// recognise in logs and by secret scanners.
const TokenPrefix = "jit_"

// NewTokenSecret returns a new random API token (shown to its owner once)
// and the hash under which it is stored.
func NewTokenSecret() (plain, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, HashToken(plain), nil
}

// HashToken returns the SHA-256 hex digest under which a token is stored.
// A fast hash is right here: tokens carry 256 random bits, so there is
// nothing to brute-force, and lookups happen on every API call.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}
