package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

// TestCheckpointKeepsWALSmall runs the same steady stream of writes on a
// store that checkpoints every 50 pages and on one whose threshold is never
// reached, and compares the WAL files. The checkpointer must both copy the
// WAL and get it reused from its start: copying alone, beside a writer that
// never pauses, leaves the WAL growing as if nothing were checkpointed.
func TestCheckpointKeepsWALSmall(t *testing.T) {
	const writes = 1500
	walSize := func(pages int) (int64, int) {
		t.Helper()
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "jit.db")
		s, err := OpenConfig(ctx, Config{Path: path, CheckpointPages: pages})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range writes {
			id := fmt.Sprintf("req-%d", i)
			r := pendingRequest(id)
			r.CreatedAt = t0.Add(time.Duration(i) * time.Millisecond)
			c := &jit.Change{Request: r, Events: []jit.AuditEvent{event(jit.ActionSubmit, id)},
				Enqueue: []jit.Job{jit.NewJob(jit.JobLapse, id, t0.Add(time.Hour))}}
			if err := s.Apply(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		rounds, err := s.ckpt.stats()
		if err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size(), rounds
	}
	never, rounds := walSize(1 << 30)
	if rounds != 0 {
		t.Fatalf("%d checkpoints below the threshold", rounds)
	}
	small, rounds := walSize(50)
	if rounds == 0 {
		t.Fatal("no checkpoint ran")
	}
	t.Logf("WAL %d KiB with checkpoints (%d rounds), %d KiB without", small/1024, rounds, never/1024)
	// Without the reset the two are the same size; with it, about a tenth
	// here. Half leaves room for a slow disk (a slow checkpoint lets more
	// pages in before each reset).
	if small*2 > never {
		t.Fatalf("WAL is %d bytes with checkpoints, %d without: want at most half", small, never)
	}
}
