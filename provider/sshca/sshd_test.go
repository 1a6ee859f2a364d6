package sshca

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/sshdtest"
	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/providertest"
)

// realProvider builds a provider on a fresh CA with the real clock, and an
// sshd that trusts the CA and lets principal "deploy" log in.
func realProvider(t *testing.T) (*Provider, *sshdtest.Server) {
	t.Helper()
	p, err := NewWithOptions(testResource(newCAFile(t), nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := p.CAPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := sshdtest.Start(t, sshdtest.Config{TrustedCAKeys: []string{AuthorizedKey(ca)}})
	return p, srv
}

// grantCert grants a request for key and writes the certificate next to
// the key; it returns the certificate file and the handle.
func grantCert(t *testing.T, p *Provider, key sshdtest.UserKey, id, access string, expires time.Time) (string, json.RawMessage) {
	t.Helper()
	resp, err := p.Grant(context.Background(), provider.GrantRequest{
		RequestID: id, User: "alice@example.com", Resource: "web", Access: access,
		ExpiresAt: expires, SSHPublicKey: key.AuthorizedKey,
	})
	if err != nil {
		t.Fatalf("Grant %s: %v", id, err)
	}
	return key.WriteCertificate(t, id+"-cert.pub", resp.Credential.Data), resp.Handle
}

// loginFails checks that a login is refused and that sshd logged why.
func loginFails(t *testing.T, srv *sshdtest.Server, key sshdtest.UserKey, cert, why string) {
	t.Helper()
	srv.LoginRefused(t, key.PrivateFile, cert, why)
}

// TestRealSSHD logs in to a real sshd with the provider's certificates.
func TestRealSSHD(t *testing.T) {
	t.Parallel()
	p, srv := realProvider(t)
	key := sshdtest.NewUserKey(t)
	now := time.Now()

	// The expiry case waits for real time to pass; start it first and
	// check it last.
	shortCert, shortHandle := grantCert(t, p, key, "req_short", "deploy", now.Add(3*time.Second))
	if r := srv.Login(t, key.PrivateFile, shortCert); !r.OK {
		t.Fatalf("short certificate before its expiry: %v", r)
	}

	cert, _ := grantCert(t, p, key, "req_active", "deploy", now.Add(time.Hour))
	t.Run("active grant logs in", func(t *testing.T) {
		if r := srv.Login(t, key.PrivateFile, cert); !r.OK {
			t.Fatalf("%v", r)
		}
	})

	t.Run("another principal is refused", func(t *testing.T) {
		admin, _ := grantCert(t, p, key, "req_admin", "admin", now.Add(time.Hour))
		loginFails(t, srv, key, admin, "Certificate does not contain an authorized principal")
	})

	t.Run("another CA is refused", func(t *testing.T) {
		other, err := NewWithOptions(testResource(newCAFile(t), nil), Options{})
		if err != nil {
			t.Fatal(err)
		}
		foreign, _ := grantCert(t, other, key, "req_foreign", "deploy", now.Add(time.Hour))
		otherCA, err := other.CAPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		// sshd names the CA of a certificate it does not accept in the
		// failure line, and mentions no other line for it.
		loginFails(t, srv, key, foreign, "CA ED25519 "+fingerprint(otherCA))
	})

	t.Run("early revoke through the KRL", func(t *testing.T) {
		revoked, h := grantCert(t, p, key, "req_revoked", "deploy", now.Add(time.Hour))
		if r := srv.Login(t, key.PrivateFile, revoked); !r.OK {
			t.Fatalf("before revoke: %v", r)
		}
		if _, err := p.Revoke(context.Background(), provider.RevokeRequest{RequestID: "req_revoked", Handle: h}); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		// Revoke alone changes nothing on the host.
		if r := srv.Login(t, key.PrivateFile, revoked); !r.OK {
			t.Fatalf("after Revoke, before the KRL is published: %v", r)
		}
		entry, err := RevokedFromHandle(h)
		if err != nil {
			t.Fatal(err)
		}
		krl, err := p.KRL([]Revoked{entry}, 1)
		if err != nil {
			t.Fatal(err)
		}
		srv.SetKRL(t, krl)
		loginFails(t, srv, key, revoked, "revoked by file "+srv.KRLFile)
		// The other certificate of the same key is not on the list.
		if r := srv.Login(t, key.PrivateFile, cert); !r.OK {
			t.Errorf("a certificate not on the KRL: %v", r)
		}
		// Granting the revoked request again gives a certificate with
		// the same serial, which the KRL refuses too.
		again, _ := grantCert(t, p, key, "req_revoked", "deploy", now.Add(time.Hour))
		loginFails(t, srv, key, again, "revoked by file "+srv.KRLFile)
	})
	t.Run("expired certificate is refused", func(t *testing.T) {
		r, err := RevokedFromHandle(shortHandle)
		if err != nil {
			t.Fatal(err)
		}
		// sshd refuses from ValidBefore on, by its own clock.
		if wait := time.Until(r.ValidBefore.Add(500 * time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		}
		loginFails(t, srv, key, shortCert, "Certificate invalid: expired")
	})
}

// TestConformance runs the provider conformance suite against a real sshd.
//
// A certificate has no state in a target: Revoke changes nothing, and the
// provider's Verify reads only the handle's expiry, so on its own it keeps
// saying "present" after a revoke, which the suite's revoke checks would
// take for a failure. Access really ends through the KRL that jitd
// publishes. The suite therefore runs against the provider composed with
// that KRL, as jitd composes them: krlPublisher records every revoke (as
// jitd's store does), rebuilds the KRL with Provider.KRL and writes it to
// the sshd's RevokedKeys file, and its Verify is the provider's Verify
// minus what the KRL revokes. The suite's Present is independent of all
// that: it logs in to the real sshd with every certificate issued for the
// request, so that "absent" means sshd refuses them all.
func TestConformance(t *testing.T) {
	t.Parallel()
	caFile := newCAFile(t)
	base, err := NewWithOptions(testResource(caFile, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := base.CAPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := sshdtest.Start(t, sshdtest.Config{TrustedCAKeys: []string{AuthorizedKey(ca)}})
	st := &krlStore{srv: srv, key: sshdtest.NewUserKey(t), certs: map[string][]string{}, handles: map[string]json.RawMessage{}, revoked: map[string]Revoked{}}
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			p, err := NewWithOptions(testResource(caFile, nil), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return &krlPublisher{inner: p, st: st, t: t}
		},
		Resource: "web",
		Access:   "deploy",
		Present: func(t *testing.T, requestID string) bool {
			st.mu.Lock()
			certs := append([]string(nil), st.certs[requestID]...)
			st.mu.Unlock()
			present := false
			for _, c := range certs {
				if r := srv.Login(t, st.key.PrivateFile, c); r.OK {
					present = true
				}
			}
			return present
		},
	})
}

// krlStore is what jitd keeps for the KRL: the handles of granted requests
// and the revoked ones.
type krlStore struct {
	srv *sshdtest.Server
	key sshdtest.UserKey

	mu      sync.Mutex
	certs   map[string][]string // request ID → certificate files issued
	handles map[string]json.RawMessage
	revoked map[string]Revoked
	version uint64
}

// krlPublisher is the provider as jitd runs it for the suite (see
// TestConformance).
type krlPublisher struct {
	inner *Provider
	st    *krlStore
	t     *testing.T
}

func (k *krlPublisher) Unwrap() provider.Provider { return k.inner }

func (k *krlPublisher) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	if req.SSHPublicKey == "" {
		req.SSHPublicKey = k.st.key.AuthorizedKey
	}
	resp, err := k.inner.Grant(ctx, req)
	if err != nil {
		return resp, err
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	name := fmt.Sprintf("%s-%d-cert.pub", req.RequestID, len(k.st.certs[req.RequestID]))
	k.st.certs[req.RequestID] = append(k.st.certs[req.RequestID], k.st.key.WriteCertificate(k.t, name, resp.Credential.Data))
	k.st.handles[req.RequestID] = resp.Handle
	return resp, nil
}

func (k *krlPublisher) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	resp, err := k.inner.Revoke(ctx, req)
	if err != nil {
		return resp, err
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	h := req.Handle
	if h == nil {
		h = k.st.handles[req.RequestID]
	}
	if h == nil {
		return resp, nil
	}
	r, err := RevokedFromHandle(h)
	if err != nil {
		return resp, err
	}
	k.st.revoked[req.RequestID] = r
	all := make([]Revoked, 0, len(k.st.revoked))
	for _, r := range k.st.revoked {
		all = append(all, r)
	}
	k.st.version++
	krl, err := k.inner.KRL(all, k.st.version)
	if err != nil {
		return resp, err
	}
	k.st.srv.SetKRL(k.t, krl)
	return resp, nil
}

func (k *krlPublisher) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	resp, err := k.inner.Verify(ctx, req)
	if err != nil || !resp.Present {
		return resp, err
	}
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	if _, revoked := k.st.revoked[req.RequestID]; revoked {
		resp.Present = false
	}
	return resp, nil
}
