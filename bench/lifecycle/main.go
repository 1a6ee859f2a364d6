// Command lifecycle measures full request lifecycles per second through the
// HTTP API: submit (auto-approved) → grant with the http provider → active
// → relinquish → revoke → relinquished, with many concurrent clients, each
// a distinct user with its own API token.
//
//	go run ./bench/lifecycle -clients 32 -duration 20s
//
// By default jitd runs on the embedded SQLite store. -store names the
// stores to measure, comma-separated: "sqlite" and/or a PostgreSQL server
// URL (each run creates a scratch database on it and drops it afterwards).
// -replicas lists replica counts for PostgreSQL: that many jitd replicas
// share the database, and the clients are spread round-robin across them.
// Every combination runs in turn, so one invocation compares them:
//
//	go run ./bench/lifecycle -duration 10s \
//	  -store 'sqlite,postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' -replicas 1,3
//
// It prints one JSON object per run: lifecycles_per_sec, p50_ms, p99_ms
// and counts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/bench/internal/benchenv"
	"github.com/jitaccess/jit/client"
)

type result struct {
	Store            string  `json:"store"`
	Replicas         int     `json:"replicas"`
	Clients          int     `json:"clients"`
	DurationSec      float64 `json:"duration_sec"`
	Lifecycles       int     `json:"lifecycles"`
	Errors           int     `json:"errors"`
	LifecyclesPerSec float64 `json:"lifecycles_per_sec"`
	P50Ms            float64 `json:"p50_ms"`
	P99Ms            float64 `json:"p99_ms"`
	MaxMs            float64 `json:"max_ms"`
	GOMAXPROCS       int     `json:"gomaxprocs"`
	FirstError       string  `json:"first_error,omitempty"`
}

func main() {
	clients := flag.Int("clients", 32, "concurrent clients (each a distinct user)")
	duration := flag.Duration("duration", 20*time.Second, "how long to run")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server and clients) to this file")
	stores := flag.String("store", "sqlite", `stores to measure, comma-separated: "sqlite" and/or a postgres:// server URL`)
	replicas := flag.String("replicas", "1", "replica counts to measure on PostgreSQL, comma-separated (SQLite always runs one)")
	flag.Parse()
	runs, err := plan(*stores, *replicas)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifecycle:", err)
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lifecycle:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "lifecycle:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	for _, r := range runs {
		if err := run(*clients, *duration, r); err != nil {
			fmt.Fprintln(os.Stderr, "lifecycle:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
}

// setup is one measured configuration.
type setup struct {
	postgres string // empty: SQLite
	replicas int
}

// plan expands the -store and -replicas flags into runs, SQLite first.
func plan(stores, replicas string) ([]setup, error) {
	var counts []int
	for _, f := range strings.Split(replicas, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("-replicas: %q is not a replica count from 1 to 64", f)
		}
		counts = append(counts, n)
	}
	var runs []setup
	for _, s := range strings.Split(stores, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "sqlite":
			runs = append(runs, setup{replicas: 1})
		case strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://"):
			for _, n := range counts {
				runs = append(runs, setup{postgres: s, replicas: n})
			}
		default:
			// The value may be a DSN with a password: it is not repeated.
			return nil, errors.New(`-store: each store must be "sqlite" or a postgres:// URL`)
		}
	}
	return runs, nil
}

func run(clients int, duration time.Duration, s setup) error {
	ctx := context.Background()
	env, err := benchenv.StartConfig(ctx, benchenv.Config{Users: clients, MaxDuration: time.Hour, Postgres: s.postgres, Replicas: s.replicas})
	if err != nil {
		return err
	}
	defer env.Close()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		firstErr  string
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(duration)
	start := time.Now()
	for i := 0; i < clients; i++ {
		// Round-robin: a request filed on one replica is often granted
		// and revoked by another, and its long-polls are woken across
		// replicas.
		c, err := client.New(env.Replicas[i%len(env.Replicas)].URL, client.WithToken(env.Tokens[i]))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := lifecycle(ctx, c)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					latencies = append(latencies, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	store := "sqlite"
	if s.postgres != "" {
		store = "postgres"
	}
	res := result{Store: store, Replicas: s.replicas, Clients: clients, DurationSec: elapsed.Seconds(), Lifecycles: len(latencies), Errors: errs,
		LifecyclesPerSec: float64(len(latencies)) / elapsed.Seconds(), GOMAXPROCS: runtime.GOMAXPROCS(0), FirstError: firstErr}
	if n := len(latencies); n > 0 {
		res.P50Ms = ms(latencies[n/2])
		res.P99Ms = ms(latencies[min(n-1, n*99/100)])
		res.MaxMs = ms(latencies[n-1])
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// lifecycle runs one request from submit to relinquished.
func lifecycle(ctx context.Context, c *client.Client) error {
	r, err := c.Submit(ctx, client.SubmitRequest{Resource: "bench-app", Duration: "1h", Reason: "benchmark"})
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	r, err = waitWhile(ctx, c, r, jit.StatusApproved, jit.StatusGranting)
	if err != nil {
		return err
	}
	if r.Status != jit.StatusActive {
		return fmt.Errorf("request %s is %s, want active", r.ID, r.Status)
	}
	if _, err := c.Relinquish(ctx, r.ID); err != nil {
		return fmt.Errorf("relinquish: %w", err)
	}
	r, err = waitWhile(ctx, c, r, jit.StatusRevoking, jit.StatusActive)
	if err != nil {
		return err
	}
	if r.Status != jit.StatusRelinquished {
		return fmt.Errorf("request %s is %s, want relinquished", r.ID, r.Status)
	}
	return nil
}

func waitWhile(ctx context.Context, c *client.Client, r *jit.Request, while ...jit.Status) (*jit.Request, error) {
	for i := 0; i < 10 && slices.Contains(while, r.Status); i++ {
		var err error
		if r, err = c.Wait(ctx, r.ID, while, 10*time.Second); err != nil {
			return nil, fmt.Errorf("wait: %w", err)
		}
	}
	return r, nil
}
