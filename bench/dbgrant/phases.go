package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/credential"
)

// seqResult is the output without -clients.
type seqResult struct {
	Resource   string  `json:"resource"`
	N          int     `json:"n"`
	Warmup     int     `json:"warmup"`
	JitP50Ms   float64 `json:"jit_p50_ms"`
	JitP99Ms   float64 `json:"jit_p99_ms"`
	JitMaxMs   float64 `json:"jit_max_ms"`
	FloorP50Ms float64 `json:"floor_p50_ms"`
	FloorP99Ms float64 `json:"floor_p99_ms"`
	FloorMaxMs float64 `json:"floor_max_ms"`
	RatioP50   float64 `json:"ratio_p50"`
	RatioP99   float64 `json:"ratio_p99"`

	RevokeLagGrants int `json:"revoke_lag_grants"`
	// Lifetime is the duration of each revoke-lag grant; FiledSec how
	// long filing them all took; ExpiryWindowSec the spread of their
	// expiries.
	Lifetime            string  `json:"revoke_lag_lifetime"`
	FiledSec            float64 `json:"revoke_lag_filed_sec"`
	ExpiryWindowSec     float64 `json:"expiry_window_sec"`
	NotExpired          int     `json:"not_expired"`
	RevokeLagP50Ms      float64 `json:"revoke_lag_p50_ms"`
	RevokeLagP99Ms      float64 `json:"revoke_lag_p99_ms"`
	RevokeLagMaxMs      float64 `json:"revoke_lag_max_ms"`
	RevokeStartLagP50Ms float64 `json:"revoke_start_lag_p50_ms"`
	RevokeStartLagP99Ms float64 `json:"revoke_start_lag_p99_ms"`
	RevokeStartLagMaxMs float64 `json:"revoke_start_lag_max_ms"`

	GOMAXPROCS int                 `json:"gomaxprocs"`
	Phases     map[string]phaseUse `json:"phases"`
}

// throughputResult is the output of one -clients setting.
type throughputResult struct {
	Resource     string  `json:"resource"`
	Clients      int     `json:"clients"`
	DurationSec  float64 `json:"duration_sec"`
	Grants       int     `json:"grants"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	GrantsPerSec float64 `json:"grants_per_sec"`
	GrantP50Ms   float64 `json:"grant_p50_ms"`
	GrantP99Ms   float64 `json:"grant_p99_ms"`
	GrantMaxMs   float64 `json:"grant_max_ms"`

	// RevokeBy says who ended the grants: "admin" (POST .../revoke).
	RevokeBy string `json:"revoke_by"`
	RevokeN  int    `json:"revoke_n"`
	// Revoke500Ms is the time for RevokeN grants (500 unless -revoke says
	// otherwise): from the first revoke call until all are revoked and
	// their roles are gone. RevokeCallsMs is until the last revoke call
	// was answered (the jobs still running).
	Revoke500Ms   float64 `json:"revoke_500_ms"`
	RevokeCallsMs float64 `json:"revoke_calls_ms"`
	RevokesPerSec float64 `json:"revokes_per_sec"`
	RolesBefore   int     `json:"roles_before"`
	RolesAfter    int     `json:"roles_after"`

	GOMAXPROCS int                 `json:"gomaxprocs"`
	Phases     map[string]phaseUse `json:"phases"`
}

const reason = "dbgrant benchmark"

// checkCredential makes one grant and uses it, untimed: the credential is
// opened with the requester's key and a session under the role reads a
// table through the level's group role. It proves that what is measured
// is a working grant, and it makes the provider sync its group role and
// open its connections before any timing.
func (e *env) checkCredential(ctx context.Context) error {
	c := e.people[0]
	r, err := grant(ctx, c, "1h")
	if err != nil {
		return fmt.Errorf("first grant: %w", err)
	}
	sealed, err := c.Credential(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("fetch the credential: %w", err)
	}
	p, err := credential.Open(e.keys[0], sealed.Envelope)
	if err != nil {
		return fmt.Errorf("open the credential: %w", err)
	}
	u, err := credential.URL(p)
	if err != nil {
		return fmt.Errorf("the credential: %w", err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("log in with the credential: %w", err)
	}
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n)
	conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("read a table with the credential: %w", err)
	}
	return relinquish(ctx, c, r)
}

// grant submits a request for the read level and long-polls until it is
// no longer approved or granting; anything but active is an error.
func grant(ctx context.Context, c *client.Client, duration string) (*jit.Request, error) {
	r, err := c.Submit(ctx, client.SubmitRequest{Resource: resourceName, Access: accessLevel, Duration: duration, Reason: reason})
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	r, err = waitWhile(ctx, c, r, jit.StatusApproved, jit.StatusGranting)
	if err != nil {
		return nil, err
	}
	if r.Status != jit.StatusActive {
		return nil, fmt.Errorf("request %s is %s (%s), want active", r.ID, r.Status, r.EndReason)
	}
	return r, nil
}

// relinquish ends r as its requester and waits until the role is gone.
func relinquish(ctx context.Context, c *client.Client, r *jit.Request) error {
	r, err := c.Relinquish(ctx, r.ID)
	if err != nil {
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

// waitWhile long-polls r until its status is not one of while. The bound
// on rounds keeps a stuck request from hanging the run.
func waitWhile(ctx context.Context, c *client.Client, r *jit.Request, while ...jit.Status) (*jit.Request, error) {
	for i := 0; i < 60 && slices.Contains(while, r.Status); i++ {
		var err error
		if r, err = c.Wait(ctx, r.ID, while, 10*time.Second); err != nil {
			return nil, fmt.Errorf("wait: %w", err)
		}
	}
	return r, nil
}

// sequential runs the interleaved jit and floor samples, then the
// revoke-lag phase.
func sequential(ctx context.Context, e *env, cfg config) (*seqResult, error) {
	c := e.people[0]
	jitSample := func() (time.Duration, error) {
		t0 := time.Now()
		r, err := grant(ctx, c, "1h")
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		// Untimed: end it now, so that its revoke job does not run
		// during the next sample.
		return d, relinquish(ctx, c, r)
	}
	for i := 0; i < cfg.warmup; i++ {
		if _, err := jitSample(); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if _, err := e.floorSample(ctx, "w"+strconv.Itoa(i)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	res := &seqResult{Resource: cfg.resource, N: cfg.n, Warmup: cfg.warmup, GOMAXPROCS: runtime.GOMAXPROCS(0), Phases: map[string]phaseUse{}}
	fmt.Fprintf(os.Stderr, "dbgrant: %d sequential samples of jit and of the floor\n", cfg.n)
	jitT := make([]time.Duration, 0, cfg.n)
	floorT := make([]time.Duration, 0, cfg.n)
	err := cfg.prof.phase("seq", e.d.Metrics, res.Phases, func() error {
		for i := 0; i < cfg.n; i++ {
			// Alternate which goes first, so that neither always runs
			// right after the other's cleanup.
			for k := 0; k < 2; k++ {
				if (i+k)%2 == 0 {
					d, err := jitSample()
					if err != nil {
						return fmt.Errorf("jit sample %d: %w", i, err)
					}
					jitT = append(jitT, d)
				} else {
					d, err := e.floorSample(ctx, "f"+strconv.Itoa(i))
					if err != nil {
						return fmt.Errorf("floor sample %d: %w", i, err)
					}
					floorT = append(floorT, d)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.JitP50Ms, res.JitP99Ms, res.JitMaxMs = quantiles(jitT)
	res.FloorP50Ms, res.FloorP99Ms, res.FloorMaxMs = quantiles(floorT)
	if res.FloorP50Ms > 0 {
		res.RatioP50 = round3(res.JitP50Ms / res.FloorP50Ms)
	}
	if res.FloorP99Ms > 0 {
		res.RatioP99 = round3(res.JitP99Ms / res.FloorP99Ms)
	}
	if err := revokeLag(ctx, e, cfg, res); err != nil {
		return nil, err
	}
	return res, nil
}

// floorSample times CREATE ROLE with a plain-text password (the server
// computes the SCRAM verifier) and GRANT of the level's group role, sent
// in one round trip (a multi-statement simple query, which PostgreSQL runs
// as one transaction), then drops the role untimed.
func (e *env) floorSample(ctx context.Context, suffix string) (time.Duration, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return 0, err
	}
	// URL-safe base64 has no quote or backslash: the literal is safe.
	password := base64.RawURLEncoding.EncodeToString(b)
	validUntil := time.Now().Add(time.Hour).UTC().Format("2006-01-02 15:04:05.999999-07")
	user := pgx.Identifier{e.floorPrefix() + suffix}.Sanitize()
	stmt := "CREATE ROLE " + user + " LOGIN PASSWORD '" + password + "' VALID UNTIL '" + validUntil + "' CONNECTION LIMIT 5; " +
		"GRANT " + pgx.Identifier{e.floorGroup}.Sanitize() + " TO " + user
	t0 := time.Now()
	_, err := e.floor.Exec(ctx, stmt) // no arguments: the simple protocol
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("create the floor's role: %w", err)
	}
	if _, err := e.floor.Exec(ctx, "DROP ROLE "+user); err != nil {
		return 0, fmt.Errorf("drop the floor's role: %w", err)
	}
	return d, nil
}

// revokeLag files cfg.n grants of cfg.lifetime at once, waits until all
// have ended, and records revoked_at − expires_at from the store.
func revokeLag(ctx context.Context, e *env, cfg config, res *seqResult) error {
	n := cfg.n
	res.RevokeLagGrants = n
	res.Lifetime = cfg.lifetime.String()
	ids := make([]string, n)
	var reqs []*jit.Request
	err := cfg.prof.phase("lag", e.d.Metrics, res.Phases, func() error {
		start := time.Now()
		var next atomic.Int64
		err := parallel(16, func(w int) error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				c := e.people[i%len(e.people)]
				r, err := c.Submit(ctx, client.SubmitRequest{Resource: resourceName, Access: accessLevel, Duration: cfg.lifetime.String(), Reason: reason})
				if err != nil {
					return fmt.Errorf("submit: %w", err)
				}
				ids[i] = r.ID
			}
		})
		if err != nil {
			return err
		}
		res.FiledSec = round3(time.Since(start).Seconds())
		fmt.Fprintf(os.Stderr, "dbgrant: filed %d grants of %s in %.1fs; waiting for them to expire\n", n, cfg.lifetime, res.FiledSec)
		reqs, err = waitEnded(ctx, e, ids, cfg.lifetime+5*time.Minute)
		return err
	})
	if err != nil {
		return err
	}
	var lags, starts []time.Duration
	var first, last time.Time
	for _, r := range reqs {
		if r.Status != jit.StatusExpired || r.ExpiresAt == nil {
			res.NotExpired++
			continue
		}
		exp := *r.ExpiresAt
		if first.IsZero() || exp.Before(first) {
			first = exp
		}
		if exp.After(last) {
			last = exp
		}
		// The final update is the revoke job's record that the role is
		// gone; ended_at is when the expiry was picked up.
		lags = append(lags, r.UpdatedAt.Sub(exp))
		if r.EndedAt != nil {
			starts = append(starts, r.EndedAt.Sub(exp))
		}
	}
	res.ExpiryWindowSec = round3(last.Sub(first).Seconds())
	res.RevokeLagP50Ms, res.RevokeLagP99Ms, res.RevokeLagMaxMs = quantiles(lags)
	res.RevokeStartLagP50Ms, res.RevokeStartLagP99Ms, res.RevokeStartLagMaxMs = quantiles(starts)
	return nil
}

// waitEnded polls the store until every request has ended (or timeout)
// and returns them as stored.
func waitEnded(ctx context.Context, e *env, ids []string, timeout time.Duration) ([]*jit.Request, error) {
	deadline := time.Now().Add(timeout)
	lastReport := time.Now()
	reqs := make([]*jit.Request, len(ids))
	for {
		pending := 0
		for i, id := range ids {
			if reqs[i] != nil && reqs[i].Status.Terminal() {
				continue
			}
			r, err := e.d.Store.GetRequest(ctx, id)
			if err != nil {
				return nil, err
			}
			reqs[i] = r
			if !r.Status.Terminal() {
				pending++
			}
		}
		if pending == 0 {
			return reqs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d requests have not ended after %s", pending, len(ids), timeout)
		}
		if time.Since(lastReport) > 5*time.Second {
			fmt.Fprintf(os.Stderr, "dbgrant: %d of %d not yet ended\n", pending, len(ids))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// throughput runs one -clients setting: grants per second, then the time
// to revoke cfg.revokeN active grants.
func throughput(ctx context.Context, e *env, cfg config, clients int) (*throughputResult, error) {
	res := &throughputResult{Resource: cfg.resource, Clients: clients, RevokeBy: "admin", RevokeN: cfg.revokeN,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Phases: map[string]phaseUse{}}
	fmt.Fprintf(os.Stderr, "dbgrant: %d clients for %s\n", clients, cfg.duration)
	var (
		mu        sync.Mutex
		active    []string
		latencies []time.Duration
	)
	var errs atomic.Int64
	err := cfg.prof.phase("grants-"+strconv.Itoa(clients), e.d.Metrics, res.Phases, func() error {
		start := time.Now()
		deadline := start.Add(cfg.duration)
		err := parallel(clients, func(w int) error {
			c := e.people[w]
			for time.Now().Before(deadline) {
				t0 := time.Now()
				r, err := grant(ctx, c, "1h")
				d := time.Since(t0)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				mu.Lock()
				if err != nil {
					errs.Add(1)
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					active = append(active, r.ID)
					latencies = append(latencies, d)
				}
				mu.Unlock()
			}
			return nil
		})
		res.DurationSec = round3(time.Since(start).Seconds())
		return err
	})
	if err != nil {
		return nil, err
	}
	res.Grants = len(latencies)
	res.Errors = int(errs.Load())
	res.GrantsPerSec = round3(float64(res.Grants) / res.DurationSec)
	res.GrantP50Ms, res.GrantP99Ms, res.GrantMaxMs = quantiles(latencies)

	// Exactly revokeN active grants for the revoke phase: the surplus is
	// revoked, or more are granted, untimed.
	if len(active) > cfg.revokeN {
		fmt.Fprintf(os.Stderr, "dbgrant: revoking %d surplus grants\n", len(active)-cfg.revokeN)
		if _, err := revokeAll(ctx, e, active[cfg.revokeN:], clients); err != nil {
			return nil, fmt.Errorf("revoke the surplus: %w", err)
		}
		active = active[:cfg.revokeN]
	}
	if k := cfg.revokeN - len(active); k > 0 {
		fmt.Fprintf(os.Stderr, "dbgrant: granting %d more\n", k)
		var next atomic.Int64
		err := parallel(clients, func(w int) error {
			for next.Add(1) <= int64(k) {
				r, err := grant(ctx, e.people[w], "1h")
				if err != nil {
					return err
				}
				mu.Lock()
				active = append(active, r.ID)
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("grant up to %d: %w", cfg.revokeN, err)
		}
	}
	if res.RolesBefore, err = e.countRoles(ctx, true); err != nil {
		return nil, err
	}
	if res.RolesBefore != len(active) {
		return nil, fmt.Errorf("%d grants are active but %d of their roles exist", len(active), res.RolesBefore)
	}

	fmt.Fprintf(os.Stderr, "dbgrant: revoking %d active grants\n", len(active))
	err = cfg.prof.phase("revoke-"+strconv.Itoa(clients), e.d.Metrics, res.Phases, func() error {
		start := time.Now()
		calls, err := revokeAll(ctx, e, active, clients)
		if err != nil {
			return err
		}
		// Every request has ended, which the revoke job records only
		// after dropping the role; the count confirms it on the server.
		for {
			if res.RolesAfter, err = e.countRoles(ctx, true); err != nil {
				return err
			}
			if res.RolesAfter == 0 || time.Since(start) > time.Minute {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(start)
		res.Revoke500Ms = ms(d)
		res.RevokeCallsMs = ms(calls)
		res.RevokesPerSec = round3(float64(len(active)) / d.Seconds())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.RolesAfter != 0 {
		return nil, fmt.Errorf("%d roles are left a minute after the revokes", res.RolesAfter)
	}
	return res, nil
}

// revokeAll has the admin revoke ids through the API with workers calls in
// flight: each worker files its share of revokes, then long-polls its share
// until each has ended. It returns when the last revoke call was answered.
func revokeAll(ctx context.Context, e *env, ids []string, workers int) (time.Duration, error) {
	start := time.Now()
	var mu sync.Mutex
	var calls time.Duration
	err := parallel(workers, func(w int) error {
		var mine []*jit.Request
		for i := w; i < len(ids); i += workers {
			r, err := e.admin.Revoke(ctx, ids[i], reason)
			if err != nil {
				return fmt.Errorf("revoke %s: %w", ids[i], err)
			}
			mine = append(mine, r)
		}
		mu.Lock()
		calls = max(calls, time.Since(start))
		mu.Unlock()
		for _, r := range mine {
			r, err := waitWhile(ctx, e.admin, r, jit.StatusRevoking, jit.StatusActive)
			if err != nil {
				return err
			}
			if r.Status != jit.StatusRevoked {
				return fmt.Errorf("request %s is %s, want revoked", r.ID, r.Status)
			}
		}
		return nil
	})
	return calls, err
}

// parallel runs fn(0..n-1) at once and returns the first error.
func parallel(n int, fn func(w int) error) error {
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(w); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	// One cause is enough; the rest are usually the same.
	if len(errs) > 1 {
		return fmt.Errorf("%w (and %d more errors)", errs[0], len(errs)-1)
	}
	return errs[0]
}

// quantiles returns the p50, p99 and maximum of ds in milliseconds (the
// nearest-rank values), sorting ds.
func quantiles(ds []time.Duration) (p50, p99, maxMs float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	n := len(ds)
	return ms(ds[(n-1)/2]), ms(ds[min(n-1, (n*99+99)/100-1)]), ms(ds[n-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
