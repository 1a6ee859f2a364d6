package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jitaccess/jit"
)

// whoamiServer answers whoami with email and records the tokens it saw.
func whoamiServer(t *testing.T, email string) *fakeAPI {
	return newFakeAPI(t, map[string][]answer{"GET /whoami": {{JSON: jit.Identity{Email: email, Groups: []string{}, Via: "token"}}}})
}

func writeConfig(t *testing.T, path string, cfg fileConfig, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readConfig(t *testing.T, path string) fileConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg fileConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, b)
	}
	return cfg
}

// TestConfigPrecedence checks file < environment < flags for the server and
// the token, each on its own.
func TestConfigPrecedence(t *testing.T) {
	fileSrv := whoamiServer(t, "file@example.com")
	envSrv := whoamiServer(t, "env@example.com")
	flagSrv := whoamiServer(t, "flag@example.com")
	servers := map[string]*fakeAPI{"file": fileSrv, "env": envSrv, "flag": flagSrv}

	tests := []struct {
		name       string
		env        map[string]string // values "file", "env", "flag" name servers
		flags      []string
		stdin      string
		wantServer string
		wantToken  string
	}{
		{name: "file only", wantServer: "file", wantToken: "file-token"},
		{name: "env server, file token", env: map[string]string{"JIT_SERVER": "env"}, wantServer: "env", wantToken: "file-token"},
		{name: "env token, file server", env: map[string]string{"JIT_TOKEN": "env-token"}, wantServer: "file", wantToken: "env-token"},
		{name: "env both", env: map[string]string{"JIT_SERVER": "env", "JIT_TOKEN": "env-token"}, wantServer: "env", wantToken: "env-token"},
		{name: "flags over env", env: map[string]string{"JIT_SERVER": "env", "JIT_TOKEN": "env-token"},
			flags: []string{"--server", "flag", "--token", "flag-token"}, wantServer: "flag", wantToken: "flag-token"},
		{name: "flag token over env token", env: map[string]string{"JIT_SERVER": "env", "JIT_TOKEN": "env-token"},
			flags: []string{"--token", "flag-token"}, wantServer: "env", wantToken: "flag-token"},
		{name: "flag server, file token", flags: []string{"--server", "flag"}, wantServer: "flag", wantToken: "file-token"},
		{name: "token from stdin", flags: []string{"--token", "-"}, stdin: "stdin-token\nignored\n", wantServer: "file", wantToken: "stdin-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range tt.env {
				if s, ok := servers[v]; ok {
					v = s.srv.URL
				}
				vars[k] = v
			}
			e := newEnv(t, vars)
			e.stdin = tt.stdin
			writeConfig(t, e.configFile(), fileConfig{Server: fileSrv.srv.URL, Token: "file-token"}, 0o600)
			args := []string{"whoami", "-o", "json"}
			for i := 0; i < len(tt.flags); i++ {
				v := tt.flags[i]
				if s, ok := servers[v]; ok {
					v = s.srv.URL
				}
				args = append(args, v)
			}
			before := map[string]int{}
			for n, s := range servers {
				before[n] = len(s.allCalls())
			}
			res := e.run(t, args...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			for n, s := range servers {
				calls := s.allCalls()[before[n]:]
				if n != tt.wantServer {
					if len(calls) > 0 {
						t.Errorf("server %s was called", n)
					}
					continue
				}
				if len(calls) != 1 {
					t.Fatalf("server %s got %d calls, want 1", n, len(calls))
				}
				if calls[0].Token != tt.wantToken {
					t.Errorf("token = %q, want %q", calls[0].Token, tt.wantToken)
				}
			}
		})
	}
}

func TestConfigDirFallsBackToHome(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("the XDG layout is for Unix")
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_CONFIG_HOME": "/x/conf", "HOME": "/home/a"}, "/x/conf/jit/config.json"},
		{"home", map[string]string{"HOME": "/home/a"}, "/home/a/.config/jit/config.json"},
		{"relative xdg is ignored", map[string]string{"XDG_CONFIG_HOME": "conf", "HOME": "/home/a"}, "/home/a/.config/jit/config.json"},
		{"nothing", map[string]string{}, ""},
	}
	for _, tt := range tests {
		got, err := configPath(func(k string) string { return tt.env[k] })
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: configPath = %q, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: configPath = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestLoginStoresConfigPrivately(t *testing.T) {
	srv := whoamiServer(t, "alice@example.com")
	tests := []struct {
		name string
		// prepare makes what exists before login.
		prepare func(t *testing.T, e *env)
	}{
		{name: "fresh", prepare: func(t *testing.T, e *env) {}},
		{name: "loose directory and file are tightened", prepare: func(t *testing.T, e *env) {
			writeConfig(t, e.configFile(), fileConfig{Server: "https://old.example.com", Token: "old"}, 0o644)
			if err := os.Chmod(filepath.Dir(e.configFile()), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tt.prepare(t, e)
			// --no-key: this test is about config.json alone (keys_test.go covers
			// the key pair login makes).
			res := e.run(t, "login", "--server", srv.srv.URL, "--token", "dev-alice", "--no-key")
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			if want := "Logged in to " + srv.srv.URL + " as alice@example.com.\n"; res.stdout != want {
				t.Errorf("stdout = %q, want %q", res.stdout, want)
			}
			if got := readConfig(t, e.configFile()); got != (fileConfig{Server: srv.srv.URL, Token: "dev-alice"}) {
				t.Errorf("stored %+v", got)
			}
			if runtime.GOOS != "windows" {
				fi, err := os.Stat(e.configFile())
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("config file mode = %v, want 0600", fi.Mode().Perm())
				}
				di, err := os.Stat(filepath.Dir(e.configFile()))
				if err != nil {
					t.Fatal(err)
				}
				if di.Mode().Perm() != 0o700 {
					t.Errorf("config dir mode = %v, want 0700", di.Mode().Perm())
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(e.configFile()))
			if len(entries) != 1 {
				t.Errorf("config dir holds %d entries, want only config.json (no temporary files)", len(entries))
			}
			// Later commands use what login stored.
			res = e.run(t, "whoami", "-o", "json")
			if res.code != 0 {
				t.Fatalf("whoami after login: exit %d: %s", res.code, res.stderr)
			}
			calls := srv.allCalls()
			if last := calls[len(calls)-1]; last.Token != "dev-alice" {
				t.Errorf("whoami after login sent token %q", last.Token)
			}
		})
	}
}

func TestLoginRefusedStoresNothing(t *testing.T) {
	srv := newFakeAPI(t, map[string][]answer{"GET /whoami": {{Status: 401, Code: "unauthenticated", Detail: "invalid token"}}})
	tests := []struct {
		name     string
		existing *fileConfig
	}{
		{name: "no config yet"},
		{name: "existing config kept", existing: &fileConfig{Server: "https://jit.example.com", Token: "good"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.existing != nil {
				writeConfig(t, e.configFile(), *tt.existing, 0o600)
			}
			res := e.run(t, "login", "--server", srv.srv.URL, "--token", "wrong")
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if want := "jit: login failed: unauthenticated: invalid token\n"; res.stderr != want {
				t.Errorf("stderr = %q, want %q", res.stderr, want)
			}
			if tt.existing == nil {
				if _, err := os.Stat(e.configFile()); !os.IsNotExist(err) {
					t.Errorf("a config file was written: %v", err)
				}
			} else if got := readConfig(t, e.configFile()); got != *tt.existing {
				t.Errorf("config changed to %+v", got)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	writeConfig(t, e.configFile(), fileConfig{Server: "https://jit.example.com", Token: "dev-alice"}, 0o600)
	tests := []struct {
		want    string
		wantCfg fileConfig
	}{
		{"Logged out of https://jit.example.com.\n", fileConfig{Server: "https://jit.example.com"}},
		// Logging out again changes nothing.
		{"Not logged in.\n", fileConfig{Server: "https://jit.example.com"}},
	}
	for i, tt := range tests {
		res := e.run(t, "logout")
		if res.code != 0 || res.stdout != tt.want {
			t.Errorf("logout #%d: exit %d, stdout %q, stderr %q; want %q", i+1, res.code, res.stdout, res.stderr, tt.want)
		}
		if got := readConfig(t, e.configFile()); got != tt.wantCfg {
			t.Errorf("logout #%d: config %+v, want %+v", i+1, got, tt.wantCfg)
		}
	}
	res := e.run(t, "logout", "-o", "json")
	sameJSON(t, res.stdout, map[string]any{"server": "https://jit.example.com", "logged_out": false})
}

func TestConfigProblems(t *testing.T) {
	srv := whoamiServer(t, "alice@example.com")
	t.Run("readable by others warns", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no Unix modes")
		}
		e := newEnv(t, nil)
		writeConfig(t, e.configFile(), fileConfig{Server: srv.srv.URL, Token: "dev-alice"}, 0o644)
		res := e.run(t, "whoami")
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		want := "jit: warning: " + e.configFile() + " is accessible by other users; run: chmod 600 " + e.configFile() + "\n"
		if res.stderr != want {
			t.Errorf("stderr = %q, want %q", res.stderr, want)
		}
	})
	t.Run("invalid JSON", func(t *testing.T) {
		e := newEnv(t, nil)
		if err := os.MkdirAll(filepath.Dir(e.configFile()), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.configFile(), []byte("{server:"), 0o600); err != nil {
			t.Fatal(err)
		}
		res := e.run(t, "whoami")
		if res.code != 1 || !strings.HasPrefix(res.stderr, "jit: config "+e.configFile()+" is not valid JSON") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("no HOME but environment is enough", func(t *testing.T) {
		e := &env{vars: map[string]string{"JIT_SERVER": srv.srv.URL, "JIT_TOKEN": "dev-alice"}}
		if res := e.run(t, "whoami"); res.code != 0 {
			t.Errorf("exit %d: %s", res.code, res.stderr)
		}
	})
}
