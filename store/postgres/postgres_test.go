package postgres_test

import (
	"context"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/store/postgres"
	"github.com/jitaccess/jit/store/postgres/pgtest"
	"github.com/jitaccess/jit/store/storetest"
)

func serverURL(t *testing.T) string { return pgtest.ServerURL(t) }

func newDatabase(t *testing.T) string { return pgtest.NewDatabase(t) }

func withDatabase(t *testing.T, dsn, name string) string { return pgtest.WithDatabase(t, dsn, name) }

func openStore(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
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
	serverURL(t)
	storetest.Run(t, func(t *testing.T) jit.Store {
		return openStore(t, newDatabase(t))
	})
}

func TestConformanceReopen(t *testing.T) {
	serverURL(t)
	storetest.RunReopen(t, func(t *testing.T) (jit.Store, func(t *testing.T) jit.Store) {
		dsn := newDatabase(t)
		return openStore(t, dsn), func(t *testing.T) jit.Store { return openStore(t, dsn) }
	})
}

func TestRecords(t *testing.T) {
	serverURL(t)
	storetest.RunRecords(t, func(t *testing.T, clock jit.Clock) jit.RecordStore {
		s, err := postgres.OpenConfig(context.Background(), postgres.Config{DSN: newDatabase(t), Clock: clock})
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
