package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/credential"
)

func (e *env) identityFile() string {
	return filepath.Join(e.vars["XDG_CONFIG_HOME"], "jit", identityFileName)
}

// withKey gives e a saved key pair and returns it.
func (e *env) withKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := credential.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := credential.SaveIdentity(e.identityFile(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func loadKey(t *testing.T, path string) *age.X25519Identity {
	t.Helper()
	id, err := credential.LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// keyRoutes is a server that knows alice and stores the key she sends.
func keyRoutes() map[string][]answer {
	return map[string][]answer{
		"GET /whoami":        {{JSON: jit.Identity{Email: "alice@example.com", Groups: []string{}, Via: "token"}}},
		"PUT /me/public-key": {{JSON: jit.PublicKey{Email: "alice@example.com", Key: "(as sent)", CreatedAt: t0}}},
	}
}

func putBodies(f *fakeAPI) []string {
	var keys []string
	for _, c := range f.allCalls() {
		if c.Method == "PUT" && c.Path == "/me/public-key" {
			k, _ := c.Body["public_key"].(string)
			keys = append(keys, k)
		}
	}
	return keys
}

func TestLoginMakesAndRegistersKey(t *testing.T) {
	f := newFakeAPI(t, keyRoutes())
	e := newEnv(t, nil)
	res := e.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice")
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("first login: exit %d, stderr %q", res.code, res.stderr)
	}
	id := loadKey(t, e.identityFile())
	key := id.Recipient().String()
	want := "Logged in to " + f.srv.URL + " as alice@example.com.\n" +
		"Created a key for receiving database credentials in " + e.identityFile() + " (keep it private).\n" +
		"Public key: " + key + "\n"
	if res.stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, want)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(e.identityFile())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("identity file mode %04o, want 0600", fi.Mode().Perm())
		}
	}
	if strings.Contains(res.stdout, "AGE-SECRET-KEY") {
		t.Error("login printed the private key")
	}

	// A second login keeps the key and registers it again.
	res = e.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice")
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("second login: exit %d, stderr %q", res.code, res.stderr)
	}
	if want := "Logged in to " + f.srv.URL + " as alice@example.com.\n"; res.stdout != want {
		t.Errorf("second login printed %q, want %q", res.stdout, want)
	}
	if again := loadKey(t, e.identityFile()); again.String() != id.String() {
		t.Error("the second login replaced the key")
	}
	if got := putBodies(f); len(got) != 2 || got[0] != key || got[1] != key {
		t.Errorf("registered %q, want %s twice", got, key)
	}
	for _, c := range f.allCalls() {
		if c.Token != "dev-alice" {
			t.Errorf("%s %s sent token %q", c.Method, c.Path, c.Token)
		}
	}

	// In JSON mode stdout is the identity document only.
	e2 := newEnv(t, nil)
	res = e2.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice", "-o", "json")
	if res.code != 0 {
		t.Fatalf("login -o json: exit %d, stderr %q", res.code, res.stderr)
	}
	sameJSON(t, res.stdout, jit.Identity{Email: "alice@example.com", Groups: []string{}, Via: "token"})
	if !strings.Contains(res.stderr, "Public key: "+loadKey(t, e2.identityFile()).Recipient().String()) {
		t.Errorf("login -o json: stderr %q lacks the public key", res.stderr)
	}
}

func TestLoginNoKey(t *testing.T) {
	f := whoamiServer(t, "alice@example.com")
	e := newEnv(t, nil)
	res := e.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice", "--no-key")
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if _, err := os.Stat(e.identityFile()); !os.IsNotExist(err) {
		t.Errorf("--no-key made a key file: %v", err)
	}
	if n := len(f.allCalls()); n != 1 {
		t.Errorf("%d calls, want only whoami", n)
	}
}

func TestLoginKeyProblems(t *testing.T) {
	t.Run("server without the endpoint", func(t *testing.T) {
		routes := keyRoutes()
		routes["PUT /me/public-key"] = []answer{{Status: 404, Code: "not_found", Detail: "no endpoint /api/v1/me/public-key"}}
		f := newFakeAPI(t, routes)
		e := newEnv(t, nil)
		res := e.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice")
		if res.code != 0 {
			t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
		}
		if want := "jit: warning: " + f.srv.URL + " does not accept public keys, so it cannot deliver database credentials to you\n"; res.stderr != want {
			t.Errorf("stderr %q, want %q", res.stderr, want)
		}
		if got := readConfig(t, e.configFile()); got.Token != "dev-alice" {
			t.Errorf("config %+v", got)
		}
	})
	t.Run("key refused", func(t *testing.T) {
		routes := keyRoutes()
		routes["PUT /me/public-key"] = []answer{{Status: 400, Code: "invalid_public_key", Detail: "not an age key"}}
		f := newFakeAPI(t, routes)
		e := newEnv(t, nil)
		res := e.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice")
		if res.code != 1 {
			t.Fatalf("exit %d, want 1", res.code)
		}
		if want := "jit: logged in, but registering your public key failed: invalid_public_key: not an age key\n"; res.stderr != want {
			t.Errorf("stderr %q, want %q", res.stderr, want)
		}
		// The token was good: it is kept.
		if got := readConfig(t, e.configFile()); got.Token != "dev-alice" {
			t.Errorf("config %+v", got)
		}
	})
	t.Run("key readable by others", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no Unix modes")
		}
		f := newFakeAPI(t, keyRoutes())
		e := newEnv(t, nil)
		e.withKey(t)
		if err := os.Chmod(e.identityFile(), 0o644); err != nil {
			t.Fatal(err)
		}
		res := e.run(t, "login", "--server", f.srv.URL, "--token", "dev-alice")
		if res.code != 1 || !strings.Contains(res.stderr, "run: chmod 600 "+e.identityFile()) {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if got := putBodies(f); len(got) != 0 {
			t.Errorf("registered %q from a loose key file", got)
		}
	})
}

func TestKeyShow(t *testing.T) {
	e := newEnv(t, nil)
	id := e.withKey(t)
	mine := id.Recipient().String()
	other, _ := credential.GenerateIdentity()
	tests := []struct {
		name   string
		answer answer
		table  string
		json   map[string]any
	}{
		{"same", answer{JSON: jit.PublicKey{Email: "alice@example.com", Key: mine, CreatedAt: t0.Add(-48 * time.Hour)}},
			"Server:      has this key (registered 2d ago)\n",
			map[string]any{"public_key": mine, "file": e.identityFile(), "registered": true, "matches": true, "server_public_key": mine}},
		{"different", answer{JSON: jit.PublicKey{Email: "alice@example.com", Key: other.Recipient().String(), CreatedAt: t0}},
			"Server:      has a different key, " + other.Recipient().String() + ": credentials go to that key; run 'jit login' here to use this one\n",
			map[string]any{"public_key": mine, "file": e.identityFile(), "registered": true, "matches": false, "server_public_key": other.Recipient().String()}},
		{"none", answer{Status: 404, Code: "not_found", Detail: "no public key"},
			"Server:      has no key for you: run 'jit login' to register this one\n",
			map[string]any{"public_key": mine, "file": e.identityFile(), "registered": false, "matches": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string][]answer{"GET /me/public-key": {tt.answer}})
			e.vars["JIT_SERVER"], e.vars["JIT_TOKEN"] = f.srv.URL, "dev-alice"
			res := e.run(t, "key", "show")
			if res.code != 0 || res.stderr != "" {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			want := "Public key:  " + mine + "\nFile:        " + e.identityFile() + "\n" + tt.table
			if res.stdout != want {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, want)
			}
			res = e.run(t, "key", "show", "-o", "json")
			if res.code != 0 {
				t.Fatalf("json: exit %d, stderr %q", res.code, res.stderr)
			}
			sameJSON(t, res.stdout, tt.json)
		})
	}
	t.Run("no local key", func(t *testing.T) {
		e := newEnv(t, map[string]string{"JIT_SERVER": "http://127.0.0.1:1", "JIT_TOKEN": "dev-alice"})
		res := e.run(t, "key", "show")
		want := "jit: no key for receiving credentials on this machine (" + e.identityFile() + "): run 'jit login' to make one\n"
		if res.code != 1 || res.stderr != want {
			t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, want)
		}
	})
}

func TestKeyRotate(t *testing.T) {
	f := newFakeAPI(t, map[string][]answer{"PUT /me/public-key": {{JSON: jit.PublicKey{}}}})
	e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
	old := e.withKey(t)
	res := e.run(t, "key", "rotate")
	if res.code != 0 || res.stderr != "" {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	next := loadKey(t, e.identityFile())
	if next.String() == old.String() {
		t.Fatal("rotate kept the old key")
	}
	want := "New public key: " + next.Recipient().String() + " (in " + e.identityFile() + ")\n" +
		"Credentials issued before now were encrypted to the old key and can no longer be read;\n" +
		"ask for new access if you still need one.\n"
	if res.stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", res.stdout, want)
	}
	if got := putBodies(f); len(got) != 1 || got[0] != next.Recipient().String() {
		t.Errorf("registered %q, want the new key", got)
	}

	t.Run("refused by the server", func(t *testing.T) {
		f := newFakeAPI(t, map[string][]answer{"PUT /me/public-key": {{Status: 503, Code: "unavailable", Detail: "down"}}})
		e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
		old := e.withKey(t)
		res := e.run(t, "key", "rotate")
		if res.code != 1 || res.stderr != "jit: registering the new public key: unavailable: down\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if kept := loadKey(t, e.identityFile()); kept.String() != old.String() {
			t.Error("a refused rotate changed the local key")
		}
	})
	t.Run("first key, json", func(t *testing.T) {
		f := newFakeAPI(t, map[string][]answer{"PUT /me/public-key": {{JSON: jit.PublicKey{}}}})
		e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
		res := e.run(t, "key", "rotate", "-o", "json")
		if res.code != 0 {
			t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
		}
		sameJSON(t, res.stdout, map[string]any{"public_key": loadKey(t, e.identityFile()).Recipient().String(), "file": e.identityFile()})
	})
}
