package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/workflow"
)

func TestConfigValidate(t *testing.T) {
	e := newEnv(t)
	good := e.cfg
	cases := []struct {
		name  string
		edit  func(c *Config)
		wants []string
	}{
		{"no service", func(c *Config) { c.Service = nil }, []string{"Service is required"}},
		{"short key", func(c *Config) { c.SessionKey = []byte("short") }, []string{"SessionKey has 5 bytes; at least 32"}},
		{"no key", func(c *Config) { c.SessionKey = nil }, []string{"SessionKey has 0 bytes"}},
		{"nil authenticator", func(c *Config) { c.Authenticators = []Authenticator{nil} }, []string{"Authenticators[0] is nil"}},
		{"login without resolve", func(c *Config) { c.Login = &fakeIdP{}; c.Resolve = nil; c.DevUsers = nil },
			[]string{"Resolve is required with Login"}},
		{"dev users without resolve", func(c *Config) { c.Resolve = nil }, []string{"Resolve is required with DevUsers"}},
		{"bad dev user", func(c *Config) { c.DevUsers = []string{"Alice <alice@example.com>"} }, []string{`DevUsers[0] "Alice <alice@example.com>" is not a plain email`}},
		{"bad origin", func(c *Config) { c.TrustedOrigins = []string{"jit.example.com"} }, []string{`TrustedOrigins[0] "jit.example.com" is not an origin`}},
		{"negative ttl", func(c *Config) { c.SessionTTL = -time.Second }, []string{"SessionTTL -1s must not be negative"}},
		{"several", func(c *Config) { c.Service = nil; c.SessionKey = nil }, []string{"Service is required", "SessionKey has 0 bytes"}},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if _, nerr := New(c); nerr == nil {
				t.Error("New accepted what Validate refuses")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "web config: ") {
				t.Errorf("error %q does not name the web config", err)
			}
		})
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	e := newEnv(t)
	anon := e.browser()
	alice := e.signIn("alice@example.com")
	for _, tc := range []struct {
		b    *browser
		path string
	}{{anon, "/login"}, {anon, "/"}, {anon, "/nowhere"}, {alice, "/"}, {alice, "/approvals"}, {alice, "/policy"}, {alice, "/audit"}} {
		p := tc.b.get(tc.path)
		h := p.header
		if got := h.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("GET %s: CSP %q", tc.path, got)
		}
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(h.Get("Content-Security-Policy"), want) {
				t.Errorf("GET %s: CSP lacks %s", tc.path, want)
			}
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", tc.path, h)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", tc.path, h.Get("Cache-Control"))
		}
	}
}

// No inline script, style or event handler anywhere: the CSP would block
// them, and the page would silently lose what they do.
func TestNoInlineScriptOrStyle(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "demo-app", "INC-1")
	carol := e.signIn("carol@example.com")
	bob := e.signIn("bob@example.com")
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, tc := range []struct {
		b    *browser
		path string
	}{
		{e.browser(), "/login"}, {bob, "/"}, {bob, "/approvals"}, {bob, "/activity"}, {bob, "/requests/" + r.ID},
		{carol, "/audit"}, {carol, "/policy?resource=demo-app"}, {bob, "/nowhere"},
	} {
		p := tc.b.get(tc.path)
		if m := inline.FindString(p.body); m != "" {
			t.Errorf("GET %s has inline code or style %q", tc.path, m)
		}
		for _, s := range regexp.MustCompile(`<script[^>]*>`).FindAllString(p.body, -1) {
			if !strings.Contains(s, `src="/static/app.js?v=`) {
				t.Errorf("GET %s: script %s", tc.path, s)
			}
		}
	}
}

func TestSignedOutVisitorsAreSentToSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, path := range []string{"/", "/approvals", "/activity", "/audit", "/policy", "/requests/req_x"} {
		p := b.get(path)
		if p.status != http.StatusSeeOther || p.location != "/login?return="+url.QueryEscape(path) {
			t.Errorf("GET %s: %d %q", path, p.status, p.location)
		}
	}
	for _, path := range []string{"/events", "/audit/export"} {
		if p := b.get(path); p.status != http.StatusUnauthorized {
			t.Errorf("GET %s: %d, want 401", path, p.status)
		}
	}
	// A post without a session is refused before anything else.
	p := b.post("/requests", url.Values{"resource": {"demo-app"}, "duration": {"1h"}, "reason": {"INC-1"}})
	if p.status != http.StatusUnauthorized {
		t.Errorf("POST /requests signed out: %d", p.status)
	}
	login := b.get("/login?return=/approvals")
	mustContain(t, "sign-in page", login.body, "Development server", "Development sign-in", `value="/approvals"`, "alice@example.com")
}

func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	tok := b.csrf("/login")
	p := b.post("/login/dev", url.Values{"csrf": {tok}, "email": {"alice@example.com"}, "return": {"/approvals"}})
	if p.status != http.StatusSeeOther || p.location != "/approvals" {
		t.Fatalf("sign-in: %d %q", p.status, p.location)
	}
	c := findCookie(t, p, sessionCookie)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie over plain http: %+v", c)
	}
	if c.MaxAge != int(DefaultSessionTTL/time.Second) {
		t.Errorf("cookie max age %d", c.MaxAge)
	}

	// Behind a TLS-terminating proxy: Secure, with the __Host- prefix.
	b = e.browser()
	b.header.Set("X-Forwarded-Proto", "https")
	tok = b.csrf("/login")
	p = b.post("/login/dev", url.Values{"csrf": {tok}, "email": {"alice@example.com"}})
	c = findCookie(t, p, secureSessionCookie)
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("secure cookie: %+v", c)
	}

	// Configured as Secure.
	e2 := newEnv(t, func(c *Config) { c.SecureCookies = true })
	b = e2.browser()
	tok = b.csrf("/login")
	p = b.post("/login/dev", url.Values{"csrf": {tok}, "email": {"alice@example.com"}})
	if c := findCookie(t, p, secureSessionCookie); !c.Secure {
		t.Errorf("SecureCookies: %+v", c)
	}
}

func findCookie(t *testing.T, p page, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s in %v", name, p.header["Set-Cookie"])
	return nil
}

func TestSessionTamperingAndExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.signIn("alice@example.com")
	u, _ := url.Parse(e.srv.URL)
	var value string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			value = c.Value
		}
	}
	if p := b.get("/"); p.status != http.StatusOK {
		t.Fatalf("signed in: %d", p.status)
	}
	payload, sig, _ := strings.Cut(value, ".")
	sess, err := e.web.keys.decodeSession(value, e.clock.Now())
	if err != nil || sess.Email != "alice@example.com" {
		t.Fatalf("decode own cookie: %+v %v", sess, err)
	}
	// The same signature over a payload that says carol.
	forged := sess
	forged.Email = "carol@example.com"
	other, err := (keys{session: []byte("another key of thirty-two bytes!!")}).encodeSession(forged)
	if err != nil {
		t.Fatal(err)
	}
	otherPayload, otherSig, _ := strings.Cut(other, ".")
	for name, v := range map[string]string{
		"payload swapped":        otherPayload + "." + sig,
		"signed with other key":  other,
		"signature cut":          payload + ".",
		"signature changed":      payload + "." + strings.Repeat("A", len(sig)),
		"no signature":           payload,
		"garbage":                "%%%",
		"other payload, own sig": otherPayload + "." + otherSig[:len(otherSig)-2] + "AA",
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("tampered session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	// Twelve hours on, the session has expired.
	e.clock.Advance(DefaultSessionTTL)
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("expired session: %d", p.status)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	b := e.signIn("alice@example.com")
	// Without the token: refused, still signed in.
	if p := b.post("/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("logout without token: %d", p.status)
	}
	if p := b.get("/"); p.status != http.StatusOK {
		t.Fatalf("after refused logout: %d", p.status)
	}
	p := b.post("/logout", url.Values{"csrf": {b.csrf("/")}})
	if p.status != http.StatusSeeOther || p.location != "/login" {
		t.Fatalf("logout: %d %q", p.status, p.location)
	}
	if c := findCookie(t, p, sessionCookie); c.MaxAge >= 0 {
		t.Errorf("logout does not clear the cookie: %+v", c)
	}
	if p := b.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("after logout: %d", p.status)
	}
}

func TestDevSignInOnlyFromLoopback(t *testing.T) {
	e := newEnv(t)
	// A visitor from elsewhere sees no switcher and cannot use it.
	req := httpRequest(t, http.MethodGet, "/login", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := serve(e.web, req)
	mustNotContain(t, "login page from a remote address", rec.body, "Development sign-in", "alice@example.com")

	b := e.browser()
	tok := b.csrf("/login")
	nonce := ""
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == loginCookie {
			nonce = c.Value
		}
	}
	form := url.Values{"csrf": {tok}, "email": {"carol@example.com"}}
	req = httpRequest(t, http.MethodPost, "/login/dev", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: nonce})
	req.RemoteAddr = "192.0.2.7:40000"
	rec = serve(e.web, req)
	if rec.status != http.StatusNotFound || strings.Contains(strings.Join(rec.header["Set-Cookie"], ";"), sessionCookie+"=") {
		t.Errorf("remote dev sign-in: %d %v", rec.status, rec.header["Set-Cookie"])
	}
	// A session made on loopback is not accepted from elsewhere either.
	alice := e.signIn("alice@example.com")
	var sess string
	for _, c := range alice.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			sess = c.Value
		}
	}
	req = httpRequest(t, http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess})
	req.RemoteAddr = "192.0.2.7:40000"
	if rec := serve(e.web, req); rec.status != http.StatusSeeOther {
		t.Errorf("dev session from a remote address: %d", rec.status)
	}
	// Only the listed demo users.
	p := b.post("/login/dev", url.Values{"csrf": {tok}, "email": {"mallory@example.com"}})
	if p.status != http.StatusBadRequest {
		t.Errorf("unlisted dev user: %d", p.status)
	}
	// Without the sign-in form's token.
	p = e.browser().post("/login/dev", url.Values{"email": {"alice@example.com"}})
	if p.status != http.StatusForbidden {
		t.Errorf("dev sign-in without token: %d", p.status)
	}
	// Not a development server: no switcher at all.
	e2 := newEnv(t, func(c *Config) { c.DevUsers = nil })
	b2 := e2.browser()
	l := b2.get("/login")
	mustNotContain(t, "login page of a server that is not in dev mode", l.body, "Development", "alice@example.com")
	if p := b2.post("/login/dev", url.Values{"email": {"alice@example.com"}}); p.status != http.StatusForbidden && p.status != http.StatusNotFound {
		t.Errorf("dev sign-in on a server not in dev mode: %d", p.status)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	form := url.Values{"resource": {"demo-app"}, "duration": {"1h"}, "reason": {"INC-7"}}
	count := func() int {
		page, err := e.svc.List(e.as("alice@example.com"), workflow.ListInput{Scope: workflow.ScopeMine})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	tok := alice.csrf("/")
	bob := e.signIn("bob@example.com")
	for name, tc := range map[string]struct {
		form    url.Values
		headers []string
	}{
		"no token":          {form, nil},
		"wrong token":       {withField(form, "csrf", "x"+tok[1:]), nil},
		"someone else's":    {withField(form, "csrf", bob.csrf("/")), nil},
		"token in query":    {form, nil},
		"cross-site":        {withField(form, "csrf", tok), []string{"Sec-Fetch-Site", "cross-site"}},
		"other origin":      {withField(form, "csrf", tok), []string{"Origin", "https://evil.example"}},
		"null origin":       {withField(form, "csrf", tok), []string{"Origin", "null"}},
		"same-site sibling": {withField(form, "csrf", tok), []string{"Sec-Fetch-Site", "same-site"}},
	} {
		t.Run(name, func(t *testing.T) {
			path := "/requests"
			if name == "token in query" {
				path += "?csrf=" + url.QueryEscape(tok)
			}
			p := alice.post(path, tc.form, tc.headers...)
			if p.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.status)
			}
			if n := count(); n != 0 {
				t.Errorf("%d requests filed", n)
			}
		})
	}
	// Actions on a request need the token too.
	r := e.submit("alice@example.com", "demo-app", "INC-8")
	if p := bob.post("/requests/"+r.ID+"/approve", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("approve without token: %d", p.status)
	}
	if st := e.get(r.ID).Status; st != jit.StatusPending {
		t.Errorf("approve without token changed the request: %s", st)
	}
	// With the token, from the site itself: filed.
	p := alice.post("/requests", withField(form, "csrf", tok), "Sec-Fetch-Site", "same-origin")
	if p.status != http.StatusSeeOther {
		t.Fatalf("with token: %d\n%s", p.status, p.body)
	}
	if n := count(); n != 2 {
		t.Errorf("%d requests after a good post", n)
	}
}

func withField(v url.Values, k, val string) url.Values {
	c := url.Values{}
	for kk, vv := range v {
		c[kk] = append([]string(nil), vv...)
	}
	c.Set(k, val)
	return c
}

func TestSubmitShowsErrorsByField(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	tok := alice.csrf("/")
	base := url.Values{"csrf": {tok}, "resource": {"demo-app"}, "duration": {"1h"}, "reason": {"INC-42: checkout"}}
	cases := []struct {
		name, field, value string
		status             int
		errorID, text      string
	}{
		{"bad duration", "duration", "soon", http.StatusBadRequest, "duration-error", "invalid duration"},
		{"too long", "duration", "9h", http.StatusBadRequest, "duration-error", "longer than the 8h"},
		{"no reason", "reason", "", http.StatusBadRequest, "reason-error", "requires a reason"},
		{"reason mismatch", "reason", "because", http.StatusBadRequest, "reason-error", "must match ^INC-[0-9]&#43;"},
		{"unknown resource", "resource", "nope", http.StatusBadRequest, "resource-error", "unknown resource"},
		{"no resource", "resource", "", http.StatusBadRequest, "resource-error", "choose a resource"},
		{"unknown level", "access", "root", http.StatusBadRequest, "access-error", "no access level"},
		{"not allowed", "resource", "sales-app", http.StatusForbidden, "resource-error", "no rule lets"},
		{"query refused", "query", "SELECT 1", http.StatusBadRequest, "query-error", "does not take query-scoped requests"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := alice.post("/requests", withField(base, tc.field, tc.value))
			if p.status != tc.status {
				t.Fatalf("status %d, want %d\n%s", p.status, tc.status, p.body)
			}
			i := strings.Index(p.body, `id="`+tc.errorID+`"`)
			if i < 0 {
				t.Fatalf("no %s on the page\n%s", tc.errorID, p.body)
			}
			if got := p.body[i:min(len(p.body), i+300)]; !strings.Contains(got, tc.text) {
				t.Errorf("%s says %q, want %q", tc.errorID, got, tc.text)
			}
			field := strings.TrimSuffix(tc.errorID, "-error")
			mustContain(t, "form", p.body, `aria-describedby="`+field+`-hint `+tc.errorID+`" aria-invalid="true"`,
				`class="error-summary" role="alert"`, "<details id=\"request\" open>")
			// What was typed is kept.
			if tc.value != "" {
				mustContain(t, "form", p.body, tc.value)
			}
		})
	}
	page, err := e.svc.List(e.as("alice@example.com"), workflow.ListInput{Scope: workflow.ScopeMine})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("refused submits filed requests: %v %v", page.Items, err)
	}

	p := alice.post("/requests", base)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/?") {
		t.Fatalf("submit: %d %q\n%s", p.status, p.location, p.body)
	}
	page, err = e.svc.List(e.as("alice@example.com"), workflow.ListInput{Scope: workflow.ScopeMine})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("after submit: %v %v", page.Items, err)
	}
	r := page.Items[0]
	if r.Reason != "INC-42: checkout" || r.Duration != time.Hour || r.Access != "user" {
		t.Errorf("filed %+v", r)
	}
	home := alice.get(p.location)
	mustContain(t, "home after submit", home.body, "Request filed:", r.ID)
	mustContain(t, "pending section", section(home.body, "pending"), r.ID, "Cancel request", "0 of 1")
	// The source of the submit is the web.
	evs, err := e.svc.Audit(e.as("carol@example.com"), jit.AuditFilter{RequestID: r.ID})
	if err != nil || len(evs) == 0 || evs[0].Source.Kind != "web" || evs[0].Source.IP != "127.0.0.1" {
		t.Errorf("audit source: %+v %v", evs, err)
	}
}

func TestAccessFormHints(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	p := alice.get("/?resource=demo-app")
	mustContain(t, "form for demo-app", p.body,
		`<option value="demo-app" data-access="user,admin" data-default="user" data-max="8h"`,
		`data-pattern="^INC-[0-9]&#43;"`, "Up to 8h.", "Needs 1 approval from group sre.", "it must match <code>^INC-[0-9]&#43;</code>",
		`<details id="request" open>`, `<option value="8h">`)
	mustNotContain(t, "form for demo-app", p.body, `<option value="24h">`, "sales-app")
	// Demo-app takes no queries: the field is there, hidden, for scripts to show.
	mustContain(t, "query field", p.body, `id="query-field" hidden`)
}

func TestApproveAndDeny(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "demo-app", "INC-42")
	alice := e.signIn("alice@example.com")
	bob := e.signIn("bob@example.com")
	carol := e.signIn("carol@example.com")

	// Bob sees what he is asked to approve, and the buttons.
	p := bob.get("/approvals")
	if p.status != http.StatusOK {
		t.Fatalf("approvals: %d", p.status)
	}
	card := section(p.body, "approvals-list")
	mustContain(t, "bob's approvals", card, r.ID, "Alice", "alice@example.com", "demo-app", "INC-42", "1h",
		"engineers-demo-app", "Why this rule applies", "rule engineers-demo-app: allows", "0 of 1",
		"/requests/"+r.ID+"/approve", "/requests/"+r.ID+"/deny", "Reason for denying")
	// Neither the requester nor an admin who approves nothing gets buttons.
	for name, b := range map[string]*browser{"alice": alice, "carol": carol} {
		for _, path := range []string{"/approvals", "/requests/" + r.ID, "/activity"} {
			p := b.get(path)
			if name == "alice" && path == "/activity" {
				if p.status != http.StatusForbidden {
					t.Fatalf("alice GET /activity: %d, want 403", p.status)
				}
				continue
			}
			if p.status != http.StatusOK {
				t.Fatalf("%s GET %s: %d", name, path, p.status)
			}
			mustNotContain(t, name+" "+path, p.body, "/requests/"+r.ID+"/approve", "/requests/"+r.ID+"/deny")
		}
	}
	mustContain(t, "carol's activity", carol.get("/activity").body, r.ID)
	// The service refuses alice's approval, and the refusal is shown.
	if p := alice.act(r.ID, "approve"); p.status != http.StatusForbidden || !strings.Contains(p.body, "self_approval") {
		t.Errorf("self approval: %d\n%s", p.status, p.body)
	}

	// A deny needs a reason: shown next to the field, nothing changes.
	p = bob.post("/requests/"+r.ID+"/deny", url.Values{"csrf": {bob.csrf("/approvals")}, "return": {"/approvals"}, "reason": {"  "}})
	if p.status != http.StatusBadRequest {
		t.Fatalf("deny without reason: %d", p.status)
	}
	mustContain(t, "deny error", p.body, `id="deny-reason-`+r.ID+`-error" class="field-error">a deny needs a reason`, `aria-invalid="true"`)
	if st := e.get(r.ID).Status; st != jit.StatusPending {
		t.Fatalf("status after refused deny: %s", st)
	}

	// Approve with a comment.
	p = bob.post("/requests/"+r.ID+"/approve", url.Values{"csrf": {bob.csrf("/approvals")}, "return": {"/approvals"}, "comment": {"go ahead"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/approvals?") {
		t.Fatalf("approve: %d %q\n%s", p.status, p.location, p.body)
	}
	mustContain(t, "after approving", bob.get(p.location).body, "You approved", "Nothing is waiting for you.")
	got := e.get(r.ID)
	if got.Status != jit.StatusApproved || len(got.Approvals) != 1 || got.Approvals[0].Comment != "go ahead" || got.Approvals[0].Approver != "bob@example.com" {
		t.Fatalf("after approve: %+v", got)
	}
	e.runDue()
	home := alice.get("/")
	active := section(home.body, "active")
	mustContain(t, "alice's active access", active, r.ID, `data-expires="2026-03-02T10:00:00Z"`, "1h 0m left", "Relinquish now", "Extend")
	mustNotContain(t, "alice's pending", section(home.body, "pending"), r.ID)

	// Deny another one.
	r2 := e.submit("alice@example.com", "demo-app", "INC-43")
	p = bob.act(r2.ID, "deny", "reason", "not now", "return", "/requests/"+r2.ID)
	if p.status != http.StatusSeeOther {
		t.Fatalf("deny: %d\n%s", p.status, p.body)
	}
	if got := e.get(r2.ID); got.Status != jit.StatusDenied || got.EndReason != "not now" {
		t.Errorf("after deny: %s %q", got.Status, got.EndReason)
	}
	hist := section(alice.get("/").body, "history")
	mustContain(t, "alice's history", hist, r2.ID, "denied", "not now")
}

func TestRelinquishExtendRevokeCancel(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	bob := e.signIn("bob@example.com")
	dave := e.signIn("dave@example.com")
	grant := func(reason string) *jit.Request {
		r := e.submit("alice@example.com", "demo-app", reason)
		if _, err := e.svc.Approve(e.as("bob@example.com"), r.ID, ""); err != nil {
			t.Fatal(err)
		}
		e.runDue()
		if st := e.get(r.ID).Status; st != jit.StatusActive {
			t.Fatalf("not active: %s", st)
		}
		return r
	}

	// Extend: a new, linked request; a bad duration is shown by its field.
	r := grant("INC-1")
	p := alice.act(r.ID, "extend", "duration", "forever", "reason", "INC-1 more", "return", "/")
	if p.status != http.StatusBadRequest {
		t.Fatalf("extend with bad duration: %d", p.status)
	}
	mustContain(t, "extend error", p.body, `id="extend-duration-`+r.ID+`-error"`, `<details class="action" id="extend-`+r.ID+`" open>`, `value="forever"`)
	p = alice.act(r.ID, "extend", "duration", "30m", "reason", "INC-1 more", "return", "/")
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "notice=extended") {
		t.Fatalf("extend: %d %q\n%s", p.status, p.location, p.body)
	}
	ext := mustParam(t, p.location, "id")
	if got := e.get(ext); got.ExtendsID != r.ID || got.Status != jit.StatusPending || got.Duration != 30*time.Minute {
		t.Errorf("extension %+v", got)
	}
	mustContain(t, "pending after extend", section(alice.get("/").body, "pending"), ext)

	// Relinquish.
	p = alice.act(r.ID, "relinquish", "return", "/")
	if p.status != http.StatusSeeOther {
		t.Fatalf("relinquish: %d\n%s", p.status, p.body)
	}
	if st := e.get(r.ID).Status; st != jit.StatusRevoking {
		t.Errorf("after relinquish: %s", st)
	}
	e.runDue()
	if st := e.get(r.ID).Status; st != jit.StatusRelinquished {
		t.Errorf("after the revoke job: %s", st)
	}
	if st := e.get(ext).Status; st != jit.StatusCancelled {
		t.Errorf("extension after relinquish: %s", st)
	}

	// Revoke: bob (an approver) may, with a reason; alice and dave may not.
	r = grant("INC-2")
	mustNotContain(t, "alice's page", alice.get("/requests/"+r.ID).body, "/requests/"+r.ID+"/revoke")
	mustContain(t, "bob's activity", bob.get("/activity?status=active").body, "/requests/"+r.ID+"/revoke")
	if p := alice.act(r.ID, "revoke", "reason", "mine"); p.status != http.StatusForbidden {
		t.Errorf("alice revokes: %d", p.status)
	}
	if p := dave.post("/requests/"+r.ID+"/revoke", url.Values{"csrf": {dave.csrf("/")}, "reason": {"x"}}); p.status != http.StatusNotFound {
		t.Errorf("dave revokes: %d", p.status)
	}
	p = bob.act(r.ID, "revoke", "reason", "", "return", "/activity?status=active")
	if p.status != http.StatusBadRequest {
		t.Fatalf("revoke without reason: %d", p.status)
	}
	mustContain(t, "revoke error", p.body, `id="revoke-reason-`+r.ID+`-error" class="field-error">a revoke needs a reason`, `<option value="active" selected>`)
	p = bob.act(r.ID, "revoke", "reason", "incident over", "return", "/activity?status=active")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/activity?") {
		t.Fatalf("revoke: %d %q\n%s", p.status, p.location, p.body)
	}
	if got := e.get(r.ID); got.Status != jit.StatusRevoking || got.EndReason != "incident over" || got.EndedBy != "bob@example.com" {
		t.Errorf("after revoke: %+v", got)
	}

	// Cancel a pending request.
	r = e.submit("alice@example.com", "demo-app", "INC-3")
	if p := alice.act(r.ID, "cancel", "return", "/"); p.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", p.status)
	}
	if st := e.get(r.ID).Status; st != jit.StatusCancelled {
		t.Errorf("after cancel: %s", st)
	}
	// An action on a request that cannot take it: the service's code shown.
	p = alice.act(r.ID, "cancel", "return", "/")
	if p.status != http.StatusConflict {
		t.Errorf("cancel twice: %d", p.status)
	}
	mustContain(t, "cancel twice", p.body, `class="error-summary" role="alert"`, "Could not cancel", `href="/requests/`+r.ID+`"`, "invalid_state")
	if p := alice.act(r.ID, "explode"); p.status != http.StatusNotFound {
		t.Errorf("unknown action: %d", p.status)
	}
}

func mustParam(t *testing.T, loc, name string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query().Get(name)
	if v == "" {
		t.Fatalf("%s has no %s", loc, name)
	}
	return v
}

func TestPagesForTheRightPeople(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "demo-app", "INC-9")
	alice := e.signIn("alice@example.com")
	bob := e.signIn("bob@example.com")
	carol := e.signIn("carol@example.com")
	dave := e.signIn("dave@example.com")

	// Everyone signed in has Access, Approvals and Policy.
	for name, b := range map[string]*browser{"alice": alice, "bob": bob, "carol": carol, "dave": dave} {
		for _, path := range []string{"/", "/approvals", "/policy"} {
			if p := b.get(path); p.status != http.StatusOK {
				t.Errorf("%s GET %s: %d", name, path, p.status)
			}
		}
	}
	// Activity is for approvers and admins: hidden from the others'
	// navigation and refused to them.
	for name, b := range map[string]*browser{"bob": bob, "carol": carol} {
		if p := b.get("/activity"); p.status != http.StatusOK {
			t.Errorf("%s GET /activity: %d", name, p.status)
		}
		mustContain(t, name+"'s navigation", b.get("/").body, `href="/activity"`)
	}
	for name, b := range map[string]*browser{"alice": alice, "dave": dave} {
		if p := b.get("/activity"); p.status != http.StatusForbidden {
			t.Errorf("%s GET /activity: %d, want 403", name, p.status)
		}
		mustNotContain(t, name+"'s navigation", b.get("/").body, `href="/activity"`)
	}
	// The audit log is for admins: hidden from the others' navigation and
	// refused to them.
	for name, b := range map[string]*browser{"alice": alice, "bob": bob, "dave": dave} {
		mustNotContain(t, name+"'s navigation", b.get("/").body, `href="/audit"`)
		if p := b.get("/audit"); p.status != http.StatusForbidden {
			t.Errorf("%s GET /audit: %d", name, p.status)
		}
		if p := b.get("/audit/export"); p.status != http.StatusForbidden {
			t.Errorf("%s GET /audit/export: %d", name, p.status)
		}
	}
	mustContain(t, "carol's navigation", carol.get("/").body, `href="/audit"`)

	// A request is visible to its requester, its approvers and admins.
	for name, b := range map[string]*browser{"alice": alice, "bob": bob, "carol": carol} {
		p := b.get("/requests/" + r.ID)
		if p.status != http.StatusOK {
			t.Errorf("%s GET request: %d", name, p.status)
		}
		mustContain(t, name+"'s request page", p.body, "Timeline", "requested access", "from cli at 127.0.0.1")
	}
	if p := dave.get("/requests/" + r.ID); p.status != http.StatusNotFound {
		t.Errorf("dave GET request: %d", p.status)
	}
	if p := dave.get("/requests/" + "bad%20id"); p.status != http.StatusNotFound {
		t.Errorf("bad id: %d", p.status)
	}
	// Activity shows each only what the service lets them see.
	mustContain(t, "bob's activity", bob.get("/activity").body, r.ID)
	mustContain(t, "carol's activity", carol.get("/activity?person=alice@example.com&resource=demo-app&status=pending").body, r.ID)
	mustNotContain(t, "carol's filtered activity", carol.get("/activity?person=bob@example.com").body, r.ID)
	if p := carol.get("/activity?status=bogus"); p.status != http.StatusBadRequest {
		t.Errorf("bad status filter: %d", p.status)
	}
	// Approvals: bob's list has it, dave's and alice's do not.
	mustNotContain(t, "dave's approvals", dave.get("/approvals").body, r.ID)
	mustNotContain(t, "alice's approvals", alice.get("/approvals").body, r.ID)
}

func TestRequestTimeline(t *testing.T) {
	e := newEnv(t)
	bob := e.signIn("bob@example.com")
	r := e.submit("alice@example.com", "demo-app", "INC-5")
	if p := bob.act(r.ID, "approve", "comment", "fine", "return", "/requests/"+r.ID); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d", p.status)
	}
	e.runDue()
	p := bob.get("/requests/" + r.ID)
	tl := p.body[strings.Index(p.body, "Timeline"):]
	mustContain(t, "timeline", tl, "Alice", "requested access", "“INC-5”", "from cli at 127.0.0.1",
		"Bob", "approved", "“fine”", "from web at 127.0.0.1", "Go-http-client", "granted access", "system")
	if i, j := strings.Index(tl, "requested access"), strings.Index(tl, "granted access"); i < 0 || j < i {
		t.Errorf("timeline out of order")
	}
	mustContain(t, "request page", p.body, `data-request="`+r.ID+`"`, `data-live-events`)
}

func TestAuditPageAndExport(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "demo-app", "INC-5")
	carol := e.signIn("carol@example.com")
	p := carol.get("/audit")
	if p.status != http.StatusOK {
		t.Fatalf("audit: %d", p.status)
	}
	mustContain(t, "audit page", p.body, "Intact.", "1 events verified", r.ID, "submit", "alice@example.com", "Export as JSON lines", `href="/audit/export"`)
	p = carol.get("/audit?action=approve")
	mustContain(t, "filtered audit", p.body, "No events match.")
	p = carol.get("/audit?since=yesterday")
	if p.status != http.StatusBadRequest {
		t.Errorf("bad since: %d", p.status)
	}
	mustContain(t, "bad since", p.body, `id="a-since-error"`)
	p = carol.get("/audit?since=2026-03-02T08:00&request=" + r.ID)
	mustContain(t, "filtered export link", p.body, `href="/audit/export?request=`+r.ID+`&amp;since=2026-03-02T08%3A00"`)

	p = carol.get("/audit/export?request=" + r.ID)
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "application/jsonl") ||
		!strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", p.status, p.header)
	}
	lines := strings.Split(strings.TrimSpace(p.body), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"action":"submit"`) || !strings.Contains(lines[0], `"hash":"`) {
		t.Errorf("export: %q", p.body)
	}
}

func TestPolicyPageAndExplain(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	p := alice.get("/policy")
	mustContain(t, "policy page", p.body, "demo-app", "Demo internal web app", "You may request it at user, admin for up to 8h",
		"engineers-demo-app", "sales-app", "No rule lets you request it.", `href="/?resource=demo-app#request"`)
	mustNotContain(t, "policy page", p.body, "demo.localhost", `id="x-as"`)
	// Every rule in plain words, also those that do not cover alice.
	mustContain(t, "policy rules", p.body, `id="rules-h"`, `id="rule-engineers-demo-app"`, `id="rule-sales-app"`,
		"<strong>Who:</strong> members of engineering", "1 approval from group sre")
	p = alice.get("/policy?resource=demo-app&duration=2h&reason=INC-1")
	mustContain(t, "explain", p.body, "<strong>Allowed</strong> by rule engineers-demo-app", "needs 1 approval from group sre", "bob@example.com")
	p = alice.get("/policy?resource=demo-app&duration=9h")
	mustContain(t, "explain refused", p.body, "<strong>Refused</strong> (duration_too_long)")
	p = alice.get("/policy?resource=demo-app&duration=often")
	if p.status != http.StatusBadRequest {
		t.Errorf("bad duration: %d", p.status)
	}
	mustContain(t, "explain bad duration", p.body, `id="x-duration-error"`)
	p = alice.get("/policy?resource=demo-app&as=bob@example.com")
	if p.status != http.StatusForbidden {
		t.Errorf("explain as someone else: %d", p.status)
	}
	carol := e.signIn("carol@example.com")
	mustContain(t, "carol's policy page", carol.get("/policy").body, "How its rules apply to you",
		"rule engineers-demo-app: skipped: carol@example.com is not among its requesters (groups engineering)")
	p = carol.get("/policy?resource=demo-app&as=alice@example.com&reason=INC-1")
	mustContain(t, "admin explain", p.body, `id="x-as"`, "<strong>Allowed</strong>")
}

// An internal error is logged, never shown: the visitor gets a code and a
// generic message.
func TestInternalErrorsAreNotShown(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	e.store.Close()
	p := alice.get("/")
	if p.status != http.StatusInternalServerError {
		t.Fatalf("status %d", p.status)
	}
	mustContain(t, "error page", p.body, "internal error; the server log has the details", "<code>internal</code>")
	mustNotContain(t, "error page", strings.ToLower(p.body), "sql", "database is closed")
}

func TestUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	p := alice.get("/no/such/page")
	if p.status != http.StatusNotFound || !strings.Contains(p.body, "not_found") {
		t.Errorf("404: %d", p.status)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/approvals", nil)
	p = alice.do(req)
	if p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != "GET" {
		t.Errorf("405: %d %q", p.status, p.header.Get("Allow"))
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for name, ct := range map[string]string{"app.css": "text/css", "app.js": "text/javascript"} {
		u := e.web.assets.url(name)
		p := b.get(u)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), ct) ||
			!strings.Contains(p.header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d %v", u, p.status, p.header)
		}
		if p := b.get("/static/" + name); p.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("unversioned %s: %q", name, p.header.Get("Cache-Control"))
		}
	}
	if p := b.get("/static/other.js"); p.status != http.StatusNotFound {
		t.Errorf("unknown asset: %d", p.status)
	}
}

// The first page a person sees, with its stylesheet and script, stays
// under 100 KB.
func TestFirstPageSize(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.submit("alice@example.com", "demo-app", "INC-"+strings.Repeat("1", i+1))
	}
	alice := e.signIn("alice@example.com")
	p := alice.get("/")
	total := len(p.body)
	for _, name := range []string{"app.css", "app.js"} {
		total += len(alice.get(e.web.assets.url(name)).body)
	}
	if total >= 100<<10 {
		t.Errorf("first page with assets is %d bytes", total)
	}
	if len(e.web.assets.byName) != 2 {
		t.Errorf("%d static files, want one stylesheet and one script", len(e.web.assets.byName))
	}
	t.Logf("first page %d bytes, with assets %d", len(p.body), total)
}

func TestAccessibilityBasics(t *testing.T) {
	e := newEnv(t)
	alice := e.signIn("alice@example.com")
	p := alice.get("/?resource=demo-app")
	mustContain(t, "home", p.body, `<html lang="en">`, `<a class="skip" href="#main">`, `<main id="main"`, `<nav aria-label="Main">`,
		`aria-current="page">Access</a>`, `<header class="top">`, `<footer`, `aria-live="polite"`, `name="viewport"`)
	// Every input, select and textarea that is shown has a label.
	for _, path := range []string{"/?resource=demo-app", "/activity", "/policy"} {
		body := alice.get(path).body
		for _, m := range regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*>`).FindAllString(body, -1) {
			if strings.Contains(m, `type="hidden"`) {
				continue
			}
			id := regexp.MustCompile(`\sid="([^"]+)"`).FindStringSubmatch(m)
			if id == nil {
				t.Errorf("%s: field without id: %s", path, m)
				continue
			}
			if !strings.Contains(body, `<label for="`+id[1]+`"`) {
				t.Errorf("%s: field %s has no label", path, id[1])
			}
		}
	}
}

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "/",
		"/":                             "/",
		"/approvals":                    "/approvals",
		"/requests/req_1?x=1#t":         "/requests/req_1?x=1#t",
		"//evil.example":                "/",
		"///evil.example":               "/",
		"/\\evil.example":               "/",
		"\\\\evil.example":              "/",
		"https://evil.example/":         "/",
		"http:/evil.example":            "/",
		"javascript:alert(1)":           "/",
		"evil.example":                  "/",
		"/\t/evil.example":              "/",
		"/\n/evil.example":              "/",
		"/login":                        "/",
		"/login/dev":                    "/",
		"/auth/callback?code=x":         "/",
		"/logout":                       "/",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example",
		"/" + strings.Repeat("a", 3000): "/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeIdP is a Login whose provider is a page of the test: Start sends the
// browser to /idp with the return path, the test then calls the callback
// with who signed in.
type fakeIdP struct {
	fail error
}

func (f *fakeIdP) Start(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, "https://idp.example/authorize?state="+url.QueryEscape(returnTo), http.StatusFound)
}

func (f *fakeIdP) Finish(w http.ResponseWriter, r *http.Request) (string, []string, string, error) {
	if f.fail != nil {
		return "", nil, "", f.fail
	}
	q := r.URL.Query()
	return q.Get("email"), q["group"], q.Get("state"), nil
}

func TestOIDCSignIn(t *testing.T) {
	idp := &fakeIdP{}
	e := newEnv(t, func(c *Config) { c.Login = idp; c.LoginName = "Example SSO"; c.DevUsers = nil })
	b := e.browser()
	p := b.get("/login?return=/approvals")
	mustContain(t, "login page", p.body, "Sign in with Example SSO", `href="/auth/start?return=%2fapprovals"`)
	mustNotContain(t, "login page", p.body, "Development")
	p = b.get("/auth/start?return=/approvals")
	if p.status != http.StatusFound || p.location != "https://idp.example/authorize?state=%2Fapprovals" {
		t.Fatalf("start: %d %q", p.status, p.location)
	}
	// An open redirect through the return path is refused at both ends.
	if p := b.get("/auth/start?return=//evil.example"); p.location != "https://idp.example/authorize?state=%2F" {
		t.Errorf("start with foreign return: %q", p.location)
	}
	p = b.get("/auth/callback?email=frank@example.com&group=engineering&state=" + url.QueryEscape("https://evil.example/x"))
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("callback with foreign return: %d %q", p.status, p.location)
	}
	// Frank is unknown to config, but his provider says engineering: he
	// may request demo-app.
	home := b.get("/?resource=demo-app")
	if home.status != http.StatusOK {
		t.Fatalf("home: %d", home.status)
	}
	mustContain(t, "frank's home", home.body, "frank@example.com", `<option value="demo-app"`, "Sign out")
	p = b.post("/requests", url.Values{"csrf": {b.csrf("/")}, "resource": {"demo-app"}, "duration": {"1h"}, "reason": {"INC-77"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("frank submits: %d\n%s", p.status, p.body)
	}
	got := e.get(mustParam(t, p.location, "id"))
	if got.Requester != "frank@example.com" || len(got.RequesterGroups) != 1 || got.RequesterGroups[0] != "engineering" {
		t.Errorf("frank's request: %+v", got)
	}
	// A good return path is kept.
	b2 := e.browser()
	if p := b2.get("/auth/callback?email=Bob@Example.com&state=%2Fapprovals"); p.location != "/approvals" {
		t.Errorf("callback: %q", p.location)
	}
	mustContain(t, "bob's approvals", b2.get("/approvals").body, "bob@example.com", got.ID)

	// A failed sign-in starts no session and says so without details.
	idp.fail = errors.New("id token signature: crypto/rsa: verification error")
	b3 := e.browser()
	p = b3.get("/auth/callback?code=x&state=y")
	if p.status != http.StatusUnauthorized {
		t.Errorf("failed callback: %d", p.status)
	}
	mustContain(t, "failed callback", p.body, "the sign-in could not be completed")
	mustNotContain(t, "failed callback", p.body, "crypto/rsa")
	if strings.Contains(strings.Join(p.header["Set-Cookie"], ";"), sessionCookie+"=") {
		t.Error("failed callback set a session")
	}
	if p := b3.get("/"); p.status != http.StatusSeeOther {
		t.Errorf("after failed callback: %d", p.status)
	}
}

// headerAuth is a trusted proxy for the test: it vouches for the email in
// X-Test-User, and refuses "bad".
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (jit.Identity, bool, error) {
	u := r.Header.Get("X-Test-User")
	switch u {
	case "":
		return jit.Identity{}, false, nil
	case "bad":
		return jit.Identity{}, false, errors.New("signature mismatch")
	case "down":
		return jit.Identity{}, false, jit.Errorf(jit.ECodeUnavailable, "the identity provider's keys cannot be fetched")
	}
	return jit.Identity{Email: u, Groups: []string{"sre"}, Via: "proxy-jwt"}, true, nil
}

func TestProxySignIn(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Authenticators = []Authenticator{headerAuth{}}; c.DevUsers = nil })
	r := e.submit("alice@example.com", "demo-app", "INC-5")
	b := e.browser()
	b.header.Set("X-Test-User", "gina@example.com")
	p := b.get("/approvals")
	if p.status != http.StatusOK {
		t.Fatalf("proxy visitor: %d", p.status)
	}
	// Gina's proxy says sre: she approves, through a form with her token.
	mustContain(t, "gina's approvals", p.body, r.ID, "gina@example.com")
	mustNotContain(t, "gina's page", p.body, "Sign out")
	if p := b.act(r.ID, "approve", "return", "/approvals"); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", p.status, p.body)
	}
	if got := e.get(r.ID); got.Status != jit.StatusApproved || got.Approvals[0].Approver != "gina@example.com" {
		t.Errorf("after proxy approval: %+v", got)
	}
	// The token of one person does not work for another.
	tok := b.csrf("/")
	b2 := e.browser()
	b2.header.Set("X-Test-User", "hank@example.com")
	if p := b2.post("/logout", url.Values{"csrf": {tok}}); p.status != http.StatusForbidden {
		t.Errorf("someone else's token: %d", p.status)
	}

	bad := e.browser()
	bad.header.Set("X-Test-User", "bad")
	if p := bad.get("/"); p.status != http.StatusUnauthorized || strings.Contains(p.body, "signature mismatch") {
		t.Errorf("bad assertion: %d", p.status)
	}
	if p := bad.get("/login"); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not valid") {
		t.Errorf("bad assertion on the sign-in page: %d", p.status)
	}
	bad.header.Set("X-Test-User", "down")
	if p := bad.get("/"); p.status != http.StatusServiceUnavailable {
		t.Errorf("provider down: %d", p.status)
	}
	// Without the proxy's header, the sign-in page says where to sign in.
	mustContain(t, "login without proxy header", e.browser().get("/login").body, "proxy in front of jit")
}

// serve runs one request through the handler without a listener (for a
// chosen peer address).
func serve(w *Server, r *http.Request) page {
	rec := httptest.NewRecorder()
	w.Handler().ServeHTTP(rec, r)
	return page{status: rec.Code, header: rec.Header(), body: rec.Body.String(), location: rec.Header().Get("Location")}
}

func httpRequest(t *testing.T, method, path string, body *strings.Reader) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequestWithContext(context.Background(), method, "http://jit.test"+path, nil)
	} else {
		req, err = http.NewRequestWithContext(context.Background(), method, "http://jit.test"+path, body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestAuditPagesFromTheNewest(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		r := e.submit("alice@example.com", "demo-app", "INC-"+strings.Repeat("2", i+1))
		if _, err := e.svc.Cancel(e.as("alice@example.com"), r.ID); err != nil {
			t.Fatal(err)
		}
	}
	carol := e.signIn("carol@example.com")
	p := carol.get("/audit")
	mustContain(t, "newest page", p.body, "60 events verified", "<tr><td>60</td>", "<tr><td>11</td>", `href="/audit?after=0">Earlier events</a>`)
	mustNotContain(t, "newest page", p.body, "<tr><td>10</td>")
	p = carol.get("/audit?after=0")
	mustContain(t, "first page", p.body, "<tr><td>1</td>", "<tr><td>50</td>", `href="/audit?after=50">Later events</a>`)
	mustNotContain(t, "first page", p.body, "<tr><td>51</td>", "Earlier events")
	// Filtered, it reads forward from the start.
	p = carol.get("/audit?action=cancel")
	mustContain(t, "cancel events", p.body, "<tr><td>2</td>", "<tr><td>60</td>")
	mustNotContain(t, "cancel events", p.body, "<tr><td>1</td>", "Earlier events")
}
