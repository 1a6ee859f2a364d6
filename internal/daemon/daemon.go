// Package daemon wires jitd together: store, policy, providers, workflow
// service, scheduler and HTTP server. cmd/jitd and the end-to-end test
// harness are its only users; adapters never import each other.
package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jitaccess/jit"
	jithttp "github.com/jitaccess/jit/http"
	"github.com/jitaccess/jit/metrics"
	"github.com/jitaccess/jit/oidc"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/proxyauth"
	"github.com/jitaccess/jit/scheduler"
	"github.com/jitaccess/jit/slack"
	"github.com/jitaccess/jit/store/postgres"
	"github.com/jitaccess/jit/store/sqlite"
	"github.com/jitaccess/jit/web"
	"github.com/jitaccess/jit/workflow"

	// Providers register themselves by type name.
	_ "github.com/jitaccess/jit/provider/aws"
	_ "github.com/jitaccess/jit/provider/azure"
	_ "github.com/jitaccess/jit/provider/exec"
	_ "github.com/jitaccess/jit/provider/gcp"
	_ "github.com/jitaccess/jit/provider/http"
	_ "github.com/jitaccess/jit/provider/kubernetes"
	_ "github.com/jitaccess/jit/provider/mysql"
	_ "github.com/jitaccess/jit/provider/postgres"
	_ "github.com/jitaccess/jit/provider/sshca"
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
	// WebSessionKeyFile names a file holding the key that signs the web
	// app's sessions (at least 32 bytes; surrounding white space is
	// ignored). Replicas behind one load balancer need the same file.
	// Empty: a key is made for this process, so sessions end when it
	// stops and are not accepted by other replicas.
	WebSessionKeyFile string
	// WebLogin, if set, signs people in to the web app through an
	// identity provider; WebLoginName is the provider's name on the
	// sign-in button.
	WebLogin     web.Login
	WebLoginName string
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
	slack  *slack.App
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
	if oc := srvCfg.OIDC; oc != nil && o.WebLogin == nil {
		// OIDC sign-in for the web app. Discovery is retried later when
		// the provider is down now, so jitd starts either way.
		secret, err := oc.ClientSecret()
		if err != nil {
			return nil, err
		}
		login, err := oidc.New(ctx, oidc.Config{
			Issuer: oc.Issuer, ClientID: oc.ClientID, ClientSecret: secret, RedirectURL: oc.RedirectURL,
			Scopes: oc.Scopes, EmailClaim: oc.EmailClaim, GroupsClaim: oc.GroupsClaim,
			AllowUnverifiedEmail: oc.AllowUnverifiedEmail, Clock: o.Clock, Logger: o.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("server.oidc: %w", err)
		}
		o.WebLogin = login
		if o.WebLoginName == "" {
			o.WebLoginName = oc.Name
		}
	}
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
	onCall, onCallTimeout, err := onCallChecker(srvCfg, o.Clock)
	if err != nil {
		return nil, err
	}
	sinks, remindBefore, err := notifiers(srvCfg, holder, o.Clock, o.Logger)
	if err != nil {
		return nil, err
	}
	var slackSink *lateNotifier
	if nc := srvCfg.Notifications; nc != nil && nc.Slack != nil {
		slackSink = &lateNotifier{name: "slack"}
		sinks = append(sinks, slackSink)
	}
	svc, err := workflow.New(workflow.Config{
		Store: st, Policy: holder, Clock: o.Clock, Logger: o.Logger, Metrics: m,
		OnCall: onCall, OnCallTimeout: onCallTimeout, Notifiers: sinks, RemindBefore: remindBefore,
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
	// The web app takes only the proxy's assertion from the request
	// itself: browsers carry no API tokens.
	var webAuths []web.Authenticator
	if px := srvCfg.Proxy; px != nil {
		v, err := proxyauth.New(proxyauth.Config{Header: px.Header, JWKSURL: px.JWKSURL, Issuer: px.Issuer, Audience: px.Audience,
			EmailClaim: px.EmailClaim, GroupsClaim: px.GroupsClaim, Clock: o.Clock})
		if err != nil {
			return nil, fmt.Errorf("server.proxy: %w", err)
		}
		proxy := jithttp.ProxyJWT{Verifier: v, Header: px.Header, Resolve: svc.ResolveIdentity}
		auths = append(auths, proxy)
		webAuths = append(webAuths, proxy)
	}
	api, err := jithttp.New(jithttp.Config{Service: svc, Authenticators: auths, Logger: o.Logger, Metrics: m,
		WritesPerMinute: srvCfg.RateLimit.WritesPerMinute, Burst: srvCfg.RateLimit.Burst, Clock: o.Clock})
	if err != nil {
		return nil, err
	}
	webApp, err := newWeb(o, svc, srvCfg, webAuths)
	if err != nil {
		return nil, err
	}
	var slackHandler http.Handler
	var slackApp *slack.App
	if slackSink != nil {
		slackApp, err = newSlack(srvCfg, svc, slackMessages(st), o.Clock, o.Logger)
		if err != nil {
			return nil, err
		}
		slackSink.set(slackApp)
		slackHandler = slackApp.Handler()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &Daemon{
		URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), Service: svc, Store: st, Policy: holder, Metrics: m,
		cancel: cancel, log: o.Logger,
		srv: &http.Server{Handler: mount(api.Handler(), webApp.Handler(), slackHandler), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
	}
	// Live-update streams never go idle; end them so that Shutdown need
	// not wait out its timeout.
	d.srv.RegisterOnShutdown(webApp.Shutdown)
	d.slack = slackApp
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
	// Providers whose targets cannot end access by themselves (Kubernetes
	// bindings) sweep what outlived its written expiry at start, before
	// the first reconciliation, so that nothing survives a crash or a lost
	// store for longer than a restart.
	d.wg.Add(5)
	go func() {
		defer d.wg.Done()
		if rep, err := svc.Sweep(runCtx); err != nil && runCtx.Err() == nil {
			o.Logger.Error("sweep expired access at start", "err", err, "swept", rep.Swept)
		}
	}()
	go func() { defer d.wg.Done(); sched.Run(runCtx) }()
	go func() { defer d.wg.Done(); svc.Maintain(runCtx, 10*time.Second) }()
	if rs, ok := st.(jit.RecordStore); ok && slackApp != nil {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); pruneSlackRecords(runCtx, rs, o.Clock, o.Logger) }()
	}
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
	if d.slack != nil {
		// Answers still being sent to Slack in the background.
		d.slack.Close()
	}
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

// mount serves the API under /api/, /healthz, /readyz and /metrics, and the
// web app at every other path.
func mount(api, app, slackApp http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/api/", "/api", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, api)
	}
	if slackApp != nil {
		// Slack's requests carry their own signature, checked by the app;
		// none of the API's or the web app's sign-in applies.
		mux.Handle("/slack/", slackApp)
	}
	mux.Handle("/", app)
	return mux
}

// newWeb builds the web app: its session key from o.WebSessionKeyFile or
// made for this process, the development sign-in for `jitd dev`, Secure
// cookies and the trusted origin when server.base_url is https.
func newWeb(o Options, svc *workflow.Service, srv policy.ServerConfig, auths []web.Authenticator) (*web.Server, error) {
	key, err := sessionKey(o)
	if err != nil {
		return nil, err
	}
	cfg := web.Config{Service: svc, SessionKey: key, Authenticators: auths, Login: o.WebLogin, LoginName: o.WebLoginName,
		Resolve: svc.ResolveIdentity, Logger: o.Logger, Clock: o.Clock}
	if o.Dev {
		for _, email := range DevTokens {
			cfg.DevUsers = append(cfg.DevUsers, email)
		}
		slices.Sort(cfg.DevUsers)
	}
	if u, err := url.Parse(srv.BaseURL); err == nil && u.Scheme == "https" && u.Host != "" {
		cfg.SecureCookies = true
		cfg.TrustedOrigins = []string{"https://" + u.Host}
	}
	return web.New(cfg)
}

// sessionKey reads the web session key file, or makes a key for this
// process when none is named.
func sessionKey(o Options) ([]byte, error) {
	if o.WebSessionKeyFile == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make a web session key: %w", err)
		}
		if !o.Dev {
			o.Logger.Warn("web sessions are signed with a key made for this process: they end when it stops, and other replicas refuse them; name a shared key file with --session-key-file")
		}
		return key, nil
	}
	b, err := os.ReadFile(o.WebSessionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read web session key: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < web.MinSessionKeyLen {
		return nil, fmt.Errorf("web session key file %s holds %d bytes; at least %d are needed (make one with: head -c 32 /dev/urandom | base64 > %s)",
			o.WebSessionKeyFile, len(key), web.MinSessionKeyLen, o.WebSessionKeyFile)
	}
	if fi, err := os.Stat(o.WebSessionKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		o.Logger.Warn("the web session key file is readable by other users; anyone who reads it can sign in as anyone", "file", o.WebSessionKeyFile)
	}
	return key, nil
}
