package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/credential"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
)

// maxQueryLen bounds a query-scoped request's SQL, which is stored with the
// request and shown to approvers.
const maxQueryLen = 16 << 10

// scopeTimeout bounds the provider's look at its catalogue at submit.
const scopeTimeout = 10 * time.Second

// scopeFor checks what a submit needs from the resource's provider: for a
// query-scoped request, the exact privileges of its query (an extension
// keeps those of the access it extends); for a provider that issues
// credentials, that the requester has a public key to receive them.
func (s *Service) scopeFor(ctx context.Context, p *policy.Policy, who jit.Identity, in SubmitInput, access string, extends *jit.Request) (string, []jit.Privilege, error) {
	prov, ok := s.providerFor(p, in.Resource)
	if ok && provider.IssuesCredentials(prov) {
		if _, err := s.store.PublicKey(ctx, who.Email); jit.ErrorCode(err) == jit.ECodeNotFound {
			return "", nil, jit.Errorf(jit.ECodeKeyRequired,
				"%s issues a credential that is encrypted to your public key, and you have none: run `jit login` first", in.Resource)
		} else if err != nil {
			return "", nil, fmt.Errorf("look up the public key of %s: %w", who.Email, err)
		}
	}
	if extends != nil {
		if in.Query != "" && in.Query != extends.Query {
			return "", nil, jit.FieldErrorf("query", jit.ECodeInvalid, "an extension keeps the query of the access it extends")
		}
		return extends.Query, extends.Privileges, nil
	}
	q := strings.TrimSpace(in.Query)
	if q == "" {
		return "", nil, nil
	}
	if len(q) > maxQueryLen {
		return "", nil, jit.FieldErrorf("query", jit.ECodeInvalid, "the query is %d bytes long; at most %d are accepted", len(q), maxQueryLen)
	}
	var scoper provider.Scoper
	if ok {
		scoper, ok = provider.As[provider.Scoper](prov)
	}
	if !ok {
		return "", nil, jit.FieldErrorf("query", jit.ECodeQueryRefused, "resource %s does not take query-scoped requests", in.Resource)
	}
	sctx, cancel := context.WithTimeout(ctx, scopeTimeout)
	defer cancel()
	resp, err := scoper.Scope(sctx, provider.ScopeRequest{Resource: in.Resource, Access: access, Query: q})
	var se *provider.ScopeError
	switch {
	case errors.As(err, &se):
		return "", nil, jit.FieldErrorf("query", jit.ECodeQueryRefused, "%s", se.Reason)
	case err != nil:
		s.log.Error("scope query", "resource", in.Resource, "err", err)
		return "", nil, jit.Errorf(jit.ECodeUnavailable, "the query could not be checked against %s; retry later", in.Resource)
	case len(resp.Privileges) == 0:
		return "", nil, jit.FieldErrorf("query", jit.ECodeQueryRefused, "the query needs no table privileges")
	}
	return q, resp.Privileges, nil
}

// sealCredential encrypts a credential the provider issued for r to the
// requester's public key. The plain secret is not kept: the caller stores
// only the envelope.
func (s *Service) sealCredential(ctx context.Context, r *jit.Request, c *provider.Credential, now time.Time) (*jit.CredentialEnvelope, error) {
	key, err := s.store.PublicKey(ctx, r.Requester)
	if jit.ErrorCode(err) == jit.ECodeNotFound {
		return nil, jit.Errorf(jit.ECodeKeyRequired, "%s has no public key to encrypt the credential to", r.Requester)
	} else if err != nil {
		return nil, fmt.Errorf("look up the public key of %s: %w", r.Requester, err)
	}
	armored, err := credential.Seal(key.Key, jit.CredentialPayload{Kind: c.Kind, Secret: string(c.Data), Info: c.Info})
	if err != nil {
		return nil, fmt.Errorf("encrypt the credential of %s: %w", r.ID, err)
	}
	return &jit.CredentialEnvelope{RequestID: r.ID, Recipient: key.Key, Kind: c.Kind, Envelope: armored, CreatedAt: now}, nil
}

// RegisterPublicKey makes key (an age X25519 recipient, "age1...") the
// caller's public key, replacing any earlier one. Credentials issued from
// then on are encrypted to it. Registering the same key again changes
// nothing and writes no audit event.
func (s *Service) RegisterPublicKey(ctx context.Context, key string) (*jit.PublicKey, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rcpt, err := credential.ParseRecipient(strings.TrimSpace(key))
	if err != nil {
		var je *jit.Error
		if errors.As(err, &je) {
			return nil, je
		}
		return nil, jit.FieldErrorf("public_key", jit.ECodeInvalidKey, "not an age X25519 public key")
	}
	key = rcpt.String()
	if cur, err := s.store.PublicKey(ctx, who.Email); err == nil && cur.Key == key {
		return cur, nil
	} else if err != nil && jit.ErrorCode(err) != jit.ECodeNotFound {
		return nil, err
	}
	now := s.now()
	k := &jit.PublicKey{Email: who.Email, Key: key, CreatedAt: now}
	ev := event(ctx, now, who.Email, jit.ActionKeyRegister, nil, "", map[string]string{"public_key": key})
	if err := s.store.Apply(ctx, &jit.Change{PublicKey: k, Events: []jit.AuditEvent{ev}}); err != nil {
		return nil, fmt.Errorf("register public key: %w", err)
	}
	s.log.Info("public key registered", "email", who.Email)
	return k, nil
}

// PublicKey returns the caller's registered public key, or ECodeNotFound.
func (s *Service) PublicKey(ctx context.Context) (*jit.PublicKey, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.PublicKey(ctx, who.Email)
}

// Credential returns the encrypted credential of the caller's active
// request id. Only the requester may fetch it (it is encrypted to their
// key; nobody else could read it anyway). Errors: ECodeNotFound when the
// caller cannot see the request or it issued no credential, ECodeForbidden
// for someone else's request, ECodeNotActive when the access is not active.
func (s *Service) Credential(ctx context.Context, id string) (*jit.CredentialEnvelope, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	who, _ := caller(ctx)
	if r.Requester != who.Email {
		return nil, jit.Errorf(jit.ECodeForbidden, "only %s, who asked for this access, can fetch its credential", r.Requester)
	}
	if r.Status != jit.StatusActive {
		return nil, jit.Errorf(jit.ECodeNotActive, "request %s is %s, not active", r.ID, r.Status)
	}
	env, err := s.store.Credential(ctx, id)
	if jit.ErrorCode(err) == jit.ECodeNotFound {
		return nil, jit.Errorf(jit.ECodeNotFound, "request %s issued no credential", id)
	}
	return env, err
}
