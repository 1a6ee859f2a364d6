package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/store/storetest"
)

func openAt(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) jit.Store {
		return openAt(t, filepath.Join(t.TempDir(), "jit.db"))
	})
}

func TestConformanceReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) (jit.Store, func(t *testing.T) jit.Store) {
		path := filepath.Join(t.TempDir(), "jit.db")
		return openAt(t, path), func(t *testing.T) jit.Store { return openAt(t, path) }
	})
}

func TestRecords(t *testing.T) {
	storetest.RunRecords(t, func(t *testing.T, clock jit.Clock) jit.RecordStore {
		s, err := sqlite.OpenConfig(context.Background(), sqlite.Config{
			Path: filepath.Join(t.TempDir(), "jit.db"), Clock: clock,
		})
		if err != nil {
			t.Fatalf("OpenConfig: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
