package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/slack"
	"github.com/jitaccess/jit/store/sqlite"
)

// The Slack app's message records live in the store: a second store on
// the same file (a restart) reads them, and compare-and-swap holds.
func TestSlackMessagesInTheStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jit.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	m := slackMessages(st)
	if _, ok := m.(recordMessages); !ok {
		t.Fatalf("messages kept in %T, want the store", m)
	}
	rec, err := m.Get(ctx, "req_1")
	if err != nil || rec.Rev != 0 {
		t.Fatalf("empty: %+v, %v", rec, err)
	}
	rec.Channel, rec.TS, rec.Version = "C0123ABCD", "1712.0001", 3
	if err := m.Put(ctx, "req_1", rec); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "req_1", rec); !errors.Is(err, slack.ErrConflict) {
		t.Fatalf("stale put: %v, want ErrConflict", err)
	}
	st.Close()
	st2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	got, err := slackMessages(st2).Get(ctx, "req_1")
	if err != nil || got.Channel != "C0123ABCD" || got.TS != "1712.0001" || got.Version != 3 || got.Rev != 1 {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	var _ jit.RecordStore = st2
}
