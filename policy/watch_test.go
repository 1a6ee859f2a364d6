package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watchConfig is a small valid config whose rule allows max.
func watchConfig(max string) string {
	return `
resources:
  - {name: db, provider: policytest, access: [read]}
rules:
  - {name: r, requesters: {everyone: true}, resources: [db], max_duration: ` + max + `, auto_approve: true}
`
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

type watchRun struct {
	t       *testing.T
	reloads chan [2]*Policy
	errs    chan error
}

// startWatch runs Watch until the test ends.
func startWatch(t *testing.T, path string, h *Holder) *watchRun {
	w := &watchRun{t: t, reloads: make(chan [2]*Policy, 16), errs: make(chan error, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, h, WatchOptions{
			Interval: 20 * time.Millisecond,
			OnReload: func(old, new *Policy) { w.reloads <- [2]*Policy{old, new} },
			OnError:  func(err error) { w.errs <- err },
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done // Watch returns once its context ends
		for _, p := range []*Policy{h.Get()} {
			p.Close()
		}
	})
	return w
}

// guard only keeps a broken Watch from hanging the test run; no assertion
// depends on timing.
const guard = 20 * time.Second

func (w *watchRun) reload() (old, new *Policy) {
	w.t.Helper()
	select {
	case r := <-w.reloads:
		return r[0], r[1]
	case err := <-w.errs:
		w.t.Fatalf("OnError(%v) while waiting for a reload", err)
	case <-time.After(guard):
		w.t.Fatal("no reload")
	}
	return nil, nil
}

func (w *watchRun) err() error {
	w.t.Helper()
	select {
	case err := <-w.errs:
		return err
	case r := <-w.reloads:
		w.t.Fatalf("reload to %s while waiting for an error", r[1].Digest())
	case <-time.After(guard):
		w.t.Fatal("no OnError")
	}
	return nil
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace writes content the way editors do: a new file renamed over the
// old one.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func maxOf(p *Policy) time.Duration { return p.rules[0].maxDuration }

func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jit.yaml")
	write(t, path, watchConfig("1h"))
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(first)
	w := startWatch(t, path, h)

	// A change written in place is installed.
	write(t, path, watchConfig("2h"))
	old, cur := w.reload()
	if old != first || h.Get() != cur || maxOf(cur) != 2*time.Hour {
		t.Fatalf("after in-place write: old %p (want %p), installed max %v", old, first, maxOf(h.Get()))
	}
	old.Close()

	// An invalid file is reported and the current policy stays.
	write(t, path, watchConfig("forever"))
	err = w.err()
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "max_duration") || le.File != path {
		t.Fatalf("OnError(%v), want a *LoadError about max_duration", err)
	}
	if h.Get() != cur {
		t.Fatal("an invalid file replaced the policy")
	}

	// Undoing the bad edit reinstalls nothing (the content is what is in
	// force); the next real change, made by rename, is the next reload.
	write(t, path, watchConfig("2h"))
	replace(t, path, watchConfig("3h"))
	old, cur = w.reload()
	if maxOf(old) != 2*time.Hour || maxOf(cur) != 3*time.Hour || cur.Digest() != digestOf(watchConfig("3h")) {
		t.Fatalf("reload after rename: old max %v, new max %v", maxOf(old), maxOf(cur))
	}
	old.Close()

	// Rewriting identical content is not a change.
	write(t, path, watchConfig("3h"))
	replace(t, path, watchConfig("4h"))
	old, cur = w.reload()
	if maxOf(old) != 3*time.Hour || maxOf(cur) != 4*time.Hour {
		t.Fatalf("identical content caused a reload: old max %v, new max %v", maxOf(old), maxOf(cur))
	}
	old.Close()
	if n := len(w.errs); n != 0 {
		t.Fatalf("%d unexpected errors reported, first: %v", n, <-w.errs)
	}
}

func TestWatchPollsWithoutNotifications(t *testing.T) {
	// The directory does not exist when Watch starts, so fsnotify cannot
	// watch it and only polling can see the file appear.
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "jit.yaml")
	first := mustParse(t, watchConfig("1h"))
	h := NewHolder(first)
	w := startWatch(t, path, h)

	err := w.err()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OnError(%v), want a not-exist error", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, path, watchConfig("5h"))
	old, cur := w.reload()
	if old != first || maxOf(cur) != 5*time.Hour || h.Get() != cur {
		t.Fatalf("polling reload: old %p new max %v", old, maxOf(cur))
	}
	// The missing file was reported once, not at every poll.
	if n := len(w.errs); n != 0 {
		t.Fatalf("%d further errors reported, first: %v", n, <-w.errs)
	}
}
