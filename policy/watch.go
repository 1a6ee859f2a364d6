package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultWatchInterval is WatchOptions.Interval when unset.
const DefaultWatchInterval = 2 * time.Second

// settle is how long a changed file must stay the same before Watch acts
// on it: editors and config-management tools write in several steps
// (truncate, then write), and a file read in the middle is either invalid
// or, worse, valid but missing its later rules.
const settle = 50 * time.Millisecond

// Watch reloads path into h whenever its content changes, until ctx ends;
// it blocks, so run it in a goroutine. It watches the file's directory with
// fsnotify (editors and mounted ConfigMaps replace the file rather than
// write to it) and also polls every Interval, which covers file systems
// without notifications. A change is a change of the content's SHA-256,
// so touching the file does nothing, and it is acted on only once the
// content has been the same for a short settling time.
//
// A valid new file is swapped into h and OnReload(old, new) is called. An
// invalid one (or one that cannot be read) is reported once per distinct
// content through OnError and the old policy stays in force.
func Watch(ctx context.Context, path string, h *Holder, o WatchOptions) {
	if o.Interval <= 0 {
		o.Interval = DefaultWatchInterval
	}
	w := &watcher{path: path, h: h, o: o}
	if cur := h.Get(); cur != nil {
		w.last = cur.Digest()
	}

	var events <-chan fsnotify.Event
	var errs <-chan error
	if fw, err := fsnotify.NewWatcher(); err == nil {
		defer fw.Close()
		if err := fw.Add(filepath.Dir(path)); err == nil {
			events, errs = fw.Events, fw.Errors
		}
	}
	// Without notifications (no inotify, directory not watchable) polling
	// alone keeps the policy current.

	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	settleTimer := time.NewTimer(settle)
	defer settleTimer.Stop()
	var settled <-chan time.Time
	arm := func() {
		settleTimer.Reset(settle)
		settled = settleTimer.C
	}
	target := filepath.Clean(path)
	if w.check() {
		arm()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if settled == nil && w.check() {
				arm()
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) == target {
				arm()
			}
		case <-settled:
			settled = nil
			if w.check() {
				arm()
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
			}
			// A notification error (queue overflow) loses events; the next
			// poll catches up, so nothing else is needed.
		}
	}
}

type watcher struct {
	path string
	h    *Holder
	o    WatchOptions
	// last is the state last acted on: the digest of the content
	// installed or reported invalid, or "error: ..." for a read error.
	// Acting once per state is what keeps an invalid file from being
	// reported at every poll.
	last string
	// pending is a changed state seen once, waiting to be seen again.
	pending string
}

// check looks at the file once. It returns true when it saw a change that
// must be confirmed by another look after the settling time.
func (w *watcher) check() bool {
	data, err := os.ReadFile(w.path)
	state := ""
	if err != nil {
		state = "error: " + err.Error()
	} else {
		sum := sha256.Sum256(data)
		state = hex.EncodeToString(sum[:])
	}
	if state == w.last {
		w.pending = ""
		return false
	}
	if state != w.pending {
		w.pending = state
		return true
	}
	w.pending, w.last = "", state
	if err != nil {
		w.report(fmt.Errorf("read policy: %w", err))
		return false
	}
	if cur := w.h.Get(); cur != nil && cur.Digest() == state {
		// Back to what is installed (an invalid edit was undone).
		return false
	}
	p, err := Parse(w.path, data)
	if err != nil {
		w.report(err)
		return false
	}
	old := w.h.Swap(p)
	if w.o.OnReload != nil {
		w.o.OnReload(old, p)
	}
	return false
}

func (w *watcher) report(err error) {
	if w.o.OnError != nil {
		w.o.OnError(err)
	}
}
