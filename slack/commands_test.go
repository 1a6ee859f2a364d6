package slack

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/jitaccess/jit/workflow"
)

func TestCommands(t *testing.T) {
	e := newEnv(t)
	req := e.submitAs("alice@example.com", "demo-app", "INC-1")
	tests := []struct {
		user, text string
		want       []string
		modal      bool
	}{
		{"UALICE", "help", []string{"/jit request [resource]", "/jit approvals"}, false},
		{"UALICE", "frobnicate", []string{"I don't know `frobnicate`", "/jit request [resource]"}, false},
		{"UALICE", "", []string{req.ID, "Waiting for approval (0 of 1)", actCancel}, false},
		{"UBOB", "approvals", []string{"Waiting for your approval", req.ID, "alice@example.com", actApprove, actDeny}, false},
		{"UCAROL", "approvals", []string{"Nothing is waiting for your approval"}, false},
		{"UALICE", "request sales-app", []string{"You can't request `sales-app`"}, false},
		{"UCAROL", "request", []string{"No rule lets you request anything"}, false},
		{"UGHOST", "", []string{"I don't know who you are in jit"}, false},
		{"UGONE", "", []string{"I don't know who you are in jit"}, false},
		{"UBOT", "", []string{"I don't know who you are in jit"}, false},
		{"UNOBODY", "request", []string{"I don't know who you are in jit"}, false},
		{"UALICE", "request demo-app", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.text, func(t *testing.T) {
			opened := e.slack.count("views.open")
			status, body := e.command(tt.user, tt.text)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			if tt.modal {
				if body != "" || e.slack.count("views.open") != opened+1 {
					t.Fatalf("no modal opened; answer %q", body)
				}
				return
			}
			if e.slack.count("views.open") != opened {
				t.Error("a modal was opened")
			}
			mustContain(t, "answer", unescaped(t, ephemeralText(t, body)), tt.want...)
		})
	}
	// A resource named on the command line is chosen in the modal, with
	// its access levels and default.
	v := e.slack.lastOpened()
	if got := initial(v.View, fResource); got != "demo-app" {
		t.Errorf("resource %q", got)
	}
	if got := initial(v.View, fAccess); got != "user" {
		t.Errorf("access %q", got)
	}
	// dave has one thing to request: it is chosen for him.
	e.command("UDAVE", "request")
	if got := initial(e.slack.lastOpened().View, fResource); got != "sales-app" {
		t.Errorf("dave's resource %q", got)
	}
}

// Slack failing to open the modal is answered, not silent.
func TestCommandWhenSlackFails(t *testing.T) {
	e := newEnv(t)
	e.slack.setFail("views.open", "internal_error")
	_, body := e.command("UALICE", "request")
	mustContain(t, "answer", ephemeralText(t, body), "try again")
	// users.info failing is "try again", not "I don't know you".
	e.slack.setFail("users.info", "ratelimited")
	_, body = e.command("UBOB", "")
	mustContain(t, "answer", body, "try again")
	mustNotContain(t, "answer", body, "know who you are")
}

// The email Slack gives is remembered for the TTL, then asked again; a
// person whose email changed in Slack becomes that person in jit.
func TestUserCache(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UserCacheTTL = time.Minute })
	e.command("UALICE", "")
	e.command("UALICE", "help")
	if n := e.slack.count("users.info"); n != 1 {
		t.Fatalf("users.info called %d times for two commands, want 1", n)
	}
	e.slack.setUser(fakeUser{ID: "UALICE", Email: "dave@example.com"})
	e.clock.Advance(2 * time.Minute)
	_, body := e.command("UALICE", "request")
	if n := e.slack.count("users.info"); n != 2 {
		t.Fatalf("users.info called %d times after the TTL, want 2", n)
	}
	if body != "" {
		t.Fatalf("answer %q", body)
	}
	if got := initial(e.slack.lastOpened().View, fResource); got != "sales-app" {
		t.Errorf("after the email changed, the modal offers %q, want dave's sales-app", got)
	}
}

// Only the configured workspace is served.
func TestOtherTeamIsUnknown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TeamID = "TOTHER" })
	_, body := e.command("UALICE", "")
	mustContain(t, "answer", body, "I don't know who you are in jit")
	if n := e.slack.count("users.info"); n != 0 {
		t.Errorf("users.info asked %d times for a foreign workspace", n)
	}
}

// An unknown person's modal submission is refused in the modal.
func TestViewSubmissionByUnknownUser(t *testing.T) {
	e := newEnv(t)
	e.command("UALICE", "request demo-app")
	v := e.slack.lastOpened()
	_, resp := e.submit("UGHOST", *v, map[string]string{fResource: "select:demo-app", fDuration: "1h", fReason: "INC-1"})
	errs := viewErrors(t, resp)
	if !strings.Contains(errs[fResource].(string), "I don't know who you are") {
		t.Errorf("errors %v", errs)
	}
	if len(e.requests()) != 0 {
		t.Fatal("an unknown person filed a request")
	}
}

// A refusal with no field of its own lands on an input of the modal, in
// plain text (Slack shows error texts raw).
func TestSubmitErrorsArePlainText(t *testing.T) {
	e := newEnv(t)
	e.command("UDAVE", "request")
	v := e.slack.lastOpened()
	_, resp := e.submit("UDAVE", *v, map[string]string{fResource: "select:demo-app", fDuration: "1h"})
	errs := viewErrors(t, resp)
	msg, _ := errs[fResource].(string)
	if msg == "" || strings.ContainsAny(msg, "<>*") || strings.Contains(msg, "&lt;") {
		t.Errorf("errors %v, want a plain message under resource", errs)
	}
	b, _ := json.Marshal(resp)
	if len(b) > 2000 {
		t.Errorf("answer is %d bytes", len(b))
	}
}

// /jit lists at most a page and says there is more.
func TestListIsBounded(t *testing.T) {
	e := newEnv(t)
	for range listLimit + 2 {
		if _, err := e.svc.Submit(e.as("alice@example.com"), workflow.SubmitInput{Resource: "demo-app", Duration: time.Hour, Reason: "INC-5"}); err != nil {
			t.Fatal(err)
		}
	}
	_, body := e.command("UALICE", "")
	var m struct {
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Blocks) > 50 {
		t.Errorf("%d blocks; Slack takes at most 50", len(m.Blocks))
	}
	mustContain(t, "list", body, "There are more")
}

func TestConfigValidate(t *testing.T) {
	e := newEnv(t)
	good := e.cfg
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"good", func(*Config) {}, ""},
		{"no token", func(c *Config) { c.BotToken = "" }, "BotToken is required"},
		{"user token", func(c *Config) { c.BotToken = "xoxp-123" }, "not a bot token"},
		{"no secret", func(c *Config) { c.SigningSecret = "" }, "SigningSecret is required"},
		{"channel name", func(c *Config) { c.Channels = map[string]string{"demo-app": "#ops"} }, `Channels["demo-app"]`},
		{"default channel name", func(c *Config) { c.DefaultChannel = "approvals" }, "DefaultChannel"},
		{"no base URL", func(c *Config) { c.BaseURL = "" }, "BaseURL"},
		{"relative base URL", func(c *Config) { c.BaseURL = "/jit" }, "BaseURL"},
		{"no service", func(c *Config) { c.Service = nil }, "Service is required"},
		{"no resolver", func(c *Config) { c.Resolve = nil }, "Resolve is required"},
		{"no store", func(c *Config) { c.Messages = nil }, "Messages is required"},
		{"bad API URL", func(c *Config) { c.APIURL = "slack.com/api" }, "APIURL"},
		{"empty step-up rule", func(c *Config) { c.StepUpRules = []string{" "} }, "StepUpRules"},
		{"negative TTL", func(c *Config) { c.UserCacheTTL = -time.Second }, "UserCacheTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testToken) {
				t.Fatal("the error shows a secret")
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestResponseURLAllowed(t *testing.T) {
	e := newEnv(t)
	prod := &App{cfg: Config{}}
	for _, tt := range []struct {
		app  *App
		url  string
		want bool
	}{
		{prod, "https://hooks.slack.com/actions/T1/123/abc", true},
		{prod, "https://hooks.slack-gov.com/actions/T1/123/abc", true},
		{prod, "http://hooks.slack.com/actions/T1/123/abc", false},
		{prod, "https://hooks.slack.com.evil.example/x", false},
		{prod, "https://evil.example/hooks.slack.com", false},
		{prod, "https://user@hooks.slack.com/x", false},
		{prod, "http://169.254.169.254/latest/meta-data", false},
		{e.app, e.slack.responseURL(), true},
		{e.app, "http://127.0.0.1:1/respond/1", false},
	} {
		if got := tt.app.responseURLAllowed(tt.url); got != tt.want {
			t.Errorf("responseURLAllowed(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// The manifest in docs asks for the scopes the app uses and points Slack
// at the app's two routes.
func TestManifest(t *testing.T) {
	b, err := os.ReadFile("../docs/slack-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command string `yaml:"command"`
				URL     string `yaml:"url"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				Enabled bool   `yaml:"is_enabled"`
				URL     string `yaml:"request_url"`
			} `yaml:"interactivity"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/jit" ||
		m.Features.SlashCommands[0].URL != "https://jit.example.com/slack/commands" {
		t.Errorf("slash commands %+v", m.Features.SlashCommands)
	}
	if !m.Settings.Interactivity.Enabled || m.Settings.Interactivity.URL != "https://jit.example.com/slack/interactions" {
		t.Errorf("interactivity %+v", m.Settings.Interactivity)
	}
	want := []string{"chat:write", "commands", "im:write", "users:read", "users:read.email"}
	got := slices.Clone(m.OAuth.Scopes.Bot)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("bot scopes %v, want %v", got, want)
	}
}
