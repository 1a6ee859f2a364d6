package jit

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// SSHKeyFingerprint names an SSH public key (authorized_keys form) the way
// `ssh-keygen -l` does: its type and "SHA256:" with the unpadded base64 of
// the SHA-256 of the key blob ("ssh-ed25519 SHA256:…"). Approvers and the
// audit log see which key a certificate is for without the whole key. Text
// that is not an authorized_keys line is named by a hash of the text
// ("text SHA256:…").
func SSHKeyFingerprint(key string) string {
	fields := strings.Fields(key)
	for i, f := range fields {
		if i == 0 {
			continue
		}
		if blob, err := base64.StdEncoding.DecodeString(f); err == nil && len(blob) > 4 {
			sum := sha256.Sum256(blob)
			return fields[i-1] + " SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		}
	}
	sum := sha256.Sum256([]byte(key))
	return "text SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
