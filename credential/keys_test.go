package credential

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/jitaccess/jit"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestGenerateIdentityIsFresh(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	if a.String() == b.String() || a.Recipient().String() == b.Recipient().String() {
		t.Fatal("two generated identities are the same")
	}
}

func TestSaveAndLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	// The parent directories do not exist yet.
	path := filepath.Join(dir, "conf", "jit", "identity.txt")
	id := newIdentity(t)
	if err := SaveIdentity(path, id); err != nil {
		t.Fatal(err)
	}
	got, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != id.String() {
		t.Error("loaded a different key than was saved")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "# public key: "+id.Recipient().String()+"\n") {
		t.Errorf("file lacks the public key comment:\n%s", b)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode = %04o, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("directory mode = %04o, want 0700", di.Mode().Perm())
		}
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (no temporary files)", len(entries))
	}
}

// TestIdentityFileWorksWithAge checks that the file is a real age identity
// file: the age command decrypts what Seal encrypted to it.
func TestIdentityFileWorksWithAge(t *testing.T) {
	ageBin, err := exec.LookPath("age")
	if err != nil {
		t.Skip("the age command is not on PATH")
	}
	path := filepath.Join(t.TempDir(), "identity.txt")
	id := newIdentity(t)
	if err := SaveIdentity(path, id); err != nil {
		t.Fatal(err)
	}
	env, err := Seal(id.Recipient().String(), jit.CredentialPayload{Kind: KindPassword, Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ageBin, "-d", "-i", path)
	cmd.Stdin = strings.NewReader(env)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if !strings.Contains(string(out), `"secret":"s3cret"`) {
		t.Errorf("age -d printed %q", out)
	}
}

func TestSaveIdentityRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.txt")
	first := newIdentity(t)
	if err := SaveIdentity(path, first); err != nil {
		t.Fatal(err)
	}
	err := SaveIdentity(path, newIdentity(t))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second save: %v, want an error wrapping fs.ErrExist", err)
	}
	got, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != first.String() {
		t.Error("the refused save changed the key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after the refused save", len(entries))
	}
}

// TestSaveIdentityRace has many writers race to create one file: exactly
// one wins and the file holds the winner's key.
func TestSaveIdentityRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.txt")
	const n = 8
	ids := make([]*age.X25519Identity, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = newIdentity(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = SaveIdentity(path, ids[i])
		}()
	}
	wg.Wait()
	got, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			if got.String() != ids[i].String() {
				t.Errorf("writer %d succeeded but the file holds another key", i)
			}
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d writers succeeded, want 1", winners)
	}
}

func TestReplaceIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.txt")
	if err := SaveIdentity(path, newIdentity(t)); err != nil {
		t.Fatal(err)
	}
	next := newIdentity(t)
	if err := ReplaceIdentity(path, next); err != nil {
		t.Fatal(err)
	}
	got, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != next.String() {
		t.Error("ReplaceIdentity did not replace the key")
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode = %04o, want 0600", fi.Mode().Perm())
		}
	}
}

func TestLoadIdentityRefusesLooseModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o620, 0o660, 0o666} {
		path := filepath.Join(t.TempDir(), "identity.txt")
		if err := SaveIdentity(path, newIdentity(t)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadIdentity(path)
		if !errors.Is(err, ErrInsecureIdentity) {
			t.Errorf("mode %04o: %v, want ErrInsecureIdentity", mode, err)
			continue
		}
		if want := "run: chmod 600 " + path; !strings.Contains(err.Error(), want) {
			t.Errorf("mode %04o: error %q lacks %q", mode, err, want)
		}
		if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Errorf("error shows the key: %q", err)
		}
	}
	// Owner-only modes are fine.
	path := filepath.Join(t.TempDir(), "identity.txt")
	if err := SaveIdentity(path, newIdentity(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadIdentityProblems(t *testing.T) {
	x := newIdentity(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "", "no identities found"},
		{"comments only", "# nothing here\n", "no identities found"},
		{"garbage", "hello\n", "unknown identity type"},
		{"two keys", x.String() + "\n" + newIdentity(t).String() + "\n", "holds 2 keys"},
		{"hybrid", pq.String() + "\n", "post-quantum"},
		{"bad checksum", x.String()[:len(x.String())-1] + "q\n", "malformed secret key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.txt")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadIdentity(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("error shows key material: %q", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := LoadIdentity(filepath.Join(t.TempDir(), "none.txt"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v, want one wrapping fs.ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadIdentity(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("error %v", err)
		}
	})
}

func TestParseRecipient(t *testing.T) {
	id := newIdentity(t)
	good := id.Recipient().String()
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRecipient(good)
	if err != nil {
		t.Fatalf("ParseRecipient(%q): %v", good, err)
	}
	if r.String() != good {
		t.Errorf("parsed %q, want %q", r, good)
	}

	flip := []byte(good)
	if flip[10] == 'q' {
		flip[10] = 'p'
	} else {
		flip[10] = 'q'
	}
	tests := []struct {
		name, key, want string
	}{
		{"empty", "", "no public key given"},
		{"trailing newline", good + "\n", "white space"},
		{"leading space", " " + good, "white space"},
		{"upper case", strings.ToUpper(good), "lower case"},
		{"secret key", id.String(), "that is a secret key"},
		{"secret key lower case", strings.ToLower(id.String()), "that is a secret key"},
		{"post-quantum", pq.Recipient().String(), "post-quantum"},
		{"plugin", "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", "plugin recipients (age1yubikey1...)"},
		{"tagged", "age1tag1qwe0kafsjrar4txm6heqnhpfuggzr0gvznz7fvygxrlq90u5mq2pysxtw6h", "tagged age recipients"},
		{"ssh", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice", "SSH keys"},
		{"bad checksum", string(flip), "malformed"},
		{"truncated", good[:len(good)-5], "malformed"},
		{"too long", good + strings.Repeat("q", 300), "too long"},
		{"not age", "hello", "not an age public key"},
		{"wrong type", "agf1" + good[4:], "not an age public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecipient(tt.key)
			if err == nil {
				t.Fatalf("ParseRecipient accepted %q", tt.key)
			}
			var je *jit.Error
			if !errors.As(err, &je) || je.Code != CodeInvalidPublicKey || je.Field != "public_key" {
				t.Fatalf("error %#v, want a *jit.Error with code %s and field public_key", err, CodeInvalidPublicKey)
			}
			if !strings.Contains(je.Message, tt.want) {
				t.Errorf("message %q lacks %q", je.Message, tt.want)
			}
			// The message never repeats the input: it may be a secret key.
			if len(tt.key) > 20 && strings.Contains(je.Message, strings.TrimSpace(tt.key)[:20]) {
				t.Errorf("message repeats the key: %q", je.Message)
			}
		})
	}
}
