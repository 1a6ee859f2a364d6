package client

import (
	"context"
	"net/http"

	"github.com/jitaccess/jit"
)

// RegisterPublicKey makes key (an age X25519 public key, "age1...") the
// caller's key for receiving credentials (PUT /me/public-key), replacing
// any earlier one, and returns the key as stored. Registering the key that
// is already registered changes nothing, so it is safe to repeat. A key the
// server refuses fails with code "invalid_public_key". Credentials issued
// earlier stay encrypted to the key they were issued for.
func (c *Client) RegisterPublicKey(ctx context.Context, key string) (jit.PublicKey, error) {
	var pk jit.PublicKey
	err := c.call(ctx, http.MethodPut, "/me/public-key", nil, struct {
		PublicKey string `json:"public_key"`
	}{key}, &pk)
	return pk, err
}

// PublicKey returns the caller's registered key (GET /me/public-key); code
// "not_found" when none is registered.
func (c *Client) PublicKey(ctx context.Context) (jit.PublicKey, error) {
	var pk jit.PublicKey
	err := c.call(ctx, http.MethodGet, "/me/public-key", nil, nil, &pk)
	return pk, err
}

// Credential returns the credential issued for the caller's request
// requestID, encrypted to the caller's key (GET /requests/{id}/credential).
// It fails with code "not_found" when the request issued no credential (or
// the caller may not see the request), "forbidden" for anyone but the
// requester, and "not_active" when the access has ended.
func (c *Client) Credential(ctx context.Context, requestID string) (jit.CredentialEnvelope, error) {
	p, err := requestPath(requestID, "credential")
	if err != nil {
		return jit.CredentialEnvelope{}, err
	}
	var env jit.CredentialEnvelope
	err = c.call(ctx, http.MethodGet, p, nil, nil, &env)
	return env, err
}
