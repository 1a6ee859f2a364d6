// Package daemon wires jitd together: store, policy, providers, workflow
// service, scheduler and HTTP server. cmd/jitd and the end-to-end test
// harness are its only users; adapters never import each other.
package daemon

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jitaccess/jit"
	jithttp "github.com/jitaccess/jit/http"
	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/proxyauth"
	"github.com/jitaccess/jit/scheduler"
	"github.com/jitaccess/jit/store/postgres"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/workflow"

	// Providers register themselves by type name.
	_ "github.com/jitaccess/jit/provider/exec"
	_ "github.com/jitaccess/jit/provider/http"
	_ "github.com/jitaccess/jit/provider/mysql"
	_ "github.com/jitaccess/jit/provider/postgres"
	_ "github.com/jitaccess/jit/provider/webhook"
)

// DemoPolicy is the policy `jitd dev` starts with.
//
//go:embed demo.yaml
var DemoPolicy []byte

// DevTokens are the fixed tokens of `jitd dev`, accepted only over loopback.
var DevTokens = map[string]string{
	"dev-alice": "alice@example.com",
	"dev-bob":   "bob@example.com",
	"dev-carol": "carol@example.com",
}

// Options configures a Daemon.
type Options struct {
	// PolicyPath is the jit.yaml to load and watch for changes.
	PolicyPath string
	// Addr overrides server.addr ("127.0.0.1:0" picks a free port).
	Addr string
	// DataDir overrides server.data_dir.
	DataDir string
	// Dev accepts the dev tokens (over loopback only).
	Dev bool
	// Logger defaults to a JSON logger on stderr.
	Logger *slog.Logger
	// Clock defaults to jit.SystemClock.
	Clock jit.Clock
	// WatchInterval is how often the policy file is checked (default 2s).
	WatchInterval time.Duration
	// SchedulerMaxSleep bounds the scheduler's sleep (default 2s).
	SchedulerMaxSleep time.Duration
	// Postgres, when set, overrides the policy's store with this
	// PostgreSQL DSN (tests run the same server on both stores).
	Postgres string
}

// Daemon is a running jitd.
type Daemon struct {
	// URL is the base URL the HTTP server listens on.
	URL     string
	Addr    string
	Service *workflow.Service
	Store   jit.Store
	Policy  *policy.Holder
	Metrics *metrics.Metrics

	cancel context.CancelFunc
	srv    *http.Server
	wg     sync.WaitGroup
	log    *slog.Logger
}

// OpenStore opens the store the policy's server settings name; dataDir,
// when set, overrides server.data_dir.
// log receives the store's own warnings (a lost listening connection); nil
// discards them.
func OpenStore(ctx context.Context, srv policy.ServerConfig, dataDir string, log *slog.Logger) (jit.Store, error) {
	if srv.Store.Postgres != "" {
		// The DSN may hold a password: the store keeps it out of its
		// errors, and it is not repeated here.
		st, err := postgres.OpenConfig(ctx, postgres.Config{DSN: srv.Store.Postgres, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	path := srv.Store.SQLite
	if dataDir != "" || path == "" {
		dir := dataDir
		if dir == "" {
			dir = srv.DataDir
		}
		path = filepath.Join(dir, "jit.db")
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return st, nil
}

// Start loads the policy, opens the store and starts serving.
func Start(ctx context.Context, o Options) (*Daemon, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if o.Clock == nil {
		o.Clock = jit.SystemClock{}
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = 2 * time.Second
	}
	pol, err := policy.Load(o.PolicyPath)
	if err != nil {
		return nil, err
	}
	srvCfg := pol.Server()
	addr := srvCfg.Addr
	if o.Addr != "" {
		addr = o.Addr
	}
	if o.Postgres != "" {
		srvCfg.Store = policy.StoreConfig{Postgres: o.Postgres}
	}
	st, err := OpenStore(ctx, srvCfg, o.DataDir, o.Logger)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()

	m := metrics.New()
	holder := policy.NewHolder(pol)
	var sched *scheduler.Scheduler
	svc, err := workflow.New(workflow.Config{
		Store: st, Policy: holder, Clock: o.Clock, Logger: o.Logger, Metrics: m,
		Wake: func() {
			if sched != nil {
				sched.Wake()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	sched, err = scheduler.New(scheduler.Config{Store: st, Handler: svc.RunJob, Clock: o.Clock, Logger: o.Logger,
		Metrics: m, MaxSleep: o.SchedulerMaxSleep, Lease: srvCfg.JobLease})
	if err != nil {
		return nil, err
	}

	// Tokens found are remembered for 10 s: every API call would otherwise
	// cost a store round trip.
	tokens := jithttp.NewTokenCache(10*time.Second, 10000, o.Clock)
	auths := []jithttp.Authenticator{jithttp.TokenAuth{Store: st, Resolve: svc.ResolveIdentity, Cache: tokens}}
	if o.Dev {
		auths = append(auths, jithttp.DevTokens{Tokens: DevTokens, Resolve: svc.ResolveIdentity})
	}
	if px := srvCfg.Proxy; px != nil {
		v, err := proxyauth.New(proxyauth.Config{Header: px.Header, JWKSURL: px.JWKSURL, Issuer: px.Issuer, Audience: px.Audience,
			EmailClaim: px.EmailClaim, GroupsClaim: px.GroupsClaim, Clock: o.Clock})
		if err != nil {
			return nil, fmt.Errorf("server.proxy: %w", err)
		}
		auths = append(auths, jithttp.ProxyJWT{Verifier: v, Header: px.Header, Resolve: svc.ResolveIdentity})
	}
	api, err := jithttp.New(jithttp.Config{Service: svc, Authenticators: auths, Logger: o.Logger, Metrics: m,
		WritesPerMinute: srvCfg.RateLimit.WritesPerMinute, Burst: srvCfg.RateLimit.Burst, Clock: o.Clock})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &Daemon{
		URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), Service: svc, Store: st, Policy: holder, Metrics: m,
		cancel: cancel, log: o.Logger,
		srv: &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
	}
	if cl, ok := st.(jit.ChangeListener); ok {
		// Replicas sharing the store: wake this scheduler for jobs another
		// replica enqueued, and this replica's long-polls for its changes.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			cl.ListenChanges(runCtx, func(n jit.ChangeNotice) {
				svc.NoteChange(n)
				if n.Jobs {
					sched.Wake()
				}
			})
		}()
	}
	// Reconciliation runs as a durable job, so that one replica at a time
	// does it; each run schedules the next.
	if err := svc.ScheduleReconcile(runCtx, srvCfg.ReconcileInterval); err != nil {
		o.Logger.Error("schedule reconciliation", "err", err)
	}
	d.wg.Add(4)
	go func() { defer d.wg.Done(); sched.Run(runCtx) }()
	go func() { defer d.wg.Done(); svc.Maintain(runCtx, 10*time.Second) }()
	go func() {
		defer d.wg.Done()
		policy.Watch(runCtx, o.PolicyPath, holder, policy.WatchOptions{
			Interval: o.WatchInterval,
			OnReload: func(old, cur *policy.Policy) {
				o.Logger.Info("policy reloaded", "path", o.PolicyPath, "digest", cur.Digest())
				if err := svc.PolicyReloaded(runCtx, old, cur); err != nil {
					o.Logger.Error("after policy reload", "err", err)
				}
				// Providers of the old policy may still be in use by jobs
				// that started before the swap; give them time to finish.
				time.AfterFunc(time.Minute, func() { old.Close() })
			},
			OnError: func(err error) {
				o.Logger.Error("policy reload refused; keeping the previous policy", "path", o.PolicyPath, "err", err)
				if rerr := svc.PolicyReloadFailed(runCtx, err); rerr != nil {
					o.Logger.Error("record refused policy reload", "err", rerr)
				}
			},
		})
	}()
	go func() {
		defer d.wg.Done()
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http server stopped", "err", err)
		}
	}()
	ok = true
	o.Logger.Info("jitd started", "url", d.URL, "policy", o.PolicyPath, "dev", o.Dev)
	return d, nil
}

// Close stops serving, waits for running jobs and closes the store.
func (d *Daemon) Close() error {
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.srv.Shutdown(sctx)
	d.cancel()
	d.wg.Wait()
	if cerr := d.Store.Close(); err == nil {
		err = cerr
	}
	d.Policy.Get().Close()
	return err
}

// WriteDevPolicy writes the demo policy to dir/jit.yaml unless a file is
// already there (so that edits survive restarts) and returns its path.
func WriteDevPolicy(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dir, "jit.yaml")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return path, nil
	} else if err != nil {
		return "", fmt.Errorf("write dev policy: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(DemoPolicy); err != nil {
		return "", fmt.Errorf("write dev policy: %w", err)
	}
	return path, nil
}
