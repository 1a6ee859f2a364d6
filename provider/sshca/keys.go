package sshca

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Requester key types, by their OpenSSH names.
const (
	KeyTypeEd25519    = ssh.KeyAlgoED25519    // ssh-ed25519
	KeyTypeECDSA256   = ssh.KeyAlgoECDSA256   // ecdsa-sha2-nistp256
	KeyTypeECDSA384   = ssh.KeyAlgoECDSA384   // ecdsa-sha2-nistp384
	KeyTypeECDSA521   = ssh.KeyAlgoECDSA521   // ecdsa-sha2-nistp521
	KeyTypeRSA        = ssh.KeyAlgoRSA        // ssh-rsa (the key type; certificates are signed with SHA-2)
	KeyTypeSKEd25519  = ssh.KeyAlgoSKED25519  // sk-ssh-ed25519@openssh.com (FIDO security key)
	KeyTypeSKECDSA256 = ssh.KeyAlgoSKECDSA256 // sk-ecdsa-sha2-nistp256@openssh.com (FIDO security key)

	keyTypeDSA = ssh.InsecureKeyAlgoDSA // ssh-dss: never accepted
)

// Limits of requester keys.
const (
	// maxUserKeyLength is far above an RSA-16384 public key (about 2.8 KB).
	maxUserKeyLength = 16 << 10
	// DefaultMinRSABits is the default of the rsa_min_bits setting.
	DefaultMinRSABits = 3072
	minRSABitsAllowed = 2048
	maxRSABits        = 16384
)

// KeyTypes lists the requester key types that may be allowed, in the
// order they are shown. It is also the default of the key_types setting.
var KeyTypes = []string{
	KeyTypeEd25519, KeyTypeECDSA256, KeyTypeECDSA384, KeyTypeECDSA521,
	KeyTypeRSA, KeyTypeSKEd25519, KeyTypeSKECDSA256,
}

// keyPolicy says which requester keys are acceptable.
type keyPolicy struct {
	types      []string
	minRSABits int
}

func (k keyPolicy) allows(t string) bool { return contains(k.types, t) }

// parseUserKey parses a requester's SSH public key in authorized_keys form
// ("ssh-ed25519 AAAA... comment"), exactly one key with no options, and
// checks it against pol. Its errors are safe to show to the requester and
// never repeat the input: a private key pasted by mistake must not end up
// in an error message, a log or the store.
func parseUserKey(s string, pol keyPolicy) (ssh.PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("no SSH public key given")
	case len(s) > maxUserKeyLength:
		return nil, fmt.Errorf("the SSH public key is longer than %d bytes", maxUserKeyLength)
	case strings.Contains(s, "PRIVATE KEY"):
		return nil, errors.New("this is a private key: give the public key (the .pub file) instead, and keep the private key to yourself")
	case strings.ContainsAny(s, "\r\n"):
		return nil, errors.New("give exactly one SSH public key, on one line")
	}
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		// x/crypto's message is left out: it quotes the key type declared
		// in the line and the one inside the key blob, which are the
		// requester's bytes, of any length and with control characters.
		return nil, errors.New(`not an SSH public key in authorized_keys form ("ssh-ed25519 AAAA... comment")`)
	}
	if len(rest) != 0 {
		return nil, errors.New("give exactly one SSH public key")
	}
	if len(options) != 0 {
		return nil, errors.New("the SSH public key has authorized_keys options in front of it: give the key alone")
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return nil, errors.New("this is an SSH certificate, not a public key: give the public key (the .pub file without -cert)")
	}
	t := pub.Type()
	if t == keyTypeDSA {
		return nil, errors.New("DSA (ssh-dss) keys are too weak and are never accepted: use an Ed25519 key (ssh-keygen -t ed25519)")
	}
	if !pol.allows(t) {
		return nil, fmt.Errorf("SSH key type %s is not allowed for this resource (allowed: %s)", t, strings.Join(pol.types, ", "))
	}
	if t == KeyTypeRSA {
		if bits := rsaBits(pub); bits < pol.minRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits; at least %d are needed (or use an Ed25519 key: ssh-keygen -t ed25519)", bits, pol.minRSABits)
		}
	}
	return pub, nil
}

// rsaBits returns the modulus size of an RSA SSH key, or 0 for any other
// key.
func rsaBits(pub ssh.PublicKey) int {
	ck, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return 0
	}
	r, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
	if !ok {
		return 0
	}
	return r.N.BitLen()
}

// fingerprint is the SHA256 fingerprint OpenSSH prints ("SHA256:...").
func fingerprint(pub ssh.PublicKey) string { return ssh.FingerprintSHA256(pub) }

// checkPrincipal accepts principal names that are safe on every side:
// POSIX-style user names and group-like names ("deploy", "web-admins",
// "svc.backup", "alice@EXAMPLE.COM"). Commas and spaces would be taken as
// separators in authorized_keys principals= options and principals files.
func checkPrincipal(p string) error {
	if p == "" {
		return errors.New("a principal must not be empty")
	}
	if len(p) > 64 {
		return fmt.Errorf("principal %q is longer than 64 bytes", p)
	}
	for i, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-' || c == '@') && i > 0:
		default:
			return fmt.Errorf("principal %q may contain only letters, digits, '_', and after the first character '.', '-' and '@'", p)
		}
	}
	return nil
}

// checkHostPattern accepts host patterns as ssh_config's Host takes them,
// without negation: host names or addresses with '*' (any run of
// characters, dots included) and '?' (one character).
func checkHostPattern(p string) error {
	if p == "" {
		return errors.New("a host pattern must not be empty")
	}
	if len(p) > 253 {
		return fmt.Errorf("host pattern %q is longer than 253 bytes", p)
	}
	for _, c := range p {
		if !hostChar(c) && c != '*' && c != '?' {
			return fmt.Errorf("host pattern %q may contain only letters, digits, '.', '-', '_', ':' and the wildcards '*' and '?'", p)
		}
	}
	if strings.HasPrefix(p, ".") || strings.Contains(p, "..") {
		return fmt.Errorf("host pattern %q has an empty label", p)
	}
	return nil
}

func hostChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '-' || c == '_' || c == ':'
}

// normaliseHost lower-cases host and removes a trailing dot and IPv6
// brackets; it returns "" for a host that no pattern may match.
func normaliseHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" || len(host) > 253 {
		return ""
	}
	for _, c := range host {
		if !hostChar(c) {
			return ""
		}
	}
	return host
}

// globMatch reports whether s matches pattern, where '*' matches any run
// of characters and '?' exactly one. It runs in O(len(s)·len(pattern)) at
// worst, whatever the pattern.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
