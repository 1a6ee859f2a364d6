package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// HostOffer is a resource covering a host that the caller may request,
// with the login names each access level carries.
type HostOffer struct {
	Resource      string       `json:"resource"`
	DefaultAccess string       `json:"default_access,omitempty"`
	Access        []HostAccess `json:"access"`
	MaxDuration   string       `json:"max_duration"`
}

// HostAccess is one access level of a HostOffer.
type HostAccess struct {
	Name       string   `json:"name"`
	Principals []string `json:"principals"`
}

// maxHostLen bounds a host name asked about (DNS names are at most 253).
const maxHostLen = 255

// HostOffers lists the resources the caller may request whose hosts
// include host (providers with provider.HostMatcher: SSH host groups), for
// `jit ssh HOST`. Read-only.
func (s *Service) HostOffers(ctx context.Context, host string) ([]HostOffer, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	host = strings.TrimSpace(host)
	if host == "" || len(host) > maxHostLen || strings.ContainsAny(host, " \t\r\n/@") {
		return nil, jit.FieldErrorf("host", jit.ECodeInvalid, "%q is not a host name or address", truncateText(host, 64))
	}
	p := s.policy.Get()
	out := []HostOffer{}
	for _, o := range p.Offers(id, s.now()) {
		prov, ok := s.providerFor(p, o.Resource)
		if !ok {
			continue
		}
		hm, ok := provider.As[provider.HostMatcher](prov)
		if !ok || !hm.MatchHost(host) {
			continue
		}
		ho := HostOffer{Resource: o.Resource, DefaultAccess: o.DefaultAccess, MaxDuration: o.MaxDuration}
		for _, level := range o.Access {
			ho.Access = append(ho.Access, HostAccess{Name: level, Principals: hm.Principals(level)})
		}
		out = append(out, ho)
	}
	return out, nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// certificateAuthority returns the resource's provider as a certificate
// authority, or not_found: the CA key and revocation list are public (hosts
// fetch them without signing in), so nothing tells a resource that is not
// a CA from one that does not exist.
func (s *Service) certificateAuthority(resource string) (provider.CertificateAuthority, error) {
	p := s.policy.Get()
	if prov, ok := s.providerFor(p, resource); ok {
		if ca, ok := provider.As[provider.CertificateAuthority](prov); ok {
			return ca, nil
		}
	}
	return nil, jit.Errorf(jit.ECodeNotFound, "resource %s has no certificate authority", truncateText(resource, 128))
}

// AuthorityKey returns the public key of a resource's certificate
// authority (for sshd's TrustedUserCAKeys). It is public and checks no
// authorisation. Read-only.
func (s *Service) AuthorityKey(ctx context.Context, resource string) (string, error) {
	ca, err := s.certificateAuthority(resource)
	if err != nil {
		return "", err
	}
	k, err := ca.AuthorityKey()
	if err != nil {
		s.log.Error("read certificate authority key", "resource", resource, "err", err)
		return "", jit.Errorf(jit.ECodeUnavailable, "the certificate authority of %s cannot be read; see the server log", resource)
	}
	return k, nil
}

// revocableStatuses are the states of a request whose certificate, if one
// was issued, must no longer work although it may not have expired: the
// access was revoked, relinquished, or is being removed, or the grant
// failed after issuing it.
var revocableStatuses = []jit.Status{jit.StatusRevoking, jit.StatusRevoked, jit.StatusRelinquished, jit.StatusFailed}

// krlSkewWindow is how long past their expiry ended grants are still
// handed to the certificate authority, which keeps each certificate on its
// list for its own clock_skew (at most an hour) past expiry for hosts whose
// clocks lag.
const krlSkewWindow = time.Hour

// RevocationList returns the revocation list of a resource's certificate
// authority (an OpenSSH KRL, for sshd's RevokedKeys): every certificate of
// a grant that ended before its own expiry and has not expired yet (the
// provider keeps entries a little past expiry, for hosts whose clocks lag).
// It is computed from the store at each call, so every replica serves the
// same list; its version is the time of its newest entry, in seconds. It
// is public and checks no authorisation. Read-only.
func (s *Service) RevocationList(ctx context.Context, resource string) ([]byte, error) {
	ca, err := s.certificateAuthority(resource)
	if err != nil {
		return nil, err
	}
	// Selected by expiry, not by age: a grant made late, or settings
	// shortened since, must not drop a certificate that still works.
	since := s.now().Add(-krlSkewWindow)
	var (
		handles []json.RawMessage
		version int64
		after   string
	)
	for {
		page, err := s.store.ListRequests(ctx, jit.RequestFilter{Resource: resource, Statuses: revocableStatuses,
			ExpiresAfter: &since, After: after, Limit: jit.MaxRequestLimit})
		if err != nil {
			return nil, fmt.Errorf("revocation list of %s: %w", resource, err)
		}
		for _, r := range page {
			if len(r.Handle) == 0 {
				// No certificate was issued.
				continue
			}
			handles = append(handles, json.RawMessage(r.Handle))
			if t := r.UpdatedAt.Unix(); t > version {
				version = t
			}
		}
		if len(page) < jit.MaxRequestLimit {
			break
		}
		after = page[len(page)-1].ID
	}
	krl, err := ca.RevocationList(handles, uint64(version))
	if err != nil {
		s.log.Error("build revocation list", "resource", resource, "err", err)
		return nil, jit.Errorf(jit.ECodeUnavailable, "the revocation list of %s cannot be built; see the server log", resource)
	}
	return krl, nil
}
