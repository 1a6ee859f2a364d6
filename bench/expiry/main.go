// Command expiry measures how promptly jitd removes access at expiry: it
// creates N grants whose expiries fall within one minute, waits until all
// have expired, and reports the lag between each grant's expires_at and the
// moment its access was confirmed removed (the request's final update).
//
//	go run ./bench/expiry -grants 10000
//
// -store postgres://... runs on a scratch database on that PostgreSQL
// server (created for the run, dropped afterwards) and -replicas N starts
// N jitd replicas on it; the requests are filed round-robin across them,
// and whichever replica claims a revoke runs it.
//
// It prints one JSON object with p50_ms, p99_ms and max_ms of the lag.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/bench/internal/benchenv"
	"github.com/jitaccess/jit/workflow"
)

type result struct {
	Store           string  `json:"store"`
	Replicas        int     `json:"replicas"`
	Grants          int     `json:"grants"`
	ExpiryWindowSec float64 `json:"expiry_window_sec"`
	Expired         int     `json:"expired"`
	NotExpired      int     `json:"not_expired"`
	P50Ms           float64 `json:"p50_ms"`
	P99Ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
}

func main() {
	grants := flag.Int("grants", 10000, "number of grants")
	lifetime := flag.Duration("lifetime", 90*time.Second, "duration of each grant (must exceed the time to create them all)")
	store := flag.String("store", "sqlite", `"sqlite" or a postgres:// server URL`)
	replicas := flag.Int("replicas", 1, "jitd replicas sharing the store (more than one needs PostgreSQL)")
	flag.Parse()
	pg := ""
	switch {
	case *store == "sqlite":
	case strings.HasPrefix(*store, "postgres://") || strings.HasPrefix(*store, "postgresql://"):
		pg = *store
	default:
		// The value may be a DSN with a password: it is not repeated.
		fmt.Fprintln(os.Stderr, `expiry: -store must be "sqlite" or a postgres:// URL`)
		os.Exit(2)
	}
	if err := run(*grants, *lifetime, pg, *replicas); err != nil {
		fmt.Fprintln(os.Stderr, "expiry:", err)
		os.Exit(1)
	}
}

func run(n int, lifetime time.Duration, pg string, replicas int) error {
	ctx := context.Background()
	const users = 100
	env, err := benchenv.StartConfig(ctx, benchenv.Config{Users: users, MaxDuration: time.Hour, Postgres: pg, Replicas: replicas})
	if err != nil {
		return err
	}
	defer env.Close()

	// Submit every request through the service (auto-approved); the
	// scheduler grants them and schedules each expiry.
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				svc := env.Replicas[i%len(env.Replicas)].Service
				who := svc.ResolveIdentity(env.Users[i%users], nil, "bench")
				cctx := jit.WithIdentity(ctx, who)
				r, err := svc.Submit(cctx, workflow.SubmitInput{Resource: "bench-app", Duration: lifetime, Reason: "expiry benchmark"})
				if err != nil {
					errc <- err
					return
				}
				ids[i] = r.ID
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("submit: %w", err)
	default:
	}
	fmt.Fprintf(os.Stderr, "submitted %d requests; waiting for them to be granted and to expire\n", n)

	deadline := time.Now().Add(lifetime + 5*time.Minute)
	var reqs []*jit.Request
	for {
		reqs = reqs[:0]
		pending := 0
		for _, id := range ids {
			r, err := env.Store.GetRequest(ctx, id)
			if err != nil {
				return err
			}
			reqs = append(reqs, r)
			if !r.Status.Terminal() {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		fmt.Fprintf(os.Stderr, "%d of %d not yet expired\n", pending, n)
		time.Sleep(5 * time.Second)
	}

	var lags []time.Duration
	var first, last time.Time
	res := result{Store: "sqlite", Replicas: len(env.Replicas), Grants: n}
	if pg != "" {
		res.Store = "postgres"
	}
	for _, r := range reqs {
		if r.Status != jit.StatusExpired || r.ExpiresAt == nil {
			res.NotExpired++
			continue
		}
		res.Expired++
		exp := *r.ExpiresAt
		if first.IsZero() || exp.Before(first) {
			first = exp
		}
		if exp.After(last) {
			last = exp
		}
		lags = append(lags, r.UpdatedAt.Sub(exp))
	}
	res.ExpiryWindowSec = last.Sub(first).Seconds()
	slices.Sort(lags)
	if k := len(lags); k > 0 {
		res.P50Ms = ms(lags[k/2])
		res.P99Ms = ms(lags[min(k-1, k*99/100)])
		res.MaxMs = ms(lags[k-1])
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
