// Command lifecycle measures full request lifecycles per second through the
// HTTP API on the embedded SQLite store: submit (auto-approved) → grant with
// the http provider → active → relinquish → revoke → relinquished, with
// many concurrent clients, each a distinct user with its own API token.
//
//	go run ./bench/lifecycle -clients 32 -duration 20s
//
// It prints one JSON object: lifecycles_per_sec, p50_ms, p99_ms and counts.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/bench/internal/benchenv"
	"github.com/jitaccess/jit/client"
)

type result struct {
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
	flag.Parse()
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
	if err := run(*clients, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "lifecycle:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(clients int, duration time.Duration) error {
	ctx := context.Background()
	env, err := benchenv.Start(ctx, clients, time.Hour)
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
		c, err := client.New(env.URL, client.WithToken(env.Tokens[i]))
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
	res := result{Clients: clients, DurationSec: elapsed.Seconds(), Lifecycles: len(latencies), Errors: errs,
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
