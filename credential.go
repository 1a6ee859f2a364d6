package jit

import "time"

// PublicKey is a person's public key for receiving credentials: an age
// X25519 recipient ("age1..."). The matching private key never leaves the
// person's machine; jitd encrypts every credential a provider issues for
// them to this key, so neither the store nor jitd's operators can read it
// (invariant 7).
type PublicKey struct {
	Email     string    `json:"email"`
	Key       string    `json:"public_key"`
	CreatedAt time.Time `json:"created_at"`
}

// CredentialEnvelope is a credential encrypted to its requester's public
// key, stored with the request that issued it. Envelope is an armored age
// file whose plaintext is a JSON CredentialPayload.
type CredentialEnvelope struct {
	RequestID string `json:"request_id"`
	// Recipient is the public key the envelope was encrypted to, so that a
	// client holding a different key can say so clearly.
	Recipient string    `json:"recipient"`
	Kind      string    `json:"kind"`
	Envelope  string    `json:"envelope"`
	CreatedAt time.Time `json:"created_at"`
}

// CredentialPayload is the plaintext inside a CredentialEnvelope.
type CredentialPayload struct {
	// Kind says how to read Secret ("password", ...).
	Kind   string `json:"kind"`
	Secret string `json:"secret"`
	// Info is non-secret connection information (dialect, host, port,
	// database, user).
	Info map[string]string `json:"info,omitempty"`
}
