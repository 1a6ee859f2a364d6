package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// fileConfig is what `jit login` stores. The token is kept readable only by
// its owner (file 0600 in a 0700 directory), as other CLIs keep theirs; the
// server stores only its hash.
type fileConfig struct {
	Server string `json:"server,omitempty"`
	Token  string `json:"token,omitempty"`
}

// configPath returns where the config file lives, following
// os.UserConfigDir but reading the environment through getenv so that the
// caller (and tests) decide what the environment is.
func configPath(getenv func(string) string) (string, error) {
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = getenv("AppData")
		if dir == "" {
			return "", errors.New("cannot find the config directory: %AppData% is not set")
		}
	case "darwin", "ios":
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("cannot find the config directory: $HOME is not set")
		}
		dir = filepath.Join(home, "Library", "Application Support")
	default:
		dir = getenv("XDG_CONFIG_HOME")
		if dir == "" || !filepath.IsAbs(dir) {
			home := getenv("HOME")
			if home == "" {
				return "", errors.New("cannot find the config directory: neither $XDG_CONFIG_HOME nor $HOME is set")
			}
			dir = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(dir, "jit", "config.json"), nil
}

// loadConfig reads the config file at path. A missing file is an empty
// config. insecure is true when the file can be read or written by others
// than its owner.
func loadConfig(path string) (cfg fileConfig, insecure bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileConfig{}, false, nil
	}
	if err != nil {
		return fileConfig{}, false, fmt.Errorf("reading config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fileConfig{}, false, fmt.Errorf("config %s is not valid JSON: %w", path, err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			insecure = true
		}
	}
	return cfg, insecure, nil
}

// saveConfig writes cfg to path atomically: a temporary file with mode 0600
// in the same directory is renamed over the old one, so that a crash never
// leaves a half-written file and the token is never readable by others,
// even for a moment. The directory is made (or tightened to) 0700.
func saveConfig(path string, cfg fileConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing config directory: %w", err)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	b = append(b, '\n')
	if err := writePrivate(path, b); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return nil
}

// writePrivate writes b to path with mode 0600 through a temporary file in
// the same directory, synced and renamed over the old one, so that a crash
// never leaves half a file and no one else can read it even for a moment.
func writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
