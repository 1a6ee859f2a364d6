// Package slack is jit's Slack app: people ask for access with the /jit
// command and a modal, approvers approve or deny from a message posted to
// the resource's channel, and requesters hear in a direct message what
// became of their request (with buttons to relinquish, extend or ask
// again).
//
// Every request from Slack is verified with the app's signing secret
// (Verifier). The Slack user is mapped to a jit identity by the email
// Slack holds for them (users.info, cached), and every action goes through
// the workflow service with that identity in the context and source
// "slack", so Slack enforces exactly what the API enforces: a click by
// someone who may not approve is refused by the service, not by this
// package.
//
// The App is also a jit.Notifier: it posts the approval message when a
// request is filed and keeps it up to date in place as the request moves
// on, wherever the change was made. What it needs to find the message
// again lives in a MessageStore, so a restart loses nothing.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/workflow"
)

// Service is what the Slack app needs of the control plane;
// *workflow.Service is one. The caller's identity and the action's source
// are in the context (jit.WithIdentity, jit.WithSource) and every method
// checks authorisation itself. Errors that are *jit.Error are shown with
// their message (mapped to friendlier words for the common codes); any
// other error is logged and shown as "try again".
type Service interface {
	// Offers lists what the caller may request. Read-only.
	Offers(ctx context.Context) ([]policy.Offer, error)
	// Submit files a request; refusals are *jit.Error with the field they
	// concern. Not idempotent: each call files a new request.
	Submit(ctx context.Context, in workflow.SubmitInput) (*jit.Request, error)
	// Approve records the caller's approval; a second approval by the
	// same person is already_approved, an ineligible caller not_approver
	// or self_approval, a decided request invalid_state.
	Approve(ctx context.Context, id, comment string) (*jit.Request, error)
	// Deny ends a pending request (reason required); invalid_state once
	// it is no longer pending.
	Deny(ctx context.Context, id, reason string) (*jit.Request, error)
	// Cancel ends the caller's own pending or approved request;
	// invalid_state afterwards.
	Cancel(ctx context.Context, id string) (*jit.Request, error)
	// Relinquish ends the caller's own active access; invalid_state
	// afterwards.
	Relinquish(ctx context.Context, id string) (*jit.Request, error)
	// Extend files a new request linked to the caller's active one. Not
	// idempotent.
	Extend(ctx context.Context, id string, in workflow.ExtendInput) (*jit.Request, error)
	// Get returns a request the caller may see, else not_found. Read-only.
	Get(ctx context.Context, id string) (*jit.Request, error)
	// List returns one page of requests the caller may see. Read-only.
	List(ctx context.Context, in workflow.ListInput) (workflow.Page, error)
}

var _ Service = (*workflow.Service)(nil)

// Resolver turns the email Slack holds for a person into a jit Identity;
// workflow.Service.ResolveIdentity is one. via is "slack".
type Resolver func(email string, groups []string, via string) jit.Identity

// Via is the Identity.Via of people who act through Slack, and the
// Source.Kind of their actions.
const Via = "slack"

// DefaultUserCacheTTL is how long the email of a Slack user (and the Slack
// user of an email) is remembered.
const DefaultUserCacheTTL = 10 * time.Minute

// Config configures an App.
type Config struct {
	// BotToken is the app's bot token (xoxb-...), read by the caller
	// from a file; never logged.
	BotToken string
	// SigningSecret is the app's signing secret, read by the caller from
	// a file; never logged.
	SigningSecret string
	// TeamID, if set, is the only Slack workspace whose requests are
	// served; others are answered as unknown people.
	TeamID string
	// Channels maps a resource name to the ID of the channel where its
	// approval messages go (the bot must be a member).
	Channels map[string]string
	// DefaultChannel is the channel of resources Channels does not name.
	// Without it, such requests get no approval message (their requester
	// still hears about them).
	DefaultChannel string
	// BaseURL is the web app's address (https://jit.example.com); links
	// to a request's page are <BaseURL>/requests/<id>. Required.
	BaseURL string
	// StepUpRules are rule names whose requests cannot be approved with
	// a click in Slack: the Approve button answers with a link to the
	// request's page in the web app, where the approver signs in again.
	StepUpRules []string
	// Service is the control plane (required).
	Service Service
	// Resolve turns a Slack user's email into an identity, again on every
	// request, so that group and admin changes in the policy apply at
	// once (required).
	Resolve Resolver
	// Messages remembers the approval message of each request and the
	// notifications already delivered (required; see MessageStore).
	Messages MessageStore
	// Clock defaults to jit.SystemClock.
	Clock jit.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// APIURL is the Slack Web API's base URL (default Slack's own,
	// https://slack.com/api/); tests point it at slacktest.
	APIURL string
	// HTTPClient makes the calls to Slack (Web API and response URLs);
	// default a client with a 15s timeout.
	HTTPClient *http.Client
	// UserCacheTTL is how long a user's email is cached (default
	// DefaultUserCacheTTL).
	UserCacheTTL time.Duration
	// MaxBodyBytes bounds a request's body (default DefaultMaxBody).
	MaxBodyBytes int64
}

// Validate reports every problem with c, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.BotToken == "" {
		errs = append(errs, errors.New("BotToken is required"))
	} else if !strings.HasPrefix(c.BotToken, "xoxb-") {
		// A user token (xoxp-) would act as a person; only the bot's will do.
		errs = append(errs, errors.New("BotToken is not a bot token (it must start with xoxb-)"))
	}
	if c.SigningSecret == "" {
		errs = append(errs, errors.New("SigningSecret is required"))
	}
	for res, ch := range c.Channels {
		if res == "" {
			errs = append(errs, errors.New("Channels has an empty resource name"))
		}
		if !validChannel(ch) {
			errs = append(errs, fmt.Errorf("Channels[%q] %q is not a channel ID (like C0123ABCD)", res, ch))
		}
	}
	if c.DefaultChannel != "" && !validChannel(c.DefaultChannel) {
		errs = append(errs, fmt.Errorf("DefaultChannel %q is not a channel ID (like C0123ABCD)", c.DefaultChannel))
	}
	if u, err := url.Parse(c.BaseURL); c.BaseURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("BaseURL %q is not the web app's address (like https://jit.example.com)", c.BaseURL))
	}
	for _, r := range c.StepUpRules {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, errors.New("StepUpRules has an empty rule name"))
		}
	}
	if c.Service == nil {
		errs = append(errs, errors.New("Service is required"))
	}
	if c.Resolve == nil {
		errs = append(errs, errors.New("Resolve is required (it turns a Slack user's email into an identity)"))
	}
	if c.Messages == nil {
		errs = append(errs, errors.New("Messages is required (it finds approval messages again after a restart)"))
	}
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("APIURL %q is not an http(s) URL", c.APIURL))
		}
	}
	if c.UserCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("UserCacheTTL %v must not be negative", c.UserCacheTTL))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d must not be negative", c.MaxBodyBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("slack config: %w", err)
	}
	return nil
}

// validChannel accepts Slack conversation IDs (C0123ABCD); names
// ("#ops") would break chat.update, which needs the ID.
func validChannel(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// App is the Slack app: the HTTP handler of Slack's requests and a
// jit.Notifier.
type App struct {
	cfg      Config
	svc      Service
	api      *slack.Client
	http     *http.Client
	log      *slog.Logger
	clock    jit.Clock
	verifier *Verifier
	dir      *directory
	store    MessageStore
	baseURL  string
	mux      *http.ServeMux
	views    *viewOnce
	stepUps  map[string]bool

	// bg tracks work answered later through a response URL.
	bg       sync.WaitGroup
	bgMu     sync.Mutex
	bgClosed bool
}

var _ jit.Notifier = (*App)(nil)

// New validates cfg, applies defaults and returns the App.
func New(cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = jit.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.UserCacheTTL == 0 {
		cfg.UserCacheTTL = DefaultUserCacheTTL
	}
	opts := []slack.Option{slack.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		opts = append(opts, slack.OptionAPIURL(u))
	}
	api := slack.New(cfg.BotToken, opts...)
	a := &App{
		cfg: cfg, svc: cfg.Service, api: api, http: cfg.HTTPClient, log: cfg.Logger, clock: cfg.Clock,
		verifier: NewVerifier([]byte(cfg.SigningSecret), cfg.Clock, cfg.MaxBodyBytes, cfg.Logger),
		dir:      newDirectory(api, cfg.Clock, cfg.UserCacheTTL),
		store:    cfg.Messages,
		baseURL:  strings.TrimSuffix(cfg.BaseURL, "/"),
		mux:      http.NewServeMux(),
		views:    newViewOnce(cfg.Clock),
		stepUps:  map[string]bool{},
	}
	for _, r := range cfg.StepUpRules {
		a.stepUps[strings.TrimSpace(r)] = true
	}
	a.mux.HandleFunc("POST /slack/commands", a.command)
	a.mux.HandleFunc("POST /slack/interactions", a.interaction)
	return a, nil
}

// Name is the notifier's sink name.
func (a *App) Name() string { return "slack" }

// Handler serves POST /slack/commands (the /jit slash command) and POST
// /slack/interactions (buttons and modals); mount it at /slack/. Every
// request is verified first: anything Slack did not sign is answered 401
// with no body.
func (a *App) Handler() http.Handler {
	verified := a.verifier.Middleware(a.mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || (r.URL.Path != "/slack/commands" && r.URL.Path != "/slack/interactions") {
			http.NotFound(w, r)
			return
		}
		verified.ServeHTTP(w, r)
	})
}

// Close waits for the work that answers through response URLs to finish;
// call it after the HTTP server stopped taking requests. It may be called
// more than once.
func (a *App) Close() {
	a.bgMu.Lock()
	a.bgClosed = true
	a.bgMu.Unlock()
	a.bg.Wait()
}

// backgroundTimeout bounds work answered through a response URL (Slack
// accepts answers there for 30 minutes).
const backgroundTimeout = time.Minute

// later runs fn after the HTTP answer, with parent's values but not its
// cancellation; after Close it runs fn at once instead.
func (a *App) later(parent context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), backgroundTimeout)
	a.bgMu.Lock()
	if a.bgClosed {
		a.bgMu.Unlock()
		defer cancel()
		fn(ctx)
		return
	}
	a.bg.Add(1)
	a.bgMu.Unlock()
	go func() {
		defer a.bg.Done()
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				a.log.ErrorContext(ctx, "panic in slack background work", "panic", fmt.Sprint(p))
			}
		}()
		fn(ctx)
	}()
}

// requestURL is the web app's page of request id.
func (a *App) requestURL(id string) string {
	return a.baseURL + "/requests/" + url.PathEscape(id)
}

// stepUp reports whether r's rule needs approval in the web app.
func (a *App) stepUp(r *jit.Request) bool { return a.stepUps[r.Rule] }

// channelFor is where the approval message of resource goes, or "".
func (a *App) channelFor(resource string) string {
	if ch, ok := a.cfg.Channels[resource]; ok {
		return ch
	}
	return a.cfg.DefaultChannel
}
