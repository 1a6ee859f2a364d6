package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
	"github.com/jitaccess/jit/store/postgres/pgtest"
)

// TestTwoReplicasOnePostgres runs two jitd replicas on one PostgreSQL
// database and files requests through both: every request is granted and
// revoked exactly once (the target counts calls), a request filed on one
// replica is followed to active through the other, and the audit chain
// written by both verifies.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	state := t.TempDir()
	script := filepath.Join(state, "target.sh")
	if err := os.WriteFile(script, []byte(grantScript), 0o700); err != nil {
		t.Fatal(err)
	}
	pol := []byte(strings.Replace(strings.Replace(crashPolicy, "SCRIPT", script, 1), "server: {job_lease: 2s}\n", "", 1))
	replicas := []*jitdtest.Server{
		jitdtest.Start(t, jitdtest.Options{Policy: pol, Postgres: dsn}),
		jitdtest.Start(t, jitdtest.Options{Policy: pol, Postgres: dsn}),
	}
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			filedOn, followedOn := replicas[i%2], replicas[(i+1)%2]
			a, _ := client.New(filedOn.URL, client.WithToken(jitdtest.Alice))
			b, _ := client.New(followedOn.URL, client.WithToken(jitdtest.Alice))
			r, err := a.Submit(ctx, client.SubmitRequest{Resource: "box", Duration: "30m"})
			if err != nil {
				errs <- err
				return
			}
			ids[i] = r.ID
			r, err = b.WaitFor(ctx, r.ID, []jit.Status{jit.StatusApproved, jit.StatusGranting}, nil)
			if err != nil || r.Status != jit.StatusActive {
				errs <- fmt.Errorf("request %s on the other replica: %v %v", ids[i], r, err)
				return
			}
			if _, err := b.Relinquish(ctx, r.ID); err != nil {
				errs <- err
				return
			}
			if r, err = a.WaitFor(ctx, r.ID, []jit.Status{jit.StatusRevoking}, nil); err != nil || r.Status != jit.StatusRelinquished {
				errs <- fmt.Errorf("request %s after relinquish: %v %v", ids[i], r, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	calls, err := os.ReadFile(filepath.Join(state, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if g, r := strings.Count(string(calls), "grant "+id+"\n"), strings.Count(string(calls), "revoke "+id+"\n"); g != 1 || r != 1 {
			t.Errorf("request %s: %d grant and %d revoke calls, want one each", id, g, r)
		}
	}
	carol, _ := client.New(replicas[1].URL, client.WithToken(jitdtest.Carol))
	if res, err := carol.VerifyAudit(ctx); err != nil || !res.OK || res.Checked < 6*n {
		t.Fatalf("audit chain written by two replicas: %+v %v", res, err)
	}
}
