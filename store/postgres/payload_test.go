package postgres

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
)

// TestStepwisePayload checks the stepwise path (the conformance suite
// takes the pipelined one): a change with a hook writes its jobs'
// payloads, and a merge there keeps the first.
func TestStepwisePayload(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	noop := func(context.Context, pgx.Tx) error { return nil }
	job := jit.Job{Key: "notify:chat:n-1", Kind: jit.JobNotify, RunAt: t0.Add(time.Hour)}
	first, later := []byte(`{"n":1}`), []byte(`{"n":2}`)
	for _, p := range [][]byte{first, later} {
		j := job
		j.Payload = p
		if err := s.write(ctx, &applyOp{c: &jit.Change{Enqueue: []jit.Job{j}}, extra: noop}); err != nil {
			t.Fatal(err)
		}
	}
	js, err := s.ListJobs(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || !bytes.Equal(js[0].Payload, first) {
		t.Fatalf("jobs %+v, want one with payload %s", js, first)
	}
}
