package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/oidc/oidctest"
)

var (
	alice = oidctest.User{Email: "alice@example.com", EmailVerified: true, Groups: []string{"engineering"}, Name: "Alice"}
	// bob's provider has not verified his address.
	bob = oidctest.User{Email: "bob@example.com", EmailVerified: false, Groups: []string{"sre"}, Name: "Bob"}
	// carol has no groups.
	carol = oidctest.User{Email: "Carol@Example.com", EmailVerified: true, Name: "Carol"}
)

// testClock runs with the wall clock plus an offset the test moves: the
// provider signs with real time, and the relying party's view of it can be
// moved ahead.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// result is what the relying party's callback got from Finish.
type result struct {
	Email    string
	Groups   []string
	ReturnTo string
	Err      error
}

// harness is a relying party (an HTTP server whose /start calls Start and
// whose /auth/callback calls Finish) signed in through a real provider by
// a cookie-keeping client playing the browser.
type harness struct {
	t       *testing.T
	op      *oidctest.Provider
	rp      *httptest.Server
	rpURL   *url.URL
	login   *Login
	clock   *testClock
	jar     *cookiejar.Jar
	browser *http.Client

	mu   sync.Mutex
	last result
}

type setup struct {
	tls    bool
	op     oidctest.Options
	config func(*Config)
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	h := &harness{t: t, clock: &testClock{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		h.login.Start(w, r, r.URL.Query().Get("return_to"))
	})
	mux.HandleFunc("/auth/callback", func(w http.ResponseWriter, r *http.Request) {
		email, groups, returnTo, err := h.login.Finish(w, r)
		h.mu.Lock()
		h.last = result{email, groups, returnTo, err}
		h.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Write([]byte("signed in"))
	})
	if s.tls {
		h.rp = httptest.NewTLSServer(mux)
	} else {
		h.rp = httptest.NewServer(mux)
	}
	t.Cleanup(h.rp.Close)
	h.rpURL, _ = url.Parse(h.rp.URL)

	o := s.op
	o.RedirectURIs = []string{h.rp.URL + "/auth/callback"}
	if o.Users == nil {
		o.Users = []oidctest.User{alice, bob, carol}
	}
	h.op = oidctest.Start(t, o)

	cfg := Config{
		Issuer: h.op.Issuer, ClientID: h.op.ClientID, ClientSecret: h.op.ClientSecret,
		RedirectURL: h.rp.URL + "/auth/callback", Scopes: []string{"groups"}, Clock: h.clock,
	}
	if s.config != nil {
		s.config(&cfg)
	}
	var err error
	if h.login, err = New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	h.jar, _ = cookiejar.New(nil)
	h.browser = &http.Client{Jar: h.jar, Transport: h.rp.Client().Transport, Timeout: 30 * time.Second}
	return h
}

// stopAtCallback keeps the browser from following the provider's redirect
// to the callback, so that a test can look at (or alter) it first.
func stopAtCallback(req *http.Request, _ []*http.Request) error {
	if req.URL.Path == "/auth/callback" {
		return http.ErrUseLastResponse
	}
	return nil
}

// start visits /start and returns the provider's login page it ends on.
func (h *harness) start(returnTo string) *url.URL {
	h.t.Helper()
	resp, err := h.browser.Get(h.rp.URL + "/start?return_to=" + url.QueryEscape(returnTo))
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
		h.t.Fatalf("start ended at %s with %s, want the provider's login page", resp.Request.URL, resp.Status)
	}
	return resp.Request.URL
}

// approve signs in as username on the login page and returns the callback
// URL the provider redirects to, without visiting it.
func (h *harness) approve(page *url.URL, username string) *url.URL {
	h.t.Helper()
	c := *h.browser
	c.CheckRedirect = stopAtCallback
	resp, err := h.op.SubmitLogin(&c, page, username)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return h.callbackLocation(resp)
}

func (h *harness) callbackLocation(resp *http.Response) *url.URL {
	h.t.Helper()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusFound || loc.Path != "/auth/callback" {
		h.t.Fatalf("provider answered %s (location %v), want a redirect to the callback", resp.Status, loc)
	}
	return loc
}

// callback visits u as the browser and returns what Finish returned.
func (h *harness) callback(u *url.URL) result {
	h.t.Helper()
	resp, err := h.browser.Get(u.String())
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func (h *harness) signIn(username, returnTo string) result {
	h.t.Helper()
	return h.callback(h.approve(h.start(returnTo), username))
}

// flowCookies are the flow cookies the browser holds for the relying party.
func (h *harness) flowCookies() []*http.Cookie {
	var out []*http.Cookie
	for _, c := range h.jar.Cookies(h.rpURL) {
		if strings.Contains(c.Name, "jit_oidc_") {
			out = append(out, c)
		}
	}
	return out
}

func mustSucceed(t *testing.T, r result, email string, groups []string, returnTo string) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("Finish: %v", r.Err)
	}
	if r.Email != email || !slices.Equal(r.Groups, groups) || r.ReturnTo != returnTo {
		t.Fatalf("Finish = %q %q %q, want %q %q %q", r.Email, r.Groups, r.ReturnTo, email, groups, returnTo)
	}
}

func mustFail(t *testing.T, r result, want error, contains string) {
	t.Helper()
	if !errors.Is(r.Err, want) {
		t.Fatalf("Finish error = %v, want %v", r.Err, want)
	}
	if !strings.Contains(r.Err.Error(), contains) {
		t.Fatalf("Finish error %q does not say %q", r.Err, contains)
	}
	if r.Email != "" || r.Groups != nil || r.ReturnTo != "" {
		t.Fatalf("Finish returned an identity with its error: %+v", r)
	}
	// What the web app shows the person.
	var je *jit.Error
	if !errors.As(r.Err, &je) || je.Message == "" || je.Code == jit.ECodeInternal {
		t.Fatalf("Finish error %v holds no *jit.Error for the person", r.Err)
	}
	if errors.Is(r.Err, ErrIdentity) && !strings.Contains(je.Message, contains) {
		t.Fatalf("identity refusal shows %q, want the reason %q", je.Message, contains)
	}
}

func TestSignIn(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			h := newHarness(t, setup{tls: tls})
			page := h.start("/requests/req_1?tab=audit")
			if n := len(h.flowCookies()); n != 1 {
				t.Fatalf("%d flow cookies after Start, want 1", n)
			}
			ar, ok := h.op.LastAuthRequest()
			if !ok {
				t.Fatal("the provider saw no authorization request")
			}
			if ar.CodeChallengeMethod != "S256" || len(ar.CodeChallenge) != 43 {
				t.Errorf("PKCE: method %q challenge %q, want S256 with a SHA-256 challenge", ar.CodeChallengeMethod, ar.CodeChallenge)
			}
			if len(ar.State) != 43 || len(ar.Nonce) != 43 || ar.State == ar.Nonce {
				t.Errorf("state %q nonce %q, want two different 32-byte random values", ar.State, ar.Nonce)
			}
			if !slices.Equal(ar.Scopes, []string{"openid", "email", "profile", "groups"}) {
				t.Errorf("scopes %q", ar.Scopes)
			}
			if ar.RedirectURI != h.rp.URL+"/auth/callback" || ar.ClientID != h.op.ClientID {
				t.Errorf("redirect_uri %q client_id %q", ar.RedirectURI, ar.ClientID)
			}

			cb := h.approve(page, "alice@example.com")
			mustSucceed(t, h.callback(cb), "alice@example.com", []string{"engineering"}, "/requests/req_1?tab=audit")
			if n := len(h.flowCookies()); n != 0 {
				t.Fatalf("%d flow cookies left after Finish, want 0", n)
			}
			// The same answer again: its flow is spent.
			mustFail(t, h.callback(cb), ErrFlow, "no sign-in was started")
		})
	}
}

func TestSignInVariants(t *testing.T) {
	tests := []struct {
		name   string
		setup  setup
		user   string
		email  string
		groups []string
	}{
		{"claims only from userinfo", setup{op: oidctest.Options{UserinfoOnly: true}}, "alice@example.com", "alice@example.com", []string{"engineering"}},
		{"ES256", setup{op: oidctest.Options{Algorithm: jose.ES256}}, "alice@example.com", "alice@example.com", []string{"engineering"}},
		{"no groups, email lowercased", setup{}, "Carol@Example.com", "carol@example.com", nil},
		{"groups scope not requested", setup{config: func(c *Config) { c.Scopes = nil }}, "alice@example.com", "alice@example.com", nil},
		{"unverified email allowed by config", setup{config: func(c *Config) { c.AllowUnverifiedEmail = true }}, "bob@example.com", "bob@example.com", []string{"sre"}},
		{"custom claim names", setup{config: func(c *Config) { c.EmailClaim, c.GroupsClaim = "email", "preferred_username" }},
			"alice@example.com", "alice@example.com", []string{"alice@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.setup)
			mustSucceed(t, h.signIn(tt.user, "/"), tt.email, tt.groups, "/")
		})
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name     string
		setup    setup
		user     string
		before   func(h *harness)             // after Start, before the login
		alter    func(h *harness, u *url.URL) // the callback URL or the browser's cookies
		want     error
		contains string
	}{
		{name: "unverified email", user: "bob@example.com", want: ErrIdentity, contains: "not verified"},
		{name: "tampered state", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			q := u.Query()
			st := []byte(q.Get("state"))
			st[len(st)-1] = map[bool]byte{true: 'B', false: 'A'}[st[len(st)-1] == 'A'] // always a change
			q.Set("state", string(st))
			u.RawQuery = q.Encode()
		}, want: ErrFlow, contains: "no sign-in was started"},
		{name: "no state", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
		}, want: ErrFlow, contains: "no state"},
		{name: "no code", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			q := u.Query()
			q.Del("code")
			u.RawQuery = q.Encode()
		}, want: ErrFlow, contains: "no authorization code"},
		{name: "missing flow cookie", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			h.jar, _ = cookiejar.New(nil)
			h.browser.Jar = h.jar
		}, want: ErrFlow, contains: "no sign-in was started"},
		{name: "altered flow cookie", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			c := h.flowCookies()[0]
			v, err := base64.RawURLEncoding.DecodeString(c.Value)
			if err != nil {
				h.t.Fatal(err)
			}
			v[len(v)/2] ^= 1
			h.jar.SetCookies(h.rpURL, []*http.Cookie{{Name: c.Name, Value: base64.RawURLEncoding.EncodeToString(v), Path: "/"}})
		}, want: ErrFlow, contains: "altered"},
		{name: "flow cookie of another flow", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			// A genuine cookie of a second flow, moved to this flow's name.
			mine := h.flowCookies()[0]
			h.start("/")
			for _, c := range h.flowCookies() {
				if c.Name != mine.Name {
					h.jar.SetCookies(h.rpURL, []*http.Cookie{{Name: mine.Name, Value: c.Value, Path: "/"}})
				}
			}
		}, want: ErrFlow, contains: "altered"},
		{name: "flow expired", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			h.clock.Advance(FlowLifetime + time.Minute)
		}, want: ErrFlow, contains: "longer than"},
		{name: "wrong PKCE verifier", user: "alice@example.com", alter: func(h *harness, u *url.URL) {
			c := h.flowCookies()[0]
			f, err := h.login.openFlow(c.Name, c.Value)
			if err != nil {
				h.t.Fatal(err)
			}
			f.Verifier = randomString()
			h.jar.SetCookies(h.rpURL, []*http.Cookie{h.login.flowCookie(f)})
		}, want: ErrToken, contains: "invalid_grant"},
		{name: "wrong nonce", user: "alice@example.com", before: func(h *harness) { h.op.OverrideNonce("not-the-nonce") },
			want: ErrToken, contains: "nonce"},
		{name: "no nonce", user: "alice@example.com", before: func(h *harness) { h.op.OverrideNonce("") },
			want: ErrToken, contains: "nonce"},
		{name: "signed by an unpublished key", user: "alice@example.com", before: func(h *harness) { h.op.SignWithUnpublishedKey() },
			want: ErrToken, contains: "signature"},
		{name: "algorithm not allowed", setup: setup{op: oidctest.Options{Algorithm: jose.PS256}}, user: "alice@example.com",
			want: ErrToken, contains: "PS256"},
		{name: "ID token expired", setup: setup{op: oidctest.Options{IDTokenLifetime: time.Minute}}, user: "alice@example.com",
			alter: func(h *harness, u *url.URL) { h.clock.Advance(2 * time.Minute) }, want: ErrToken, contains: "expired"},
		{name: "wrong client secret", setup: setup{config: func(c *Config) { c.ClientSecret = "wrong" }}, user: "alice@example.com",
			want: ErrToken, contains: "token endpoint refused"},
		{name: "email claim missing", setup: setup{config: func(c *Config) { c.EmailClaim = "mail" }}, user: "alice@example.com",
			want: ErrIdentity, contains: `no "mail" claim`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.setup)
			page := h.start("/somewhere")
			if tt.before != nil {
				tt.before(h)
			}
			u := h.approve(page, tt.user)
			if tt.alter != nil {
				tt.alter(h, u)
			}
			mustFail(t, h.callback(u), tt.want, tt.contains)
		})
	}
}

func TestProviderErrorIsShownSafely(t *testing.T) {
	h := newHarness(t, setup{})
	page := h.start("/")
	c := *h.browser
	c.CheckRedirect = stopAtCallback
	resp, err := h.op.DenyLogin(&c, page, `<script>alert("x")</script> Not   allowed & done`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u := h.callbackLocation(resp)
	if u.Query().Get("error") != "access_denied" {
		t.Fatalf("the provider's redirect %s carries no access_denied", u)
	}
	r := h.callback(u)
	var pe *ProviderError
	if !errors.As(r.Err, &pe) || !errors.Is(r.Err, ErrProvider) {
		t.Fatalf("Finish error = %#v, want a *ProviderError", r.Err)
	}
	if pe.Code != "access_denied" || pe.Description != "script alert( x ) /script Not allowed done" {
		t.Fatalf("ProviderError = %+v", pe)
	}
	var je *jit.Error
	if !errors.As(r.Err, &je) || je.Code != jit.ECodeForbidden || je.Message != pe.Error() {
		t.Fatalf("the person is shown %+v, want the provider's sanitised refusal", je)
	}
	if strings.ContainsAny(r.Err.Error(), `<>&"'`) {
		t.Fatalf("error text %q holds markup characters", r.Err)
	}
	if n := len(h.flowCookies()); n != 0 {
		t.Fatalf("%d flow cookies left after the refusal, want 0", n)
	}
	// Made-up error parameters sent straight to the callback fare no
	// better.
	forged := *u
	forged.RawQuery = url.Values{"error": {"<img src=x>"}, "error_description": {"\x00\r\nSet-Cookie: x=y"}}.Encode()
	r = h.callback(&forged)
	if !errors.As(r.Err, &pe) || pe.Code != "invalid_error_code" || pe.Description != "Set-Cookie: x=y" {
		t.Fatalf("forged error: %#v", r.Err)
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	h := newHarness(t, setup{})
	for _, rt := range []string{"//evil.example.com/x", "/\\evil.example.com", "https://evil.example.com/", "/\t/evil.example.com", "", "relative"} {
		mustSucceed(t, h.signIn("alice@example.com", rt), "alice@example.com", []string{"engineering"}, "/")
	}
	// A flow cookie holding an unsafe path (it cannot be forged without the
	// key, but Finish checks what it returns anyway).
	u := h.approve(h.start("/fine"), "alice@example.com")
	c := h.flowCookies()[0]
	f, err := h.login.openFlow(c.Name, c.Value)
	if err != nil {
		t.Fatal(err)
	}
	f.ReturnTo = "//evil.example.com"
	h.jar.SetCookies(h.rpURL, []*http.Cookie{h.login.flowCookie(f)})
	mustSucceed(t, h.callback(u), "alice@example.com", []string{"engineering"}, "/")
}

func TestFlowsInSeveralTabs(t *testing.T) {
	h := newHarness(t, setup{})
	pageA := h.start("/a")
	pageB := h.start("/b")
	cbA := h.approve(pageA, "alice@example.com")
	cbB := h.approve(pageB, "Carol@Example.com")
	mustSucceed(t, h.callback(cbB), "carol@example.com", nil, "/b")
	mustSucceed(t, h.callback(cbA), "alice@example.com", []string{"engineering"}, "/a")
}

func TestAbandonedFlowsArePruned(t *testing.T) {
	h := newHarness(t, setup{})
	first := h.start("/1")
	for i := 0; i < 2*maxFlows; i++ {
		h.start("/")
		if n := len(h.flowCookies()); n > maxFlows {
			t.Fatalf("%d flow cookies after %d starts, want at most %d", n, i+2, maxFlows)
		}
	}
	// The oldest flow was dropped; the newest still works.
	mustFail(t, h.callback(h.approve(first, "alice@example.com")), ErrFlow, "no sign-in was started")
	mustSucceed(t, h.signIn("alice@example.com", "/last"), "alice@example.com", []string{"engineering"}, "/last")
}

func TestProviderDownAtStart(t *testing.T) {
	h := newHarness(t, setup{})
	h.op.SetDown(true)
	l, err := New(context.Background(), Config{Issuer: h.op.Issuer, ClientID: h.op.ClientID, ClientSecret: h.op.ClientSecret,
		RedirectURL: h.rp.URL + "/auth/callback", Clock: h.clock})
	if err != nil {
		t.Fatalf("New with the provider down: %v", err)
	}
	h.login = l
	if err := l.Discover(context.Background()); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Discover = %v, want ErrUnavailable with the provider's status", err)
	}
	resp, err := h.browser.Get(h.rp.URL + "/start?return_to=/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Start with the provider down: %s, want 503", resp.Status)
	}
	h.op.SetDown(false)
	// Within the retry interval the last failure stands.
	if err := l.Discover(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Discover right after a failure = %v, want the remembered failure", err)
	}
	h.clock.Advance(retryInterval + time.Second)
	if err := l.Discover(context.Background()); err != nil {
		t.Fatalf("Discover once the provider is back: %v", err)
	}
	mustSucceed(t, h.signIn("alice@example.com", "/x"), "alice@example.com", nil, "/x")
}

func TestStartCookieAndRedirect(t *testing.T) {
	op := oidctest.Start(t, oidctest.Options{})
	for _, tt := range []struct {
		redirect string
		secure   bool
		prefix   string
	}{
		{"https://jit.example.com/auth/callback", true, "__Host-jit_oidc_"},
		{"http://127.0.0.1:8080/auth/callback", false, "jit_oidc_"},
	} {
		t.Run(tt.redirect, func(t *testing.T) {
			l, err := New(context.Background(), Config{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret, RedirectURL: tt.redirect})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			l.Start(w, httptest.NewRequest("GET", "/auth/login", nil), "/requests")
			res := w.Result()
			if res.StatusCode != http.StatusFound || res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Start answered %s, Cache-Control %q", res.Status, res.Header.Get("Cache-Control"))
			}
			cs := res.Cookies()
			if len(cs) != 1 {
				t.Fatalf("cookies %v", cs)
			}
			c := cs[0]
			if !strings.HasPrefix(c.Name, tt.prefix) || c.Secure != tt.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
				c.Path != "/" || c.Domain != "" || c.MaxAge != 600 {
				t.Fatalf("flow cookie %s", c)
			}
			for _, secret := range []string{"requests", op.ClientSecret} {
				if strings.Contains(c.Value, secret) {
					t.Fatalf("flow cookie shows %q in clear", secret)
				}
			}
			loc, _ := res.Location()
			q := loc.Query()
			if !strings.HasPrefix(loc.String(), op.Issuer+"/authorize?") || q.Get("response_type") != "code" ||
				q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("redirect_uri") != tt.redirect ||
				q.Has("client_secret") || c.Name != l.cookieName(q.Get("state")) {
				t.Fatalf("redirect %s", loc)
			}
		})
	}
}

// TestIDTokenChecks verifies ID tokens signed with the provider's real key
// but with claims a well-behaved provider would not issue, and tokens a
// forger could make without the key.
func TestIDTokenChecks(t *testing.T) {
	op := oidctest.Start(t, oidctest.Options{})
	l, err := New(context.Background(), Config{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		RedirectURL: "http://127.0.0.1:1/auth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.ready(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"iss": op.Issuer, "sub": "u1", "aud": op.ClientID, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
			"nonce": "n1", "email": "Alice@Example.com", "email_verified": true, "groups": []string{"engineering", "sre"}}
	}
	forge := func(alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(claims)
		jws, err := s.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := jws.CompactSerialize()
		return raw
	}
	none := func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		return b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(string(b)) + "."
	}
	tests := []struct {
		name     string
		raw      func() string
		email    string
		groups   []string
		want     error
		contains string
	}{
		{"valid", func() string { return sign(t, op, good()) }, "alice@example.com", []string{"engineering", "sre"}, nil, ""},
		{"groups as one string", func() string { c := good(); c["groups"] = "admins"; return sign(t, op, c) }, "alice@example.com", []string{"admins"}, nil, ""},
		{"email_verified as string true", func() string { c := good(); c["email_verified"] = "true"; return sign(t, op, c) }, "alice@example.com", []string{"engineering", "sre"}, nil, ""},
		{"no email_verified", func() string { c := good(); delete(c, "email_verified"); return sign(t, op, c) }, "alice@example.com", []string{"engineering", "sre"}, nil, ""},
		{"azp is jit", func() string {
			c := good()
			c["aud"], c["azp"] = []string{op.ClientID, "other"}, op.ClientID
			return sign(t, op, c)
		}, "alice@example.com", []string{"engineering", "sre"}, nil, ""},
		{"HS256 with a guessed secret", func() string { return forge(jose.HS256, []byte("0123456789abcdef0123456789abcdef"), good()) }, "", nil, ErrToken, "malformed jwt"},
		{"alg none", func() string { return none(good()) }, "", nil, ErrToken, "malformed jwt"},
		{"wrong issuer", func() string { c := good(); c["iss"] = "https://evil.example.com"; return sign(t, op, c) }, "", nil, ErrToken, "different provider"},
		{"wrong audience", func() string { c := good(); c["aud"] = "other-client"; return sign(t, op, c) }, "", nil, ErrToken, "audience"},
		{"several audiences without azp", func() string { c := good(); c["aud"] = []string{op.ClientID, "other"}; return sign(t, op, c) }, "", nil, ErrToken, "azp"},
		{"azp of another party", func() string { c := good(); c["azp"] = "other"; return sign(t, op, c) }, "", nil, ErrToken, "azp"},
		{"expired", func() string { c := good(); c["exp"] = now.Add(-time.Minute).Unix(); return sign(t, op, c) }, "", nil, ErrToken, "expired"},
		{"wrong nonce", func() string { c := good(); c["nonce"] = "n2"; return sign(t, op, c) }, "", nil, ErrToken, "nonce"},
		{"email_verified false", func() string { c := good(); c["email_verified"] = false; return sign(t, op, c) }, "", nil, ErrIdentity, "not verified"},
		{"email_verified string false", func() string { c := good(); c["email_verified"] = "false"; return sign(t, op, c) }, "", nil, ErrIdentity, "not verified"},
		{"email not an address", func() string { c := good(); c["email"] = "Alice <alice@example.com>"; return sign(t, op, c) }, "", nil, ErrIdentity, "not an email"},
		{"email not a string", func() string { c := good(); c["email"] = 42; return sign(t, op, c) }, "", nil, ErrIdentity, "not an email"},
		{"groups a number", func() string { c := good(); c["groups"] = 7; return sign(t, op, c) }, "", nil, ErrIdentity, "neither a string nor a list"},
		{"groups with a number", func() string { c := good(); c["groups"] = []any{"a", 7}; return sign(t, op, c) }, "", nil, ErrIdentity, "other than a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tokenWith(tt.raw())
			email, groups, err := l.identity(context.Background(), d, tok, "n1")
			if tt.want == nil {
				if err != nil || email != tt.email || !slices.Equal(groups, tt.groups) {
					t.Fatalf("identity = %q %q %v, want %q %q", email, groups, err, tt.email, tt.groups)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("identity error = %v, want %v saying %q", err, tt.want, tt.contains)
			}
		})
	}
	// A token signed by a key the provider does not publish, under the
	// published key's ID or under none.
	forgedKey := mustRSAKey(t)
	for _, kid := range []string{"", publishedKID(t, op)} {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: forgedKey}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(good())
		jws, _ := s.Sign(b)
		raw, _ := jws.CompactSerialize()
		if _, _, err := l.identity(context.Background(), d, tokenWith(raw), "n1"); !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "signature") {
			t.Fatalf("kid %q: identity error = %v, want a signature error", kid, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Issuer: "https://accounts.example.com", ClientID: "jit", ClientSecret: "s3cr3t-never-shown", RedirectURL: "https://jit.example.com/auth/callback"}
	tests := []struct {
		change   func(*Config)
		contains string
	}{
		{func(c *Config) { c.Issuer = "" }, "issuer is required"},
		{func(c *Config) { c.Issuer = "accounts.example.com" }, "not an absolute http(s) URL"},
		{func(c *Config) { c.Issuer = "http://accounts.example.com" }, "must use https"},
		{func(c *Config) { c.Issuer = "https://accounts.example.com/?tenant=1" }, "query or fragment"},
		{func(c *Config) { c.ClientID = " " }, "client ID is required"},
		{func(c *Config) { c.ClientSecret = "" }, "client secret is required"},
		{func(c *Config) { c.RedirectURL = "/auth/callback" }, "redirect URL"},
		{func(c *Config) { c.RedirectURL = "http://jit.example.com/auth/callback" }, "must use https"},
		{func(c *Config) { c.RedirectURL = "https://jit.example.com/auth/callback#x" }, "fragment"},
		{func(c *Config) { c.Scopes = []string{"groups", "two words"} }, `scope "two words"`},
		{func(c *Config) { c.CookieKey = []byte("short") }, "at least 32"},
	}
	for _, tt := range tests {
		c := ok
		tt.change(&c)
		_, err := New(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), tt.contains) {
			t.Errorf("New(%+v) = %v, want an error saying %q", c, err, tt.contains)
		}
		if err != nil && strings.Contains(err.Error(), ok.ClientSecret) {
			t.Errorf("error %q shows the client secret", err)
		}
	}
	for _, loop := range []string{"http://127.0.0.1:5556/dex", "http://localhost:8080", "http://[::1]:9000"} {
		c := ok
		c.Issuer, c.RedirectURL = loop, loop+"/auth/callback"
		c.HTTPClient = unreachable()
		if _, err := New(context.Background(), c); err != nil {
			t.Errorf("loopback %s refused: %v", loop, err)
		}
	}
}
