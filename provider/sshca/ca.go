package sshca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// CA key types that InitCA creates.
const (
	CAKeyEd25519   = "ed25519"
	CAKeyECDSAP256 = "ecdsa-p256"
	CAKeyRSA3072   = "rsa-3072"
)

// CAKeyTypes lists the CA key types InitCA accepts; the first is the
// default.
var CAKeyTypes = []string{CAKeyEd25519, CAKeyECDSAP256, CAKeyRSA3072}

// maxCAFileSize bounds how much of a CA key file is read: an RSA-4096 key
// in OpenSSH form is about 3.4 KiB, so anything near this limit is not a
// key file.
const maxCAFileSize = 64 << 10

// minCARSABits is the smallest RSA CA key LoadCA accepts.
const minCARSABits = 3072

// caComment is written into the key files InitCA creates, so that a person
// looking at one knows what it is.
const caComment = "jit ssh user CA"

// LoadCA reads the CA private key from path: an unencrypted OpenSSH (or
// PEM) private key of type Ed25519, ECDSA (NIST P-256, P-384 or P-521) or
// RSA of at least 3072 bits.
//
// The file must be a regular file that neither group nor others may read
// or write (mode 0600 or stricter): a CA key anyone on the host can read
// lets them log in anywhere the CA is trusted. The error then names the
// mode found. Errors never contain the key's contents.
func LoadCA(path string) (ssh.Signer, error) {
	// openNonblock makes the open of a FIFO or device return at once, so
	// that the check below refuses it instead of the open waiting for a
	// writer (with the provider's lock held); it changes nothing for a
	// regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("open SSH CA key file: %w", err)
	}
	defer f.Close()
	// The mode is read from the open file, so that it is the mode of the
	// very file whose contents are read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("SSH CA key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("SSH CA key file %s is not a regular file (%s)", path, st.Mode().Type())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("SSH CA key file %s has mode %04o: it must not be readable or writable by group or others (mode 0600 or stricter; run chmod 600 %s)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read SSH CA key file %s: %w", path, err)
	}
	if len(data) > maxCAFileSize {
		return nil, fmt.Errorf("SSH CA key file %s is larger than %d bytes: not a private key", path, maxCAFileSize)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("SSH CA key file %s is encrypted with a passphrase: jit needs an unencrypted key, protected by the file's mode", path)
		}
		// The parser's messages describe the format, never the bytes.
		return nil, fmt.Errorf("SSH CA key file %s: not an OpenSSH private key: %w", path, err)
	}
	if err := checkCAKey(signer.PublicKey()); err != nil {
		return nil, fmt.Errorf("SSH CA key file %s: %w", path, err)
	}
	return signer, nil
}

// checkCAKey refuses CA keys that OpenSSH would not accept or that are too
// weak to certify access.
func checkCAKey(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return nil
	case ssh.KeyAlgoRSA:
		if bits := rsaBits(pub); bits < minCARSABits {
			return fmt.Errorf("RSA key of %d bits: a CA key needs at least %d", bits, minCARSABits)
		}
		return nil
	}
	return fmt.Errorf("key type %s cannot be an SSH CA key here (use Ed25519, ECDSA or RSA of at least %d bits)", pub.Type(), minCARSABits)
}

// InitCA makes sure a CA key exists at path. When the file is absent it
// creates a new key of keyType (one of CAKeyTypes; "" means Ed25519) with
// mode 0600, refusing to overwrite a file that appears meanwhile, and
// returns created = true. When the file exists it is loaded with LoadCA
// (whatever its key type) and returned with created = false, so running
// InitCA again is harmless. The parent directory must exist: creating
// directories for a secret is left to the operator, who chooses their
// owner and mode.
func InitCA(path, keyType string) (created bool, pub ssh.PublicKey, err error) {
	if keyType == "" {
		keyType = CAKeyEd25519
	}
	if path == "" {
		return false, nil, errors.New("SSH CA key file: no path given")
	}
	if _, err := os.Lstat(path); err == nil {
		signer, err := LoadCA(path)
		if err != nil {
			return false, nil, err
		}
		return false, signer.PublicKey(), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, nil, fmt.Errorf("SSH CA key file: %w", err)
	}
	priv, err := generateCAKey(keyType)
	if err != nil {
		return false, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, caComment)
	if err != nil {
		return false, nil, fmt.Errorf("encode the new SSH CA key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return false, nil, fmt.Errorf("new SSH CA key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		// Another process created it between the check and here: use
		// theirs, as if it had been there first.
		s, lerr := LoadCA(path)
		if lerr != nil {
			return false, nil, lerr
		}
		return false, s.PublicKey(), nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil, fmt.Errorf("create SSH CA key file %s: the directory %s does not exist", path, filepath.Dir(path))
	case err != nil:
		return false, nil, fmt.Errorf("create SSH CA key file: %w", err)
	}
	werr := writeAndSync(f, pem.EncodeToMemory(block))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A half-written key must not be taken for a key by the next run.
		_ = os.Remove(path)
		return false, nil, fmt.Errorf("write SSH CA key file %s: %w", path, werr)
	}
	return true, signer.PublicKey(), nil
}

func writeAndSync(f *os.File, b []byte) error {
	// The mode given to OpenFile is reduced by the umask, never widened;
	// Chmod makes it exactly 0600 whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

func generateCAKey(keyType string) (crypto.PrivateKey, error) {
	switch keyType {
	case CAKeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 CA key: %w", err)
		}
		return priv, nil
	case CAKeyECDSAP256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ECDSA P-256 CA key: %w", err)
		}
		return priv, nil
	case CAKeyRSA3072:
		priv, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return nil, fmt.Errorf("generate RSA-3072 CA key: %w", err)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("unknown SSH CA key type %q (known: %s)", keyType, strings.Join(CAKeyTypes, ", "))
}

// AuthorizedKey returns pub as one line of an authorized_keys file, ending
// in a newline: the form sshd's TrustedUserCAKeys file takes.
func AuthorizedKey(pub ssh.PublicKey) string {
	return string(ssh.MarshalAuthorizedKey(pub))
}
