package sshca

import (
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
	// the certificate, or "" when unknown. BuildKRL leaves out entries
	// of other CAs, so that the KRL of a new CA key does not carry the
	// serials of an old one.
	CAFingerprint string
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
	return Revoked{Serial: h.Serial, KeyID: h.KeyID, ValidBefore: h.ValidBefore, CAFingerprint: h.CA}, nil
}

// BuildKRL encodes an OpenSSH key revocation list (PROTOCOL.krl, format
// version 1) that revokes the certificates in revoked, signed by ca, by
// serial number and by key ID. sshd reads it through RevokedKeys; the same
// file works with ssh-keygen -Q.
//
// Entries whose ValidBefore is not after now are left out: those
// certificates have expired by themselves, so the KRL only ever holds the
// certificates that would otherwise still work. Entries of another CA
// (CAFingerprint set and different from ca's) are left out as well. The
// output depends only on the arguments: serials and key IDs are sorted and
// de-duplicated, generated_date is now (in seconds) and krl_version is
// version, which should grow whenever the list changes (a counter, or the time
// of the newest revocation in seconds). A KRL revoking nothing is valid and revokes
// nothing.
//
// Errors: ca is missing or a certificate; an entry with neither serial nor
// key ID, or a key ID OpenSSH cannot read (a NUL byte, over 1024 bytes).
func BuildKRL(ca ssh.PublicKey, revoked []Revoked, now time.Time, version uint64) ([]byte, error) {
	if ca == nil {
		return nil, errors.New("build KRL: no CA key")
	}
	if _, isCert := ca.(*ssh.Certificate); isCert {
		return nil, errors.New("build KRL: the CA key is a certificate")
	}
	caFP := fingerprint(ca)
	serialSet := map[uint64]bool{}
	idSet := map[string]bool{}
	for i, r := range revoked {
		if r.CAFingerprint != "" && r.CAFingerprint != caFP {
			continue
		}
		if !r.ValidBefore.IsZero() && !r.ValidBefore.After(now) {
			continue
		}
		if r.Serial == 0 && r.KeyID == "" {
			return nil, fmt.Errorf("build KRL: entry %d has neither a serial nor a key ID", i)
		}
		if err := checkKeyID(r.KeyID); err != nil {
			return nil, fmt.Errorf("build KRL: entry %d (serial %d): %w", i, r.Serial, err)
		}
		if r.Serial != 0 {
			serialSet[r.Serial] = true
		}
		if r.KeyID != "" {
			idSet[r.KeyID] = true
		}
	}
	serials := make([]uint64, 0, len(serialSet))
	for s := range serialSet {
		serials = append(serials, s)
	}
	sort.Slice(serials, func(i, j int) bool { return serials[i] < serials[j] })
	ids := make([]string, 0, len(idSet))
	for id := range idSet {
		ids = append(ids, id)
	}
	sort.Strings(ids)

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
	if len(serials) == 0 && len(ids) == 0 {
		return b, nil
	}

	var sect []byte
	sect = appendString(sect, ca.Marshal())
	sect = appendString(sect, nil) // reserved
	if len(serials) > 0 {
		var list []byte
		for _, s := range serials {
			list = binary.BigEndian.AppendUint64(list, s)
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
	b = append(b, krlSectionCerts)
	b = appendString(b, sect)
	return b, nil
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
