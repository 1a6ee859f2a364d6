// Command dbgrant measures database grants through jitd against the cost of
// the same work done directly on the database server.
//
//	go run ./bench/dbgrant -resource postgres -n 500 \
//	  -dsn 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// jitd runs in this process on the embedded SQLite store (a temporary
// folder), with a policy whose postgres resource points at a scratch
// database created on the -dsn server for the run (two small tables; the
// admin DSN reaches the provider through an environment variable set in
// this process only). The users' requests for its read level are approved
// by the rule; each user has an API token and a registered age key, so
// every grant also seals its credential. Everything is dropped at the end,
// also after an error or Ctrl-C: jitd is stopped, postgres.Teardown drops
// the provider's roles, a check confirms that none is left, and the
// scratch database is dropped.
//
// Without -clients it prints one JSON object:
//
//   - jit_p50_ms, jit_p99_ms: one request at a time, -n times, the time from
//     submitting the request over the HTTP API to seeing it active through
//     the long-poll (client.Wait). Each is then relinquished and waited for,
//     outside the timing, so that no revoke runs during the next sample.
//   - floor_p50_ms, floor_p99_ms: the same work done directly with pgx on
//     an open connection to the same database, in one round trip:
//     CREATE ROLE ... LOGIN PASSWORD '<plain text>' VALID UNTIL ...
//     CONNECTION LIMIT 5 and GRANT of a group role holding the level's
//     privileges (made once, as the provider makes its group roles). The
//     role is dropped outside the timing. Floor and jit samples alternate
//     (jit first on even samples, floor first on odd ones), so that noise
//     on the machine hits both.
//   - ratio_p50 = jit_p50_ms / floor_p50_ms.
//   - revoke_lag_*: -n grants of -lifetime (default 20s) filed at once over
//     the API, so that they all expire within a short window; once all have
//     ended, revoked_at − expires_at per request, where revoked_at is the
//     request's final update (the revoke job's record that the role is
//     gone) and expires_at the grant's expiry, read from the store.
//     revoke_start_lag_* is ended_at − expires_at: when the expiry was
//     picked up and the revoke started.
//
// With -clients (a comma-separated list, e.g. 8,32) it prints one JSON
// object per setting instead:
//
//   - grants_per_sec: N clients, each a distinct user with its own token,
//     each submitting and long-polling until active, one request after
//     the other, for -duration; grants that reached active per second.
//   - revoke_500_ms: with exactly -revoke (default 500) active grants, the
//     time from the first revoke call until every request is revoked and
//     no user role of the scratch database is left in pg_roles. An admin
//     revokes them through the API, with N calls in flight: each of N
//     workers files its share of revokes, then long-polls its share until
//     it ended.
//
// -cpuprofile FILE writes a CPU profile (of this process: jitd and the
// clients, not the PostgreSQL server) for each measured phase, named after
// FILE with the phase inserted before the extension (cpu.seq.prof,
// cpu.lag.prof, cpu.grants-32.prof, cpu.revoke-32.prof). Each JSON object
// also has, under "phases", the CPU time this process and the machine's
// postgres processes used in each phase, and jitd's own timings of its
// steps (API calls, job start lag, jobs, provider calls: counts and means
// from the histograms it exports), which say where a grant's time goes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	resource := flag.String("resource", "postgres", `kind of database resource to measure (only "postgres" for now)`)
	n := flag.Int("n", 500, "sequential samples of each of jit and the floor, and grants in the revoke-lag phase")
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL server URL of a role that may create databases and roles; a scratch database is created on it")
	clients := flag.String("clients", "", "concurrent clients for the throughput phase, comma-separated (e.g. 8,32); empty runs the sequential phases")
	duration := flag.Duration("duration", 10*time.Second, "length of the throughput phase (with -clients)")
	revokeN := flag.Int("revoke", 500, "active grants revoked at once (with -clients)")
	lifetime := flag.Duration("lifetime", 20*time.Second, "duration of the grants of the revoke-lag phase (must exceed the time to grant them all)")
	warmup := flag.Int("warmup", 10, "untimed samples of each of jit and the floor before the sequential phase")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile per measured phase, named after this file")
	flag.Parse()

	cfg := config{resource: *resource, n: *n, dsn: *dsn, duration: *duration, revokeN: *revokeN,
		lifetime: *lifetime, warmup: *warmup, prof: profiler{base: *cpuprofile}}
	var err error
	if cfg.clients, err = parseClients(*clients); err == nil {
		err = cfg.validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbgrant:", err)
		os.Exit(2)
	}

	// Ctrl-C cancels the run, which still cleans up; a second one kills
	// the program at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "dbgrant:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	resource string
	n        int
	dsn      string
	clients  []int
	duration time.Duration
	revokeN  int
	lifetime time.Duration
	warmup   int
	prof     profiler
}

func (c config) validate() error {
	switch {
	case c.resource != "postgres":
		return fmt.Errorf(`-resource %q is not supported: only "postgres" is implemented`, c.resource)
	case c.n < 1:
		return fmt.Errorf("-n must be at least 1, got %d", c.n)
	case !strings.HasPrefix(c.dsn, "postgres://") && !strings.HasPrefix(c.dsn, "postgresql://"):
		// The value may hold a password: it is not repeated.
		return errors.New("-dsn must be a postgres:// URL")
	case c.duration <= 0:
		return fmt.Errorf("-duration must be positive, got %s", c.duration)
	case c.revokeN < 1:
		return fmt.Errorf("-revoke must be at least 1, got %d", c.revokeN)
	case c.lifetime < time.Second || c.lifetime > time.Hour:
		return fmt.Errorf("-lifetime must be between 1s and 1h (the rule's maximum), got %s", c.lifetime)
	case c.warmup < 0:
		return fmt.Errorf("-warmup must not be negative, got %d", c.warmup)
	}
	return nil
}

func parseClients(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("-clients: %q is not a client count from 1 to 1000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, cfg config) (err error) {
	users := 1
	for _, c := range cfg.clients {
		users = max(users, c)
	}
	e, err := startEnv(ctx, cfg.dsn, users)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := e.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	if err := e.checkCredential(ctx); err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	if len(cfg.clients) == 0 {
		res, err := sequential(ctx, e, cfg)
		if err != nil {
			return err
		}
		return out.Encode(res)
	}
	for _, c := range cfg.clients {
		res, err := throughput(ctx, e, cfg, c)
		if err != nil {
			return err
		}
		if err := out.Encode(res); err != nil {
			return err
		}
	}
	return nil
}
