package sshca

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jitaccess/jit/provider"
)

var (
	_ provider.CertificateAuthority = (*Provider)(nil)
	_ provider.HostMatcher          = (*Provider)(nil)
	_ provider.Checker              = (*Provider)(nil)
	_ provider.CredentialIssuer     = (*Provider)(nil)
)

// AuthorityKey returns the CA's public key as an authorized_keys line, for
// sshd's TrustedUserCAKeys (provider.CertificateAuthority).
func (p *Provider) AuthorityKey() (string, error) {
	pub, err := p.CAPublicKey()
	if err != nil {
		return "", err
	}
	return AuthorizedKey(pub), nil
}

// RevocationList builds the KRL of the certificates whose grant handles
// are given (provider.CertificateAuthority), as KRL does. The certificates
// are listed by serial only: jitd serves the list to hosts without
// authentication, and key IDs would tell anyone who asks whose access was
// revoked. A handle that is not one of this provider's fails the whole
// list, since a list silently missing a certificate would keep it working.
func (p *Provider) RevocationList(handles []json.RawMessage, version uint64) ([]byte, error) {
	revoked := make([]Revoked, 0, len(handles))
	for i, h := range handles {
		r, err := RevokedFromHandle(h)
		if err != nil {
			return nil, fmt.Errorf("revocation list: handle %d: %w", i, err)
		}
		r.KeyID = ""
		revoked = append(revoked, r)
	}
	return p.KRL(revoked, version)
}

// MaxValidity is the longest a certificate of this resource is valid
// (the max_validity setting), so that jitd knows how far back ended grants
// may still need listing.
func (p *Provider) MaxValidity() time.Duration { return p.cfg.maxValidity }

var _ provider.Exclusive = (*Provider)(nil)

// ExclusiveKey makes a policy refuse two SSH resources with one CA key
// file (provider.Exclusive): a certificate names principals, not hosts,
// so it would log in to both resources' hosts, and each KRL would list
// only its own resource's revocations. The path is compared cleaned and
// absolute, with symbolic links resolved where the file exists (the key is
// not read: a policy can be checked on a machine without it).
func (p *Provider) ExclusiveKey() (key, what string) {
	path := p.cfg.caKeyFile
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return "ssh-ca-key:" + filepath.Clean(path), "the CA key file " + p.cfg.caKeyFile
}
