package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/internal/jitdtest"
)

// chromiumPath finds Debian's Chromium (or $JIT_TEST_CHROMIUM); without it
// the browser tests skip, or fail when CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JIT_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium for the browser tests: install Debian's chromium package or set JIT_TEST_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// screenshotDir is where the browser tests save their screenshots:
// $JIT_SCREENSHOTS (the README's pictures come from a run with
// JIT_SCREENSHOTS=docs/img), or a temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("JIT_SCREENSHOTS"); d != "" {
		if !filepath.IsAbs(d) {
			// Relative to the repository, not to this package.
			d = filepath.Join("..", d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowser drives the web app in headless Chromium: alice signs in and
// requests access, bob approves on his Approvals page, alice's open page
// shows the access active without a reload, and she relinquishes it. A
// form post without the CSRF token is refused, and someone who may not
// approve sees no Approve button.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	srv := jitdtest.Start(t, jitdtest.Options{})
	shots := screenshotDir(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// Each person in a browser context of their own: separate cookies.
	person := func() context.Context {
		c, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		return c
	}
	alice, bob, carol := person(), person(), person()

	run := func(c context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	signIn := func(c context.Context, email string) {
		t.Helper()
		run(c, "sign in as "+email,
			chromedp.Navigate(srv.URL+"/login"),
			chromedp.Click(chromedp.CSS(`input[name="email"][value="`+email+`"]`)),
			chromedp.Click(chromedp.CSS(`form[action="/login/dev"] button[type="submit"]`)),
			// Signed in: the Access page with its request form.
			chromedp.WaitReady(chromedp.CSS(`#request-form`)),
		)
	}
	shot := func(c context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Alice asks for access.
	signIn(alice, "alice@example.com")
	run(alice, "request access",
		chromedp.WaitVisible(chromedp.CSS(`#request-form`)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("request").open = true`),
		chromedp.SetValue(chromedp.CSS(`#resource`), "demo-app"),
		chromedp.SetValue(chromedp.CSS(`#duration`), "1h"),
		chromedp.SetValue(chromedp.CSS(`#reason`), "INC-42 checking the orders page"),
		chromedp.Submit(chromedp.CSS(`#request-form`)),
		chromedp.WaitVisible(chromedp.CSS(`#pending article.card`)),
	)
	card, err := chromedp.Run(alice, chromedp.AttributeValue(chromedp.CSS(`#pending article.card`), "id"))
	if err != nil || !card.Exists || !strings.HasPrefix(card.Value, "r-") {
		t.Fatalf("pending card id %+v, %v", card, err)
	}
	id := strings.TrimPrefix(card.Value, "r-")

	// A form post without the CSRF token is refused and files nothing.
	api := newClient(t, srv, jitdtest.Alice)
	before, err := api.List(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(alice, chromedp.Evaluate[int](`fetch("/requests", {method: "POST",
		body: new URLSearchParams({resource: "demo-app", duration: "1h", reason: "INC-1 forged"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("POST without CSRF token: status %d, want 403", status)
	}
	if after, err := api.List(ctx, client.ListOptions{}); err != nil || len(after.Items) != len(before.Items) {
		t.Fatalf("the refused post filed a request (%v)", err)
	}

	// Carol may not approve demo-app requests: no Approve button for her.
	signIn(carol, "carol@example.com")
	run(carol, "carol's view of the request",
		chromedp.Navigate(srv.URL+"/requests/"+id),
		chromedp.WaitVisible(chromedp.CSS(`main`)),
	)
	approveButtons, err := chromedp.Run(carol, chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/approve"]').length`))
	if err != nil || approveButtons != 0 {
		t.Fatalf("carol sees %d Approve buttons, want none", approveButtons)
	}

	// A marker that a reload of alice's page would wipe out.
	run(alice, "mark the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))

	// Bob approves from his Approvals page.
	signIn(bob, "bob@example.com")
	run(bob, "bob's approvals",
		chromedp.Navigate(srv.URL+"/approvals"),
		chromedp.WaitVisible(chromedp.CSS(`#r-`+id+` form[action$="/approve"] button`)),
	)
	shot(bob, "approvals.png")
	run(bob, "approve", chromedp.Click(chromedp.CSS(`#r-`+id+` form[action$="/approve"] button`)))

	// Alice's page, never reloaded, shows the access active.
	run(alice, "alice sees it active", chromedp.WaitVisible(chromedp.CSS(`#active #r-`+id)))
	if same, err := chromedp.Run(alice, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !same {
		t.Fatalf("alice's page was reloaded to show the change (%v)", err)
	}
	shot(alice, "access.png")
	// At phone width the page still fits: nothing scrolls sideways.
	run(alice, "phone width", chromedp.EmulateViewport(390, 844))
	fits, err := chromedp.Run(alice, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Fatalf("the Access page scrolls sideways at 390 px (%v)", err)
	}
	shot(alice, "access-phone.png")
	run(alice, "laptop width", chromedp.EmulateReset())
	r, err := api.Get(ctx, id)
	if err != nil || r.Status != jit.StatusActive {
		t.Fatalf("request %s: %+v, %v; want active", id, r, err)
	}

	// She relinquishes it.
	run(alice, "relinquish",
		chromedp.Click(chromedp.CSS(`#active #r-`+id+` form[action$="/relinquish"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#history a[href="/requests/`+id+`"]`)),
	)
	waitStatus(t, api, id, jit.StatusRelinquished, jit.StatusActive, jit.StatusRevoking)
}
