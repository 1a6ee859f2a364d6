package credential

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"filippo.io/age"

	"github.com/jitaccess/jit"
)

// CodeInvalidPublicKey is the error code of a public key ParseRecipient
// refuses; the API answers it with status 400.
const CodeInvalidPublicKey = "invalid_public_key"

// ErrInsecureIdentity is wrapped by LoadIdentity's error when the identity
// file can be read or written by other users than its owner.
var ErrInsecureIdentity = errors.New("identity file is accessible by other users")

// maxIdentityFileBytes bounds what LoadIdentity reads: an identity file is
// a few lines, so anything much larger is not one.
const maxIdentityFileBytes = 64 << 10

// maxRecipientLen bounds what ParseRecipient looks at. An X25519 recipient
// is 62 characters; the bound only keeps error paths cheap.
const maxRecipientLen = 256

// GenerateIdentity makes a new X25519 key pair from the system's secure
// random source.
func GenerateIdentity() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generating a key pair: %w", err)
	}
	return id, nil
}

// SaveIdentity writes id to a new file at path in the age identity file
// format (readable by `age -d -i path`), with mode 0600. Missing parent
// directories are created with mode 0700; an existing directory is left as
// it is. The file appears complete or not at all: it is written to a
// temporary file in the same directory and then linked into place.
//
// SaveIdentity never overwrites: when path exists it fails with an error
// that wraps fs.ErrExist and leaves the existing file untouched, because
// losing a private key makes every credential encrypted to it unreadable.
// Use ReplaceIdentity to replace a key on purpose.
func SaveIdentity(path string, id *age.X25519Identity) error {
	return writeIdentity(path, id, false)
}

// ReplaceIdentity is SaveIdentity for a deliberate key change: it
// atomically replaces any file at path (a reader sees the old key or the
// new one, never a mix). Credentials encrypted to the old key can no
// longer be opened afterwards.
func ReplaceIdentity(path string, id *age.X25519Identity) error {
	return writeIdentity(path, id, true)
}

func writeIdentity(path string, id *age.X25519Identity, replace bool) (err error) {
	if id == nil {
		return errors.New("saving key: no key given")
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating key directory: %w", err)
		}
		// MkdirAll's mode is filtered by the umask; make sure the new
		// directory is private whatever the umask is.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("securing key directory: %w", err)
		}
	}
	if !replace {
		// Fail before writing anything when the answer is known.
		if _, err := os.Lstat(path); err == nil {
			return existError(path)
		}
	}
	content := identityFile(id)

	f, err := os.CreateTemp(dir, ".identity-*.tmp")
	if err != nil {
		return fmt.Errorf("writing key: %w", err)
	}
	tmp := f.Name()
	// Removing the temporary name is right in every case: after a rename it
	// no longer exists, after a link the key lives on under path.
	defer os.Remove(tmp)
	// CreateTemp already makes the file 0600; the Chmod documents the
	// intent and guards against platforms where it does not.
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return fmt.Errorf("writing key: %w", err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		f.Close()
		return fmt.Errorf("writing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing key: %w", err)
	}

	if replace {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("writing key: %w", err)
		}
	} else if err := os.Link(tmp, path); err != nil {
		// A hard link is the atomic "create only if absent"; it fails with
		// ErrExist when another writer got there first.
		if errors.Is(err, fs.ErrExist) {
			return existError(path)
		}
		// Some file systems have no hard links. Fall back to a rename after
		// one more check; the window between the two is the best such a
		// file system allows.
		if _, serr := os.Lstat(path); serr == nil {
			return existError(path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("writing key: %w", err)
		}
	}
	syncDir(dir)
	return nil
}

func existError(path string) error {
	return fmt.Errorf("%s already exists; not overwriting a key: %w", path, fs.ErrExist)
}

// syncDir makes a new directory entry durable where the platform allows.
// It is best effort: the file itself was synced, and a failure here only
// means a crash right now could lose the new name.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// identityFile is the file SaveIdentity writes. The comment lines are
// ignored by age and by LoadIdentity; the public key line is there for
// people.
func identityFile(id *age.X25519Identity) string {
	return "# jit key for receiving credentials (age X25519). Keep this file private:\n" +
		"# it decrypts every credential issued to you.\n" +
		"# public key: " + id.Recipient().String() + "\n" +
		id.String() + "\n"
}

// LoadIdentity reads the identity file at path (one age X25519 secret key;
// comment lines are ignored). It refuses a file that other users than its
// owner may read or write, with an error that wraps ErrInsecureIdentity
// and names the chmod that fixes it. A missing file fails with an error
// that wraps fs.ErrNotExist. Errors never contain key material.
func LoadIdentity(path string) (*age.X25519Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key %s is not a regular file", path)
	}
	// Windows has no Unix modes; its ACLs are left to the platform.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, but the private key in it must be yours alone; run: chmod 600 %s",
			ErrInsecureIdentity, path, fi.Mode().Perm(), shellQuote(path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxIdentityFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	if len(b) > maxIdentityFileBytes {
		return nil, fmt.Errorf("key %s is too large to be an age identity file", path)
	}
	// age's parse errors name the line and the problem, never the key.
	ids, err := age.ParseIdentities(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("key %s holds %d keys; jit needs exactly one", path, len(ids))
	}
	switch id := ids[0].(type) {
	case *age.X25519Identity:
		return id, nil
	case *age.HybridIdentity:
		return nil, fmt.Errorf("key %s is a post-quantum (hybrid) age key; jit uses X25519 keys: make one with age-keygen (without -pq) or let 'jit login' make one", path)
	default:
		return nil, fmt.Errorf("key %s is not an age X25519 key", path)
	}
}

// ParseRecipient checks that s is an age X25519 public key ("age1...", as
// age-keygen prints it) and returns it. It is strict, because the server
// stores what it accepts and encrypts credentials to it: s must be in
// canonical form (lower case, no surrounding white space). Every other
// kind of key (post-quantum hybrid "age1pq1...", plugin and tagged
// recipients, SSH keys, secret keys) is refused with a message saying what
// it is. The error is a *jit.Error with code CodeInvalidPublicKey and field
// "public_key"; its message never repeats s, since a person may have
// pasted a secret key by mistake.
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	r, msg := parseRecipient(s)
	if msg != "" {
		return nil, &jit.Error{Code: CodeInvalidPublicKey, Field: "public_key", Message: msg}
	}
	return r, nil
}

func parseRecipient(s string) (*age.X25519Recipient, string) {
	const want = "an age X25519 public key (age1..., as age-keygen prints it) is needed"
	switch {
	case s == "":
		return nil, "no public key given; " + want
	case strings.TrimSpace(s) != s:
		return nil, "the public key has surrounding white space; send it exactly as age-keygen prints it"
	case hasPrefixFold(s, "AGE-SECRET-KEY-"):
		return nil, "that is a secret key, not a public key: never share it, and make a new key if it left your machine; " +
			"send its public key (age1...), which age-keygen -y prints"
	case hasPrefixFold(s, "AGE-PLUGIN-"):
		return nil, "that is an age plugin identity, not a public key; " + want
	case strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-sha2-") || strings.HasPrefix(s, "sk-"):
		return nil, "SSH keys are not supported; " + want
	}
	if hasPrefixFold(s, "age1") {
		if s != strings.ToLower(s) {
			return nil, "the public key must be in lower case, as age-keygen prints it"
		}
		// Bech32's data part never contains "1", so the human-readable part
		// (the key type) is everything before the last one.
		if i := strings.LastIndexByte(s, '1'); i > 0 {
			switch hrp := s[:i]; {
			case hrp == "age1pq":
				return nil, "post-quantum (hybrid) age keys (age1pq1...) are not supported yet; " + want
			case strings.HasPrefix(hrp, "age1tag"):
				return nil, "tagged age recipients (" + hrp + "1...) are not supported; " + want
			case strings.HasPrefix(hrp, "age1") && len(hrp) <= 64:
				return nil, "age plugin recipients (" + hrp + "1...) are not supported; " + want
			}
		}
	}
	if len(s) > maxRecipientLen {
		return nil, "the public key is too long; " + want
	}
	if !strings.HasPrefix(s, "age1") {
		return nil, "not an age public key; " + want
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, "malformed age public key (wrong length or checksum); " + want
	}
	if r.String() != s {
		// Bech32 has one encoding per key; anything else was altered.
		return nil, "the public key is not in canonical form; " + want
	}
	return r, ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
