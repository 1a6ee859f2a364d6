package sshca

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// KRL encoding constants, from OpenSSH's PROTOCOL.krl.
const (
	krlMagic          = "SSHKRL\n\x00"
	krlFormatVersion  = 1
	krlSectionCerts   = 1
	krlCertSerialList = 0x20
	krlCertKeyID      = 0x23
	maxKeyIDLength    = 1024
	// maxCAKeyLineLength is far above an RSA-16384 public key in
	// authorized_keys form (about 2.8 KB).
	maxCAKeyLineLength = 4096
)

// Revoked is a certificate to list in a KRL: what jitd keeps of a grant
// that ended before its certificate would have expired by itself.
type Revoked struct {
	// Serial is the certificate's serial number (never 0).
	Serial uint64
	// KeyID is the certificate's key ID ("jit:<user>:<request ID>").
	KeyID string
	// ValidBefore is when the certificate expires by itself. Once it
	// has passed the certificate needs no revocation and BuildKRL leaves
	// it out. The zero time keeps the entry for ever.
	ValidBefore time.Time
	// CAFingerprint is the SHA256 fingerprint of the CA key that signed
	// the certificate, or "" when unknown (then it is taken to be the key
	// BuildKRL is given).
	CAFingerprint string
	// CAKey is the public key of the CA that signed the certificate, in
	// authorized_keys form without comment ("ssh-ed25519 AAAA..."), or ""
	// when unknown. BuildKRL lists the certificate under this key, not
	// only under the key it is given: after the CA key is replaced, hosts
	// trust the old key as well until its certificates have expired, and
	// a revoked certificate of the old key must stay revoked there. An
	// entry of another CA without CAKey cannot be listed and is left out.
	CAKey string
}

// RevokedFromHandle reads the revocation entry of a certificate from the
// handle Grant returned (GrantResponse.Handle, as stored by jitd). It fails
// for a handle that is not one of this provider's or lacks the serial,
// key ID or expiry: such a certificate cannot be put on a KRL, and the
// caller must say so rather than publish a KRL silently missing it.
func RevokedFromHandle(handle json.RawMessage) (Revoked, error) {
	h, err := decodeHandle(handle)
	if err != nil {
		return Revoked{}, err
	}
	return Revoked{Serial: h.Serial, KeyID: h.KeyID, ValidBefore: h.ValidBefore, CAFingerprint: h.CA, CAKey: h.CAKey}, nil
}

// BuildKRL encodes an OpenSSH key revocation list (PROTOCOL.krl, format
// version 1) that revokes the certificates in revoked by serial number and
// by key ID, in one certificate section per CA key. sshd reads it through
// RevokedKeys; the same file works with ssh-keygen -Q.
//
// Entries whose ValidBefore is not after now are left out: those
// certificates have expired by themselves, so the KRL only ever holds the
// certificates that would otherwise still work. An entry is listed under
// its CAKey when it has one (an earlier CA key, after a rotation), else
// under ca; an entry whose CAFingerprint names another key than ca and
// that has no CAKey is left out, since its CA key is unknown. The output
// depends only on the arguments: sections are sorted by CA key, serials
// and key IDs sorted and de-duplicated, generated_date is now (in seconds)
// and krl_version is version, which should grow whenever the list changes
// (a counter, or the time of the newest revocation in seconds). A KRL
// revoking nothing is valid and revokes nothing.
//
// Errors: ca is missing or a certificate; an unexpired entry with neither
// serial nor key ID, with a key ID OpenSSH cannot read (a NUL byte, over
// 1024 bytes), or with a CAKey that is not a CA public key or does not
// match its CAFingerprint. Such an entry could not be listed, and a list
// silently missing it would keep the certificate working.
func BuildKRL(ca ssh.PublicKey, revoked []Revoked, now time.Time, version uint64) ([]byte, error) {
	if ca == nil {
		return nil, errors.New("build KRL: no CA key")
	}
	if _, isCert := ca.(*ssh.Certificate); isCert {
		return nil, errors.New("build KRL: the CA key is a certificate")
	}
	given := knownCA{key: ca, fp: fingerprint(ca), wire: string(ca.Marshal())}
	// Sections by the CA key's wire form, and the CA keys read from
	// entries by their CAKey.
	sections := map[string]*krlSection{}
	parsed := map[string]knownCA{}
	for i, r := range revoked {
		if !r.ValidBefore.IsZero() && !r.ValidBefore.After(now) {
			continue
		}
		signer := given
		switch {
		case r.CAKey != "":
			k, ok := parsed[r.CAKey]
			if !ok {
				key, err := parseCAKeyLine(r.CAKey)
				if err != nil {
					return nil, fmt.Errorf("build KRL: entry %d (serial %d): %w", i, r.Serial, err)
				}
				k = knownCA{key: key, fp: fingerprint(key), wire: string(key.Marshal())}
				parsed[r.CAKey] = k
			}
			if r.CAFingerprint != "" && r.CAFingerprint != k.fp {
				return nil, fmt.Errorf("build KRL: entry %d (serial %d): its CA key is not the one its CA fingerprint names", i, r.Serial)
			}
			signer = k
		case r.CAFingerprint != "" && r.CAFingerprint != given.fp:
			continue
		}
		if r.Serial == 0 && r.KeyID == "" {
			return nil, fmt.Errorf("build KRL: entry %d has neither a serial nor a key ID", i)
		}
		if err := checkKeyID(r.KeyID); err != nil {
			return nil, fmt.Errorf("build KRL: entry %d (serial %d): %w", i, r.Serial, err)
		}
		sect := sections[signer.wire]
		if sect == nil {
			sect = &krlSection{ca: signer.key, serials: map[uint64]bool{}, ids: map[string]bool{}}
			sections[signer.wire] = sect
		}
		if r.Serial != 0 {
			sect.serials[r.Serial] = true
		}
		if r.KeyID != "" {
			sect.ids[r.KeyID] = true
		}
	}

	date := now.Unix()
	if date < 0 {
		date = 0
	}
	b := []byte(krlMagic)
	b = binary.BigEndian.AppendUint32(b, krlFormatVersion)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(date))
	b = binary.BigEndian.AppendUint64(b, 0) // flags: none defined
	b = appendString(b, nil)                // reserved
	b = appendString(b, nil)                // comment
	wires := make([]string, 0, len(sections))
	for w := range sections {
		wires = append(wires, w)
	}
	sort.Strings(wires)
	for _, w := range wires {
		b = append(b, krlSectionCerts)
		b = appendString(b, sections[w].encode())
	}
	return b, nil
}

// knownCA is a CA key with its fingerprint and wire form.
type knownCA struct {
	key      ssh.PublicKey
	fp, wire string
}

// krlSection is the revocations of one CA key.
type krlSection struct {
	ca      ssh.PublicKey
	serials map[uint64]bool
	ids     map[string]bool
}

// encode returns the section's data: the CA key, then a serial list and a
// key ID list, each sorted, when not empty.
func (s *krlSection) encode() []byte {
	serials := make([]uint64, 0, len(s.serials))
	for n := range s.serials {
		serials = append(serials, n)
	}
	sort.Slice(serials, func(i, j int) bool { return serials[i] < serials[j] })
	ids := make([]string, 0, len(s.ids))
	for id := range s.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	var sect []byte
	sect = appendString(sect, s.ca.Marshal())
	sect = appendString(sect, nil) // reserved
	if len(serials) > 0 {
		var list []byte
		for _, n := range serials {
			list = binary.BigEndian.AppendUint64(list, n)
		}
		sect = append(sect, krlCertSerialList)
		sect = appendString(sect, list)
	}
	if len(ids) > 0 {
		var list []byte
		for _, id := range ids {
			list = appendString(list, []byte(id))
		}
		sect = append(sect, krlCertKeyID)
		sect = appendString(sect, list)
	}
	return sect
}

// caKeyLine returns pub in the form of Revoked.CAKey: an authorized_keys
// line without comment or newline.
func caKeyLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// parseCAKeyLine reads a Revoked.CAKey: exactly "TYPE BASE64", a public
// key that could be an SSH CA key here (see checkCAKey).
func parseCAKeyLine(line string) (ssh.PublicKey, error) {
	f := strings.Fields(line)
	if len(f) != 2 || len(line) > maxCAKeyLineLength {
		return nil, errors.New("its CA key is not a public key in authorized_keys form")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return nil, errors.New("its CA key is not a public key in authorized_keys form")
	}
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil || pub.Type() != f[0] {
		return nil, errors.New("its CA key is not a public key in authorized_keys form")
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return nil, errors.New("its CA key is a certificate")
	}
	if err := checkCAKey(pub); err != nil {
		return nil, fmt.Errorf("its CA key: %w", err)
	}
	return pub, nil
}

// checkKeyID refuses key IDs OpenSSH cannot read back from a KRL (it reads
// them as C strings) and absurdly long ones.
func checkKeyID(id string) error {
	if strings.ContainsRune(id, 0) {
		return errors.New("key ID contains a NUL byte")
	}
	if len(id) > maxKeyIDLength {
		return fmt.Errorf("key ID is longer than %d bytes", maxKeyIDLength)
	}
	return nil
}

// appendString appends an SSH wire "string": a uint32 length and the bytes.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
