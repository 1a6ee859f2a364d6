package pgserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit/internal/pgserver"
)

// A private server keeps its data across a restart, refuses connections
// while stopped, and accepts them again on the same DSN once started.
func TestStopStartKeepsData(t *testing.T) {
	srv := pgserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, srv.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	if err := exec(`SELECT 1`); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	srv.Stop(t) // stopping again is harmless
	srv.Start(t)
	srv.Restart(t)
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restarts: v=%d err=%v, want 42", v, err)
	}
}
