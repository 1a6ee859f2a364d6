package sshca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "ssh"

// CredentialKind is the provider.Credential kind of a certificate: Data is
// the certificate in authorized_keys form ("ssh-ed25519-cert-v01@openssh.com
// AAAA..."), as ssh's CertificateFile option reads it.
const CredentialKind = "ssh-certificate"

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider         = (*Provider)(nil)
	_ provider.Checker          = (*Provider)(nil)
	_ provider.CredentialIssuer = (*Provider)(nil)
)

// Limits of the request fields that go into a certificate's key ID.
const (
	maxUserLength      = 254 // the longest email address
	maxRequestIDLength = 128
	maxHandleSize      = 16 << 10
	keyIDPrefix        = "jit:"
)

// Options are what tests inject instead of the real clock and randomness.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of certificate nonces and signature randomness;
	// nil means crypto/rand.
	Rand io.Reader
}

// Provider issues SSH user certificates for one resource. It keeps no
// state but the CA key, read at first use; it is safe for concurrent use.
type Provider struct {
	cfg  config
	now  func() time.Time
	rand io.Reader

	mu sync.Mutex
	ca ssh.Signer
}

// handle is GrantResponse.Handle. It identifies the certificate for the
// KRL; nothing in it is secret. The serial is a JSON string because 64-bit
// integers lose precision in JSON readers that use doubles (JavaScript,
// jq).
type handle struct {
	Serial      uint64    `json:"serial,string"`
	KeyID       string    `json:"key_id"`
	ValidBefore time.Time `json:"valid_before"`
	Principals  []string  `json:"principals"`
	Fingerprint string    `json:"fingerprint"`
	CA          string    `json:"ca"`
	// CAKey is the CA's public key (Revoked.CAKey), so that the
	// certificate can be revoked after the CA key has been replaced.
	CAKey string `json:"ca_key,omitempty"`
}

// New builds the provider from r.Settings (see the package documentation).
// It validates them and returns every problem, naming its key; it does not
// read the CA key file, so that configuration can be checked offline.
func New(r provider.Resource) (provider.Provider, error) {
	return NewWithOptions(r, Options{})
}

// NewWithOptions is New with the clock and randomness given.
func NewWithOptions(r provider.Resource, o Options) (*Provider, error) {
	cfg, err := parseConfig(r)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, now: o.Now, rand: o.Rand}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	return p, nil
}

// IssuesCredentials is true: every grant returns a certificate.
func (p *Provider) IssuesCredentials() bool { return true }

// Hosts returns the host patterns of the resource (lower case).
func (p *Provider) Hosts() []string { return append([]string(nil), p.cfg.hosts...) }

// MatchHost reports whether host (a name or address as given to ssh;
// case, a trailing dot and IPv6 brackets do not matter) matches one of the
// resource's host patterns, so that a client can find the resource for the
// host it connects to. '*' in a pattern matches any run of characters,
// dots included, and '?' exactly one, as in ssh_config's Host.
func (p *Provider) MatchHost(host string) bool {
	h := normaliseHost(host)
	if h == "" {
		return false
	}
	for _, pat := range p.cfg.hosts {
		if globMatch(pat, h) {
			return true
		}
	}
	return false
}

// Principals returns the principals that certificates for the access level
// carry, or nil for an unknown level.
func (p *Provider) Principals(access string) []string {
	return append([]string(nil), p.cfg.principals[access]...)
}

// AccessForPrincipal returns the access levels whose certificates carry
// principal, sorted: what a client may request to log in as that user.
func (p *Provider) AccessForPrincipal(principal string) []string {
	var out []string
	for level, ps := range p.cfg.principals {
		if contains(ps, principal) {
			out = append(out, level)
		}
	}
	sort.Strings(out)
	return out
}

// CAKeyFile returns the ca_key_file setting.
func (p *Provider) CAKeyFile() string { return p.cfg.caKeyFile }

// CAPublicKey returns the public key of the resource's CA, reading the key
// file at first use (see LoadCA for its errors). AuthorizedKey formats it
// for TrustedUserCAKeys.
func (p *Provider) CAPublicKey() (ssh.PublicKey, error) {
	s, err := p.signer()
	if err != nil {
		return nil, err
	}
	return s.PublicKey(), nil
}

// KRL builds the key revocation list of the resource's CA from revoked, as
// BuildKRL does at the provider's clock, except that every certificate is
// kept on the list for clock_skew past its expiry: a host whose clock lags
// that much behind still accepts it until then.
func (p *Provider) KRL(revoked []Revoked, version uint64) ([]byte, error) {
	ca, err := p.CAPublicKey()
	if err != nil {
		return nil, err
	}
	kept := make([]Revoked, len(revoked))
	for i, r := range revoked {
		if !r.ValidBefore.IsZero() {
			r.ValidBefore = r.ValidBefore.Add(p.cfg.clockSkew)
		}
		kept[i] = r
	}
	return BuildKRL(ca, kept, p.now(), version)
}

// signer returns the CA key, reading it at first use. A failed read is not
// remembered, so that fixing the file's mode takes effect at once.
func (p *Provider) signer() (ssh.Signer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ca == nil {
		s, err := LoadCA(p.cfg.caKeyFile)
		if err != nil {
			return nil, err
		}
		p.ca = s
	}
	return p.ca, nil
}

// Grant signs a user certificate for req.SSHPublicKey: key ID
// "jit:<user>:<request ID>", the principals of the access level, valid
// from the provider's clock minus clock_skew until req.ExpiresAt (rounded
// down to the second), with the critical options and extensions of the
// settings. The serial number is derived from the request ID and the CA
// key, so that it is never 0 and a second grant of the same request gives a
// certificate with the same serial, key ID, principals, options and
// expiry (only its start and nonce differ): one KRL entry revokes both.
// The handle holds serial (a decimal string), key ID, expiry,
// principals, the fingerprints of the user key and the CA, and the CA's
// public key (for the KRL after the CA key is replaced). The
// credential is the certificate (CredentialKind) with Info "principals"
// and "hosts" (comma-separated), "valid_before" (RFC 3339), "serial"
// (decimal) and "key_id".
//
// Nothing outside the provider changes, so Grant is idempotent by nature,
// and every error is wrapped with provider.NotApplied: an unacceptable key
// (not a public key, a certificate, a disallowed type, a short RSA key),
// an access level without principals, a request target (certificates are
// valid on every host of the resource), an expiry that is missing, past
// or further away than max_validity, an unreadable CA key, or a failure
// to sign.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	what := fmt.Sprintf("ssh grant %q", req.RequestID)
	refuse := func(err error) (provider.GrantResponse, error) {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	if err := ctx.Err(); err != nil {
		return refuse(fmt.Errorf("not started: %w", err))
	}
	keyID, err := makeKeyID(req.User, req.RequestID)
	if err != nil {
		return refuse(err)
	}
	principals, ok := p.cfg.principals[req.Access]
	if !ok {
		return refuse(fmt.Errorf("access level %q has no principals in the settings of resource %s", req.Access, p.cfg.resource))
	}
	if req.Target != "" {
		return refuse(errors.New("SSH certificates take no target: they are valid on every host of the resource"))
	}
	pub, err := parseUserKey(req.SSHPublicKey, p.cfg.keys)
	if err != nil {
		return refuse(err)
	}
	now := p.now()
	if req.ExpiresAt.IsZero() {
		return refuse(errors.New("the request has no expiry"))
	}
	validBefore := req.ExpiresAt.Unix()
	if validBefore <= now.Unix() {
		return refuse(fmt.Errorf("the expiry %s has passed", req.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if d := req.ExpiresAt.Sub(now); d > p.cfg.maxValidity {
		return refuse(fmt.Errorf("the certificate would be valid for %s, longer than max_validity %s", d.Round(time.Second), p.cfg.maxValidity))
	}
	validAfter := now.Add(-p.cfg.clockSkew).Unix()
	if validAfter < 0 {
		validAfter = 0
	}
	ca, err := p.signer()
	if err != nil {
		return refuse(err)
	}
	serial := serialFor(ca.PublicKey(), req.RequestID)
	cert := &ssh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        ssh.UserCert,
		KeyId:           keyID,
		ValidPrincipals: append([]string(nil), principals...),
		ValidAfter:      uint64(validAfter),
		ValidBefore:     uint64(validBefore),
		Permissions:     p.permissions(),
	}
	if err := cert.SignCert(p.rand, ca); err != nil {
		return refuse(fmt.Errorf("sign the certificate: %w", err))
	}
	expiry := time.Unix(validBefore, 0).UTC()
	h := handle{
		Serial: serial, KeyID: keyID, ValidBefore: expiry,
		Principals: cert.ValidPrincipals, Fingerprint: fingerprint(pub), CA: fingerprint(ca.PublicKey()),
		CAKey: caKeyLine(ca.PublicKey()),
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return refuse(fmt.Errorf("encode the handle: %w", err))
	}
	return provider.GrantResponse{
		Handle: raw,
		Credential: &provider.Credential{
			Kind: CredentialKind,
			Data: ssh.MarshalAuthorizedKey(cert),
			Info: map[string]string{
				"principals":   strings.Join(cert.ValidPrincipals, ","),
				"valid_before": expiry.Format(time.RFC3339),
				"serial":       strconv.FormatUint(serial, 10),
				"key_id":       keyID,
				"hosts":        strings.Join(p.cfg.hosts, ","),
			},
		},
	}, nil
}

// permissions returns the critical options and extensions of the settings.
func (p *Provider) permissions() ssh.Permissions {
	perms := ssh.Permissions{Extensions: map[string]string{}}
	for _, e := range p.cfg.extensions {
		perms.Extensions[e] = ""
	}
	if p.cfg.sourceAddress != "" || p.cfg.forceCommand != "" {
		perms.CriticalOptions = map[string]string{}
		if p.cfg.sourceAddress != "" {
			perms.CriticalOptions[optSourceAddress] = p.cfg.sourceAddress
		}
		if p.cfg.forceCommand != "" {
			perms.CriticalOptions[optForceCommand] = p.cfg.forceCommand
		}
	}
	return perms
}

// Revoke changes nothing and succeeds: a certificate cannot be recalled
// from the hosts that trust its CA. It stops working either at its
// ValidBefore, which the hosts enforce by themselves, or when it appears in
// the KRL they read (sshd's RevokedKeys), which jitd builds with BuildKRL
// from the handles of the requests of the resource that ended before their
// certificates expired. Revoke is idempotent.
//
// Errors: the context has ended (wrapped with provider.NotApplied), or the
// handle, when given, is not one of this provider's: such a certificate
// could not be put on the KRL, and the caller must not record it as
// revoked. A nil handle (a grant whose outcome was never recorded, so
// whose certificate reached no one) succeeds.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.RevokeResponse{}, provider.NotApplied(fmt.Errorf("ssh revoke %q: not started: %w", req.RequestID, err))
	}
	if len(req.Handle) == 0 {
		return provider.RevokeResponse{}, nil
	}
	if _, err := decodeHandle(req.Handle); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("ssh revoke %q: %w", req.RequestID, err)
	}
	return provider.RevokeResponse{}, nil
}

// Verify reports the certificate as present while the provider's clock is
// before its ValidBefore, which is also the ExpiresAt the hosts enforce.
// It reads only the handle (no handle: not present) and has no side
// effects. It cannot see the KRL: a certificate revoked early is reported
// present until it expires, although hosts with the current KRL refuse it.
//
// Errors: the context has ended, or the handle is unreadable or belongs to
// another request.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("ssh verify %q: %w", req.RequestID, err)
	}
	if len(req.Handle) == 0 {
		return provider.VerifyResponse{}, nil
	}
	h, err := decodeHandle(req.Handle)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("ssh verify %q: %w", req.RequestID, err)
	}
	if !strings.HasSuffix(h.KeyID, ":"+req.RequestID) {
		return provider.VerifyResponse{}, fmt.Errorf("ssh verify %q: the handle is for certificate %q, not this request's", req.RequestID, h.KeyID)
	}
	exp := h.ValidBefore
	return provider.VerifyResponse{Present: p.now().Before(exp), ExpiresAt: &exp}, nil
}

// Check refuses, at submit, a request whose certificate could not be
// issued: no SSH public key, one that does not parse or is not allowed
// (type, RSA size, a certificate or private key given instead), an access
// level without principals, a target (certificates are valid on every host
// of the resource) or a duration over max_validity. It does not read the
// CA key and has no side effects. The summary names the principals, hosts
// and key fingerprint for the approvers.
//
// Errors: a *provider.RefusedError for a refused request; the context's
// error when it has ended.
func (p *Provider) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResponse, error) {
	if err := ctx.Err(); err != nil {
		return provider.CheckResponse{}, fmt.Errorf("ssh check: %w", err)
	}
	principals, ok := p.cfg.principals[req.Access]
	if !ok {
		return provider.CheckResponse{}, provider.Refusef("access level %q of resource %s has no SSH principals", req.Access, p.cfg.resource)
	}
	if req.Target != "" {
		return provider.CheckResponse{}, provider.Refusef("SSH certificates are valid on every host of resource %s (%s); request it without a target", p.cfg.resource, strings.Join(p.cfg.hosts, ", "))
	}
	if req.Duration > p.cfg.maxValidity {
		return provider.CheckResponse{}, provider.Refusef("SSH certificates of resource %s are valid for at most %s; ask for %s or less", p.cfg.resource, p.cfg.maxValidity, p.cfg.maxValidity)
	}
	if strings.TrimSpace(req.SSHPublicKey) == "" {
		return provider.CheckResponse{}, provider.Refusef("resource %s issues SSH certificates: the request needs your SSH public key (for example the contents of ~/.ssh/id_ed25519.pub)", p.cfg.resource)
	}
	pub, err := parseUserKey(req.SSHPublicKey, p.cfg.keys)
	if err != nil {
		return provider.CheckResponse{}, provider.Refusef("%v", err)
	}
	return provider.CheckResponse{
		Summary: fmt.Sprintf("SSH certificate for principals %s on hosts %s, valid until the grant expires, for key %s %s",
			strings.Join(principals, ", "), strings.Join(p.cfg.hosts, ", "), pub.Type(), fingerprint(pub)),
	}, nil
}

// makeKeyID returns the certificate key ID of a request. sshd logs it at
// every login, so user and request ID must be printable and free of
// spaces; a colon in either would only make the ID harder to read, not
// ambiguous for jit, which never parses it.
func makeKeyID(user, requestID string) (string, error) {
	if err := checkIDPart("user", user, maxUserLength); err != nil {
		return "", err
	}
	if err := checkIDPart("request ID", requestID, maxRequestIDLength); err != nil {
		return "", err
	}
	return keyIDPrefix + user + ":" + requestID, nil
}

func checkIDPart(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("the %s is empty", what)
	case len(s) > max:
		return fmt.Errorf("the %s is longer than %d bytes", what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("the %s is not valid UTF-8", what)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return fmt.Errorf("the %s %q contains spaces or control characters", what, s)
	}
	return nil
}

// serialFor derives a certificate serial from the CA key and request ID:
// the same for every grant of a request, different between requests and
// CAs (with 64 bits, a collision is expected after billions of grants),
// and never 0, which OpenSSH's KRL cannot revoke.
func serialFor(ca ssh.PublicKey, requestID string) uint64 {
	h := sha256.New()
	h.Write([]byte("jit ssh certificate serial\x00"))
	h.Write(ca.Marshal()) // length-prefixed fields: unambiguous
	h.Write([]byte{0})
	h.Write([]byte(requestID))
	s := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	if s == 0 {
		s = 1
	}
	return s
}

// decodeHandle reads and checks a handle Grant returned.
func decodeHandle(raw json.RawMessage) (handle, error) {
	var h handle
	if len(raw) == 0 {
		return h, errors.New("no certificate handle")
	}
	if len(raw) > maxHandleSize {
		return h, fmt.Errorf("the certificate handle is longer than %d bytes", maxHandleSize)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("the certificate handle is not one of the ssh provider's: %w", err)
	}
	switch {
	case h.Serial == 0:
		return h, errors.New("the certificate handle has no serial")
	case h.KeyID == "":
		return h, errors.New("the certificate handle has no key ID")
	case h.ValidBefore.IsZero():
		return h, errors.New("the certificate handle has no valid_before")
	}
	if err := checkKeyID(h.KeyID); err != nil {
		return h, fmt.Errorf("the certificate handle: %w", err)
	}
	return h, nil
}
