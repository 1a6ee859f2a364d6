package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotificationsConfig(t *testing.T) {
	p := mustParse(t, `
server:
  notifications:
    remind_before: 15m
    email: {smtp: "smtp.example.com:587", from: jit@example.com, username: jit, password_env: JIT_SMTP_PASSWORD}
    webhooks:
      - {name: siem, url: "https://siem.example.com/jit", secret_file: /etc/jit/siem, actions: [grant, revoke_done]}
    slack:
      bot_token_file: /etc/jit/slack-token
      signing_secret_env: JIT_SLACK_SIGNING
      default_channel: C0123ABCD
      channels: {prod-db: C0456DEFG}
      step_up_rules: [prod-write]
`)
	nc := p.Server().Notifications
	if nc == nil || nc.RemindBefore != 15*time.Minute || nc.Email == nil || nc.Email.TLS != "starttls" ||
		nc.Email.Password.Env != "JIT_SMTP_PASSWORD" || len(nc.Webhooks) != 1 || nc.Webhooks[0].Secret.File != "/etc/jit/siem" ||
		nc.Slack == nil || nc.Slack.Channels["prod-db"] != "C0456DEFG" || nc.Slack.StepUpRules[0] != "prod-write" {
		t.Fatalf("notifications = %+v", nc)
	}
	if p := mustParse(t, "server: {notifications: {}}\n"); p.Server().Notifications.RemindBefore != DefaultRemindBefore {
		t.Fatal("remind_before default")
	}

	for _, c := range []struct{ src, want string }{
		{"server: {notifications: {email: {smtp: x, from: nobody}}}", "smtp (host:port) is required"},
		{"server: {notifications: {email: {smtp: 'h:25', from: nobody}}}", "from must be an email address"},
		{"server: {notifications: {email: {smtp: 'h:25', from: a@b.c, tls: maybe}}}", "tls must be starttls, tls or none"},
		{"server: {notifications: {email: {smtp: 'h:25', from: a@b.c, username: u}}}", "password_file or password_env is required"},
		{"server: {notifications: {webhooks: [{name: a, url: 'https://x.example', secret_file: f, secret_env: E}]}}", "set secret_file or secret_env, not both"},
		{"server: {notifications: {webhooks: [{name: A!, url: 'https://x.example', secret_env: E}]}}", "must be lower-case letters"},
		{"server: {notifications: {webhooks: [{name: a, url: 'https://x.example', secret_env: E}, {name: a, url: 'https://y.example', secret_env: E}]}}", "name \"a\" is used twice"},
		{"server: {notifications: {slack: {bot_token_env: T, signing_secret_env: S, default_channel: general}}}", "is not a Slack channel ID"},
		{"server: {notifications: {slack: {bot_token_env: T, default_channel: C0123}}}", "signing_secret_file or signing_secret_env is required"},
		{"server: {notifications: {slack: {bot_token_env: 'not a var', signing_secret_env: S, default_channel: C0123}}}", "is not an environment variable name"},
		{"server: {notifications: {sms: {}}}", "unknown key \"sms\""},
	} {
		_, err := Parse("test.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.src, err, c.want)
		}
	}
}

func TestSecretRefRead(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := (SecretRef{File: f}).Read(); err != nil || s != "s3cret" {
		t.Fatalf("file: %q, %v", s, err)
	}
	t.Setenv("JIT_TEST_SECRET_REF", "v")
	if s, err := (SecretRef{Env: "JIT_TEST_SECRET_REF"}).Read(); err != nil || s != "v" {
		t.Fatalf("env: %q, %v", s, err)
	}
	if _, err := (SecretRef{Env: "JIT_TEST_SECRET_REF_UNSET"}).Read(); err == nil || strings.Contains(err.Error(), "v") && !strings.Contains(err.Error(), "JIT_TEST_SECRET_REF_UNSET") {
		t.Fatalf("unset env: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := (SecretRef{File: empty}).Read(); err == nil {
		t.Fatal("an empty secret file was accepted")
	}
}
