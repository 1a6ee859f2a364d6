package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/daemon"
	"github.com/jitaccess/jit/internal/jitdtest"
)

var noRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func fetch(t *testing.T, c *http.Client, method, u string, body io.Reader, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// devSignIn signs a new browser in to the web app of the server at base as
// email, through the development sign-in.
func devSignIn(t *testing.T, base, email string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	_, body := fetch(t, c, "GET", base+"/login", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sign-in form:\n%s", body)
	}
	form := url.Values{"csrf": {m[1]}, "email": {email}}
	resp, _ := fetch(t, c, "POST", base+"/login/dev", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", base)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dev sign-in: %d", resp.StatusCode)
	}
	return c
}

// The API keeps its paths and behaviour; every other path is the web app.
func TestWebMountedBesideAPI(t *testing.T) {
	s := jitdtest.Start(t, jitdtest.Options{})
	c := &http.Client{CheckRedirect: noRedirect}

	resp, body := fetch(t, c, "GET", s.URL+"/healthz", nil)
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp, _ := fetch(t, c, "GET", s.URL+"/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("readyz: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, c, "GET", s.URL+"/metrics", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
	resp, body = fetch(t, c, "GET", s.URL+"/api/v1/whoami", nil, "Authorization", "Bearer "+jitdtest.Alice)
	var who struct{ Email string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &who) != nil || who.Email != "alice@example.com" {
		t.Errorf("whoami: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/api/v1/nothing", "/api/v2", "/api"} {
		resp, _ := fetch(t, c, "GET", s.URL+p, nil)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, ct)
		}
	}
	resp, _ = fetch(t, c, "GET", s.URL+"/", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?return=%2F" {
		t.Errorf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = fetch(t, c, "GET", s.URL+"/login", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") ||
		!strings.Contains(body, "Development server") || !strings.Contains(body, "carol@example.com") {
		t.Errorf("login: %d %v", resp.StatusCode, resp.Header)
	}
}

// An approval made through the API reaches the requester's open web page
// as a live event, and the page then shows the access.
func TestWebFollowsAPIChanges(t *testing.T) {
	dir := t.TempDir()
	policyPath, err := daemon.WriteDevPolicy(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := daemon.Start(context.Background(), daemon.Options{PolicyPath: policyPath, Addr: "127.0.0.1:0", DataDir: dir,
		Dev: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	alice := devSignIn(t, s.URL, "alice@example.com")

	resp, body := fetch(t, &http.Client{}, "POST", s.URL+"/api/v1/requests",
		strings.NewReader(`{"resource":"demo-app","duration":"1h","reason":"INC-1"}`),
		"Authorization", "Bearer "+jitdtest.Alice, "Content-Type", "application/json")
	var req struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &req) != nil {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ereq, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/events", nil)
	eresp, err := alice.Do(ereq)
	if err != nil || eresp.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", err, eresp)
	}
	defer eresp.Body.Close()
	rd := bufio.NewReader(eresp.Body)
	var line string
	// Subscribed once the first comment is there.
	for line != "\n" {
		if line, err = rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}

	if resp, body := fetch(t, &http.Client{}, "POST", s.URL+"/api/v1/requests/"+req.ID+"/approve", strings.NewReader(`{}`),
		"Authorization", "Bearer "+jitdtest.Bob, "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "data: "+req.ID+"\n" {
			break
		}
	}
	// The grant follows from the scheduler; the page shows the approval.
	_, page := fetch(t, alice, "GET", s.URL+"/requests/"+req.ID, nil)
	if !strings.Contains(page, "bob@example.com") || !strings.Contains(page, "approved") {
		t.Errorf("request page after approval:\n%s", page)
	}
	// Closing the server with a stream open finishes without waiting out
	// its shutdown timeout (Close reports that as an error).
	closed = true
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// Replicas given one session key file accept each other's sessions; a
// server with its own key does not.
func TestWebSessionKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "session.key")
	if err := os.WriteFile(keyFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policyPath, err := daemon.WriteDevPolicy(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	start := func(data, key string) *daemon.Daemon {
		t.Helper()
		d, err := daemon.Start(context.Background(), daemon.Options{PolicyPath: policyPath, Addr: "127.0.0.1:0", DataDir: data,
			Dev: true, Logger: slog.New(slog.DiscardHandler), WebSessionKeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	_, err = daemon.Start(context.Background(), daemon.Options{PolicyPath: policyPath, Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "x"),
		Dev: true, Logger: slog.New(slog.DiscardHandler), WebSessionKeyFile: keyFile})
	if err == nil || !strings.Contains(err.Error(), "holds 5 bytes; at least 32") {
		t.Fatalf("short key file: %v", err)
	}
	if err := os.WriteFile(keyFile, []byte("c2Vzc2lvbiBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyE=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := start(filepath.Join(dir, "a"), keyFile)
	b := start(filepath.Join(dir, "b"), keyFile)
	other := start(filepath.Join(dir, "c"), "")

	alice := devSignIn(t, a.URL, "alice@example.com")
	au, _ := url.Parse(a.URL)
	var cookie *http.Cookie
	for _, c := range alice.Jar.Cookies(au) {
		if c.Name == "jit_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	for name, d := range map[string]*daemon.Daemon{"same key": b, "own key": other} {
		req, _ := http.NewRequest("GET", d.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		resp, err := (&http.Client{CheckRedirect: noRedirect}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusOK
		if name == "own key" {
			want = http.StatusSeeOther
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, want)
		}
	}
}
